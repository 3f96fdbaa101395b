"""stderr and stdout for the length of a command, where output whose reader has gone (``| head``, a closed ssh
session's log, a terminal hung up) or, for the progress log, a full disk under it loses that output, not the work.

`denoise ... 2> log` on a full disk wrote no image: its first progress line failed, and so would any warning a
library prints; piped to ``head -1``, the batch stopped at its second line with exit 1 and no word (rich ends
the process on a broken pipe), and `train ... | head` lost the steps since its last checkpoint. Every writer of
the two streams (rich's consoles, ``print``, warnings) goes through these while a command runs. A full disk
under stdout stays an error, said in one line: the results it should have held are gone (and the training
commands, whose progress is on stdout, stop at it). A terminal that hung up (its ssh session dropped, its window
closed) refuses every write with EIO, the line saying where a hang-up stopped the command included: that is a
reader gone too, on either stream, while EIO from a file stays an error (the disk under it failed).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from data_tools.atomic_files import NO_ROOM

# EBADF: a descriptor open for reading only, where the shell had closed it (`2>&-` through a wrapper script, such as
# pyenv's, whose own file took the free descriptor): nothing can be said there, as on a closed stream
LOG_GONE = (*NO_ROOM, errno.EPIPE, errno.EBADF)  # what the progress log may lose itself to: a full disk, no reader
READER_GONE = (errno.EPIPE, errno.EBADF)  # what the results may lose themselves to: nobody reads them any more


class LogStream:
    """``stream``, with its writes dropped from the first one refused for one of ``gone``'s reasons."""

    def __init__(self, stream: TextIO, gone: tuple[int, ...] = LOG_GONE) -> None:
        self.stream, self.gone, self.lost = stream, gone, False

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
            hung_up = _terminal_hung_up(self.stream, exc)
            if exc.errno not in self.gone and not hung_up:
                raise
            self.lost = True
            if exc.errno in READER_GONE or hung_up:
                _to_devnull(self.stream)
            return instead

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def _terminal_hung_up(stream: TextIO, exc: OSError) -> bool:
    """Whether ``exc`` is a hung-up terminal's EIO: the stream is a character device (no longer a tty to
    ``isatty``, whose question the hung-up terminal refuses too)."""
    if exc.errno != errno.EIO:
        return False
    try:
        return stat.S_ISCHR(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):  # no descriptor (a test's StringIO) or a closed one
        return False


def _to_devnull(stream: TextIO) -> None:
    """The stream's descriptor pointed at /dev/null, so what its buffer still holds is flushed there at exit
    instead of raising again (Python's own advice for a broken pipe)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)


@contextmanager
def log_kept_from_full_disk() -> Iterator[None]:
    """sys.stderr and sys.stdout as LogStreams while the block runs (a command), then as they were."""
    real_err, real_out = sys.stderr, sys.stdout
    sys.stderr = LogStream(real_err)  # type: ignore[assignment]
    sys.stdout = LogStream(real_out, READER_GONE)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stderr, sys.stdout = real_err, real_out
