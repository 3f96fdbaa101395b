"""Planning a denoise run: which files, where each output goes, and what is refused before any work.

Two inputs that would land on the same output, or an output that is an input, stop the run here (exit 2); a
file that can be named but not written (a name too long, a broken link) becomes a job with a problem, so it
fails alone and the batch goes on.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_tools.case_folding import folds_case, name_on_disk
from data_tools.disk_names import refused_names
from data_tools.folder_scan import (
    OTHER_IMAGE_SUFFIXES,
    broken_link,
    files_not_read_notes,
    folders_not_read,
    linked_note,
    not_an_image_file,
    nothing_there,
    other_formats,
    other_formats_note,
    unread_note,
)
from data_tools.image_encode import DEFAULT_QUALITY, JPEG_SUFFIXES
from data_tools.images import IMAGE_EXTENSIONS, collect_images_and_excluded
from data_tools.names import SUFFIX_RULE, makes_a_path, says_folder, shown
from data_tools.paths import real_path
from data_tools.shown_values import shown_number, shown_repr
from data_tools.synth_folder import incomplete_half_note
from denoise_gan.command_line import named
from denoise_gan.errors import UserError

OUTPUT_EXTS = {"same": "", "png": ".png", **{s.lstrip("."): ".jpg" for s in JPEG_SUFFIXES}, "tif": ".tif",
               "tiff": ".tif", "webp": ".webp", "bmp": ".bmp"}
# image formats this tool does not write: `-o photo.gif` is a mistaken file name, not a folder to create
UNWRITTEN_IMAGE_SUFFIXES = (*sorted(OTHER_IMAGE_SUFFIXES), ".svg", ".pdf")
QUALITY_SUFFIXES = (*JPEG_SUFFIXES, ".webp")  # the outputs --quality sets (a lossless WebP: its effort)
NAME_MAX = 255  # bytes in one file name on common file systems (ext4, APFS, NTFS in UTF-16 units)


@dataclass(frozen=True)
class OutputOptions:
    """Where and how outputs are written."""

    suffix: str = ""  # added to the file stem: photo.jpg -> photo<suffix>.jpg
    ext: str = "same"  # same | png | jpg | tif | webp
    quality: int | None = None  # JPEG/WebP quality; None: 95, without the note that PNG/TIFF/BMP ignore it
    recursive: bool = False
    skip_existing: bool = False
    overwrite: bool = False

    def __post_init__(self) -> None:
        for name, kind in (("suffix", str), ("ext", str), ("quality", numbers.Integral), ("recursive", bool),
                           ("skip_existing", bool), ("overwrite", bool)):  # the Python API's slips, in one line
            value = getattr(self, name)
            if name == "quality" and value is None:
                continue
            if kind is bool and isinstance(value, np.bool_):  # as Denoiser's ensemble takes one
                object.__setattr__(self, name, value := bool(value))
            if not isinstance(value, kind) or kind is not bool and isinstance(value, bool):
                raise UserError(f"OutputOptions.{name} must be {'int' if kind is numbers.Integral else kind.__name__}"
                                f", not {shown_repr(value)}")
        if self.quality is not None:
            object.__setattr__(self, "quality", int(self.quality))  # a NumPy integer as a plain one
        if self.ext.lower().lstrip(".") not in OUTPUT_EXTS:
            raise UserError(f"unknown {_named('ext')} {self.ext!r}; choose same, png, jpg, tif, webp or bmp")
        if self.quality is not None and not 1 <= self.quality <= 100:
            raise UserError(f"{_named('quality')} must be 1-100, not {shown_number(self.quality)}")
        if self.skip_existing and self.overwrite:
            raise UserError(f"{_named('skip_existing')} and {_named('overwrite')} contradict each other; give one")
        if makes_a_path(self.suffix):
            raise UserError(f"{_named('suffix')} {self.suffix!r}: {SUFFIX_RULE} (e.g. _dn)")
        if "\0" in self.suffix:
            raise UserError(f"{_named('suffix')} {self.suffix!r} holds a NUL character, which no file name can")
        if any(ord(c) < 32 or ord(c) == 127 for c in self.suffix):  # a newline from a quoting slip: every output
            raise UserError(f"{_named('suffix')} {self.suffix!r} holds a control character (a newline, a tab); "
                            "give a plain suffix (e.g. _dn)")  # name would break the next script's ls | while read

    @property
    def encoder_quality(self) -> int:
        return DEFAULT_QUALITY if self.quality is None else self.quality

    def output_suffix(self, source: Path) -> str:
        return OUTPUT_EXTS[self.ext.lower().lstrip(".")] or source.suffix


@dataclass(frozen=True)
class Job:
    source: Path
    output: Path
    problem: str = ""  # found while planning (e.g. a name too long): this file fails, the batch goes on


# ---- planning ------------------------------------------------------------------------------------

def _named(field: str) -> str:
    return named(field, owner="OutputOptions")


def expand_inputs(inputs: Sequence[Path | str], recursive: bool, exclude: Path | None = None,
                  folds: bool | None = None) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """(file, path relative to the output folder) for every image named or found; a folder's tree is
    kept only with ``recursive``. Missing paths and files that are not images are argument errors.
    Files found under ``exclude`` (the output folder) are left out, so a rerun never denoises its outputs; they
    are returned second. ``folds``: whether the output's disk folds case, if asked already."""
    if not inputs:
        raise UserError("no input files or folders given")
    found: list[tuple[Path, Path]] = []
    excluded: list[Path] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            kept, left = collect_images_and_excluded(path, recursive=recursive, exclude=exclude, folds=folds)
            found += [(p, p.relative_to(path)) for p in kept]
            excluded += left
        elif path.is_file():
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                raise UserError(not_an_image_file(path))
            found.append((path, Path(path.name)))
        elif path.exists():
            raise UserError(f"{path}: not a regular file or folder (a device or a pipe)")
        else:
            raise UserError(f"{path}: {nothing_there(path)}")
    unique: dict[Path, tuple[Path, Path]] = {}
    for source, rel in found:
        # a file named twice (a folder and the file in it) is one input; a symlink is an input of its own
        # name, even when it points at another input (each name gets its output); its folder is resolved, as the
        # file system does (`link/../a.png` is a.png beside the link's target, not beside the link)
        unique.setdefault(real_path(source.parent) / source.name, (source, rel))
    if not unique:  # why: photos in subfolders (--recursive), in linked folders (never followed), or of formats
        why = _not_read_notes(*folders_not_read(inputs, exclude or Path(os.devnull), recursive, folds))
        why += files_not_read_notes(inputs, recursive)  # other formats, hidden names
        raise UserError(f"no images found in {', '.join(str(p) for p in inputs)}" + "".join(f"; {w}" for w in why))
    return list(unique.values()), excluded


