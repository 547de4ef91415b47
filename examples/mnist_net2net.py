"""Net2Net knowledge transfer on MNIST (the Keras 1 `mnist_net2net.py` example; Chen,
Goodfellow & Shlens, "Net2Net: Accelerating Learning via Knowledge Transfer",
http://arxiv.org/abs/1511.05641).

A teacher CNN (conv1, pool, conv2, pool, fc1, fc2) is trained, then its weights seed
bigger students:

- Net2WiderNet: conv1 grows from 64 to 128 filters and fc1 from 64 to 128 units. The
  new units either get random weights ('random-pad', the baseline) or copy randomly
  chosen teacher units, with the outgoing weights of each copied unit divided among
  its copies ('net2wider'; a little noise on the copies breaks the symmetry).
- Net2DeeperNet: an extra convolution after conv2 and an extra Dense after fc1, either
  randomly initialised ('random-init') or set to the identity ('net2deeper': a centred
  one-hot kernel, and Keras 1's `init='identity'`).

Function-preserving transforms start where the teacher ended: the script prints every
student's validation loss before training next to the teacher's (net2deeper equal,
net2wider nearly equal, the random baselines worse). Weights are moved with
`get_layer(name).get_weights()` / `set_weights()`, and the conv kernels are handled in
either image_dim_ordering (Keras 1's script assumed 'th').

Real MNIST digits bundled in examples/data (the first 8,000 test-set images train, the
last 2,000 validate). SGD with momentum 0.9 (lr 0.01 for the teacher, 0.001 for the
students), 3 epochs each as in Keras 1; the teacher is trained once and serves both
experiments.

    python examples/mnist_net2net.py [--epochs N] [--quick]

`--quick` (or FERROKERAS_EXAMPLE_QUICK=1): 256 training images, 1 epoch per model.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from example_utils import example_arguments  # noqa: E402
from mnist_data import load_mnist_test_set  # noqa: E402

np.random.seed(1337)

from keras import backend as K  # noqa: E402
from keras.layers import Conv2D, Dense, Flatten, MaxPooling2D  # noqa: E402
from keras.models import Sequential  # noqa: E402
from keras.optimizers import SGD  # noqa: E402
from keras.utils import np_utils  # noqa: E402

nb_class = 10


def to_th(w):
    """A conv kernel in (nb_filter, nb_channel, rows, cols) layout, whatever the ordering."""
    return w if K.image_dim_ordering() == "th" else w.transpose(3, 2, 0, 1)


def from_th(w):
    return w if K.image_dim_ordering() == "th" else w.transpose(2, 3, 1, 0)


def wider_units(w1, b1, w2, new_width, init, unit_axis_w2):
    """Widens a layer whose kernel `w1` has its units on axis 0 (bias `b1`), and the next
    layer's kernel `w2` whose inputs from those units are on `unit_axis_w2`."""
    n = new_width - w1.shape[0]
    assert n > 0, "the new width must be larger than the old one"
    assert w1.shape[0] == b1.shape[0] == w2.shape[unit_axis_w2], "incompatible teacher shapes"
    if init == "random-pad":
        new_w1 = np.random.normal(0, 0.1, size=(n,) + w1.shape[1:])
        new_b1 = np.ones(n) * 0.1
        shape = list(w2.shape)
        shape[unit_axis_w2] = n
        new_w2 = np.random.normal(0, 0.1, size=shape)
        return (
            np.concatenate((w1, new_w1)),
            np.concatenate((b1, new_b1)),
            np.concatenate((w2, new_w2), axis=unit_axis_w2),
        )
    if init != "net2wider":
        raise ValueError("Unsupported weight initializer: %s" % init)
    # copy randomly chosen units; each copied unit's outgoing weights are shared by its copies
    index = np.random.randint(w1.shape[0], size=n)
    copies = np.bincount(index, minlength=w1.shape[0])[index] + 1.0
    shape = [1] * w2.ndim
    shape[unit_axis_w2] = n
    moved = np.take(w2, index, axis=unit_axis_w2) / copies.reshape(shape)
    noise = np.random.normal(0, 5e-2 * moved.std(), size=moved.shape)
    student_w2 = np.concatenate((w2, moved + noise), axis=unit_axis_w2)
    sl = [slice(None)] * w2.ndim
    sl[unit_axis_w2] = index
    student_w2[tuple(sl)] = moved
    return np.concatenate((w1, w1[index])), np.concatenate((b1, b1[index])), student_w2


