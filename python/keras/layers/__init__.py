"""Keras 1 layers: ``from keras.layers import Dense, Dropout, ...``."""

from ..engine import Input, InputLayer, InputSpec, Layer, Merge, merge  # noqa: F401
from .advanced_activations import *  # noqa: F401,F403
from .convolutional import *  # noqa: F401,F403
from .convolutional_recurrent import *  # noqa: F401,F403
from .core import *  # noqa: F401,F403
from .embeddings import *  # noqa: F401,F403
from .local import *  # noqa: F401,F403
from .noise import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .recurrent import *  # noqa: F401,F403
from .wrappers import *  # noqa: F401,F403
