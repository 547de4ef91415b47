"""Image preprocessing (``keras.preprocessing.image``): real-time augmentation with
`ImageDataGenerator`, its iterators, and array/PIL helpers.

Geometric transforms are nearest-neighbour affine resampling (what Keras 1 asked of
``scipy.ndimage.affine_transform`` with ``order=0``), done here in numpy so scipy is not
needed; fill modes 'constant', 'nearest', 'reflect' and 'wrap' follow scipy's
definitions. Pillow is needed only to read, write and resize image files.
"""

import os
import re
import threading
import warnings

import numpy as np

from .. import backend as K

_FILL_MODES = ("constant", "nearest", "reflect", "wrap")


def _pil_image():
    try:
        from PIL import Image
    except ImportError as e:
        raise ImportError(
            "keras.preprocessing.image needs Pillow to read, write or resize images: pip install Pillow"
        ) from e
    return Image


def random_rotation(x, rg, row_index=1, col_index=2, channel_index=0, fill_mode="nearest", cval=0.0):
    """Rotates one image by a random angle in [-rg, rg] degrees about its centre."""
    theta = np.pi / 180 * np.random.uniform(-rg, rg)
    rotation_matrix = np.array(
        [[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]]
    )
    h, w = x.shape[row_index], x.shape[col_index]
    transform_matrix = transform_matrix_offset_center(rotation_matrix, h, w)
    return apply_transform(x, transform_matrix, channel_index, fill_mode, cval)


def random_shift(x, wrg, hrg, row_index=1, col_index=2, channel_index=0, fill_mode="nearest", cval=0.0):
    """Shifts one image by random fractions (of its width/height) in [-wrg, wrg] and
    [-hrg, hrg]."""
    h, w = x.shape[row_index], x.shape[col_index]
    tx = np.random.uniform(-hrg, hrg) * h
    ty = np.random.uniform(-wrg, wrg) * w
    translation_matrix = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
    return apply_transform(x, translation_matrix, channel_index, fill_mode, cval)


def random_shear(x, intensity, row_index=1, col_index=2, channel_index=0, fill_mode="nearest", cval=0.0):
    """Shears one image by a random angle in [-intensity, intensity] radians."""
    shear = np.random.uniform(-intensity, intensity)
    shear_matrix = np.array([[1, -np.sin(shear), 0], [0, np.cos(shear), 0], [0, 0, 1]])
    h, w = x.shape[row_index], x.shape[col_index]
    transform_matrix = transform_matrix_offset_center(shear_matrix, h, w)
    return apply_transform(x, transform_matrix, channel_index, fill_mode, cval)


def random_zoom(x, zoom_range, row_index=1, col_index=2, channel_index=0, fill_mode="nearest", cval=0.0):
    """Zooms one image by random factors drawn from `zoom_range` (a pair) per axis."""
    if len(zoom_range) != 2:
        raise ValueError("zoom_range should be a tuple or list of two floats. Received arg: ", zoom_range)
    if zoom_range[0] == 1 and zoom_range[1] == 1:
        zx, zy = 1, 1
    else:
        zx, zy = np.random.uniform(zoom_range[0], zoom_range[1], 2)
    zoom_matrix = np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])
    h, w = x.shape[row_index], x.shape[col_index]
    transform_matrix = transform_matrix_offset_center(zoom_matrix, h, w)
    return apply_transform(x, transform_matrix, channel_index, fill_mode, cval)


def random_barrel_transform(x, intensity):
    raise NotImplementedError("random_barrel_transform (an unimplemented TODO in Keras 1 as well)")


def random_channel_shift(x, intensity, channel_index=0):
    """Adds one random offset in [-intensity, intensity] per channel, clipped to the
    image's original value range."""
    x = np.rollaxis(x, channel_index, 0)
    min_x, max_x = np.min(x), np.max(x)
    channel_images = [
        np.clip(x_channel + np.random.uniform(-intensity, intensity), min_x, max_x) for x_channel in x
    ]
    x = np.stack(channel_images, axis=0)
    return np.rollaxis(x, 0, channel_index + 1)


def transform_matrix_offset_center(matrix, x, y):
    """Conjugates a homogeneous 3x3 transform so that it acts about the image centre."""
    o_x = float(x) / 2 + 0.5
    o_y = float(y) / 2 + 0.5
    offset_matrix = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
    reset_matrix = np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    return np.dot(np.dot(offset_matrix, matrix), reset_matrix)


