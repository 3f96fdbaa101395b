"""Whether the command line is running: its messages name options as flags (``--tile 128``), where the Python API,
which it runs through, names them as keywords (``tile=128``; ``inference/api_words.py``). Light: the CLI sets it
before anything heavy is imported."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_RUNNING: ContextVar[bool] = ContextVar("denoise_gan_command_line", default=False)


@contextmanager
def command_line() -> Iterator[None]:
    """While the command line runs."""
    token = _RUNNING.set(True)
    try:
        yield
    finally:
        _RUNNING.reset(token)


def command_line_running() -> bool:
    return _RUNNING.get()


def named(keyword: str, owner: str = "") -> str:
    """An option as the caller typed it: ``--batch-size`` on the command line, ``batch_size`` in Python (or
    ``OutputOptions.quality``, a field of the ``owner`` object the caller built)."""
    if command_line_running():
        return "--" + keyword.replace("_", "-")
    return f"{owner}.{keyword}" if owner else keyword
