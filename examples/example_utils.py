"""Helpers shared by the examples: the shortened mode and the shared real data.

Shortened mode (`--quick` on the command line, or FERROKERAS_EXAMPLE_QUICK=1 in the
environment): few samples and one short epoch, so that tests/examples can run every
example in seconds; the full mode is the one documented at the top of each example.

Shared data (the IMDB review subset, the Nietzsche text): read from ../shared/data
beside the repository, or from the folder named by FERROKERAS_SHARED_DATA.
"""

import json
import os
import re
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def quick_mode():
    """True when the example runs shortened (`--quick` or FERROKERAS_EXAMPLE_QUICK=1)."""
    if "--quick" in sys.argv[1:]:
        return True
    return os.environ.get("FERROKERAS_EXAMPLE_QUICK", "") not in ("", "0")


def shared_data_path(relpath):
    """Path of a file of the shared data folder; exits with a clear message when missing."""
    root = os.environ.get("FERROKERAS_SHARED_DATA") or os.path.join(REPO, "..", "shared", "data")
    path = os.path.normpath(os.path.join(root, relpath))
    if not os.path.exists(path):
        sys.exit(
            "This example needs %s, which is not there. Point FERROKERAS_SHARED_DATA at the "
            "folder holding the shared data (imdb/, text/)." % path
        )
    return path


def load_imdb_subset(nb_words=None, seed=113, index_from=3, start_char=1, oov_char=2):
    """The aclImdb subset of the shared data as Keras `imdb.load_data()` would give it.

    Each review is lowercased and split on non-word characters; a word becomes its
    frequency rank in Keras's `imdb_word_index.json` plus `index_from`, unknown words and
    ranks at or above `nb_words` become `oov_char`, and `start_char` opens the sequence.
    Returns `(X_train, y_train), (X_test, y_test)`: lists of index lists and label
    arrays (1: positive), 2,000 reviews each, shuffled with `seed` as Keras does.
    """
    import numpy as np

    with open(shared_data_path("imdb/imdb_word_index.json")) as f:
        word_index = json.load(f)
    data = {"train": ([], []), "test": ([], [])}
    with tarfile.open(shared_data_path("imdb/aclImdb_subset.tar.gz")) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            parts = member.name.split("/")
            if not member.isfile() or len(parts) != 4:
                continue
            _, split, label, _ = parts
            if split not in data or label not in ("pos", "neg"):
                continue
            text = tar.extractfile(member).read().decode("utf-8").lower()
            seq = [start_char]
            for word in re.split(r"\W+", text):
                if not word:
                    continue
                rank = word_index.get(word)
                idx = rank + index_from if rank is not None else oov_char
                seq.append(idx if nb_words is None or idx < nb_words else oov_char)
            data[split][0].append(seq)
            data[split][1].append(1 if label == "pos" else 0)
    out = []
    for split in ("train", "test"):
        seqs, labels = data[split]
        order = np.random.RandomState(seed).permutation(len(seqs))
        out.append(([seqs[i] for i in order], np.array(labels, dtype="int32")[order]))
    return out[0], out[1]


def pad_sequences(sequences, maxlen, value=0):
    """Pads (at the front) and truncates (keeping the end) to `maxlen`, as Keras 1's
    `sequence.pad_sequences(..., padding='pre', truncating='pre')`; int32 array."""
    import numpy as np

    x = np.full((len(sequences), maxlen), value, dtype="int32")
    for i, seq in enumerate(sequences):
        seq = list(seq)[-maxlen:]
        if seq:
            x[i, -len(seq) :] = seq
    return x
