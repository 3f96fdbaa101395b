"""Files written atomically (a temporary file in the same folder, then a rename or an exclusive link), and the
temporary files an interrupted writer left behind cleaned up: an output is either complete or absent, and an
existing file is never half-replaced. Output folders are checked in ``output_folders``, and held by one process
at a time in ``folder_lock``."""

from __future__ import annotations

import errno
import functools
import os
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from data_tools.errors import DataError
from data_tools.temp_files import claim, claimed_folder, remove_stale_parts, temp_prefix


class OutputWriteError(DataError):
    """An output that cannot be written (a read-only or full disk, a folder in the way); one line."""


class NoRoomError(OutputWriteError):
    """An output the disk had no room for (full, over a quota, past a file-size limit): the machine's state, not
    a bad argument, so a command ends it with exit code 1, as a file that failed, not 2."""


class OutputExistsError(OutputWriteError):
    """The output appeared while it was being made (another run writing the same name): nothing replaced."""


class FolderBusyError(OutputWriteError):
    """Another process holds the folder (``folder_lock``): the work could not start now, though the arguments
    were fine, so a command ends with exit code 1 (a retry later may pass), not 2."""


def _umask_by_setting() -> int:
    """The umask, read the only portable way: by setting it, which for that instant leaves a file another thread
    makes unmasked. So it is done once, at import."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK_AT_IMPORT = _umask_by_setting()


def _current_umask() -> int:
    """The process's umask now (a service may tighten it after import), where Linux states it in /proc; else the
    one of import time."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return _UMASK_AT_IMPORT


NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # a disk full, a quota used up, a file-size limit (ulimit -f,
#                                                    FAT32's 4 GiB): the machine's state, not a bad argument


def write_error(path: Path | str, exc: OSError, saying: str = "cannot write") -> OutputWriteError:
    """The one-line error of an output the file system refused; no room (NO_ROOM) is a NoRoomError."""
    return (NoRoomError if exc.errno in NO_ROOM else OutputWriteError)(f"{path}: {saying} ({exc.strerror or exc})")


def atomic_write_bytes(path: Path | str, data: bytes, overwrite: bool = True) -> None:
    """Write to a temp file beside the target, fsync, then rename: a crash never leaves half a file.

    With ``overwrite=False`` the finished file is linked into place, which fails if the target exists by
    then (another run wrote it while this one worked): OutputExistsError, and nothing is replaced. Any
    failure to write (read-only or full disk, a folder in the way) is a one-line OutputWriteError.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise OutputWriteError(f"{path}: is a folder; give a file path")
        if is_special_file(path):  # a rename would put a file in place of /dev/null or a reader's pipe
            raise OutputWriteError(f"{path}: is a device or a pipe, not a file; give a file path")
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=".part", dir=path.parent)
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:  # owns fd from here: closed however the writing fails
            held = claim(fh.fileno())  # the temp file is a live writer's while it stays open
            if hasattr(os, "fchmod"):  # (Windows before Python 3.13 has none, and keeps no Unix modes)
                _usual_mode(lambda mode: os.fchmod(fh.fileno(), mode), 0o666)  # mkstemp makes 0600
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
            if held:  # kept open till it is in place, so the claim lasts as long as the temp file
                _put_in_place(tmp, path, overwrite)
        if not held:  # nothing to keep: closed first (Windows renames and deletes no file its writer holds open)
            _put_in_place(tmp, path, overwrite)
        sync_folder(path.parent)
    except OutputWriteError:
        Path(tmp).unlink(missing_ok=True)
        raise
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise write_error(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _put_in_place(tmp: str, path: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, path)
    else:
        _link_exclusive(tmp, path)


# what a folder's fsync answers where folders cannot be synced (some network file systems, Windows): not a fault
SYNC_UNSUPPORTED = (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EBADF, errno.EACCES, errno.EPERM,
                    errno.EISDIR, errno.ENOSYS)


def sync_folder(folder: Path) -> None:
    """Flush a folder's entries to disk: the file's own fsync does not cover the rename that put it in place, so
    after a power cut the folder could still name the old file, or none. Where a folder cannot be opened or
    synced the rename stands as the file system keeps it; a failing disk (EIO, no room) is an
    OutputWriteError, as the file's own fsync failing is."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in SYNC_UNSUPPORTED:
            raise write_error(folder, exc, "cannot flush it to disk") from None
    finally:
        os.close(fd)


