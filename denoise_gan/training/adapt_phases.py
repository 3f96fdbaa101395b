"""An adaptation's two phases, each a run of the loop in its own folder (``noise``, ``refine``): running one,
and reading back what each was planned to do and did, for the final line, a resume and the short-run check."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.markup import escape

from data_tools.names import shell_word
from denoise_gan.config import AdaptConfig
from denoise_gan.errors import UserError
from denoise_gan.extras import installed
from denoise_gan.nets.run_folder import RunFolder, folder_run_kind, graph_beside, latest_checkpoint
from denoise_gan.runtime import World
from denoise_gan.training import adapt_plan
from denoise_gan.training.adapt_reports import NOISE_FIT_FILES
from denoise_gan.training.batches import batch_iterator
from denoise_gan.training.loop import Cadence, launch
from denoise_gan.training.new_run_inputs import require_run_folder
from denoise_gan.training.run_open import open_run

PHASES = (("noise", "noise model"), ("refine", "denoiser"))  # phase folder, and its name in messages
PHASE_FOLDERS = tuple(folder for folder, _ in PHASES)


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


def stored_config(out_dir: Path) -> AdaptConfig:
    """The adaptation's request as config.json holds it; a phase folder given for the adaptation is refused
    with the command that resumes the whole."""
    require_run_folder(out_dir)
    parent = out_dir.absolute().parent
    if out_dir.name in PHASE_FOLDERS and folder_run_kind(parent) == "adapt":  # a train run's refine/ is no phase
        raise UserError(f"{out_dir} is a phase of the adaptation in {parent}; resume that: "
                        f"denoise-gan adapt --resume {shell_word(parent)}")  # it began an adaptation inside the phase
    return RunFolder(out_dir).read_config(AdaptConfig, what="adapt", missing="no adaptation to resume (no "
                                          "config.json; it is written before the first step)")


def phase_results(out_dir: Path) -> list[PhaseResult]:
    """Each phase's planned and completed steps, from config.json and the phase folders."""
    cfg = stored_config(Path(out_dir))
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


def said_complete(out_dir: Path, console: Console) -> bool:
    """Whether both phases finished their planned steps and every file the end of a run writes is there (a resume
    then has nothing to do, and says so)."""
    out = RunFolder(out_dir)
    try:
        noise, refine = phase_results(out.path)
    except UserError:  # no adaptation there: the resume itself says what is wrong
        return False
    ends = (out.g, out.f, out.path / "before_after.png", *(out.path / name for name in NOISE_FIT_FILES),
            *((graph_beside(out.g),) if installed("onnx") else ()))
    complete = noise.stopped_by in ("steps", "deadline") and refine.stopped_by == "steps" and all(
        path.is_file() for path in ends)
    if complete:
        console.print(f"{out_dir}: the adaptation is complete ({phases_line(out_dir)}); nothing to resume",
                      markup=False, highlight=False)
    return complete


def refuse_short_phases(out_dir: Path, only: str = "") -> None:
    """A phase the deadline stopped with fewer than MIN_PHASE_STEPS steps (or its plan, when that was smaller)
    did nearly nothing: the run must not end as a success, whatever files it wrote (``only``: that phase's
    folder, as a resume checks the noise phase before it trains anything)."""
    results = [r for r in phase_results(out_dir) if not only or (r.folder == only and r.stopped_by == "deadline")]
    short = [r for r in results if r.completed < min(r.planned, adapt_plan.MIN_PHASE_STEPS)]
    if not short:
        return
    r = short[0]
    unchanged = {"noise": "F.safetensors is still the start model's F", "refine": "G.safetensors is still the "
                 "start model"}[r.folder] if r.completed == 0 else \
        ("1 step barely changes it" if r.completed == 1 else f"{r.completed} steps barely change it")
    then = (f"`denoise-gan adapt --resume {shell_word(out_dir)}` completes it without a deadline"
            if r.folder == "refine" else "run it again with more --minutes (or --steps N) into a new folder")
    raise UserError(f"{out_dir}: the {r.name} phase completed {r.completed} of its {r.planned} planned steps before "
                    f"the --minutes deadline, so {unchanged} ({phases_line(out_dir)}); {then}")


def run_phase(run: RunFolder, kind: str, cfg_cls: type, cfg: Any, steps: int, deadline: float | None,
           console: Console, make_trainer: Callable[[torch.device, World], Any], make_dataset: Callable[[], Any],
           batch_size: int, continue_cut: bool = False) -> bool:
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
    # a resumed phase goes on on the request's device (which a resume may have changed)
    cfg, start, state = open_run(run_dir, kind, cfg_cls, cfg if not resume else None, resume, None,
                                 cfg.device if resume else None)
    label = "noise model (F, D_noisy)" if kind == "adapt-noise" else "denoiser (G on F's pseudo-pairs)"
    console.print(f"[bold]{label}[/]: {escape(str(run_dir))}")
    cadence = Cadence(steps, cfg.log_every, cfg.save_every, 0, cfg.keep_checkpoints, deadline=deadline,
                      extendable=False)

    def build(device: torch.device, world: World) -> tuple[Any, Iterator[dict[str, torch.Tensor]]]:
        trainer = make_trainer(device, world)
        return trainer, batch_iterator(make_dataset(), batch_size, start, steps, world, cfg.workers, cfg.seed)

    launch(run_dir, cfg, start, state, cfg.device, cfg.seed, cadence, build, console)
    found = latest_checkpoint(run_dir)
    reached = found[0] if found else start
    run.write_finished(reached, steps, "steps" if reached >= steps else "deadline")
    return reached > start
