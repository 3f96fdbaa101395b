"""Whether a Ctrl-C (or a SIGTERM: a scheduler's stop, `timeout`, `kill`; or a SIGHUP: an ssh session dropped, a
terminal window closed) has reached this process. An interrupt that lands inside an import (a compiled module's
initialisation, a package's own ``__getattr__``) can leave a module half made, and the next use of it then fails in
its own words (a RecursionError, an ImportError) instead of as a KeyboardInterrupt: after an interrupt the CLI
reports those errors (``cli.friendly_errors.HALF_MADE_MODULE``) as the interrupt, not as a traceback; any other
stays itself. A SIGTERM or a SIGHUP is taken as a Ctrl-C is (temp files removed, the line that says how to finish
the work, a training step finished and saved), so a killed batch job's log says where it stopped, and a run whose
ssh session dropped loses no step; it exits 143 (129 for a SIGHUP), the code the shell gives a process the signal
ended. A SIGHUP the process was started ignoring (``nohup``) stays ignored."""

from __future__ import annotations

import signal
from types import FrameType

HANGUP = tuple(sig for sig in [getattr(signal, "SIGHUP", None)] if sig is not None)  # (Windows has none)


class _Seen:
    signum = 0
    count = 0  # every interrupt noted in this process: a caller compares it before and after a call


def watch_ctrl_c() -> None:
    """Note each SIGINT, SIGTERM and SIGHUP, then raise a KeyboardInterrupt as Python's own SIGINT handler does
    (only where Python's default is still the one in place: a command that installs its own keeps it, and a signal
    the process was started ignoring, ``nohup``'s SIGHUP, stays ignored)."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _noted)
    for sig in (signal.SIGTERM, *HANGUP):
        if signal.getsignal(sig) == signal.SIG_DFL:
            signal.signal(sig, _noted)


def hangup_to_take() -> tuple[int, ...]:
    """SIGHUP, where a command's own handler (training's, which stops at the step's end) should take it as it takes
    SIGTERM: where it would otherwise end the process or is already taken as an interrupt; not where it is ignored
    (``nohup``) or a program that runs this code has a handler of its own for it."""
    return tuple(sig for sig in HANGUP if signal.getsignal(sig) in (signal.SIG_DFL, _noted))


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
    """The shell's code for the signal that interrupted the run: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP."""
    return 128 + (_Seen.signum or signal.SIGINT)
