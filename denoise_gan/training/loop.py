"""The run loop shared by `train`, `refine` and `adapt`: progress, CSV log, plots, checkpoints, validation, resume,
Ctrl-C.

A trainer supplies the step and its state; this module owns everything that makes a long run safe to
interrupt: checkpoints are written atomically every `save_every` steps, on Ctrl-C/SIGTERM/SIGHUP (once the step in
progress is done) and at the end; a resumed run truncates the log to the checkpoint's step so no row is
repeated. Progress is one live line on a terminal (step, ETA, a few losses, the last validation PSNR, within
80 columns) and a plain line per logged step otherwise (nohup, Slurm, a pipe). Opening the folder, new or
resumed, is ``run_open``'s.
"""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import torch
from rich.console import Console

from denoise_gan.config import RefineConfig, TrainConfig
from denoise_gan.errors import ReportedInterrupt, UserError
from denoise_gan.extras import require
from denoise_gan.interrupts import Interrupted, hangup_to_take, note_interrupt
from denoise_gan.nets.run_folder import RunFolder, latest_checkpoint
from denoise_gan.nets.weights import prune_checkpoints, save_checkpoint
from denoise_gan.runtime import World, rank_device, resolve_device
from denoise_gan.training.distributed import barrier, init_world, shutdown
from denoise_gan.training.run_open import checkpoint_content
from denoise_gan.training.run_report import (
    LEVEL_FIELDS,
    RunLog,
    RunProgress,
    TensorBoardWriter,
    logged_value,
    open_tensorboard,
    plot_log,
    print_header,
)
from denoise_gan.training.step_mode import (
    choose_step_mode,
    mode_record,
    recorded_device,
    recorded_mode,
    worth_measuring,
)
from denoise_gan.training.validation import drop_grids_after
from denoise_gan.warning_line import say_warning_on

PROGRESS_FIELDS = 3  # log fields on the progress line when a trainer names none (``progress_fields``)
DIVERGED_ADVICE = "lower the learning rate (--lr) or the loss weights and start a new run"  # or ``diverged_advice``


class Trainer(Protocol):
    log_fields: ClassVar[tuple[str, ...]]  # optional too: progress_fields (the few on the progress line), level_fields,
    # diverged_advice (what to change when a loss stops being a number)

    def step(self, step: int, batch: dict[str, torch.Tensor]) -> dict[str, float]: ...

    def lr(self) -> float: ...

    def state(self, step: int) -> dict[str, Any]: ...

    def export(self, run_dir: Path, step: int) -> None: ...

    def validate(self, run_dir: Path, step: int) -> dict[str, float]: ...

    def load(self, state: dict[str, Any], where: str) -> None: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class Cadence:
    steps: int
    log_every: int
    save_every: int
    val_every: int  # 0: never
    keep: int
    deadline: float | None = None  # time.monotonic() after which the run stops at a step boundary, saved as at its end
    extendable: bool = True  # a resume may pass --steps to go further (adapt's phases are fixed when it starts)

    @classmethod
    def of_run(cls, cfg: TrainConfig | RefineConfig) -> Cadence:
        """A train or refine config's cadence: validation (with a --val set) every --val-every steps, or at each
        save when that is 0."""
        return cls(cfg.steps, cfg.log_every, cfg.save_every, (cfg.val_every or cfg.save_every) if cfg.val_dir else 0,
                   cfg.keep_checkpoints)


@dataclass(frozen=True)
class Reporting:
    """What a run reports besides log.csv, losses.png and the validation grids. None of it changes the result, so
    a resumed run may change it. ``tensorboard``: event files in RUN_DIR/tensorboard (the ``[tensorboard]`` extra)."""

    tensorboard: bool = False

    def __post_init__(self) -> None:
        if self.tensorboard:  # checked before the run folder is made, so a missing extra costs nothing
            require("tensorboard", "--tensorboard")


_REPORTING: ContextVar[Reporting | None] = ContextVar("denoise_gan_reporting", default=None)  # None: the defaults


@contextmanager
def reporting(**options: Any) -> Iterator[Reporting]:
    """Runs started inside report as asked, e.g. ``with reporting(tensorboard=True): train(cfg, run_dir)``."""
    chosen = Reporting(**options)
    token = _REPORTING.set(chosen)
    try:
        yield chosen
    finally:
        _REPORTING.reset(token)


