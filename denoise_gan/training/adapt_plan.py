"""`adapt`'s plan: a --steps count split between the phases, or a --minutes budget turned into step counts.

Minutes become steps by timing a few steps of each phase on its real networks and data; the time spent loading
and timing counts against the budget, and a budget too small for a useful run is refused up front with the least
that works, never discovered after the compute is spent.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from data_tools.datasets import PairedPatches, PatchSampler, UnpairedPatches
from denoise_gan.config import MAX_STEPS, AdaptConfig
from denoise_gan.errors import UserError
from denoise_gan.runtime import World, resolve_device, training_precision
from denoise_gan.training.adapt_noise import NoiseFitTrainer
from denoise_gan.training.adapt_refine import AdaptRefiner, refine_config
from denoise_gan.training.adapt_start import StartModel
from denoise_gan.training.batches import batch_iterator
from denoise_gan.training.refine import SourceModel

REPORT_SECONDS = 15.0  # kept back from a time budget for the noise-fit report and the before/after strip
END_REPORT_SECONDS = 3.0  # the least of it kept for the end's reports (256-px photos took 1.5 s, larger more)
TRIAL_STEPS = 3  # timed steps per phase (after one untimed) to turn minutes into steps
MIN_PHASE_STEPS = 20  # a --minutes plan gives each phase at least this many steps, or it is refused up front


@dataclass
class AdaptData:
    """The photos an adaptation learns from, and each phase's dataset of them."""

    clean: list[np.ndarray]
    noisy: list[np.ndarray]
    note: str = ""  # which noisy photos were used (and which left out), for the report

    def noisy_sampler(self, cfg: AdaptConfig, channels: int) -> PatchSampler:
        """The noisy photos' patches, never turned gray by luma (a gray-only model's are one channel of them)."""
        return PatchSampler(self.noisy, cfg.patch_size, channels, 0.0, noisy_photos=True)

    def noise_dataset(self, cfg: AdaptConfig, channels: int) -> UnpairedPatches:
        return UnpairedPatches(PatchSampler(self.clean, cfg.patch_size, channels, 0.0),
                               self.noisy_sampler(cfg, channels), cfg.seed)

    def refine_dataset(self, cfg: AdaptConfig, channels: int) -> PairedPatches:
        return PairedPatches(PatchSampler(self.clean, cfg.patch_size, channels, cfg.gray_fraction), cfg.seed)


# a denoiser step against a noise-model step, for a budget that ran out before the denoiser phase was timed: above
# the 1.4x to 3.2x seen on 2 CPU cores, so the least --minutes named is not refused again once both are timed
UNTIMED_REFINE_RATIO = 4.0


class _OverBudget(Exception):
    """The timing ran past the budget: the seconds per step seen so far."""

    def __init__(self, per_step: float) -> None:
        super().__init__(per_step)
        self.per_step = per_step


def check_budget(cfg: AdaptConfig, t0: float) -> None:
    """Refuse at once a --minutes budget that cannot even hold the reports, before anything is loaded."""
    if cfg.steps:
        return
    left = cfg.minutes * 60.0 - (time.monotonic() - t0) - REPORT_SECONDS
    if left <= 0:
        raise UserError(f"--minutes {cfg.minutes:g} is too short: {REPORT_SECONDS:.0f} s of it are kept for the "
                        f"reports alone; give a few minutes (a budget over {REPORT_SECONDS:.0f} s is timed on this "
                        "machine, and if still short refused with the least that works here), or --steps N")


def check_device(cfg: AdaptConfig) -> None:
    """Refuse at once a --device or --precision this machine cannot run, before the folder is written: found
    at the first step, it left a folder that only looked like a result and could not be resumed."""
    training_precision(cfg.precision, resolve_device(cfg.device))


def least_minutes(spent: float, per_noise: float, per_refine: float, share: float) -> float:
    """The smallest --minutes whose plan gives each phase MIN_PHASE_STEPS steps at these speeds, after ``spent``
    seconds of loading and timing (rounded up to a tenth of a minute)."""
    need = MIN_PHASE_STEPS * max(per_noise / share, per_refine / (1.0 - share))
    return math.ceil((spent + REPORT_SECONDS + need) / 6.0) / 10.0


def refine_extension(fit_seconds: float) -> float:
    """Seconds the denoiser phase's deadline moves on once the noise-fit report took ``fit_seconds``: what
    REPORT_SECONDS holds beyond that report and the end's (the before/after strip and G's graph, kept as long as
    the first took, and END_REPORT_SECONDS at least), and never less than the report's own time. A fixed reserve
    cut the denoiser phase of short runs that then ended with the budget's seconds unused, and exit 2 where the
    plan had just accepted the budget."""
    end = max(fit_seconds, END_REPORT_SECONDS)
    return max(min(fit_seconds, REPORT_SECONDS / 2), REPORT_SECONDS - fit_seconds - end)


