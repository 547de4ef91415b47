"""ImageNet helpers of Keras 1.2.2: input preprocessing, decoding predictions, the
input-shape rule shared by the architectures and the weight-file loader."""

import json

from .. import backend as K

CLASS_INDEX = None
CLASS_INDEX_PATH = "https://s3.amazonaws.com/deep-learning-models/image-models/imagenet_class_index.json"
WEIGHTS_BASE = "https://github.com/fchollet/deep-learning-models/releases/download/"

# The per-channel means Keras 1 subtracted (BGR order, caffe-style).
_MEANS = (103.939, 116.779, 123.68)


def preprocess_input(x, dim_ordering="default"):
    """VGG/ResNet preprocessing of a batch of RGB images in [0, 255], in place where
    possible: subtract the ImageNet channel means, then reorder RGB -> BGR.

    As in Keras 1.2.2 the means are subtracted *before* the channels are reversed (so
    103.939 comes off the red channel); the published weights were trained that way.

    # Arguments
        x: float array, (samples, 3, rows, cols) for 'th' or (samples, rows, cols, 3)
            for 'tf'.
        dim_ordering: 'th', 'tf' or 'default' (`K.image_dim_ordering()`).
    """
    if dim_ordering == "default":
        dim_ordering = K.image_dim_ordering()
    if dim_ordering not in {"tf", "th"}:
        raise ValueError("preprocess_input: dim_ordering must be 'th' or 'tf', got %r" % (dim_ordering,))
    channel_axis = 1 if dim_ordering == "th" else x.ndim - 1
    if x.shape[channel_axis] != 3:
        raise ValueError(
            "preprocess_input expects 3 channels on axis %d for dim_ordering %r; got shape %s"
            % (channel_axis, dim_ordering, x.shape)
        )
    index = [slice(None)] * x.ndim
    for c, mean in enumerate(_MEANS):
        index[channel_axis] = c
        x[tuple(index)] -= mean
    index[channel_axis] = slice(None, None, -1)
    return x[tuple(index)]


def decode_predictions(preds, top=5):
    """The `top` (class id, class name, probability) tuples of each row of a
    (samples, 1000) prediction array, with the class index file from the Keras cache
    (`imagenet_class_index.json`, downloaded when missing and the network is there)."""
    global CLASS_INDEX
    if len(preds.shape) != 2 or preds.shape[1] != 1000:
        raise ValueError(
            "`decode_predictions` expects a batch of predictions (i.e. a 2D array of shape (samples, 1000)). "
            "Found array with shape: " + str(preds.shape)
        )
    if CLASS_INDEX is None:
        from ..utils.data_utils import get_file

        fpath = get_file("imagenet_class_index.json", CLASS_INDEX_PATH, cache_subdir="models")
        with open(fpath) as f:
            CLASS_INDEX = json.load(f)
    results = []
    for pred in preds:
        top_indices = pred.argsort()[-top:][::-1]
        results.append([tuple(CLASS_INDEX[str(i)]) + (pred[i],) for i in top_indices])
    return results


def _obtain_input_shape(input_shape, default_size, min_size, dim_ordering, include_top):
    """The model's input shape: the default one with the classifier on top (anything
    else is refused), otherwise a user shape with 3 channels and each spatial side at
    least `min_size` (None sides allowed)."""
    if dim_ordering == "th":
        default_shape = (3, default_size, default_size)
    else:
        default_shape = (default_size, default_size, 3)
    if include_top:
        if input_shape is not None and tuple(input_shape) != default_shape:
            raise ValueError(
                "When setting`include_top=True`, `input_shape` should be " + str(default_shape) + "."
            )
        return default_shape
    if input_shape is None:
        return (3, None, None) if dim_ordering == "th" else (None, None, 3)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(
            "`input_shape` must be a tuple of three integers; got `input_shape=%s`" % (input_shape,)
        )
    channels, sides = (
        (input_shape[0], input_shape[1:]) if dim_ordering == "th" else (input_shape[2], input_shape[:2])
    )
    if channels != 3:
        raise ValueError("The input must have 3 channels; got `input_shape=" + str(input_shape) + "`")
    if any(s is not None and s < min_size for s in sides):
        raise ValueError(
            "Input size must be at least "
            + str(min_size)
            + "x"
            + str(min_size)
            + ", got `input_shape="
            + str(input_shape)
            + "`"
        )
    return input_shape


