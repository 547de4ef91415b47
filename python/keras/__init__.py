"""ferrokeras: the Keras 1 API on a Rust engine (``import keras``)."""

from . import (  # noqa: F401
    activations,
    backend,  # noqa: F401
    callbacks,
    constraints,
    datasets,
    distributed,
    engine,
    initializations,
    layers,
    metrics,
    models,
    objectives,
    optimizers,
    preprocessing,
    regularizers,
    utils,
)

__version__ = "1.2.2"
"""The Keras API version implemented (scripts compare against it)."""

__ferrokeras_version__ = "0.1.0"
