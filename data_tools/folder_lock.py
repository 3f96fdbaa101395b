"""A folder held by one process at a time: a second run given a folder that a run is writing is refused, not
mixed in; a lock the kernel drops when its process ends, however it ends."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from data_tools.atomic_files import FolderBusyError, write_error
from data_tools.names import warn
from data_tools.output_folders import refuse_file_in_the_way, refuse_set_half
from data_tools.temp_files import flock_module


@contextmanager
def holding_folder(folder: Path | str, what: str = "run") -> Iterator[None]:
    """Hold the folder's lock while writing it, so a second process given the same folder is refused instead of
    mixing its checkpoints and log into this one. The lock is on the folder itself (no lock file to delete or
    to fail to create in a read-only folder), and the kernel drops it when the process ends, however it ends,
    so no stale lock outlives a crash. Where the OS has no flock (Windows), the folder is made and checked as
    elsewhere, and nothing is held."""
    folder = Path(folder)
    refuse_file_in_the_way(folder)
    refuse_set_half(folder)  # before the folder is made
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(folder, exc, "cannot open it") from None
    if flock_module() is None:
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise write_error(folder, exc, "cannot open it") from None
    try:
        if not _flock_within(fd, _PROBE_WAIT_S):
            doing = "reading" if _only_readers(fd) else "writing"
            raise FolderBusyError(f"{folder}: another process is {doing} this {what} now; wait for it to end, "
                                   "or choose another -o")
        if fd in _UNLOCKED:  # the promise that a second run is refused does not hold here: said, not silent
            warn(f"{folder}: its file system takes no lock on a folder (a network share?), so a second {what} "
                 "started into it now would not be refused; run one at a time there")
        _HELD.add(fd)
        yield
    finally:
        _HELD.discard(fd)
        _UNLOCKED.discard(fd)
        os.close(fd)


@contextmanager
def reading_folder(folder: Path | str, what: str = "set") -> Iterator[None]:
    """Hold a shared lock on a folder while reading it (a benchmark reading a synth set): a writer, which holds
    the folder whole (``holding_folder``), is refused meanwhile, and one writing it now makes this a one-line
    refusal (its images are half the old set, half the new). A folder that cannot be opened is read unlocked:
    the reader's own checks say what is wrong with it."""
    fcntl = flock_module()
    if fcntl is None:
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        yield
        return
    try:
        if not _flock_within(fd, _PROBE_WAIT_S, fcntl.LOCK_SH):
            raise FolderBusyError(f"{folder}: another process is writing this {what} now; wait for it to end")
        _HELD.add(fd)
        yield
    finally:
        _HELD.discard(fd)
        _UNLOCKED.discard(fd)
        os.close(fd)


def _only_readers(fd: int) -> bool:
    """Whether the lock another process keeps on ``fd``'s folder is shared (readers'), not a writer's."""
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return False
    fcntl.flock(fd, fcntl.LOCK_UN)
    return True


# the lock's descriptors this process holds open: a forked child (a data-loading worker) closes its copies, or
# the lock, which belongs to the open file and not to a process, outlived a killed run in its orphaned workers
_HELD: set[int] = set()


def _close_held_in_child() -> None:
    for fd in _HELD:
        try:
            os.close(fd)  # (not unlocked: that would drop the parent's lock too)
        except OSError:
            pass
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_held_in_child)


# descriptors whose flock the file system refused (no locks there): a holder says so once; each is forgotten as
# its descriptor closes (the number is reused)
_UNLOCKED: set[int] = set()

# ``held_by_another_process`` takes the lock for an instant to test it, so a run starting at that instant waits
# this long before it calls the folder taken (a `denoise -c RUN` beside a resuming `train` would refuse it)
_PROBE_WAIT_S = 0.5


def _flock_within(fd: int, seconds: float, mode: int | None = None) -> bool:
    """Take ``fd``'s lock (exclusive unless ``mode`` says LOCK_SH), trying again for up to ``seconds``; False
    when another process keeps it."""
    import fcntl

    deadline = time.monotonic() + seconds
    while True:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if mode is None else mode) | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        except OSError:  # a file system without locks (NFS without its lock daemon, Lustre): nothing is held
            _UNLOCKED.add(fd)
            return True


def refuse_held(folder: Path | str, what: str = "run", other: str = ", or choose another -o") -> None:
    """A FolderBusyError where another process holds ``folder`` now: asked before the checks that would otherwise
    advise what only the running process may do (``--resume`` a benchmark it is writing)."""
    if held_by_another_process(folder):  # (a writer: readers do not count, and do not exclude each other)
        raise FolderBusyError(f"{folder}: another process is writing this {what} now; wait for it to end{other}")


def held_by_another_process(folder: Path | str) -> bool:
    """Whether another process writes ``folder`` now (holds its lock whole, ``holding_folder``): a run still
    writing it, whose folder may look like one stopped early (no checkpoint yet), or a synth writing a set. Asked
    with a shared probe, so readers (``reading_folder``: a benchmark, a training run, this process itself reading
    a set) are not taken for a writer. A lock held only for a moment (another command's probe) is waited out, as
    ``holding_folder`` does. False where the OS or the file system has no flock."""
    fcntl = flock_module()
    if fcntl is None:
        return False
    try:  # a folder only: opening a FIFO to read would wait for a writer for ever
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:
        return not _flock_within(fd, _PROBE_WAIT_S, fcntl.LOCK_SH)
    finally:
        _UNLOCKED.discard(fd)
        os.close(fd)  # closing drops the lock this probe may have taken


@contextmanager
def removed_if_left_empty(folder: Path | str) -> Iterator[None]:
    """For a command that makes its output folder before it has read its inputs: when the work fails, a folder
    this run made and left empty is removed, so a refused run leaves nothing behind (as commands that check
    everything first do). Not one another process holds: two runs started together both found no folder, and
    the one refused by the other's lock removed the folder the other was about to write its results into."""
    folder = Path(folder)
    existed = folder.exists()
    try:
        yield
    except BaseException:
        if not existed and not held_by_another_process(folder):
            try:
                folder.rmdir()  # only if empty: anything written to it stays
            except OSError:
                pass
        raise
