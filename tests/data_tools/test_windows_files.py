"""Files on Windows, simulated on Linux: what Windows' Python lacks (fcntl, os.fchmod before 3.13, O_NONBLOCK), or
does otherwise (a descriptor opened without O_BINARY reads as text, a file open here is neither renamed nor
deleted, ``os.kill(pid, 0)`` sends a Ctrl-C), stands in for it."""

from __future__ import annotations

import errno
import os
import stat
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from data_tools import atomic_files, folder_lock, images

_FAKE_O_BINARY = 0x8000


def _open_here(path: object) -> bool:
    """Whether this process holds ``path`` open (Windows renames and deletes no such file)."""
    real = os.path.realpath(os.fspath(path))
    fds = Path("/proc/self/fd")
    return any(os.path.realpath(fd) == real for fd in fds.iterdir() if fd.is_symlink())


def _as_windows_moves(monkeypatch: pytest.MonkeyPatch) -> None:
    """No fchmod (Python up to 3.12), no fcntl, and no rename or delete of a file held open."""
    monkeypatch.delattr(os, "fchmod")
    monkeypatch.setitem(sys.modules, "fcntl", None)
    for name in ("replace", "rename", "unlink", "remove", "link"):
        real = getattr(os, name)

        def refusing(*args: object, _real=real, **kwargs: object) -> object:  # noqa: ANN001
            if _open_here(args[0]):
                raise PermissionError(errno.EACCES, "The process cannot access the file because it is being used "
                                      "by another process", os.fspath(args[0]))
            return _real(*args, **kwargs)

        monkeypatch.setattr(os, name, refusing)


@pytest.mark.parametrize("overwrite", [True, False])
def test_outputs_are_written_where_open_files_cannot_be_moved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              overwrite: bool) -> None:
    """On Windows every output failed: os.fchmod is missing before Python 3.13 (a traceback), and the temp file was
    renamed while still open (a sharing violation, "being used by another process")."""
    _as_windows_moves(monkeypatch)
    images.write_image(tmp_path / "out.png", np.zeros((4, 4, 3), np.uint8), overwrite=overwrite)
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_a_temp_file_is_closed_before_its_move_where_no_claim_was_taken(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The temp file stays open till it is in place only to keep its claim. Whether it did was read from whether
    the OS has flock, so with fcntl importable but no lock taken (a file system that answers ENOLCK) it was still
    moved open, which a system that moves no open file refuses."""
    import fcntl

    def no_locks(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    _as_windows_moves(monkeypatch)
    monkeypatch.setitem(sys.modules, "fcntl", fcntl)
    monkeypatch.setattr(fcntl, "flock", no_locks)
    images.write_image(tmp_path / "out.png", np.zeros((4, 4, 3), np.uint8))
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def _as_windows_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """A descriptor opened without O_BINARY reads as text (CRLF as LF, a Ctrl-Z byte as the end), O_NONBLOCK is
    missing, and os.set_blocking takes only pipes (Python 3.12 and later)."""
    real_open, real_set_blocking = os.open, os.set_blocking
    monkeypatch.setattr(os, "O_BINARY", _FAKE_O_BINARY, raising=False)
    monkeypatch.delattr(os, "O_NONBLOCK")

    def text_mode_open(path: object, flags: int, mode: int = 0o777) -> int:
        fd = real_open(path, flags & ~_FAKE_O_BINARY, mode)
        if flags & _FAKE_O_BINARY or not stat.S_ISREG(os.fstat(fd).st_mode):
            return fd
        with os.fdopen(fd, "rb") as fh:
            text = fh.read().replace(b"\r\n", b"\n").split(b"\x1a", 1)[0]
        translated = os.memfd_create("text-mode")
        os.write(translated, text)
        os.lseek(translated, 0, os.SEEK_SET)
        return translated

    def pipes_only(fd: int, blocking: bool) -> None:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "Incorrect function")
        real_set_blocking(fd, blocking)

    monkeypatch.setattr(os, "open", text_mode_open)
    monkeypatch.setattr(os, "set_blocking", pipes_only)


def test_images_are_read_as_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On Windows no photo was read: opened without O_BINARY, a PNG ended at the Ctrl-Z byte of its signature ("not
    a readable image file"); and os.set_blocking, which takes only pipes there, failed "Incorrect function"."""
    pixels = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    images.write_image(tmp_path / "a.png", pixels)
    _as_windows_reads(monkeypatch)
    assert np.array_equal(images.read_image(tmp_path / "a.png").pixels, pixels)


def test_a_set_is_written_into_a_new_folder_without_flock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without fcntl (Windows) the folder lock skipped the making of the folder too: `synth ... -o new` failed
    "[Errno 2] No such file or directory", and the checks of what is in the way were skipped."""
    from data_tools.synth import synth

    images.write_image(tmp_path / "clean" / "a.png", np.full((32, 32, 3), 128, np.uint8))
    monkeypatch.setitem(sys.modules, "fcntl", None)
    synth(tmp_path / "clean", tmp_path / "set", "gaussian:sigma=25", seed=1)
    assert (tmp_path / "set" / "manifest.json").is_file()
    (tmp_path / "file").write_text("x")
    with pytest.raises(atomic_files.OutputWriteError):
        with folder_lock.holding_folder(tmp_path / "file"):
            pass


def test_a_killed_writers_temp_file_is_removed_without_a_signal(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """On Windows os.kill(pid, 0) is no question but a Ctrl-C (CTRL_C_EVENT is 0) to the whole console: a temp
    file a killed run left made every later run into its folder end "interrupted", and it was never removed."""
    from data_tools import temp_files

    live = {os.getpid()}

    def open_process(access: int, inherit: bool, pid: int) -> int:
        if pid not in live:
            refused = OSError(errno.EINVAL, "The parameter is incorrect")
            refused.winerror = 87  # (set by Windows' Python itself)
            raise refused
        return pid

    winapi = types.SimpleNamespace(OpenProcess=open_process, GetExitCodeProcess=lambda handle: 259,
                                   CloseHandle=lambda handle: None)
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setitem(sys.modules, "_winapi", winapi)
    monkeypatch.setattr(os, "kill", lambda *args: pytest.fail("os.kill on Windows sends a Ctrl-C"))
    monkeypatch.setattr(temp_files, "_claimed", lambda path: False)
    dead, alive = tmp_path / ".a.png.999999-abcdefgh.part", tmp_path / f".b.png.{os.getpid()}-abcdefgh.part"
    dead.write_bytes(b"x")
    alive.write_bytes(b"x")
    assert temp_files.remove_stale_parts(tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == [alive.name]


def test_outputs_are_written_onto_a_card_that_takes_no_hard_links(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows refuses a hard link on FAT and exFAT (memory cards) with "Incorrect function", which Python reads as
    EINVAL: every new output onto a card failed, where a name reserved then a rename would have taken it."""

    def incorrect_function(src: object, dst: object) -> None:
        refused = OSError(errno.EINVAL, "Incorrect function")
        refused.winerror = 1  # (set by Windows' Python itself)
        raise refused

    monkeypatch.setattr(os, "link", incorrect_function)
    images.write_image(tmp_path / "out.png", np.zeros((4, 4, 3), np.uint8), overwrite=False)
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
