"""stderr for the length of a command, where a log redirected to a full disk, or piped to a reader that has
gone (``2>&1 | head``, a closed ssh session's log), loses the log, not the work.

`denoise ... 2> log` on a full disk wrote no image: its first progress line failed, and so would any warning a
library prints; piped to ``head -1``, the batch stopped at its second line with exit 1 and no word. Every
writer of stderr (rich's consoles, ``print(file=sys.stderr)``, warnings) goes through this stream while a
command runs; anything else is stderr's own error.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from data_tools.atomic_files import NO_ROOM

GONE = (*NO_ROOM, errno.EPIPE)  # what a log may lose itself to: its disk full, its reader gone


class LogStream:
    """``stream``, with its writes dropped from the first one a full disk or a closed pipe refuses."""

    def __init__(self, stream: TextIO) -> None:
        self.stream, self.lost = stream, False

    def write(self, text: str) -> int:
        return self._kept(lambda: self.stream.write(text), len(text))

    def flush(self) -> None:
        self._kept(self.stream.flush, None)

    def _kept(self, call: Callable[[], Any], instead: Any) -> Any:
        if self.lost:
            return instead
        try:
            return call()
        except OSError as exc:
            if exc.errno not in GONE:
                raise
            self.lost = True
            return instead

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


@contextmanager
def log_kept_from_full_disk() -> Iterator[None]:
    """sys.stderr as a LogStream while the block runs (a command), then as it was."""
    real = sys.stderr
    sys.stderr = LogStream(real)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stderr = real
