"""A command's expected failures as one red line and the exit code the README states, never a traceback; an
interrupt as the line that says what finishes the command's work."""

from __future__ import annotations

import errno
import functools
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import typer
from rich.markup import escape

from data_tools.atomic_files import NO_ROOM, FolderBusyError, NoRoomError, OutputExistsError
from data_tools.names import shown
from data_tools.paths import WORKING_FOLDER_GONE, working_folder_gone
from denoise_gan.cli.say import err_console, say_error
from denoise_gan.errors import DenoiseGanError, ReportedInterrupt, is_out_of_memory, out_of_memory_text
from denoise_gan.extras import (
    EXTRAS,
    NO_ROOM_TO_LOAD,
    broken_package,
    broken_package_text,
    caused_by_interrupt,
    needs_package,
)
from denoise_gan.interrupts import ctrl_c_seen, interrupt_count

F = TypeVar("F", bound=Callable[..., Any])


class InterruptNotice:
    """Whether the running command said where a Ctrl-C left it. Typer turns an interrupt outside a command's body
    (while it parses and converts the options) into exit 130 without a word, the same code a command's own
    notice ends with: this tells the two apart."""

    said = False


# how a module that a Ctrl-C cut short while it imported fails on its next use (onnx's import, cut inside
# numpy's, ended in a RecursionError): after a Ctrl-C these are the interrupt's, any other error stays itself
HALF_MADE_MODULE = (ImportError, AttributeError, NameError, RecursionError)


