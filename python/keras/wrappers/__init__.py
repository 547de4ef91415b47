"""Wrappers that let Keras models be used by other libraries (``keras.wrappers``)."""
