"""Strong colour casts laid over training crops: saturated colours seen under noise at its true level.

A camera's noise is amplified where a channel is near black (sRGB's steep curve there, a colour matrix with
negative terms), so a level estimator taught camera noise learns "saturated colour means strong noise": measured,
such an estimator read a flat leaf green (RGB 110, 200, 10) under white noise of σ 5 at 11-19 per channel, where
it read flat grey at 4.8. Crops turned to saturated colours and drawn under every other noise too, at its true
level, take that shortcut away, so the estimator must read the noise itself.
"""
from __future__ import annotations

import numpy as np

WEAKEST_GAIN = 0.08  # the darkest a cast channel gets, relative to the brightest (a leaf's blue: ~0.085)


def colour_gains(rng: np.random.Generator) -> np.ndarray:
    """Three per-channel gains: one channel (drawn) kept at 1, the others log-uniform in [WEAKEST_GAIN, 1]."""
    gains = np.exp(rng.uniform(np.log(WEAKEST_GAIN), 0.0, 3))
    gains[int(rng.integers(3))] = 1.0
    return gains.astype(np.float32)


def colour_cast(patch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The patch (HxWx3 integer) with each channel scaled by ``colour_gains``: a saturated but plausible photo in
    the same dtype. Gray patches (one channel) come back unchanged and draw nothing: a gray photo has no colour."""
    if patch.ndim != 3 or patch.shape[-1] != 3:
        return patch
    cast = patch.astype(np.float32) * colour_gains(rng)
    return np.rint(cast).astype(patch.dtype)  # gains ≤ 1: never past the dtype's top
