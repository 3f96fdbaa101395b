"""Frozen configs. Each is saved inside the checkpoint it produced and printed at the start of a run."""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class GeneratorConfig:
    arch: str = "unet"  # unet (light residual U-Net) | resnet (CycleGAN reference) | noise (structured F)
    channels: int = 3
    width: int = 16  # base width; the U-Net doubles it per level, the ResNet is the paper's ngf
    depth: int = 3  # U-Net levels (stride 2**depth)
    blocks: int = 1  # residual blocks per U-Net level, or the ResNet's block count


@dataclass(frozen=True)
class DiscriminatorConfig:
    channels: int = 3
    width: int = 32
    layers: int = 3
    spectral_norm: bool = False


@dataclass(frozen=True)
class ModelConfig:
    """Both directions of the CycleGAN: G noisy->clean, F clean->noisy, and their discriminators."""

    g: GeneratorConfig = field(default_factory=GeneratorConfig)
    f: GeneratorConfig = field(default_factory=lambda: GeneratorConfig(arch="noise", width=8, depth=2, blocks=1))
    d: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)


@dataclass(frozen=True)
class DataConfig:
    clean_dir: str = ""
    noisy_dir: str = ""  # empty: synthesise the noisy domain from half the clean images with `noise`
    noise: str = ""
    patch_size: int = 64
    batch_size: int = 8
    gray_fraction: float = 0.25  # share of patches turned gray (one channel copied), so gray photos work
    workers: int = 1


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    steps: int = 2000
    decay_from: float = 0.5  # fraction of steps at constant lr before the linear decay to zero
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5  # times lambda_cycle
    lambda_stats: float = 1.0  # F's noise-statistics matching (level distribution, correlation); 0 = off
    pool_size: int = 50
    init_std: float = 0.02
    seed: int = 0
    log_every: int = 10
    save_every: int = 500
    keep_checkpoints: int = 3
    val_dir: str = ""
    val_every: int = 0  # 0: with save_every
    device: str = "auto"
    precision: str = "auto"  # auto = bf16 autocast on CUDA, fp32 on CPU


@dataclass(frozen=True)
class RefineConfig:
    """Pseudo-pair refinement: G fine-tuned on (F(clean), clean) with a plain L1 loss.

    With `noise` set, the pairs come from that synthetic spec instead of F and G starts fresh: the
    supervised upper bound an unpaired method chases, for comparison only.
    """

    run_dir: str = ""  # the CycleGAN run whose G, F and clean images are used
    noise: str = ""  # empty: pseudo-pairs from F; a spec: supervised pairs (implies fresh)
    fresh: bool = False  # start from a newly initialised G instead of the CycleGAN's
    steps: int = 4000
    lr: float = 2e-4
    decay_from: float = 0.5
    patch_size: int = 64
    batch_size: int = 16
    gray_fraction: float = 0.25
    loss: str = "l1"  # l1 | l2
    quantize: bool = True  # store F's output as an 8-bit file would (clip, round) before G sees it
    seed: int = 0
    log_every: int = 20
    save_every: int = 500
    keep_checkpoints: int = 3
    val_dir: str = ""
    val_every: int = 0
    device: str = "auto"
    precision: str = "auto"
    workers: int = 1


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def from_dict(cls: type[T], data: dict) -> T:
    """Rebuild a (nested) frozen config; unknown keys are an error so a typo never passes silently, and so is a
    value of the wrong type (configs come back from checkpoints and weight files, which are untrusted)."""
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__} must be a mapping, not {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(sorted(map(str, unknown)))}")
    kwargs = {}
    for key, value in data.items():
        ftype = hints[key]
        kwargs[key] = from_dict(ftype, value) if dataclasses.is_dataclass(ftype) else _checked(cls, key, ftype, value)
    return cls(**kwargs)


def _checked(cls: type, key: str, ftype: Any, value: Any) -> Any:
    """The value if it has the field's plain type (an int is accepted as a float); other hints pass through."""
    if ftype is bool:
        ok = isinstance(value, bool)
    elif ftype is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif ftype is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif ftype is str:
        ok = isinstance(value, str)
    else:
        ok = True
    if not ok:
        raise ValueError(f"{cls.__name__}.{key} must be {ftype.__name__}, not {value!r:.40}")
    return value


def to_json(cfg: Any) -> str:
    return json.dumps(to_dict(cfg), indent=2, sort_keys=True)
