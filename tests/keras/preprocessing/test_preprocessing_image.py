"""keras.preprocessing.image: each augmentation's effect on small images, standardization,
seeded determinism, the iterators (batches, labels, thread safety) and
flow_from_directory on PNGs written here."""

import os
import threading

import numpy as np
import pytest
from PIL import Image

from keras.preprocessing import image as kimage
from keras.preprocessing.image import (
    ImageDataGenerator,
    apply_transform,
    array_to_img,
    img_to_array,
    load_img,
    transform_matrix_offset_center,
)


def _img(c=3, h=5, w=6, seed=0):
    return np.random.RandomState(seed).randint(0, 256, size=(c, h, w)).astype("float32")


def test_array_img_round_trip_th_tf_gray():
    x = _img()
    img = array_to_img(x, dim_ordering="th", scale=False)
    assert img.mode == "RGB" and img.size == (6, 5)
    np.testing.assert_array_equal(img_to_array(img, dim_ordering="th"), x)
    np.testing.assert_array_equal(img_to_array(img, dim_ordering="tf"), x.transpose(1, 2, 0))
    g = array_to_img(x[:1].transpose(1, 2, 0), dim_ordering="tf", scale=False)
    assert g.mode == "L"
    assert img_to_array(g, dim_ordering="th").shape == (1, 5, 6)
    assert img_to_array(g, dim_ordering="tf").shape == (5, 6, 1)
    # scale=True maps [min, max] onto [0, 255]
    s = img_to_array(array_to_img(np.array([[[-1.0, 0.0, 1.0]]]), dim_ordering="th"), dim_ordering="th")
    np.testing.assert_array_equal(s, [[[0, 127, 255]]])
    with pytest.raises(ValueError, match="rank 3"):
        array_to_img(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="channel"):
        array_to_img(np.zeros((2, 3, 3)), dim_ordering="th")


def test_load_img_modes_and_resize(tmp_path):
    x = _img(h=4, w=8)
    p = str(tmp_path / "a.png")
    array_to_img(x, dim_ordering="th", scale=False).save(p)
    img = load_img(p)
    assert img.mode == "RGB" and img.size == (8, 4)
    np.testing.assert_array_equal(img_to_array(img, "th"), x)
    assert load_img(p, grayscale=True).mode == "L"
    assert load_img(p, target_size=(2, 3)).size == (3, 2)


def test_horizontal_and_vertical_flip():
    x = _img()
    gen = ImageDataGenerator(horizontal_flip=True, dim_ordering="th")
    seen = set()
    np.random.seed(0)
    for _ in range(30):
        out = gen.random_transform(x.copy())
        if np.array_equal(out, x[:, :, ::-1]):
            seen.add("flipped")
        else:
            np.testing.assert_array_equal(out, x)
            seen.add("same")
    assert seen == {"flipped", "same"}
    gen = ImageDataGenerator(vertical_flip=True, dim_ordering="tf")
    xt = x.transpose(1, 2, 0)
    seen = set()
    for _ in range(30):
        out = gen.random_transform(xt.copy())
        if np.array_equal(out, xt[::-1]):
            seen.add("flipped")
        else:
            np.testing.assert_array_equal(out, xt)
            seen.add("same")
    assert seen == {"flipped", "same"}


def test_rescale_and_samplewise():
    x = _img()
    np.testing.assert_allclose(
        ImageDataGenerator(rescale=1 / 255.0).standardize(x.copy()), x / 255.0, rtol=1e-6
    )
    out = ImageDataGenerator(samplewise_center=True, dim_ordering="th").standardize(x.copy())
    # Keras 1 centres each pixel over the channel axis
    np.testing.assert_allclose(out, x - x.mean(axis=0, keepdims=True), atol=1e-4)
    out = ImageDataGenerator(samplewise_std_normalization=True, dim_ordering="th").standardize(x.copy())
    np.testing.assert_allclose(out, x / (x.std(axis=0, keepdims=True) + 1e-7), rtol=1e-5)
    out = ImageDataGenerator(preprocessing_function=lambda a: a * 0 + 3, rescale=2.0).standardize(x.copy())
    assert np.all(out == 6)


