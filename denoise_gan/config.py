"""Frozen configs. Each is saved inside the checkpoint it produced and printed at the start of a run."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from denoise_gan.errors import DenoiseGanError

T = TypeVar("T")


class ConfigError(DenoiseGanError):
    """A config value out of its range (an option on the command line, or a field of a stored config);
    the message is one line naming the option."""


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def json_object(text: object) -> dict[str, Any]:
    """A JSON object from a stored string (weight-file and graph metadata): anything else, or nesting too deep
    for the parser, is a ValueError or TypeError the caller turns into its one-line error."""
    if not isinstance(text, str):
        raise TypeError(f"expected a JSON string, got {type(text).__name__}")
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if not isinstance(value, dict):
        raise TypeError(f"expected a JSON object, got {type(value).__name__}")
    return value


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

    def __post_init__(self) -> None:
        _require(self.patch_size >= 32, f"--patch-size must be at least 32, not {self.patch_size}")
        _require(self.batch_size >= 1, f"--batch-size must be at least 1, not {self.batch_size}")
        _require(0.0 <= self.gray_fraction <= 1.0, f"--gray-fraction must be between 0 and 1, not {self.gray_fraction}")
        _require(self.workers >= 0, f"--workers must be 0 or more, not {self.workers}")
        _require(not (self.clean_dir and self.noisy_dir
                      and os.path.realpath(self.clean_dir) == os.path.realpath(self.noisy_dir)),
                 f"--clean and --noisy are the same folder ({self.clean_dir}); the two domains must be independent")


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

    def __post_init__(self) -> None:
        g, d = self.model.g, self.model.d
        _require(g.channels in (1, 3), f"--channels must be 1 or 3, not {g.channels}")
        for name, value in (("--width", g.width), ("--depth", g.depth), ("--blocks", g.blocks),
                            ("--d-width", d.width), ("--d-layers", d.layers)):
            _require(value >= 1, f"{name} must be at least 1, not {value}")
        _check_schedule(self.steps, self.lr, self.decay_from, self.log_every, self.save_every, self.val_every,
                        self.keep_checkpoints)
        for name, value in (("--lambda-cycle", self.lambda_cycle), ("--lambda-identity", self.lambda_identity)):
            _require(math.isfinite(value) and value >= 0, f"{name} must be 0 or more, not {value}")
        _require(self.pool_size >= 0, f"--pool-size must be 0 or more, not {self.pool_size}")


@dataclass(frozen=True)
class RefineConfig:
    """Pseudo-pair refinement: G trained on (F(clean), clean) with a plain L1 loss.

    A level-aware G (``generator.arch == "level"``) learns from F's level map too: G denoises given the map F
    used, its estimator learns to predict that map from the noisy image alone. With `noise` set, the pairs come
    from that synthetic spec instead of F and G starts fresh: the supervised upper bound an unpaired method
    chases, for comparison only.
    """

    run_dir: str = ""  # the CycleGAN run whose G, F and clean images are used
    noise: str = ""  # empty: pseudo-pairs from F; a spec: supervised pairs (implies fresh)
    generator: GeneratorConfig | None = None  # what to train; None: the run's own G (fine-tuned unless fresh)
    fresh: bool = False  # start from a newly initialised G instead of the CycleGAN's
    init: str = ""  # start G from these weights (a path or a shipped name) instead of the run's G or a new one
    clean_fraction: float = 0.1  # level-aware G: share of samples left clean (level 0), to be returned as they are
    # share of those clean samples JPEG-compressed first (quality 70-95): the estimator learns blocks are not noise
    clean_jpeg_fraction: float = 0.0
    faint_fraction: float = 0.0  # share of F's draws scaled down by a random factor (with their level map)
    lambda_level: float = 1.0  # level-aware G: weight of the estimator's L1 to the true level map
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

    def __post_init__(self) -> None:
        _check_schedule(self.steps, self.lr, self.decay_from, self.log_every, self.save_every, self.val_every,
                        self.keep_checkpoints)
        _require(self.patch_size >= 32 and self.patch_size % 8 == 0,
                 f"--patch-size must be a multiple of 8 and at least 32, not {self.patch_size}")
        _require(self.batch_size >= 1, f"--batch-size must be at least 1, not {self.batch_size}")
        _require(0.0 <= self.gray_fraction <= 1.0, f"--gray-fraction must be between 0 and 1, not {self.gray_fraction}")
        _require(self.workers >= 0, f"--workers must be 0 or more, not {self.workers}")
        _require(0.0 <= self.clean_jpeg_fraction <= 1.0,
                 f"--clean-jpeg-fraction must be between 0 and 1, not {self.clean_jpeg_fraction}")


@dataclass(frozen=True)
class AdaptConfig:
    """`adapt`: teach a model the noise of the user's own photos, unpaired, within a budget.

    Two phases, each a run of the loop: the noise phase fine-tunes F (with D_noisy) on the noisy folder against
    clean photos, by F's adversarial, noise-statistics and identity losses (the CycleGAN step's half for F);
    the refine phase fine-tunes G on F's pseudo-pairs. The budget is wall-clock `minutes` (turned into step
    counts by timing a few steps of each phase) or `steps`; `noise_share` of it goes to the noise phase.
    """

    noisy_dir: str = ""
    clean_dir: str = ""  # empty: the clean photos bundled with scikit-image (the training pool, never held-out)
    start: str = "default"  # a shipped model's name, or a folder with G.safetensors, F.safetensors (D_noisy)
    minutes: float = 20.0  # wall-clock budget, used when steps is 0
    steps: int = 0  # total steps of both phases instead of a time budget
    noise_share: float = 0.4  # share of the budget (time, or steps) for the noise phase; the rest refines G
    noise_steps: int = 0  # resolved before step 1 (from steps, or from minutes by timing), then fixed
    refine_steps: int = 0
    patch_size: int = 64
    batch_size: int = 8  # noise phase
    refine_batch_size: int = 16
    lr: float = 2e-4  # noise phase (F; D_noisy the same)
    refine_lr: float = 1e-4  # G is fine-tuned, not trained afresh
    decay_from: float = 0.5
    lambda_stats: float = 1.0  # F's noise-statistics matching: what sees the noise's amplitude
    lambda_identity: float = 5.0  # F's identity L1 on the noisy photos (the CycleGAN's 0.5 x lambda_cycle)
    pool_size: int = 50
    clean_fraction: float = 0.1  # refine phase, level-aware G: share of samples left clean
    lambda_level: float = 1.0
    gray_fraction: float = 0.1  # refine phase only: the noise phase never turns a photo gray
    seed: int = 0
    log_every: int = 10
    save_every: int = 100
    keep_checkpoints: int = 2
    device: str = "auto"
    precision: str = "auto"
    workers: int = 0

    def __post_init__(self) -> None:
        _require(math.isfinite(self.minutes) and self.minutes > 0, f"--minutes must be positive, not {self.minutes}")
        _require(self.steps >= 0, f"--steps must be positive, not {self.steps}")
        _require(self.steps == 0 or self.steps >= 2, "--steps must be at least 2 (one per phase)")
        _require(0.0 < self.noise_share < 1.0, f"--noise-share must be between 0 and 1, not {self.noise_share}")
        _require(self.noise_steps >= 0 and self.refine_steps >= 0, "phase steps must be 0 or more")
        _require(self.patch_size >= 32 and self.patch_size % 8 == 0,
                 f"--patch-size must be a multiple of 8 and at least 32, not {self.patch_size}")
        for name, value in (("--batch-size", self.batch_size), ("--refine-batch-size", self.refine_batch_size),
                            ("--log-every", self.log_every), ("--save-every", self.save_every),
                            ("keep_checkpoints", self.keep_checkpoints)):
            _require(value >= 1, f"{name} must be at least 1, not {value}")
        for name, value in (("--lr", self.lr), ("--refine-lr", self.refine_lr)):
            _require(_positive(value), f"{name} must be a positive number, not {value}")
        for name, value in (("--lambda-stats", self.lambda_stats), ("--lambda-identity", self.lambda_identity),
                            ("lambda_level", self.lambda_level)):
            _require(math.isfinite(value) and value >= 0, f"{name} must be 0 or more, not {value}")
        _require(0.0 <= self.decay_from <= 1.0, f"decay_from must be between 0 and 1, not {self.decay_from}")
        _require(0.0 <= self.clean_fraction < 1.0, f"clean_fraction must be in [0, 1), not {self.clean_fraction}")
        _require(0.0 <= self.gray_fraction <= 1.0, f"--gray-fraction must be between 0 and 1, not {self.gray_fraction}")
        _require(self.pool_size >= 0, f"--pool-size must be 0 or more, not {self.pool_size}")
        _require(self.workers >= 0, f"--workers must be 0 or more, not {self.workers}")
        _require(not (self.clean_dir and self.noisy_dir
                      and os.path.realpath(self.clean_dir) == os.path.realpath(self.noisy_dir)),
                 f"--clean and --noisy are the same folder ({self.clean_dir}); the two must be independent")


def _check_schedule(steps: int, lr: float, decay_from: float, log_every: int, save_every: int, val_every: int,
                    keep: int) -> None:
    """The fields train and refine share: how long, how fast, how often."""
    _require(steps >= 1, f"--steps must be at least 1, not {steps}")
    _require(_positive(lr), f"--lr must be a positive number, not {lr}")
    _require(0.0 <= decay_from <= 1.0, f"decay_from must be between 0 and 1, not {decay_from}")
    for name, value in (("--log-every", log_every), ("--save-every", save_every), ("keep_checkpoints", keep)):
        _require(value >= 1, f"{name} must be at least 1, not {value}")
    _require(val_every >= 0, f"--val-every must be 0 or more, not {val_every}")


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
        ftype = _optional_dataclass(hints[key]) if value is not None else hints[key]
        kwargs[key] = from_dict(ftype, value) if dataclasses.is_dataclass(ftype) else _checked(cls, key, ftype, value)
    return cls(**kwargs)


def _optional_dataclass(ftype: Any) -> Any:
    """The dataclass of an ``X | None`` hint (a nested config that may be absent), else the hint itself."""
    args = [a for a in typing.get_args(ftype) if a is not type(None)]
    if type(None) in typing.get_args(ftype) and len(args) == 1 and dataclasses.is_dataclass(args[0]):
        return args[0]
    return ftype


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
