"""Where the tiles of an image go: equal tiles on the network's stride, fitted to the image, overlapping, with
raised-cosine blend weights, and the reflect padding to the stride as index maps (never a padded copy)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def tile_positions(length: int, tile: int, overlap: int, stride: int) -> list[int]:
    """Tile starts along one axis of a padded length: multiples of the stride, evenly spread, with at least
    ``overlap`` pixels shared by neighbours; the last tile ends exactly at ``length``."""
    if tile >= length:
        return [0]
    step = max(stride, (tile - overlap) // stride * stride)
    count = math.ceil((length - tile) / step) + 1
    spacing = (length - tile) / (count - 1)
    starts = [int(i * spacing) // stride * stride for i in range(count - 1)]
    return starts + [length - tile]


def ramp_weights(length: int, ramp: int, taper_start: bool, taper_end: bool) -> np.ndarray:
    """1 in the middle, a raised-cosine rise over ``ramp`` pixels at each side that has a neighbour.

    Sides on the image border stay at 1 (no neighbour shares them). sin^2 rises meet cos^2 falls, so two
    tiles overlapping by exactly ``ramp`` sum to 1; other overlaps are fixed by the weight normalisation.
    """
    w = np.ones(length, np.float32)
    ramp = min(ramp, length // 2)
    if ramp > 0:
        rise = np.sin(0.5 * np.pi * (np.arange(ramp, dtype=np.float32) + 0.5) / ramp) ** 2
        if taper_start:
            w[:ramp] = rise
        if taper_end:
            w[length - ramp:] = rise[::-1]
    return w


def reflect_index(padded: int, length: int) -> np.ndarray:
    """Source index of every padded position: identity inside, mirrored (no edge repeat) past the end."""
    pos = np.arange(padded)
    if length == 1:
        return np.zeros(padded, np.intp)
    period = 2 * (length - 1)
    pos = pos % period
    return np.where(pos < length, pos, period - pos).astype(np.intp)


@dataclass(frozen=True)
class TileGrid:
    """Where the tiles of one image go: padded to the stride at the bottom/right, equal-size tiles."""

    height: int
    width: int
    tile_h: int
    tile_w: int
    ys: tuple[int, ...]
    xs: tuple[int, ...]
    overlap_y: int  # each axis its own: a thin strip's one row of tiles left its columns a ramp of half its height
    overlap_x: int

    @property
    def count(self) -> int:
        return len(self.ys) * len(self.xs)

    def tiles(self) -> Iterator[tuple[int, int, np.ndarray]]:
        """(top, left, blend weight) per tile, row by row."""
        wy = [ramp_weights(self.tile_h, self.overlap_y, i > 0, i < len(self.ys) - 1) for i in range(len(self.ys))]
        wx = [ramp_weights(self.tile_w, self.overlap_x, j > 0, j < len(self.xs) - 1) for j in range(len(self.xs))]
        for i, y in enumerate(self.ys):
            for j, x in enumerate(self.xs):
                yield y, x, np.outer(wy[i], wx[j])


def fitted_tile(length: int, max_tile: int, overlap: int, stride: int, min_tile: int = 0) -> int:
    """The smallest stride-multiple tile, of at least ``min_tile`` (what the model must see), that covers
    ``length`` with as few tiles as ``max_tile`` needs.

    A fixed 512 tile on a 1024 image needs 3 tiles per axis (2 cannot overlap) and computes 2.25x the
    pixels; three 368 tiles cover it with the same overlap at 1.2x. Two tiles of 128 on 136 px would shrink to
    88, narrower than a model that needs 128 sees well: they stay 128 (the same count, more overlap).
    """
    if max_tile >= length:
        return length
    shared = round_up(overlap, stride)
    if max_tile - shared < stride:
        return max_tile
    count = math.ceil((length - shared) / (max_tile - shared))
    fitted = round_up(math.ceil((length + (count - 1) * shared) / count), stride)
    return min(max_tile, max(fitted, round_up(min_tile, stride)))


def tile_side(tile: int, stride: int) -> int:
    """The side of the tiles a ``tile`` asks for: whole multiples of the model's stride, at least one stride."""
    return max(stride, tile // stride * stride)


def plan_grid(height: int, width: int, tile: int, overlap: int, stride: int, min_side: int = 1,
              min_tile: int = 0) -> TileGrid:
    """The grid for an image; tile 0 is one tile of the whole (stride-padded) image, otherwise tiles of at
    most ``tile`` pixels a side (and of at least ``min_tile``, where the image is that large), fitted to the
    image so little work is spent on excess overlap.

    ``min_side`` pads a tiny image further: InstanceNorm cannot normalise the single pixel a 4 px side leaves
    after two stride-2 steps."""
    padded_h, padded_w = (max(round_up(side, stride), round_up(min_side, stride)) for side in (height, width))
    if tile == 0:
        tile_h, tile_w = padded_h, padded_w
    else:
        side = tile_side(tile, stride)
        overlap = min(overlap, side // 2)
        tile_h = fitted_tile(padded_h, side, overlap, stride, min_tile)
        tile_w = fitted_tile(padded_w, side, overlap, stride, min_tile)
    overlap_y, overlap_x = min(overlap, tile_h // 2), min(overlap, tile_w // 2)
    return TileGrid(height, width, tile_h, tile_w,
                    tuple(tile_positions(padded_h, tile_h, overlap_y, stride)),
                    tuple(tile_positions(padded_w, tile_w, overlap_x, stride)), overlap_y, overlap_x)


