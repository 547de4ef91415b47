"""Helpers shared by the examples: the command line and its shortened mode, the shared
real data, and what the examples print and save at the end.

Shortened mode (`--quick` on the command line, or FERROKERAS_EXAMPLE_QUICK=1 in the
environment): few samples and one short epoch, so that tests/examples can run every
example in seconds; the full mode is the one documented at the top of each example.

Shared data (the IMDB review subset, the Nietzsche text): read from ../shared/data
beside the repository, or from the folder named by FERROKERAS_SHARED_DATA.
"""

import argparse
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


def example_arguments(about, quick, epochs=None, description=None, **options):
    """The keyword arguments of an example's `main()`, read from its command line.

    `--epochs N` (when `epochs`, its default, is given) sets `nb_epoch`; each of
    `options`, `name=argparse settings`, adds the flag `--name` (underscores become
    dashes; a `flag` entry names another) that sets `name`. In the shortened mode
    (`--quick`, whose help is `about`, or FERROKERAS_EXAMPLE_QUICK=1) the arguments of
    `quick` replace those read.
    """
    ap = argparse.ArgumentParser(description=description)
    if epochs is not None:
        ap.add_argument("--epochs", dest="nb_epoch", metavar="EPOCHS", type=int, default=epochs)
    for name, settings in options.items():
        settings = dict(settings)
        flag = settings.pop("flag", "--" + name.replace("_", "-"))
        ap.add_argument(flag, dest=name, **settings)
    ap.add_argument("--quick", action="store_true", help=about)
    kwargs = vars(ap.parse_args())
    del kwargs["quick"]
    if quick_mode():
        kwargs.update(quick)
    return kwargs


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


def encode_imdb_subset(path=shared_data_path, nb_words=None, index_from=3, start_char=1, oov_char=2):
    """The reviews of the aclImdb subset encoded as Keras `imdb.load_data()` encodes them,
    in the order of their file names: `{"train": (seqs, labels), "test": (seqs, labels)}`.

    Each review is lowercased and split on non-word characters; a word becomes its
    frequency rank in Keras's `imdb_word_index.json` plus `index_from`, unknown words and
    ranks at or above `nb_words` become `oov_char`, and `start_char` opens the sequence;
    a label is 1 for a positive review. `path(relpath)` finds a file of the shared data.
    """
    with open(path("imdb/imdb_word_index.json")) as f:
        word_index = json.load(f)
    data = {"train": ([], []), "test": ([], [])}
    with tarfile.open(path("imdb/aclImdb_subset.tar.gz")) as tar:
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
    return data


def load_imdb_subset(nb_words=None, seed=113):
    """The aclImdb subset of the shared data as Keras `imdb.load_data()` would give it
    (see `encode_imdb_subset`): `(X_train, y_train), (X_test, y_test)`, lists of index
    lists and label arrays, 2,000 reviews each, shuffled with `seed` as Keras does."""
    import numpy as np

    data = encode_imdb_subset(nb_words=nb_words)
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


def load_reviews(nb_words, nb_train=None, nb_test=None):
    """The first `nb_train` and `nb_test` reviews of `load_imdb_subset(nb_words)`'s
    splits (all when None), announced as Keras 1's IMDB examples do."""
    print("Loading data...")
    (X_train, y_train), (X_test, y_test) = load_imdb_subset(nb_words=nb_words)
    X_train, y_train = X_train[:nb_train], y_train[:nb_train]
    X_test, y_test = X_test[:nb_test], y_test[:nb_test]
    print(len(X_train), "train sequences")
    print(len(X_test), "test sequences")
    return (X_train, y_train), (X_test, y_test)


def pad_reviews(X_train, X_test, maxlen):
    """Both splits through `pad_sequences(maxlen)`, with Keras 1's messages."""
    print("Pad sequences (samples x time)")
    X_train = pad_sequences(X_train, maxlen=maxlen)
    X_test = pad_sequences(X_test, maxlen=maxlen)
    print("X_train shape:", X_train.shape)
    print("X_test shape:", X_test.shape)
    return X_train, X_test


def image_shape(rows, cols, channels):
    """The shape of one image in Keras's dim ordering: channels first for 'th'."""
    from keras import backend as K

    return (channels, rows, cols) if K.image_dim_ordering() == "th" else (rows, cols, channels)


def print_evaluation(model, X, Y, batch_size=32, names=("Test score:", "Test accuracy:")):
    """Evaluates `model` on `(X, Y)` and prints its loss and accuracy after `names`, as
    Keras 1's examples end; returns `[loss, accuracy]`."""
    score = model.evaluate(X, Y, batch_size=batch_size, verbose=0)
    print(names[0], score[0])
    print(names[1], score[1])
    return score


def save_png(pixels, path, saying="Saved"):
    """Writes uint8 pixels ((rows, cols) or (rows, cols, 3)) to `path` as a PNG with
    Pillow, then prints `saying` and the path."""
    from PIL import Image

    Image.fromarray(pixels).save(path)
    print(saying, path)
