"""What counts as a noise source: a spec's text or any object with ``apply(image, seed)`` (a learned model),
and what the manifest records of it. Apart from ``synth`` so the transform, noise-fit and the learned model can
name the protocol without the folder writer."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from data_tools.errors import DataError, ImageTypeError
from data_tools.noise import parse_noise_spec


@runtime_checkable
class NoiseSource(Protocol):
    """What ``synth`` (and the ``SyntheticNoise`` transform) needs of a noise model.

    ``apply`` takes a uint8/uint16 image (HxW or HxWxC, alpha passed through) and a per-image seed and returns
    the noisy image (same shape and dtype, clipped and rounded) and what was drawn for it, as JSON-ready dicts
    (one per stage; each names its ``model``). The same image and seed give the same bytes. ``str(source)`` is
    the text the manifest records as ``noise``.
    """

    def apply(self, image: np.ndarray, seed: int) -> tuple[np.ndarray, list[dict[str, Any]]]: ...


@runtime_checkable
class DescribedNoiseSource(NoiseSource, Protocol):
    """A noise source that adds its own record to the manifest (a learned model: its file, sha256, config)."""

    def manifest(self) -> dict[str, Any]: ...


def source_record(source: NoiseSource) -> dict[str, Any]:
    """The manifest's ``noise_source``: the source's own record, or a spec's text."""
    if isinstance(source, DescribedNoiseSource):
        return source.manifest()
    return {"kind": "spec", "spec": str(source)}


LEARNED_PREFIX = "noise-model:"  # how a learned noise model describes itself (its file name and sha256)


def as_noise_source(noise: NoiseSource | str) -> NoiseSource:
    """A spec text parsed, or a noise source as given; anything else is a TypeError naming what is needed. A
    learned model's description (written by ``A.save``) is not a spec: its weights are not in the text."""
    if isinstance(noise, str):
        if noise.startswith(LEARNED_PREFIX):
            raise DataError(f"{noise!r} describes a learned noise model, whose weights a text cannot hold (a pipeline "
                            "saved with one): pass NoiseModel.from_pretrained(SRC) instead of the text")
        return parse_noise_spec(noise)
    if not isinstance(noise, NoiseSource):
        raise ImageTypeError(f"expected a noise spec or an object with apply(image, seed), got "
                             f"{type(noise).__name__}")
    return noise
