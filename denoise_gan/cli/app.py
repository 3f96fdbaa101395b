"""The Typer app: one-line errors for everything a user can fix, the version flag, the consoles.

Commands live in one module per group (``data``, ``evaluate``, ``train``, ``denoise``) and are registered
in ``denoise_gan.cli``'s ``__init__``; each parses its options, calls one library function and prints.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from denoise_gan import __version__
from denoise_gan.errors import DenoiseGanError
from denoise_gan.extras import EXTRAS

app = typer.Typer(
    name="denoise-gan",
    help="Unpaired image denoising with CycleGAN: denoise photo folders, synthesise noisy sets, "
         "train, evaluate and benchmark.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=False)
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(fn: F) -> F:
    """Expected failures (bad input, bad files, bad options) become one red line and exit code 2: every
    ``DenoiseGanError`` (the root of the data, config, user and weights errors; their subclasses name what went
    wrong), a missing file, and a missing optional package (the line names the extra that installs it)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (DenoiseGanError, FileNotFoundError) as exc:
            # the message is text, not markup: "pip install 'denoise-gan[export]'" keeps its brackets
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except ModuleNotFoundError as exc:
            extra = EXTRAS.get((exc.name or "").split(".")[0])
            if extra is None:
                raise
            message = f"this command needs the {exc.name!r} package: pip install 'denoise-gan[{extra}]'"
            err_console.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


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
