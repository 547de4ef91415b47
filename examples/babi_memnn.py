"""A memory network answers bAbI questions (the Keras 1 `babi_memnn.py` example;
Sukhbaatar et al., "End-To-End Memory Networks", http://arxiv.org/abs/1503.08895).

The story is embedded twice (as memory keys, and as values of width query_maxlen) and
the question once; a legacy `Merge(mode='dot', dot_axes=[2, 2])` scores every story
word against every question word, a softmax turns the scores into attention, the
attention is summed with the value embedding, permuted, concatenated with the question
embedding and read by an LSTM. The story input is fed twice, as in Keras 1.

Data: the real bAbI task 1 when `~/.keras/datasets/babi-tasks-v1-2.tar.gz` is in the
Keras cache, else generated task-1 stories in the bAbI format (examples/babi_data.py):
2,000 training and 1,000 test questions. Keras 1 trains 120 epochs on the 10k task.

    python examples/babi_memnn.py [--epochs N] [--quick]

`--quick` (or FERROKERAS_EXAMPLE_QUICK=1): 200 training and 100 test questions, 1 epoch.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from babi_data import load_babi, vectorize, vocabulary  # noqa: E402
from example_utils import example_arguments  # noqa: E402

np.random.seed(1337)  # for reproducibility

from keras.layers import LSTM, Activation, Dense, Dropout, Merge, Permute  # noqa: E402
from keras.layers.embeddings import Embedding  # noqa: E402
from keras.models import Sequential  # noqa: E402


def main(nb_epoch=40, nb_train=2000, nb_test=1000, verbose=1):
    train_stories, test_stories = load_babi(1, nb_train=nb_train, nb_test=nb_test)
    vocab, word_idx, story_maxlen, query_maxlen = vocabulary(train_stories, test_stories)
    vocab_size = len(vocab) + 1

    print("-")
    print("Vocab size:", vocab_size, "unique words")
    print("Story max length:", story_maxlen, "words")
    print("Query max length:", query_maxlen, "words")
    print("Number of training stories:", len(train_stories))
    print("Number of test stories:", len(test_stories))
    print("-")
    print('Here\'s what a "story" tuple looks like (input, query, answer):')
    print(train_stories[0])
    print("-")
    print("Vectorizing the word sequences...")
    inputs_train, queries_train, answers_train = vectorize(
        train_stories, word_idx, story_maxlen, query_maxlen
    )
    inputs_test, queries_test, answers_test = vectorize(test_stories, word_idx, story_maxlen, query_maxlen)
    print("inputs_train shape:", inputs_train.shape)
    print("queries_train shape:", queries_train.shape)
    print("answers_train shape:", answers_train.shape)
    print("Compiling...")

    # the story as memory keys: (samples, story_maxlen, 64)
    input_encoder_m = Sequential()
    input_encoder_m.add(Embedding(input_dim=vocab_size, output_dim=64, input_length=story_maxlen))
    input_encoder_m.add(Dropout(0.3))
    # the question: (samples, query_maxlen, 64)
    question_encoder = Sequential()
    question_encoder.add(Embedding(input_dim=vocab_size, output_dim=64, input_length=query_maxlen))
    question_encoder.add(Dropout(0.3))
    # match every story word with every question word: (samples, story_maxlen, query_maxlen)
    match = Sequential()
    match.add(Merge([input_encoder_m, question_encoder], mode="dot", dot_axes=[2, 2]))
    match.add(Activation("softmax"))
    # the story as memory values, one value per question position
    input_encoder_c = Sequential()
    input_encoder_c.add(Embedding(input_dim=vocab_size, output_dim=query_maxlen, input_length=story_maxlen))
    input_encoder_c.add(Dropout(0.3))
    # attention plus values, then (samples, query_maxlen, story_maxlen)
    response = Sequential()
    response.add(Merge([match, input_encoder_c], mode="sum"))
    response.add(Permute((2, 1)))

    # the response next to the question, read by an LSTM (the paper uses a matrix product)
    answer = Sequential()
    answer.add(Merge([response, question_encoder], mode="concat", concat_axis=-1))
    answer.add(LSTM(32))
    answer.add(Dropout(0.3))
    answer.add(Dense(vocab_size))
    answer.add(Activation("softmax"))

    answer.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    # the story goes in twice: once for the keys, once for the values
    answer.fit(
        [inputs_train, queries_train, inputs_train],
        answers_train,
        batch_size=32,
        nb_epoch=nb_epoch,
        validation_data=([inputs_test, queries_test, inputs_test], answers_test),
        verbose=verbose,
    )
    loss, acc = answer.evaluate([inputs_test, queries_test, inputs_test], answers_test, verbose=0)
    print("Test loss / test accuracy = {:.4f} / {:.4f}".format(loss, acc))
    return loss, acc


if __name__ == "__main__":
    quick = dict(nb_epoch=1, nb_train=200, nb_test=100, verbose=2)
    main(**example_arguments("200 training questions, 1 epoch", quick, epochs=40))
