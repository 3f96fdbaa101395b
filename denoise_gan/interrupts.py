"""Whether a Ctrl-C has reached this process. An interrupt that lands inside an import (a compiled module's
initialisation, a package's own ``__getattr__``) can leave a module half made, and the next use of it then fails
in its own words (a RecursionError, an ImportError) instead of as a KeyboardInterrupt: after a Ctrl-C the CLI
reports those errors (``cli.app.HALF_MADE_MODULE``) as the interrupt, not as a traceback; any other stays itself."""

from __future__ import annotations

import signal
from types import FrameType


class _Seen:
    ctrl_c = False


def watch_ctrl_c() -> None:
    """Note each SIGINT, then raise KeyboardInterrupt as Python's own handler does (only where that handler is
    still the one in place: a command that installs its own keeps it)."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _noted)


def _noted(signum: int, frame: FrameType | None) -> None:
    _Seen.ctrl_c = True
    signal.default_int_handler(signum, frame)


def ctrl_c_seen() -> bool:
    return _Seen.ctrl_c
