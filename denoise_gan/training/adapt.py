"""`adapt`: learn the noise of the user's own photos, unpaired, and a denoiser for it, within a budget.

A user has a folder of noisy photos from one camera and no clean twin of any of them. Starting from a trained
model (the shipped one, or a run), two phases, each a run of the loop (checkpoints, exact resume, Ctrl-C):

1. noise (``OUT/noise``): F, the clean->noisy noise model, is fine-tuned with its discriminator D_noisy on
   random crops of the noisy photos against clean photos, by the CycleGAN step's half for F: adversarial,
   identity, and the noise-statistics loss, which sees the noise's amplitude, colour and spatial correlation
   that a PatchGAN barely sees. G plays no part (F gets no cycle gradient in the CycleGAN either).
2. refine (``OUT/refine``): G is fine-tuned on pseudo-pairs (F(clean), clean), as `refine` does.

The noisy photos are never resized (that would change their noise): patches are cropped from them. A budget in
minutes becomes step counts by timing a few steps of each phase; the counts are then fixed in the config (so a
resumed run does exactly the same steps), and a deadline stops a phase early if the machine slows down.
Outputs: ``G.safetensors`` (the denoiser), ``F.safetensors`` and ``D_noisy.safetensors`` (so the folder can be
the start of another adapt), ``noise_fit.json``/``.md``/``.png`` (F's noise against the folder's, before and
after, with σ histograms) and ``before_after.png`` (a few of the user's photos: noisy | start model | adapted,
labelled).

A folder whose adaptation stopped before its first step (Ctrl-C while loading or timing) holds only its request
(``config.json``) and copies of the start model: ``--resume`` starts it again, and a new run may replace it.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.markup import escape

from data_tools.atomic_files import atomic_write_bytes, prepare_output_dir
from data_tools.datasets import PairedPatches, PatchSampler, UnpairedPatches
from data_tools.errors import DataError
from denoise_gan.config import AdaptConfig, GeneratorConfig, RefineConfig
from denoise_gan.errors import UserError
from denoise_gan.nets.run_folder import CONFIG_FILE, F_FILE, G_FILE, RunFolder
from denoise_gan.nets.weights import load_denoiser, save_generator
from denoise_gan.runtime import World, resolve_device
from denoise_gan.training.adapt_noise import (  # noqa: F401 (callers and tests read these from adapt)
    MIN_NOISY_PHOTOS,
    NoiseFitTrainer,
    NoisyPhotos,
    clean_pool,
    colour_noise_f,
    noisy_photos,
    read_photos,
    training_data,
)
from denoise_gan.training.adapt_refine import AdaptRefiner, refine_config
from denoise_gan.training.adapt_reports import write_before_after, write_noise_fit
from denoise_gan.training.adapt_start import (  # noqa: F401 (callers and tests read these from adapt)
    StartModel,
    check_roles,
    find_start,
    start_discriminator,
)
from denoise_gan.training.batches import batch_iterator
from denoise_gan.training.cyclegan import write_graph
from denoise_gan.training.distributed import holding_run_folder
from denoise_gan.training.input_record import RECORD_FILE, note_inputs
from denoise_gan.training.loop import Cadence, latest_checkpoint, launch, open_run
from denoise_gan.training.refine import SourceModel

REPORT_SECONDS = 15.0  # kept back from a time budget for the noise-fit report and the before/after strip
TRIAL_STEPS = 3  # timed steps per phase (after one untimed) to turn minutes into steps
MIN_PHASE_STEPS = 20  # a --minutes plan gives each phase at least this many steps, or it is refused up front
START_FILES = frozenset({CONFIG_FILE, RECORD_FILE, G_FILE, F_FILE})  # all an unstarted adaptation holds
PHASES = (("noise", "noise model"), ("refine", "denoiser"))  # phase folder, and its name in messages


# ---- the whole adaptation ------------------------------------------------------------------------

@dataclass
class _Data:
    clean: list[np.ndarray]
    noisy: list[np.ndarray]
    note: str = ""  # which noisy photos were used (and which left out), for the report

    def noise_dataset(self, cfg: AdaptConfig, channels: int, world: World) -> UnpairedPatches:
        return UnpairedPatches(PatchSampler(self.clean, cfg.patch_size, channels, 0.0),
                               PatchSampler(self.noisy, cfg.patch_size, channels, 0.0), cfg.seed,
                               length=(cfg.noise_steps + 1) * cfg.batch_size * world.size)

    def refine_dataset(self, cfg: AdaptConfig, channels: int, world: World) -> PairedPatches:
        return PairedPatches(PatchSampler(self.clean, cfg.patch_size, channels, cfg.gray_fraction), cfg.seed,
                             length=(cfg.refine_steps + 1) * cfg.refine_batch_size * world.size)


@dataclass(frozen=True)
class PhaseResult:
    """What a phase was planned to do and did: the final line and the short-run check read it."""

    folder: str  # noise, refine
    name: str  # noise model, denoiser
    planned: int
    completed: int
    stopped_by: str  # steps, deadline, interrupted, not started

    def __str__(self) -> str:
        cut = "" if self.stopped_by == "steps" else f" ({self.stopped_by})"
        return f"{self.name} {self.completed}/{self.planned} steps{cut}"


def adapt(cfg: AdaptConfig | None, out_dir: Path, resume: bool = False, console: Console | None = None,
          began: float | None = None) -> Path:
    """Adapt a model to the noise of cfg.noisy_dir (or resume the adaptation in out_dir); returns OUT/G.safetensors.

    A new adaptation takes a new or empty folder, or one whose adaptation never started. A resumed one finishes
    the phase it was in and the next, to the step counts fixed when it started (without a deadline); one that
    never started is started again. ``began`` (``time.monotonic()`` at the command's start) counts what ran
    before against ``--minutes``. A phase the deadline left with almost no steps is a UserError after the
    reports are written, never a silent success.
    """
    t0 = time.monotonic() if began is None else began
    out_dir, out = Path(out_dir), RunFolder(out_dir)
    console = console or Console()
    with ExitStack() as held:
        if resume:
            cfg = _stored_config(out_dir)
        else:
            assert cfg is not None, "a new adaptation needs a config"
            _check_budget(cfg, t0)
        start = find_start(cfg.start)  # G and F read once (D_noisy on first use); a bad --from makes no folder
        held.enter_context(holding_run_folder(out_dir, "adaptation"))  # a second process is refused, not mixed in
        cfg = cfg if resume else _new_request(cfg, out)
        note_inputs(out_dir, {"--noisy": cfg.noisy_dir, "--clean": cfg.clean_dir}, resume, console)
        started = out.phase("noise").path.exists()  # made after the plan is fixed, before the first step
        g_cfg, f_cfg = start.config(start.g), start.config(start.f)
        if g_cfg.channels != f_cfg.channels:
            raise UserError(f"{start.label}: G has {g_cfg.channels} channels, F {f_cfg.channels}")
        noisy = noisy_photos(cfg.noisy_dir, cfg.patch_size, exclude=out_dir, console=console)
        data = _Data(clean_pool(cfg.clean_dir, exclude=out_dir, console=console), noisy.images,
                     noisy.note(cfg.noisy_dir, cfg.patch_size))
        deadlines: tuple[float | None, float | None] = (None, None)
        if not started:
            try:
                cfg, deadlines = _prepare(cfg, start, g_cfg, data, out_dir, t0, console, replan=not resume)
            except KeyboardInterrupt:
                console.print(f"[yellow]stopped before the first step; `denoise-gan adapt --resume "
                              f"{escape(str(out_dir))}` starts it again (so does the same command)[/]")
                raise
        _run_phases(cfg, start, g_cfg, data, out, deadlines, resume, console)
        write_before_after(out_dir, start, cfg)
        write_graph(out.g)  # G.onnx beside it: `denoise -c OUT` runs on ONNX Runtime
        console.print(f"took {(time.monotonic() - t0) / 60:.1f} min")
        _refuse_short_phases(out_dir)
        return out.g


def _new_request(cfg: AdaptConfig, out: RunFolder) -> AdaptConfig:
    """A new adaptation's folder, holding its request (config.json) before anything else."""
    try:
        prepare_output_dir(out.path, own=not_started(out.path), hint="--resume OUT to continue the adaptation in it")
    except DataError as exc:
        raise UserError(str(exc)) from None
    # the request first: from here on the folder is this adaptation's, which --resume or a new run accepts
    out.write_config(cfg)
    return cfg


def _run_phases(cfg: AdaptConfig, start: StartModel, g_cfg: GeneratorConfig, data: _Data, out: RunFolder,
                deadlines: tuple[float | None, float | None], resume: bool, console: Console) -> None:
    """The noise phase, F's noise-fit report, then the denoiser phase; Ctrl-C says what G is now."""
    out_dir, ch = out.path, g_cfg.channels
    try:
        continue_noise = resume and not out.phase("refine").path.exists()
        if _phase(out.phase("noise"), "adapt-noise", AdaptConfig, cfg, cfg.noise_steps, deadlines[0], console,
                  lambda device, w: NoiseFitTrainer(cfg, start, PatchSampler(data.noisy, cfg.patch_size, ch, 0.0),
                                                    out_dir, device, w),
                  lambda w, first: data.noise_dataset(cfg, ch, w), cfg.batch_size, continue_noise):
            (out_dir / "noise_fit.json").unlink(missing_ok=True)  # F changed: its report is redone
        if not (out_dir / "noise_fit.json").is_file():
            fit_began = time.monotonic()
            write_noise_fit(out_dir, start, data.clean, data.noisy, data.note, cfg)
            console.print(f"noise fit: {out_dir / 'noise_fit.md'}")
            if deadlines[1] is not None:  # the report's time comes from REPORT_SECONDS, not the refine phase's
                deadlines = (None, deadlines[1] + min(time.monotonic() - fit_began, REPORT_SECONDS / 2))
        rcfg = refine_config(cfg, out_dir)
        source = SourceModel(g_cfg)
        _phase(out.phase("refine"), "refine", RefineConfig, rcfg, cfg.refine_steps, deadlines[1], console,
               lambda device, w: AdaptRefiner(rcfg, source, cfg, out_dir, device, w),
               lambda w, first: data.refine_dataset(cfg, ch, w), cfg.refine_batch_size, resume)
    except KeyboardInterrupt:
        refined = out.phase("refine").finished.is_file() or latest_checkpoint(out.phase("refine").path)
        console.print(f"[yellow]{escape(str(out.g))} is "
                      f"{'the adaptation so far' if refined else 'still the start model'}; "
                      f"`denoise-gan adapt --resume {escape(str(out_dir))}` continues[/]")
        raise


def not_started(out_dir: Path) -> bool:
    """Whether ``out_dir`` holds an adaptation stopped before its first step (Ctrl-C while loading or timing):
    its request (a readable adapt config.json) and copies of the start model, nothing else. Nothing in it is
    worth keeping, so a new run may replace it."""
    if not out_dir.is_dir():
        return False
    names = {p.name for p in out_dir.iterdir() if not p.name.endswith(".part")}
    if CONFIG_FILE not in names or not names <= START_FILES:
        return False
    try:
        RunFolder(out_dir).read_config(AdaptConfig, what="adapt")
    except UserError:
        return False
    return True


def _prepare(cfg: AdaptConfig, start: StartModel, g_cfg: GeneratorConfig, data: _Data, out_dir: Path, t0: float,
             console: Console, replan: bool) -> tuple[AdaptConfig, tuple[float | None, float | None]]:
    """Before the first step: the start model's G and F copied in (G stays the start's until the refine phase
    saves), the plan fixed (a new run's, or a resumed request that was never planned) and written to
    config.json. Returns the config and the phases' deadlines."""
    out = RunFolder(out_dir)
    g_start = load_denoiser(start.g, data=start.read(start.g))[0]
    save_generator(out.g, g_start, g_cfg,
                   {"role": "G noisy->clean", "trained_by": f"start model of denoise-gan adapt ({start.label}), "
                    "not adapted yet"})
    atomic_write_bytes(out.f, start.read(start.f))  # the start's F until the first save
    if not replan and cfg.noise_steps and cfg.refine_steps:
        return cfg, (None, None)  # planned, then stopped before the first step: the plan stands, as on any resume
    cfg, deadlines = _plan(cfg, start, data, out_dir, t0, console)
    out.write_config(cfg)
    return cfg, deadlines


def _stored_config(out_dir: Path) -> AdaptConfig:
    return RunFolder(out_dir).read_config(AdaptConfig, what="adapt", missing="no adaptation to resume (no "
                                          "config.json; it is written before the first step)")


def phase_results(out_dir: Path) -> list[PhaseResult]:
    """Each phase's planned and completed steps, from config.json and the phase folders."""
    cfg = _stored_config(Path(out_dir))
    results = []
    for folder, name in PHASES:
        planned = cfg.noise_steps if folder == "noise" else cfg.refine_steps
        phase = RunFolder(out_dir).phase(folder)
        info = phase.read_finished()
        if info is not None:
            results.append(PhaseResult(folder, name, planned, int(info["step"]), str(info["stopped_by"])))
            continue
        found = latest_checkpoint(phase.path)
        results.append(PhaseResult(folder, name, planned, found[0] if found else 0,
                                   "interrupted" if found else "not started"))
    return results


def phases_line(out_dir: Path) -> str:
    """``noise model 120/120 steps, denoiser 57/300 steps (deadline)``: planned and completed, per phase."""
    return ", ".join(str(r) for r in phase_results(out_dir))


def _refuse_short_phases(out_dir: Path) -> None:
    """A phase the deadline stopped with fewer than MIN_PHASE_STEPS steps (or its plan, when that was smaller)
    did nearly nothing: the run must not end as a success, whatever files it wrote."""
    results = phase_results(out_dir)
    short = [r for r in results if r.completed < min(r.planned, MIN_PHASE_STEPS)]
    if not short:
        return
    r = short[0]
    unchanged = {"noise": "F.safetensors is still the start model's F", "refine": "G.safetensors is still the "
                 "start model"}[r.folder] if r.completed == 0 else f"{r.completed} steps barely change it"
    then = (f"`denoise-gan adapt --resume {out_dir}` completes it without a deadline" if r.folder == "refine" else
            "run it again with more --minutes (or --steps N) into a new folder")
    raise UserError(f"{out_dir}: the {r.name} phase completed {r.completed} of its {r.planned} planned steps before "
                    f"the --minutes deadline, so {unchanged} ({phases_line(out_dir)}); {then}")


def _phase(run: RunFolder, kind: str, cfg_cls: type, cfg: Any, steps: int, deadline: float | None,
           console: Console, make_trainer: Any, make_dataset: Any, batch_size: int,
           continue_cut: bool = False) -> bool:
    """One phase as a run of the loop: new, resumed, or skipped when it finished (by its steps, or by its deadline
    unless ``continue_cut``: then the remaining steps run). Returns whether any step ran."""
    run_dir = run.path
    info = run.read_finished()
    if info is not None:
        if not (continue_cut and info.get("stopped_by") == "deadline" and int(info.get("step", steps)) < steps):
            return False
        run.clear_finished()
    resume = latest_checkpoint(run_dir) is not None
    if not resume and run_dir.exists():  # stopped before its first checkpoint: nothing in it is worth keeping
        shutil.rmtree(run_dir)
    cfg, start, state = open_run(run_dir, kind, cfg_cls, cfg if not resume else None, resume, None)
    label = "noise model (F, D_noisy)" if kind == "adapt-noise" else "denoiser (G on F's pseudo-pairs)"
    console.print(f"[bold]{label}[/]: {escape(str(run_dir))}")
    cadence = Cadence(steps, cfg.log_every, cfg.save_every, 0, cfg.keep_checkpoints, deadline=deadline)

    def build(device: torch.device, world: World) -> tuple[Any, Iterator[dict[str, torch.Tensor]]]:
        trainer = make_trainer(device, world)
        return trainer, batch_iterator(make_dataset(world, start), batch_size, start, steps, world, cfg.workers,
                                       cfg.seed)

    launch(run_dir, cfg, start, state, cfg.device, cfg.seed, cadence, build, console)
    found = latest_checkpoint(run_dir)
    reached = found[0] if found else start
    run.write_finished(reached, steps, "steps" if reached >= steps else "deadline")
    return reached > start


class _OverBudget(Exception):
    """The timing ran past the budget: the seconds per step seen so far."""

    def __init__(self, per_step: float) -> None:
        super().__init__(per_step)
        self.per_step = per_step


def _check_budget(cfg: AdaptConfig, t0: float) -> None:
    """Refuse at once a --minutes budget that cannot even hold the reports, before anything is loaded."""
    if cfg.steps:
        return
    left = cfg.minutes * 60.0 - (time.monotonic() - t0) - REPORT_SECONDS
    if left <= 0:
        raise UserError(f"--minutes {cfg.minutes:g} is too short: {REPORT_SECONDS:.0f} s of it are kept for the "
                        "reports alone; give several minutes (the plan says how many it needs), or --steps N")


def least_minutes(spent: float, per_noise: float, per_refine: float, share: float) -> float:
    """The smallest --minutes whose plan gives each phase MIN_PHASE_STEPS steps at these speeds, after ``spent``
    seconds of loading and timing (rounded up to a tenth of a minute)."""
    need = MIN_PHASE_STEPS * max(per_noise / share, per_refine / (1.0 - share))
    return math.ceil((spent + REPORT_SECONDS + need) / 6.0) / 10.0


def _plan(cfg: AdaptConfig, start: StartModel, data: _Data, out_dir: Path, t0: float,
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
        noise_trainer = NoiseFitTrainer(probe, start, PatchSampler(data.noisy, cfg.patch_size, ch, 0.0), out_dir,
                                        device, world)
        per_noise = _time_steps(noise_trainer, data.noise_dataset(probe, ch, world), probe.batch_size, budget_end)
        source = SourceModel(start.config(start.g))
        refiner = AdaptRefiner(refine_config(probe, out_dir), source, probe, out_dir, device, world)
        per_refine = _time_steps(refiner, data.refine_dataset(probe, ch, world), probe.refine_batch_size, budget_end)
    except _OverBudget as over:
        per_noise, per_refine = (per_noise, over.per_step) if per_noise else (over.per_step, per_refine)
        spent = time.monotonic() - t0
        raise UserError(f"--minutes {cfg.minutes:g} is too short: loading and timing alone took {spent:.0f} s here; "
                        f"give at least --minutes {least_minutes(spent, per_noise, per_refine, cfg.noise_share):g}, "
                        "or --steps N") from None
    finally:
        torch.set_rng_state(rng_before)
    now = time.monotonic()
    spent, left = now - t0, budget_end - now
    noise_s, refine_s = cfg.noise_share * left, (1 - cfg.noise_share) * left
    noise_steps, refine_steps = int(noise_s / per_noise), int(refine_s / per_refine)
    if min(noise_steps, refine_steps) < MIN_PHASE_STEPS:
        raise UserError(f"--minutes {cfg.minutes:g} is too short here: after {spent:.0f} s of loading and timing it "
                        f"leaves {max(noise_steps, 0)} noise-model and {max(refine_steps, 0)} denoiser steps "
                        f"({per_noise:.2f} and {per_refine:.2f} s/step), and each phase needs {MIN_PHASE_STEPS}; "
                        f"give at least --minutes {least_minutes(spent, per_noise, per_refine, cfg.noise_share):g}, "
                        "or --steps N")
    cfg = dataclasses.replace(cfg, noise_steps=noise_steps, refine_steps=refine_steps)
    console.print(f"plan ({cfg.minutes:g} min, {spent:.0f} s of it spent loading and timing): noise model "
                  f"{cfg.noise_steps} steps (~{noise_s / 60:.1f} min, {per_noise:.2f} s/step), then denoiser "
                  f"{cfg.refine_steps} steps (~{refine_s / 60:.1f} min, {per_refine:.2f} s/step)")
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


