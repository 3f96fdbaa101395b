"""The Typer app: one-line errors for everything a user can fix, the version flag, the consoles.

Commands live in one module per command group and are registered in ``denoise_gan.cli``'s ``__init__``;
each parses its options, calls one library function and prints.
"""

from __future__ import annotations

import errno
import functools
import importlib
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
import typer.core
from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.measure import Measurement
from rich.segment import Segment, Segments
from rich.table import Table

from data_tools.atomic_files import NO_ROOM, FolderBusyError, NoRoomError, OutputExistsError
from data_tools.names import shown
from data_tools.paths import WORKING_FOLDER_GONE, real_path, working_folder_gone
from denoise_gan import __version__
from denoise_gan.cli.log_stream import log_kept_from_full_disk
from denoise_gan.cli.repeated_options import repeated_option
from denoise_gan.command_line import command_line
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
from denoise_gan.warning_line import say_warning_on


def _click_exceptions(name: str) -> tuple[type[BaseException], ...]:
    """An exception class of the click that parses the command line: Typer's own copy (``typer._click``, in
    recent Typer) and the click package, whichever exist."""
    found = []
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


_NO_ARGS, _CLICK_ERROR, _ABORT, _USAGE_ERROR = (
    _click_exceptions(n) for n in ("NoArgsIsHelpError", "ClickException", "Abort", "UsageError"))


class _InterruptNotice:
    """Whether the running command said where a Ctrl-C left it. Typer turns an interrupt outside a command's body
    (while it parses and converts the options) into exit 130 without a word, the same code a command's own
    notice ends with: this tells the two apart."""

    said = False


def _command_path(exc: Any, given: list[str], prog_name: str | None, commands: Any) -> str:
    """The command whose --help answers the error: its context's, or, for an option missing its value (which the
    parser raises before any context), the first word that names a command."""
    if getattr(exc, "ctx", None):
        return exc.ctx.command_path
    command = next((word for word in given if word in commands), None)
    return " ".join(filter(None, (prog_name or "denoise-gan", command)))


class OneLineUsageErrors(typer.core.TyperGroup):
    """Usage errors (a misspelt option, a value of the wrong type, a missing argument) as one red line and exit
    code 2, like every other error, instead of a framed usage box; bare ``denoise-gan`` still prints the help."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None and not {"--help", "-h"} & set(rest):
            problem = repeated_option(command.params, rest)
            if problem:
                raise _USAGE_ERROR[0](problem, ctx=None)
        return name, command, rest

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        with command_line(), log_kept_from_full_disk():  # the API's checks it runs keep their flags
            try:
                return self._main(args, prog_name, complete_var, standalone_mode, **extra)
            except OSError as exc:  # --help, --version or the bare help into a full disk's file (a command's own
                if exc.errno not in NO_ROOM or exc.filename is not None:  # output is taken in friendly_errors)
                    raise
                _say_log_unwritten(exc)
                sys.exit(1)

    def _main(self, args: Any, prog_name: str | None, complete_var: str | None, standalone_mode: bool,
              **extra: Any) -> Any:
        given = sys.argv[1:] if args is None else list(args)
        if not given or "--help" in given or "-h" in given:  # only help draws Typer's tables: others skip them
            _fold_help_tables()
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        _InterruptNotice.said = False
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _NO_ARGS as exc:  # bare `denoise-gan`: the help, once (click made it in building the exception,
            # and a rich help is printed as it is made: asking for it again printed it twice)
            if exc.format_message():
                console.print(exc.format_message(), markup=False, highlight=False)
            sys.exit(exc.exit_code)
        except _CLICK_ERROR as exc:
            where = f" (see '{_command_path(exc, given, prog_name, self.commands)} --help')"
            message = " ".join(exc.format_message().split())
            say_error(message + where)
            sys.exit(exc.exit_code)
        except _ABORT:
            err_console.print("[yellow]aborted[/]")
            sys.exit(1)
        if code == 130 and not _InterruptNotice.said:
            err_console.print("[yellow]interrupted[/]", highlight=False)
        sys.exit(code if isinstance(code, int) else 0)


def _fold_help_tables() -> None:
    """Typer lays an option out over six columns (name, short name, negative name, its short name, type, help);
    at 80 columns (any piped help) rich then split names mid-word (``--clean-jpeg-frac`` / ``tion``) and left
    the help about 17 characters wide. Here an option's names and type share one column, a line each, as wide
    as the longest name, and the help takes the rest. Typer builds its help tables from
    ``typer.rich_utils.Table``; where a Typer has none, its own layout stays."""
    rich_utils = importlib.import_module("typer.rich_utils")
    base = getattr(rich_utils, "Table", None)
    if base is None or getattr(base, "stacks_names", False):  # no table to change, or changed already
        return
    from rich.text import Text

    class StackedNamesTable(base):  # type: ignore[misc,valid-type]
        stacks_names = True

        def add_row(self, *cells: Any, **kwargs: Any) -> None:
            if len(cells) not in (6, 7):  # a commands table (name, help): as it is
                super().add_row(*cells, **kwargs)
                return
            lead, (long, short, negative, negative_short, kind, help_text) = cells[:-6], cells[-6:]
            lines = [Text(", ").join(t for t in (long, short) if t.plain),
                     Text(", ").join(t for t in (negative, negative_short) if t.plain), kind]
            names = Text("\n").join(line for line in lines if line.plain)
            super().add_row(*lead, names, help_text, **kwargs)
            column = self.columns[len(lead)]
            column.no_wrap = True
            column.min_width = max(column.min_width or 0, *(len(line) for line in names.plain.split("\n")))
            self.columns[-1].overflow = "fold"

    rich_utils.Table = StackedNamesTable


app = typer.Typer(
    cls=OneLineUsageErrors,
    name="denoise-gan",
    help="Unpaired image denoising with CycleGAN: denoise photo folders, synthesise noisy sets, "
         "train, evaluate and benchmark.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


console = Console(stderr=False)
err_console = Console(stderr=True)
MEASURE_UP_TO = 10_000  # columns: how wide a result may be measured (its own need, not the terminal's width)

F = TypeVar("F", bound=Callable[..., Any])


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
    - 130 (143 after a SIGTERM, as ``launch`` turns it): an interrupt, also one that ended a command's work."""

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
                _say_log_unwritten(exc)
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
            _InterruptNotice.said = True
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


