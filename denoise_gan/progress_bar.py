"""The one progress bar of file-by-file work, shared by the library's ``denoise_files`` and the CLI's callbacks.

A module of its own at the bottom of the package, importing only rich, so the CLI can draw it without loading
the library and the library without importing the CLI.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

ProgressFn = Callable[[int, int, str], None]  # what a long library call reports: (done, total, what is at hand)


SPEED_WINDOW = 24 * 3600.0  # seconds of progress the time left is estimated from: rich's 30 s showed none at all
#                            while each step (a large photo on 2 cores, a benchmark row) took longer than that


def file_progress(console: Console, *, disable: bool) -> Progress:
    """Description, bar, done/total, time left and the current name (a task field, shown as plain text so a
    name holding ``[bold]`` is not read as markup); transient, so the finished bar leaves no line behind."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    TextColumn("{task.fields[name]}", markup=False), console=console, transient=True,
                    disable=disable, speed_estimate_period=SPEED_WINDOW)


def live_display(console: Console) -> bool:
    """Whether a live bar can be drawn: on a terminal that is not a dumb one (Emacs' shell, some CI runners), where
    rich draws no bar, so progress is said in the plain lines a log gets instead of not at all."""
    return console.is_terminal and not console.is_dumb_terminal
