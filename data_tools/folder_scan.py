"""What a command's walk of its input leaves out: subfolders (read only with --recursive), linked folders (never
followed, so a link loop cannot make a walk endless) and images in formats no command here reads, so a command
can name them instead of leaving them out without a word."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from data_tools.case_folding import folds_case, name_on_disk
from data_tools.errors import DataError
from data_tools.images import IMAGE_EXTENSIONS
from data_tools.names import shown
from data_tools.paths import real_path


def folders_not_read(inputs: Sequence[Path | str], out_dir: Path, recursive: bool,
                     folds: bool | None = None) -> tuple[list[Path], list[Path]]:
    """(subfolders only --recursive reads, linked folders no run follows) under the input folders that hold
    photos: without --recursive, each input's own subfolders; with it, every linked folder of its tree. Never
    a hidden one, the output folder or one that is an input of its own; each once (a link to a folder that is
    read, or named as unread, is not named again). ``folds``: whether the output's disk folds case, if asked
    already."""
    if folds is None:  # the output folder spelt in another case on a card that folds case
        folds = folds_case(Path(out_dir))
    skip = {name_on_disk(real_path(p), folds) for p in (*inputs, out_dir)}
    unread: dict[Path, Path] = {}
    linked: dict[Path, Path] = {}
    for raw in inputs:
        if not Path(raw).is_dir():
            continue
        for top, dirs, _ in os.walk(raw):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in dirs:
                entry = Path(top) / name
                real = real_path(entry)
                if name_on_disk(real, folds) not in skip and (entry.is_symlink() or not recursive) \
                        and holds_photos(real, out_dir):
                    (linked if entry.is_symlink() else unread).setdefault(real, entry)
            if not recursive:
                break
    read = [real_path(p) for p in inputs if recursive and Path(p).is_dir()]  # trees walked whole
    linked = {r: e for r, e in linked.items() if r not in unread and not any(r.is_relative_to(t) for t in read)}
    return list(unread.values()), list(linked.values())


def not_a_folder(path: Path) -> str:
    """Why ``path`` is no input folder, in the words every command uses: nothing there, or something else."""
    return "not a folder" if path.exists() else nothing_there(path, "folder")


def nothing_there(path: Path, what: str = "file or folder") -> str:
    """Why nothing is at ``path``: no such ``what``, or a link whose target is gone or leads back to itself (its
    name is there: "no such file" sent the user looking for a typo)."""
    return broken_link(path) if path.is_symlink() else f"no such {what}"


def broken_link(path: Path) -> str:
    """Why a symbolic link cannot be read (its target is gone, or a loop), or "" where it leads somewhere."""
    if path.exists():
        return ""
    target = os.readlink(path)
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"a link loop: its target {target} leads back to itself"
    return f"a broken link: its target {target} leads to nothing"


def require_folders(*folders: str | Path) -> None:
    """Every input folder a command names exists as a folder (empty names are options not given), checked before
    anything is made or anything heavy is imported, so a wrong path answers at once."""
    for folder in folders:
        if folder and not Path(folder).is_dir():
            raise DataError(f"{folder}: {not_a_folder(Path(folder))}")


def no_longer_a_folder(path: Path) -> str:
    """Why a folder a run began with is gone on its resume: ``not_a_folder``, with what likely happened."""
    return "not a folder (replaced by a file?)" if path.exists() else "no such folder (moved or deleted?)"


def holds_photos(folder: Path, out_dir: Path | None = None) -> bool:
    """Whether an image file lies anywhere below ``folder`` outside the output folder (links not followed,
    hidden folders skipped); stops at the first."""
    out = real_path(out_dir) if out_dir is not None else None
    for top, dirs, files in os.walk(folder):
        if out is not None and Path(top).is_relative_to(out):
            dirs[:] = []
            continue
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if any(Path(f).suffix.lower() in IMAGE_EXTENSIONS and not f.startswith(".") for f in files):
            return True
    return False


def unread_note(unread: Sequence[Path]) -> str:
    """The line that names the subfolders only --recursive reads (the first, and how many more)."""
    return (f"not read: {len(unread)} subfolder(s) of the input ({_first(unread)}); --recursive denoises the photos "
            "in them too")


def linked_note(linked: Sequence[Path], advice: str, what: str = "linked folder(s)") -> str:
    """The line that names the linked folders of photos a walk did not follow, and what to do (``advice``)."""
    return f"not read: {len(linked)} {what} ({_first(linked)}), since links to folders are never followed; {advice}"


# image files of formats no command reads (GIF, HEIF/AVIF, JPEG 2000/XL, camera RAW, ...): named when left out
OTHER_IMAGE_SUFFIXES = frozenset({".gif", ".apng", ".pcx", ".heic", ".heif", ".avif", ".jxl", ".jp2", ".j2k", ".psd",
                                  ".ico", ".tga", ".pbm", ".pgm", ".ppm", ".pnm", ".exr", ".hdr", ".dng", ".raw",
                                  ".cr2", ".cr3", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf", ".rw2",
                                  ".pef", ".srw"})


def other_formats(inputs: Sequence[Path | str], recursive: bool) -> list[Path]:
    """The image files of other formats in the input folders, and entries named as images that are no regular
    file (a pipe, a socket, a device, a link to one), which no reader opens (their subfolders too with
    ``recursive``; hidden ones skipped, links to folders not followed, as the walk that reads the photos)."""
    return [Path(top) / f for top, f in _walked(inputs, recursive, hidden=False)
            if Path(f).suffix.lower() in OTHER_IMAGE_SUFFIXES or _special(top, f)]


def hidden_images(inputs: Sequence[Path | str], recursive: bool) -> list[Path]:
    """The images a walk of the input folders passes over for a hidden name (theirs or a folder's above them,
    under the input), which a run that finds no other image should name."""
    return [Path(top) / f for top, f in _walked(inputs, recursive, hidden=True)
            if Path(f).suffix.lower() in IMAGE_EXTENSIONS]


def _walked(inputs: Sequence[Path | str], recursive: bool, hidden: bool) -> Iterator[tuple[str, str]]:
    """(folder, name) of the files in the input folders (their subfolders too with ``recursive``), sorted, links
    to folders not followed: those the walk for photos reads, or with ``hidden`` those it passes over (a hidden
    name, or under a hidden folder)."""
    for raw in inputs:
        if not Path(raw).is_dir():
            continue
        for top, dirs, files in os.walk(raw):
            under_hidden = any(part.startswith(".") for part in Path(top).relative_to(raw).parts)
            dirs[:] = sorted(d for d in dirs if hidden or not d.startswith("."))
            yield from ((top, f) for f in sorted(files) if (under_hidden or f.startswith(".")) == hidden)
            if not recursive:
                break


def hidden_images_note(hidden: Sequence[Path]) -> str:
    shown_names = ", ".join(shown(p) for p in hidden[:3]) + (", ..." if len(hidden) > 3 else "")
    return (f"{len(hidden)} image(s) with a hidden name passed over ({shown_names}): give one as an input to read "
            "it")


def files_not_read_notes(inputs: Sequence[Path | str], recursive: bool) -> list[str]:
    """What the input folders hold that no command reads, a note each: images of other formats, hidden names."""
    other, hidden = other_formats(inputs, recursive), hidden_images(inputs, recursive)
    return ([other_formats_note(other)] if other else []) + ([hidden_images_note(hidden)] if hidden else [])


def no_images_text(folder: Path | str, found: str = "no image files found") -> str:
    """A folder (read recursively, as every folder of images is) that gave no image to read, and what it holds
    that no command reads: "no image files found" alone sent a user with a folder of GIFs or HEICs looking for the
    fault."""
    return f"{folder}: {found}" + "".join(f"; {note}" for note in files_not_read_notes([folder], True))


_READ = ", ".join(IMAGE_EXTENSIONS)  # the suffixes read, as the messages list them


def not_an_image_file(path: Path) -> str:
    """Why a file named as an input is not read: an image in another format (what to do then), or no image."""
    if path.suffix.lower() in OTHER_IMAGE_SUFFIXES:
        return (f"{shown(path)}: a {path.suffix.lower()} image, a format this tool does not read; convert it to PNG "
                f"or TIFF ({_READ} are read)")
    return f"{shown(path)}: not an image file extension ({_READ})"


def _special(top: str, name: str) -> bool:
    """An entry with an image's name that exists but is no regular file (a broken link is the reader's to name)."""
    if Path(name).suffix.lower() not in IMAGE_EXTENSIONS:
        return False
    try:
        return not stat.S_ISREG(os.stat(os.path.join(top, name)).st_mode)  # one stat per image of the folder
    except OSError:
        return False


def other_formats_note(files: Sequence[Path]) -> str:
    """The line that names the images of other formats left out, and what to do with them (and the entries named
    as images that are no file)."""
    special = [f for f in files if f.suffix.lower() in IMAGE_EXTENSIONS]
    other = [f for f in files if f.suffix.lower() not in IMAGE_EXTENSIONS]
    heif = any(f.suffix.lower() in (".heic", ".heif") for f in other)  # a phone's default: how to convert is asked
    said = [f"{len(other)} image(s) in a format this tool does not read ({_first(other)}); convert them to "
            f"PNG or TIFF ({_READ} are read; camera RAW files: develop them first"
            f"{'; HEIC: heif-convert from libheif, or set the phone to save JPEG' if heif else ''})"] if other else []
    if special:
        said.append(f"{len(special)} entry(ies) named as images that are no regular file (a pipe, socket or device: "
                    f"{_first(special)})")
    return "not read: " + "; ".join(said)


def _first(folders: Sequence[Path]) -> str:
    return shown(folders[0]) + (f" and {len(folders) - 1} more" if len(folders) > 1 else "")