def identity_conv(nb_filter, kh, kw):
    """A conv kernel (th layout) that passes its input through: a centred one-hot tap per
    channel (symmetric, so true convolution and cross-correlation agree)."""
    w = np.zeros((nb_filter, nb_filter, kh, kw))
    for i in range(nb_filter):
        w[i, i, (kh - 1) // 2, (kw - 1) // 2] = 1.0
    return w, np.zeros(nb_filter)


def base_model(conv1_width=64, fc1_width=64, deeper=None, input_shape=None):
    """The teacher's architecture; wider layers or extra identity-initialised layers for
    the students (deeper: None, 'random-init' or 'net2deeper')."""
    model = Sequential()
    model.add(Conv2D(conv1_width, 3, 3, input_shape=input_shape, border_mode="same", name="conv1"))
    model.add(MaxPooling2D(name="pool1"))
    model.add(Conv2D(64, 3, 3, border_mode="same", name="conv2"))
    if deeper == "net2deeper":
        w, b = identity_conv(64, 3, 3)
        model.add(Conv2D(64, 3, 3, border_mode="same", name="conv2-deeper", weights=[from_th(w), b]))
    elif deeper == "random-init":
        model.add(Conv2D(64, 3, 3, border_mode="same", name="conv2-deeper"))
    elif deeper is not None:
        raise ValueError("Unsupported weight initializer: %s" % deeper)
    model.add(MaxPooling2D(name="pool2"))
    model.add(Flatten(name="flatten"))
    model.add(Dense(fc1_width, activation="relu", name="fc1"))
    if deeper == "net2deeper":
        # net2deeper for a Dense layer after a ReLU is the identity
        model.add(Dense(64, init="identity", activation="relu", name="fc1-deeper"))
    elif deeper == "random-init":
        model.add(Dense(64, activation="relu", name="fc1-deeper"))
    model.add(Dense(nb_class, activation="softmax", name="fc2"))
    return model


def train(model, lr, data, nb_epoch, verbose):
    (train_x, train_y), (val_x, val_y) = data
    model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=lr, momentum=0.9), metrics=["accuracy"])
    start = model.evaluate(val_x, val_y, verbose=0)[0]
    history = model.fit(train_x, train_y, nb_epoch=nb_epoch, validation_data=(val_x, val_y), verbose=verbose)
    return start, history.history["val_loss"]


def make_wider_student(teacher, init, input_shape):
    model = base_model(conv1_width=128, fc1_width=128, input_shape=input_shape)
    w_conv1, b_conv1 = teacher.get_layer("conv1").get_weights()
    w_conv2, b_conv2 = teacher.get_layer("conv2").get_weights()
    w1, b1, w2 = wider_units(to_th(w_conv1), b_conv1, to_th(w_conv2), 128, init, unit_axis_w2=1)
    model.get_layer("conv1").set_weights([from_th(w1), b1])
    model.get_layer("conv2").set_weights([from_th(w2), b_conv2])
    # Dense kernels are (inputs, units): units on axis 1, so widen the transposes
    w_fc1, b_fc1 = teacher.get_layer("fc1").get_weights()
    w_fc2, b_fc2 = teacher.get_layer("fc2").get_weights()
    w1, b1, w2 = wider_units(w_fc1.T, b_fc1, w_fc2, 128, init, unit_axis_w2=0)
    model.get_layer("fc1").set_weights([w1.T, b1])
    model.get_layer("fc2").set_weights([w2, b_fc2])
    return model


def make_deeper_student(teacher, init, input_shape):
    model = base_model(deeper=init, input_shape=input_shape)
    for name in ("conv1", "conv2", "fc1", "fc2"):
        model.get_layer(name).set_weights(teacher.get_layer(name).get_weights())
    return model


def main(nb_epoch=3, nb_train=8000, nb_val=2000, verbose=1):
    input_shape = (1, 28, 28) if K.image_dim_ordering() == "th" else (28, 28, 1)
    images, labels = load_mnist_test_set()
    train_x = images[:nb_train].reshape((-1,) + input_shape) / 255.0
    val_x = images[8000 : 8000 + nb_val].reshape((-1,) + input_shape) / 255.0
    train_y = np_utils.to_categorical(labels[:nb_train], nb_class)
    val_y = np_utils.to_categorical(labels[8000 : 8000 + nb_val], nb_class)
    print("Loading MNIST data...")
    print("train_x shape:", train_x.shape, "train_y shape:", train_y.shape)
    print("validation_x shape:", val_x.shape, "validation_y shape", val_y.shape)
    data = ((train_x, train_y), (val_x, val_y))

    print("\nbuilding teacher model ...")
    teacher = base_model(input_shape=input_shape)
    _, teacher_losses = train(teacher, 0.01, data, nb_epoch, verbose)
    results = {"teacher": (None, teacher_losses)}

    print("\nExperiment of Net2WiderNet ...")
    for init in ("random-pad", "net2wider"):
        print("\nbuilding wider student model by %s ..." % init)
        results["wider_" + init] = train(
            make_wider_student(teacher, init, input_shape), 0.001, data, nb_epoch, verbose
        )

    print("\nExperiment of Net2DeeperNet ...")
    for init in ("random-init", "net2deeper"):
        print("\nbuilding deeper student model by %s ..." % init)
        results["deeper_" + init] = train(
            make_deeper_student(teacher, init, input_shape), 0.001, data, nb_epoch, verbose
        )

    print("\nValidation loss: before training, then after each epoch")
    for name, (start, losses) in results.items():
        first = "%.4f" % start if start is not None else "   -  "
        print("%-24s %s | %s" % (name, first, "  ".join("%.4f" % v for v in losses)))
    return results


if __name__ == "__main__":
    quick = dict(nb_epoch=1, nb_train=256, nb_val=256, verbose=0)
    main(**example_arguments("256 training images, 1 epoch per model", quick, epochs=3))