def place(device_name: str) -> tuple[torch.device, World]:
    """The device, and this process's place among torchrun's (one GPU per rank on CUDA)."""
    world = init_world(resolve_device(device_name).type)
    device = rank_device(device_name, world)
    if device.type == "cuda" and world.size > 1:
        torch.cuda.set_device(device)
    return device, world


def launch(run_dir: Path, cfg: Any, start: int, state: dict[str, Any] | None, device_name: str, seed: int,
           cadence: Cadence, build: Callable[[torch.device, World], tuple[Trainer, Iterator[dict[str, torch.Tensor]]]],
           console: Console) -> None:
    """Build the trainer on its device, restore the checkpoint, print the config, run the loop."""
    device, world = place(device_name)
    try:
        torch.manual_seed(seed)
        trainer, batches = build(device, world)
        if state is not None:
            found = latest_checkpoint(run_dir)
            with checkpoint_content(found[1] if found else run_dir, str(state.get("kind"))):
                trainer.load(state, str(run_dir))
        if world.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            RunFolder(run_dir).write_config(cfg)
            print_header(console, cfg, run_dir, f"resuming at step {start}" if state is not None else "new run",
                         trainer.describe(), device, world)
        say = console.print if world.is_main else (lambda _: None)  # one line per run, not per torchrun rank
        if start >= cadence.steps:
            say(f"already at step {start} of {cadence.steps}" + ("; pass --steps N to go further" if cadence.extendable
                                                                   else ""))
            if state is not None and world.is_main:  # a kill between the last checkpoint and its export left the
                _record_new_settings(trainer, state, run_dir, start, cadence.steps, device_name)
                trainer.export(run_dir, start)  # weights of the save before: written again from the checkpoint
            return
        measure = worth_measuring(cadence.steps - start, world, cadence.deadline)
        batches = choose_step_mode(trainer, batches, device, cfg.precision, measure, say, recorded_mode(state),
                                   recorded_device(state))
        run_loop(trainer, batches, start, cadence, run_dir, world, console)
    finally:
        shutdown(world)


def _record_new_settings(trainer: Trainer, state: dict[str, Any], run_dir: Path, step: int, total: int,
                         device_name: str) -> None:
    """``--resume --steps N`` at step N ends the run where it is: its checkpoint is saved again with that total,
    so a later resume does not go on to the old one (only config.json said N) and the run reads as finished; and
    a finished run resumed with another ``--device`` records it, as config.json does, so a later resume goes on
    there (a GPU run finished on the CPU is not sent back to the absent GPU)."""
    stored = state.get("config")
    if not isinstance(stored, dict) or (stored.get("steps") in (None, total) and
                                        stored.get("device") in (None, device_name)):
        return
    again = trainer.state(step)
    if "step_mode" in state:
        again["step_mode"] = state["step_mode"]
    save_checkpoint(RunFolder(run_dir).checkpoint(step), again)


class _StopRequest:
    """Ctrl-C, SIGTERM and SIGHUP ask the loop to stop at the next step boundary. A step cut in half would leave G and F
    updated and the discriminators not (or an optimiser half-stepped), so its checkpoint would not resume
    exactly; and an exception raised at an arbitrary point can be swallowed or replaced by library code (an
    import, a plot). A second Ctrl-C stops at once, without saving; one that comes while a checkpoint is being
    saved stops as soon as it is written (raised inside the save, it could land in a garbage collector's
    callback, which prints it as "Exception ignored" and drops it)."""

    def __init__(self) -> None:
        self.signum = 0
        self.holding = self.again = False

    def __call__(self, signum: int, frame: Any) -> None:
        note_interrupt(signum)  # the exit code names it: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP
        if not self.signum:
            self.signum = signum
        elif self.holding:
            self.again = True
        else:
            raise Interrupted  # (see interrupts.Interrupted: a signal handler's, raised wherever it lands)

    @contextmanager
    def held(self) -> Iterator[None]:
        """A second interrupt waits for the end of this block."""
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
        if self.again:
            raise Interrupted


