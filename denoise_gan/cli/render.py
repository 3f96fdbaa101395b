"""Everything the CLI draws: progress callbacks on the shared file bar and the result tables of every command.

The library returns typed results (``Summary``, ``Evaluation``, ``BenchmarkResult``, ``DemoRow``); this module
turns them into rich renderables, so no table is built in a command or in the library.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from data_tools.names import shown
from denoise_gan.progress_bar import ProgressFn, file_progress, live_display

if TYPE_CHECKING:  # the CLI imports the library on use, so `--help` stays fast
    from denoise_gan.evaluation.benchmark import BenchmarkResult
    from denoise_gan.evaluation.calibrate import Calibration
    from denoise_gan.evaluation.demo import DemoRow
    from denoise_gan.evaluation.metrics import Evaluation
    from denoise_gan.inference.files import Summary



def progress_bar(console: Console) -> Progress:
    """A rich progress bar (description, bar, done/total, time left, current name) on ``console``; disabled
    when it is not a terminal, so logs and pipes get no stray lines."""
    return file_progress(console, disable=not live_display(console))


PLAIN_EVERY = 10.0  # seconds between the plain progress lines of a log or pipe
clock = time.monotonic  # the progress lines' clock (a test steps its own)


@contextmanager
def progress_callback(console: Console, what: str) -> Iterator[ProgressFn]:
    """A ``progress(done, total, name)`` callback for library functions, drawn as one bar; in a log or pipe,
    a plain line every PLAIN_EVERY seconds and a last one at the end (none for work done sooner), so a long
    benchmark under nohup or Slurm shows it is alive."""
    start = last = clock()
    with progress_bar(console) as bar:
        task = bar.add_task(what, total=None, name="")

        ended = False

        def report(done: int, total: int, name: str) -> None:
            nonlocal last, ended
            bar.update(task, completed=done, total=total, name=shown(name))
            now = clock()
            finished = done >= total and last > start and not ended  # once, and only after a periodic line
            if live_display(console) or ended or (now - last < PLAIN_EVERY and not finished):
                return
            last, ended = now, done >= total
            console.print(f"{what}: {done}/{total} {shown(name)} ({now - start:.0f} s)", markup=False,
                          highlight=False, soft_wrap=True)

        yield report


def plain_boxes(result: RenderableType, console: Console) -> RenderableType:
    """The result with its tables' borders in ASCII where ``console`` is a log, a pipe or ``TERM=dumb``: a screen
    reader read each box-drawing character out by name, and a log opened in another encoding showed mojibake. A
    terminal keeps its look."""
    if not live_display(console):
        for part in result.renderables if isinstance(result, Group) else [result]:
            if isinstance(part, Table) and part.box is not None:
                part.box = box.ASCII
    return result


def denoise_summary(summary: Summary) -> RenderableType:
    """Failures and notes by file, then one totals table: what a user needs to trust the batch."""
    parts: list[RenderableType] = []
    problems = [r for r in summary.results if r.status == "failed" or r.message and r.status == "done"]
    if problems:
        table = Table(title="files needing attention", title_justify="left")
        for column in ("file", "status", "reason"):
            table.add_column(column, overflow="fold")
        for r in problems:
            style = "red" if r.status == "failed" else "yellow"
            table.add_row(escape(shown(r.source)), f"[{style}]{r.status}[/]", escape(shown(r.message)))  # [ ] too
        parts.append(table)
    totals = Table(title="denoise summary", title_justify="left")
    for column in ("files", "done", "skipped", "failed", "megapixels", "seconds", "MP/s"):
        totals.add_column(column, justify="right")
    failed = summary.failed
    totals.add_row(str(len(summary.results)), str(summary.count("done")), str(summary.count("skipped")),
                   f"[red]{failed}[/]" if failed else "0", f"{summary.megapixels:.2f}",
                   f"{summary.seconds:.1f}", f"{summary.mp_per_s:.3f}")
    parts.append(totals)
    return Group(*parts)


def evaluation_table(result: Evaluation, title: str) -> Table:
    """Per-image PSNR/SSIM (and Y-channel scores when computed), then the mean."""
    from rich.cells import cell_len

    from denoise_gan.evaluation.metrics import MEAN_ROW

    def fmt(key: str, value: float) -> str:
        return f"{value:.2f}" if key.startswith("psnr") else f"{value:.4f}"

    # an image named mean as the CSV writes it: not a second mean row
    rows = [[shown(f"./{row.name}" if row.name == MEAN_ROW else row.name), *(fmt(k, getattr(row, k))
                                                                            for k in result.keys)]
            for row in result.images]
    mean = ["mean", *(fmt(k, v) for k, v in result.mean.items())]
    table = Table(title=escape(shown(title)))  # folder names hold [brackets] and control characters too
    labels = {"psnr": "PSNR (dB)", "ssim": "SSIM", "psnr_y": "PSNR-Y (dB)", "ssim_y": "SSIM-Y"}
    for i, header in enumerate(("image", *(labels[k] for k in result.keys))):
        # each column as wide as its widest cell, so nothing is cut (print_whole widens the table to fit): at a
        # pipe's 80 columns names were cut to "holiday_…", two images alike
        table.add_column(header, justify="left" if i == 0 else "right",
                         min_width=max(cell_len(text) for text in (header, *(cells[i] for cells in (*rows, mean)))))
    for cells in rows:
        table.add_row(escape(cells[0]), *cells[1:])
    table.add_section()
    table.add_row(*(f"[bold]{cell}[/]" for cell in mean))
    captions = []
    if result.identical == len(result.images):
        captions.append(f"every {'scored ' if result.failed else ''}prediction equals its clean image (PSNR "
                        "infinite)")
    elif result.identical:
        captions.append(identical_caption(result.identical, len(result.images)))
    if result.identical < result.identical_y:  # colours that differ, with equal luma
        rest = len(result.images) - result.identical_y
        captions.append(f"{result.identical_y} pair(s) equal in Y (PSNR-Y infinite): the PSNR-Y mean is "
                        + (f"over the other {rest}" if rest else "infinite"))
    if result.missing:  # the mean is over fewer images than the clean set: say so under it
        captions.append(f"[red]{len(result.missing)} clean image(s) without a prediction, not in the mean[/]")
    if result.failed:  # likewise pairs that could not be scored (their reasons are on stderr and in the JSON)
        captions.append(f"[red]{len(result.failed)} pair(s) that could not be scored, not in the mean[/]")
    table.caption = "\n".join(captions) or None
    return table


def identical_caption(identical: int, total: int) -> str:
    """Why a mean PSNR is over fewer images than its SSIM: identical pairs (infinite PSNR) are left out of one
    and kept in the other (SSIM 1.0)."""
    return (f"{identical} identical pair(s) (PSNR infinite): the PSNR mean is over the other {total - identical}, "
            f"the SSIM mean over all {total}")


def demo_table(rows: Sequence[DemoRow], noise: str, seed: int, model: str = "default") -> Table:
    """Scores before and after denoising, per image and mean; the title names the model, so two demos of two
    checkpoints are told apart."""
    table = Table(title=escape(f"demo: {shown(model)}, {noise}, seed {seed} (held-out images, PSNR dB over the "
                               "image's channels / SSIM)"))
    for column in ("image", "noisy PSNR", "noisy SSIM", "denoised PSNR", "denoised SSIM", "seconds"):
        table.add_column(column, justify="left" if column == "image" else "right")
    for r in rows:
        table.add_row(escape(shown(r.name)), f"{r.noisy_psnr:.2f}", f"{r.noisy_ssim:.4f}", f"{r.psnr:.2f}",
                      f"{r.ssim:.4f}", f"{r.seconds:.2f}")

    from denoise_gan.evaluation.demo import demo_means

    mean = demo_means(rows)
    marks: dict[str, str] = {}  # each PSNR mean over fewer photos than its SSIM's marked, the noisy one too: the
    captions = []               # before and after means may be over different photos
    for column, key in (("noisy", "noisy_psnr"), ("denoised", "psnr")):
        identical = sum(not math.isfinite(getattr(r, key)) for r in rows)
        marks[key] = "*" * (len(captions) + 1) if 0 < identical < len(rows) else ""
        if marks[key]:
            captions.append(f"{marks[key]} {column}: {identical_caption(identical, len(rows))}")
    table.add_row("[bold]mean", f"{mean['noisy_psnr']:.2f}{marks['noisy_psnr']}", f"{mean['noisy_ssim']:.4f}",
                  f"[bold]{mean['psnr']:.2f}{marks['psnr']}", f"[bold]{mean['ssim']:.4f}", f"{mean['seconds']:.2f}")
    table.caption = "\n".join(captions) or None
    return table


def benchmark_summary(result: BenchmarkResult) -> RenderableType:
    """One table per noise condition (best PSNR/SSIM in bold green), then model load times, failures and the rows
    computed and reused; the run's notes are the command's to say, on stderr."""
    from denoise_gan.evaluation.report_plots import best_psnr, contender, contenders, shown_best, shown_psnr

    parts: list[RenderableType] = []
    sigma = "oracle σ" if result.data["config"]["oracle_sigma"] else "blind σ"
    summary = result.data["summary"]
    starred = False
    for noise in result.data["config"]["noises"]:
        mine = [s for s in summary if s["noise"] == noise]
        if not mine:
            continue
        table = Table(title=escape(f"{noise} ({sigma})"), title_justify="left", caption_justify="left")
        for column in ("method", "PSNR (dB)", "SSIM", "s/image", "MP/s", "images"):
            table.add_column(column, justify="left" if column == "method" else "right", no_wrap=True)
        best = best_psnr(mine)
        best_ssim = max((s["ssim"] for s in contenders(mine)), default=None)
        won: dict[str, list[str]] = {"PSNR": [], "SSIM": []}  # the methods whose cells are marked, by column
        for s in mine:
            value = shown_psnr(s)
            p = "inf" if math.isinf(value) else f"{value:.2f}" + ("*" if s.get("identical_pairs") else "")
            starred = starred or p.endswith("*")
            q = f"{s['ssim']:.4f}"
            marked = contender(s)
            best_p, best_q = marked and shown_best(value, best, 2), marked and shown_best(s["ssim"], best_ssim, 4)
            won["PSNR"] += [s["method"]] if best_p else []
            won["SSIM"] += [s["method"]] if best_q else []
            table.add_row(escape(s["method"]), f"[bold green]{p}[/]" if best_p else p,
                          f"[bold green]{q}[/]" if best_q else q, f"{s['seconds']:.3f}",
                          "-" if s["mp_per_s"] is None else f"{s['mp_per_s']:.3g}", str(s["images"]))
        table.caption = best_in_words(won)
        parts.append(table)
    if starred:
        parts.append("* some outputs equal their clean image (PSNR infinite): the PSNR mean is over the others, "
                     "the SSIM mean over all, as `evaluate` reports them; where methods leave out different "
                     "numbers of photos, no PSNR is marked best, unless one returned every photo so")
    from denoise_gan.evaluation.report import model_loads  # loaded already: the benchmark wrote its report

    for names, seconds, _ in model_loads(result.data["models"]):
        parts.append(f"model {escape(names)}: loaded {'once ' if ', ' in names else ''}in {seconds:.2f} s (with one "
                     "warm-up pass; not in the per-image seconds)")
    for f in result.failures:
        what = f"{f['image']} [{f['noise']}]" + (f" {f['method']}" if f["method"] else "")
        parts.append(f"[red]failed[/] {escape(shown(what))}: {escape(shown(f['reason']))}")
    parts.append(f"{result.computed} row(s) computed, {result.reused} reused")
    return Group(*parts)


def best_in_words(won: dict[str, list[str]]) -> str | None:
    """The methods a benchmark table marks bold green, per column, named under it: a pipe, a log, ``TERM=dumb``
    and a screen reader get no styles, and lost which method was best, what a reader came for."""
    said = [f"{metric} {', '.join(names)}" for metric, names in won.items() if names]
    return escape("best: " + "; ".join(said)) if said else None


def calibration_table(cal: Calibration, width: int | None = None) -> RenderableType:
    """Mean PSNR per factor and noise (the chosen factor's row in bold green), over the calibration photos.

    Noise specs head their columns when the table fits in ``width`` (a console's width); otherwise the columns
    are numbered and a legend under the table names each spec on a line of its own, so a narrow terminal never
    folds a spec into fragments."""
    from denoise_gan.evaluation.calibrate import PSNR_CAP

    table = Table(title=f"calibration: mean PSNR (dB) over {cal.images} photo(s), blind, per factor on the "
                        "estimated level", title_justify="left",
                  caption=f"{cal.capped} row(s) came back exactly (infinite PSNR) and count as "
                          f"{PSNR_CAP:g} dB in these means" if cal.capped else None, caption_justify="left")
    # each column: its text, one space of padding either side and one border; plus the outer border
    needed = 1 + (6 + 3) + sum(max(len(n), 5) + 3 for n in cal.noises) + (6 + 3)
    numbered = width is not None and needed > width
    table.add_column("factor", justify="right", no_wrap=True)
    for i, noise in enumerate(cal.noises, 1):
        table.add_column(f"({i})" if numbered else noise, justify="right", overflow="fold")
    table.add_column("mean", justify="right", no_wrap=True)
    for k in cal.scales:
        cells = [f"{cal.psnr[k][n]:.2f}" for n in cal.noises] + [f"{cal.mean(k):.3f}"]
        if k == cal.best:
            cells = [f"[bold green]{c}[/]" for c in cells]
        table.add_row(f"{k:g}", *cells)
    if not numbered:
        return table
    legend = Text("\n".join(f"({i}) {noise}" for i, noise in enumerate(cal.noises, 1)), no_wrap=True,
                  overflow="ignore")
    return Group(table, legend)
