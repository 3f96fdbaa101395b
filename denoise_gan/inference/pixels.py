"""Arrays as Python callers hold them, in and out of the file dtypes (uint8/uint16) the engines work on.

Shared by ``Denoiser`` and ``NoiseModel``, so both take the same inputs: uint8 and uint16 in any byte order,
float images in [0, 1], which go through at 16-bit precision (steps of 1.5e-5) and come back as floats, and PIL
images (what a notebook opens a photo as), which come back as PIL images.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from data_tools.channels import has_alpha
from data_tools.checks import image_shaped
from denoise_gan.errors import UserError

FLOAT_LEVELS = 65535
FLOAT_SPAN = (-0.5, 1.5)  # a float image's overshoot clipped to 0-1; past it, another scale


def refuse_masked(image: object) -> None:
    """A masked array's mask would be dropped, and what lies under it denoised (or noised) into its neighbours."""
    if isinstance(image, np.ma.MaskedArray):
        raise UserError("a masked array: its mask would be ignored and the values under it mixed into their "
                        "neighbours; pass image.filled(value), or the plain array")


def plain_image(image: np.ndarray) -> np.ndarray:
    """An image array checked for what a noise source takes: a plain array (an np.matrix's subclass dropped), HxW or
    HxWxC with 1 to 4 channels, not empty."""
    refuse_masked(image)
    return image_shaped(np.asarray(image), UserError)


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


PIL_MODES = ("L", "LA", "RGB", "RGBA", "I;16", "I;16L", "I;16B")  # the ones an array holds as a file's pixels


def is_pil_image(image: object) -> bool:
    """Asked without importing Pillow: a caller holding a PIL image has imported it."""
    pil = sys.modules.get("PIL.Image")
    return pil is not None and isinstance(image, pil.Image)


def through_pil(image: Any, run: Callable[[np.ndarray], np.ndarray]) -> Any:
    """A PIL image's pixels through ``run`` (array in, array out), back as a PIL image of its mode, carrying its
    ``info`` (ICC profile, resolution, EXIF) as read: Pillow's ``save`` writes those where they are given to it
    (``icc_profile=``, ``exif=``), as for the image it opened."""
    from PIL import Image

    pixels = np.asarray(image)
    if image.mode == "I" and pixels.size and 0 <= pixels.min() and pixels.max() <= 65535:  # a 16-bit gray PNG as
        pixels = pixels.astype(np.uint16)  # older Pillows open one: back as it came
        out = Image.fromarray(_through_keyed(pixels, _key_colour(image, pixels), run).astype(np.int32))
    elif image.mode in PIL_MODES:
        out = Image.fromarray(_through_keyed(pixels, _key_colour(image, pixels), run))
    else:
        raise UserError(f"a PIL image in mode {image.mode!r}: convert it to one of {', '.join(PIL_MODES[:5])} "
                        "first (image.convert('RGB'), or 'RGBA' where it has transparency)")
    out.info = dict(image.info)
    return out


def _key_colour(image: Any, pixels: np.ndarray) -> np.ndarray | None:
    """The colour a gray or RGB image's ``transparency`` makes transparent (a PNG's tRNS chunk), if it has one."""
    if image.mode in ("LA", "RGBA") or "transparency" not in image.info:
        return None
    key = np.array(image.info["transparency"], dtype=object).reshape(-1)
    channels = pixels.shape[2] if pixels.ndim == 3 else 1
    if key.size != channels or not all(isinstance(k, int) and 0 <= k <= np.iinfo(pixels.dtype).max for k in key):
        return None
    return key.astype(pixels.dtype)


def _through_keyed(pixels: np.ndarray, key: np.ndarray | None, run: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """A key-coloured transparent background is alpha, as ``denoise_files`` reads the file: taken as pixels it was
    mixed into its neighbours (an opaque fringe), and noise drawn on it made half of it visible. Keyed again after;
    an opaque pixel that came out on the key colour is moved one level off it."""
    if key is None:
        return run(pixels)
    from data_tools.image_decode import key_as_alpha

    keyed = key_as_alpha(pixels if pixels.ndim == 3 else pixels[..., None], key)
    hidden = keyed[..., -1] == 0
    top = np.iinfo(pixels.dtype).max
    out = np.array(run(keyed)[..., :-1])
    out[(out == key).all(axis=-1) & ~hidden, 0] = key[0] + 1 if key[0] < top else top - 1
    out[hidden] = key
    return out if pixels.ndim == 3 else out[..., 0]
