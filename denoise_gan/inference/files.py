"""Denoising files and folders: run the plan (``file_plan``: inputs, output names, refusals), read, tile,
write, report.

Policies, chosen for the failures users report most:

* Outputs go under one folder; ``recursive`` mirrors each input folder's tree there. Two inputs that would
  land on the same output, or an output that is an input, stop the run before any work (exit 2).
* An output that already exists is a failure for that file unless ``skip_existing`` (leave it) or
  ``overwrite`` (replace it) is given: results are never silently replaced, nor silently missing.
* One unreadable or broken file is reported by name and the batch goes on; the run's results say which.
* Pixels keep their bit depth (16-bit PNG/TIFF stay 16-bit), channels and alpha; EXIF orientation is
  applied on read and EXIF/ICC written back where the format allows; writes are atomic.
* Under ``torchrun`` (RANK/WORLD_SIZE set) the sorted file list is split ``rank::world_size``, each rank
  uses ``cuda:LOCAL_RANK`` on CUDA, and rank 0 gathers every rank's results over gloo for the summary.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress, TaskID

from data_tools.atomic_files import OutputExistsError, hard_links_work, is_special_file
from data_tools.channels import has_alpha
from data_tools.image_encode import JPEG_SUFFIXES, WRITE_FORMATS, encode_problem
from data_tools.image_metadata import metadata_lost
from data_tools.images import read_image, write_image
from data_tools.names import refuse_empty_paths, shown
from data_tools.output_folders import remove_made_folders, writable_folders
from data_tools.paths import home_expanded
from data_tools.shown_values import shown_repr
from data_tools.temp_files import remove_stale_parts
from denoise_gan.errors import UserError, first_line, is_out_of_memory, out_of_memory_text
from denoise_gan.inference.file_plan import Job, OutputOptions, plan_jobs
from denoise_gan.inference.tiling import TiledDenoiser
from denoise_gan.progress_bar import file_progress, live_display
from denoise_gan.runtime import World

EIGHT_BIT_FORMATS = (*JPEG_SUFFIXES, ".webp", ".bmp")
NO_ALPHA_FORMATS = JPEG_SUFFIXES  # and BMP for gray + alpha (it holds alpha only beside RGB)
GATHER_TIMEOUT = timedelta(days=7)  # rank 0 waits for the slowest rank's whole share, however long


@dataclass(frozen=True)
class FileResult:
    source: str
    output: str
    status: str  # done | skipped | failed
    megapixels: float = 0.0
    seconds: float = 0.0
    message: str = ""


@dataclass(frozen=True, repr=False)
class Summary:
    """What a run did, over all ranks when launched with torchrun."""

    results: tuple[FileResult, ...]
    seconds: float  # wall time of the run (the slowest rank's)
    notes: tuple[str, ...] = ()
    world_size: int = 1
    rank: int = 0  # under torchrun only rank 0's summary covers every file; the others report their share

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def failed(self) -> int:
        return self.count("failed")

    @property
    def megapixels(self) -> float:
        return sum(r.megapixels for r in self.results if r.status == "done")

    @property
    def mp_per_s(self) -> float:
        return self.megapixels / self.seconds if self.seconds > 0 else 0.0

    def __repr__(self) -> str:
        """Counts and the first failures, not every file's result: a notebook shows the call's value, and a folder's
        was a screenful a file (``results`` and ``notes`` hold it all)."""
        failed = [f"{Path(r.source).name}: {r.message}" for r in self.results if r.status == "failed"]
        named = "; ".join(failed[:3]) + (f"; {len(failed) - 3} more" if len(failed) > 3 else "")
        return (f"Summary({len(self.results)} file(s): {self.count('done')} done, {self.count('skipped')} skipped, "
                f"{self.failed} failed{f' ({named})' if failed else ''}; {self.megapixels:.2f} MP in "
                f"{self.seconds:.1f} s; {len(self.notes)} note(s))")


# ---- distributed (torchrun) ----------------------------------------------------------------------

def shard(jobs: Sequence[Job], rank: World) -> list[Job]:
    """This rank's share of the (sorted) jobs: every job on exactly one rank."""
    return list(jobs[rank.rank::rank.size])


