"""How far a small image is reflect-padded before a network sees it. The tiler and the exported ONNX graph both ask
here, so a graph run on its own gives the tiler's result. No torch: the tiler runs without it."""

from __future__ import annotations


def smallest_side(stride: int, *, instance_norm: bool, level_aware: bool, min_tile: int) -> int:
    """The least side (before rounding up to the stride) a network is shown, the image mirrored to fill it.

    InstanceNorm cannot normalise the single pixel a 4 px side leaves after two stride-2 steps, so such a net sees
    two strides at least. A level-aware net's estimator reads the zero border of its convolutions around a small
    image as noise (a flat 16x16 image was read at σ 9 and came back patterned; from 48 px it comes back as it
    went in), so it sees at least the smallest tile it declares, filled with the image's own mirror images."""
    side = 2 * stride if instance_norm else 1
    return max(side, min_tile) if level_aware else side
