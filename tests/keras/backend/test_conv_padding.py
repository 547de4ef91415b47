"""K.conv_padding, the one padding rule of the convolutions, the poolings and the ONNX
exporter, against a brute-force search (tests/conv_reference.py's ``pads``) of Keras 1 /
TensorFlow's border modes."""

import itertools

import pytest

from conv_reference import pads
from keras import backend as K


@pytest.mark.parametrize("mode", ["valid", "same", "full"])
def test_matches_brute_force(mode):
    for length, k, stride, dilation in itertools.product(range(1, 12), range(1, 6), range(1, 4), range(1, 3)):
        if mode == "valid" and dilation * (k - 1) + 1 > length:
            continue
        got = K.conv_padding(length, k, stride, mode, dilation)
        assert tuple(got) == pads(length, k, stride, mode, dilation), (length, k, stride, dilation)


def test_unknown_length():
    # stride 1 'same' pads by the kernel alone; a larger stride needs the length
    assert tuple(K.conv_padding(None, 4, 1, "same")) == (1, 2)
    with pytest.raises(
        ValueError, match="pool2d: border_mode='same' with stride 2 needs a known spatial size"
    ):
        K.conv_padding(None, 3, 2, "same", what="pool2d")


def test_bad_border_mode():
    with pytest.raises(ValueError, match="Invalid border mode: causal"):
        K.conv_padding(5, 3, 1, "causal")
