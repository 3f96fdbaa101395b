"""Output folders and report files checked before a run starts: one rule for what may be written where (new or
empty, the command's own, or --overwrite), proved writable, never inside the run's own inputs."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from data_tools.atomic_files import OutputWriteError, is_special_file, write_error
from data_tools.paths import real_path
from data_tools.set_halves import set_half_holding
from data_tools.temp_files import is_temp_file, remove_stale_parts, temp_prefix


def refuse_file_in_the_way(folder: Path, option: str = "-o") -> None:
    """An output folder's name taken by a file, or by a link that leads nowhere (a loop included): the same
    words from every command, naming the option that gave the folder."""
    if folder.exists() and not folder.is_dir():
        raise OutputWriteError(f"{folder}: exists and is not a folder; choose another {option}")
    if folder.is_symlink() and not folder.exists():
        raise OutputWriteError(f"{folder}: a link to {os.readlink(folder)}, which does not exist; create that "
                               f"folder or choose another {option}")


def refuse_set_half(folder: Path) -> None:
    """An output folder that is, or is inside, a synth set's clean/ or noisy/: the next command that reads the set
    would read what is written there as its images."""
    if (inside := set_half_holding(folder)) is not None:
        where = "the" if real_path(folder) == inside[0] / inside[1] else "inside the"
        raise OutputWriteError(f"{folder}: {where} {inside[1]}/ half of the synth set {inside[0]}: what is written "
                               "there would be read as the set's images; choose an output folder outside it")


def check_writable(folder: Path | str, option: str = "-o") -> None:
    """Create the folder if needed and prove a file can be made in it, before any work is done."""
    folder = Path(folder)
    refuse_file_in_the_way(folder, option)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=temp_prefix("write-check"), suffix=".part", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise write_error(folder, exc, "cannot write there") from None


def prepare_output_dir(folder: Path | str, overwrite: bool = False, own: bool = False,
                       hint: str = "pass --overwrite to replace its files", known: Iterable[str] = (),
                       written: Iterable[str] = ()) -> Path:
    """The one rule for every command that writes a folder of results: a folder that does not exist or is
    empty is used; a non-empty one only when it is this command's own resumable output (``own``) or the
    user said ``overwrite``; a file in the way is an error. The folder is created, proved writable and
    cleared of temp files that killed writers left, all before any work starts. A refusal names the entries
    that are not among ``known`` (what the command writes there) first: the ones that made it refuse.
    ``written``: the subfolders it writes into, which may hold no link (``refuse_links_inside``)."""
    folder = Path(folder)
    refuse_set_half(folder)
    if folder.is_dir() and not (own or overwrite):  # a file in the way is check_writable's to refuse
        try:
            mine = set(known)
            entries = sorted((p.name for p in folder.iterdir() if not is_temp_file(p.name)),
                             key=lambda name: (name in mine, name))
        except OSError as exc:
            raise OutputWriteError(f"{folder}: cannot list it ({exc.strerror or exc})") from None
        if entries:
            shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
            count = f"{len(entries)} {'entry' if len(entries) == 1 else 'entries'}"
            raise OutputWriteError(f"{folder}: not empty ({count}: {shown}); choose a new or empty folder, or {hint}")
    check_writable(folder)
    refuse_links_inside(folder, written)
    remove_stale_parts(folder)
    return folder


def refuse_links_inside(folder: Path, parts: Iterable[str]) -> None:
    """The ``parts`` of a folder handed over to be written again (a run's checkpoints/, a benchmark's crops/) hold
    no link: the command's files would be written, pruned and read (a report embeds its crops) through it,
    wherever it leads. Only what the command writes is asked: a link elsewhere in the folder is the user's."""
    for part in parts:
        if (folder / part).is_symlink():
            _refuse_link(folder / part)
        for top, dirs, files in os.walk(folder / part):  # links are listed, not followed
            for name in sorted(dirs) + sorted(files):
                if (link := Path(top) / name).is_symlink():
                    _refuse_link(link)


def _refuse_link(link: Path) -> None:
    raise OutputWriteError(f"{link}: a link to {os.readlink(link)}, where this command writes and reads its own "
                           "files, which would go through it; remove the link (or put a copy of what it leads to "
                           "in its place)")


