"""A convolutional LSTM network predicts the next frame of generated movies of moving
squares (the Keras 1 `conv_lstm.py` example).

Four `ConvLSTM2D` layers (3 x 3 kernels, 'same' borders, `return_sequences=True`),
each followed by `BatchNormalization`, then a `Convolution3D` with a 1 x 3 x 3 kernel
and a sigmoid map every frame to the predicted next frame (binary cross-entropy,
Adadelta). Movies hold 3 to 7 squares of 2 x 2 to 3 x 3 pixels moving in straight
lines, some frames with noise around the squares; they are drawn twice the final size
and cropped to the centre, as in Keras 1. The layers use the channels-last layout
(`dim_ordering='tf'`, as Keras 1's script assumed), whatever keras.json says.

Keras 1 declared `input_shape=(None, 40, 40, 1)` (any number of frames) and fed the
trained model ever longer tracks. Here the number of frames is fixed (ferrokeras'
ConvLSTM2D needs it); since every layer only looks at the current and earlier frames,
the prediction after the first t frames is read at position t of a track padded with
empty frames to the fixed length, which is the same computation. The script feeds 7
frames of a held-out movie, predicts the rest one frame at a time from its own
predictions, and prints the mean absolute error against the true frames.

Keras 1 trains 1,000 movies of 15 frames of 40 x 40 pixels with 40 filters for 300
epochs (`--movies 1000 --frames 15 --size 40 --filters 40 --epochs 300`); the defaults
here are 200 movies of 10 frames of 20 x 20 pixels, 10 filters, 10 epochs (3 minutes on
2 cores). The error is printed next to that of a blank prediction (all zeros); after
those 10 epochs the training loss is still falling (1.19 to 0.24) and the validation
loss lags behind (0.68 to 0.47: the BatchNormalization moving averages, momentum 0.99,
trail the weights), so the predicted frames are not yet better than blank ones
(mean absolute error 0.36 against 0.08).

    python examples/conv_lstm.py [--movies N] [--frames N] [--size N] [--filters N] [--epochs N] [--quick]

`--quick` (or FERROKERAS_EXAMPLE_QUICK=1): 24 movies of 8 frames of 20 x 20 pixels,
4 filters, 1 epoch.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_utils import example_arguments  # noqa: E402

np.random.seed(1337)

from keras.layers.convolutional import Convolution3D  # noqa: E402
from keras.layers.convolutional_recurrent import ConvLSTM2D  # noqa: E402
from keras.layers.normalization import BatchNormalization  # noqa: E402
from keras.models import Sequential  # noqa: E402


def generate_movies(n_samples=1200, n_frames=15, size=40):
    """(noisy movies, movies shifted one frame ahead), float32 of shape
    (n_samples, n_frames, size, size, 1), values in [0, 1]."""
    row = col = 2 * size
    noisy_movies = np.zeros((n_samples, n_frames, row, col, 1), dtype="float32")
    shifted_movies = np.zeros((n_samples, n_frames, row, col, 1), dtype="float32")
    lo, hi = size // 2, size + size // 2
    for i in range(n_samples):
        # 3 to 7 moving squares
        for _ in range(np.random.randint(3, 8)):
            xstart, ystart = np.random.randint(lo, hi, 2)
            # direction of motion and size of the square
            directionx, directiony = np.random.randint(0, 3, 2) - 1
            w = np.random.randint(2, 4)
            for t in range(n_frames):
                x_shift = xstart + directionx * t
                y_shift = ystart + directiony * t
                noisy_movies[i, t, x_shift - w : x_shift + w, y_shift - w : y_shift + w, 0] += 1
                # noise around the square: a pixel near 1 should still count as a square
                if np.random.randint(0, 2):
                    noise_f = (-1) ** np.random.randint(0, 2)
                    noisy_movies[
                        i, t, x_shift - w - 1 : x_shift + w + 1, y_shift - w - 1 : y_shift + w + 1, 0
                    ] += noise_f * 0.1
                # the ground truth is the next frame
                x_shift = xstart + directionx * (t + 1)
                y_shift = ystart + directiony * (t + 1)
                shifted_movies[i, t, x_shift - w : x_shift + w, y_shift - w : y_shift + w, 0] += 1
    # cut to the central window
    noisy_movies = np.clip(noisy_movies[:, :, lo:hi, lo:hi, :], None, 1)
    shifted_movies = np.clip(shifted_movies[:, :, lo:hi, lo:hi, :], None, 1)
    return noisy_movies, shifted_movies


def main(n_movies=200, n_frames=10, size=20, nb_filter=10, nb_epoch=10, verbose=1):
    seq = Sequential()
    seq.add(
        ConvLSTM2D(
            nb_filter=nb_filter,
            nb_row=3,
            nb_col=3,
            input_shape=(n_frames, size, size, 1),
            border_mode="same",
            return_sequences=True,
            dim_ordering="tf",
        )
    )
    seq.add(BatchNormalization())
    for _ in range(3):
        seq.add(
            ConvLSTM2D(
                nb_filter=nb_filter,
                nb_row=3,
                nb_col=3,
                border_mode="same",
                return_sequences=True,
                dim_ordering="tf",
            )
        )
        seq.add(BatchNormalization())
    seq.add(
        Convolution3D(
            nb_filter=1,
            kernel_dim1=1,
            kernel_dim2=3,
            kernel_dim3=3,
            activation="sigmoid",
            border_mode="same",
            dim_ordering="tf",
        )
    )
    seq.compile(loss="binary_crossentropy", optimizer="adadelta")

    # train on all but the last few movies
    noisy_movies, shifted_movies = generate_movies(n_samples=n_movies + 4, n_frames=n_frames, size=size)
    seq.fit(
        noisy_movies[:n_movies],
        shifted_movies[:n_movies],
        batch_size=10,
        nb_epoch=nb_epoch,
        validation_split=0.05,
        verbose=verbose,
    )

    # a held-out movie: feed its first frames, then the model's own predictions
    which = n_movies + 1
    known = min(7, n_frames - 1)
    track = np.zeros((1, n_frames, size, size, 1), dtype="float32")
    track[0, :known] = noisy_movies[which, :known]
    for t in range(known, n_frames):
        # the output at frame t - 1 predicts frame t (later, empty frames do not matter)
        new_pos = seq.predict(track)
        track[0, t] = new_pos[0, t - 1]
    predicted = track[0, known:]
    truth = shifted_movies[which, known - 1 : n_frames - 1]
    print("Predicted frames %d-%d from the first %d" % (known + 1, n_frames, known))
    print("Mean absolute error of the predicted frames: %.4f" % float(np.abs(predicted - truth).mean()))
    print("Mean absolute error of blank frames: %.4f" % float(np.abs(truth).mean()))
    return predicted


if __name__ == "__main__":
    quick = dict(n_movies=24, n_frames=8, size=20, nb_filter=4, nb_epoch=1, verbose=2)
    sizes = dict(
        n_movies=dict(flag="--movies", type=int, default=200),
        n_frames=dict(flag="--frames", type=int, default=10),
        size=dict(type=int, default=20),
        nb_filter=dict(flag="--filters", type=int, default=10),
    )
    main(**example_arguments("24 small movies of 8 frames, 4 filters, 1 epoch", quick, epochs=10, **sizes))
