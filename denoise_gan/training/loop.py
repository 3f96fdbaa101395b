"""The run loop shared by `train` and `refine`: progress, CSV log, checkpoints, validation, resume, Ctrl-C.

A trainer supplies the step and its state; this module owns everything that makes a long run safe to
interrupt: checkpoints are written atomically every `save_every` steps, on Ctrl-C/SIGTERM (once the step in
progress is done) and at the end; a resumed run truncates the log to the checkpoint's step so no row is
repeated.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from data_tools.errors import DataError
from data_tools.images import OutputWriteError, atomic_write_bytes, prepare_output_dir
from denoise_gan.config import from_dict, to_json
from denoise_gan.errors import UserError, WeightsError
from denoise_gan.nets.weights import list_checkpoints, load_checkpoint, prune_checkpoints, save_checkpoint
from denoise_gan.runtime import World, rank_device, resolve_device, world_from_env
from denoise_gan.training.distributed import barrier, init_world, shutdown

C = TypeVar("C")


class Trainer(Protocol):
    log_fields: tuple[str, ...]

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


class RunLog:
    """log.csv with a fixed header; resuming drops rows after the checkpoint's step."""

    def __init__(self, path: Path, fields: tuple[str, ...]) -> None:
        self.path, self.fields = path, ("step", *fields, "lr", "it_s", "val_psnr", "val_ssim")

    def start(self, from_step: int) -> None:
        rows = self.rows() if from_step > 0 and self.path.exists() else []
        kept = [r for r in rows if int(r["step"]) <= from_step]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(kept)
        atomic_write_bytes(self.path, buf.getvalue().encode())

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


def plot_log(log: RunLog, png: Path, loss_fields: tuple[str, ...]) -> None:
    """Loss curves (and validation PSNR when logged) as a PNG beside the log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = log.rows()
    if not rows:
        return
    steps = [int(r["step"]) for r in rows]
    has_val = any(r.get("val_psnr") for r in rows)
    fig, axes = plt.subplots(1, 2 if has_val else 1, figsize=(12 if has_val else 7, 4), squeeze=False)
    for field in loss_fields:
        values = [float(r[field]) if r.get(field) else math.nan for r in rows]
        axes[0][0].plot(steps, values, label=field, linewidth=1)
    axes[0][0].set_xlabel("step")
    axes[0][0].set_yscale("log")
    axes[0][0].legend(fontsize=7)
    axes[0][0].set_title("losses")
    if has_val:
        val = [(int(r["step"]), float(r["val_psnr"])) for r in rows if r.get("val_psnr")]
        axes[0][1].plot(*zip(*val), marker="o")
        axes[0][1].set_xlabel("step")
        axes[0][1].set_ylabel("PSNR (dB)")
        axes[0][1].set_title("validation PSNR of G")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    atomic_write_bytes(png, buf.getvalue())


def latest_checkpoint(run_dir: Path) -> tuple[int, Path] | None:
    found = list_checkpoints(run_dir / "checkpoints")
    return found[-1] if found else None


def open_run(run_dir: Path, kind: str, cfg_cls: type[C], cfg: C | None, resume: bool,
             steps: int | None, warn: Callable[[str], None] | None = None) -> tuple[C, int, dict[str, Any] | None]:
    """(config, start step, checkpoint state), with every input checked before step 1.

    A new run takes a folder that is new or empty (the rule every command that writes a folder follows);
    a resumed run takes its config from its newest readable checkpoint (a damaged newest one is skipped with a
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
    if steps is not None:
        try:
            cfg = dataclasses.replace(cfg, steps=steps)
        except ValueError as exc:
            raise UserError(str(exc).splitlines()[0]) from None
    val_dir = str(getattr(cfg, "val_dir", "") or "")
    if val_dir:  # a bad --val would otherwise fail at the first validation, after steps not yet saved
        check_val_set(Path(val_dir))
    return cfg, start, state


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
            console.print(f"[bold]config[/] ({f'resuming at step {start}' if state is not None else 'new run'})")
            console.print(to_json(cfg), highlight=False)
            console.print(f"{trainer.describe()}  device: {device}  world: {world.size}", highlight=False)
        if start >= cadence.steps:
            console.print(f"already at step {start} of {cadence.steps}; pass --steps N to go further")
            return
        run_loop(trainer, batches, start, cadence, run_dir, world, console)
    finally:
        shutdown(world)


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
    raised for the caller to exit with.
    """
    log = RunLog(run_dir / "log.csv", trainer.log_fields)
    if world.is_main:
        log.start(start)
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
            plot_log(log, run_dir / "losses.png", trainer.log_fields)
        if on_save:
            on_save(at)

    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                        console=console, disable=not world.is_main, transient=False)
    tick = time.perf_counter()
    since = 0
    try:
        with progress:
            task = progress.add_task("training", total=cadence.steps, completed=start, status="")
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
                    progress.update(task, status=_status(row))
                progress.update(task, completed=step)
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
        close = getattr(batches, "close", None)
        if close is not None:
            close()  # shuts data-loading workers down now, through their queues, not at interpreter exit
    if interrupted:
        raise KeyboardInterrupt
    barrier(world)
    return step


def _status(row: dict[str, Any]) -> str:
    shown = [f"{k}={v:.3g}" for k, v in row.items() if isinstance(v, float) and k not in ("lr",)]
    return " ".join(shown[:6])
