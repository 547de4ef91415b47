"""Advanced activation layers (``keras.layers.advanced_activations``), Keras 1.2.2:
LeakyReLU, PReLU, ELU, ParametricSoftplus, ThresholdedReLU, SReLU.

They are compositions of backend ops (relu with a slope, elu, softplus, comparisons,
elementwise arithmetic with broadcasting), so their gradients come from the engine's
autodiff. Learned parameters have the shape of the input without the samples axis,
with size 1 along the `shared_axes` (counted with the samples axis as 0), and Keras 1's
names: ``<layer>_alphas``; ``<layer>_alphas``, ``<layer>_betas``; ``<layer>_t_left``,
``<layer>_a_left``, ``<layer>_t_right``, ``<layer>_a_right``.
"""

import numpy as np

from .. import backend as K
from .. import initializations
from ..engine.topology import Layer, merged_config
from ..utils.generic_utils import shared_docs
from ._weighted import finish_build

__all__ = [
    "LeakyReLU",
    "PReLU",
    "ELU",
    "ParametricSoftplus",
    "ThresholdedReLU",
    "SReLU",
]


def _shared_axes(shared_axes):
    if not isinstance(shared_axes, (list, tuple)):
        return [shared_axes]
    return list(shared_axes)


def _param_shape(layer, input_shape):
    """input_shape[1:] with size 1 on the shared axes; ValueError naming the layer and
    the shape for an axis that does not exist or a size that is unknown."""
    param_shape = list(input_shape[1:])
    if layer.shared_axes[0] is not None:
        for i in layer.shared_axes:
            if not isinstance(i, (int, np.integer)) or not 1 <= i < len(input_shape):
                raise ValueError(
                    "Layer %s (%s): shared axis %r does not exist in an input of shape %s "
                    "(shared axes count the samples axis as 0)"
                    % (layer.name, layer.__class__.__name__, i, tuple(input_shape))
                )
            param_shape[i - 1] = 1
    if any(d is None for d in param_shape):
        raise ValueError(
            "Layer %s (%s) needs the non-shared dimensions of its input to be known, got input shape %s"
            % (layer.name, layer.__class__.__name__, tuple(input_shape))
        )
    return tuple(param_shape)


# Docs the layers share (see ``shared_docs``).
_SHAPES_DOC = """
# Input shape
    Arbitrary. Use the keyword argument `input_shape`
    (tuple of integers, does not include the samples axis)
    when using this layer as the first layer in a model.

# Output shape
    Same shape as the input.
"""
_SHARED_AXES_DOC = """
shared_axes: the axes along which to share learnable
    parameters for the activation function.
    For example, if the incoming feature maps
    are from a 2D convolution
    with output shape `(batch, height, width, channels)`,
    and you wish to share parameters across space
    so that each filter only has one set of parameters,
    set `shared_axes=[1, 2]`.
"""


class _Learned(Layer):
    """An activation with learned parameters (PReLU, ParametricSoftplus, SReLU): masks
    pass through; ``shared_axes`` and the initial ``weights`` (loaded by
    ``finish_build``) are kept."""

    def __init__(self, weights, shared_axes, **kwargs):
        self.supports_masking = True
        self.initial_weights = weights
        self.shared_axes = _shared_axes(shared_axes)
        super().__init__(**kwargs)


@shared_docs(shapes=_SHAPES_DOC)
class LeakyReLU(Layer):
    """Special version of a Rectified Linear Unit
    that allows a small gradient when the unit is not active:
    `f(x) = alpha * x for x < 0`,
    `f(x) = x for x >= 0`.

    {shapes}

    # Arguments
        alpha: float >= 0. Negative slope coefficient.
    """

    def __init__(self, alpha=0.3, **kwargs):
        self.supports_masking = True
        self.alpha = alpha
        super().__init__(**kwargs)

    def call(self, x, mask=None):
        return K.relu(x, alpha=self.alpha)

    def get_config(self):
        return merged_config(super().get_config(), {"alpha": self.alpha})


@shared_docs(shapes=_SHAPES_DOC, shared_axes=_SHARED_AXES_DOC)
class PReLU(_Learned):
    """Parametric Rectified Linear Unit:
    `f(x) = alphas * x for x < 0`,
    `f(x) = x for x >= 0`,
    where `alphas` is a learned array with the same shape as x.

    {shapes}

    # Arguments
        init: initialization function for the weights.
        weights: initial weights, as a list of a single Numpy array.
        {shared_axes}

    # References
        - [Delving Deep into Rectifiers: Surpassing Human-Level Performance on ImageNet Classification](https://arxiv.org/abs/1502.01852)
    """

    def __init__(self, init="zero", weights=None, shared_axes=None, **kwargs):
        self.init = initializations.get(init)
        super().__init__(weights, shared_axes, **kwargs)

    def build(self, input_shape):
        self.alphas = self.add_weight(
            _param_shape(self, input_shape), initializer=self.init, name=f"{self.name}_alphas"
        )
        finish_build(self)

    def call(self, x, mask=None):
        pos = K.relu(x)
        neg = self.alphas * (x - K.abs(x)) * 0.5
        return pos + neg

    def get_config(self):
        return merged_config(
            super().get_config(), {"init": self.init.__name__, "shared_axes": self.shared_axes}
        )


