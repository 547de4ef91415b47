//! Keras 1.2.2 optimizers as fused in-place updates (being written).
