"""An implementation of sequence to sequence learning for performing addition (the
Keras 1 `addition_rnn.py` example).

Input: "535+61"
Output: "596"
Padding is handled by using a repeated sentinel character (space).

Input may optionally be inverted, shown to increase performance in many tasks in:
"Learning to Execute" http://arxiv.org/abs/1410.4615 and "Sequence to Sequence
Learning with Neural Networks" http://papers.nips.cc/paper/5346-sequence-to-sequence-learning-with-neural-networks.pdf
Theoretically it introduces shorter term dependencies between source and target.

An LSTM encoder reads the question, RepeatVector feeds its summary to every step of an
LSTM decoder, and TimeDistributed(Dense) picks each answer character. The data is the
example's own generated additions (no dataset). Keras 1 trains for 199 iterations;
the full mode here runs 15 (87% of the validation answers entirely right; a few
minutes on 2 cores); `--iterations 199` runs Keras
1's schedule.

    python examples/addition_rnn.py [--iterations N] [--quick]

`--quick` (or FERROKERAS_EXAMPLE_QUICK=1): 2,000 questions, 1 iteration.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_utils import example_arguments  # noqa: E402

np.random.seed(1337)  # for reproducibility

from keras.layers import Activation, Dense, RepeatVector, TimeDistributed, recurrent  # noqa: E402
from keras.models import Sequential  # noqa: E402


class CharacterTable:
    """Given a set of characters:
    + Encode them to a one hot integer representation
    + Decode the one hot integer representation to their character output
    + Decode a vector of probabilities to their character output
    """

    def __init__(self, chars, maxlen):
        self.chars = sorted(set(chars))
        self.char_indices = dict((c, i) for i, c in enumerate(self.chars))
        self.indices_char = dict((i, c) for i, c in enumerate(self.chars))
        self.maxlen = maxlen

    def encode(self, C, maxlen=None):
        maxlen = maxlen if maxlen else self.maxlen
        X = np.zeros((maxlen, len(self.chars)))
        for i, c in enumerate(C):
            X[i, self.char_indices[c]] = 1
        return X

    def decode(self, X, calc_argmax=True):
        if calc_argmax:
            X = X.argmax(axis=-1)
        return "".join(self.indices_char[x] for x in X)


class colors:
    use = sys.stdout.isatty()
    ok = "\033[92m" if use else ""
    fail = "\033[91m" if use else ""
    close = "\033[0m" if use else ""


def main(training_size=50000, iterations=15, verbose=1):
    # Parameters for the model and dataset
    DIGITS = 3
    INVERT = True
    # Try replacing GRU, or SimpleRNN
    RNN = recurrent.LSTM
    HIDDEN_SIZE = 128
    BATCH_SIZE = 128
    LAYERS = 1
    MAXLEN = DIGITS + 1 + DIGITS

    chars = "0123456789+ "
    ctable = CharacterTable(chars, MAXLEN)

    questions = []
    expected = []
    seen = set()
    print("Generating data...")
    while len(questions) < training_size:

        def f():
            return int(
                "".join(np.random.choice(list("0123456789")) for i in range(np.random.randint(1, DIGITS + 1)))
            )

        a, b = f(), f()
        # Skip any addition questions we've already seen
        # Also skip any such that X+Y == Y+X (hence the sorting)
        key = tuple(sorted((a, b)))
        if key in seen:
            continue
        seen.add(key)
        # Pad the data with spaces such that it is always MAXLEN
        q = "{}+{}".format(a, b)
        query = q + " " * (MAXLEN - len(q))
        ans = str(a + b)
        # Answers can be of maximum size DIGITS + 1
        ans += " " * (DIGITS + 1 - len(ans))
        if INVERT:
            query = query[::-1]
        questions.append(query)
        expected.append(ans)
    print("Total addition questions:", len(questions))

    print("Vectorization...")
    X = np.zeros((len(questions), MAXLEN, len(chars)), dtype=bool)
    y = np.zeros((len(questions), DIGITS + 1, len(chars)), dtype=bool)
    for i, sentence in enumerate(questions):
        X[i] = ctable.encode(sentence, maxlen=MAXLEN)
    for i, sentence in enumerate(expected):
        y[i] = ctable.encode(sentence, maxlen=DIGITS + 1)

    # Shuffle (X, y) in unison as the later parts of X will almost all be larger digits
    indices = np.arange(len(y))
    np.random.shuffle(indices)
    X = X[indices]
    y = y[indices]

    # Explicitly set apart 10% for validation data that we never train over
    split_at = len(X) - len(X) // 10
    (X_train, X_val) = (X[:split_at], X[split_at:])
    (y_train, y_val) = (y[:split_at], y[split_at:])

    print(X_train.shape)
    print(y_train.shape)

    print("Build model...")
    model = Sequential()
    # "Encode" the input sequence using an RNN, producing an output of HIDDEN_SIZE
    # note: in a situation where your input sequences have a variable length,
    # use input_shape=(None, nb_feature).
    model.add(RNN(HIDDEN_SIZE, input_shape=(MAXLEN, len(chars))))
    # For the decoder's input, we repeat the encoded input for each time step
    model.add(RepeatVector(DIGITS + 1))
    # The decoder RNN could be multiple layers stacked or a single layer
    for _ in range(LAYERS):
        model.add(RNN(HIDDEN_SIZE, return_sequences=True))

    # For each of step of the output sequence, decide which character should be chosen
    model.add(TimeDistributed(Dense(len(chars))))
    model.add(Activation("softmax"))

    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])

    # Train the model each generation and show predictions against the validation dataset
    for iteration in range(1, iterations + 1):
        print()
        print("-" * 50)
        print("Iteration", iteration)
        model.fit(
            X_train,
            y_train,
            batch_size=BATCH_SIZE,
            nb_epoch=1,
            verbose=verbose,
            validation_data=(X_val, y_val),
        )
        ###
        # Select 10 samples from the validation set at random so we can visualize errors
        for _ in range(10):
            ind = np.random.randint(0, len(X_val))
            rowX, rowy = X_val[np.array([ind])], y_val[np.array([ind])]
            preds = model.predict_classes(rowX, verbose=0)
            q = ctable.decode(rowX[0])
            correct = ctable.decode(rowy[0])
            guess = ctable.decode(preds[0], calc_argmax=False)
            print("Q", q[::-1] if INVERT else q)
            print("T", correct)
            print(
                colors.ok + "☑" + colors.close if correct == guess else colors.fail + "☒" + colors.close,
                guess,
            )
            print("---")

    preds = model.predict_classes(X_val, verbose=0)
    right = np.mean(np.all(preds == y_val.argmax(axis=-1), axis=1))
    print("Validation answers entirely right: %.4f" % right)
    return right


if __name__ == "__main__":
    quick = dict(training_size=2000, iterations=1, verbose=0)
    iterations = dict(type=int, default=15)
    main(**example_arguments("2,000 questions, 1 iteration", quick, iterations=iterations))
