"""What counts as a noise source: a spec's text or any object with ``apply(image, seed)`` (a learned model),
and what the manifest records of it. Apart from ``synth`` so the transform, noise-fit and the learned model can
name the protocol without the folder writer."""

from __future__ import annotations

import json
from typing import Any, Protocol, runtime_checkable

import numpy as np

from data_tools.errors import DataError, ImageTypeError
from data_tools.noise import NoiseSpec, parse_noise_spec


@runtime_checkable
class NoiseSource(Protocol):
    """What ``synth`` (and the ``SyntheticNoise`` transform) needs of a noise model.

    ``apply`` takes a uint8/uint16 image (HxW or HxWxC, alpha passed through) and a per-image seed and returns
    the noisy image (same shape and dtype, clipped and rounded) and what was drawn for it, as JSON-ready dicts
    (one per stage; each names its ``model``). The same image and seed give the same bytes. ``str(source)`` is
    the text the manifest records as ``noise``, and how a rerun of ``synth`` knows its own set: give a source
    of your own a ``__str__`` that names its parameters (without one, its class's name is recorded, and a rerun
    into its folder is refused as for another set).
    """

    def apply(self, image: np.ndarray, seed: int) -> tuple[np.ndarray, list[dict[str, Any]]]: ...


@runtime_checkable
class DescribedNoiseSource(NoiseSource, Protocol):
    """A noise source that adds its own record to the manifest (a learned model: its file, sha256, config)."""

    def manifest(self) -> dict[str, Any]: ...


LEARNED_PREFIX = "noise-model:"  # how a learned noise model describes itself (its file name and sha256)
CUSTOM_PREFIX = "custom:"  # how a source that does not name itself is recorded: by its class


def names_itself(source: NoiseSource) -> bool:
    """Whether the source's class gives it a text of its own: object's default carries a memory address, which
    differs in every process, so it says nothing a rerun or a reader could use."""
    kind = type(source)
    return kind.__str__ is not object.__str__ or kind.__repr__ is not object.__repr__


def class_name(source: NoiseSource) -> str:
    """The source's class as a reader finds it (``module.Qualname``)."""
    return f"{type(source).__module__}.{type(source).__qualname__}"


def noise_text(source: NoiseSource) -> str:
    """The ``noise`` a manifest or a saved pipeline records: the source's text, or its class's name."""
    return str(source) if names_itself(source) else f"{CUSTOM_PREFIX}{class_name(source)}"


def source_record(source: NoiseSource) -> dict[str, Any]:
    """The manifest's ``noise_source``: the source's own record, a spec's text, or what is known of a source of
    the user's own (its class, and whether its text names it), so no reader parses that text as a spec."""
    if isinstance(source, DescribedNoiseSource):
        return source.manifest()
    if isinstance(source, NoiseSpec):
        return {"kind": "spec", "spec": str(source)}
    return {"kind": "custom", "class": class_name(source), "named": names_itself(source)}


def is_spec_record(manifest: dict[str, Any]) -> bool:
    """Whether a synth manifest's ``noise`` is a spec's text (which parses back), not a learned model's or a
    custom source's description. Sets from before ``noise_source`` was recorded name a learned model by its
    prefix."""
    record = manifest.get("noise_source")
    if isinstance(record, dict):  # synth records one only for a source that is no spec (its own, or a model's)
        return record.get("kind") == "spec"
    return not str(manifest.get("noise", "")).startswith(LEARNED_PREFIX)


def as_noise_source(noise: NoiseSource | str) -> NoiseSource:
    """A spec text parsed, or a noise source as given; anything else is a TypeError naming what is needed. A
    learned model's description (written by ``A.save``) is not a spec: its weights are not in the text."""
    if isinstance(noise, str):
        if noise.startswith(LEARNED_PREFIX):
            raise DataError(f"{noise!r} describes a learned noise model, whose weights a text cannot hold (a pipeline "
                            "saved with one): pass NoiseModel.from_pretrained(SRC) instead of the text")
        if noise.startswith(CUSTOM_PREFIX):
            raise DataError(f"{noise!r} names a noise source of your own by its class (a pipeline saved with one): "
                            "pass the object itself instead of the text")
        return parse_noise_spec(noise)
    if not isinstance(noise, NoiseSource):
        raise ImageTypeError(f"expected a noise spec or an object with apply(image, seed), got "
                             f"{type(noise).__name__}")
    return noise


def drawn_noise(source: NoiseSource, pixels: np.ndarray, seed: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """``source.apply(pixels, seed)``, held to what a set file and its manifest entry need: the image's shape and
    dtype (a 16-bit photo's noisy twin written as 8-bit, or a crop of it, would pass for its pair) and a list of
    JSON-ready dicts. A source that breaks that is a ValueError naming it, which fails the one image."""
    result = source.apply(pixels, seed)
    who = f"the noise source {noise_text(source)}"
    if not isinstance(result, tuple | list) or len(result) != 2:
        raise ValueError(f"{who} returned {type(result).__name__}, not (noisy image, list of stage dicts)")
    noisy, stages = result
    if not isinstance(noisy, np.ndarray) or noisy.shape != pixels.shape or noisy.dtype != pixels.dtype:
        got = f"{noisy.dtype} {noisy.shape}" if isinstance(noisy, np.ndarray) else type(noisy).__name__
        raise ValueError(f"{who} returned {got} for a {pixels.dtype} {pixels.shape} image; it must keep the "
                         "image's shape and dtype")
    if not isinstance(stages, list) or not all(isinstance(stage, dict) for stage in stages):
        raise ValueError(f"{who} returned stages as {type(stages).__name__}, not a list of dicts")
    try:
        json.dumps(stages, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{who} returned stages a manifest cannot record ({exc})") from None
    return noisy, stages
