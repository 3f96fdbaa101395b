"""The blind noise σ of an image, as the benchmark feeds it to the classical methods and the adaptation reports
it: skimage's wavelet estimate, on the 0-255 scale whatever the bit depth, and which crops have one to read."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from skimage.restoration import estimate_sigma

from data_tools.images import colour_channels
from data_tools.library_output import quiet_warnings
from denoise_gan.evaluation.metrics import SSIM_MIN_SIDE


def to_unit(colour: np.ndarray) -> np.ndarray:
    """Integer samples as float64 on [0, 1], the scale skimage and the classical methods take."""
    return colour.astype(np.float64) / float(np.iinfo(colour.dtype).max)


def too_small_to_benchmark(height: int, width: int) -> str:
    """Why an image under the protocol's SSIM window cannot be benchmarked (σ from a few pixels is noise itself),
    or ""."""
    if min(height, width) >= SSIM_MIN_SIDE:
        return ""
    return f"{width}x{height} is too small to benchmark (at least {SSIM_MIN_SIDE}x{SSIM_MIN_SIDE})"


def estimate_noise_sigma(noisy: np.ndarray, flat_as_zero: bool = False) -> float:
    """Blind σ on the 0-255 scale (whatever the bit depth), from the colour channels, averaged over them. An
    image with nothing to read it from (all black) is a ValueError, or σ 0 with ``flat_as_zero`` (a benchmark
    input: its rows still run, as a flat gray one's do)."""
    colour = colour_channels(noisy)
    if problem := too_small_to_benchmark(*colour.shape[:2]):
        raise ValueError(problem)
    with quiet_warnings(RuntimeWarning):  # skimage's "mean of empty slice" on an all-zero image
        value = float(estimate_sigma(to_unit(colour), channel_axis=-1, average_sigmas=True)) * 255.0
    if not math.isfinite(value):
        if flat_as_zero:
            return 0.0
        raise ValueError("cannot estimate σ from this image (a flat or degenerate image)")
    return value if value >= ROUND_OFF_SIGMA else 0.0


ROUND_OFF_SIGMA = 1e-6  # a flat gray or white image reads 1e-31, not 0: below this σ there is nothing to remove


def measurable(crops: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[float]]:
    """The crops with a noise σ to read, and their blind σ: a black background or a flat sky has none, and a
    set's statistics leave such a crop out rather than fail on it (a set with no such crop at all reads σ 0)."""
    kept: list[np.ndarray] = []
    sigmas: list[float] = []
    for crop in crops:
        try:
            sigma = estimate_noise_sigma(crop)
        except ValueError:
            continue
        kept.append(crop)
        sigmas.append(sigma)
    return (kept, sigmas) if kept else (list(crops), [0.0] * len(crops))