def check_launch(rank: World) -> None:
    """A share of the files is denoised only under a real torchrun launch: a WORLD_SIZE left in the environment
    without torchrun's rendezvous address is refused before any file is touched (it denoised half the files,
    then failed)."""
    if rank.size <= 1:
        return
    dist = sys.modules.get("torch.distributed")  # a caller's own process group needs no address
    if dist is not None and dist.is_available() and dist.is_initialized():
        return
    missing = [var for var in ("MASTER_ADDR", "MASTER_PORT") if var not in os.environ]
    if missing:
        raise UserError(f"WORLD_SIZE={rank.size} but {missing[0]} is not set; launch with torchrun, or unset "
                        "WORLD_SIZE and RANK to denoise every file in this process")


def gather_summary(local: Summary, rank: World) -> Summary:
    """Rank 0 gets every rank's results (gloo works on CPU and GPU runs); other ranks keep their own."""
    if rank.size <= 1:
        return local
    import torch.distributed as dist

    created = not dist.is_initialized()
    if created:
        dist.init_process_group("gloo", rank=rank.rank, world_size=rank.size, timeout=GATHER_TIMEOUT)
        group = None
    else:
        group = dist.new_group(backend="gloo", timeout=GATHER_TIMEOUT)
    parts: list[Summary | None] | None = [None] * rank.size if rank.is_main else None
    dist.gather_object(local, parts, dst=0, group=group)
    if created:
        dist.destroy_process_group()
    if not rank.is_main or parts is None:
        return local
    summaries = [p for p in parts if p is not None]
    notes = tuple(dict.fromkeys(n for s in summaries for n in s.notes))
    results = tuple(sorted((r for s in summaries for r in s.results), key=lambda r: r.output))
    return Summary(results, max(s.seconds for s in summaries), notes, rank.size, rank.rank)


# ---- running -------------------------------------------------------------------------------------

FileProgress = Callable[[int, int], None]


def denoise_file(job: Job, denoiser: TiledDenoiser, opts: OutputOptions,
                 progress: FileProgress | None = None, strength: float = 1.0,
                 sigma: float | None = None) -> FileResult:
    """One file end to end; every expected failure becomes a 'failed' result naming the reason."""
    start = time.perf_counter()
    src, dst = str(job.source), str(job.output)
    if job.problem:
        return FileResult(src, dst, "failed", message=job.problem)
    in_the_way = "folder" if job.output.is_dir() else "device or pipe" if is_special_file(job.output) \
        else "link to nothing" if job.output.is_symlink() and not job.output.exists() else ""
    if in_the_way:  # never a finished output, whatever the flags say
        return FileResult(src, dst, "failed", message=f"a {in_the_way} is in the way of the output; move it or "
                          "choose another -o")
    if _killed_reservation(job.output) and not opts.overwrite:  # no image: a run killed as it filled a name
        job.output.unlink(missing_ok=True)  # it reserved (where the disk has no hard links): --skip-existing redoes it
    if job.output.exists() and not opts.overwrite:
        if _empty_file(job.output) and not hard_links_work(job.output.parent):  # another run's reservation, or
            # a run killed a moment ago (older ones were removed above): no image to skip
            return FileResult(src, dst, "failed", message="an empty file is at the output's name (another run "
                              "writing it, or one killed less than a minute ago); run again in a minute")
        if opts.skip_existing:
            return FileResult(src, dst, "skipped", message="output exists")
        return FileResult(src, dst, "failed", message="output exists (use --skip-existing or --overwrite)")
    try:
        image = read_image(job.source)
        problem = encode_problem(image.pixels.shape, job.output.suffix)  # before the work, not after it
        if problem:
            raise ValueError(problem)
        pixels = denoiser(image.pixels, progress, strength=strength, sigma=sigma)
        # without --overwrite the output is created exclusively: a file another run wrote meanwhile stays
        write_image(job.output, pixels, quality=opts.encoder_quality, exif=image.exif, icc=image.icc,
                    overwrite=opts.overwrite, lossless=image.lossless, dpi=image.dpi)
    except Exception as exc:  # one broken file never stops the batch
        # another run wrote the output meanwhile: what --skip-existing asked to leave as it is
        skip = isinstance(exc, OutputExistsError) and opts.skip_existing
        return FileResult(src, dst, "skipped" if skip else "failed", seconds=time.perf_counter() - start,
                          message="output written meanwhile by another run" if skip else _reason(exc, job))
    megapixels = pixels.shape[0] * pixels.shape[1] / 1e6
    notes = [n for n in (image.caution, image.note, _format_note(image.pixels, job.output.suffix.lower()),
                         *metadata_lost(WRITE_FORMATS[job.output.suffix.lower()], image.pixels.shape[2], image.exif,
                                        image.icc, deep=image.pixels.dtype == np.uint16)) if n]
    return FileResult(src, dst, "done", megapixels, time.perf_counter() - start, "; ".join(notes))


