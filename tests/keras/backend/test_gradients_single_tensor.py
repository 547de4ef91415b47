"""`K.gradients(loss, x)` with a lone tensor returns a lone gradient (Theano's `grad`, on
which Keras 1 scripts rely), and a symbolic tensor refuses iteration instead of
indexing itself forever."""

import numpy as np
import pytest

from keras import backend as K
from keras.applications import imagenet_utils, inception_v3, resnet50, vgg16, vgg19, xception


def test_gradient_of_a_single_tensor_is_a_single_tensor():
    x = K.placeholder(shape=(None, 3))
    g = K.gradients(K.sum(x * x), x)
    assert not isinstance(g, list)
    f = K.function([x], [g])
    v = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_allclose(f([v])[0], 2 * v)
    assert isinstance(K.gradients(K.sum(x), [x]), list)


def test_a_tensor_is_not_iterable():
    with pytest.raises(TypeError, match="not iterable"):
        list(K.placeholder(shape=(None, 3)))


def test_applications_reexport_keras1_helpers():
    for module in (vgg16, vgg19, resnet50):
        assert module.preprocess_input is imagenet_utils.preprocess_input
        assert module.decode_predictions is imagenet_utils.decode_predictions
    for module in (inception_v3, xception):
        assert module.decode_predictions is imagenet_utils.decode_predictions