def test_featurewise_center_and_std():
    rs = np.random.RandomState(1)
    X = rs.normal(size=(20, 3, 4, 4)).astype("float32") * [[[2]], [[3]], [[4]]] + [[[1]], [[-5]], [[10]]]
    gen = ImageDataGenerator(featurewise_center=True, featurewise_std_normalization=True, dim_ordering="th")
    gen.fit(X)
    assert gen.mean.shape == (3, 1, 1) and gen.std.shape == (3, 1, 1)
    np.testing.assert_allclose(gen.mean[:, 0, 0], X.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(gen.std[:, 0, 0], X.std(axis=(0, 2, 3)), rtol=1e-5)
    batch = next(gen.flow(X, batch_size=20, shuffle=False))
    np.testing.assert_allclose(batch.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(batch.std(axis=(0, 2, 3)), 1, atol=1e-4)
    with pytest.warns(UserWarning, match="featurewise_center"):
        ImageDataGenerator(featurewise_center=True).standardize(X[0].copy())


def test_zca_whitening_decorrelates():
    rs = np.random.RandomState(2)
    base = rs.normal(size=(400, 12))
    X = (base @ rs.normal(size=(12, 12))).reshape(400, 3, 2, 2).astype("float32")
    gen = ImageDataGenerator(featurewise_center=True, zca_whitening=True, dim_ordering="th")
    gen.fit(X)
    assert gen.principal_components.shape == (12, 12)
    out = next(gen.flow(X, batch_size=400, shuffle=False)).reshape(400, 12)
    cov = out.T @ out / 400
    np.testing.assert_allclose(cov, np.eye(12), atol=1e-2)
    flat = X.reshape(400, 12) - X.mean(axis=(0, 2, 3)).repeat(4)
    assert np.abs(flat.T @ flat / 400 - np.eye(12)).max() > 1.0  # the input was far from white


def test_apply_transform_keras1_centre_and_fill_modes():
    x = np.arange(25, dtype="float32").reshape(1, 5, 5)
    rot180 = np.diag([-1.0, -1.0, 1.0])
    m = transform_matrix_offset_center(rot180, 5, 5)
    out = apply_transform(x, m, 0, fill_mode="constant", cval=-1)
    # Keras 1's centre is h / 2 + 0.5 = 3, so output (i, j) reads input (6 - i, 6 - j).
    expect = np.full((5, 5), -1.0)
    for i in range(5):
        for j in range(5):
            if 6 - i <= 4 and 6 - j <= 4:
                expect[i, j] = x[0, 6 - i, 6 - j]
    np.testing.assert_array_equal(out[0], expect)
    # Shift one column: output (i, j) reads input (i, j + 2).
    shift = np.array([[1.0, 0, 0], [0, 1, 2], [0, 0, 1]])
    row = x[0, 0]
    got = {
        mode: apply_transform(x, shift, 0, fill_mode=mode, cval=9)[0, 0].tolist()
        for mode in kimage._FILL_MODES
    }
    assert got["constant"] == [2, 3, 4, 9, 9]
    assert got["nearest"] == [2, 3, 4, 4, 4]
    assert got["reflect"] == [2, 3, 4, 4, 3]  # d c b a | a b c d
    assert got["wrap"] == [2, 3, 4, 1, 2]  # scipy's wrap: period n - 1
    assert row.tolist() == [0, 1, 2, 3, 4]


def test_width_shift_zoom_match_their_matrices():
    x = _img(c=1, h=6, w=6, seed=3)
    gen = ImageDataGenerator(width_shift_range=0.5, fill_mode="constant", cval=0, dim_ordering="th")
    np.random.seed(5)
    ty = np.random.uniform(-0.5, 0.5) * 6
    np.random.seed(5)
    out = gen.random_transform(x.copy())
    for j in range(6):
        src = int(np.floor(j + ty + 0.5))
        if 0 <= j + ty <= 5:
            np.testing.assert_array_equal(out[0, :, j], x[0, :, src])
        else:
            assert np.all(out[0, :, j] == 0)
    gen = ImageDataGenerator(zoom_range=(2, 2), fill_mode="constant", cval=-1, dim_ordering="th")
    out = gen.random_transform(x.copy())
    # zoom 2 about centre c = 3.5: output p reads input 2 * (p - 3.5) + 3.5 = 2p - 3.5
    for i in range(6):
        for j in range(6):
            r, c = 2 * i - 3.5, 2 * j - 3.5
            if 0 <= r <= 5 and 0 <= c <= 5:
                assert out[0, i, j] == x[0, int(np.floor(r + 0.5)), int(np.floor(c + 0.5))]
            else:
                assert out[0, i, j] == -1


def test_rotation_shear_channel_shift():
    x = _img(seed=4)
    for kw in ({"rotation_range": 40}, {"shear_range": 0.5}, {"height_shift_range": 0.3}):
        gen = ImageDataGenerator(dim_ordering="th", **kw)
        np.random.seed(9)
        a = gen.random_transform(x.copy())
        np.random.seed(9)
        b = gen.random_transform(x.copy())
        assert a.shape == x.shape and np.array_equal(a, b) and not np.array_equal(a, x)
        # nearest-neighbour resampling only moves existing pixel values
        assert set(np.unique(a)) <= set(np.unique(x))
    gen = ImageDataGenerator(channel_shift_range=50, dim_ordering="th")
    out = gen.random_transform(x.copy())
    for ch in range(3):
        d = out[ch] - x[ch]
        inside = (out[ch] > x.min()) & (out[ch] < x.max())
        assert np.ptp(d[inside]) < 1e-3  # one offset per channel, clipped to the value range
        assert np.abs(d).max() <= 50


def test_flow_batches_determinism_and_labels():
    X = np.stack([_img(seed=s) for s in range(10)])
    y = np.arange(10)
    gen = ImageDataGenerator(horizontal_flip=True, rotation_range=10, dim_ordering="th")
    it1 = gen.flow(X, y, batch_size=4, shuffle=True, seed=7)
    it2 = gen.flow(X, y, batch_size=4, shuffle=True, seed=7)
    sizes, labels = [], []
    for _ in range(3):
        (a, ya), (b, yb) = next(it1), next(it2)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ya, yb)
        sizes.append(len(a))
        labels.extend(ya.tolist())
        assert a.dtype == np.float32
    assert sizes == [4, 4, 2] and sorted(labels) == list(range(10))
    assert labels != list(range(10))
    # without augmentation, each image arrives with its own label
    plain = ImageDataGenerator(dim_ordering="th").flow(X, y, batch_size=3, seed=1)
    bx, by = next(plain)
    for img, lab in zip(bx, by):
        np.testing.assert_array_equal(img, X[lab])
    assert ImageDataGenerator().flow(X, batch_size=2).next().shape == (2, 3, 5, 6)


def test_flow_errors():
    with pytest.raises(ValueError, match="same length"):
        ImageDataGenerator().flow(np.zeros((3, 3, 4, 4)), np.zeros(2))
    with pytest.raises(ValueError, match="rank 4"):
        ImageDataGenerator().flow(np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match="rank 4"):
        ImageDataGenerator().fit(np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match="channels"):
        ImageDataGenerator(dim_ordering="th").fit(np.zeros((3, 5, 4, 4)))
    with pytest.raises(ValueError, match="dim_ordering"):
        ImageDataGenerator(dim_ordering="xy")
    with pytest.raises(ValueError, match="zoom_range"):
        ImageDataGenerator(zoom_range=(1, 2, 3))


def test_iterator_is_thread_safe():
    X = np.zeros((100, 1, 2, 2), "float32")
    y = np.arange(100)
    it = ImageDataGenerator(dim_ordering="th").flow(X, y, batch_size=5, shuffle=True, seed=3)
    got = []
    lock = threading.Lock()

    def work():
        for _ in range(5):
            _, yb = next(it)
            with lock:
                got.append(yb.tolist())

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = sorted(v for b in got for v in b)
    assert flat == list(range(100))  # 20 batches = one epoch, each sample exactly once


@pytest.fixture
def image_dir(tmp_path):
    rs = np.random.RandomState(0)
    root = tmp_path / "imgs"
    arrays = {}
    for cls in ("cats", "dogs"):
        (root / cls).mkdir(parents=True)
        for k in range(3):
            a = rs.randint(0, 256, size=(6, 8, 3)).astype(np.uint8)
            Image.fromarray(a, "RGB").save(root / cls / ("%s%d.png" % (cls, k)))
            arrays["%s/%s%d.png" % (cls, cls, k)] = a
    (root / "dogs" / "notes.txt").write_text("not an image")
    (root / "dogs" / "more").mkdir()
    a = rs.randint(0, 256, size=(6, 8, 3)).astype(np.uint8)
    Image.fromarray(a, "RGB").save(root / "dogs" / "more" / "x.png")
    arrays["dogs/more/x.png"] = a
    return root, arrays


def test_flow_from_directory(image_dir, capsys):
    root, arrays = image_dir
    gen = ImageDataGenerator(dim_ordering="th")
    it = gen.flow_from_directory(str(root), target_size=(6, 8), batch_size=7, shuffle=False)
    assert "Found 7 images belonging to 2 classes." in capsys.readouterr().out
    assert it.class_indices == {"cats": 0, "dogs": 1}
    assert it.classes.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert it.nb_sample == 7
    bx, by = next(it)
    assert bx.shape == (7, 3, 6, 8) and by.shape == (7, 2)
    for k, fname in enumerate(it.filenames):
        np.testing.assert_array_equal(bx[k], arrays[fname.replace(os.sep, "/")].transpose(2, 0, 1))
        assert by[k].tolist() == ([1, 0] if fname.startswith("cats") else [0, 1])
    it = gen.flow_from_directory(
        str(root), target_size=(3, 4), class_mode="binary", batch_size=7, shuffle=False
    )
    bx, by = next(it)
    assert bx.shape == (7, 3, 3, 4) and by.tolist() == [0, 0, 0, 1, 1, 1, 1]
    it = ImageDataGenerator(dim_ordering="tf").flow_from_directory(
        str(root),
        target_size=(6, 8),
        color_mode="grayscale",
        class_mode="sparse",
        classes=["dogs"],
        batch_size=2,
    )
    bx, by = next(it)
    assert bx.shape == (2, 6, 8, 1) and by.tolist() == [0, 0] and it.nb_class == 1
    only_x = gen.flow_from_directory(str(root), target_size=(6, 8), class_mode=None, batch_size=3).next()
    assert only_x.shape == (3, 3, 6, 8)
    with pytest.raises(ValueError, match="class_mode"):
        gen.flow_from_directory(str(root), class_mode="onehot")
    with pytest.raises(ValueError, match="color mode"):
        gen.flow_from_directory(str(root), color_mode="cmyk")


def test_flow_from_directory_seeded_shuffle_and_save(image_dir, tmp_path):
    root, _ = image_dir
    gen = ImageDataGenerator(horizontal_flip=True, dim_ordering="th")
    a = gen.flow_from_directory(str(root), target_size=(6, 8), batch_size=4, seed=11)
    b = gen.flow_from_directory(str(root), target_size=(6, 8), batch_size=4, seed=11)
    for _ in range(2):
        (xa, ya), (xb, yb) = next(a), next(b)
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    out = tmp_path / "aug"
    out.mkdir()
    X = np.stack([_img(seed=s) for s in range(3)])
    next(
        ImageDataGenerator(dim_ordering="th").flow(
            X, batch_size=3, save_to_dir=str(out), save_prefix="aug", save_format="png"
        )
    )
    names = sorted(os.listdir(out))
    assert len(names) == 3 and all(n.startswith("aug_") and n.endswith(".png") for n in names)
    assert Image.open(out / names[0]).size == (6, 5)