def plan_phases(cfg: AdaptConfig, start: StartModel, data: AdaptData, out_dir: Path, t0: float,
                console: Console) -> tuple[AdaptConfig, tuple[float | None, float | None]]:
    """Fix the two phases' step counts: from --steps by the share, or from --minutes by timing a few steps of
    each phase on its real networks and data. The time spent before and while timing counts against the budget,
    the timing stops when the budget is gone, and a budget too small for MIN_PHASE_STEPS steps per phase is a
    UserError naming the least that works. Returns the config and each phase's deadline (monotonic clock)."""
    if cfg.steps:
        noise = max(1, min(cfg.steps - 1, round(cfg.steps * cfg.noise_share)))
        cfg = dataclasses.replace(cfg, noise_steps=noise, refine_steps=cfg.steps - noise)
        console.print(f"plan: {cfg.noise_steps} noise-model steps, then {cfg.refine_steps} denoiser steps")
        return cfg, (None, None)
    budget_end = t0 + cfg.minutes * 60.0 - REPORT_SECONDS
    device = resolve_device(cfg.device)
    probe = dataclasses.replace(cfg, noise_steps=TRIAL_STEPS + 1, refine_steps=TRIAL_STEPS + 1)
    world, ch = World(), start.config(start.g).channels
    rng_before = torch.get_rng_state()
    per_noise = per_refine = 0.0
    try:
        noise_trainer = NoiseFitTrainer(probe, start, data.noisy_sampler(probe, ch), out_dir, device, world)
        per_noise = _time_steps(noise_trainer, data.noise_dataset(probe, ch), probe.batch_size, budget_end)
        source = SourceModel(start.config(start.g))
        refiner = AdaptRefiner(refine_config(probe, out_dir), source, probe, out_dir, device, world)
        per_refine = _time_steps(refiner, data.refine_dataset(probe, ch), probe.refine_batch_size, budget_end)
    except _OverBudget as over:
        untimed = not per_noise  # the budget ran out in the noise phase: the denoiser phase was never timed
        per_noise, per_refine = (per_noise, over.per_step) if per_noise else \
            (over.per_step, UNTIMED_REFINE_RATIO * over.per_step)
        spent = time.monotonic() - t0
        to_come = (TRIAL_STEPS + 1) * per_refine if untimed else 0.0  # its timing, which a rerun spends too
        least = least_minutes(spent + to_come, per_noise, per_refine, cfg.noise_share)
        raise UserError(f"--minutes {cfg.minutes:g} is too short: loading and timing alone took {spent:.0f} s here; "
                        f"give at least --minutes {least:g} (estimated from the steps timed so far: the load of the "
                        "machine moves it), or --steps N for a trial of that many steps") from None
    finally:
        torch.set_rng_state(rng_before)
    now = time.monotonic()
    spent, left = now - t0, budget_end - now
    noise_s, refine_s = cfg.noise_share * left, (1 - cfg.noise_share) * left
    noise_steps, refine_steps = (min(int(s / per), MAX_STEPS) for s, per in ((noise_s, per_noise),
                                                                             (refine_s, per_refine)))
    if min(noise_steps, refine_steps) < MIN_PHASE_STEPS:
        raise UserError(f"--minutes {cfg.minutes:g} is too short here: after {spent:.0f} s of loading and timing it "
                        f"leaves {max(noise_steps, 0)} noise-model and {max(refine_steps, 0)} denoiser steps "
                        f"({per_noise:.2f} and {per_refine:.2f} s/step), and each phase needs {MIN_PHASE_STEPS}; "
                        f"give at least --minutes {least_minutes(spent, per_noise, per_refine, cfg.noise_share):g}, "
                        "or --steps N")
    cfg = dataclasses.replace(cfg, noise_steps=noise_steps, refine_steps=refine_steps)
    console.print(f"plan ({cfg.minutes:g} min, {spent:.0f} s of it spent loading and timing): noise model "
                  f"{cfg.noise_steps} steps (~{noise_s / 60:.1f} min, {per_noise:.2f} s/step), then denoiser "
                  f"{cfg.refine_steps} steps (~{refine_s / 60:.1f} min, {per_refine:.2f} s/step)", soft_wrap=True)
    # deadlines are a safety net for a machine that slows down: the noise phase may overrun its share by a
    # quarter; the refine phase ends with the budget, whatever the noise phase took
    return cfg, (now + 1.25 * noise_s, budget_end)


def _time_steps(trainer: Any, dataset: Any, batch_size: int, give_up_at: float | None = None) -> float:
    """Seconds per step (data included), from TRIAL_STEPS steps after one untimed step. Past ``give_up_at``
    (monotonic) it stops with _OverBudget: timing must not spend a budget it is meant to plan."""
    batches = batch_iterator(dataset, batch_size, 0, TRIAL_STEPS + 1, World(), 0, 0)
    first = time.perf_counter()
    trainer.step(0, next(batches))
    began = time.perf_counter()
    for i in range(TRIAL_STEPS):
        if give_up_at is not None and time.monotonic() > give_up_at:
            raise _OverBudget((time.perf_counter() - first) / (i + 1))
        trainer.step(i + 1, next(batches))
    if give_up_at is not None and time.monotonic() > give_up_at:
        raise _OverBudget((time.perf_counter() - first) / (TRIAL_STEPS + 1))
    return max((time.perf_counter() - began) / TRIAL_STEPS, 1e-4)


