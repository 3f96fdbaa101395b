"""Denoising files and folders: expand inputs, name outputs, read, tile, write, report.

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
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from data_tools.atomic_files import check_writable, remove_stale_parts
from data_tools.images import IMAGE_EXTENSIONS, collect_images, encode_problem, read_image, write_image
from denoise_gan.errors import UserError
from denoise_gan.inference.tiling import TiledDenoiser
from denoise_gan.runtime import World

OUTPUT_EXTS = {"same": "", "png": ".png", "jpg": ".jpg", "jpeg": ".jpg", "tif": ".tif", "tiff": ".tif",
               "webp": ".webp", "bmp": ".bmp"}
# image formats this tool does not write: `-o photo.gif` is a mistaken file name, not a folder to create
UNWRITTEN_IMAGE_SUFFIXES = (".gif", ".heic", ".heif", ".avif", ".jxl", ".jp2", ".j2k", ".ico", ".svg", ".pdf",
                            ".dng", ".raw", ".cr2", ".nef", ".arw", ".exr", ".hdr", ".pnm", ".ppm", ".pgm")
EIGHT_BIT_FORMATS = (".jpg", ".jpeg", ".webp", ".bmp")
NO_ALPHA_FORMATS = (".jpg", ".jpeg")  # and BMP for gray + alpha (it holds alpha only beside RGB)
GATHER_TIMEOUT = timedelta(days=7)  # rank 0 waits for the slowest rank's whole share, however long
NAME_MAX = 255  # bytes in one file name on common file systems (ext4, APFS, NTFS in UTF-16 units)


@dataclass(frozen=True)
class OutputOptions:
    """Where and how outputs are written."""

    suffix: str = ""  # added to the file stem: photo.jpg -> photo<suffix>.jpg
    ext: str = "same"  # same | png | jpg | tif | webp
    quality: int = 95  # JPEG/WebP quality
    recursive: bool = False
    skip_existing: bool = False
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.ext.lower().lstrip(".") not in OUTPUT_EXTS:
            raise UserError(f"unknown --ext {self.ext!r}; choose same, png, jpg, tif, webp or bmp")
        if not 1 <= self.quality <= 100:
            raise UserError(f"--quality must be 1-100, not {self.quality}")
        if self.skip_existing and self.overwrite:
            raise UserError("--skip-existing and --overwrite contradict each other; give one")
        if any(sep in self.suffix for sep in ("/", "\\")) or self.suffix in (".", ".."):
            raise UserError(f"--suffix {self.suffix!r} must not contain a path separator")

    def output_suffix(self, source: Path) -> str:
        return OUTPUT_EXTS[self.ext.lower().lstrip(".")] or source.suffix


@dataclass(frozen=True)
class Job:
    source: Path
    output: Path
    problem: str = ""  # found while planning (e.g. a name too long): this file fails, the batch goes on


@dataclass(frozen=True)
class FileResult:
    source: str
    output: str
    status: str  # done | skipped | failed
    megapixels: float = 0.0
    seconds: float = 0.0
    message: str = ""


@dataclass(frozen=True)
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


# ---- planning ------------------------------------------------------------------------------------

def expand_inputs(inputs: Sequence[Path | str], recursive: bool,
                  exclude: Path | None = None) -> list[tuple[Path, Path]]:
    """(file, path relative to the output folder) for every image named or found; a folder's tree is
    kept only with ``recursive``. Missing paths and files that are not images are argument errors.
    Files found under ``exclude`` (the output folder) are left out, so a rerun never denoises its outputs."""
    found: list[tuple[Path, Path]] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            found += [(p, p.relative_to(path)) for p in collect_images(path, recursive=recursive, exclude=exclude)]
        elif path.is_file():
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                raise UserError(f"{path}: not an image file extension ({', '.join(IMAGE_EXTENSIONS)})")
            found.append((path, Path(path.name)))
        else:
            raise UserError(f"{path}: no such file or folder")
    unique: dict[Path, tuple[Path, Path]] = {}
    for source, rel in found:
        # a file named twice (a folder and the file in it) is one input; a symlink is an input of its own
        # name, even when it points at another input (each name gets its output)
        unique.setdefault(Path(os.path.abspath(source)), (source, rel))
    if not unique:
        raise UserError(f"no images found in {', '.join(str(p) for p in inputs)}"
                        + ("" if recursive else " (use --recursive for subfolders)"))
    return list(unique.values())


def names_one_file(inputs: Sequence[Path | str], out: Path | str) -> bool:
    """Whether ``-o`` names the output file of a single input file (``-o cat_dn.png``), not a folder; a
    trailing separator (``-o shots.png/``) says "a folder", as it does to the shell."""
    if isinstance(out, str) and out.endswith(("/", os.sep)):
        return False
    out = Path(out)
    return (len(inputs) == 1 and Path(inputs[0]).is_file() and out.suffix.lower() in IMAGE_EXTENSIONS
            and not out.is_dir())


def plan_jobs(inputs: Sequence[Path | str], out_dir: Path | str, opts: OutputOptions) -> list[Job]:
    """Every (input, output) pair, sorted by output; collisions and writes over inputs are refused here.

    ``out_dir`` may name the output file of a single input file (see ``names_one_file``)."""
    one_file = names_one_file(inputs, out_dir)
    folder_named = isinstance(out_dir, str) and out_dir.endswith(("/", os.sep))
    out_dir = Path(out_dir)
    if out_dir.suffix.lower() in UNWRITTEN_IMAGE_SUFFIXES and not out_dir.is_dir() and not folder_named:
        raise UserError(f"-o {out_dir}: cannot write {out_dir.suffix} images; name a .png, .jpg, .tif, .webp or "
                        ".bmp file, or a folder (end it with /)")
    if one_file:
        return _plan_one_file(Path(inputs[0]), out_dir, opts)
    if out_dir.suffix.lower() in IMAGE_EXTENSIONS and not out_dir.is_dir() and not folder_named:
        many = f"there are {len(inputs)} inputs" if len(inputs) > 1 else \
            f"{inputs[0]} is a folder" if Path(inputs[0]).is_dir() else ""
        if many:  # (a missing input is reported as such below)
            raise UserError(f"-o {out_dir} names one image file, but {many}; give -o a folder (end it with / to "
                            "keep this name)")
    pairs = _without_own_outputs(expand_inputs(inputs, opts.recursive, exclude=out_dir), out_dir, opts)
    sources = {src.resolve() for src, _ in pairs}
    inodes = {_inode(src) for src, _ in pairs if src.exists()}
    jobs: dict[Path, Job] = {}
    for source, rel in pairs:
        output = _output_path(out_dir, source, rel, opts)
        problem = _name_problem(output) or _broken_link(source)
        if problem:
            jobs[Path(os.path.abspath(output))] = Job(source, output, problem)
            continue
        key = output.resolve()
        if key in sources or (output.exists() and _inode(output) in inodes):
            raise UserError(f"{source} -> {output} would overwrite an input file; choose another -o or a --suffix")
        if key in jobs:
            raise UserError(f"{jobs[key].source} and {source} would both be written to {output}; "
                            f"{_collision_hint(jobs[key].source, source, opts)}")
        jobs[key] = Job(source, output)
    return sorted(jobs.values(), key=lambda j: str(j.output))


def _collision_hint(first: Path, second: Path, opts: OutputOptions) -> str:
    """What keeps two inputs' outputs apart, for the way they met: formats made one by --ext, or two folders
    whose files share names (--recursive mirrors a tree under one input, not across inputs)."""
    if first.suffix.lower() != second.suffix.lower() and opts.ext.lower().lstrip(".") != "same":
        return "--ext same keeps their formats apart"
    if first.resolve().parent != second.resolve().parent:
        return ("denoise them into separate -o folders, or give their common parent folder with --recursive, "
                "which mirrors its tree")
    return "rename one of them"


def _plan_one_file(source: Path, output: Path, opts: OutputOptions) -> list[Job]:
    if opts.suffix or opts.recursive or opts.ext.lower().lstrip(".") not in ("same", output.suffix.lower().lstrip(".")):
        raise UserError(f"-o {output} names an output file; --suffix, --ext and --recursive apply to an output "
                        "folder (give -o a folder, or drop them)")
    if source.suffix.lower() not in IMAGE_EXTENSIONS:
        raise UserError(f"{source}: not an image file extension ({', '.join(IMAGE_EXTENSIONS)})")
    if os.path.abspath(output) == os.path.abspath(source) or (output.exists() and _inode(output) == _inode(source)):
        raise UserError(f"{source} -> {output} would overwrite the input file; choose another -o")
    return [Job(source, output, _name_problem(output))]


def _name_problem(output: Path) -> str:
    """A reason this output cannot be written, found before any work (a name longer than the file system's)."""
    size = len(os.fsencode(output.name))
    if size > NAME_MAX:
        return (f"output name is {size} bytes, over the {NAME_MAX} a file name may have; shorten the input's "
                "name or the --suffix")
    return ""


def _output_path(out_dir: Path, source: Path, rel: Path, opts: OutputOptions) -> Path:
    return out_dir / rel.parent / f"{rel.stem}{opts.suffix}{opts.output_suffix(source)}"


def _without_own_outputs(pairs: list[tuple[Path, Path]], out_dir: Path,
                         opts: OutputOptions) -> list[tuple[Path, Path]]:
    """Inputs that are this run's own outputs of other inputs (an in-place run with --suffix, run again to
    finish with --skip-existing) are left out: they are results, not photos to denoise again."""
    if not opts.suffix:
        return pairs
    outputs = {os.path.abspath(_output_path(out_dir, src, rel, opts)): src for src, rel in pairs}
    return [(src, rel) for src, rel in pairs
            if outputs.get(os.path.abspath(src)) in (None, src)]


def _broken_link(source: Path) -> str:
    """Why a symbolic link found in a folder cannot be read (its target is gone), or "" for a file."""
    if source.exists():
        return ""
    return f"a broken link: its target {os.readlink(source)} does not exist"


def _inode(path: Path) -> tuple[int, int]:
    """Identity of a file on disk, to catch hard links to an input that resolve() cannot see."""
    st = path.stat()
    return st.st_dev, st.st_ino


# ---- distributed (torchrun) ----------------------------------------------------------------------

def shard(jobs: Sequence[Job], rank: World) -> list[Job]:
    """This rank's share of the (sorted) jobs: every job on exactly one rank."""
    return list(jobs[rank.rank::rank.size])


def gather_summary(local: Summary, rank: World) -> Summary:
    """Rank 0 gets every rank's results (gloo works on CPU and GPU runs); other ranks keep their own."""
    if rank.size <= 1:
        return local
    import torch.distributed as dist

    created = not dist.is_initialized()
    if created:
        for var in ("MASTER_ADDR", "MASTER_PORT"):
            if var not in os.environ:
                raise UserError(f"WORLD_SIZE={rank.size} but {var} is not set; launch with torchrun")
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
    if job.output.exists() and not opts.overwrite:
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
        write_image(job.output, pixels, quality=opts.quality, exif=image.exif, icc=image.icc,
                    overwrite=opts.overwrite, lossless=image.lossless)
    except Exception as exc:  # one broken file never stops the batch
        return FileResult(src, dst, "failed", seconds=time.perf_counter() - start, message=_reason(exc, job))
    megapixels = pixels.shape[0] * pixels.shape[1] / 1e6
    notes = [n for n in (image.note, _format_note(image.pixels, job.output.suffix.lower())) if n]
    return FileResult(src, dst, "done", megapixels, time.perf_counter() - start, "; ".join(notes))


def _reason(exc: Exception, job: Job) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
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
    if pixels.shape[2] in (2, 4) and suffix in NO_ALPHA_FORMATS:
        lost.append(f"alpha dropped ({suffix} has none)")
    if pixels.shape[2] == 2 and suffix == ".bmp":
        lost.append("alpha dropped (.bmp holds alpha only with colour)")
    return "; ".join(lost)


@dataclass
class _Bars:
    """A files bar and, for images of more than one tile, a tiles bar."""

    progress: Progress
    files: TaskID
    tiles: TaskID = field(init=False)

    def __post_init__(self) -> None:
        self.tiles = self.progress.add_task("tiles", total=None, visible=False, name="")

    def tile_callback(self, name: str) -> FileProgress:
        def report(done: int, total: int) -> None:
            self.progress.update(self.tiles, completed=done, total=total, visible=total > 1, name=name)
        return report

    def file_done(self) -> None:
        self.progress.update(self.tiles, visible=False)
        self.progress.advance(self.files)


def _progress(console: Console, disable: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    TextColumn("{task.fields[name]}"), console=console, transient=True, disable=disable)


def denoise_files(inputs: Sequence[Path | str], out_dir: Path | str, engine: TiledDenoiser,
                  options: OutputOptions = OutputOptions(), *, strength: float = 1.0, sigma: float | None = None,
                  console: Console | None = None, world: World = World()) -> Summary:
    """Denoise files and folders into ``out_dir`` with ``engine``; returns this run's results (all ranks' on
    rank 0 under torchrun, where ``world`` says which share is this process's).

    Bad arguments raise UserError before any file is touched; per-file problems are results. ``console``
    shows progress bars on a terminal and a plain line per file otherwise (rank 0 only); None runs silently.
    """
    start = time.perf_counter()
    engine.check_level(strength, sigma)  # bad options fail before any file, not once per file
    planned = plan_jobs(inputs, out_dir, options)
    for folder in sorted({job.output.parent for job in planned if not job.problem}):  # a read-only output fails
        check_writable(folder)                                                       # now, not after the work
        remove_stale_parts(folder)  # temp files of a killed earlier run (a live run's are kept)
    jobs = shard(planned, world)
    show = console is not None and world.is_main
    plain = show and not console.is_terminal
    if plain:
        console.print(f"denoising {len(jobs)} file(s) into {out_dir} on {engine.where}", highlight=False)
    results: list[FileResult] = []
    with _progress(console or Console(quiet=True), disable=not show or plain) as progress:
        files = progress.add_task("files", total=len(jobs), name="")
        bars = _Bars(progress, files)
        for i, job in enumerate(jobs, 1):
            progress.update(files, name=job.source.name)
            callback = bars.tile_callback(job.source.name) if show and not plain else None
            results.append(denoise_file(job, engine, options, callback, strength, sigma))
            bars.file_done()
            if plain:
                console.print(_plain_line(i, len(jobs), results[-1]), highlight=False, markup=False, soft_wrap=True)
    local = Summary(tuple(results), time.perf_counter() - start, tuple(engine.notes), world.size, world.rank)
    return gather_summary(local, world)


def _plain_line(index: int, total: int, result: FileResult) -> str:
    """One line per file for logs (nohup, Slurm, a pipe): where it went, how it ended, how long it took."""
    detail = f" ({result.message})" if result.message else ""
    return f"[{index}/{total}] {result.status}: {result.source} -> {result.output} {result.seconds:.1f}s{detail}"