def _map_coordinates(c, n, mode):
    """Maps input coordinates (float array) of an axis of length `n` into range the way
    scipy.ndimage does before nearest-neighbour rounding; returns (index, valid)."""
    valid = None
    if mode == "constant":
        valid = (c >= 0) & (c <= n - 1)
        c = np.clip(c, 0, n - 1)
    elif mode == "nearest":
        c = np.clip(c, 0, n - 1)
    elif mode == "reflect":
        # half-sample symmetric: d c b a | a b c d | d c b a
        period = 2 * n
        c = np.mod(c + 0.5, period) - 0.5
        c = np.where(c > n - 0.5, period - 1 - c, c)
    elif mode == "wrap":
        if n <= 1:
            c = np.zeros_like(c)
        else:
            # scipy's legacy 'wrap': period n - 1 (the first and last samples coincide)
            period = n - 1
            c = np.where((c < 0) | (c > n - 1), np.mod(c, period), c)
    else:
        raise ValueError("fill_mode should be one of %s; got %r" % (_FILL_MODES, mode))
    idx = np.clip(np.floor(c + 0.5).astype(np.intp), 0, n - 1)
    return idx, valid


def apply_transform(x, transform_matrix, channel_index=0, fill_mode="nearest", cval=0.0):
    """Applies an affine transform (3x3 homogeneous, mapping output pixel coordinates
    (row, col) to input coordinates) to each channel of one image, nearest neighbour."""
    x = np.rollaxis(np.asarray(x), channel_index, 0)
    h, w = x.shape[1], x.shape[2]
    final_affine_matrix = transform_matrix[:2, :2]
    final_offset = transform_matrix[:2, 2]
    rows, cols = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    src_r = final_affine_matrix[0, 0] * rows + final_affine_matrix[0, 1] * cols + final_offset[0]
    src_c = final_affine_matrix[1, 0] * rows + final_affine_matrix[1, 1] * cols + final_offset[1]
    ri, rvalid = _map_coordinates(src_r, h, fill_mode)
    ci, cvalid = _map_coordinates(src_c, w, fill_mode)
    out = x[:, ri, ci]
    if fill_mode == "constant":
        out = np.where((rvalid & cvalid)[None], out, np.asarray(cval, dtype=out.dtype))
    return np.rollaxis(out, 0, channel_index + 1)


def flip_axis(x, axis):
    """Reverses `x` along `axis`."""
    x = np.asarray(x).swapaxes(axis, 0)
    x = x[::-1, ...]
    return x.swapaxes(0, axis)


def array_to_img(x, dim_ordering="default", scale=True):
    """Converts a 3D Numpy array to a PIL Image instance.

    # Arguments
        x: Input Numpy array.
        dim_ordering: Image data format ('th', 'tf' or 'default').
        scale: Whether to rescale image values
            to be within [0, 255].

    # Returns
        A PIL Image instance.

    # Raises
        ImportError: if PIL is not available.
        ValueError: if invalid `x` or `dim_ordering` is passed.
    """
    Image = _pil_image()
    x = np.asarray(x, dtype=K.floatx())
    if x.ndim != 3:
        raise ValueError(
            "Expected image array to have rank 3 (single image). Got array with shape: %s" % (x.shape,)
        )
    if dim_ordering == "default":
        dim_ordering = K.image_dim_ordering()
    if dim_ordering not in {"th", "tf"}:
        raise ValueError("Invalid dim_ordering: %s" % (dim_ordering,))
    # PIL takes (height, width, channel).
    if dim_ordering == "th":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x + max(-np.min(x), 0)
        x_max = np.max(x)
        if x_max != 0:
            x /= x_max
        x *= 255
    if x.shape[2] == 3:
        return Image.fromarray(x.astype("uint8"), "RGB")
    if x.shape[2] == 1:
        return Image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError("Unsupported channel number: %s" % (x.shape[2],))