def _not_read_notes(unread: Sequence[Path], linked: Sequence[Path]) -> list[str]:
    return ([unread_note(unread)] if unread else []) + \
        ([linked_note(linked, "give one as an input to denoise its photos")] if linked else [])


def _left_out_note(left: Sequence[Path], why: str) -> list[str]:
    """One note naming the inputs a plan left out (the first, and how many more), or none."""
    if not left:
        return []
    more = f" and {len(left) - 1} more" if len(left) > 1 else ""
    return [f"left out {len(left)} image(s) ({shown(left[0])}{more}): {why}"]


def names_one_file(inputs: Sequence[Path | str], out: Path | str) -> bool:
    """Whether ``-o`` names the output file of a single input file (``-o cat_dn.png``), not a folder."""
    if says_folder(out):
        return False
    out = Path(out)
    return (len(inputs) == 1 and Path(inputs[0]).is_file() and out.suffix.lower() in IMAGE_EXTENSIONS
            and not out.is_dir())


@dataclass(frozen=True)
class FilePlan:
    jobs: list[Job]  # sorted by output
    notes: tuple[str, ...] = ()  # the images found but left out, and why


def plan_jobs(inputs: Sequence[Path | str], out_dir: Path | str, opts: OutputOptions) -> FilePlan:
    """Every (input, output) pair; collisions and writes over inputs are refused here, and images left out
    (in the output folder, or taken for earlier outputs) are named in the notes.

    ``out_dir`` may name the output file of a single input file (see ``names_one_file``)."""
    one_file = names_one_file(inputs, out_dir)
    folder_named = says_folder(out_dir)
    out_dir = Path(out_dir)
    if out_dir.suffix.lower() in UNWRITTEN_IMAGE_SUFFIXES and not out_dir.is_dir() and not folder_named:
        raise UserError(f"-o {out_dir}: cannot write {out_dir.suffix} images; name a .png, .jpg, .tif, .webp or "
                        ".bmp file, or a folder (end it with /)")
    if one_file:
        one = _plan_one_file(Path(inputs[0]), out_dir, opts)
        return FilePlan(one, tuple(_quality_unused_note(one, opts, "name a .jpg or .webp file with -o to use it")))
    if out_dir.suffix.lower() in IMAGE_EXTENSIONS and not out_dir.is_dir() and not folder_named:
        many = f"there are {len(inputs)} inputs" if len(inputs) > 1 else \
            f"{inputs[0]} is a folder" if Path(inputs[0]).is_dir() else ""
        if many:  # (a missing input is reported as such below)
            raise UserError(f"-o {out_dir} names one image file, but {many}; give -o a folder (end it with / to "
                            "keep this name)")
    folder_note = _new_folder_note(inputs, out_dir) if not folder_named else []
    pairs, in_output = expand_inputs(inputs, opts.recursive, exclude=out_dir, folds=(folds := folds_case(out_dir)))
    found = [_Candidate.of(src, rel, out_dir, opts) for src, rel in pairs]
    renamed = {c.real_output for c in found if c.real_output != c.real_source}  # see _leaves_out_earlier
    earlier, candidates = _split_earlier(found, renamed, opts)
    sources = {c.real_source for c in candidates}
    inodes = {_inode(c.source) for c in candidates if c.source.exists()}
    outputs = {c.real_output for c in candidates}
    left_in_output = {real: p for p in in_output if (real := real_path(p)) not in outputs}  # once, if found twice
    # every image in an -o inside the input is one of this run's outputs: an earlier run's, which --overwrite
    # redoes; one that is not tells a folder of the user's photos, where none is written over
    mixed = {real_path(p) for p in in_output} if opts.overwrite and left_in_output else set()
    jobs: dict[Path, Job] = {}
    failing: list[Job] = []  # files that will fail whose output another failing file claimed: each is still said
    folded = {name_on_disk(s, True) for s in sources} if folds else set()  # as the disk (asked once) has them
    for c in candidates:
        source, output, key = c.source, c.output, name_on_disk(c.real_output, folds)
        problem = _name_problem(output, out_dir) or broken_link(source) or _through_link(out_dir, output)
        if problem and key in jobs and jobs[key].problem:
            failing.append(Job(source, output, problem))
            continue
        if not problem:  # (a job that will fail still claims its output: a readable photo must not lose it silently)
            _refuse_over_input(c, c.real_source in renamed, _over_input(c, sources, inodes, folded), mixed, opts, folds)
        if key in jobs:
            raise UserError(_collision_text(jobs[key], c, opts))
        jobs[key] = Job(source, output, problem or "")
    notes = _left_out_note(list(left_in_output.values()),
                           f"in the output folder {shown(out_dir)}, inside the input, which is not read as input "
                           "(so a rerun never denoises its outputs); give an -o outside the input to denoise them")
    notes += _left_out_note(earlier,
                            "named as another input's output here (in one format or another), so taken for an "
                            "earlier output of this command; choose another -o to denoise them")
    notes += _not_read_notes(*folders_not_read(inputs, out_dir, opts.recursive, folds))
    notes += folder_note
    notes += [note for p in inputs if Path(p).is_dir() and (note := incomplete_half_note(p))]
    if other := other_formats(inputs, opts.recursive):
        notes.append(other_formats_note(other))
    notes += _quality_unused_note(list(jobs.values()), opts)
    return FilePlan(sorted([*jobs.values(), *failing], key=lambda j: str(j.output)), tuple(notes))


