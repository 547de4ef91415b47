"""Shows how to use stateful RNNs to model long sequences efficiently (the Keras 1
`stateful_lstm.py` example): two stateful LSTMs read an exponentially damped cosine one
step per batch row, carrying their state from batch to batch, and learn to predict
the next value.

The data is the example's own generated series (no dataset). Keras 1 plotted the
expected and predicted series with matplotlib; this version prints the mean squared
error of the prediction and a few values instead.

    python examples/stateful_lstm.py [--epochs N] [--quick]

`--quick` (or FERROKERAS_EXAMPLE_QUICK=1): the first 1,000 points, 1 epoch.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_utils import example_arguments  # noqa: E402

np.random.seed(1337)  # for reproducibility

from keras.layers import LSTM, Dense  # noqa: E402
from keras.models import Sequential  # noqa: E402


def gen_cosine_amp(amp=100, period=1000, x0=0, xn=50000, step=1, k=0.0001):
    """Generates an absolute cosine time series with the amplitude
    exponentially decreasing

    # Arguments
        amp: amplitude of the cosine function
        period: period of the cosine function
        x0: initial x of the time series
        xn: final x of the time series
        step: step of the time series discretization
        k: exponential rate
    """
    cos = np.zeros(((xn - x0) * step, 1, 1))
    for i in range(len(cos)):
        idx = x0 + i * step
        cos[i, 0, 0] = amp * np.cos(2 * np.pi * idx / period)
        cos[i, 0, 0] = cos[i, 0, 0] * np.exp(-k * idx)
    return cos


def main(nb_epoch=25, xn=50000, verbose=1):
    # since we are using stateful rnn tsteps can be set to 1
    tsteps = 1
    batch_size = 25
    # number of elements ahead that are used to make the prediction
    lahead = 1

    print("Generating Data")
    cos = gen_cosine_amp(xn=xn)
    print("Input shape:", cos.shape)

    expected_output = np.zeros((len(cos), 1))
    for i in range(len(cos) - lahead):
        expected_output[i, 0] = np.mean(cos[i + 1 : i + lahead + 1])

    print("Output shape")
    print(expected_output.shape)

    print("Creating Model")
    model = Sequential()
    model.add(LSTM(50, batch_input_shape=(batch_size, tsteps, 1), return_sequences=True, stateful=True))
    model.add(LSTM(50, return_sequences=False, stateful=True))
    model.add(Dense(1))
    model.compile(loss="mse", optimizer="rmsprop")

    print("Training")
    for i in range(nb_epoch):
        print("Epoch", i, "/", nb_epoch)
        model.fit(cos, expected_output, batch_size=batch_size, verbose=verbose, nb_epoch=1, shuffle=False)
        model.reset_states()

    print("Predicting")
    predicted_output = model.predict(cos, batch_size=batch_size)
    mse = float(np.mean((predicted_output - expected_output) ** 2))
    for i in range(0, len(cos), len(cos) // 5):
        print("t=%5d expected %9.3f predicted %9.3f" % (i, expected_output[i, 0], predicted_output[i, 0]))
    print("Prediction MSE: %.4f (variance of the series: %.4f)" % (mse, float(np.var(expected_output))))
    return mse


if __name__ == "__main__":
    quick = dict(nb_epoch=1, xn=1000, verbose=0)
    main(**example_arguments("1,000 points, 1 epoch", quick, epochs=25))