def img_to_array(img, dim_ordering="default"):
    """Converts a PIL Image instance to a Numpy array (float32 by default).

    # Arguments
        img: PIL Image instance.
        dim_ordering: Image data format ('th', 'tf' or 'default').

    # Returns
        A 3D Numpy array.

    # Raises
        ValueError: if invalid `img` or `dim_ordering` is passed.
    """
    if dim_ordering == "default":
        dim_ordering = K.image_dim_ordering()
    if dim_ordering not in {"th", "tf"}:
        raise ValueError("Unknown dim_ordering: %s" % (dim_ordering,))
    x = np.asarray(img, dtype=K.floatx())
    if len(x.shape) == 3:
        if dim_ordering == "th":
            x = x.transpose(2, 0, 1)
    elif len(x.shape) == 2:
        if dim_ordering == "th":
            x = x.reshape((1, x.shape[0], x.shape[1]))
        else:
            x = x.reshape((x.shape[0], x.shape[1], 1))
    else:
        raise ValueError("Unsupported image shape: %s" % (x.shape,))
    return x


def load_img(path, grayscale=False, target_size=None):
    """Loads an image into PIL format.

    # Arguments
        path: Path to image file
        grayscale: Boolean, whether to load the image as grayscale.
        target_size: Either `None` (default to original size)
            or tuple of ints `(img_height, img_width)`.

    # Returns
        A PIL Image instance.

    # Raises
        ImportError: if PIL is not available.
    """
    Image = _pil_image()
    img = Image.open(path)
    if grayscale:
        if img.mode != "L":
            img = img.convert("L")
    elif img.mode != "RGB":
        img = img.convert("RGB")
    if target_size:
        img = img.resize((target_size[1], target_size[0]))
    return img


def list_pictures(directory, ext="jpg|jpeg|bmp|png"):
    """Paths of the files under `directory` (recursively) whose name matches `ext`."""
    return [
        os.path.join(root, f)
        for root, _, files in os.walk(directory)
        for f in files
        if re.match(r"([\w]+\.(?:" + ext + "))", f)
    ]


def _warn_not_fit(option):
    """Keras 1's warning (its missing space included) for a statistic `option` needs
    before `fit` has computed it."""
    warnings.warn(
        "This ImageDataGenerator specifies `%s`, but it hasn'tbeen fit on any training data. Fit it "
        "first by calling `.fit(numpy_data)`." % option,
        stacklevel=3,
    )


