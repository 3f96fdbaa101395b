"""The tiler's first pass for a blind level-aware model: one level profile per photo, shared by its tiles.

The blind map is a function of brightness fitted per image (``nets.level_profile``), and a tile fitted alone gives
the function of its part of the photo: a tile of dense texture, or of clean fine detail, reads more noise than the
photo holds, and G smooths it (a clean photo tiled came back at 42.4 dB where whole it gave 46.8). So before G
runs, the estimator alone reads every tile, and the bins' medians of all their cells (``nets.profile_bins``) condition
each tile: the photo's function, whatever tile size it was cut into. It costs the estimator's pass again: a few per
cent of a tiled photo's time (``benchmarks/infer_speed.py``'s ``--level-per-tile`` row leaves it out).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from denoise_gan.inference.backend import Backend
from denoise_gan.nets.profile_bins import own_profiles, photo_profile


def tile_input(crops: np.ndarray, mode: str, channels: int) -> np.ndarray:
    """(n, th, tw, C) file-dtype tiles as the network's NCHW float32 batch in [0, 1]: a gray tile copied into the
    colour net's channels, or each colour plane an item of a gray net."""
    scale = np.float32(np.iinfo(crops.dtype).max)
    x = np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32) / scale
    n, c, h, w = x.shape
    if mode == "gray_to_colour":
        return np.ascontiguousarray(np.broadcast_to(x, (n, channels, h, w)))
    if mode == "per_channel":
        return x.reshape(n * c, 1, h, w)
    return x


def shares_profile(backend: Backend, mode: str, tiles: int, sigma: float | None) -> bool:
    """Whether an image's tiles get its photo's profile: a blind map, of an image cut into tiles, by a model that
    can (a gray net's colour planes stay each their own photo, profiled per tile; a caller's own backend without
    the attribute runs as it did)."""
    return getattr(backend, "photo_profile", False) and sigma is None and tiles > 1 and mode != "per_channel"


def read_photo_profile(backend: Backend, crops: Iterable[np.ndarray], mode: str, per_batch: int) -> np.ndarray:
    """The (C, bins) profile of the photo whose tiles ``crops`` yields, read in batches of ``per_batch``."""
    cells: list[np.ndarray] = []
    brightness: list[np.ndarray] = []
    batch: list[np.ndarray] = []
    for crop in crops:
        batch.append(crop)
        if len(batch) == per_batch:
            _read(backend, batch, mode, cells, brightness)
    if batch:
        _read(backend, batch, mode, cells, brightness)
    return photo_profile(np.concatenate(cells), np.concatenate(brightness))


def _read(backend: Backend, batch: list[np.ndarray], mode: str, cells: list[np.ndarray],
          brightness: list[np.ndarray]) -> None:
    got = backend.cells(tile_input(np.stack(batch), mode, backend.channels))
    cells.append(got[0])
    brightness.append(got[1])
    batch.clear()


def batch_profiles(profiles: list[np.ndarray | None], channels: int) -> np.ndarray | None:
    """A batch's (N, C, bins) profiles, where an item without one is profiled from its own cells; None if none
    has one (a graph run as before)."""
    if all(profile is None for profile in profiles):
        return None
    own = own_profiles(len(profiles), channels)
    for i, profile in enumerate(profiles):
        if profile is not None:
            own[i] = profile
    return own
