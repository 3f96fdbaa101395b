"""The run loop shared by `train`, `refine` and `adapt`: progress, CSV log, plots, checkpoints, validation, resume,
Ctrl-C.

A trainer supplies the step and its state; this module owns everything that makes a long run safe to
interrupt: checkpoints are written atomically every `save_every` steps, on Ctrl-C/SIGTERM (once the step in
progress is done) and at the end; a resumed run truncates the log to the checkpoint's step so no row is
repeated. Progress is one live line on a terminal (step, ETA, a few losses, the last validation PSNR, within
80 columns) and a plain line per logged step otherwise (nohup, Slurm, a pipe). A new run's config stores
absolute paths, so ``--resume`` works from any directory.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Column

from data_tools.errors import DataError
from data_tools.images import OutputWriteError, atomic_write_bytes, prepare_output_dir
from denoise_gan.config import from_dict, to_json
from denoise_gan.errors import UserError, WeightsError
from denoise_gan.evaluation.pictures import figure_png
from denoise_gan.extras import require
from denoise_gan.nets.weights import list_checkpoints, load_checkpoint, prune_checkpoints, save_checkpoint
from denoise_gan.runtime import World, rank_device, resolve_device, world_from_env
from denoise_gan.training.distributed import barrier, init_world, shutdown
from denoise_gan.training.validation import drop_grids_after

C = TypeVar("C")


# Log fields on the 0-255 noise-level scale rather than losses (F's added σ, the estimator's level error): plotted
# on their own linear axis. A trainer may name its own with a ``level_fields`` attribute.
LEVEL_FIELDS = ("f_sigma", "level")
PROGRESS_FIELDS = 3  # log fields on the progress line when a trainer names none (``progress_fields``)


class Trainer(Protocol):
    log_fields: tuple[str, ...]  # optional too: progress_fields (the few on the progress line), level_fields

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


class RunLog:
    """log.csv with a fixed header; resuming drops rows after the checkpoint's step.

    ``val_input_psnr`` is the validation set's noisy inputs scored as they are: the baseline G must beat."""

    def __init__(self, path: Path, fields: tuple[str, ...]) -> None:
        self.path = path
        self.fields = ("step", *fields, "lr", "it_s", "val_psnr", "val_ssim", "val_input_psnr")

    def start(self, from_step: int) -> list[dict[str, str]]:
        """Start the log at ``from_step``; returns the rows kept (those of steps up to it)."""
        rows = self.rows() if from_step > 0 and self.path.exists() else []
        kept = [r for r in rows if int(r["step"]) <= from_step]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(kept)
        atomic_write_bytes(self.path, buf.getvalue().encode())
        return kept

    def append(self, row: dict[str, Any]) -> None:
        try:
            with self.path.open("a", newline="") as fh:
                csv.DictWriter(fh, fieldnames=self.fields, extrasaction="ignore").writerow(
                    {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        except OSError as exc:  # a full or read-only disk: one line, and the last checkpoint still resumes
            raise OutputWriteError(f"{self.path}: cannot write ({exc.strerror or exc})") from None

    def rows(self) -> list[dict[str, str]]:
        with self.path.open(newline="") as fh:
            return list(csv.DictReader(fh))


def plot_log(log: RunLog, png: Path, fields: tuple[str, ...], level_fields: tuple[str, ...] = LEVEL_FIELDS) -> None:
    """losses.png beside the log: losses on a log axis, noise levels (0-255) on their own, validation PSNR of G
    against the noisy input's (the baseline) when validated."""
    rows = log.rows()
    if not rows:
        return
    atomic_write_bytes(png, figure_png(log_figure(rows, fields, level_fields), dpi=90))


def log_figure(rows: list[dict[str, str]], fields: tuple[str, ...],
               level_fields: tuple[str, ...] = LEVEL_FIELDS) -> Any:
    """The matplotlib Figure of ``plot_log`` (drawn without pyplot, so no global backend is touched)."""
    from matplotlib.figure import Figure  # imported on use: matplotlib is slow to import

    def series(field: str) -> list[float]:
        return [float(r[field]) if r.get(field) else math.nan for r in rows]

    def logged(field: str) -> bool:
        return any(r.get(field) for r in rows)

    steps = [int(r["step"]) for r in rows]
    losses = [f for f in fields if f not in level_fields and logged(f)]
    levels = [f for f in fields if f in level_fields and logged(f)]
    has_val = logged("val_psnr")
    panels = 1 + bool(levels) + has_val
    fig = Figure(figsize=(5.5 * panels, 4))
    axes = list(fig.subplots(1, panels, squeeze=False)[0])
    ax = axes.pop(0)
    for field in losses:
        ax.plot(steps, series(field), label=field, linewidth=1)
    ax.set_yscale("log")
    ax.set_title("losses")
    if levels:
        ax = axes.pop(0)
        for field in levels:
            ax.plot(steps, series(field), label=field, linewidth=1)
        ax.set_ylabel("noise level (0-255 scale)")
        ax.set_title("noise levels")
    if has_val:
        ax = axes.pop(0)
        val = [(int(r["step"]), float(r["val_psnr"])) for r in rows if r.get("val_psnr")]
        ax.plot(*zip(*val), marker="o", label="G(noisy)")
        baseline = [float(r["val_input_psnr"]) for r in rows if r.get("val_input_psnr")]
        if baseline:
            ax.axhline(baseline[-1], color="gray", linestyle="--", label=f"noisy input ({baseline[-1]:.2f} dB)")
        ax.set_ylabel("PSNR (dB)")
        ax.ticklabel_format(axis="y", useOffset=False)  # plain dB values, not an offset and small deltas
        ax.set_title("validation PSNR")
    for ax in fig.axes:
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def latest_checkpoint(run_dir: Path) -> tuple[int, Path] | None:
    found = list_checkpoints(run_dir / "checkpoints")
    return found[-1] if found else None


def open_run(run_dir: Path, kind: str, cfg_cls: type[C], cfg: C | None, resume: bool,
             steps: int | None, warn: Callable[[str], None] | None = None) -> tuple[C, int, dict[str, Any] | None]:
    """(config, start step, checkpoint state), with every input checked before step 1.

    A new run takes a folder that is new or empty (the rule every command that writes a folder follows), and
    its config's folders (every ``*_dir`` field) are made absolute, so the run resumes from any directory. A
    resumed run takes its config from its newest readable checkpoint (a damaged newest one is skipped with a
    warning, so a kill mid-write or a truncated copy costs only the steps since the one before), with
    ``steps`` as the new total when given, which cannot be below the step already reached.
    """
    start, state = 0, None
    if resume:
        start, path, state = _newest_usable_checkpoint(run_dir, kind, warn or _warn)
        with checkpoint_content(path, kind):
            cfg = from_dict(cfg_cls, state["config"])
        if steps is not None and steps < start:
            raise UserError(f"{run_dir} is at step {start}; --steps is the new total and cannot be {steps}")
    else:
        if latest_checkpoint(run_dir):
            raise UserError(f"{run_dir} already holds a run; use --resume to continue it or choose another -o")
        if world_from_env().is_main:  # other torchrun ranks would see rank 0's first files
            try:
                prepare_output_dir(run_dir, hint="--resume RUN_DIR to continue the run in it")
            except DataError as exc:
                raise UserError(str(exc)) from None
    assert cfg is not None, "a new run needs a config"
    if not resume:
        cfg = absolute_paths(cfg)
    if steps is not None:
        try:
            cfg = dataclasses.replace(cfg, steps=steps)
        except ValueError as exc:
            raise UserError(str(exc).splitlines()[0]) from None
    val_dir = str(getattr(cfg, "val_dir", "") or "")
    if val_dir:  # a bad --val would otherwise fail at the first validation, after steps not yet saved
        check_val_set(Path(val_dir))
    return cfg, start, state


def absolute_paths(cfg: C) -> C:
    """``cfg`` with every non-empty folder field (a name ending in ``_dir``, nested configs included) made
    absolute against the current directory; symlinks are kept as the user named them."""
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):  # type: ignore[arg-type]
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fixed = absolute_paths(value)
            if fixed != value:
                changes[f.name] = fixed
        elif f.name.endswith("_dir") and isinstance(value, str) and value and not os.path.isabs(value):
            changes[f.name] = os.path.abspath(value)
    return dataclasses.replace(cfg, **changes) if changes else cfg  # type: ignore[type-var]


def _warn(message: str) -> None:
    Console(stderr=True).print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


def _newest_usable_checkpoint(run_dir: Path, kind: str,
                              warn: Callable[[str], None]) -> tuple[int, Path, dict[str, Any]]:
    """The newest checkpoint that loads; damaged newer ones (empty, truncated, not a checkpoint) are reported
    and skipped. One that is refused as unsafe stops the resume: it is never skipped silently past."""
    found = list_checkpoints(run_dir / "checkpoints")
    if not found:
        raise UserError(f"{run_dir}: no checkpoint to resume from (expected checkpoints/step_*.pt)")
    damaged: list[str] = []
    for step, path in reversed(found):
        try:
            state = load_checkpoint(path)
        except WeightsError as exc:
            if "refused" in str(exc):
                raise
            damaged.append(str(exc))
            continue
        except Exception as exc:  # noqa: BLE001 - garbage (an empty or text file) fails inside the unpickler
            damaged.append(f"{path}: unreadable checkpoint ({type(exc).__name__})")
            continue
        if not isinstance(state, dict) or state.get("kind") != kind:
            if not damaged:
                raise UserError(f"{path}: not a {kind} checkpoint")
            damaged.append(f"{path}: not a {kind} checkpoint")
            continue
        for reason in damaged:
            warn(f"{reason}; resuming from the previous checkpoint, {path.name}")
        return step, path, state
    raise WeightsError(f"{run_dir}: no usable checkpoint ({damaged[0]})")


def check_val_set(folder: Path) -> None:
    """A --val folder must be a paired set (clean/ and noisy/ with the same names) whose images read."""
    from denoise_gan.evaluation.metrics import paired_files, read_pair

    if not folder.is_dir():
        raise UserError(f"{folder}: --val must be a folder made by `denoise-gan synth` (clean/ and noisy/)")
    try:
        for _, clean, noisy in paired_files(folder / "clean", folder / "noisy", role="noisy partner"):
            read_pair(clean, noisy)
    except DataError as exc:
        raise UserError(f"--val {folder}: {exc}") from None
    except UserError as exc:
        raise UserError(f"--val {folder}: {exc}") from None


@contextmanager
def checkpoint_content(where: Path, kind: str) -> Iterator[None]:
    """A checkpoint that passed the safe unpickler but whose content does not fit (a missing key, a config of
    another version, the tensors or optimiser state of another network) is a one-line error, not a traceback."""
    try:
        yield
    except (WeightsError, UserError):
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError) as exc:
        detail = str(exc).splitlines()[0][:160] if str(exc) else ""
        raise WeightsError(f"{where}: not a usable {kind} checkpoint ({type(exc).__name__}: {detail})") from None


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
            atomic_write_bytes(run_dir / "config.json", to_json(cfg).encode())
            print_header(console, cfg, run_dir, f"resuming at step {start}" if state is not None else "new run",
                         trainer.describe(), device, world)
        if start >= cadence.steps:
            console.print(f"already at step {start} of {cadence.steps}; pass --steps N to go further")
            return
        run_loop(trainer, batches, start, cadence, run_dir, world, console)
    finally:
        shutdown(world)


