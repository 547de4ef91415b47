"""Pre-computed word embeddings in a frozen Embedding layer feed a 1D convnet text
classifier (the Keras 1 `pretrained_word_embeddings.py` example).

As in Keras 1: a `Tokenizer(nb_words=20000)` fitted on the texts turns them into index
sequences padded to 1,000 words; an embedding matrix (one row per tokenizer index,
zeros for words without a vector) is loaded with `Embedding(..., weights=[matrix],
trainable=False)`; three `Conv1D(128, 5)` layers with max pooling (5, 5, then 35, which
leaves one step), a Dense layer and a softmax classify the texts (functional API,
RMSprop, 20% held out for validation).

Data: Keras 1 reads GloVe vectors (glove.6B.100d.txt) and the 20 Newsgroups texts,
neither of which can be bundled. This version classifies the real reviews of the
aclImdb subset in the shared data (../shared/data/imdb, positive vs negative; 2,000
training reviews) and takes its word vectors from `--glove FILE` (a GloVe text file,
e.g. glove.6B.100d.txt) when given; otherwise it COMPUTES 100-dimensional vectors from
the reviews themselves for their 2,000 most frequent words (a truncated SVD of the log
word co-occurrence counts within a 5-word window, the count-based method GloVe
refines; other words get zeros, as words missing from GloVe do): no download, but much
weaker vectors than GloVe's.

    python examples/pretrained_word_embeddings.py [--glove FILE] [--epochs N] [--quick]

`--quick` (or FERROKERAS_EXAMPLE_QUICK=1): 160 reviews, vectors for 300 words, 1 epoch.
"""

import os
import sys
import tarfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_utils import example_arguments, shared_data_path  # noqa: E402

np.random.seed(1337)

from keras.layers import Conv1D, Dense, Embedding, Flatten, Input, MaxPooling1D  # noqa: E402
from keras.models import Model  # noqa: E402
from keras.preprocessing.sequence import pad_sequences  # noqa: E402
from keras.preprocessing.text import Tokenizer  # noqa: E402
from keras.utils.np_utils import to_categorical  # noqa: E402

MAX_SEQUENCE_LENGTH = 1000
MAX_NB_WORDS = 20000
EMBEDDING_DIM = 100
VALIDATION_SPLIT = 0.2


def load_review_texts(nb_texts):
    """Raw review texts of the aclImdb subset's training half and their labels
    ('neg', 'pos'), alternating classes."""
    by_label = {"neg": [], "pos": []}
    with tarfile.open(shared_data_path("imdb/aclImdb_subset.tar.gz")) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            parts = member.name.split("/")
            if member.isfile() and len(parts) == 4 and parts[1] == "train" and parts[2] in by_label:
                by_label[parts[2]].append(tar.extractfile(member).read().decode("utf-8"))
    texts, labels = [], []
    for i in range(nb_texts // 2):
        for label_id, name in enumerate(("neg", "pos")):
            texts.append(by_label[name][i])
            labels.append(label_id)
    return texts, labels, {"neg": 0, "pos": 1}


def read_glove(path):
    embeddings_index = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            values = line.split()
            embeddings_index[values[0]] = np.asarray(values[1:], dtype="float32")
    return embeddings_index


def cooccurrence_vectors(sequences, nb_words, dim, window=5):
    """Word vectors from the texts: truncated SVD (eigendecomposition, the matrix being
    symmetric) of log(1 + co-occurrence counts) of
    the `nb_words` most frequent words within `window` positions (row i = index i)."""
    counts = np.zeros((nb_words + 1, nb_words + 1), dtype="float64")
    for seq in sequences:
        seq = np.asarray(seq)
        for d in range(1, window + 1):
            np.add.at(counts, (seq[:-d], seq[d:]), 1.0 / d)
    counts = np.log1p(counts + counts.T)
    # symmetric: its leading eigenvectors are the leading singular vectors
    eigval, eigvec = np.linalg.eigh(counts)
    top = np.argsort(-np.abs(eigval))[:dim]
    vectors = np.zeros((nb_words + 1, dim))
    vectors[:, : len(top)] = eigvec[:, top] * np.sqrt(np.abs(eigval[top]))
    return vectors / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-8)


