"""Two recurrent branches, one reading the story and one the question, answer bAbI
questions (the Keras 1 `babi_rnn.py` example; Weston et al., "Towards AI-Complete
Question Answering: A Set of Prerequisite Toy Tasks", http://arxiv.org/abs/1502.05698).

The question is encoded by an LSTM and repeated over the story's length; the sum of
the story embedding and the repeated question (a legacy `Merge` of two Sequential
models, mode 'sum') goes through a second LSTM and a softmax over the vocabulary.

Data: the real bAbI task when `~/.keras/datasets/babi-tasks-v1-2.tar.gz` is in the Keras
cache, else stories of the same task generated in the bAbI text format by
examples/babi_data.py (1,000 training and 1,000 test questions; no download). Keras 1
runs task 2 ("two supporting facts") for 40 epochs; the default here is task 1 (single
supporting fact): 0.48 test accuracy after 20 epochs on the generated stories (chance is
about 0.17; Keras 1 reports 1.00 on the real task 1).

    python examples/babi_rnn.py [--task 1|2] [--epochs N] [--quick]

`--quick` (or FERROKERAS_EXAMPLE_QUICK=1): 200 training and 100 test questions, 1 epoch.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from babi_data import load_babi, vectorize, vocabulary  # noqa: E402
from example_utils import example_arguments  # noqa: E402

np.random.seed(1337)  # for reproducibility

from keras.layers import Dense, Dropout, Merge, RepeatVector, recurrent  # noqa: E402
from keras.layers.embeddings import Embedding  # noqa: E402
from keras.models import Sequential  # noqa: E402


def main(task=1, nb_epoch=20, nb_train=1000, nb_test=1000, verbose=1):
    RNN = recurrent.LSTM
    EMBED_HIDDEN_SIZE = 50
    BATCH_SIZE = 32
    print("RNN / Embed = {}, {}".format(RNN.__name__, EMBED_HIDDEN_SIZE))

    train, test = load_babi(task, nb_train=nb_train, nb_test=nb_test)
    vocab, word_idx, story_maxlen, query_maxlen = vocabulary(train, test)
    vocab_size = len(vocab) + 1  # index 0 is reserved for padding

    X, Xq, Y = vectorize(train, word_idx, story_maxlen, query_maxlen)
    tX, tXq, tY = vectorize(test, word_idx, story_maxlen, query_maxlen)
    print("vocab = {}".format(vocab))
    print("X.shape = {}".format(X.shape))
    print("Xq.shape = {}".format(Xq.shape))
    print("Y.shape = {}".format(Y.shape))
    print("story_maxlen, query_maxlen = {}, {}".format(story_maxlen, query_maxlen))

    print("Build model...")
    sentrnn = Sequential()
    sentrnn.add(Embedding(vocab_size, EMBED_HIDDEN_SIZE, input_length=story_maxlen))
    sentrnn.add(Dropout(0.3))

    qrnn = Sequential()
    qrnn.add(Embedding(vocab_size, EMBED_HIDDEN_SIZE, input_length=query_maxlen))
    qrnn.add(Dropout(0.3))
    qrnn.add(RNN(EMBED_HIDDEN_SIZE, return_sequences=False))
    qrnn.add(RepeatVector(story_maxlen))

    model = Sequential()
    model.add(Merge([sentrnn, qrnn], mode="sum"))
    model.add(RNN(EMBED_HIDDEN_SIZE, return_sequences=False))
    model.add(Dropout(0.3))
    model.add(Dense(vocab_size, activation="softmax"))

    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])

    print("Training")
    model.fit([X, Xq], Y, batch_size=BATCH_SIZE, nb_epoch=nb_epoch, validation_split=0.05, verbose=verbose)
    loss, acc = model.evaluate([tX, tXq], tY, batch_size=BATCH_SIZE, verbose=0)
    print("Test loss / test accuracy = {:.4f} / {:.4f}".format(loss, acc))
    return loss, acc


if __name__ == "__main__":
    quick = dict(nb_epoch=1, nb_train=200, nb_test=100, verbose=2)
    task = dict(type=int, default=1, choices=(1, 2))
    main(**example_arguments("200 training questions, 1 epoch", quick, epochs=20, task=task))