def _collision_text(earlier: Job, c: _Candidate, opts: OutputOptions) -> str:
    """Two inputs, one output: the same name, or names this disk does not tell apart (IMG_1.png, img_1.png)."""
    alike = "" if real_path(earlier.output) == c.real_output else \
        f" (and {earlier.output}: one name on this disk, which does not tell case apart)"
    return (f"{earlier.source} and {c.source} would both be written to {c.output}{alike}; "
            f"{_collision_hint(earlier.source, c.source, opts)}")


def _new_folder_note(inputs: Sequence[Path | str], out_dir: Path) -> list[str]:
    """-o cat.jpgg for one photo: a mistyped file name, or a folder? A folder (one with a dotted name may be
    meant), said while it is new."""
    if len(inputs) == 1 and Path(inputs[0]).is_file() and out_dir.suffix and not out_dir.exists():
        return [f"-o {out_dir} is taken as a new folder ({out_dir.suffix} is no image format written here; name a "
                ".png, .jpg, .tif, .webp or .bmp file for one file)"]
    return []


def _over_input(c: _Candidate, sources: set[Path], inodes: set[tuple[int, int]], folded: set[Path]) -> bool:
    """Whether the output is an input: by its real path, the same file under another name (a hard link), or,
    where the disk folds case (``folded``: the inputs' names as it tells them apart), by its name in another case
    (an exFAT disk through FUSE gives each such name an entry number of its own)."""
    return c.real_output in sources or (c.output.exists() and _inode(c.output) in inodes) or \
        (bool(folded) and name_on_disk(c.real_output, True) in folded)