def remove_entry(path: Path) -> None:
    """A file, a link (never what it leads to) or a whole folder; nothing when it is gone already."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP wait for the end of the block (microseconds of renames), then arrive as usual:
    noted meanwhile and raised again to their own handlers, an ignored one (``nohup``'s SIGHUP) to nothing (a
    signal mask would not do: another thread, torch's or ONNX Runtime's, takes the signal and the main thread
    still runs the handler at once)."""
    wanted = [sig for sig in (signal.SIGINT, *(getattr(signal, name, None) for name in ("SIGTERM", "SIGHUP")))
              if sig is not None]
    if threading.current_thread() is not threading.main_thread() or any(signal.getsignal(s) is None for s in wanted):
        yield  # (a handler set outside Python could not be put back)
        return
    arrived: list[int] = []
    before: dict[int, Any] = {}
    try:  # installed inside the try: an interrupt between two installs still has the first put back
        for sig in wanted:
            before[sig] = signal.signal(sig, lambda signum, frame: arrived.append(signum))
        yield
    finally:
        try:  # every handler back, even when one put back raises at once (its signal came meanwhile)
            _each(lambda handler: signal.signal(*handler), list(before.items()))
        finally:  # never lost, whatever ended the block: a Ctrl-C and a SIGTERM (or SIGHUP) all reach their handlers
            _each(signal.raise_signal, list(dict.fromkeys(arrived)))


def _each(action: Callable[[Any], object], items: list[Any]) -> None:
    """``action`` on every item, even when one before it raises (the last exception is the one raised)."""
    if items:
        try:
            action(items[0])
        finally:
            _each(action, items[1:])


@contextmanager
def built_aside(folder: Path | str, overwrite: bool = True, first: Sequence[str] = ()) -> Iterator[Path]:
    """Where to write a new output folder: a hidden temp folder beside it, renamed into place when the work
    succeeds, removed when it fails, so a crash or a full disk never leaves half a folder; one a killed process
    left is removed by the next build beside it. A folder that exists stays (it may be a mount point, the
    working folder, or hold its own owner and mode): the new files are built in a hidden temp folder inside it
    and moved into place only once all are made, so a kill while they are made (seconds) leaves the earlier
    files whole; without ``overwrite`` a file that appeared meanwhile is kept (OutputExistsError). ``first``: the
    names moved in before the rest, in that order (a SIGKILL, which nothing defers, can fall between two moves:
    files a reader checks against each other should go first, so a mix of the two builds is one it notices)."""
    folder = Path(folder)
    if folder.exists():
        inside = folder.is_dir()  # (a link to a folder too: only the temp folder is ever removed)
        temp = _temp_folder(folder, folder) if inside else folder  # a file in the way: its writers say so
        with _discarded_on_failure(temp, folder, remove=inside), claimed_folder(temp) if inside else nullcontext():
            yield temp
            if inside:
                _move_in(temp, folder, overwrite, first)
                temp.rmdir()
                sync_folder(folder)
        return
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(folder, exc) from None
    temp = _temp_folder(folder, folder.parent)
    with _discarded_on_failure(temp, folder), claimed_folder(temp):
        yield temp
        try:
            os.rename(temp, folder)  # onto nothing, or an empty folder made meanwhile; never over files
        except OSError as exc:
            raise OutputExistsError(f"{folder}: another process wrote it meanwhile; nothing was replaced") \
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST) else write_error(folder, exc) from None
        sync_folder(folder.parent)


@contextmanager
def _discarded_on_failure(temp: Path, folder: Path, remove: bool = True) -> Iterator[None]:
    """A failed build's temp folder removed (``remove``: it is one), whatever ended it, and a write that failed
    in it said of the file the user asked for."""
    try:
        yield
    except OutputWriteError as exc:
        if remove:
            shutil.rmtree(temp, ignore_errors=True)
        raise _named_as_built(exc, temp, folder) from None
    except BaseException:
        if remove:
            shutil.rmtree(temp, ignore_errors=True)
        raise


