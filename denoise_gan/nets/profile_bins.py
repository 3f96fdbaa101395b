"""A photo's level profile from all its tiles' estimator cells: one noise-level function of brightness per photo.

The blind level map is projected onto a function of brightness (``level_profile``), and a tile alone gives that
function from its part of the photo: a tile of dense texture, or of clean, fine detail, reads more noise than the
photo holds, and G smooths it. The tiler therefore reads every tile's cells first and gives all tiles of a photo the
bins' medians of them all. Plain NumPy, so the light engine (no torch) computes it too; ``level_profile`` holds the
same rule in tensor algebra for the graph, and a test keeps the two equal.
"""

from __future__ import annotations

import numpy as np

PROFILE_BINS = 16  # brightness bins over [0, 1]
MIN_CELLS = 8  # a bin with fewer estimator cells is too thin for a median and borrows from its neighbours
THIN_BIN = -1.0  # a bin's entry in a profile when it holds fewer than MIN_CELLS cells (levels are never negative)


def brightness_bins(brightness: np.ndarray) -> np.ndarray:
    """The bin of each cell's brightness; exactly 1.0 is the top bin's."""
    return np.minimum(np.floor(np.clip(brightness, 0.0, 1.0) * PROFILE_BINS), PROFILE_BINS - 1).astype(np.int64)


def photo_profile(cells: np.ndarray, brightness: np.ndarray) -> np.ndarray:
    """``cells``: the estimator's cells of every tile of one photo, (N, C, h, w); ``brightness``: the tiles averaged
    over the same cells. Returns (C, PROFILE_BINS) float32: per channel, each bin's lower median of the levels of
    the cells in it, ``THIN_BIN`` where it holds fewer than ``MIN_CELLS``."""
    channels = cells.shape[1]
    levels = np.moveaxis(cells, 1, 0).reshape(channels, -1)
    bins = brightness_bins(np.moveaxis(brightness, 1, 0).reshape(channels, -1))
    profile = np.full((channels, PROFILE_BINS), THIN_BIN, np.float32)
    for channel in range(channels):
        order = np.lexsort((levels[channel], bins[channel]))  # by bin, then by level within it
        ranked, counts = levels[channel][order], np.bincount(bins[channel], minlength=PROFILE_BINS)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        usable = counts >= MIN_CELLS
        profile[channel, usable] = ranked[starts[usable] + (counts[usable] - 1) // 2]
    return profile


def own_profiles(count: int, channels: int) -> np.ndarray:
    """``count`` images' "no photo profile" (all ``THIN_BIN``): each is profiled from its own cells."""
    return np.full((count, channels, PROFILE_BINS), THIN_BIN, np.float32)
