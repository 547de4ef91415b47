"""Keras 1.2.2 `keras.applications`: ImageNet architectures with Keras 1's layer names,
so Keras 1's published weight files load by position (`weights='imagenet'` reads them
from the Keras cache, `~/.keras/models`, downloading when the network is there).

`MusicTaggerCRNN` lives in `keras.applications.music_tagger_crnn` and, as in Keras 1, is
not re-exported here.
"""

from .inception_v3 import InceptionV3
from .resnet50 import ResNet50
from .vgg16 import VGG16
from .vgg19 import VGG19
from .xception import Xception

__all__ = ["VGG16", "VGG19", "ResNet50", "InceptionV3", "Xception"]
