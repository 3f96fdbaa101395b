"""Regular texture laid over training crops: stripes and grids, the pattern a level estimator mistakes for noise.

A level estimator learns what noise looks like from the crops it is shown, and photos of blinds, fences, fabric
or printed text are rare among them: measured on the shipped default, a clean photo shaded by hard-edged stripes
of a 2-4 px period was read at a noise level of 17-54 (0-255 scale). Overlaid stripes let it see such texture
clean and under noise, at its true level, as often as asked.
"""
from __future__ import annotations

import cv2
import numpy as np

PERIODS = (2.0, 16.0)  # px, drawn log-uniform: the finest a photo can hold to the scale of the estimator's view
CONTRASTS = (0.15, 0.8)  # the share of the pixel's brightness (or of its headroom) the stripes take away (add)
GRID_SHARE = 0.25  # crossed stripes: grids, mesh, woven fabric
SINE_SHARE = 1 / 3  # soft stripes; the rest are hard-edged (blinds, text), softened a little as lenses do


def stripes(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """An HxW float32 pattern in [0, 1]: one grating (or two crossed) of random period, angle, duty and edge."""
    h, w = shape
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    pattern = _grating(xx, yy, rng)
    if rng.random() < GRID_SHARE:
        pattern = np.maximum(pattern, _grating(xx, yy, rng))
    return np.clip(pattern, 0.0, 1.0)  # a blur's rounding can step a hair past 1


def _grating(xx: np.ndarray, yy: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    period = float(np.exp(rng.uniform(*np.log(PERIODS))))
    # half the gratings along rows or columns, as blinds and text lines are (the crop is already turned, so the
    # axis is drawn here); the rest at any angle, which a pixel grid renders with a stair-step of its own
    angle = float(rng.integers(2)) * np.pi / 2 if rng.random() < 0.5 else float(rng.uniform(0.0, np.pi))
    phase = (xx * np.cos(angle) + yy * np.sin(angle)) / period + rng.random()
    wave = np.sin(2.0 * np.pi * phase)
    if rng.random() < SINE_SHARE:
        return (0.5 + 0.5 * wave).astype(np.float32)
    duty = rng.uniform(-0.5, 0.5)  # where the hard edge sits: thin lines to wide bars
    hard = (wave > duty).astype(np.float32)
    # a lens's blur, up to a sixth of the period: more would wash the finest stripes out to a flat grey
    blur = float(rng.uniform(0.0, min(1.0, period / 6.0)))
    return cv2.GaussianBlur(hard, (0, 0), blur) if blur > 0.25 else hard


def overlay_pattern(patch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The patch (HxWxC integer) with stripes shading it: darkened, or lightened toward white, alike in every
    channel, so the result is still a plausible clean photo in the same dtype."""
    top = float(np.iinfo(patch.dtype).max)
    pattern = stripes(patch.shape[:2], rng)[..., None] * np.float32(rng.uniform(*CONTRASTS))
    pixels = patch.astype(np.float32)
    if rng.random() < 0.5:
        shaded = pixels * (1.0 - pattern)
    else:
        shaded = pixels + (top - pixels) * pattern
    return np.clip(np.rint(shaded), 0, top).astype(patch.dtype)