def _refuse_over_input(c: _Candidate, renamed: bool, over_input: bool, found: set[Path], opts: OutputOptions,
                       folds: bool) -> None:
    """An output may not land on an input, nor (under --overwrite) on an image that --recursive found in the output
    folder inside the input (``found``, by real path, as the output is asked: the key it is planned under may be
    case-folded): nothing tells an earlier output there from a photo of the user's that bears its name."""
    source, output = c.source, c.output
    if over_input:
        itself = name_on_disk(c.real_output, folds) == name_on_disk(c.real_source, folds)  # (in another case)
        if not itself and c.output.exists() and _inode(c.output) == _inode(c.source):
            raise UserError(f"{source} -> {output} would overwrite an input file, its own under another name "
                            "(a hard link to it); choose another -o or a --suffix")
        earlier_output = renamed or not itself
        if opts.overwrite and earlier_output:
            raise UserError(f"{source} -> {output} would overwrite an input file (under --overwrite an earlier "
                            "output counts as one: delete it to redo it); choose another -o or --suffix")
        if earlier_output and not _leaves_out_earlier(opts):
            raise UserError(f"{source} -> {output} would overwrite an input file (if it is an earlier output of "
                            "this command, --skip-existing finishes the run and leaves such files out); "
                            "choose another -o or a --suffix")
        raise UserError(f"{source} -> {output} would overwrite an input file; choose another -o or a --suffix")
    if c.real_output in found:
        raise UserError(f"{source} -> {output} would overwrite an image found under the input: the output folder "
                        "inside it holds images that are no output of this run, so it may hold photos (delete the "
                        "earlier outputs to redo them); choose an -o outside the input")


def _quality_unused_note(jobs: Sequence[Job], opts: OutputOptions,
                         advice: str = "choose --ext jpg or webp to use it") -> list[str]:
    """A --quality given for outputs that are all PNG, TIFF or BMP would change nothing: say so, not nothing."""
    if opts.quality is None or not jobs or any(j.output.suffix.lower() in QUALITY_SUFFIXES for j in jobs):
        return []
    kinds = sorted({j.output.suffix.lower().lstrip(".") for j in jobs})
    return [f"--quality {opts.quality} is not used: it sets JPEG and WebP outputs, and these are "
            f"{', '.join(kinds)} ({advice})"]


def _leaves_out_earlier(opts: OutputOptions) -> bool:
    """Whether inputs found where this run writes another input under a new name (in place with --suffix or
    another --ext) are left out as earlier outputs, so a rerun with --skip-existing finishes the batch, from a
    folder or a shell glob: always with --suffix (a photo rarely bears a suffix), with another --ext only when
    finishing a run (--skip-existing), since photos named alike in two formats are common. Nothing tells an
    earlier output from a photo that bears its name, so under --overwrite such a file stays an input, and
    planning refuses to write over it."""
    return not opts.overwrite and (bool(opts.suffix) or opts.skip_existing)