class ImageDataGenerator:
    """Generate minibatches of image data with real-time data augmentation.

    # Arguments
        featurewise_center: set input mean to 0 over the dataset.
        samplewise_center: set each sample mean to 0.
        featurewise_std_normalization: divide inputs by std of the dataset.
        samplewise_std_normalization: divide each input by its std.
        zca_whitening: apply ZCA whitening.
        rotation_range: degrees (0 to 180).
        width_shift_range: fraction of total width.
        height_shift_range: fraction of total height.
        shear_range: shear intensity (shear angle in radians).
        zoom_range: amount of zoom. if scalar z, zoom will be randomly picked
            in the range [1-z, 1+z]. A sequence of two can be passed instead
            to select this range.
        channel_shift_range: shift range for each channels.
        fill_mode: points outside the boundaries are filled according to the
            given mode ('constant', 'nearest', 'reflect' or 'wrap'). Default
            is 'nearest'.
        cval: value used for points outside the boundaries when fill_mode is
            'constant'. Default is 0.
        horizontal_flip: whether to randomly flip images horizontally.
        vertical_flip: whether to randomly flip images vertically.
        rescale: rescaling factor. If None or 0, no rescaling is applied,
            otherwise we multiply the data by the value provided
            (before applying any other transformation).
        preprocessing_function: function that will be implied on each input.
            The function will run before any other modification on it.
            The function should take one argument:
            one image (Numpy tensor with rank 3),
            and should output a Numpy tensor with the same shape.
        dim_ordering: 'th' or 'tf'. In 'th' mode, the channels dimension
            (the depth) is at index 1, in 'tf' mode it is at index 3.
            It defaults to the `image_dim_ordering` value found in your
            Keras config file at `~/.keras/keras.json`.
            If you never set it, then it will be "th".
    """

    def __init__(
        self,
        featurewise_center=False,
        samplewise_center=False,
        featurewise_std_normalization=False,
        samplewise_std_normalization=False,
        zca_whitening=False,
        rotation_range=0.0,
        width_shift_range=0.0,
        height_shift_range=0.0,
        shear_range=0.0,
        zoom_range=0.0,
        channel_shift_range=0.0,
        fill_mode="nearest",
        cval=0.0,
        horizontal_flip=False,
        vertical_flip=False,
        rescale=None,
        preprocessing_function=None,
        dim_ordering="default",
    ):
        if dim_ordering == "default":
            dim_ordering = K.image_dim_ordering()
        self.featurewise_center = featurewise_center
        self.samplewise_center = samplewise_center
        self.featurewise_std_normalization = featurewise_std_normalization
        self.samplewise_std_normalization = samplewise_std_normalization
        self.zca_whitening = zca_whitening
        self.rotation_range = rotation_range
        self.width_shift_range = width_shift_range
        self.height_shift_range = height_shift_range
        self.shear_range = shear_range
        self.zoom_range = zoom_range
        self.channel_shift_range = channel_shift_range
        self.fill_mode = fill_mode
        self.cval = cval
        self.horizontal_flip = horizontal_flip
        self.vertical_flip = vertical_flip
        self.rescale = rescale
        self.preprocessing_function = preprocessing_function

        if dim_ordering not in {"tf", "th"}:
            raise ValueError(
                'dim_ordering should be "tf" (channel after row and '
                'column) or "th" (channel before row and column). '
                "Received arg: %s" % (dim_ordering,)
            )
        if fill_mode not in _FILL_MODES:
            raise ValueError("fill_mode should be one of %s. Received arg: %r" % (_FILL_MODES, fill_mode))
        self.dim_ordering = dim_ordering
        if dim_ordering == "th":
            self.channel_axis = 1
            self.row_axis = 2
            self.col_axis = 3
        else:
            self.channel_axis = 3
            self.row_axis = 1
            self.col_axis = 2

        self.mean = None
        self.std = None
        self.principal_components = None

        if np.isscalar(zoom_range):
            self.zoom_range = [1 - zoom_range, 1 + zoom_range]
        elif len(zoom_range) == 2:
            self.zoom_range = [zoom_range[0], zoom_range[1]]
        else:
            raise ValueError(
                "zoom_range should be a float or a tuple or list of two floats. Received arg: %s"
                % (zoom_range,)
            )

    def flow(
        self,
        X,
        y=None,
        batch_size=32,
        shuffle=True,
        seed=None,
        save_to_dir=None,
        save_prefix="",
        save_format="jpeg",
    ):
        """An iterator over (augmented, standardized) batches of `X` (and `y`)."""
        return NumpyArrayIterator(
            X,
            y,
            self,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            dim_ordering=self.dim_ordering,
            save_to_dir=save_to_dir,
            save_prefix=save_prefix,
            save_format=save_format,
        )

    def flow_from_directory(
        self,
        directory,
        target_size=(256, 256),
        color_mode="rgb",
        classes=None,
        class_mode="categorical",
        batch_size=32,
        shuffle=True,
        seed=None,
        save_to_dir=None,
        save_prefix="",
        save_format="jpeg",
        follow_links=False,
    ):
        """An iterator over batches of images read from `directory/<class>/...`."""
        return DirectoryIterator(
            directory,
            self,
            target_size=target_size,
            color_mode=color_mode,
            classes=classes,
            class_mode=class_mode,
            dim_ordering=self.dim_ordering,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            save_to_dir=save_to_dir,
            save_prefix=save_prefix,
            save_format=save_format,
            follow_links=follow_links,
        )

    def standardize(self, x):
        """Applies the normalization configuration to one image (in place when `x` is a
        float array, as in Keras 1) and returns it."""
        if self.preprocessing_function:
            x = self.preprocessing_function(x)
        if self.rescale:
            x *= self.rescale
        # x is a single image, so it doesn't have image number at index 0
        img_channel_axis = self.channel_axis - 1
        if self.samplewise_center:
            x -= np.mean(x, axis=img_channel_axis, keepdims=True)
        if self.samplewise_std_normalization:
            x /= np.std(x, axis=img_channel_axis, keepdims=True) + 1e-7

        if self.featurewise_center:
            if self.mean is not None:
                x -= self.mean
            else:
                _warn_not_fit("featurewise_center")
        if self.featurewise_std_normalization:
            if self.std is not None:
                x /= self.std + 1e-7
            else:
                _warn_not_fit("featurewise_std_normalization")
        if self.zca_whitening:
            if self.principal_components is not None:
                flatx = np.reshape(x, (x.size,))
                whitex = np.dot(flatx, self.principal_components)
                x = np.reshape(whitex, x.shape)
            else:
                _warn_not_fit("zca_whitening")
        return x

    def random_transform(self, x):
        """Randomly augments one image (rank 3) with the configured transforms."""
        # x is a single image, so it doesn't have image number at index 0
        img_row_index = self.row_axis - 1
        img_col_index = self.col_axis - 1
        img_channel_index = self.channel_axis - 1

        # One composed homography for rotation, shift, shear and zoom.
        if self.rotation_range:
            theta = np.pi / 180 * np.random.uniform(-self.rotation_range, self.rotation_range)
        else:
            theta = 0
        rotation_matrix = np.array(
            [[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]]
        )
        if self.height_shift_range:
            tx = np.random.uniform(-self.height_shift_range, self.height_shift_range) * x.shape[img_row_index]
        else:
            tx = 0
        if self.width_shift_range:
            ty = np.random.uniform(-self.width_shift_range, self.width_shift_range) * x.shape[img_col_index]
        else:
            ty = 0
        translation_matrix = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
        if self.shear_range:
            shear = np.random.uniform(-self.shear_range, self.shear_range)
        else:
            shear = 0
        shear_matrix = np.array([[1, -np.sin(shear), 0], [0, np.cos(shear), 0], [0, 0, 1]])
        if self.zoom_range[0] == 1 and self.zoom_range[1] == 1:
            zx, zy = 1, 1
        else:
            zx, zy = np.random.uniform(self.zoom_range[0], self.zoom_range[1], 2)
        zoom_matrix = np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])

        transform_matrix = np.dot(
            np.dot(np.dot(rotation_matrix, translation_matrix), shear_matrix), zoom_matrix
        )

        h, w = x.shape[img_row_index], x.shape[img_col_index]
        if not np.array_equal(transform_matrix, np.eye(3)):
            transform_matrix = transform_matrix_offset_center(transform_matrix, h, w)
            x = apply_transform(
                x, transform_matrix, img_channel_index, fill_mode=self.fill_mode, cval=self.cval
            )
        if self.channel_shift_range != 0:
            x = random_channel_shift(x, self.channel_shift_range, img_channel_index)

        if self.horizontal_flip:
            if np.random.random() < 0.5:
                x = flip_axis(x, img_col_index)
        if self.vertical_flip:
            if np.random.random() < 0.5:
                x = flip_axis(x, img_row_index)
        return x

    def fit(self, X, augment=False, rounds=1, seed=None):
        """Fits the data-dependent statistics (featurewise mean and std, ZCA components)
        on a sample of images.

        # Arguments
            X: Numpy array, the data to fit on. Should have rank 4.
            augment: Whether to fit on randomly augmented samples
            rounds: If `augment`,
                how many augmentation passes to do over the data
            seed: random seed.

        # Raises
            ValueError: in case of invalid input `X`.
        """
        X = np.asarray(X, dtype=K.floatx())
        if X.ndim != 4:
            raise ValueError("Input to `.fit()` should have rank 4. Got array with shape: " + str(X.shape))
        if X.shape[self.channel_axis] not in {1, 3, 4}:
            raise ValueError(
                "Expected input to be images (as Numpy array) "
                'following the dimension ordering convention "' + self.dim_ordering + '" '
                "(channels on axis " + str(self.channel_axis) + "), i.e. expected "
                "either 1, 3 or 4 channels on axis " + str(self.channel_axis) + ". "
                "However, it was passed an array with shape "
                + str(X.shape)
                + " ("
                + str(X.shape[self.channel_axis])
                + " channels)."
            )

        if seed is not None:
            np.random.seed(seed)

        X = np.copy(X)
        if augment:
            aX = np.zeros(tuple([rounds * X.shape[0]] + list(X.shape)[1:]), dtype=K.floatx())
            for r in range(rounds):
                for i in range(X.shape[0]):
                    aX[i + r * X.shape[0]] = self.random_transform(X[i])
            X = aX

        broadcast_shape = [1, 1, 1]
        broadcast_shape[self.channel_axis - 1] = X.shape[self.channel_axis]
        if self.featurewise_center:
            self.mean = np.mean(X, axis=(0, self.row_axis, self.col_axis))
            self.mean = np.reshape(self.mean, broadcast_shape)
            X -= self.mean

        if self.featurewise_std_normalization:
            self.std = np.std(X, axis=(0, self.row_axis, self.col_axis))
            self.std = np.reshape(self.std, broadcast_shape)
            X /= self.std + K.epsilon()

        if self.zca_whitening:
            flatX = np.reshape(X, (X.shape[0], X.shape[1] * X.shape[2] * X.shape[3])).astype(np.float64)
            sigma = np.dot(flatX.T, flatX) / flatX.shape[0]
            U, S, _ = np.linalg.svd(sigma)
            self.principal_components = np.dot(np.dot(U, np.diag(1.0 / np.sqrt(S + 10e-7))), U.T)


