"""Generates text in the style of Nietzsche's writings (the Keras 1
`lstm_text_generation.py` example): a character-level LSTM trained to predict the next
character from the previous 40, then sampled at several temperatures.

Runs offline on the Nietzsche corpus of the shared data (../shared/data/text/
nietzsche.txt, the file Keras downloads). Keras 1 trains on the whole corpus for 59
iterations and recommends a GPU; here the full mode trains on the first 200,000
characters for 2 iterations (a couple of minutes on 2 cores), which already gives
word-like output; `--chars 0 --iterations 59` runs Keras 1's schedule.

    python examples/lstm_text_generation.py [--chars N] [--iterations N] [--quick]

`--quick` (or FERROKERAS_EXAMPLE_QUICK=1): the first 4,000 characters, 1 iteration,
20 generated characters at two temperatures.
"""

import argparse
import os
import random
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_utils import quick_mode, shared_data_path  # noqa: E402

np.random.seed(1337)  # for reproducibility
random.seed(1337)

from keras.layers import LSTM, Activation, Dense  # noqa: E402
from keras.models import Sequential  # noqa: E402
from keras.optimizers import RMSprop  # noqa: E402


def sample(preds, temperature=1.0):
    """Helper function to sample an index from a probability array."""
    preds = np.asarray(preds).astype("float64")
    preds = np.log(preds) / temperature
    exp_preds = np.exp(preds)
    preds = exp_preds / np.sum(exp_preds)
    probas = np.random.multinomial(1, preds, 1)
    return np.argmax(probas)


def main(nb_chars=200000, iterations=2, gen_length=400, diversities=(0.2, 0.5, 1.0, 1.2), verbose=1):
    path = shared_data_path("text/nietzsche.txt")
    with open(path, encoding="utf-8") as f:
        text = f.read().lower()
    print("corpus length:", len(text))

    chars = sorted(list(set(text)))
    print("total chars:", len(chars))
    char_indices = dict((c, i) for i, c in enumerate(chars))
    indices_char = dict((i, c) for i, c in enumerate(chars))
    if nb_chars:
        text = text[:nb_chars]
        print("training on the first", len(text), "characters")

    # cut the text in semi-redundant sequences of maxlen characters
    maxlen = 40
    step = 3
    sentences = []
    next_chars = []
    for i in range(0, len(text) - maxlen, step):
        sentences.append(text[i : i + maxlen])
        next_chars.append(text[i + maxlen])
    print("nb sequences:", len(sentences))

    print("Vectorization...")
    X = np.zeros((len(sentences), maxlen, len(chars)), dtype=bool)
    y = np.zeros((len(sentences), len(chars)), dtype=bool)
    for i, sentence in enumerate(sentences):
        for t, char in enumerate(sentence):
            X[i, t, char_indices[char]] = 1
        y[i, char_indices[next_chars[i]]] = 1

    # build the model: a single LSTM
    print("Build model...")
    model = Sequential()
    model.add(LSTM(128, input_shape=(maxlen, len(chars))))
    model.add(Dense(len(chars)))
    model.add(Activation("softmax"))

    optimizer = RMSprop(lr=0.01)
    model.compile(loss="categorical_crossentropy", optimizer=optimizer)

    # train the model, output generated text after each iteration
    loss = None
    for iteration in range(1, iterations + 1):
        print()
        print("-" * 50)
        print("Iteration", iteration)
        hist = model.fit(X, y, batch_size=128, nb_epoch=1, verbose=verbose)
        loss = hist.history["loss"][-1]

        start_index = random.randint(0, len(text) - maxlen - 1)

        for diversity in diversities:
            print()
            print("----- diversity:", diversity)

            generated = ""
            sentence = text[start_index : start_index + maxlen]
            generated += sentence
            print('----- Generating with seed: "' + sentence + '"')
            sys.stdout.write(generated)

            for _ in range(gen_length):
                x = np.zeros((1, maxlen, len(chars)))
                for t, char in enumerate(sentence):
                    x[0, t, char_indices[char]] = 1.0

                preds = model.predict(x, verbose=0)[0]
                next_index = sample(preds, diversity)
                next_char = indices_char[next_index]

                generated += next_char
                sentence = sentence[1:] + next_char

                sys.stdout.write(next_char)
                sys.stdout.flush()
            print()
    print()
    print("Final training loss:", loss)
    return loss


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--chars", type=int, default=200000, help="train on the first N characters (0: all)")
    ap.add_argument("--iterations", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="4,000 characters, 1 iteration")
    a = ap.parse_args()
    if quick_mode():
        main(nb_chars=4000, iterations=1, gen_length=20, diversities=(0.2, 1.0), verbose=2)
    else:
        main(nb_chars=a.chars, iterations=a.iterations)
