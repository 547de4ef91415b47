"""keras.applications: Keras 1.2.2's architectures with its layer names, weight shapes
and parameter counts (so the published weight files load by position), predict on one
image, weights read from the Keras cache, and the input-shape rules."""

import os

import numpy as np
import pytest
from numpy.testing import assert_allclose

from keras import backend as K
from keras.applications import VGG16, InceptionV3, ResNet50, Xception
from keras.applications.imagenet_utils import decode_predictions, preprocess_input
from keras.applications.music_tagger_crnn import MusicTaggerCRNN

pytestmark = pytest.mark.usefixtures("fresh_session")


def _image(shape, seed=0):
    return np.random.RandomState(seed).uniform(0, 255, size=(1,) + shape).astype("float32")


def test_vgg16_parameter_count_names_and_predict():
    model = VGG16(weights=None)
    assert model.count_params() == 138357544
    assert model.name == "vgg16"
    names = [layer.name for layer in model.layers]
    assert names[1:4] == ["block1_conv1", "block1_conv2", "block1_pool"]
    assert names[-4:] == ["flatten", "fc1", "fc2", "predictions"]
    # 'th' kernels: (nb_filter, stack, rows, cols), as Keras 1's th-kernel files hold them
    assert model.get_layer("block1_conv1").get_weights()[0].shape == (64, 3, 3, 3)
    assert model.get_layer("fc1").get_weights()[0].shape == (25088, 4096)
    p = model.predict(preprocess_input(_image((3, 224, 224))))
    assert p.shape == (1, 1000)
    assert_allclose(p.sum(), 1.0, rtol=1e-5)


def test_resnet50_parameter_count_names_and_predict():
    model = ResNet50(weights=None)
    assert model.count_params() == 25636712
    names = {layer.name for layer in model.layers}
    for name in (
        "conv1",
        "bn_conv1",
        "res2a_branch2a",
        "bn2a_branch1",
        "res5c_branch2c",
        "avg_pool",
        "fc1000",
    ):
        assert name in names
    bn = model.get_layer("bn2a_branch2a")
    assert [w.shape for w in bn.get_weights()] == [(64,)] * 4  # gamma, beta, running_mean, running_std
    p = model.predict(preprocess_input(_image((3, 224, 224))))
    assert p.shape == (1, 1000)
    assert np.isfinite(p).all()


def test_resnet50_tf_ordering_builds_with_channels_last():
    K.set_image_dim_ordering("tf")
    try:
        model = ResNet50(weights=None, include_top=False, input_shape=(200, 200, 3))
        assert model.output_shape == (None, 1, 1, 2048)
        assert model.get_layer("conv1").get_weights()[0].shape == (7, 7, 3, 64)
    finally:
        K.set_image_dim_ordering("th")


def test_inception_v3_and_xception_build_without_top():
    inception = InceptionV3(weights=None, include_top=False, input_shape=(3, 139, 139))
    assert inception.get_layer("mixed10").output_shape[1] == 2048
    with pytest.warns(UserWarning, match="dimension ordering"):
        xception = Xception(weights=None, include_top=False, input_shape=(71, 71, 3))
    assert K.image_dim_ordering() == "th"  # restored after building
    assert xception.output_shape[-1] == 2048
    sep = xception.get_layer("block2_sepconv1")
    assert [w.shape for w in sep.get_weights()] == [(3, 3, 64, 1), (1, 1, 64, 128)]


def test_music_tagger_crnn_builds():
    model = MusicTaggerCRNN(weights=None)
    assert model.output_shape == (None, 50)
    assert model.get_layer("gru2").output_shape == (None, 32)


def test_unsupported_input_shapes_are_value_errors():
    with pytest.raises(ValueError, match="include_top=True.*\\(3, 224, 224\\)"):
        VGG16(weights=None, input_shape=(3, 100, 100))
    with pytest.raises(ValueError, match="3 channels"):
        VGG16(weights=None, include_top=False, input_shape=(1, 100, 100))
    with pytest.raises(ValueError, match="at least 197"):
        ResNet50(weights=None, include_top=False, input_shape=(3, 100, 100))
    with pytest.raises(ValueError, match="`weights` argument"):
        VGG16(weights="places365")
    with pytest.raises(ValueError, match="classes"):
        VGG16(weights="imagenet", classes=10)


def test_imagenet_weights_come_from_the_keras_cache():
    """A file in ~/.keras/models under Keras 1's name is what weights='imagenet' loads
    (the test writes one from a randomly initialised model)."""
    source = VGG16(weights=None, include_top=False, input_shape=(3, 48, 48))
    cache = os.path.join(os.path.expanduser("~"), ".keras", "models")
    os.makedirs(cache, exist_ok=True)
    source.save_weights(os.path.join(cache, "vgg16_weights_th_dim_ordering_th_kernels_notop.h5"))
    loaded = VGG16(weights="imagenet", include_top=False, input_shape=(3, 48, 48))
    x = _image((3, 48, 48))
    assert_allclose(loaded.predict(x), source.predict(x), rtol=1e-5)


def test_imagenet_weights_offline_name_the_file_and_url(monkeypatch):
    from urllib.error import URLError

    from keras.utils import data_utils

    def offline(*args, **kwargs):
        raise URLError("network unreachable (test)")

    monkeypatch.setattr(data_utils, "urlretrieve", offline)
    with pytest.raises(OSError, match="resnet50_weights_th_dim_ordering_th_kernels_notop.h5") as info:
        ResNet50(weights="imagenet", include_top=False, input_shape=(3, 197, 197))
    assert "https://github.com/fchollet/deep-learning-models/releases/download/v0.2/" in str(info.value)


def test_preprocess_input_subtracts_means_then_reverses_channels():
    x = np.zeros((1, 3, 2, 2), "float32")
    x[:, 0] = 10.0
    out = preprocess_input(x.copy())
    assert_allclose(out[0, :, 0, 0], [0.0 - 123.68, 0.0 - 116.779, 10.0 - 103.939], rtol=1e-6)
    out_tf = preprocess_input(np.transpose(x, (0, 2, 3, 1)).copy(), dim_ordering="tf")
    assert_allclose(out_tf[0, 0, 0], out[0, :, 0, 0], rtol=1e-6)


def test_decode_predictions_reads_the_cached_class_index():
    import json

    from keras.applications import imagenet_utils

    cache = os.path.join(os.path.expanduser("~"), ".keras", "models")
    os.makedirs(cache, exist_ok=True)
    with open(os.path.join(cache, "imagenet_class_index.json"), "w") as f:
        json.dump({str(i): ["n%08d" % i, "class_%d" % i] for i in range(1000)}, f)
    imagenet_utils.CLASS_INDEX = None
    preds = np.zeros((2, 1000), "float32")
    preds[0, 7], preds[0, 3], preds[1, 999] = 0.6, 0.3, 0.9
    decoded = decode_predictions(preds, top=2)
    assert decoded[0][0][:2] == ("n00000007", "class_7") and decoded[0][1][1] == "class_3"
    assert decoded[1][0][1] == "class_999"
    with pytest.raises(ValueError, match="\\(samples, 1000\\)"):
        decode_predictions(np.zeros((2, 10)))
    imagenet_utils.CLASS_INDEX = None
