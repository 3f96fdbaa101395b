"""Whether a Ctrl-C (or a SIGTERM: a scheduler's stop, `timeout`, `kill`) has reached this process. An interrupt
that lands inside an import (a compiled module's initialisation, a package's own ``__getattr__``) can leave a
module half made, and the next use of it then fails in its own words (a RecursionError, an ImportError) instead of
as a KeyboardInterrupt: after an interrupt the CLI reports those errors
(``cli.friendly_errors.HALF_MADE_MODULE``) as the interrupt, not as a traceback; any other stays itself. A SIGTERM
is taken as a Ctrl-C is (temp files removed, the line that says how to finish the work), so a killed batch job's
log says where it stopped; it exits 143."""

from __future__ import annotations

import signal
from types import FrameType


class _Seen:
    signum = 0
    count = 0  # every interrupt noted in this process: a caller compares it before and after a call


def watch_ctrl_c() -> None:
    """Note each SIGINT and SIGTERM, then raise a KeyboardInterrupt as Python's own SIGINT handler does (only where
    Python's default is still the one in place: a command that installs its own keeps it)."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _noted)
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _noted)


class Interrupted(KeyboardInterrupt):
    """The KeyboardInterrupt this CLI's signal handlers raise. CPython marks a bare KeyboardInterrupt that leaves an
    ``exec`` of a string (scipy runs one while it imports) as unhandled, and ``python -m`` then ends the process by
    SIGINT whatever code the CLI exits with: a SIGTERM's 143 read as a Ctrl-C. A subclass is not marked."""


def _noted(signum: int, frame: FrameType | None) -> None:
    note_interrupt(signum)
    raise Interrupted


def note_interrupt(signum: int) -> None:
    """Record an interrupt that a handler of its own took (training's, which stops at the step's end)."""
    _Seen.signum = signum
    _Seen.count += 1


def ctrl_c_seen() -> bool:
    return _Seen.count > 0


def interrupt_count() -> int:
    """Interrupts noted so far: one that came during a call (the count changed) was taken by a handler that let
    the work end (training's, in a run's last step), which the caller must still stop on."""
    return _Seen.count


def interrupt_exit_code() -> int:
    """The shell's code for the signal that interrupted the run: 130 for Ctrl-C, 143 for SIGTERM."""
    return 128 + (_Seen.signum or signal.SIGINT)
