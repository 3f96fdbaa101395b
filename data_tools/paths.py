"""Where a path really leads, for comparing a user's folders and recording them."""

from __future__ import annotations

import os
from pathlib import Path


def real_path(path: str | os.PathLike[str]) -> Path:
    """The absolute path with links followed. Unlike ``Path.resolve`` on Python 3.11 and 3.12, a link that leads
    to itself (``ln -s loop loop``) is no exception here: it stays as named, and opening it is the one-line
    error any missing or unreadable path gets."""
    return Path(os.path.realpath(path))
