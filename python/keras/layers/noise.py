"""Noise layers (``keras.layers.noise``), Keras 1.2.2: GaussianNoise, GaussianDropout.

Both are active only in the training phase. The noise comes from the engine's
counter-based Philox streams (one ``gaussian_noise`` / ``gaussian_dropout`` node that
also reads the learning phase), seeded from ``np.random`` when the layer is called, so
``np.random.seed(n)`` before building makes a run repeatable.
"""

from .. import backend as K
from ..engine.topology import Layer, merged_config

__all__ = [
    "GaussianNoise",
    "GaussianDropout",
]


class GaussianNoise(Layer):
    """Apply additive zero-centered Gaussian noise.

    This is useful to mitigate overfitting
    (you could see it as a form of random data augmentation).
    Gaussian Noise (GS) is a natural choice as corruption process
    for real valued inputs.

    As it is a regularization layer, it is only active at training time.

    # Arguments
        sigma: float, standard deviation of the noise distribution.

    # Input shape
        Arbitrary. Use the keyword argument `input_shape`
        (tuple of integers, does not include the samples axis)
        when using this layer as the first layer in a model.

    # Output shape
        Same shape as input.
    """

    def __init__(self, sigma, **kwargs):
        self.supports_masking = True
        self.sigma = sigma
        self.uses_learning_phase = True
        super().__init__(**kwargs)

    def call(self, x, mask=None):
        return K.gaussian_noise_in_train_phase(x, self.sigma)

    def get_config(self):
        return merged_config(super().get_config(), {"sigma": self.sigma})


class GaussianDropout(Layer):
    """Apply multiplicative 1-centered Gaussian noise.

    As it is a regularization layer, it is only active at training time.

    # Arguments
        p: float, drop probability (as with `Dropout`).
            The multiplicative noise will have standard deviation `sqrt(p / (1 - p))`.

    # Input shape
        Arbitrary. Use the keyword argument `input_shape`
        (tuple of integers, does not include the samples axis)
        when using this layer as the first layer in a model.

    # Output shape
        Same shape as input.

    # References
        - [Dropout: A Simple Way to Prevent Neural Networks from Overfitting Srivastava, Hinton, et al. 2014](http://www.cs.toronto.edu/~rsalakhu/papers/srivastava14a.pdf)
    """

    def __init__(self, p, **kwargs):
        self.supports_masking = True
        self.p = p
        if 0 < p < 1:
            self.uses_learning_phase = True
        super().__init__(**kwargs)

    def call(self, x, mask=None):
        if 0 < self.p < 1:
            return K.gaussian_dropout_in_train_phase(x, self.p)
        return x

    def get_config(self):
        return merged_config(super().get_config(), {"p": self.p})