def main(glove=None, nb_texts=2000, nb_epoch=2, vector_words=2000, verbose=1):
    print("Processing text dataset")
    texts, labels, labels_index = load_review_texts(nb_texts)
    print("Found %s texts." % len(texts))

    # vectorize the text samples into a 2D integer tensor
    tokenizer = Tokenizer(nb_words=MAX_NB_WORDS)
    tokenizer.fit_on_texts(texts)
    sequences = tokenizer.texts_to_sequences(texts)
    word_index = tokenizer.word_index
    print("Found %s unique tokens." % len(word_index))

    data = pad_sequences(sequences, maxlen=MAX_SEQUENCE_LENGTH)
    labels = to_categorical(np.asarray(labels))
    print("Shape of data tensor:", data.shape)
    print("Shape of label tensor:", labels.shape)

    # split the data into a training set and a validation set
    indices = np.arange(data.shape[0])
    np.random.shuffle(indices)
    data = data[indices]
    labels = labels[indices]
    nb_validation_samples = int(VALIDATION_SPLIT * data.shape[0])
    x_train = data[:-nb_validation_samples]
    y_train = labels[:-nb_validation_samples]
    x_val = data[-nb_validation_samples:]
    y_val = labels[-nb_validation_samples:]

    print("Preparing embedding matrix.")
    nb_words = min(MAX_NB_WORDS, len(word_index))
    embedding_matrix = np.zeros((nb_words + 1, EMBEDDING_DIM))
    if glove:
        print("Indexing word vectors.")
        embeddings_index = read_glove(glove)
        print("Found %s word vectors." % len(embeddings_index))
        for word, i in word_index.items():
            vector = embeddings_index.get(word) if i <= nb_words else None
            if vector is not None:  # words not found in the index stay all-zeros
                embedding_matrix[i] = vector[:EMBEDDING_DIM]
    else:
        print("No --glove file: computing word vectors from the texts' co-occurrence counts")
        top = min(nb_words, vector_words)
        kept = [[i for i in s if i <= top] for s in sequences]
        vectors = cooccurrence_vectors(kept, top, EMBEDDING_DIM)
        embedding_matrix[: vectors.shape[0], : vectors.shape[1]] = vectors
    print("Words with a vector: %d of %d" % (int(np.any(embedding_matrix != 0, axis=1).sum()), nb_words))

    # the pre-computed word embeddings, kept fixed (trainable=False)
    embedding_layer = Embedding(
        nb_words + 1,
        EMBEDDING_DIM,
        weights=[embedding_matrix],
        input_length=MAX_SEQUENCE_LENGTH,
        trainable=False,
    )

    print("Training model.")
    sequence_input = Input(shape=(MAX_SEQUENCE_LENGTH,), dtype="int32")
    embedded_sequences = embedding_layer(sequence_input)
    x = Conv1D(128, 5, activation="relu")(embedded_sequences)
    x = MaxPooling1D(5)(x)
    x = Conv1D(128, 5, activation="relu")(x)
    x = MaxPooling1D(5)(x)
    x = Conv1D(128, 5, activation="relu")(x)
    x = MaxPooling1D(35)(x)
    x = Flatten()(x)
    x = Dense(128, activation="relu")(x)
    preds = Dense(len(labels_index), activation="softmax")(x)

    model = Model(sequence_input, preds)
    model.compile(loss="categorical_crossentropy", optimizer="rmsprop", metrics=["acc"])
    frozen = embedding_layer.get_weights()[0].copy()
    model.fit(
        x_train, y_train, validation_data=(x_val, y_val), nb_epoch=nb_epoch, batch_size=128, verbose=verbose
    )
    print("Embedding unchanged by training:", bool(np.array_equal(frozen, embedding_layer.get_weights()[0])))
    loss, acc = model.evaluate(x_val, y_val, verbose=0)
    print("Validation accuracy:", acc)
    return acc


if __name__ == "__main__":
    quick = dict(nb_texts=160, nb_epoch=1, vector_words=300, verbose=2)
    glove = dict(help="a GloVe text file (word and vector per line), e.g. glove.6B.100d.txt")
    main(**example_arguments("160 reviews, 1 epoch", quick, epochs=2, glove=glove))