def _move_in(temp: Path, folder: Path, overwrite: bool, first: Sequence[str]) -> None:
    """The built files moved into the existing folder, once nothing is in their way: a folder where a file goes
    failed its move after the first ones were in, leaving a report whose files disagree."""
    made = sorted(temp.iterdir(), key=lambda p: (_rank(p.name, first), p.name))
    for path in made:
        target = folder / path.name
        if target.is_dir() and not target.is_symlink() and not path.is_dir():
            raise OutputWriteError(f"{target}: is a folder, where this file goes; move it aside or choose another -o")
    move = os.replace if overwrite else _link_exclusive  # without overwrite: never over another's file
    with _interrupts_held():  # one between two moves left the earlier files beside the new ones
        for path in made:
            try:
                move(str(path), folder / path.name)
            except OSError as exc:  # (_link_exclusive's own refusals are OutputWriteErrors, not OSErrors: they pass)
                raise write_error(folder / path.name, exc) from None


def _named_as_built(exc: OutputWriteError, temp: Path, folder: Path) -> OutputWriteError:
    """A write that failed in the hidden temp folder, said of the file the user asked for (folder/model.safetensors,
    not .folder.1234-abcdefgh.part/model.safetensors)."""
    return type(exc)(str(exc).replace(str(temp), str(folder)))


def _rank(name: str, first: Sequence[str]) -> int:
    return first.index(name) if name in first else len(first)


def _usual_mode(chmod: Callable[[int], None], mode: int) -> None:
    """Outputs get the usual permissions; a disk that keeps none (FAT through FUSE refuses chmod) still takes
    the file."""
    try:
        chmod(mode & ~_current_umask())
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise


def _temp_folder(folder: Path, where: Path) -> Path:
    """A hidden temp folder for ``folder``'s new files in ``where``, after removing those killed builds left."""
    try:
        remove_stale_parts(where)
        name = folder.absolute().name or "folder"  # `-o .` has no name of its own: its temp folder still has one
        temp = Path(tempfile.mkdtemp(prefix=temp_prefix(name), suffix=".part", dir=where))
        _usual_mode(lambda mode: os.chmod(temp, mode), 0o777)  # mkdtemp makes it 0700
    except OSError as exc:
        raise write_error(folder, exc) from None
    return temp


def atomic_write_text(path: Path | str, text: str, overwrite: bool = True) -> None:
    """``atomic_write_bytes`` of text as UTF-8; a file name that is not UTF-8 (Linux allows any bytes) is written
    as its own bytes (``surrogateescape``), as the file system holds it, instead of failing the whole report."""
    atomic_write_bytes(path, text.encode("utf-8", "surrogateescape"), overwrite)


def is_special_file(path: Path) -> bool:
    """Whether something other than a regular file or folder (a device, a pipe, a socket) is at ``path``."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _link_exclusive(tmp: str, path: Path) -> None:
    """Put the finished temp file at ``path`` only if nothing is there (atomic: a hard link cannot replace)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise OutputExistsError(f"{path}: appeared while this run was writing it (another run writing the same "
                                "folder?); left as it is") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK) \
                and getattr(exc, "winerror", None) not in (1, 50):  # Windows on FAT/exFAT: Incorrect function
            raise
        try:  # no hard links here (FAT, some network shares): reserve the name exclusively, then rename
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            raise OutputExistsError(f"{path}: appeared while this run was writing it (another run writing the "
                                    "same folder?); left as it is") from None
        try:
            os.replace(tmp, path)
        except BaseException:  # the reserved name would pass for a finished output (--skip-existing)
            path.unlink(missing_ok=True)
            raise
        return
    os.unlink(tmp)


@functools.lru_cache(maxsize=64)
def hard_links_work(folder: Path) -> bool:
    """Whether ``folder``'s file system makes hard links (where it does, an output is linked into place and never
    leaves an empty reserved name behind)."""
    try:
        fd, name = tempfile.mkstemp(prefix=temp_prefix("links"), suffix=".part", dir=folder)  # a temp's name
        os.close(fd)
    except OSError:
        return True  # cannot tell: an empty file is then the user's, kept
    link = Path(name).with_name(Path(name).name.replace(".links.", ".linkb.", 1))  # (the folder's name untouched)
    try:
        os.link(name, link)
        os.unlink(link)
        return True
    except OSError:
        return False
    finally:
        os.unlink(name)
