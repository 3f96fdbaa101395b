"""This package's temp files: each named after its target and its writer's PID, and claimed by its writer
(``claim``) while it works, so a later run removes only those a killed writer left. The claim, a lock the
kernel drops when its holder ends, is what tells a live writer in another container from a dead one: the PID
alone names another process, or none, in another PID namespace, and a second container's run sharing the
folder deleted a live export's temp folder as a dead writer's."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

# a temp file this package writes: "." + (a prefix of) the target's name + ".PID-" + mkstemp's 8 random letters
_PART = re.compile(r"^\..+\.(\d+)-[a-z0-9_]{8}\.part$", re.DOTALL)
_PART_NAME_BYTES = 100  # the temp name keeps a prefix of the target's, so a 255-byte name still has room


def temp_prefix(name: str) -> str:
    return _named_part(name) + f"{os.getpid()}-"


def _named_part(name: str) -> str:
    """What every temp file of the target ``name`` begins with, before the writer's PID."""
    raw = os.fsencode(name)
    cut = min(len(raw), _PART_NAME_BYTES)
    while 0 < cut < len(raw) and raw[cut] & 0xC0 == 0x80:  # not inside a character: half of one is no valid
        cut -= 1  # UTF-8, which an exFAT disk refuses as a name
    return "." + os.fsdecode(raw[:cut]) + "."


def _pid_alive(pid: int) -> bool:
    """Whether the process that named a temp file still runs: a killed one its parent has not yet reaped (a
    zombie, for seconds, or for good under a container's init that never reaps) answers a signal but writes
    nothing more."""
    if sys.platform == "win32":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    try:
        proc_stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no /proc (macOS), or it has just ended
        return True
    return proc_stat.rpartition(")")[2].split()[:1] != ["Z"]  # the state follows the command name in parentheses


def _windows_pid_alive(pid: int) -> bool:
    """``_pid_alive`` asked without a signal: Windows reads ``os.kill(pid, 0)`` as a Ctrl-C (CTRL_C_EVENT is 0) sent
    to the whole console, this run included."""
    import _winapi

    try:
        handle = _winapi.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    except OSError as exc:
        return getattr(exc, "winerror", None) != 87  # ERROR_INVALID_PARAMETER: no such process; else (denied) alive
    try:
        return _winapi.GetExitCodeProcess(handle) == 259  # STILL_ACTIVE
    finally:
        _winapi.CloseHandle(handle)


def is_temp_file(name: str) -> bool:
    """Whether a file name is one of this package's temp files (a write in progress or cut short), which a
    folder's emptiness and a set's contents do not count; any other name, hidden or ``.part``, is a user's."""
    return _PART.match(name) is not None


def remove_stale_parts(folder: Path | str, recursive: bool = False, named: str | None = None) -> int:
    """Delete the temp files and temp folders (``built_aside``'s) that writers of this package left in a folder
    (and, ``recursive``, in the folders under it) when they were killed mid-write (the process their name
    records is gone, and nothing holds its claim); a live writer's, and anything named otherwise, are left
    alone. ``named``: only those of that one file (a folder of the user's where one file is written). Returns how
    many were removed."""
    removed, own = 0, None if named is None else _named_part(named)
    try:
        found = Path(folder).rglob(".*.part") if recursive else Path(folder).glob(".*.part")
        candidates = [(p, match) for p in found if (match := _PART.match(p.name))  # a named file's: its PID next
                      and (own is None or (p.name.startswith(own) and match.start(1) == len(own)))]
    except OSError:
        return 0
    for path, match in candidates:
        try:
            if _pid_alive(int(match.group(1))) or path.is_symlink() or _claimed(path):
                continue
            if path.is_file():
                path.unlink()
            elif path.is_dir():
                shutil.rmtree(path)
            else:
                continue
            removed += 1
        except (OSError, ValueError):
            continue
    return removed


def flock_module() -> ModuleType | None:
    """fcntl, where the OS has flock; None where not (Windows), and there the PID in a temp file's name alone speaks
    for its writer and no folder is locked. Asked at each use, the one place that asks."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        return None
    return fcntl


def claim(fd: int) -> bool:
    """Mark the temp file or folder open as ``fd`` as a live writer's for as long as ``fd`` stays open; whether it
    is (no flock, or a file system that takes no locks: the PID in its name alone speaks for it)."""
    fcntl = flock_module()
    if fcntl is None:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


@contextmanager
def claimed_folder(folder: Path) -> Iterator[None]:
    """``claim`` on a temp folder for the ``with`` block (a build that makes its files in it)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        yield
        return
    try:
        claim(fd)
        yield
    finally:
        os.close(fd)


def _claimed(path: Path) -> bool:
    """Whether a writer holds ``path``'s claim now (its lock cannot be taken)."""
    fcntl = flock_module()
    if fcntl is None:
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:  # shared: it still meets the writer's exclusive claim, and NFS takes it on a read-only descriptor
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:  # no locks on this file system: the PID decides
        return False
    finally:
        os.close(fd)  # (closing drops the lock this probe took)
    return False


@contextmanager
def probe_file(folder: Path | str, name: str) -> Iterator[str]:
    """A hidden temp file named after ``name`` made in ``folder`` for a question asked of its disk (does it fold
    case, does it take these characters), removed after; OSError (ValueError: a NUL in ``name``) where it cannot
    be made. Named as this package's temp files are, so a kill meanwhile leaves nothing a later run keeps."""
    fd, made = tempfile.mkstemp(prefix=temp_prefix(name), suffix=".part", dir=folder)
    os.close(fd)
    try:
        yield made
    finally:
        with contextlib.suppress(OSError):
            os.unlink(made)
