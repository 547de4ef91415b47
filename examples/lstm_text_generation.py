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

import os
import random
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_utils import example_arguments, shared_data_path  # noqa: E402

from keras.layers import LSTM, Activation, Dense  # noqa: E402
from keras.models import Sequential  # noqa: E402
from keras.optimizers import RMSprop  # noqa: E402


def vectorize(text, char_indices, maxlen=40, step=3):
    """The text cut in semi-redundant sequences of `maxlen` characters, `step` apart, as
    one-hot arrays: `X` (sequences, maxlen, chars) and `y`, the character after each."""
    sentences = []
    next_chars = []
    for i in range(0, len(text) - maxlen, step):
        sentences.append(text[i : i + maxlen])
        next_chars.append(text[i + maxlen])
    X = np.zeros((len(sentences), maxlen, len(char_indices)), dtype=bool)
    y = np.zeros((len(sentences), len(char_indices)), dtype=bool)
    for i, sentence in enumerate(sentences):
        for t, char in enumerate(sentence):
            X[i, t, char_indices[char]] = 1
        y[i, char_indices[next_chars[i]]] = 1
    return X, y


def build_model(maxlen, nb_chars):
    """A single LSTM, compiled (tests/integration trains it too)."""
    model = Sequential()
    model.add(LSTM(128, input_shape=(maxlen, nb_chars)))
    model.add(Dense(nb_chars))
    model.add(Activation("softmax"))

    optimizer = RMSprop(lr=0.01)
    model.compile(loss="categorical_crossentropy", optimizer=optimizer)
    return model


def sample(preds, temperature=1.0):
    """Helper function to sample an index from a probability array."""
    preds = np.asarray(preds).astype("float64")
    preds = np.log(preds + 1e-12) / temperature
    exp_preds = np.exp(preds)
    preds = exp_preds / np.sum(exp_preds)
    probas = np.random.multinomial(1, preds, 1)
    return int(np.argmax(probas))


def next_char_index(model, sentence, char_indices, temperature):
    """The index of the character the model draws (at `temperature`) after `sentence`."""
    x = np.zeros((1, len(sentence), len(char_indices)))
    for t, char in enumerate(sentence):
        x[0, t, char_indices[char]] = 1.0
    return sample(model.predict(x, verbose=0)[0], temperature)


def main(nb_chars=200000, iterations=2, gen_length=400, diversities=(0.2, 0.5, 1.0, 1.2), verbose=1):
    np.random.seed(1337)  # for reproducibility
    random.seed(1337)
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
    print("Vectorization...")
    X, y = vectorize(text, char_indices, maxlen, step=3)
    print("nb sequences:", len(X))

    # build the model: a single LSTM
    print("Build model...")
    model = build_model(maxlen, len(chars))

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
                next_char = indices_char[next_char_index(model, sentence, char_indices, diversity)]

                generated += next_char
                sentence = sentence[1:] + next_char

                sys.stdout.write(next_char)
                sys.stdout.flush()
            print()
    print()
    print("Final training loss:", loss)
    return loss


if __name__ == "__main__":
    quick = dict(nb_chars=4000, iterations=1, gen_length=20, diversities=(0.2, 1.0), verbose=2)
    nb_chars = dict(flag="--chars", type=int, default=200000, help="train on the first N characters (0: all)")
    iterations = dict(type=int, default=2)
    main(
        **example_arguments("4,000 characters, 1 iteration", quick, nb_chars=nb_chars, iterations=iterations)
    )
