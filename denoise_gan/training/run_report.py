"""What a run shows while it trains: log.csv and losses.png, the header, the progress line (a live line on a
terminal, plain lines in a log) and the optional TensorBoard events."""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections import deque
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Column

from data_tools.atomic_files import OutputWriteError, atomic_write_bytes, atomic_write_text, write_error
from denoise_gan.config_json import to_json
from denoise_gan.evaluation.pictures import MARKERS, figure_png
from denoise_gan.extras import require
from denoise_gan.nets.run_folder import RunFolder
from denoise_gan.progress_bar import live_display
from denoise_gan.runtime import World

# Log fields on the 0-255 noise-level scale rather than losses (F's added σ, the estimator's level error): plotted
# on their own linear axis. A trainer may name its own with a ``level_fields`` attribute.
LEVEL_FIELDS = ("f_sigma", "level")
# what each is, on the 0-255 scale: F's noise a level, refine's `level` an error (falling is learning, not less noise)
LEVEL_LABELS = {"f_sigma": "f_sigma: σ of F's noise", "level": "level: mean error of the estimated level"}


class RunLog:
    """log.csv with a fixed header; resuming drops rows after the checkpoint's step.

    ``val_input_psnr`` is the validation set's noisy inputs scored as they are: the baseline G must beat."""

    def __init__(self, path: Path, fields: tuple[str, ...]) -> None:
        self.path = path
        self.fields = ("step", *fields, "lr", "it_s", "val_psnr", "val_ssim", "val_input_psnr")
        self.lost = ""

    def start(self, from_step: int) -> list[dict[str, str]]:
        """Start the log at ``from_step``; returns the rows kept (those of steps up to it). ``lost`` says what a
        resumed run's log no longer held (gone, or rows a damage made unreadable), for a warning."""
        rows, lines = self._read() if from_step > 0 and self.path.exists() else ([], 0)
        self.lost = ""
        if from_step > 0 and not self.path.exists():
            self.lost = f"{self.path} was gone: the rows of steps up to {from_step} are lost, the log goes on from it"
        elif (dropped := lines - len(rows)) > 0:  # the file as it was kept aside: a damaged header drops every row
            aside = self.path.with_name(self.path.name + ".damaged")
            atomic_write_bytes(aside, self.path.read_bytes())
            self.lost = (f"{self.path}: {dropped} damaged row(s) could not be read and are dropped (the log as it "
                         f"was is kept in {aside.name})" if rows else
                         f"{self.path}: its header or every row is damaged, so the log starts again from step "
                         f"{from_step} (the log as it was is kept in {aside.name})")
        kept = [r for r in rows if int(r["step"]) <= from_step]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(kept)
        atomic_write_text(self.path, buf.getvalue())
        return kept

    def append(self, row: dict[str, Any]) -> None:
        try:
            with self.path.open("a", newline="") as fh:
                csv.DictWriter(fh, fieldnames=self.fields, extrasaction="ignore").writerow(
                    {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        except OSError as exc:  # a full or read-only disk: one line, and the last checkpoint still resumes
            raise write_error(self.path, exc) from None

    def rows(self) -> list[dict[str, str]]:
        """The log's rows with a whole step number; a log re-saved by a spreadsheet (a byte-order mark) reads
        too, and a row a hand edit broke is left out rather than stopping the run."""
        return self._read()[0]

    def _read(self) -> tuple[list[dict[str, str]], int]:
        """``rows``, and the lines past the header they were read from (those it left out are damaged), from
        one read of the file."""
        try:
            text = self.path.read_text(encoding="utf-8-sig", errors="replace")
        except OSError as exc:  # a folder in its place, a file that cannot be read
            raise OutputWriteError(f"{self.path}: cannot read the run's log ({exc.strerror or exc}); move it "
                                   "aside to start a new one") from None
        rows = [row for row in csv.DictReader(io.StringIO(text)) if _whole(row.get("step"))]
        lines = sum(1 for line in text.split("\n") if line.strip())
        return rows, max(lines - 1, 0)


def _whole(text: str | None) -> bool:
    """A step number as a log holds one (at most 18 digits: int() of 4300 raises, and no run is that long)."""
    return text is not None and text.strip().isascii() and text.strip().isdigit() and len(text.strip()) <= 18


def logged_value(text: str | None) -> float:
    """A logged number, or NaN for an empty cell or one a hand edit made no number (it leaves a gap)."""
    try:
        return float(text) if text else math.nan
    except ValueError:
        return math.nan


def plot_log(log: RunLog, png: Path, fields: tuple[str, ...], level_fields: tuple[str, ...] = LEVEL_FIELDS) -> None:
    """losses.png beside the log: losses on a log axis, noise levels (0-255) on their own, validation PSNR of G
    against the noisy input's (the baseline) when validated."""
    rows = log.rows()
    if not rows:
        return
    atomic_write_bytes(png, figure_png(log_figure(rows, fields, level_fields), dpi=90))


SERIES_STYLES = (("-", None), ("--", None), ("-.", None), (":", None), ("-", "s"), ("--", "^"), ("-.", "D"), (":", "v"))


def _series_style(index: int, dot: str | None, points: int) -> dict[str, Any]:
    """A curve's dashes and marks, one of eight: eight losses told apart by colour alone were three or four
    to a reader with red-green colour blindness (tab10's green and red, orange and green)."""
    dashes, mark = SERIES_STYLES[index % len(SERIES_STYLES)]
    if dot:  # a log of one or two steps is drawn as points: each curve's its own shape
        mark = MARKERS[index % len(MARKERS)]
    return {"linestyle": dashes, "marker": mark, "markevery": max(1, points // 12), "markersize": 3, "linewidth": 1}


SMOOTH_FROM = 50  # logged rows from which each curve is its running mean over its raw values, drawn faint
SMOOTH_SHARE = 25  # the mean's window: this fraction of the rows (a 25th)


def _running_mean(values: list[float], window: int) -> list[float]:
    """At each row, the mean of the last ``window`` finite values (NaN before the first and after the last, where
    the curve has no data to trend): the trend of a loss that swings from row to row, which after hundreds of rows
    was a band the eye could not follow."""
    kept: deque[float] = deque(maxlen=window)
    out = []
    for value in values:
        if math.isfinite(value):
            kept.append(value)
        out.append(sum(kept) / len(kept) if kept else math.nan)
    last = max((i for i, value in enumerate(values) if math.isfinite(value)), default=-1)
    return out[:last + 1] + [math.nan] * (len(out) - last - 1)


def _plot_series(ax: Any, steps: list[int], values: list[float], label: str, style: dict[str, Any]) -> None:
    """A curve; from SMOOTH_FROM rows its running mean over a window of a 25th of them, the raw values faint
    beneath in its colour."""
    if len(steps) < SMOOTH_FROM:
        ax.plot(steps, values, label=label, **style)
        return
    (trend,) = ax.plot(steps, _running_mean(values, len(steps) // SMOOTH_SHARE), label=label, **style)
    ax.plot(steps, values, color=trend.get_color(), alpha=0.25, linewidth=0.6, label="_raw")


def log_figure(rows: list[dict[str, str]], fields: tuple[str, ...],
               level_fields: tuple[str, ...] = LEVEL_FIELDS) -> Any:
    """The matplotlib Figure of ``plot_log`` (drawn without pyplot, so no global backend is touched)."""
    from matplotlib.figure import Figure  # imported on use: matplotlib is slow to import

    def series(field: str) -> list[float]:
        return [logged_value(r.get(field)) for r in rows]

    def logged(field: str) -> bool:
        return any(math.isfinite(v) for v in series(field))

    steps = [int(r["step"]) for r in rows]
    dot = "o" if len(rows) < 3 else None  # a line of one logged step draws nothing: its point, at least
    losses = [f for f in fields if f not in level_fields and logged(f)]
    levels = [f for f in fields if f in level_fields and logged(f)]
    has_val = logged("val_psnr")
    panels = 1 + bool(levels) + has_val
    fig = Figure(figsize=(5.5 * panels, 4))
    axes = list(fig.subplots(1, panels, squeeze=False)[0])
    ax = axes.pop(0)
    log_axis = any(v > 0 for field in losses for v in series(field) if math.isfinite(v))  # needs one value > 0
    for i, field in enumerate(losses):
        zero = log_axis and all(v == 0 for v in series(field) if math.isfinite(v))  # no point on a log axis
        _plot_series(ax, steps, series(field), f"{field} (0 at every step)" if zero else field,
                     _series_style(i, dot, len(steps)))
    if log_axis:
        ax.set_yscale("log")
        ax.set_ylabel("loss (log scale)")
    ax.set_title("losses")
    if len(steps) >= SMOOTH_FROM:
        fig.suptitle(f"curves: running means of {len(steps) // SMOOTH_SHARE} logged rows; faint beneath: each row",
                     fontsize=8)
    if levels:
        ax = axes.pop(0)
        for i, field in enumerate(levels):
            _plot_series(ax, steps, series(field), LEVEL_LABELS.get(field, field), _series_style(i, dot, len(steps)))
        ax.set_ylabel("0-255 scale")
        ax.set_title("noise level" if levels == ["f_sigma"] else "level error" if levels == ["level"] else
                     "noise level and level error")
    if has_val:
        ax = axes.pop(0)
        val = [(int(r["step"]), v) for r in rows if math.isfinite(v := logged_value(r.get("val_psnr")))]
        ax.plot(*zip(*val), marker="o", label="G(noisy)")
        baseline = [v for r in rows if math.isfinite(v := logged_value(r.get("val_input_psnr")))]
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
             + fit_lines(["full config:", str(RunFolder(run_dir).config)], console.width, " ")
             + fit_lines([*describe.split("  "), f"device: {device}", *threads, f"world: {world.size}"],
                         console.width, "  "))
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    if not console.is_terminal:
        console.print(to_json(cfg), highlight=False, markup=False, soft_wrap=True)

class RunProgress:
    """Step, ETA, the trainer's few progress fields and the last validation PSNR.

    On a terminal: one live line that fits the console (80 columns included; what does not fit is cut with an
    ellipsis, never wrapped). Otherwise (nohup, Slurm, a pipe): one plain line per logged step, so a log file
    shows the run as it goes instead of one line at the end. Disabled on torchrun ranks other than 0.
    """

    def __init__(self, console: Console, total: int, start: int, fields: tuple[str, ...], enabled: bool = True,
                 deadline: float | None = None) -> None:
        self.console, self.total, self.start, self.fields = console, total, start, fields
        self.deadline = deadline  # time.monotonic() where the run stops whatever its steps: no ETA past it
        self.live = enabled and live_display(console)
        self.plain = enabled and not self.live
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

    def saved(self, step: int) -> None:
        """A plain line where a checkpoint was written: a log read after hours says where --resume goes on from
        (a terminal's live line has no room for it)."""
        if self.plain:
            self.console.print(f"checkpoint saved at step {step}: --resume goes on from there", highlight=False,
                               soft_wrap=True, markup=False)

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
        if self.deadline is not None:
            eta = min(eta, max(self.deadline - time.monotonic(), 0.0)) if math.isfinite(eta) else eta
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


class TensorBoardWriter:
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


def open_tensorboard(run_dir: Path, start: int, level_fields: tuple[str, ...]) -> TensorBoardWriter:
    require("tensorboard", "--tensorboard")
    return TensorBoardWriter(run_dir, start, level_fields)