# a live run fills the name it reserved within moments (its image is encoded before): older and still empty, the
# run that reserved it was killed; younger, another run may be filling it now
RESERVATION_GRACE_S = 60.0


def _killed_reservation(path: Path) -> bool:
    try:
        old = _empty_file(path) and time.time() - path.stat().st_mtime > RESERVATION_GRACE_S
    except OSError:
        return False
    return old and not hard_links_work(path.parent)  # where they work no name is reserved: a user's empty file


def _empty_file(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size == 0
    except OSError:
        return False


def _reason(exc: Exception, job: Job) -> str:
    if is_out_of_memory(exc):
        return out_of_memory_text(exc)
    text = first_line(exc, None)
    for prefix in (f"{job.source}: ", f"{job.output}: "):
        text = text.removeprefix(prefix)
    if isinstance(exc, (UserError, ValueError, OSError)):
        return text
    return f"{type(exc).__name__}: {text}"


def _format_note(pixels: np.ndarray, suffix: str) -> str:
    """What the chosen output format could not keep, so a user is never surprised by it."""
    lost = []
    if pixels.dtype == np.uint16 and suffix in EIGHT_BIT_FORMATS:
        lost.append(f"16-bit written as 8-bit ({suffix} holds 8 bits)")
    if has_alpha(pixels.shape[2]) and suffix in NO_ALPHA_FORMATS:
        lost.append(f"alpha dropped ({suffix} has none)")
    if pixels.shape[2] == 2 and suffix == ".bmp":
        lost.append("alpha dropped (.bmp holds alpha only with colour)")
    if pixels.shape[2] in (1, 2) and suffix == ".webp":
        lost.append("gray written as colour (.webp holds no gray)")
    return "; ".join(lost)


@dataclass
class _Bars:
    """A files bar and, for images of more than one tile, a tiles bar."""

    progress: Progress
    files: TaskID
    tiles: TaskID = field(init=False)
    worked: bool = field(init=False, default=False)  # whether a file was denoised yet (not skipped)

    def __post_init__(self) -> None:
        self.tiles = self.progress.add_task("tiles", total=None, visible=False, name="")

    def tile_callback(self, name: str) -> FileProgress:
        """The tiles bar of a new file: reset, so its time left is timed afresh (a bar kept at the last file's end
        counts as finished, and showed 0:00:00 left for every file after the first)."""
        self.progress.reset(self.tiles, total=None, visible=False, name=name)

        def report(done: int, total: int) -> None:
            self.progress.update(self.tiles, completed=done, total=total, visible=total > 1, name=name)
        return report

    def file_done(self, skipped: bool = False) -> None:
        """One more file; those a resume skips before any work (outputs kept by --skip-existing) took no time, so
        the files' time left is timed from the work after them (they read as instant progress). A skip between
        worked files is counted as one (resetting there would leave no two worked files to time)."""
        self.progress.update(self.tiles, visible=False)
        self.progress.advance(self.files)
        self.worked = self.worked or not skipped
        if skipped and not self.worked:
            task = self.progress.tasks[self.files]
            self.progress.reset(self.files, total=task.total, completed=task.completed, name=task.fields["name"])


PLAIN_TILES_EVERY = 10.0  # seconds between a log's lines on one large image's tiles


def _plain_tiles(console: Console, name: str) -> FileProgress:
    """In a log or pipe, a line on a large image's tiles every PLAIN_TILES_EVERY seconds: a 50 MP photo took a
    minute with nothing said after "denoising 1 file(s)"."""
    start = last = time.monotonic()

    def report(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if 0 < done < total and now - last >= PLAIN_TILES_EVERY:
            last = now
            console.print(f"  {name}: tile {done}/{total} ({now - start:.0f} s)", highlight=False, markup=False,
                          soft_wrap=True)
        elif done == total > 1 and now - start >= PLAIN_TILES_EVERY:  # encoding a 50 MP image took another minute
            console.print(f"  {name}: {total} tiles done ({now - start:.0f} s); writing it", highlight=False,
                          markup=False, soft_wrap=True)
    return report


def denoise_files(inputs: Iterable[Path | str] | Path | str, out_dir: Path | str, engine: TiledDenoiser,
                  options: OutputOptions | None = None, *, strength: float = 1.0, sigma: float | None = None,
                  console: Console | None = None, world: World = World()) -> Summary:
    """Denoise files and folders into ``out_dir`` with ``engine``; returns this run's results (all ranks' on
    rank 0 under torchrun, where ``world`` says which share is this process's).

    Bad arguments raise UserError before any file is touched; per-file problems are results. ``console``
    shows progress bars on a terminal and a plain line per file otherwise (rank 0 only); None runs silently.
    """
    start = time.perf_counter()
    options = options or OutputOptions()
    if isinstance(inputs, bytes | bytearray) or not isinstance(inputs, (str, os.PathLike, Iterable)):
        raise UserError(f"inputs must be a path or paths (str or Path), not {type(inputs).__name__} "
                        f"({shown_repr(inputs)})")
    inputs = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)  # one path, or any iterable
    if not isinstance(out_dir, (str, os.PathLike)):
        raise UserError(f"out_dir must be a path, not {shown_repr(out_dir)}")
    odd = [item for item in inputs if not isinstance(item, (str, os.PathLike))]
    if odd:
        raise UserError(f"inputs must be paths (str or Path), not {type(odd[0]).__name__} ({shown_repr(odd[0])})")
    if not isinstance(options, OutputOptions):
        raise UserError(f"options must be an OutputOptions, not {type(options).__name__}")
    if console is not None and not isinstance(console, Console):
        raise UserError(f"console must be a rich Console (or None), not {type(console).__name__}")
    refuse_empty_paths(out_dir, *inputs, what="path among inputs/out_dir", error=UserError)
    inputs, out_dir = [home_expanded(p) for p in inputs], home_expanded(out_dir)
    if "\0" in str(os.fspath(out_dir)):
        raise UserError(f"out_dir {out_dir!r:.80} holds a NUL character, which no file name can")
    engine.check_level(strength, sigma)  # bad options fail before any file, not once per file
    check_launch(world)
    plan = plan_jobs(inputs, out_dir, options)
    planned = plan.jobs
    made = _prepare_folders(planned)
    jobs = shard(planned, world)
    show = console is not None and world.is_main
    plain = show and not live_display(console)
    if plain:
        share = f", {len(jobs)} of them in this process (rank 0 of {world.size}; the other ranks' files get no " \
            "line here, and the summary counts them)" if world.size > 1 else ""
        console.print(f"denoising {len(planned)} file(s) into {out_dir} on {engine.where}{share}", highlight=False,
                      markup=False, soft_wrap=True)
    results: list[FileResult] = []
    with file_progress(console or Console(quiet=True), disable=not show or plain) as progress:
        files = progress.add_task("files", total=len(jobs), name="")
        bars = _Bars(progress, files)
        for i, job in enumerate(jobs, 1):
            name = shown(job.source.name)
            progress.update(files, name=name)
            callback = _plain_tiles(console, name) if plain else bars.tile_callback(name) if show else None
            results.append(denoise_file(job, engine, options, callback, strength, sigma))
            bars.file_done(results[-1].status == "skipped")
            if plain:
                console.print(_plain_line(i, len(jobs), results[-1]), highlight=False, markup=False, soft_wrap=True)
    if world.size == 1:  # a run whose every file failed leaves no empty folder it made (other ranks may write)
        remove_made_folders(made)
    local = Summary(tuple(results), time.perf_counter() - start,
                    (*engine.notes, *engine.level_notes(strength, sigma), *(plan.notes if world.is_main else ())),
                    world.size, world.rank)
    return gather_summary(local, world)


def _prepare_folders(planned: Sequence[Job]) -> list[Path]:
    """The output folders proved writable now (a read-only one fails before the work, not after it, and leaves
    none of them made) and cleared of a killed earlier run's temp files (a live run's are kept); returns those this
    call created, deepest first."""
    folders = sorted({job.output.parent for job in planned if not job.problem})
    made = writable_folders([(folder, "-o") for folder in folders])
    for folder in folders:
        remove_stale_parts(folder)
    return made


def _plain_line(index: int, total: int, result: FileResult) -> str:
    """One line per file for logs (nohup, Slurm, a pipe): where it went, how it ended, how long it took."""
    detail = f" ({result.message})" if result.message else ""
    return shown(f"[{index}/{total}] {result.status}: {result.source} -> {result.output} {result.seconds:.1f}s{detail}")
