"""The Typer app: usage errors as one line, help tables that fold, the version flag, command registration.

Commands live in one module per command group and are registered in ``denoise_gan.cli``'s ``__init__``;
each parses its options, calls one library function and prints.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer
import typer.core

from data_tools.atomic_files import NO_ROOM
from denoise_gan import __version__
from denoise_gan.cli.friendly_errors import InterruptNotice, friendly_errors, say_log_unwritten
from denoise_gan.cli.log_stream import log_kept_from_full_disk
from denoise_gan.cli.repeated_options import repeated_option
from denoise_gan.cli.say import console, err_console, say_error
from denoise_gan.command_line import command_line


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
                say_log_unwritten(exc)
                sys.exit(1)

    def _main(self, args: Any, prog_name: str | None, complete_var: str | None, standalone_mode: bool,
              **extra: Any) -> Any:
        given = sys.argv[1:] if args is None else list(args)
        if not given or "--help" in given or "-h" in given:  # only help draws Typer's tables: others skip them
            _help_layout()
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        InterruptNotice.said = False
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
            say_error(message + where + _expanded_pattern_hint(message, given))
            sys.exit(exc.exit_code)
        except _ABORT:
            err_console.print("[yellow]aborted[/]")
            sys.exit(1)
        if code == 130 and not InterruptNotice.said:
            err_console.print("[yellow]interrupted[/]", highlight=False)
        sys.exit(code if isinstance(code, int) else 0)


def _expanded_pattern_hint(message: str, given: list[str]) -> str:
    """For extra arguments that are existing files right after an option's value that is one too: the shell
    expanded an unquoted pattern (``--noisy photos/*.jpg``) into several paths where the option takes one folder,
    which click's words do not say. The extras are found in the command line, not split from click's list of
    them: a photo's name may hold a space, and a pattern that matched two files leaves one extra."""
    found = re.search(r"unexpected extra argument(?:s|\(s\))? \((.*)\)$", message)
    if found is None or not any(_files_spell(given, at, found.group(1)) for at in range(1, len(given))):
        return ""
    return "; a shell pattern such as *.jpg gave several files where one path goes: give their folder"


def _files_spell(given: list[str], at: int, text: str) -> bool:
    """Whether ``given[at-1]`` is a file and files from ``given[at]`` on, joined by spaces, are ``text``."""
    if not os.path.isfile(given[at - 1]):
        return False
    pos = 0
    for word in given[at:]:
        shown = " ".join(word.split())  # as the message shows it: runs of whitespace made one space
        if not text.startswith(shown, pos) or not os.path.isfile(word):
            return False
        pos += len(shown)
        if pos == len(text):
            return True
        if text[pos] != " ":
            return False
        pos += 1
    return False


def _help_layout() -> None:
    """Typer's help laid out for a log and a screen reader as well as a terminal: its option tables and panels are
    built from ``typer.rich_utils``' ``Table`` and ``Panel``, replaced here once per process by the subclasses
    below; where a Typer has neither, its own layout stays."""
    rich_utils = importlib.import_module("typer.rich_utils")
    for name, subclass in (("Table", _stacked_names_table), ("Panel", _plain_off_terminal)):
        base = getattr(rich_utils, name, None)
        if base is not None and not getattr(base, "laid_out_here", False):  # none to change, or changed already
            setattr(rich_utils, name, subclass(base))


def _stacked_names_table(base: type) -> type:
    """Typer lays an option out over six columns (name, short name, negative name, its short name, type, help);
    at 80 columns (any piped help) rich then split names mid-word (``--clean-jpeg-frac`` / ``tion``) and left
    the help about 17 characters wide. Here an option's names and type share one column, a line each, as wide
    as the longest name, and the help takes the rest."""
    from rich.text import Text

    class StackedNamesTable(base):  # type: ignore[misc,valid-type]
        laid_out_here = True

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

    return StackedNamesTable


def _plain_off_terminal(base: type) -> type:
    """Typer frames each group of options in a rounded box: piped, logged or on ``TERM=dumb`` a screen reader read
    its box-drawing characters out by name, as it did the result tables'; there the frame is ASCII, as theirs is.
    A terminal keeps its look."""
    from rich import box

    from denoise_gan.progress_bar import live_display

    class PlainOffTerminal(base):  # type: ignore[misc,valid-type]
        laid_out_here = True

        def __rich_console__(self, console: Any, options: Any) -> Any:
            if not live_display(console):
                self.box = box.ASCII
            return super().__rich_console__(console, options)

    return PlainOffTerminal


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