class Iterator:
    """Base of the batch iterators: yields index batches; `next()` is thread-safe (only
    the index advance is under the lock, so image work can run in parallel threads)."""

    def __init__(self, N, batch_size, shuffle, seed):
        self.N = N
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.batch_index = 0
        self.total_batches_seen = 0
        self.lock = threading.Lock()
        self.index_generator = self._flow_index(N, batch_size, shuffle, seed)

    def reset(self):
        self.batch_index = 0

    def _flow_index(self, N, batch_size=32, shuffle=False, seed=None):
        if N <= 0:
            raise ValueError("Cannot iterate over an empty set of samples (N=%d)" % N)
        self.reset()
        while 1:
            if seed is not None:
                np.random.seed(seed + self.total_batches_seen)
            if self.batch_index == 0:
                index_array = np.arange(N)
                if shuffle:
                    index_array = np.random.permutation(N)

            current_index = (self.batch_index * batch_size) % N
            if N >= current_index + batch_size:
                current_batch_size = batch_size
                self.batch_index += 1
            else:
                current_batch_size = N - current_index
                self.batch_index = 0
            self.total_batches_seen += 1
            yield (
                index_array[current_index : current_index + current_batch_size],
                current_index,
                current_batch_size,
            )

    def __iter__(self):
        return self

    def __next__(self, *args, **kwargs):
        return self.next(*args, **kwargs)


