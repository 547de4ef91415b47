"""The Keras engine: topology (layers, nodes, containers) and training (Model)."""

from .topology import Input, InputLayer, InputSpec, Layer, Merge, get_source_inputs, merge  # noqa: F401
from .training import Model  # noqa: F401
