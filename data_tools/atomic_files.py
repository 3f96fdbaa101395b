"""Files written atomically (a temporary file in the same folder, then a rename), output folders checked before
a run starts, and the temporary files an interrupted writer left behind cleaned up: an output is either
complete or absent, and an existing file is never half-replaced."""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from data_tools.errors import DataError


class OutputWriteError(DataError):
    """An output that cannot be written (a read-only or full disk, a folder in the way); one line."""


class OutputExistsError(OutputWriteError):
    """The output appeared while it was being made (another run writing the same name): nothing replaced."""


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()
# a temp file this package writes: "." + (a prefix of) the target's name + ".PID-" + mkstemp's 8 random letters
_PART = re.compile(r"^\..+\.(\d+)-[a-z0-9_]{8}\.part$", re.DOTALL)
_PART_NAME_BYTES = 100  # the temp name keeps a prefix of the target's, so a 255-byte name still has room


def _temp_prefix(name: str) -> str:
    return "." + os.fsdecode(os.fsencode(name)[:_PART_NAME_BYTES]) + f".{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    """Whether the process that named a temp file still runs: a killed one its parent has not yet reaped (a
    zombie, for seconds, or for good under a container's init that never reaps) answers a signal but writes
    nothing more."""
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


def is_temp_file(name: str) -> bool:
    """Whether a file name is one of this package's temp files (a write in progress or cut short), which a
    folder's emptiness and a set's contents do not count; any other name, hidden or ``.part``, is a user's."""
    return _PART.match(name) is not None


def remove_stale_parts(folder: Path | str, recursive: bool = False) -> int:
    """Delete the temp files and temp folders (``built_aside``'s) that writers of this package left in a folder
    (and, ``recursive``, in the folders under it) when they were killed mid-write (the process their name
    records is gone); a live writer's, and anything named otherwise, are left alone. Returns how many were
    removed."""
    removed = 0
    try:
        found = Path(folder).rglob(".*.part") if recursive else Path(folder).glob(".*.part")
        candidates = [(p, match) for p in found if (match := _PART.match(p.name))]
    except OSError:
        return 0
    for path, match in candidates:
        try:
            if _pid_alive(int(match.group(1))) or path.is_symlink():
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


@contextmanager
def holding_folder(folder: Path | str, what: str = "run") -> Iterator[None]:
    """Hold the folder's lock while writing it, so a second process given the same folder is refused instead of
    mixing its checkpoints and log into this one. The lock is on the folder itself (no lock file to delete or
    to fail to create in a read-only folder), and the kernel drops it when the process ends, however it ends,
    so no stale lock outlives a crash. Where the OS has no flock, nothing is held."""
    try:
        import fcntl  # noqa: F401  (only whether it exists; _flock_within uses it)
    except ImportError:  # not POSIX
        yield
        return
    folder = Path(folder)
    refuse_file_in_the_way(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY)
    except OSError as exc:
        raise OutputWriteError(f"{folder}: cannot open it ({exc.strerror or exc})") from None
    try:
        if not _flock_within(fd, _PROBE_WAIT_S):
            raise OutputWriteError(f"{folder}: another process is writing this {what} now; wait for it to end, "
                                   "or choose another -o")
        yield
    finally:
        os.close(fd)


# ``held_by_another_process`` takes the lock for an instant to test it, so a run starting at that instant waits
# this long before it calls the folder taken (a `denoise -c RUN` beside a resuming `train` would refuse it)
_PROBE_WAIT_S = 0.5


def _flock_within(fd: int, seconds: float) -> bool:
    """Take ``fd``'s exclusive lock, trying again for up to ``seconds``; False when another process keeps it."""
    import fcntl

    deadline = time.monotonic() + seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        except OSError:  # a file system without locks (NFS without its lock daemon, Lustre): nothing is held
            return True


def held_by_another_process(folder: Path | str) -> bool:
    """Whether another process holds ``folder``'s lock (``holding_folder``): a run still writing it, whose folder
    may look like one stopped early (no checkpoint yet). A lock held only for a moment (another command's probe)
    is waited out, as ``holding_folder`` does. False where the OS or the file system has no flock."""
    try:
        import fcntl  # noqa: F401  (only whether it exists; _flock_within uses it)
    except ImportError:  # not POSIX
        return False
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return False
    try:
        return not _flock_within(fd, _PROBE_WAIT_S)
    finally:
        os.close(fd)  # closing drops the lock this probe may have taken


def _write_error(path: Path, exc: OSError) -> OutputWriteError:
    return OutputWriteError(f"{path}: cannot write ({exc.strerror or exc})")


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
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path.name), suffix=".part", dir=path.parent)
    except OSError as exc:
        raise _write_error(path, exc) from None
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; outputs get the usual permissions
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_exclusive(tmp, path)
    except OutputWriteError:
        Path(tmp).unlink(missing_ok=True)
        raise
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _write_error(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_entry(path: Path) -> None:
    """A file, a link (never what it leads to) or a whole folder; nothing when it is gone already."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def built_aside(folder: Path | str, overwrite: bool = True) -> Iterator[Path]:
    """Where to write a new output folder: a hidden temp folder beside it, renamed into place when the work
    succeeds, removed when it fails, so a crash or a full disk never leaves half a folder; one a killed process
    left is removed by the next build beside it. A folder that exists stays (it may be a mount point, the
    working folder, or hold its own owner and mode): the new files are built in a hidden temp folder inside it
    and moved into place only once all are made, so a kill while they are made (seconds) leaves the earlier
    files whole; without ``overwrite`` a file that appeared meanwhile is kept (OutputExistsError)."""
    folder = Path(folder)
    if folder.exists():
        inside = folder.is_dir()  # (a link to a folder too: only the temp folder is ever removed)
        temp = _temp_folder(folder, folder) if inside else folder  # a file in the way: its writers say so
        try:
            yield temp
            if inside:
                move = os.replace if overwrite else _link_exclusive  # without overwrite: never over another's file
                for made in sorted(temp.iterdir()):
                    move(str(made), folder / made.name)
                temp.rmdir()
        except BaseException:
            if inside:
                shutil.rmtree(temp, ignore_errors=True)
            raise
        return
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _write_error(folder, exc) from None
    temp = _temp_folder(folder, folder.parent)
    try:
        yield temp
        try:
            os.rename(temp, folder)  # onto nothing, or an empty folder made meanwhile; never over files
        except OSError as exc:
            raise OutputExistsError(f"{folder}: another process wrote it meanwhile; nothing was replaced") \
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST) else _write_error(folder, exc) from None
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def _temp_folder(folder: Path, where: Path) -> Path:
    """A hidden temp folder for ``folder``'s new files in ``where``, after removing those killed builds left."""
    try:
        remove_stale_parts(where)
        name = folder.absolute().name or "folder"  # `-o .` has no name of its own: its temp folder still has one
        temp = Path(tempfile.mkdtemp(prefix=_temp_prefix(name), suffix=".part", dir=where))
        os.chmod(temp, 0o777 & ~_UMASK)  # mkdtemp makes it 0700; outputs get the usual permissions
    except OSError as exc:
        raise _write_error(folder, exc) from None
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
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        try:  # no hard links here (FAT, some network shares): reserve the name exclusively, then rename
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            raise OutputExistsError(f"{path}: appeared while this run was writing it (another run writing the "
                                    "same folder?); left as it is") from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def refuse_file_in_the_way(folder: Path) -> None:
    """An output folder's name taken by a file: the same words from every command."""
    if folder.exists() and not folder.is_dir():
        raise OutputWriteError(f"{folder}: exists and is not a folder; choose another -o")


def check_writable(folder: Path | str) -> None:
    """Create the folder if needed and prove a file can be made in it, before any work is done."""
    folder = Path(folder)
    refuse_file_in_the_way(folder)
    if folder.is_symlink() and not folder.exists():
        raise OutputWriteError(f"{folder}: a link to {os.readlink(folder)}, which does not exist; create that "
                               "folder or choose another -o")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=_temp_prefix("write-check"), suffix=".part", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputWriteError(f"{folder}: cannot write there ({exc.strerror or exc})") from None


def prepare_output_dir(folder: Path | str, overwrite: bool = False, own: bool = False,
                       hint: str = "pass --overwrite to replace its files", known: Iterable[str] = ()) -> Path:
    """The one rule for every command that writes a folder of results: a folder that does not exist or is
    empty is used; a non-empty one only when it is this command's own resumable output (``own``) or the
    user said ``overwrite``; a file in the way is an error. The folder is created, proved writable and
    cleared of temp files that killed writers left, all before any work starts. A refusal names the entries
    that are not among ``known`` (what the command writes there) first: the ones that made it refuse."""
    folder = Path(folder)
    if folder.is_dir() and not (own or overwrite):  # a file in the way is check_writable's to refuse
        try:
            mine = set(known)
            entries = sorted((p.name for p in folder.iterdir() if not is_temp_file(p.name)),
                             key=lambda name: (name in mine, name))
        except OSError as exc:
            raise OutputWriteError(f"{folder}: cannot list it ({exc.strerror or exc})") from None
        if entries:
            shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
            raise OutputWriteError(f"{folder}: not empty ({len(entries)} entries: {shown}); choose a new or empty "
                                   f"folder, or {hint}")
    check_writable(folder)
    remove_stale_parts(folder)
    return folder


@contextmanager
def removed_if_left_empty(folder: Path | str) -> Iterator[None]:
    """For a command that makes its output folder before it has read its inputs: when the work fails, a folder
    this run made and left empty is removed, so a refused run leaves nothing behind (as commands that check
    everything first do)."""
    folder = Path(folder)
    existed = folder.exists()
    try:
        yield
    except BaseException:
        if not existed:
            try:
                folder.rmdir()  # only if empty: anything written to it stays
            except OSError:
                pass
        raise


def prepare_output_files(paths: dict[str, Path | None], overwrite: bool = False,
                         forbidden_suffixes: tuple[str, ...] = ()) -> None:
    """The rule for report files named by options (``{"--json": path, ...}``), checked before any work: two
    options never name one file, a name with a forbidden suffix (an image's, for a text report that could
    otherwise replace a photo) is refused, and an existing file is replaced only when the user said
    ``overwrite``. Each folder is created and proved writable."""
    seen: dict[Path, str] = {}
    for option, path in paths.items():
        if path is None:
            continue
        key = Path(os.path.abspath(path))
        if key in seen:
            raise OutputWriteError(f"{seen[key]} and {option} both name {path}; give each its own file")
        seen[key] = option
        if path.suffix.lower() in forbidden_suffixes:
            example = f"results.{option.lstrip('-')}" if option in ("--json", "--csv") else "results.txt"
            raise OutputWriteError(f"{option} {path}: an image file name; give the report its own name "
                                   f"(e.g. {example})")
        if path.is_dir():
            raise OutputWriteError(f"{option} {path}: is a folder; give a file path")
        if is_special_file(path):
            raise OutputWriteError(f"{option} {path}: is a device or a pipe, not a file; give a file path")
        if path.exists() and not overwrite:
            raise OutputWriteError(f"{option} {path}: exists; choose another name or pass --overwrite")
        check_writable(path.parent)


def refuse_output_inside_inputs(out: Path | str, inputs: dict[str, str | Path | None],
                                why: str = "its plots would be read as input images by the next run") -> None:
    """An output folder inside one of the command's image folders (``{"--clean": path, ...}``) is refused before
    any work: its plots and validation grids (``why``: what goes wrong) would be read as input images by a
    rerun or a ``--resume``."""
    where = Path(os.path.realpath(out))  # a link to a folder inside an input is inside it
    for option, folder in inputs.items():
        if folder and where.is_relative_to(os.path.realpath(folder)):
            raise OutputWriteError(f"{out} is inside {option} {folder}: {why}; choose an output folder outside it")