def _augmented_batch(iterator, load, index_array, current_index, image_shape):
    """The images ``load(j)`` for ``j`` in ``index_array``, each through the iterator's
    generator (``random_transform`` then ``standardize``), as one batch array; also
    written to ``save_to_dir`` when the iterator has one."""
    batch_x = np.zeros((len(index_array),) + tuple(image_shape), dtype=K.floatx())
    for i, j in enumerate(index_array):
        x = iterator.image_data_generator.random_transform(load(j))
        batch_x[i] = iterator.image_data_generator.standardize(x)
    if iterator.save_to_dir:
        for i in range(batch_x.shape[0]):
            img = array_to_img(batch_x[i], iterator.dim_ordering, scale=True)
            fname = "{prefix}_{index}_{hash}.{format}".format(
                prefix=iterator.save_prefix,
                index=current_index + i,
                hash=np.random.randint(int(1e4)),
                format=iterator.save_format,
            )
            img.save(os.path.join(iterator.save_to_dir, fname))
    return batch_x


class NumpyArrayIterator(Iterator):
    """Iterates over augmented batches of a rank-4 image array (and its labels)."""

    def __init__(
        self,
        X,
        y,
        image_data_generator,
        batch_size=32,
        shuffle=False,
        seed=None,
        dim_ordering="default",
        save_to_dir=None,
        save_prefix="",
        save_format="jpeg",
    ):
        if y is not None and len(X) != len(y):
            raise ValueError(
                "X (images tensor) and y (labels) should have the same length. Found: X.shape = %s, y.shape = %s"
                % (np.asarray(X).shape, np.asarray(y).shape)
            )
        if dim_ordering == "default":
            dim_ordering = K.image_dim_ordering()
        self.X = np.asarray(X, dtype=K.floatx())
        if self.X.ndim != 4:
            raise ValueError(
                "Input data in `NumpyArrayIterator` should have rank 4. You passed an array with shape %s"
                % (self.X.shape,)
            )
        channels_axis = 3 if dim_ordering == "tf" else 1
        if self.X.shape[channels_axis] not in {1, 3, 4}:
            raise ValueError(
                "NumpyArrayIterator is set to use the dimension ordering convention "
                '"' + dim_ordering + '" (channels on axis ' + str(channels_axis) + "), i.e. expected "
                "either 1, 3 or 4 channels on axis " + str(channels_axis) + ". "
                "However, it was passed an array with shape "
                + str(self.X.shape)
                + " ("
                + str(self.X.shape[channels_axis])
                + " channels)."
            )
        self.y = np.asarray(y) if y is not None else None
        self.image_data_generator = image_data_generator
        self.dim_ordering = dim_ordering
        self.save_to_dir = save_to_dir
        self.save_prefix = save_prefix
        self.save_format = save_format
        super().__init__(self.X.shape[0], batch_size, shuffle, seed)

    def next(self):
        """The next batch: `batch_x`, or `(batch_x, batch_y)` when labels were given."""
        with self.lock:
            index_array, current_index, _ = next(self.index_generator)
        batch_x = _augmented_batch(
            self, lambda j: self.X[j].copy(), index_array, current_index, self.X.shape[1:]
        )
        if self.y is None:
            return batch_x
        batch_y = self.y[index_array]
        return batch_x, batch_y