def _say_log_unwritten(exc: OSError) -> None:
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
    _InterruptNotice.said = True
    if not said:
        hints = OVERWRITE_HINTS if overwrite else INTERRUPT_HINTS
        hint = hints.get(command, INTERRUPT_HINTS.get(command, ""))
        err_console.print(f"[yellow]interrupted[/]{escape(hint)}", highlight=False, soft_wrap=True)


def print_whole(result: RenderableType) -> None:
    """A result (a table of scores) printed whole: where it does not fit the terminal, it is laid out at the
    narrowest width that cuts no word, and the terminal wraps the lines. Fitted to a narrower width, rich cut
    cells to ``…`` (a 45-column pane showed ``0.…`` for every score, a 20-column one blank columns)."""
    from denoise_gan.cli.render import plain_boxes  # the CLI's drawing, imported on use as the commands do

    result = plain_boxes(result, console)
    need = _uncut_width(result)
    if need <= console.width:
        console.print(result)
        return
    lines = console.render_lines(result, console.options.update_width(need), pad=False)
    console.print(Segments([part for line in lines for part in (*line, Segment.line())]), soft_wrap=True, end="")


FOLDED_COLUMN = 12  # columns: what a column that folds its text (a file name, a reason) needs to be read


def _uncut_width(result: RenderableType) -> int:
    """The narrowest width at which no cell is cut: every word of a column that cuts whole, and a column that
    folds its text (so cuts nothing) at most FOLDED_COLUMN wide."""
    parts = list(result.renderables) if isinstance(result, Group) else [result]
    folding = [column for part in parts if isinstance(part, Table) for column in part.columns
               if column.overflow == "fold"]
    widths = [column.max_width for column in folding]
    for column in folding:
        column.max_width = min(column.max_width or FOLDED_COLUMN, FOLDED_COLUMN)
    try:
        return Measurement.get(console, console.options.update_width(MEASURE_UP_TO), result).minimum
    finally:
        for column, width in zip(folding, widths):
            column.max_width = width


def say_warning(message: str) -> None:
    """A warning line, written as ``say_error`` writes an error: text, not markup, control characters escaped."""
    say_warning_on(err_console, message)


def say_note(message: str) -> None:
    """A note on how a result was made (files left out, an option unused): on stderr beside the warnings, so
    standard output holds the results alone; one line however narrow the terminal or a log's 80 columns."""
    err_console.print(f"[yellow]note:[/] {escape(shown(message))}", highlight=False, soft_wrap=True)


def say_other_formats(*folders: Path | None) -> None:
    """A note naming the images in formats no command reads under the folders a command read (searched as it
    searches them): a set, a score or a fit made from part of a folder is not made without a word. A folder
    without a photo to read is left to the command's error, which names them."""
    from data_tools.folder_scan import holds_photos, other_formats, other_formats_note

    found: dict[Path, Path] = {}  # each file once: a --pred inside --clean is walked twice
    for path in other_formats([f for f in folders if f is not None and holds_photos(Path(f))], recursive=True):
        found.setdefault(real_path(path), path)
    if found:
        say_note(other_formats_note(list(found.values())))


def say_error(message: str) -> None:
    """The one error line: the message is text, not markup ("pip install -e '.[train]'" keeps its
    brackets), and a file name's control characters are shown escaped (a newline cannot forge a second line)."""
    err_console.print(f"[bold red]error:[/] {escape(shown(message))}", markup=True, highlight=False, soft_wrap=True)


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


def command(name: str, fn: Callable[..., Any]) -> None:
    """Register a command function under ``name``, with friendly errors; its docstring is the help, each
    paragraph one line that the terminal wraps (the source's line breaks would otherwise cut sentences)."""
    app.command(name, help=reflow(fn.__doc__ or ""))(friendly_errors(fn))


def reflow(doc: str) -> str:
    """A docstring's paragraphs, each joined into one line, separated by blank lines."""
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs if p.strip())


def _version(value: bool) -> None:
    if value:
        console.print(f"denoise-gan {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Unpaired image denoising with CycleGAN."""


def run() -> None:  # pragma: no cover - console entry point alias
    sys.exit(app())
