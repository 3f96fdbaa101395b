"""Files on Windows, simulated on Linux: what Windows' Python lacks (fcntl, os.fchmod before 3.13, O_NONBLOCK), or
does otherwise (a descriptor opened without O_BINARY reads as text, a file open here is neither renamed nor
deleted, ``os.kill(pid, 0)`` sends a Ctrl-C), stands in for it."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from data_tools import atomic_files, images


def _open_here(path: object) -> bool:
    """Whether this process holds ``path`` open (Windows renames and deletes no such file)."""
    real = os.path.realpath(os.fspath(path))
    fds = Path("/proc/self/fd")
    return any(os.path.realpath(fd) == real for fd in fds.iterdir() if fd.is_symlink())


def _as_windows_moves(monkeypatch: pytest.MonkeyPatch) -> None:
    """No fchmod (Python up to 3.12), no flock claims, and no rename or delete of a file held open."""
    monkeypatch.delattr(os, "fchmod")
    monkeypatch.setattr(atomic_files, "MOVES_OPEN_FILES", False, raising=False)
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
