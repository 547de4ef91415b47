"""The weight wiring Keras 1's weighted layers share: a kernel ``W`` and a bias ``b``
with their regularizers and constraints (Dense, MaxoutDense, Highway,
TimeDistributedDense, the convolutions, LocallyConnected), the ``get_config`` entries
of those, and the bias + activation that ends their ``call``."""

from .. import activations, constraints, initializations, regularizers
from .. import backend as K
from ._spatial import BORDER_MODES, check_border_mode, resolve_ordering

# The `# Arguments` entries of the W/b regularizers and constraints and of `bias`
# (for ``keras.utils.generic_utils.shared_docs``).
WEIGHT_ARGS_DOC = """
W_regularizer: regularizer instance applied to the main weights matrix.
b_regularizer: regularizer instance applied to the bias.
activity_regularizer: regularizer instance applied to the network output.
W_constraint: constraint instance applied to the main weights matrix.
b_constraint: constraint instance applied to the bias.
bias: whether to include a bias.
"""


def config_of(obj):
    """A regularizer's / constraint's config, or None."""
    return obj.get_config() if obj is not None else None


def set_kernel_args(
    layer, owner, init, activation, border_mode, dim_ordering=None, modes=BORDER_MODES, **sizes
):
    """The arguments every kernel layer (the convolutions, LocallyConnected) starts with,
    under Keras 1's attribute names: ``dim_ordering`` resolved (``'default'``:
    ``K.image_dim_ordering()``; None for the 1-D layers, which have none), a ValueError
    naming ``owner`` for a ``border_mode`` not in ``modes``, the kernel ``sizes``
    (``nb_filter=..., nb_row=...``) as ints (a ValueError naming them all when one is
    below 1), then ``init`` for the ordering's weight layout ('th' without one) and
    ``activation``."""
    if dim_ordering is not None:
        dim_ordering = resolve_ordering(dim_ordering)
        layer.dim_ordering = dim_ordering
    check_border_mode(owner, border_mode, modes)
    layer.border_mode = border_mode
    values = [int(v) for v in sizes.values()]
    if min(values) <= 0:
        names = list(sizes)
        raise ValueError(
            f"{layer.__class__.__name__}: {', '.join(names[:-1])} and {names[-1]} must be positive, "
            f"got {', '.join(str(v) for v in sizes.values())}"
        )
    for name, value in zip(sizes, values):
        setattr(layer, name, value)
    layer.init = initializations.get(init, dim_ordering=dim_ordering or "th")
    layer.activation = activations.get(activation)


def set_weight_args(
    layer,
    W_regularizer=None,
    b_regularizer=None,
    activity_regularizer=None,
    W_constraint=None,
    b_constraint=None,
    bias=True,
    weights=None,
):
    """Resolves the W/b regularizer, constraint, bias and initial-weights arguments and
    stores them under Keras 1's attribute names."""
    set_named_weight_args(
        layer,
        {"W": W_regularizer, "b": b_regularizer},
        {"W": W_constraint, "b": b_constraint},
        activity_regularizer,
        bias,
        weights,
    )


def set_named_weight_args(layer, regularizers_of, constraints_of, activity_regularizer, bias, weights):
    """``set_weight_args`` for other weight names (SeparableConvolution2D's
    ``depthwise``/``pointwise``): ``regularizers_of`` and ``constraints_of`` map a
    weight's name to its argument, stored as ``<name>_regularizer`` /
    ``<name>_constraint``."""
    for name, regularizer in regularizers_of.items():
        setattr(layer, name + "_regularizer", regularizers.get(regularizer))
    layer.activity_regularizer = regularizers.get(activity_regularizer)
    for name, constraint in constraints_of.items():
        setattr(layer, name + "_constraint", constraints.get(constraint))
    layer.bias = bias
    layer.initial_weights = weights


def add_W_b(layer, W_shape, b_shape, W_initializer=None):
    """Adds ``layer.W`` (``add_W``) and, when ``layer.bias``, ``layer.b`` (``add_bias``;
    else None)."""
    add_W(layer, W_shape, W_initializer)
    add_bias(layer, b_shape)


def add_W(layer, W_shape, W_initializer=None):
    """Adds ``layer.W`` (``<name>_W``, initialised by ``W_initializer``, default
    ``layer.init``, with the layer's W regularizer and constraint)."""
    layer.W = layer.add_weight(
        W_shape,
        initializer=layer.init if W_initializer is None else W_initializer,
        name=f"{layer.name}_W",
        regularizer=layer.W_regularizer,
        constraint=layer.W_constraint,
    )


def add_bias(layer, b_shape):
    """Adds ``layer.b`` (``<name>_b``, zeros, with the layer's regularizer and
    constraint) when ``layer.bias``; else sets it to None."""
    layer.b = None
    if layer.bias:
        layer.b = layer.add_weight(
            b_shape,
            initializer="zero",
            name=f"{layer.name}_b",
            regularizer=layer.b_regularizer,
            constraint=layer.b_constraint,
        )


def finish_build(layer):
    """Loads the ``weights`` given at construction (if any) and marks the layer built."""
    if layer.initial_weights is not None:
        layer.set_weights(layer.initial_weights)
        del layer.initial_weights
    layer.built = True


def weight_config(layer, names=("W", "b")):
    """The ``get_config`` entries of the regularizers and constraints of the weights
    ``names``, in Keras 1's key order (the regularizers, the activity regularizer, the
    constraints)."""
    config = {name + "_regularizer": config_of(getattr(layer, name + "_regularizer")) for name in names}
    config["activity_regularizer"] = config_of(layer.activity_regularizer)
    config.update({name + "_constraint": config_of(getattr(layer, name + "_constraint")) for name in names})
    return config


def bias_activation(layer, output, axis=None):
    """``layer.activation(output + layer.b)`` (just the activation without a bias), the
    bias along ``axis`` (None: the last). The executor folds the bias and a relu / tanh
    / sigmoid into the op that produced ``output`` where it can
    (``rust/ferrokeras/src/graph/fuse.rs``)."""
    if not layer.bias:
        return layer.activation(output)
    return layer.activation(K.bias_add(output, layer.b, axis=axis))
