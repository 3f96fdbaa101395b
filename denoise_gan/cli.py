"""The `denoise-gan` command: parse, call one library function, print. No logic lives here."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from denoise_gan import __version__

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
    """Expected failures (bad input, bad files, bad options) become one red line and exit code 2."""
    from data_tools.images import ImageReadError
    from data_tools.noise import NoiseSpecError
    from denoise_gan.errors import UserError
    from denoise_gan.weights import WeightsError

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (UserError, ImageReadError, NoiseSpecError, WeightsError, FileNotFoundError) as exc:
            err_console.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


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
