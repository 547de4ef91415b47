"""Normalization layers (``keras.layers.normalization``), Keras 1.2.2: BatchNormalization.

Weights ``<layer>_gamma``, ``<layer>_beta``, ``<layer>_running_mean``,
``<layer>_running_std`` in that order, all of shape ``(features,)``; as in Keras since
1.0.6/1.0.7, ``running_std`` holds the moving *variance* (the name was kept for weight
file compatibility). Mode 0 is one ``batch_moments`` node (the batch mean and variance
in one pass; it skips the pass in the test phase) read by one ``batch_norm_train`` node
fed the learning phase, which uses them in training and the moving averages in test;
the moving-average updates read the same moments.
"""

from .. import backend as K
from .. import initializations, regularizers
from ..engine.topology import InputSpec, Layer, merged_config

__all__ = [
    "BatchNormalization",
]


class BatchNormalization(Layer):
    """Batch normalization layer (Ioffe and Szegedy, 2014).

    Normalize the activations of the previous layer at each batch,
    i.e. applies a transformation that maintains the mean activation
    close to 0 and the activation standard deviation close to 1.

    # Arguments
        epsilon: small float > 0. Fuzz parameter.
            Theano expects epsilon >= 1e-5.
        mode: integer, 0, 1 or 2.
            - 0: feature-wise normalization.
                Each feature map in the input will
                be normalized separately. The axis on which
                to normalize is specified by the `axis` argument.
                Note that if the input is a 4D image tensor
                using Theano conventions (samples, channels, rows, cols)
                then you should set `axis` to `1` to normalize along
                the channels axis.
                During training we use per-batch statistics to normalize
                the data, and during testing we use running averages
                computed during the training phase.
            - 1: sample-wise normalization. This mode assumes a 2D input.
            - 2: feature-wise normalization, like mode 0, but
                using per-batch statistics to normalize the data during both
                testing and training.
        axis: integer, axis along which to normalize in mode 0. For instance,
            if your input tensor has shape (samples, channels, rows, cols),
            set axis to 1 to normalize per feature map (channels axis).
        momentum: momentum in the computation of the
            exponential average of the mean and standard deviation
            of the data, for feature-wise normalization.
        weights: Initialization weights.
            List of 2 Numpy arrays, with shapes:
            `[(input_shape,), (input_shape,)]`
            Note that the order of this list is [gamma, beta, mean, std]
        beta_init: name of initialization function for shift parameter
            (see [initializations](../initializations.md)), or alternatively,
            Theano/TensorFlow function to use for weights initialization.
            This parameter is only relevant if you don't pass a `weights` argument.
        gamma_init: name of initialization function for scale parameter (see
            [initializations](../initializations.md)), or alternatively,
            Theano/TensorFlow function to use for weights initialization.
            This parameter is only relevant if you don't pass a `weights` argument.
        gamma_regularizer: instance of [WeightRegularizer](../regularizers.md)
            (eg. L1 or L2 regularization), applied to the gamma vector.
        beta_regularizer: instance of [WeightRegularizer](../regularizers.md),
            applied to the beta vector.

    # Input shape
        Arbitrary. Use the keyword argument `input_shape`
        (tuple of integers, does not include the samples axis)
        when using this layer as the first layer in a model.

    # Output shape
        Same shape as input.

    # References
        - [Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift](https://arxiv.org/abs/1502.03167)
    """

    def __init__(
        self,
        epsilon=1e-3,
        mode=0,
        axis=-1,
        momentum=0.99,
        weights=None,
        beta_init="zero",
        gamma_init="one",
        gamma_regularizer=None,
        beta_regularizer=None,
        **kwargs,
    ):
        if mode not in (0, 1, 2):
            raise ValueError("BatchNormalization: mode must be 0, 1 or 2, got " + repr(mode))
        self.supports_masking = True
        self.beta_init = initializations.get(beta_init)
        self.gamma_init = initializations.get(gamma_init)
        self.epsilon = epsilon
        self.mode = mode
        self.axis = axis
        self.momentum = momentum
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.initial_weights = weights
        if self.mode == 0:
            self.uses_learning_phase = True
        super().__init__(**kwargs)

    def _feature_axis(self, input_shape):
        """``axis`` as a non-negative index; ValueError naming the layer and the shape
        when it does not exist or its size is unknown."""
        nd = len(input_shape)
        ax = self.axis
        if not isinstance(ax, int) or not -nd <= ax < nd:
            raise ValueError(
                "Layer %s (BatchNormalization): axis %r does not exist in an input of shape %s"
                % (self.name, self.axis, tuple(input_shape))
            )
        ax %= nd
        if input_shape[ax] is None:
            raise ValueError(
                "Layer %s (BatchNormalization): the size of axis %r must be known, got input shape %s"
                % (self.name, self.axis, tuple(input_shape))
            )
        return ax

    def build(self, input_shape):
        self.input_spec = [InputSpec(shape=input_shape)]
        if len(input_shape) < 2 and self.mode != 1:
            raise ValueError(
                "Layer %s (BatchNormalization) expects an input of rank >= 2, got shape %s"
                % (self.name, tuple(input_shape))
            )
        # Keras 1 sizes the weights along `axis` in every mode
        shape = (input_shape[self._feature_axis(input_shape)],)

        self.gamma = self.add_weight(
            shape, initializer=self.gamma_init, regularizer=self.gamma_regularizer, name=f"{self.name}_gamma"
        )
        self.beta = self.add_weight(
            shape, initializer=self.beta_init, regularizer=self.beta_regularizer, name=f"{self.name}_beta"
        )
        self.running_mean = self.add_weight(
            shape, initializer="zero", name=f"{self.name}_running_mean", trainable=False
        )
        self.running_std = self.add_weight(
            shape, initializer="one", name=f"{self.name}_running_std", trainable=False
        )

        if self.initial_weights is not None:
            self.set_weights(self.initial_weights)
            del self.initial_weights
        self.built = True

    def call(self, x, mask=None):
        if self.mode == 0 or self.mode == 2:
            assert self.built, "Layer must be built before being called"
            input_shape = K.int_shape(x)
            axis = self._feature_axis(input_shape)
            reduction_axes = [i for i in range(len(input_shape)) if i != axis]
            if self.mode == 2:
                x_normed, _, _ = K.normalize_batch_in_training(
                    x, self.gamma, self.beta, reduction_axes, epsilon=self.epsilon
                )
                return x_normed
            # running_std holds the moving variance
            x_normed, mean, var = K.batch_normalization_in_train_phase(
                x, self.gamma, self.beta, self.running_mean, self.running_std, axis, epsilon=self.epsilon
            )
            self.add_update(
                [
                    K.moving_average_update(self.running_mean, mean, self.momentum),
                    K.moving_average_update(self.running_std, var, self.momentum),
                ],
                x,
            )
            return x_normed
        # mode 1: sample-wise normalization over the last axis (Keras 1 adds epsilon
        # both inside the square root and to the standard deviation)
        m = K.mean(x, axis=-1, keepdims=True)
        std = K.sqrt(K.var(x, axis=-1, keepdims=True) + self.epsilon)
        x_normed = (x - m) / (std + self.epsilon)
        return self.gamma * x_normed + self.beta

    def get_config(self):
        config = {
            "epsilon": self.epsilon,
            "mode": self.mode,
            "axis": self.axis,
            "gamma_regularizer": self.gamma_regularizer.get_config() if self.gamma_regularizer else None,
            "beta_regularizer": self.beta_regularizer.get_config() if self.beta_regularizer else None,
            "momentum": self.momentum,
        }
        return merged_config(super().get_config(), config)
