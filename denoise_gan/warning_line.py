"""The one way a warning reaches a terminal, for the CLI and the training loops alike: file names in it go
through ``shown`` (an escape sequence, a newline or a bidi override in a name cannot recolour the terminal,
forge a second line or pass for another name), and the text is never read as rich markup (names hold
brackets)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from data_tools.names import shown


def say_warning_on(console: Console | None, message: str) -> None:
    """A yellow ``warning:`` line on ``console`` (a new stderr console when None)."""
    (console or Console(stderr=True)).print(f"[yellow]warning:[/] {escape(shown(message))}", highlight=False,
                                            soft_wrap=True)
