"""How to run a generator over images (``InferConfig``), checked where it is made, so the command line, the
Python API, the benchmark and training's validation all get the same one-line errors."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from data_tools.shown_values import finite_number, shown_number, shown_repr
from denoise_gan.command_line import named
from denoise_gan.errors import UserError
from denoise_gan.inference.backend import MIN_TILE
from denoise_gan.nets.generator_names import LEVEL_MIN_TILE
from denoise_gan.runtime import check_precision


@dataclass(frozen=True)
class InferConfig:
    """How to run a generator over images; validated here so every caller gets the same one-line errors."""

    tile: int | None = None  # None = auto (free CUDA memory, or CPU_TILE), 0 = whole image in one pass
    overlap: int = 32
    batch_size: int = 4
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "auto"  # auto | fp32 | fp16 | bf16
    strength: float = 1.0  # level-aware models: the estimated noise-level map is scaled by this
    sigma: float | None = None  # level-aware models: a fixed noise σ (0-255 scale) instead of the estimate
    ensemble: bool = False  # average the eight flips/quarter turns (x8 work; see ``ensemble``)
    level_per_tile: bool = False  # a blind map's profile per tile, not one per photo (``photo_levels``)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tile", tile_size(self.tile))
        for name in ("overlap", "batch_size"):  # NumPy integers are taken as ints; 1.5 or "32" are not
            object.__setattr__(self, name, _whole(getattr(self, name), named(name)))
        if self.sigma is not None and (isinstance(self.sigma, bool) or not isinstance(self.sigma, numbers.Real)):
            raise UserError(f"{named('sigma')} must be a number, not {shown_repr(self.sigma)}")
        for name in ("ensemble", "level_per_tile"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise UserError(f"{named(name)} must be True or False, not {shown_repr(getattr(self, name))}")
        check_strength(self.strength, named("strength"))
        if self.sigma is not None and not (finite_number(self.sigma) and 0 <= self.sigma <= 255):
            raise UserError(f"{named('sigma')} must be between 0 and 255 (the 0-255 scale), not "
                            f"{shown_number(self.sigma)}")
        if self.overlap < 0:
            raise UserError(f"{named('overlap')} must be >= 0, not {shown_number(self.overlap)}")
        if self.batch_size < 1:
            raise UserError(f"{named('batch_size')} must be >= 1, not {shown_number(self.batch_size)}")
        # floats, whatever number type was given: 1 and 1.0 (or NumPy's 1.0) are one setting in a benchmark's row key
        object.__setattr__(self, "strength", float(self.strength))
        if self.sigma is not None:
            object.__setattr__(self, "sigma", float(self.sigma))
        if isinstance(self.precision, str):  # read in any case, as the command line reads it
            object.__setattr__(self, "precision", self.precision.strip().lower())
        check_precision(self.precision)


def check_strength(value: Any, option: str) -> None:
    """A strength as every option that takes one reads it (``--strength``, benchmark's ``--model-strength``): a
    number from 0 to 10; ``option`` names it in the error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise UserError(f"{option} must be a number, not {shown_repr(value)}")
    if not (finite_number(value) and 0 <= value <= 10):
        raise UserError(f"{option} must be between 0 and 10, not {shown_number(value)}")


def tile_size(value: Any, name: str = "tile", denoiser: bool = True) -> int | None:
    """A tile setting as the engine takes it: None for auto, 0 for the whole image, or a size of at least
    MIN_TILE, from a number or text ("auto", "256"); the one rule and message for ``--tile`` and ``tile=``
    (``denoiser`` False: a noise model's, whose refusal does not speak of the denoiser's larger floor)."""
    if value is None or isinstance(value, str) and value.strip().lower() == "auto":
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():  # not "²": int() fails
        digits = value.strip().lstrip("0") or "0"
        value = int(digits) if len(digits) < 19 else 2**64  # (int() of 4300 digits raises): as any huge size
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise UserError(f"{name} must be a size in pixels, 0 (whole image) or auto, not {shown_repr(value)}")
    floor = f"at least {MIN_TILE}" + (f" (the shipped default model needs {LEVEL_MIN_TILE})" if denoiser else "")
    if value < 0:
        raise UserError(f"{name} must be a size in pixels ({floor}), 0 (whole image) or auto, not "
                        f"{shown_number(value)}")
    if value != 0 and value < MIN_TILE:  # the network's borders and the stride would dominate
        raise UserError(f"{name} {value} is too small; use {floor}, 0 (whole image) or auto")
    return int(value)


def _whole(value: Any, name: str) -> int:
    """A whole number of pixels or tiles: an int or a NumPy integer (a bool, float or text is refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise UserError(f"{name} must be a whole number, not {shown_repr(value)}")
    return int(value)
