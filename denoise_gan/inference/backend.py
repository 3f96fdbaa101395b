"""What runs the network behind the tiler: the ``Backend`` protocol, the tile limits, out-of-memory.

Kept apart from ``tiling`` so the runtimes (``torch_engine``, ``onnx_engine``) and the tiler depend on it,
not on each other.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from denoise_gan.errors import UserError

CPU_TILE = 512  # on 2-16 cores a 512 tile costs ~12 % overlap overhead (32 px) and ~50 MB of activations
MIN_TILE = 32  # below this the overlap would dominate; a model may ask for more (its ``min_tile``)
MAX_AUTO_TILE = 2048  # bigger tiles only add memory; the GPU is saturated long before


class OutOfMemory(Exception):
    """A backend ran out of device memory on a batch; the engine shrinks the tile and retries."""


class Backend(Protocol):
    """What runs the network: NCHW float32 batches in [0, 1] in, the same shape out (see ``torch_engine``
    and ``onnx_engine``). ``notes`` collects what the user should know (fp32 redos, providers). Where
    ``photo_profile`` holds, ``cells`` gives a batch's estimator cells and brightness (N, C, h, w each) and ``run``
    takes each image's photo profile, (N, C, bins) (``nets.profile_bins``)."""

    name: str  # torch | onnxruntime
    channels: int  # colour channels the network takes
    stride: int  # input sides must be multiples of this
    level_aware: bool  # takes strength/sigma
    min_tile: int  # smallest tile that gives the whole-image result within the tested tolerance
    level_max: float  # a level-aware model's cap on the level that conditions it (0-255 scale)
    photo_profile: bool  # blind, it can give a photo's tiles one level profile: ``cells``, and ``run(profile=)``
    instance_norm: bool  # per-tile statistics: tiles may differ in tone
    content_checked: bool  # runs the weights it names (a graph: its recorded digest held); else say it ran unchecked
    notes: list[str]

    @property
    def where(self) -> str: ...

    def auto_tile(self, batch_size: int) -> int: ...

    def cells(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def run(self, batch: np.ndarray, strength: float, sigma: float | None,
            profile: np.ndarray | None = None) -> np.ndarray: ...


def check_conditioning(level_aware: bool, strength: float, sigma: float | None) -> None:
    """A blind model has no level input, so asking it for --strength/--sigma is an error rather than a
    silently ignored option."""
    if not level_aware and (strength != 1.0 or sigma is not None):
        raise UserError("this model is blind (it has no noise-level input), so --strength/--sigma cannot apply; "
                        "use a level-aware model such as the shipped default")