def run_loop(trainer: Trainer, batches: Iterator[dict[str, torch.Tensor]], start: int, cadence: Cadence,
             run_dir: Path, world: World, console: Console | None = None) -> int:
    """Run steps start+1..cadence.steps; return the last completed step (a checkpoint exists for it).

    On Ctrl-C, SIGTERM or SIGHUP (unless ignored: ``nohup``) the step in progress finishes, a checkpoint is saved
    for it and KeyboardInterrupt is raised for the caller to exit with. What is reported besides log.csv follows
    ``reporting(...)``.
    """
    stop = _StopRequest()
    run = _Run(trainer, start, cadence, run_dir, world, console or Console(), stop)
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM, *hangup_to_take())}
    try:
        run.open_board()
        with run.progress:
            run.steps(batches, stop)
        interrupted = bool(stop.signum) and run.step < cadence.steps
        run.finish(interrupted)
    except KeyboardInterrupt:
        last = f"--resume continues from the last checkpoint (step {run.saved})" if run.saved else "no checkpoint yet"
        how = "once its checkpoint was saved" if stop.again else "at once, without saving"
        run.console.print(f"[yellow]stopped at step {run.step} by a second interrupt, {how}; {last}[/]")
        raise ReportedInterrupt from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        run.close_board()
        close = getattr(batches, "close", None)
        if close is not None:
            close()  # shuts data-loading workers down now, through their queues, not at interpreter exit
    if interrupted:
        raise ReportedInterrupt  # finish() said where it stopped and how to continue
    barrier(world)
    return run.step


