"""Per-pixel noise levels of a noisy image: the σ a spec's draw adds (stated by each model) and the σ a clean/noisy
pair shows (measured). Levels are on the 0-255 scale whatever the file's bit depth, as the specs' are."""

from __future__ import annotations

import cv2
import numpy as np

from data_tools.images import split_alpha
from data_tools.noise import MODELS


def noise_level_map(clean: np.ndarray, stages: list[dict]) -> np.ndarray:
    """The per-pixel noise σ (0-255 scale, float32, the image's shape) that a drawn chain adds to a clean image.

    Independent stages add their variances, each model stating its own (``SpecModel.variance``): shot noise
    follows the clean intensity; a JPEG stage adds no random noise (its error is deterministic given the image)
    and salt-and-pepper counts as its pixel-error variance. Only for supervised comparisons and tests: the
    product's G learns levels from F, never from a spec (its estimator may also read a spec's draws, at the
    level ``measured_level_map`` gives them)."""
    scale = 255.0 / float(np.iinfo(clean.dtype).max)
    colour, _ = split_alpha(clean)
    x = colour.astype(np.float32) * np.float32(scale)
    var = np.zeros_like(x)
    for stage in stages:
        params = {k: v for k, v in stage.items() if k != "model"}
        var += MODELS[stage["model"]].variance(x, **params)
    return np.sqrt(var).astype(np.float32)


MEASURED_LEVEL_WIDTH = 12.0  # px: the Gaussian window's std; a level varies with brightness, not per pixel


def measured_level_map(clean: np.ndarray, noisy: np.ndarray, width: float = MEASURED_LEVEL_WIDTH) -> np.ndarray:
    """The noise's local std per pixel and channel (0-255 scale, float32, the image's shape), measured from the
    pair: a Gaussian-weighted RMS of ``noisy - clean``.

    ``noise_level_map`` states the σ a model draws before anything else happens to it; a camera's demosaicing
    and its JPEG then blur, mix and remove part of that noise, so the σ left in the file is lower and only the
    pair tells it. This is the level a denoiser should be told, the one `benchmark --oracle-sigma` gives."""
    scale = 255.0 / float(np.iinfo(clean.dtype).max)
    (colour, _), (noisy_colour, _) = split_alpha(clean), split_alpha(noisy)
    residual = (noisy_colour.astype(np.float32) - colour.astype(np.float32)) * np.float32(scale)
    power = cv2.GaussianBlur(residual * residual, (0, 0), width, borderType=cv2.BORDER_REFLECT)
    return np.sqrt(np.maximum(power.reshape(residual.shape), 0.0)).astype(np.float32)
