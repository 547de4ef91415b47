"""Data preprocessing (``keras.preprocessing``): sequence, text and image helpers.

`image` needs Pillow only for reading, writing and resizing image files; it is imported
when first used.
"""

from . import image, sequence, text  # noqa: F401
