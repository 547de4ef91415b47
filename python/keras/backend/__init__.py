"""``keras.backend`` (imported as ``K``): the Keras 1 backend API on the ferrokeras engine."""

from .common import (  # noqa: F401
    cast_to_floatx,
    epsilon,
    floatx,
    get_uid,
    image_dim_ordering,
    legacy_weight_ordering,
    reset_uids,
    set_epsilon,
    set_floatx,
    set_image_dim_ordering,
    set_legacy_weight_ordering,
)
from .ferrokeras_backend import *  # noqa: F401,F403
from .ferrokeras_backend import (  # noqa: F401
    Function,
    FusedUpdate,
    RandomRecord,
    SeedPlan,
    Tensor,
    Variable,
    abs,
    all,
    any,
    max,
    min,
    pow,
    round,
    sum,
)

_BACKEND = "ferrokeras"