class DirectoryIterator(Iterator):
    """Iterates over augmented batches of the images in the class subfolders of
    `directory` (png, jpg, jpeg, bmp), with labels per `class_mode`."""

    def __init__(
        self,
        directory,
        image_data_generator,
        target_size=(256, 256),
        color_mode="rgb",
        dim_ordering="default",
        classes=None,
        class_mode="categorical",
        batch_size=32,
        shuffle=True,
        seed=None,
        save_to_dir=None,
        save_prefix="",
        save_format="jpeg",
        follow_links=False,
    ):
        if dim_ordering == "default":
            dim_ordering = K.image_dim_ordering()
        self.directory = directory
        self.image_data_generator = image_data_generator
        self.target_size = tuple(target_size)
        if color_mode not in {"rgb", "grayscale"}:
            raise ValueError('Invalid color mode: %s; expected "rgb" or "grayscale".' % (color_mode,))
        self.color_mode = color_mode
        self.dim_ordering = dim_ordering
        channels = (3,) if self.color_mode == "rgb" else (1,)
        if self.dim_ordering == "tf":
            self.image_shape = self.target_size + channels
        else:
            self.image_shape = channels + self.target_size
        self.classes = classes
        if class_mode not in {"categorical", "binary", "sparse", None}:
            raise ValueError(
                'Invalid class_mode: %s; expected one of "categorical", "binary", "sparse", or None.'
                % (class_mode,)
            )
        self.class_mode = class_mode
        self.save_to_dir = save_to_dir
        self.save_prefix = save_prefix
        self.save_format = save_format

        white_list_formats = ("png", "jpg", "jpeg", "bmp")

        if not classes:
            classes = [s for s in sorted(os.listdir(directory)) if os.path.isdir(os.path.join(directory, s))]
        self.nb_class = len(classes)
        self.class_indices = dict(zip(classes, range(len(classes))))

        self.filenames = []
        labels = []
        for subdir in classes:
            subpath = os.path.join(directory, subdir)
            for root, _, files in sorted(os.walk(subpath, followlinks=follow_links), key=lambda tpl: tpl[0]):
                for fname in sorted(files):
                    if fname.lower().endswith(tuple("." + e for e in white_list_formats)):
                        labels.append(self.class_indices[subdir])
                        self.filenames.append(os.path.relpath(os.path.join(root, fname), directory))
        self.nb_sample = len(self.filenames)
        self.classes = np.asarray(labels, dtype="int32")
        print("Found %d images belonging to %d classes." % (self.nb_sample, self.nb_class))
        super().__init__(self.nb_sample, batch_size, shuffle, seed)

    def next(self):
        """The next batch: `(batch_x, batch_y)`, or `batch_x` when `class_mode` is None."""
        with self.lock:
            index_array, current_index, _ = next(self.index_generator)
        grayscale = self.color_mode == "grayscale"

        def load(j):
            path = os.path.join(self.directory, self.filenames[j])
            img = load_img(path, grayscale=grayscale, target_size=self.target_size)
            return img_to_array(img, dim_ordering=self.dim_ordering)

        batch_x = _augmented_batch(self, load, index_array, current_index, self.image_shape)
        if self.class_mode == "sparse":
            batch_y = self.classes[index_array]
        elif self.class_mode == "binary":
            batch_y = self.classes[index_array].astype(K.floatx())
        elif self.class_mode == "categorical":
            batch_y = np.zeros((len(batch_x), self.nb_class), dtype=K.floatx())
            for i, label in enumerate(self.classes[index_array]):
                batch_y[i, label] = 1.0
        else:
            return batch_x
        return batch_x, batch_y