# what the header's one-line summary of a config shows (dotted paths into its dict), when the config has them
SUMMARY_FIELDS = (("steps", "steps"), ("noise_steps", "noise-model steps"), ("refine_steps", "denoiser steps"),
                  ("model.g.arch", "G"), ("generator.arch", "G"), ("init", "init"),
                  ("model.f.arch", "F"), ("data.patch_size", "patch"), ("patch_size", "patch"),
                  ("data.batch_size", "batch"), ("batch_size", "batch"), ("lr", "lr"), ("seed", "seed"))


def config_summary(cfg: Any) -> list[str]:
    """``steps 2000``, ``G unet``, ``patch 64``, ...: the few settings a reader checks first; the whole config is
    in the run folder's config.json."""
    data = json.loads(to_json(cfg))
    parts = []
    for path, label in SUMMARY_FIELDS:
        value: Any = data
        for key in path.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if value in (None, "") or isinstance(value, dict) or (path.endswith("steps") and value == 0):
            continue  # absent, or a step count left to a plan (adapt's --minutes)
        parts.append(f"{label} {value:g}" if isinstance(value, float) else f"{label} {value}")
    return parts


def fit_lines(parts: list[str], width: int, sep: str = ", ") -> list[str]:
    """``parts`` joined by ``sep`` into lines of at most ``width`` characters, never breaking a part (one longer
    than the line, a long path, gets a line of its own)."""
    lines: list[str] = []
    for part in parts:
        if lines and len(lines[-1]) + len(sep) + len(part) <= width:
            lines[-1] += sep + part
        else:
            lines.append(part)
    return lines


