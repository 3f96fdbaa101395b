"""Where a path really leads, for comparing a user's folders and recording them."""

from __future__ import annotations

import os
from pathlib import Path

from data_tools.errors import DataError


def real_path(path: str | os.PathLike[str]) -> Path:
    """The absolute path with links followed. Unlike ``Path.resolve`` on Python 3.11 and 3.12, a link that leads
    to itself (``ln -s loop loop``) is no exception here: it stays as named, and opening it is the one-line
    error any missing or unreadable path gets. A path holding a NUL (read back from an edited file: none can be
    typed) is a one-line DataError, not ``realpath``'s bare "embedded null byte"."""
    try:
        return Path(os.path.realpath(path))
    except ValueError:
        if "\0" not in os.fspath(path):
            raise
        raise DataError(f"{os.fspath(path)!r:.100}: a path holding a NUL character, which no file's name can hold "
                        "(read from an edited record?)") from None


def home_expanded(path: str | os.PathLike[str]) -> str | os.PathLike[str]:
    """``~`` or a path that starts ``~/`` with the user's home put in, as a shell would have (Python's file
    functions take ``~`` as a folder's name, so ``"~/out"`` became a folder named ``~`` where the script ran); any
    other path as given: ``~name`` is a file's name here (``~$report.png``), not another user's home."""
    text = os.fspath(path)
    if not isinstance(text, str) or not (text == "~" or text.startswith(("~/", "~" + os.sep))):
        return path
    return os.path.expanduser(text)


WORKING_FOLDER_GONE = ("the working folder no longer exists (removed while the shell was in it), so no relative path "
                       "can be found; cd to an existing folder, or give absolute paths")


def working_folder_gone() -> bool:
    """Whether the process's working folder was removed: every relative path then fails with a bare "[Errno 2] No
    such file or directory", naming nothing."""
    try:
        os.getcwd()
    except FileNotFoundError:
        return True
    return False
