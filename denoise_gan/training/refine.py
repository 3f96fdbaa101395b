"""Pseudo-pair refinement: train G on (F(clean), clean) with a plain L1 loss (or L2: ``--loss l2``).

This is the step that makes an unpaired denoiser competitive (GCBD, C2N, LUD-VAE all do it): after CycleGAN
training, F is a sampler of realistic noise, so every step can draw fresh noisy versions of fresh clean crops and
G learns a supervised mapping without any real pair. The plain CycleGAN G only fools D_clean and keeps the cycle.

A level-aware G learns more from F than pairs: F reports the per-pixel noise level it drew, so G learns to
denoise given that map and its estimator learns to read the map off the noisy image, with no pair and no
noise model of the user's. A share of samples is left clean with a zero map, so a clean photo comes back
as it went in. The estimator may also read draws of a named spec (``--estimator-noise``) at their measured level:
noise F does not draw (a camera's demosaiced, JPEG-compressed grain) is then read at its size, while G's denoiser
still learns from F alone.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as nnf
from rich.console import Console
from torch import nn

from data_tools.atomic_files import FolderBusyError
from data_tools.datasets import PairedPatches, PatchSampler, build_domains
from data_tools.file_digest import file_sha256
from data_tools.noise import parse_noise_spec
from data_tools.output_folders import refuse_output_inside_inputs
from data_tools.paths import real_path
from data_tools.training_folders import refuse_val_from_training, val_drawn_from_training
from denoise_gan.config import GeneratorConfig, RefineConfig, TrainConfig
from denoise_gan.config_json import to_dict
from denoise_gan.errors import DataError, UserError
from denoise_gan.nets.contract import denoiser_contract
from denoise_gan.nets.generator_names import LEVEL_MAX_BOUNDS
from denoise_gan.nets.registry import build_generator, count_parameters, init_weights
from denoise_gan.nets.run_folder import RunFolder
from denoise_gan.nets.shipped import resolve_weights
from denoise_gan.nets.weights import load_generator, load_state, save_generator
from denoise_gan.runtime import World, autocast, training_precision
from denoise_gan.training.batches import batch_iterator
from denoise_gan.training.distributed import average_gradients, broadcast_parameters, holding_run_folder
from denoise_gan.training.input_record import note_inputs, recorded_sha256
from denoise_gan.training.loop import Cadence, launch
from denoise_gan.training.new_run_inputs import load_source_config
from denoise_gan.training.noise_variants import correlate_some, fade_some, whiten_some
from denoise_gan.training.refine_start import check_refine, check_start, start_weights, starts_new_g
from denoise_gan.training.run_open import discarded_if_refused, open_run, require_config, warn_if_unfinished
from denoise_gan.training.run_weights import run_description, write_graph
from denoise_gan.training.schedule import linear_decay, load_optimizer, load_scheduler, rng_state, set_rng_state
from denoise_gan.training.unused_options import unused_options
from denoise_gan.training.validation import LazyValidator
from denoise_gan.warning_line import say_for_the_run

CLEAN_JPEG = "jpeg:quality=70-95"  # what a camera or a photo site leaves on a clean photo


@dataclass(frozen=True)
class SourceModel:
    """What refinement takes from the model it starts from: G's architecture (fine-tuned when the new G is the
    same), the weight initialisation of a new G, and what the exported file records about the training data."""

    g: GeneratorConfig
    init_std: float = 0.02
    description: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_run(cls, run: TrainConfig) -> SourceModel:
        return cls(run.model.g, run.init_std, run_description(run))


class RefineTrainer:
    log_fields: ClassVar[tuple[str, ...]] = ("loss", "level")

    def __init__(self, cfg: RefineConfig, source: SourceModel, device: torch.device, world: World) -> None:
        self.cfg, self.source, self.device, self.world = cfg, source, device, world
        run = RunFolder(cfg.run_dir)
        self.g_cfg = cfg.generator or source.g
        if cfg.init:
            self.g, self.g_cfg = start_weights(cfg.init, cfg.generator)
        elif starts_new_g(cfg, source.g):
            self.g = build_generator(self.g_cfg)
            init_weights(self.g, source.init_std)
        else:
            self.g = load_generator(run.g, calibrated=False)[0]
        self.level_aware = denoiser_contract(self.g).level_aware
        self.level_peak: torch.Tensor | None = None  # the highest level G was trained on since the last save
        trained = self.g.estimator if cfg.estimator_only else self.g
        if cfg.estimator_only:
            self.g.denoiser.requires_grad_(False)
        self.f = None if cfg.noise else load_generator(run.f)[0].to(device).eval()
        if self.f is not None:
            self.f.requires_grad_(False)
        self.g.to(device).train()
        broadcast_parameters(self.g, world)
        self.opt = torch.optim.Adam(trained.parameters(), lr=cfg.lr, betas=(0.9, 0.999))
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, linear_decay(cfg.steps, cfg.decay_from))
        self.validator = LazyValidator(cfg.val_dir, device)
        self.amp_dtype = training_precision(cfg.precision, device)

    @torch.no_grad()
    def pseudo_pair(self, clean: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A fresh draw of F(clean), clipped and rounded like the 8-bit files G will meet (when asked), and the
        per-pixel level F drew (a generator without ``sample`` reports none: zeros)."""
        assert self.f is not None
        sample = getattr(self.f, "sample", None)
        noisy, level = sample(clean) if callable(sample) else (self.f(clean), torch.zeros_like(clean))
        noisy, level = self.vary(clean, noisy, level)
        if self.cfg.quantize:
            noisy = torch.round(noisy.clamp(0, 1) * 255.0) / 255.0
        return noisy, level

    def vary(self, clean: torch.Tensor, noisy: torch.Tensor,
             level: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """F's draws with the shares asked for made spatially white, correlated or faint, in that order.

        Each variant is applied to the draw's noise and added back to ``clean`` before the next one: recomposing
        once at the end rounds differently (rarely, but enough to change a run), and this is the arithmetic the
        shipped default was trained with, so ``reproduce.sh`` rebuilds it bit for bit."""
        if self.cfg.white_fraction > 0:
            noisy = clean + whiten_some(noisy - clean, self.cfg.white_fraction)
        if self.cfg.correlated_fraction > 0:
            noisy = clean + correlate_some(noisy - clean, self.cfg.correlated_fraction)
        if self.cfg.faint_fraction > 0:
            noise, level = fade_some(noisy - clean, level, self.cfg.faint_fraction)
            noisy = clean + noise
        return noisy, level

    @torch.no_grad()
    def leave_some_clean(self, clean: torch.Tensor, noisy: torch.Tensor, level: torch.Tensor,
                         compressed: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A share of the samples without noise and with a zero map: G learns that level 0 means 'leave it'.
        Of those, a share is a JPEG-compressed clean photo, input and target alike: the estimator reads block
        edges as noise unless it has seen them at level 0 (measured: clean JPEG photos came back at 27-33 dB).

        Returns G's input, its target and the level map."""
        shape = (clean.shape[0], 1, 1, 1)
        keep = torch.rand(shape, device=clean.device) < self.cfg.clean_fraction
        if compressed is not None:
            jpeg = torch.rand(shape, device=clean.device) < self.cfg.clean_jpeg_fraction
            clean_in = torch.where(jpeg, compressed, clean)
        else:
            clean_in = clean
        return (torch.where(keep, clean_in, noisy), torch.where(keep, clean_in, clean),
                torch.where(keep, torch.zeros_like(level), level))

    def estimator_samples(self, batch: dict[str, torch.Tensor], noisy: torch.Tensor,
                          level: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The estimator's input and target: G's, with a share of the samples replaced by ``--estimator-noise``
        draws and their measured level maps (G's denoiser never sees those)."""
        if self.cfg.estimator_noise_fraction == 0:
            return noisy, level
        pick = torch.rand(noisy.shape[0], device=noisy.device) < self.cfg.estimator_noise_fraction
        pick = pick[:, None, None, None]
        return (torch.where(pick, batch["estimator_noisy"].to(self.device), noisy),
                torch.where(pick, batch["estimator_level"].to(self.device), level))

    def reconstruction(self, pred: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        return nnf.l1_loss(pred.float(), clean) if self.cfg.loss == "l1" else nnf.mse_loss(pred.float(), clean)

    def step(self, step: int, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        clean = batch["clean"].to(self.device, non_blocking=True)
        if "noisy" in batch:
            noisy = batch["noisy"].to(self.device)
            level = batch["level"].to(self.device) if "level" in batch else torch.zeros_like(clean)
        else:
            noisy, level = self.pseudo_pair(clean)
        out: dict[str, float] = {}
        with autocast(self.device, self.amp_dtype):
            if self.level_aware:
                compressed = batch["clean_variant"].to(self.device) if "clean_variant" in batch else None
                noisy, target, level = self.leave_some_clean(clean, noisy, level, compressed)
                estimator_in, estimator_level = self.estimator_samples(batch, noisy, level)
                level_loss = nnf.l1_loss(self.g.estimator(estimator_in).float(), estimator_level)
                out["level"] = level_loss.item() * 255.0  # mean level error on the 0-255 scale
                if self.cfg.estimator_only:  # the logged loss is then the estimator's
                    loss = total = level_loss
                else:
                    loss = self.reconstruction(self.g.denoiser(noisy, level), target)
                    total = loss + self.cfg.lambda_level * level_loss
                    self.record_level_max(level)
            else:
                loss = total = self.reconstruction(self.g(noisy), clean)
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        average_gradients(self.g, self.world)
        self.opt.step()
        self.sched.step()
        return {"loss": loss.item(), **out}

    def record_level_max(self, level: torch.Tensor) -> None:
        """Keep the highest level G is trained on, on its device (no sync per step); ``settle_level_max`` makes
        it G's cap."""
        peak = level.detach().amax()
        self.level_peak = peak if self.level_peak is None else torch.maximum(self.level_peak, peak)

    def settle_level_max(self) -> None:
        """Raise G's cap on its level map to the highest level it has been trained on (0-255 scale, rounded up
        to a tenth, within LEVEL_MAX_BOUNDS), where that passes LEVEL_MAX: denoising caps the map there, and no
        lower. (Under torchrun, the main process's batches: every rank draws from the same family.)"""
        if self.level_peak is None:
            return
        seen = math.ceil(float(self.level_peak) * 2550.0 - 1e-3) / 10.0  # (float error is not a level)
        self.g.level_max = max(self.g.level_max, min(seen, LEVEL_MAX_BOUNDS[1]))

    def lr(self) -> float:
        return self.opt.param_groups[0]["lr"]

    def step_modules(self) -> list[nn.Module]:
        if self.level_aware:
            return [self.g.estimator] if self.cfg.estimator_only else [self.g.denoiser, self.g.estimator]
        return [self.g]

    def describe(self) -> str:
        pairs = f"synthetic {self.cfg.noise}" if self.cfg.noise else "F(clean)"
        kind = f"{self.g_cfg.arch}, level-aware" if self.level_aware else self.g_cfg.arch
        return f"G ({kind}): {count_parameters(self.g) / 1e6:.2f} M  pairs: {pairs}"

    def state(self, step: int) -> dict[str, Any]:
        self.settle_level_max()
        return {"kind": "refine", "step": step, "config": to_dict(self.cfg), "g": self.g.state_dict(),
                "opt": self.opt.state_dict(), "sched": self.sched.state_dict(), "rng": rng_state(),
                **({"level_max": self.g.level_max} if self.level_aware else {})}

    def load(self, state: dict[str, Any], where: str) -> None:
        load_state(self.g, state["g"], f"{where} (G)")
        if self.level_aware and isinstance(state.get("level_max"), (int, float)):  # older checkpoints: none
            self.g.level_max = max(self.g.level_max, float(state["level_max"]))
        load_optimizer(self.opt, state["opt"])
        load_scheduler(self.sched, state["sched"])
        set_rng_state(state["rng"])

    def export(self, run_dir: Path, step: int) -> None:
        self.settle_level_max()
        how = f"supervised on {self.cfg.noise}" if self.cfg.noise else "pseudo-pairs from F"
        save_generator(RunFolder(run_dir).g, self.g, self.g_cfg,
                       {"step": step, "role": "G noisy->clean", "trained_by": f"denoise-gan refine ({how})",
                        "source_run": self.cfg.run_dir, **self.source.description,
                        **({"noise_family": self.cfg.noise} if self.cfg.noise else {})})

    def validate(self, run_dir: Path, step: int) -> dict[str, float]:
        self.settle_level_max()  # G validated under the cap its file of this step records
        return self.validator(self.g, run_dir, step, noise_model=self.f)


def make_dataset(cfg: RefineConfig, source: TrainConfig) -> PairedPatches:
    """Clean images of the source run's clean domain only: the noisy half stays unseen as clean data."""
    d = source.data
    try:
        clean, _, _ = build_domains(d.clean_dir, d.noisy_dir, d.noise, cfg.patch_size, read_noisy=False)
    except FolderBusyError:  # a synth writing its half now: exit 1, as said
        raise
    except DataError as exc:  # runs from before paths were stored absolute name them as typed
        relative = bool(d.clean_dir) and not Path(d.clean_dir).is_absolute()
        raise UserError(f"{exc}{' (relative to where `train` ran)' if relative else ''}") from None
    spec = parse_noise_spec(cfg.noise) if cfg.noise else None
    sampler = PatchSampler(clean, cfg.patch_size, source.model.g.channels, cfg.gray_fraction, spec,
                           cfg.detail_fraction, cfg.pattern_fraction, cfg.colour_cast_fraction)
    variant = parse_noise_spec(CLEAN_JPEG) if cfg.clean_jpeg_fraction > 0 else None
    for_estimator = parse_noise_spec(cfg.estimator_noise) if cfg.estimator_noise else None
    return PairedPatches(sampler, cfg.seed, clean_variant=variant,
                         estimator_noise=for_estimator)


F_INPUT = "the run's F"  # its entry in the refinement's inputs.json


def input_folders(cfg: RefineConfig, source: TrainConfig) -> dict[str, str]:
    """The image folders a refinement reads, by the option that names them, and the run's F when it draws the
    pseudo-pairs (a `train --resume` between two refine sessions replaces it)."""
    folders = {"the run's --clean": source.data.clean_dir, "--val": cfg.val_dir}
    return folders if cfg.noise else {**folders, F_INPUT: str(RunFolder(cfg.run_dir).f)}


def refine(cfg: RefineConfig | None, out_dir: Path, resume: bool = False, steps: int | None = None,
           console: Console | None = None, run_dir: Path | None = None, device: str | None = None) -> Path:
    """Refine (or resume refining) G; the result is out_dir/G.safetensors. ``run_dir`` on a resume: the train
    run the user named, checked against the one stored (or taken for it, when the stored one has moved);
    ``device``: the one it goes on on (a refinement started on a GPU goes on on the CPU)."""
    out_dir = Path(out_dir)
    source = None
    if not resume:
        cfg = require_config(cfg, "RefineConfig")
    if cfg is not None:  # a new run: checked before its folder is made
        check_refine(cfg, out_dir)
        source = load_source_config(Path(cfg.run_dir))
        # and not inside the run's --noisy, which refine never reads but the run's `train --resume` does
        refuse_output_inside_inputs(out_dir, {**input_folders(cfg, source), "the run's --noisy": source.data.noisy_dir})
        check_start(cfg, source)
        if cfg.val_dir:  # G trains on the run's clean photos (and never reads its noisy ones)
            training = {"the run's --clean": source.data.clean_dir}
            refuse_val_from_training(cfg.val_dir, training)
            say_for_the_run(console, val_drawn_from_training(cfg.val_dir, training))
        say_for_the_run(console, *unused_options(cfg))
        if not cfg.noise:  # pseudo-pairs from the run's F (a --noise spec never reads it)
            warn_if_unfinished(RunFolder(cfg.run_dir).f)
        if cfg.init:  # the G it starts from, as that run left it; a folder is recorded as the file it holds
            weights = resolve_weights(cfg.init)
            warn_if_unfinished(weights)
            cfg = dataclasses.replace(cfg, init=str(weights)) if Path(cfg.init).is_dir() else cfg
    with nullcontext() if resume else discarded_if_refused(out_dir):
        return _refine(cfg, source, out_dir, resume, steps, console, run_dir, device)


def _named_run(cfg: RefineConfig, named: Path, out_dir: Path) -> RefineConfig:
    """The stored config, with the train run the user named on the resume: the same folder; or, where the stored
    one is gone, the named one: a refinement inside it moved with it, whatever its F holds now (a `train
    --resume` replaces F; in place, a warning), one elsewhere must find the F it recorded there. Another
    existing run is refused: the refinement is of the run stored (it went on silently with that one)."""
    stored = Path(cfg.run_dir)
    if real_path(named) == real_path(stored):
        return cfg
    if stored.exists():
        raise UserError(f"{out_dir} refines the run in {stored}, not {named}; give that run folder, or another -o "
                        f"for a refinement of {named}")
    f_sha = recorded_sha256(out_dir, F_INPUT)  # moved: the named run must hold the F the refinement recorded
    f_file, inside = RunFolder(named).f, real_path(out_dir).is_relative_to(real_path(named))
    if not inside and f_sha is not None and (not f_file.is_file() or file_sha256(f_file) != f_sha):
        raise UserError(f"{out_dir} refines the run that was in {stored}, not {named} (its F is not the one the "
                        f"refinement recorded); give the folder that run moved to, or another -o for a refinement "
                        f"of {named}")
    if f_sha is None and not inside:  # (an older refinement's)
        say_for_the_run(None, f"{out_dir} records no F to check {named} against, so it goes on with that run's F, "
                              f"whatever it holds: name the folder the run in {stored} moved to")
    return dataclasses.replace(cfg, run_dir=str(real_path(named)))


def _refine(cfg: RefineConfig | None, source: TrainConfig | None, out_dir: Path, resume: bool, steps: int | None,
            console: Console | None, run_dir: Path | None = None, device: str | None = None) -> Path:
    cfg, start, state = open_run(out_dir, "refine", RefineConfig, cfg, resume, steps, device)
    if source is None:  # resumed: the config read from its checkpoint
        cfg = cfg if run_dir is None else _named_run(cfg, run_dir, out_dir)
        check_refine(cfg, out_dir)
        source = load_source_config(Path(cfg.run_dir))
        check_start(cfg, source, new=False)
    cadence = Cadence.of_run(cfg)

    def build(device: torch.device, world: World) -> tuple[RefineTrainer, Iterator[dict[str, torch.Tensor]]]:
        dataset = make_dataset(cfg, source)
        return (RefineTrainer(cfg, SourceModel.of_run(source), device, world),
                batch_iterator(dataset, cfg.batch_size, start, cfg.steps, world, cfg.workers, cfg.seed))

    console = console or Console()
    with holding_run_folder(out_dir, "refinement", new=not resume):  # a second process is refused
        note_inputs(out_dir, input_folders(cfg, source), resume, console)
        launch(out_dir, cfg, start, state, cfg.device, cfg.seed, cadence, build, console)
    return write_graph(RunFolder(out_dir).g)