def print_header(console: Console, cfg: Any, run_dir: Path, how: str, describe: str, device: torch.device,
                 world: World) -> None:
    """The run's header, its lines within the console's width and broken only between items. On a terminal a
    short summary of the config and where the whole one is (45 lines of JSON would scroll the header away); in a
    log file (nohup, Slurm), where nothing scrolls away, the whole config too."""
    summary = config_summary(cfg) or ["-"]
    threads = [f"threads: {torch.get_num_threads()}"] if device.type == "cpu" else []
    lines = (fit_lines([f"config ({how}): {summary[0]}", *summary[1:]], console.width)
             + fit_lines(["full config:", str(run_dir / "config.json")], console.width, " ")
             + fit_lines([*describe.split("  "), f"device: {device}", *threads, f"world: {world.size}"],
                         console.width, "  "))
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    if not console.is_terminal:
        console.print(to_json(cfg), highlight=False, markup=False, soft_wrap=True)


class _StopRequest:
    """Ctrl-C and SIGTERM ask the loop to stop at the next step boundary. A step cut in half would leave G and F
    updated and the discriminators not (or an optimiser half-stepped), so its checkpoint would not resume
    exactly; and an exception raised at an arbitrary point can be swallowed or replaced by library code (an
    import, a plot). A second Ctrl-C stops at once, without saving."""

    def __init__(self) -> None:
        self.signum = 0

    def __call__(self, signum: int, frame: Any) -> None:
        if self.signum:
            raise KeyboardInterrupt
        self.signum = signum


