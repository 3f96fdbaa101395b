"""How ``synth`` shrinks a clean photo before its noise is drawn: the longest side down to ``--max-size``, then the
centre ``--crop``. Clean images only: resampling a noisy one would correlate its noise."""

from __future__ import annotations

import cv2
import numpy as np

from data_tools.images import center_crop
from data_tools.synth_folder import SynthError


class SmallerThanCrop(ValueError):
    """A source with a side under ``crop``: left out of the set, as the option says, not a failed source.
    ``shrunk``: --max-size shrank it first."""

    def __init__(self, message: str, shrunk: bool) -> None:
        super().__init__(message)
        self.shrunk = shrunk


def resize_longest(pixels: np.ndarray, max_size: int) -> np.ndarray:
    """Downscale (never upscale) an HxW or HxWxC image (C 1-4) so the longest side is ``max_size``, with INTER_AREA
    to avoid aliasing.

    Only for clean images: resampling a noisy image would correlate its noise.
    """
    h, w = pixels.shape[:2]
    if max(h, w) <= max_size:
        return pixels
    scale = max_size / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    out = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)  # (OpenCV drops a single channel's axis)
    return out.reshape(size[1], size[0], *pixels.shape[2:])


def shrunk_clean(pixels: np.ndarray, crop: int | None, max_size: int | None) -> np.ndarray:
    """The photo downscaled to ``max_size`` on its longest side, then centre-cropped to ``crop``; one with a side
    under ``crop`` raises SmallerThanCrop."""
    h, w = pixels.shape[:2]
    if max_size is not None:
        pixels = resize_longest(pixels, max_size)
    if crop is not None:
        if min(pixels.shape[:2]) < crop:
            shrunk = pixels.shape[:2] != (h, w)
            raise SmallerThanCrop(f"{pixels.shape[1]}x{pixels.shape[0]}"
                                  f"{f' (from {w}x{h} by --max-size {max_size})' if shrunk else ''} is smaller than "
                                  f"the {crop}x{crop} crop", shrunk)
        pixels = center_crop(pixels, crop)
    return pixels


def refuse_crop_over_size(crop: int | None, max_size: int | None) -> None:
    """A crop larger than --max-size leaves every photo out: the options contradict each other."""
    if crop is not None and max_size is not None and crop > max_size:
        raise SynthError(f"--crop {crop} is larger than --max-size {max_size}: no photo, at most {max_size} px "
                         "a side after --max-size, would hold the crop; give a larger --max-size (a photo's shorter "
                         "side must still hold the crop after it) or a smaller --crop")