def _split_earlier(found: Sequence[_Candidate], renamed: set[Path],
                   opts: OutputOptions) -> tuple[list[Path], list[_Candidate]]:
    """The inputs left out as earlier outputs of this command (see ``_leaves_out_earlier``), and the others: those
    bearing another input's output name and, with --suffix, that name in any format, since a run redone in
    another --ext would otherwise denoise the first run's outputs again (p0_dn.png into p0_dn_dn.jpg)."""
    if not _leaves_out_earlier(opts):
        return [], list(found)
    stems = {p.with_suffix("") for p in renamed} if opts.suffix else set()
    left = {c.real_source for c in found if c.real_source in renamed or c.real_source.with_suffix("") in stems}
    return [c.source for c in found if c.real_source in left], [c for c in found if c.real_source not in left]


def _collision_hint(first: Path, second: Path, opts: OutputOptions) -> str:
    """What keeps two inputs' outputs apart, for the way they met: formats made one by --ext, or two folders
    whose files share names (--recursive mirrors a tree under one input, not across inputs)."""
    if first.suffix.lower() != second.suffix.lower() and opts.ext.lower().lstrip(".") != "same":
        return "--ext same keeps their formats apart"
    if real_path(first).parent != real_path(second).parent:
        return ("denoise them into separate -o folders, or give their common parent folder with --recursive, "
                "which mirrors its tree")
    return "rename one of them"


def _plan_one_file(source: Path, output: Path, opts: OutputOptions) -> list[Job]:
    ext = opts.ext.lower().lstrip(".")
    if opts.suffix or opts.recursive or ext != "same" and OUTPUT_EXTS.get(ext) != OUTPUT_EXTS.get(
            output.suffix.lower().lstrip(".")):  # --ext jpg with -o x.jpeg asks for the format -o names
        raise UserError(f"-o {output} names an output file; --suffix, --ext and --recursive apply to an output "
                        "folder (give -o a folder, or drop them)")
    if source.suffix.lower() not in IMAGE_EXTENSIONS:
        raise UserError(not_an_image_file(source))
    if os.path.abspath(output) == os.path.abspath(source) or (output.exists() and _inode(output) == _inode(source)):
        raise UserError(f"{source} -> {output} would overwrite the input file; choose another -o")
    return [Job(source, output, _name_problem(output))]


def _name_problem(output: Path, out_dir: Path | None = None) -> str:
    """A reason this output cannot be written, found before any work: a name longer than the file system's, or
    one its disk refuses (its own, or a folder's that --recursive mirrors under ``out_dir``)."""
    size = len(os.fsencode(output.name))
    if size > NAME_MAX:
        return (f"output name is {size} bytes, over the {NAME_MAX} a file name may have; shorten the input's "
                "name or the --suffix")
    folders = output.parent.relative_to(out_dir).parts if out_dir is not None else ()
    return refused_names(output.parent, (*folders, output.name))


def _output_path(out_dir: Path, source: Path, rel: Path, opts: OutputOptions) -> Path:
    return out_dir / rel.parent / f"{rel.stem}{opts.suffix}{opts.output_suffix(source)}"


@dataclass(frozen=True)
class _Candidate:
    """An input and its output, each with links followed once (planning compares them several ways)."""

    source: Path
    output: Path
    real_source: Path
    real_output: Path

    @classmethod
    def of(cls, source: Path, rel: Path, out_dir: Path, opts: OutputOptions) -> _Candidate:
        output = _output_path(out_dir, source, rel, opts)
        return cls(source, output, real_path(source), real_path(output))


def _through_link(out_dir: Path, output: Path) -> str:
    """Why an output cannot go where --recursive mirrors it: a link to a folder inside the output folder would have
    it written through the link, over a file of that name wherever the link points (a folder link is never
    followed, to read or to write)."""
    folder = out_dir
    for part in output.relative_to(out_dir).parent.parts:
        folder = folder / part
        if folder.is_symlink():
            return (f"{shown(folder)} is a link to a folder ({shown(real_path(folder))}); outputs are never written "
                    "through one: remove the link or choose another -o")
    return ""


def _inode(path: Path) -> tuple[int, int]:
    """Identity of a file on disk, to catch hard links to an input that resolve() cannot see."""
    st = path.stat()
    return st.st_dev, st.st_ino