def friendly_errors(fn: F) -> F:
    """Expected failures become one red line, not a traceback, with the exit code the README states:
    - 2, bad arguments or input: a ``DenoiseGanError`` (the root of the data, config, user and weights errors), a
      missing file, a name too long for the file system, a missing or broken optional package (the line names
      the extra that installs it);
    - 1, the work failed though the arguments were fine: a full disk or quota (``NoRoomError``, or standard
      output that cannot be written), another run's file in the way (``OutputExistsError``) or its folder held
      (``FolderBusyError``), out of memory (numpy's MemoryError, torch's RuntimeError: a ``ulimit -v``);
    - 130 (143 after a SIGTERM, 129 after a SIGHUP, as ``launch`` turns it): an interrupt, also one ending the work."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        interrupts = interrupt_count()
        try:
            done = fn(*args, **kwargs)
        except (NoRoomError, OutputExistsError, FolderBusyError) as exc:  # a full disk, another run's file or its
            # folder lock: the work failed, the arguments were fine
            say_error(str(exc))
            raise typer.Exit(1) from None
        except (DenoiseGanError, FileNotFoundError) as exc:
            say_error(WORKING_FOLDER_GONE if isinstance(exc, FileNotFoundError) and exc.filename is None
                      and working_folder_gone() else str(exc))
            raise typer.Exit(2) from None
        except HALF_MADE_MODULE as exc:
            _said_import_failure(exc, fn.__name__, bool(kwargs.get("overwrite")))
            raise
        except OSError as exc:  # a path the file system refuses outright, wherever it is first touched
            if exc.errno in NO_ROOM and exc.filename is None:  # the terminal's log (stdout) on a full disk or quota
                say_log_unwritten(exc)
                raise typer.Exit(1) from None
            if exc.filename is None and (package := broken_package(exc)):  # a shared library it loads is missing
                say_error(broken_package_text(package, exc))
                raise typer.Exit(2) from None
            if exc.errno != errno.ENAMETOOLONG:
                raise
            message = f"{exc.filename}: a file or folder name too long for this file system; choose a shorter one"
            say_error(message)
            raise typer.Exit(2) from None
        except MemoryError as exc:  # numpy's "Unable to allocate 275. MiB for an array ..." says how much
            _say_out_of_memory(exc)
        except KeyboardInterrupt as exc:
            _say_interrupted(fn.__name__, bool(kwargs.get("overwrite")), said=isinstance(exc, ReportedInterrupt))
            raise typer.Exit(130) from None
        except Exception as exc:
            if is_out_of_memory(exc, cuda=True):  # torch's allocators say it in a RuntimeError, not a MemoryError
                _say_out_of_memory(exc)
            # Python wraps an interrupt raised inside __set_name__ (pydantic's, while albumentations imports) in a
            # RuntimeError: it is the interrupt
            if not caused_by_interrupt(exc):
                raise
            _say_interrupted(fn.__name__, bool(kwargs.get("overwrite")))
            raise typer.Exit(130) from None
        if interrupt_count() != interrupts:  # taken by a command's own handler (training's, at a step's end) as its
            # work ended: the work is complete, but a script running the command must stop, as on any other
            InterruptNotice.said = True
            err_console.print("[yellow]interrupted as it ended; its work is complete[/]", highlight=False)
            raise typer.Exit(130)
        return done

    return wrapper  # type: ignore[return-value]


def _said_import_failure(exc: BaseException, command: str, overwrite: bool) -> None:
    """The line and exit code of a failed import the CLI can explain; returns (for the caller to raise it again)
    when it cannot."""
    if ctrl_c_seen():  # a module the interrupt left half made fails in its own words on its next use
        _say_interrupted(command, overwrite)
        raise typer.Exit(130) from None
    if isinstance(exc, ImportError) and NO_ROOM_TO_LOAD in str(exc):  # a library under a `ulimit -v`
        _say_out_of_memory(exc)
    if isinstance(exc, ImportError) and (package := broken_package(exc)):  # installed, but it fails to load
        say_error(broken_package_text(package, exc))
        raise typer.Exit(2) from None
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in EXTRAS:
        say_error(needs_package("this command", str(exc.name)))
        raise typer.Exit(2) from None


def say_log_unwritten(exc: OSError) -> None:
    """A log redirected to a full disk: one line where stderr still takes it (a files' own write names its file);
    the caller ends with exit code 1."""
    try:
        say_error(f"the command's output could not be written ({exc.strerror}); make room where it is redirected")
    except OSError:  # stderr is on the full disk too: the exit code is all that is left to say it
        pass


def _say_out_of_memory(exc: BaseException) -> NoReturn:
    message = out_of_memory_text(exc)
    try:
        say_error(message)
    except MemoryError:  # rich itself may need memory to print (its emoji table): the line, plainly
        sys.stderr.write(f"error: {shown(message)}\n")
    raise typer.Exit(1) from None


def _say_interrupted(command: str, overwrite: bool, said: bool = False) -> None:
    """The interrupt's line, with what finishes the command's work (unless the command said where it stopped)."""
    InterruptNotice.said = True
    if not said:
        hints = OVERWRITE_HINTS if overwrite else INTERRUPT_HINTS
        hint = hints.get(command, INTERRUPT_HINTS.get(command, ""))
        err_console.print(f"[yellow]interrupted[/]{escape(hint)}", highlight=False, soft_wrap=True)


# what finishes a command's interrupted work, where its own message does not say (training commands do)
_AGAIN = "; the same command finishes it"
_RERUN = "; run the same command again: it starts over, or tells you to add --resume if a checkpoint was saved"
INTERRUPT_HINTS = {"denoise_command": "; every output written is whole: the same command with --skip-existing "
                                      "denoises the rest",
                   "synth_command": "; the same command finishes the set (one cut short is marked incomplete)",
                   "samples_command": "; every file written is whole" + _AGAIN,
                   "demo_command": "; every strip written is whole" + _AGAIN,
                   "benchmark_command": "; every row written is kept: the same command with --resume continues it "
                                        "(if no -o folder was made yet, the same command without --resume starts it)",
                   "calibrate_command": "; the same command continues it, with --resume once its fit/ folder "
                                        "exists",
                   "train_command": _RERUN, "refine_command": _RERUN}
# with --overwrite, --skip-existing would keep the earlier outputs not yet replaced (and the two flags contradict)
OVERWRITE_HINTS = {"denoise_command": "; every output written is whole, but those not reached are still the "
                                      "earlier ones: the same command replaces them all"}