class _Run:
    """One pass of the loop: its step counters, log, progress line, TensorBoard writer and checkpoints."""

    def __init__(self, trainer: Trainer, start: int, cadence: Cadence, run_dir: Path, world: World,
                 console: Console, stop: _StopRequest) -> None:
        self.trainer, self.start, self.cadence, self.run_dir, self.world = trainer, start, cadence, run_dir, world
        self.console, self.stop = console, stop
        self.log = RunLog(run_dir / "log.csv", trainer.log_fields)
        self.level_fields = tuple(getattr(trainer, "level_fields", LEVEL_FIELDS))
        kept = self.log.start(start) if world.is_main else []
        if world.is_main and self.log.lost:  # the weights resume exactly; the history shown is shorter
            say_warning_on(console, self.log.lost)
        if world.is_main and start:
            drop_grids_after(run_dir, start)  # grids of steps the resumed run will redo
        self.step = self.saved = start
        fields = tuple(getattr(trainer, "progress_fields", None) or trainer.log_fields[:PROGRESS_FIELDS])
        self.progress = RunProgress(console, cadence.steps, start, fields, enabled=world.is_main,
                                    deadline=cadence.deadline)
        scores = [logged_value(r.get("val_psnr")) for r in kept]
        self.progress.val_psnr = next((v for v in reversed(scores) if math.isfinite(v)), None)
        self.board: TensorBoardWriter | None = None

    def open_board(self) -> None:
        if self.world.is_main and (_REPORTING.get() or Reporting()).tensorboard:
            self.board = open_tensorboard(self.run_dir, self.start, self.level_fields)
        elif self.world.is_main and self.start and any((self.run_dir / "tensorboard").glob("events.out.tfevents.*")):
            # a plain --resume of a run logged to TensorBoard: its curves would stop at this step, unexplained
            say_warning_on(self.console, f"{self.run_dir / 'tensorboard'} holds this run's TensorBoard events; "
                           f"without --tensorboard this session adds none, from step {self.start + 1} on (give it "
                           "with --resume to go on logging there)")

    def close_board(self) -> None:
        if self.board is not None:
            self.board.close()

    def save(self, at: int) -> None:
        with self.stop.held():
            if not self.world.is_main:  # (rank 0 writes; the others only keep count)
                self.saved = at
                return
            state = self.trainer.state(at)
            mode = getattr(self.trainer, "step_mode", None)
            if mode is not None:  # what the run trains in, so a resume goes on in it
                state["step_mode"] = mode_record(mode, getattr(self.trainer, "step_device", None))
            self.refuse_nonfinite(state)  # the message names the checkpoints kept before this one
            folder = RunFolder(self.run_dir)
            save_checkpoint(folder.checkpoint(at), state)
            self.saved = at  # what --resume continues from, whatever stops the rest of the save
            prune_checkpoints(folder.checkpoints, self.cadence.keep)
            self.trainer.export(self.run_dir, at)
            plot_log(self.log, self.run_dir / "losses.png", self.trainer.log_fields, self.level_fields)

    def steps(self, batches: Iterator[dict[str, torch.Tensor]], stop: _StopRequest) -> None:
        cadence, tick, since = self.cadence, time.perf_counter(), 0
        while self.step < cadence.steps and not stop.signum and not (
                cadence.deadline is not None and time.monotonic() >= cadence.deadline):
            try:
                batch = next(batches)
            except Exception:
                if stop.signum:  # a Ctrl-C in a terminal reaches the data-loading workers too
                    break
                raise
            lr = self.trainer.lr()  # the step's own: its schedule moves on at its end
            losses = self.trainer.step(self.step, batch)
            self.refuse_diverged(losses)
            self.step += 1
            since += 1
            final = self.step == cadence.steps
            validate = bool(cadence.val_every) and (self.step % cadence.val_every == 0 or final)
            if validate or final or self.step % cadence.log_every == 0:
                self.record({**losses, "lr": lr}, since / max(time.perf_counter() - tick, 1e-9), validate)
                tick, since = time.perf_counter(), 0
            self.progress.advance(self.step)
            if self.step % cadence.save_every == 0 and self.step < cadence.steps:
                self.save(self.step)
                self.progress.saved(self.step)

    def refuse_diverged(self, losses: dict[str, float]) -> None:
        """A loss that is no longer a number means the weights are not either: the run stops with a one-line
        error before saving them (it went on to the end and exported NaN weights as a success)."""
        bad = next((name for name, value in losses.items() if not math.isfinite(value)), None)
        if bad is not None:
            self.diverged(f"at step {self.step + 1} ({bad} = {losses[bad]})")

    def refuse_nonfinite(self, state: Any) -> None:
        """Weights the last update made NaN or infinite (its losses, computed before it, were still numbers)
        are neither validated nor saved: the checkpoint said to be kept held nothing but NaN."""
        if any(not bool(torch.isfinite(t).all()) for t in _float_tensors(state)):
            self.diverged(f"by step {self.step} (its weights are no longer finite numbers)")

    def diverged(self, where: str) -> None:
        kept = f"checkpoints up to step {self.saved} are kept, none after" if self.saved else "nothing was saved"
        advice = getattr(self.trainer, "diverged_advice", DIVERGED_ADVICE)  # a phase of adapt names its own rate
        raise UserError(f"training diverged {where}; {kept}; {advice}")

    def record(self, losses: dict[str, float], it_s: float, validate: bool) -> None:
        """A log.csv row (and a validation, when due) for the step just done, whose ``losses`` hold its lr."""
        row: dict[str, Any] = {"step": self.step, **losses, "it_s": it_s}
        if validate:
            if self.world.is_main:
                self.refuse_nonfinite(self.trainer.state(self.step))
            row.update({f"val_{k}": v for k, v in self.trainer.validate(self.run_dir, self.step).items()})
        if self.world.is_main:
            self.log.append(row)
            if self.board is not None:
                self.board(row)
        self.progress.report(row)

    def finish(self, interrupted: bool) -> None:
        """The last checkpoint: at the end, or where an interrupt stopped the loop (none before step 1)."""
        if interrupted and self.step == self.start == 0:
            self.console.print("[yellow]interrupted before the first step; nothing saved[/]")
        elif interrupted:
            if self.saved != self.step:
                self.save(self.step)
            self.console.print(f"[yellow]interrupted at step {self.step}; checkpoint saved, continue with "
                               "--resume[/]")
        else:
            self.save(self.step)


def _float_tensors(value: Any) -> Iterator[torch.Tensor]:
    """Every floating-point tensor in a checkpoint's nested dicts and lists (weights, optimiser moments)."""
    if isinstance(value, torch.Tensor):
        if value.is_floating_point():
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _float_tensors(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _float_tensors(item)