def prepare_output_files(paths: dict[str, Path | None], overwrite: bool = False,
                         forbidden_suffixes: tuple[str, ...] = (), reads: Mapping[Path, str] = {}) -> list[Path]:
    """The rule for report files named by options (``{"--json": path, ...}``), checked before any work: two
    options never name one file, a name with a forbidden suffix (an image's, for a text report that could
    otherwise replace a photo) is refused, and so is a file the command reads (``reads``: path to what it is,
    a scored set's manifest: --overwrite replaced it), and an existing file is replaced only when the user said
    ``overwrite``. Each folder is created and proved writable, and the temp files a killed run left for that
    name are removed (the user's other files there are not this command's). Returns the folders it created,
    deepest first, for ``remove_made_folders`` when the command then fails."""
    read = {real_path(where): what for where, what in reads.items()}
    seen: dict[Path, str] = {}
    for option, path in paths.items():
        if path is None:
            continue
        key = Path(os.path.abspath(path))
        if key in seen:
            raise OutputWriteError(f"{seen[key]} and {option} both name {path}; give each its own file")
        seen[key] = option
        if str(path) == "-":  # the shell's "standard output", which these options do not mean: a file named "-"
            raise OutputWriteError(f"{option} -: give a file path (the table is on standard output already)")
        if path.suffix.lower() in forbidden_suffixes:
            example = f"results.{option.lstrip('-')}" if option in ("--json", "--csv") else "results.txt"
            raise OutputWriteError(f"{option} {path}: an image file name; give the report its own name "
                                   f"(e.g. {example})")
        if path.is_dir():
            raise OutputWriteError(f"{option} {path}: is a folder; give a file path")
        if (what := read.get(real_path(path))) is not None:
            raise OutputWriteError(f"{option} {path}: {what}, which this command reads; give the report its own "
                                   "name")
        if is_special_file(path):
            raise OutputWriteError(f"{option} {path}: is a device or a pipe, not a file; give a file path")
        if path.exists() and not overwrite:
            raise OutputWriteError(f"{option} {path}: exists; choose another name or pass --overwrite")
    given = [(option, path) for option, path in paths.items() if path is not None]
    made = writable_folders([(path.parent, option) for option, path in given])  # every name checked first
    for _, path in given:
        remove_stale_parts(path.parent, named=path.name)
    return made


def writable_folders(folders: Sequence[tuple[Path, str]]) -> list[Path]:
    """Each (folder, the option that names it) created if needed and proved writable (``check_writable``), as
    one step: returns the folders this call created, deepest first, for ``remove_made_folders`` when the command
    then writes nothing there; a folder that cannot be made or written removes again those made before it, so a
    refused command leaves none behind."""
    made = missing_folders(folder for folder, _ in folders)
    try:
        for folder, option in folders:
            check_writable(folder, option)
    except BaseException:
        remove_made_folders(made)
        raise
    return made


def missing_folders(folders: Iterable[Path]) -> list[Path]:
    """The folders among ``folders`` and above them that do not exist yet, deepest first: what a command is about
    to create, for ``remove_made_folders`` when it then writes nothing there."""
    missing = {p for folder in folders for p in (folder, *folder.parents) if not os.path.lexists(p)}
    return sorted(missing, key=lambda p: len(p.parts), reverse=True)


def remove_made_folders(folders: Iterable[Path]) -> None:
    """The folders a command created (``missing_folders`` before it did), removed where still empty: a command that
    failed before its reports (no such --clean folder, no pair to score), or a denoise whose every file failed,
    leaves no empty folder behind."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # holds something by now (a report, another process's file): kept
            pass


def refuse_output_read_as_a_set(out: Path | str, set_dir: Path | str | None, what: str,
                                error: type[Exception] = OutputWriteError) -> None:
    """An -o that is a synth set the command reads (``what``: the set as the command names it): it holds the set
    shared while it reads it and -o whole while it writes there, so its own read was taken for another process's."""
    if set_dir is not None and real_path(out) == real_path(set_dir):
        raise error(f"-o {out} is {what}, which this command reads while it writes -o; give the report a folder of "
                    "its own")


def refuse_output_inside_inputs(out: Path | str, inputs: Mapping[str, str | Path | None],
                                why: str = "its plots would be read as input images by the next run") -> None:
    """An output folder inside one of the command's image folders (``{"--clean": path, ...}``) is refused before
    any work: its plots and validation grids (``why``: what goes wrong) would be read as input images by a
    rerun or a ``--resume``."""
    where = real_path(out)  # a link to a folder inside an input is inside it
    for option, folder in inputs.items():
        if folder and where.is_relative_to(real_path(folder)):
            raise OutputWriteError(f"{out} is inside {option} {folder}: {why}; choose an output folder outside it")
