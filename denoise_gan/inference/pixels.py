"""Arrays as Python callers hold them, in and out of the file dtypes (uint8/uint16) the engines work on.

Shared by ``Denoiser`` and ``NoiseModel``, so both take the same inputs: uint8 and uint16 in any byte order, and
float images in [0, 1], which go through at 16-bit precision (steps of 1.5e-5) and come back as floats.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from data_tools.channels import has_alpha
from denoise_gan.errors import UserError

FLOAT_LEVELS = 65535
FLOAT_SPAN = (-0.5, 1.5)  # a float image's overshoot clipped to 0-1; past it, another scale


def refuse_masked(image: object) -> None:
    """A masked array's mask would be dropped, and what lies under it denoised (or noised) into its neighbours."""
    if isinstance(image, np.ma.MaskedArray):
        raise UserError("a masked array: its mask would be ignored and the values under it mixed into their "
                        "neighbours; pass image.filled(value), or the plain array")


def float_to_uint16(array: np.ndarray, integers: str = "uint8/uint16") -> np.ndarray:
    """A float image in [0, 1] as uint16; a filter's overshoot is clipped (as a file would hold it), but an image on
    another scale (0-255, -1..1) is refused: clipped, it came back mostly white or black without a word.
    ``integers`` names the integer types the caller takes instead (a tensor's is uint8 alone)."""
    if array.size and not np.isfinite(array).all():
        raise UserError("the image holds NaN or Inf values")
    lo, hi = (float(array.min()), float(array.max())) if array.size else (0.0, 1.0)
    if lo < FLOAT_SPAN[0] or hi > FLOAT_SPAN[1]:
        raise UserError(f"a float image is read as 0-1, and this one spans {lo:g}..{hi:g}: scale it to 0-1 "
                        f"(divide a 0-255 image by 255) or pass {integers}")
    wide = np.clip(array, 0.0, 1.0, dtype=np.float64 if array.dtype == np.float64 else np.float32)
    return np.asarray(np.rint(wide * FLOAT_LEVELS), dtype=np.uint16)  # an array even for a 0-d one (not a scalar)


def through_file_dtype(image: np.ndarray, run: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``run`` (file dtype in, the same dtype out) on an image of any supported dtype; the input's dtype back.
    A big-endian '>u2' array is the same image as a native one, and comes back big-endian."""
    native = image.dtype.newbyteorder("=") if image.dtype.byteorder not in ("=", "|") else image.dtype
    if native in (np.uint8, np.uint16):
        return run(image.astype(native, copy=False)).astype(image.dtype, copy=False)
    if not np.issubdtype(native, np.floating):
        raise UserError(f"expected a uint8, uint16 or float image array, got {image.dtype}")
    out = (run(float_to_uint16(image)).astype(np.float32) / FLOAT_LEVELS).astype(image.dtype, copy=False)
    if image.ndim == 3 and has_alpha(image.shape[2]):  # alpha passes through, not rounded to 16 bits; clipped as
        out[..., -1] = np.clip(image[..., -1], 0, 1)  # colour is, so the whole image is in [0, 1]
    return out