@shared_docs(shapes=_SHAPES_DOC)
class ELU(Layer):
    """Exponential Linear Unit:
    `f(x) =  alpha * (exp(x) - 1.) for x < 0`,
    `f(x) = x for x >= 0`.

    {shapes}

    # Arguments
        alpha: scale for the negative factor.

    # References
        - [Fast and Accurate Deep Network Learning by Exponential Linear Units (ELUs)](https://arxiv.org/abs/1511.07289v1)
    """

    def __init__(self, alpha=1.0, **kwargs):
        self.supports_masking = True
        self.alpha = K.cast_to_floatx(alpha)
        super().__init__(**kwargs)

    def call(self, x, mask=None):
        return K.elu(x, self.alpha)

    def get_config(self):
        return merged_config(super().get_config(), {"alpha": float(self.alpha)})


@shared_docs(shapes=_SHAPES_DOC, shared_axes=_SHARED_AXES_DOC)
class ParametricSoftplus(_Learned):
    """Parametric Softplus:
    `alpha * log(1 + exp(beta * x))`

    {shapes}

    # Arguments
        alpha_init: float. Initial value of the alpha weights.
        beta_init: float. Initial values of the beta weights.
        weights: initial weights, as a list of 2 numpy arrays.
        {shared_axes}

    # References
        - [Inferring Nonlinear Neuronal Computation Based on Physiologically Plausible Inputs](http://journals.plos.org/ploscompbiol/article?id=10.1371/journal.pcbi.1003143)
    """

    def __init__(self, alpha_init=0.2, beta_init=5.0, weights=None, shared_axes=None, **kwargs):
        self.alpha_init = K.cast_to_floatx(alpha_init)
        self.beta_init = K.cast_to_floatx(beta_init)
        super().__init__(weights, shared_axes, **kwargs)

    def build(self, input_shape):
        param_shape = _param_shape(self, input_shape)
        for name, value in (("alphas", float(self.alpha_init)), ("betas", float(self.beta_init))):
            weight = self.add_weight(
                param_shape,
                initializer=lambda s, name=None, value=value: K.variable(value * np.ones(s), name=name),
                name=f"{self.name}_{name}",
            )
            setattr(self, name, weight)
        finish_build(self)

    def call(self, x, mask=None):
        return K.softplus(self.betas * x) * self.alphas

    def get_config(self):
        config = {
            "alpha_init": float(self.alpha_init),
            "beta_init": float(self.beta_init),
            "shared_axes": self.shared_axes,
        }
        return merged_config(super().get_config(), config)


@shared_docs(shapes=_SHAPES_DOC)
class ThresholdedReLU(Layer):
    """Thresholded Rectified Linear Unit:
    `f(x) = x for x > theta`
    `f(x) = 0 otherwise`.

    {shapes}

    # Arguments
        theta: float >= 0. Threshold location of activation.

    # References
        - [Zero-Bias Autoencoders and the Benefits of Co-Adapting Features](http://arxiv.org/abs/1402.3337)
    """

    def __init__(self, theta=1.0, **kwargs):
        self.supports_masking = True
        self.theta = K.cast_to_floatx(theta)
        super().__init__(**kwargs)

    def call(self, x, mask=None):
        return x * K.cast(K.greater(x, float(self.theta)), K.floatx())

    def get_config(self):
        return merged_config(super().get_config(), {"theta": float(self.theta)})


@shared_docs(shapes=_SHAPES_DOC, shared_axes=_SHARED_AXES_DOC)
class SReLU(_Learned):
    """S-shaped Rectified Linear Unit.

    {shapes}

    # Arguments
        t_left_init: initialization function for the left part intercept
        a_left_init: initialization function for the left part slope
        t_right_init: initialization function for the right part intercept
        a_right_init: initialization function for the right part slope
        {shared_axes}

    # References
        - [Deep Learning with S-shaped Rectified Linear Activation Units](http://arxiv.org/abs/1512.07030)
    """

    def __init__(
        self,
        t_left_init="zero",
        a_left_init="glorot_uniform",
        t_right_init="glorot_uniform",
        a_right_init="one",
        shared_axes=None,
        **kwargs,
    ):
        self.t_left_init = t_left_init
        self.a_left_init = a_left_init
        self.t_right_init = t_right_init
        self.a_right_init = a_right_init
        super().__init__(None, shared_axes, **kwargs)

    _parts = ("t_left", "a_left", "t_right", "a_right")  # Keras 1's weight order

    def build(self, input_shape):
        param_shape = _param_shape(self, input_shape)
        for part in self._parts:
            initializer = getattr(self, part + "_init")
            setattr(
                self, part, self.add_weight(param_shape, initializer=initializer, name=f"{self.name}_{part}")
            )
        finish_build(self)

    def call(self, x, mask=None):
        # ensure the the right part is always to the right of the left
        t_right_actual = self.t_left + K.abs(self.t_right)
        # K.relu(z, alpha=a_left, max_value=|t_right|) with tensor slope and cap, as
        # Keras 1's TensorFlow relu: min(relu(z), cap) - alpha * relu(-z)
        z = x - self.t_left
        y_left_and_center = (
            self.t_left + K.minimum(K.relu(z), t_right_actual - self.t_left) - self.a_left * K.relu(-z)
        )
        y_right = K.relu(x - t_right_actual) * self.a_right
        return y_left_and_center + y_right

    def get_config(self):
        def name_of(init):
            return init if isinstance(init, str) else init.__name__

        config = {part + "_init": name_of(getattr(self, part + "_init")) for part in self._parts}
        config["shared_axes"] = self.shared_axes
        return merged_config(super().get_config(), config)