def run_loop(trainer: Trainer, batches: Iterator[dict[str, torch.Tensor]], start: int, cadence: Cadence,
             run_dir: Path, world: World, console: Console | None = None,
             on_save: Callable[[int], None] | None = None) -> int:
    """Run steps start+1..cadence.steps; return the last completed step (a checkpoint exists for it).

    On Ctrl-C or SIGTERM the step in progress finishes, a checkpoint is saved for it and KeyboardInterrupt is
    raised for the caller to exit with. What is reported besides log.csv follows ``reporting(...)``.
    """
    log = RunLog(run_dir / "log.csv", trainer.log_fields)
    level_fields = tuple(getattr(trainer, "level_fields", LEVEL_FIELDS))
    kept = log.start(start) if world.is_main else []
    if world.is_main and start:
        drop_grids_after(run_dir, start)  # grids of steps the resumed run will redo
    console = console or Console()
    step = saved = start
    stop = _StopRequest()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}

    def save(at: int) -> None:
        nonlocal saved
        saved = at
        if world.is_main:
            save_checkpoint(run_dir / "checkpoints" / f"step_{at:07d}.pt", trainer.state(at))
            prune_checkpoints(run_dir / "checkpoints", cadence.keep)
            trainer.export(run_dir, at)
            plot_log(log, run_dir / "losses.png", trainer.log_fields, level_fields)
        if on_save:
            on_save(at)

    fields = tuple(getattr(trainer, "progress_fields", None) or trainer.log_fields[:PROGRESS_FIELDS])
    progress = RunProgress(console, cadence.steps, start, fields, enabled=world.is_main)
    progress.val_psnr = next((float(r["val_psnr"]) for r in reversed(kept) if r.get("val_psnr")), None)
    asked = _REPORTING.get() or Reporting()
    board: _TensorBoard | None = None
    since = 0
    try:
        if world.is_main and asked.tensorboard:
            board = _tensorboard(run_dir, start, level_fields)
        tick = time.perf_counter()
        with progress:
            while step < cadence.steps and not stop.signum and not (
                    cadence.deadline is not None and time.monotonic() >= cadence.deadline):
                try:
                    batch = next(batches)
                except Exception:
                    if stop.signum:  # a Ctrl-C in a terminal reaches the data-loading workers too
                        break
                    raise
                losses = trainer.step(step, batch)
                step += 1
                since += 1
                final = step == cadence.steps
                validate = bool(cadence.val_every) and (step % cadence.val_every == 0 or final)
                if validate or final or step % cadence.log_every == 0:
                    now = time.perf_counter()
                    row: dict[str, Any] = {"step": step, **losses, "lr": trainer.lr(),
                                           "it_s": since / max(now - tick, 1e-9)}
                    if validate:
                        row.update({f"val_{k}": v for k, v in trainer.validate(run_dir, step).items()})
                    tick, since = time.perf_counter(), 0
                    if world.is_main:
                        log.append(row)
                        if board is not None:
                            board(row)
                    progress.report(row)
                progress.advance(step)
                if step % cadence.save_every == 0 and step < cadence.steps:
                    save(step)
        interrupted = bool(stop.signum) and step < cadence.steps
        if interrupted and step == start == 0:
            console.print("[yellow]interrupted before the first step; nothing saved[/]")
        elif interrupted:
            if saved != step:
                save(step)
            console.print(f"[yellow]interrupted at step {step}; checkpoint saved, continue with --resume[/]")
        else:
            save(step)
    except KeyboardInterrupt:
        last = f"--resume continues from the last checkpoint (step {saved})" if saved else "no checkpoint yet"
        console.print(f"[yellow]stopped at once at step {step} by a second interrupt, without saving; {last}[/]")
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if board is not None:
            board.close()
        close = getattr(batches, "close", None)
        if close is not None:
            close()  # shuts data-loading workers down now, through their queues, not at interpreter exit
    if interrupted:
        raise KeyboardInterrupt
    barrier(world)
    return step


