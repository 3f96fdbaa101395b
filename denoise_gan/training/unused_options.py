"""Options a new run was given that its other options leave without effect, in words: a run that trains as if the
option were not there, without a word, sends its user looking for a change that never happened."""

from __future__ import annotations

import dataclasses
from typing import Any

from denoise_gan.config import AdaptConfig, RefineConfig, TrainConfig
from denoise_gan.config_fields import said_name


def _given(cfg: Any, name: str) -> bool:
    """Whether a field holds other than its default (given, on the command line or in Python)."""
    field = next(f for f in dataclasses.fields(cfg) if f.name == name)
    default = field.default_factory() if field.default is dataclasses.MISSING else field.default  # type: ignore[misc]
    return getattr(cfg, name) != default


def _statistics_unused(cfg: TrainConfig | AdaptConfig) -> list[str]:
    if cfg.lambda_stats == 0 and _given(cfg, "noise_statistics"):
        return [f"{said_name('noise_statistics', cfg)} {cfg.noise_statistics} is not used: "
                f"{said_name('lambda_stats', cfg)} 0 turns the statistics matching off"]
    return []


def unused_options(cfg: TrainConfig | RefineConfig | AdaptConfig) -> list[str]:
    """A warning per option that another option turns off."""
    said = []
    if isinstance(cfg, (TrainConfig, AdaptConfig)):
        said += _statistics_unused(cfg)
    if isinstance(cfg, TrainConfig):
        if cfg.lambda_cycle == 0 and cfg.lambda_identity > 0 and _given(cfg, "lambda_identity"):
            said.append(f"{said_name('lambda_identity', cfg)} is a share of {said_name('lambda_cycle', cfg)}, "
                        "which is 0: the identity loss is off too")
        if cfg.model.f.arch == "colour-noise" and cfg.model.f.channels == 1:
            said.append("the colour-noise F mixes noise across colours, and a one-channel run has one: it draws "
                        "noise as the plain noise F does")
    if isinstance(cfg, RefineConfig):
        if cfg.clean_fraction == 0 and cfg.clean_jpeg_fraction > 0:
            said.append(f"{said_name('clean_jpeg_fraction', cfg)} is a share of the clean samples, and "
                        f"{said_name('clean_fraction', cfg)} 0 leaves none: no clean sample is JPEG-compressed")
        if cfg.estimator_only:
            ignored = [said_name(name, cfg) for name in ("loss", "lambda_level") if _given(cfg, name)]
            if ignored:
                said.append(f"{' and '.join(ignored)} {'weigh' if len(ignored) > 1 else 'weighs'} the denoiser's "
                            f"loss, which {said_name('estimator_only', cfg)} does not train: not used")
    return said
