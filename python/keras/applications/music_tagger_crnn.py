"""MusicTaggerCRNN (Choi et al., 2016) with Keras 1.2.2's layer names: four
convolution + BatchNormalization + ELU + pooling blocks over a (1, 96, 1366)
mel-spectrogram, then two GRUs; 50 sigmoid tags."""

from .. import backend as K
from ..engine.training import Model
from ..layers import (
    ELU,
    GRU,
    BatchNormalization,
    Convolution2D,
    Dense,
    MaxPooling2D,
    Permute,
    Reshape,
    ZeroPadding2D,
)
from .imagenet_utils import WEIGHTS_BASE, _check_weights_argument, _image_input, _model_inputs

_BLOCKS = ((64, (2, 2)), (128, (3, 3)), (128, (4, 4)), (128, (4, 4)))


def MusicTaggerCRNN(weights="msd", input_tensor=None, include_top=True, classes=50):
    """Instantiates the MusicTaggerCRNN architecture.

    # Arguments
        weights: `None` (random initialisation) or 'msd' (Keras 1's weights trained on
            the Million Song Dataset, read from the Keras cache).
        input_tensor: optional Keras tensor (output of `Input()`) to use as input.
        include_top: whether to include the output layer; without it the model outputs
            32-dim features.
        classes: number of tags, only with `include_top` and no `weights`.

    # Returns
        A Keras model instance named 'music_tagger_crnn'.
    """
    _check_weights_argument(weights, include_top, classes, allowed="msd")
    th = K.image_dim_ordering() == "th"
    input_shape = (1, 96, 1366) if th else (96, 1366, 1)
    melgram_input = _image_input(input_tensor, input_shape)
    channel_axis, time_axis = (1, 3) if th else (3, 2)

    x = ZeroPadding2D(padding=(0, 37))(melgram_input)
    x = BatchNormalization(axis=time_axis, name="bn_0_freq")(x)
    for i, (width, pool) in enumerate(_BLOCKS, start=1):
        x = Convolution2D(width, 3, 3, border_mode="same", name="conv%d" % i)(x)
        x = BatchNormalization(axis=channel_axis, mode=0, name="bn%d" % i)(x)
        x = ELU()(x)
        x = MaxPooling2D(pool_size=pool, strides=pool, name="pool%d" % i)(x)
    if th:
        x = Permute((3, 1, 2))(x)
    x = Reshape((15, 128))(x)
    x = GRU(32, return_sequences=True, name="gru1")(x)
    x = GRU(32, return_sequences=False, name="gru2")(x)
    if include_top:
        x = Dense(classes, activation="sigmoid", name="output")(x)
    model = Model(_model_inputs(input_tensor, melgram_input), x, name="music_tagger_crnn")
    if weights == "msd":
        from ..utils.data_utils import get_file

        fname = "music_tagger_crnn_weights_%s.h5" % ("theano" if th else "tensorflow")
        path = get_file(fname, WEIGHTS_BASE + "v0.3/" + fname, cache_subdir="models")
        model.load_weights(path, by_name=True)
    return model