def _check_weights_argument(weights, include_top, classes, allowed="imagenet"):
    if weights not in {allowed, None}:
        raise ValueError(
            "The `weights` argument should be either `None` (random initialization) or `%s` (pre-training)."
            % allowed
        )
    if weights == allowed and include_top and classes != (1000 if allowed == "imagenet" else 50):
        raise ValueError(
            "If using `weights` as %s with `include_top` as true, `classes` should be %d"
            % (allowed, 1000 if allowed == "imagenet" else 50)
        )


def _image_input(input_tensor, input_shape):
    from ..engine.topology import Input

    if input_tensor is None:
        return Input(shape=input_shape)
    if not K.is_keras_tensor(input_tensor):
        return Input(tensor=input_tensor, shape=input_shape)
    return input_tensor


def _model_inputs(input_tensor, img_input):
    """The model's inputs: those `input_tensor` depends on, so a model built on
    another model's output keeps its predecessors."""
    from ..engine.topology import get_source_inputs

    return get_source_inputs(input_tensor) if input_tensor is not None else img_input


def _load_weights(model, name, release, include_top, orderings=("th", "tf"), by_name=False):
    """Loads Keras 1's published weight file for `model` from the Keras cache
    (`~/.keras/models`), downloading it when missing and the network is there.

    Files come in 'th' (true-convolution kernels, channels first) and 'tf'
    (cross-correlation kernels, channels last) flavours; ferrokeras computes a true
    convolution for 'th' layers and a cross-correlation for 'tf' ones, so each file
    loads into the ordering it was made for without kernel conversion."""
    from ..utils.data_utils import get_file

    ordering = K.image_dim_ordering()
    if ordering not in orderings:
        raise ValueError("%s weights exist only for dim_ordering %s" % (name, " / ".join(orderings)))
    fname = "%s_weights_%s_dim_ordering_%s_kernels%s.h5" % (
        name,
        ordering,
        ordering,
        "" if include_top else "_notop",
    )
    path = get_file(fname, WEIGHTS_BASE + release + "/" + fname, cache_subdir="models")
    model.load_weights(path, by_name=by_name)
    return model


_ARGUMENTS_DOC = """

    # Arguments
        include_top: whether to include {top} at the top.
        weights: `None` (random initialisation) or 'imagenet' (Keras 1's published
            weights, read from the Keras cache).
        input_tensor: optional Keras tensor (output of `Input()`) to use as input.
        input_shape: optional shape tuple, only when `include_top` is False; 3 channels,
            each side at least {min_size}.
        classes: number of classes, only with `include_top` and no `weights`.

    # Returns
        A Keras model instance named '{name}'.
    """


def _documented(name, min_size, top="the fully-connected layer"):
    """Appends the ImageNet architectures' shared `# Arguments` and `# Returns` to the
    decorated builder's one-paragraph docstring."""

    def document(builder):
        if builder.__doc__ is None:  # python -OO strips docstrings
            return builder
        builder.__doc__ = builder.__doc__.rstrip() + _ARGUMENTS_DOC.format(
            top=top, min_size=min_size, name=name
        )
        return builder

    return document


def _architecture_input(
    weights, include_top, classes, input_tensor, input_shape, default_size, min_size, dim_ordering=None
):
    """The image input of an ImageNet architecture: the arguments checked
    (`_check_weights_argument`, `_obtain_input_shape` in `dim_ordering`, default
    ``K.image_dim_ordering()``) and an `Input` made, or `input_tensor` used."""
    _check_weights_argument(weights, include_top, classes)
    dim_ordering = dim_ordering or K.image_dim_ordering()
    input_shape = _obtain_input_shape(input_shape, default_size, min_size, dim_ordering, include_top)
    return _image_input(input_tensor, input_shape)


def _architecture_model(name, input_tensor, img_input, x, weights, include_top, release, **load):
    """The Model from the image input to `x`, named `name`, with Keras 1's ImageNet
    weights (`_load_weights(..., release, **load)`) when `weights` is 'imagenet'."""
    from ..engine.training import Model

    model = Model(_model_inputs(input_tensor, img_input), x, name=name)
    if weights == "imagenet":
        _load_weights(model, name, release, include_top, **load)
    return model
