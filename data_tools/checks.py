"""Checks on what a caller hands the noise sources: a seed and an image.

One place, so the synthetic noise of a spec and a learned noise model refuse the same inputs with the same
one-line words, instead of failing deep inside OpenCV or NumPy, and so a seed is always a seed: ``None``
would draw fresh entropy, and noise that cannot be drawn again is worth nothing to a test set.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from data_tools.channels import channels_first_hint
from data_tools.errors import DataError, ImageTypeError
from data_tools.shown_values import shown_repr


def whole_number(value: Any, name: str, least: int = 0, error: type[Exception] = DataError, bits: int = 64,
                 why: str = "") -> int:
    """A whole number from ``least`` to 2**bits - 1 (2**64 - 1: what the generators a seed feeds take) as a plain
    int: a manifest holds no NumPy integer, and a bool or 16.5 would be recorded as given. ``why`` follows the
    range in the refusal."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not least <= int(value) < 2**bits:
        raise error(f"{name} must be a whole number from {least} to 2**{bits} - 1{why}, not {shown_repr(value)}")
    return int(value)


def noise_image(image: Any, error: type[Exception] = DataError) -> np.ndarray:
    """The image noise can be drawn on: a uint8/uint16 HxW or HxWxC (C 1-4) array, not empty, returned as a
    plain array in the machine's byte order (a big-endian 16-bit TIFF is still a 16-bit image). A wrong shape
    raises ``error`` (the learned model's callers catch UserError, as its other refusals)."""
    if not isinstance(image, np.ndarray):
        raise ImageTypeError(f"noise needs a uint8 or uint16 image array, got {type(image).__name__}")
    native = image.dtype.newbyteorder("=")
    if native not in (np.uint8, np.uint16):
        later = "; add it before the image becomes float (A.ToFloat, A.Normalize)" if native.kind == "f" else ""
        raise ImageTypeError(f"noise needs a uint8 or uint16 image, got {image.dtype}{later}")
    return image_shaped(np.asarray(image, dtype=native), error)  # a subclass (np.matrix) has its own indexing


def image_shaped(image: np.ndarray, error: type[Exception] = DataError) -> np.ndarray:
    """``image`` where it is HxW or HxWxC (C 1-4) with pixels; otherwise ``error``, one line naming its shape."""
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 2, 3, 4)):
        raise error(f"noise needs an HxW or HxWxC image (C 1-4), got shape {image.shape}"
                    f"{channels_first_hint(image.shape)}")
    if image.size == 0:
        raise error(f"noise needs an image with pixels, got shape {image.shape}")
    return image
