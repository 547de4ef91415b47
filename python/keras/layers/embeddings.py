"""Keras 1 `keras.layers.embeddings`: `Embedding` (a `gather` of rows of `W`)."""

from .. import backend as K
from .. import constraints, initializations, regularizers
from ..engine.topology import Layer, merged_config
from ._spatial import check_built_size, check_rank
from ._weighted import add_W, config_of, finish_build

__all__ = ["Embedding"]


class Embedding(Layer):
    """Turns positive integers (indexes) into dense vectors of fixed size,
    eg. `[[4], [20]] -> [[0.25, 0.1], [0.6, -0.2]]`. Can only be the first layer of a
    model (its input is int32 token ids).

    # Arguments
        input_dim: int > 0. Size of the vocabulary, ie. 1 + maximum integer index.
        output_dim: int >= 0. Dimension of the dense embedding.
        init: name of initialization function for the weights (default 'uniform').
        weights: list of Numpy arrays to set as initial weights: `[W]`, W of shape
            `(input_dim, output_dim)`.
        W_regularizer, activity_regularizer, W_constraint: as for Dense.
        mask_zero: whether index 0 is a "padding" value to be masked out (then index 0
            cannot be used in the vocabulary: input_dim = |vocabulary| + 1).
        input_length: length of input sequences, when it is constant (required to
            connect Flatten then Dense downstream).
        dropout: float between 0 and 1. Fraction of whole embedding rows (vocabulary
            entries) to drop, in training only.

    # Input shape
        2D tensor with shape `(nb_samples, sequence_length)`.

    # Output shape
        3D tensor with shape `(nb_samples, sequence_length, output_dim)`.

    Token ids outside `[0, input_dim)` raise ValueError at run time (never an
    out-of-bounds read).
    """

    input_ndim = 2

    def __init__(
        self,
        input_dim,
        output_dim,
        init="uniform",
        input_length=None,
        W_regularizer=None,
        activity_regularizer=None,
        W_constraint=None,
        mask_zero=False,
        weights=None,
        dropout=0.0,
        **kwargs,
    ):
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.init = initializations.get(init)
        self.input_length = input_length
        self.mask_zero = mask_zero
        self.dropout = dropout

        self.W_constraint = constraints.get(W_constraint)
        self.W_regularizer = regularizers.get(W_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)

        if 0.0 < self.dropout < 1.0:
            self.uses_learning_phase = True
        self.initial_weights = weights
        kwargs["input_shape"] = (self.input_length,)
        kwargs["input_dtype"] = "int32"
        super().__init__(**kwargs)

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                f"Layer {self.name} expects a 2D input (samples, sequence_length) of token ids, "
                f"got shape {tuple(input_shape)}"
            )
        add_W(self, (self.input_dim, self.output_dim))
        finish_build(self)

    def compute_mask(self, x, mask=None):
        if not self.mask_zero:
            return None
        return K.not_equal(x, 0)

    def get_output_shape_for(self, input_shape):
        if not self.input_length:
            input_length = input_shape[1]
        else:
            input_length = self.input_length
        return (input_shape[0], input_length, self.output_dim)

    def call(self, x, mask=None):
        shape = K.int_shape(x)
        check_rank(self, shape, 2, "of token ids")
        check_built_size(self, shape, 1, self.input_length, "input_length")
        if K.dtype(x) != "int32":
            x = K.cast(x, "int32")
        W = self.W
        if 0.0 < self.dropout < 1.0:
            retain_p = 1.0 - self.dropout
            B = K.random_binomial((self.input_dim,), p=retain_p)
            B = K.expand_dims(B)
            W = K.in_train_phase(self.W * B / retain_p, self.W)
        return K.gather(W, x)

    def get_config(self):
        config = {
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "init": self.init.__name__,
            "input_length": self.input_length,
            "mask_zero": self.mask_zero,
            "activity_regularizer": config_of(self.activity_regularizer),
            "W_regularizer": config_of(self.W_regularizer),
            "W_constraint": config_of(self.W_constraint),
            "dropout": self.dropout,
        }
        return merged_config(super().get_config(), config)