class RunProgress:
    """Step, ETA, the trainer's few progress fields and the last validation PSNR.

    On a terminal: one live line that fits the console (80 columns included; what does not fit is cut with an
    ellipsis, never wrapped). Otherwise (nohup, Slurm, a pipe): one plain line per logged step, so a log file
    shows the run as it goes instead of one line at the end. Disabled on torchrun ranks other than 0.
    """

    def __init__(self, console: Console, total: int, start: int, fields: tuple[str, ...], enabled: bool = True) -> None:
        self.console, self.total, self.start, self.fields = console, total, start, fields
        self.live = enabled and console.is_terminal
        self.plain = enabled and not console.is_terminal
        self.val_psnr: float | None = None
        self.began = time.perf_counter()
        self.bar = Progress(MofNCompleteColumn(), BarColumn(bar_width=10), TaskProgressColumn(),
                            TimeRemainingColumn(),
                            TextColumn("{task.fields[status]}",  # takes what is left of the line; cut, not wrapped
                                       table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis")),
                            console=console, disable=not self.live, transient=False, expand=True)
        self.task = self.bar.add_task("training", total=total, completed=start, status="")

    def __enter__(self) -> RunProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.__exit__(*exc)

    def advance(self, step: int) -> None:
        self.bar.update(self.task, completed=step)

    def report(self, row: dict[str, Any]) -> None:
        """A logged row: the live line's status, or a plain line."""
        if row.get("val_psnr") is not None:
            self.val_psnr = float(row["val_psnr"])
        if self.live:
            self.bar.update(self.task, completed=row["step"], status=self.status(row))
        elif self.plain:
            self.console.print(self.plain_line(row), highlight=False, soft_wrap=True, markup=False)

    def status(self, row: dict[str, Any]) -> str:
        """``val 28.31 dB  g_adv 0.312 ...``: the validation PSNR first, so a narrow line keeps it."""
        parts = [] if self.val_psnr is None else [f"val {self.val_psnr:.2f} dB"]
        parts += [f"{k} {row[k]:.3g}" for k in self.fields if isinstance(row.get(k), (int, float))]
        return "  ".join(parts)

    def plain_line(self, row: dict[str, Any]) -> str:
        """``step 120/2000 6%  elapsed 0:01:21  ETA 0:21:33  1.47 it/s  val 28.31 dB  g_adv 0.312 ...``"""
        step = int(row["step"])
        elapsed = time.perf_counter() - self.began
        done = step - self.start
        eta = elapsed / done * (self.total - step) if done > 0 else math.nan
        percent = int(100 * step / self.total) if self.total else 100
        head = (f"step {step}/{self.total} {percent}%  elapsed {_clock(elapsed)}  ETA {_clock(eta)}  "
                f"{_rate(row.get('it_s', math.nan))}")
        status = self.status(row)
        return f"{head}  {status}" if status else head


def _rate(it_s: float) -> str:
    """``1.47 it/s``, or ``12.3 s/it`` below one step a second (where it/s would read 0.00)."""
    if math.isfinite(it_s) and 0 < it_s < 1:
        return f"{1.0 / it_s:.3g} s/it"
    return f"{it_s:.2f} it/s"


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "-:--:--"
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


class _TensorBoard:
    """Every logged row as TensorBoard scalars: loss/*, level/*, val/*, train/lr, train/it_s."""

    def __init__(self, run_dir: Path, start: int, level_fields: tuple[str, ...]) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # on resume, events past the checkpoint's step (written before the interruption) are dropped, as in log.csv
        self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"), purge_step=start + 1 if start else None)
        self.level_fields = level_fields

    def __call__(self, row: dict[str, Any]) -> None:
        step = int(row["step"])
        for key, value in row.items():
            if key == "step" or not isinstance(value, (int, float)) or not math.isfinite(value):
                continue
            if key.startswith("val_"):
                tag = f"val/{key[4:]}"
            elif key in ("lr", "it_s"):
                tag = f"train/{key}"
            else:
                tag = f"{'level' if key in self.level_fields else 'loss'}/{key}"
            self.writer.add_scalar(tag, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def _tensorboard(run_dir: Path, start: int, level_fields: tuple[str, ...]) -> _TensorBoard:
    require("tensorboard", "--tensorboard")
    return _TensorBoard(run_dir, start, level_fields)
