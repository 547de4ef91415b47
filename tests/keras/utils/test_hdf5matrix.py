"""keras.utils.io_utils.HDF5Matrix: indexing with start/end and a normalizer, and use as
model input in fit(shuffle='batch'), evaluate and predict, matching the numpy arrays."""

import h5py
import numpy as np
import pytest

from keras.layers import Dense
from keras.models import Sequential
from keras.utils.io_utils import HDF5Matrix


@pytest.fixture
def h5file(tmp_path):
    rs = np.random.RandomState(0)
    X = rs.normal(size=(100, 4)).astype("float32")
    y = (X @ np.array([[1.0], [-2.0], [0.5], [0.0]], dtype="float32") + 0.1).astype("float32")
    path = str(tmp_path / "data.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("X", data=X)
        f.create_dataset("y", data=y)
    yield path, X, y
    for f in HDF5Matrix.refs.values():
        f.close()
    HDF5Matrix.refs.clear()


def test_indexing_start_end_normalizer(h5file):
    path, X, _ = h5file
    m = HDF5Matrix(path, "X", start=10, end=30)
    assert len(m) == 20 and m.shape == (20, 4) and m.ndim == 2 and m.dtype == np.float32
    np.testing.assert_array_equal(m[0], X[10])
    np.testing.assert_array_equal(m[-1], X[29])
    np.testing.assert_array_equal(m[2:5], X[12:15])
    np.testing.assert_array_equal(m[:], X[10:30])
    np.testing.assert_array_equal(m[np.array([5, 1, 5, 19])], X[[15, 11, 15, 29]])
    np.testing.assert_array_equal(m[[3, 4]], X[[13, 14]])
    np.testing.assert_array_equal(np.asarray(m), X[10:30])
    with pytest.raises(IndexError):
        m[20]
    with pytest.raises(IndexError):
        m[np.array([0, 20])]
    n = HDF5Matrix(path, "X", normalizer=lambda a: a * 2)
    assert len(n) == 100 and n.shape == (100, 4)
    np.testing.assert_array_equal(n[3:5], X[3:5] * 2)
    np.testing.assert_array_equal(np.asarray(n), X * 2)
    with pytest.raises(ValueError, match="out of range"):
        HDF5Matrix(path, "X", start=50, end=200)
    with pytest.raises(KeyError, match="nope"):
        HDF5Matrix(path, "nope")


def _model():
    model = Sequential([Dense(1, input_dim=4)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_fit_shuffle_batch_matches_numpy(h5file):
    path, X, y = h5file
    model = _model()
    w0 = model.get_weights()
    np.random.seed(123)
    h_np = model.fit(X[:80], y[:80], batch_size=16, nb_epoch=3, shuffle="batch", verbose=0)
    w_np = model.get_weights()

    model.set_weights(w0)
    Xm = HDF5Matrix(path, "X", end=80)
    ym = HDF5Matrix(path, "y", end=80)
    np.random.seed(123)
    h_h5 = model.fit(Xm, ym, batch_size=16, nb_epoch=3, shuffle="batch", verbose=0)
    for a, b in zip(w_np, model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_allclose(h_np.history["loss"], h_h5.history["loss"], rtol=1e-6)
    assert h_h5.history["loss"][-1] < h_h5.history["loss"][0]

    Xt, yt = HDF5Matrix(path, "X", start=80), HDF5Matrix(path, "y", start=80)
    np.testing.assert_allclose(model.predict(Xt), model.predict(X[80:]), rtol=1e-6)
    np.testing.assert_allclose(
        model.evaluate(Xt, yt, verbose=0), model.evaluate(X[80:], y[80:], verbose=0), rtol=1e-6
    )
