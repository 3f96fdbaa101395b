"""The one way a warning reaches a terminal, for the CLI and the training loops alike: file names in it go
through ``shown`` (an escape sequence, a newline or a bidi override in a name cannot recolour the terminal,
forge a second line or pass for another name), and the text is never read as rich markup (names hold
brackets)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape

from data_tools.names import shown


def say_warning_on(console: Console | None, message: str) -> None:
    """A yellow ``warning:`` line on ``console``, or on a new stderr console where that one is None or writes to
    standard output (a training run's progress console): warnings go to stderr, apart from results, and a log
    kept of stderr alone (``2> log``) lost the run's warning that its --val set was no held-out one."""
    if console is None or (not console.stderr and console.file is sys.stdout):
        console = Console(stderr=True)
    console.print(f"[yellow]warning:[/] {escape(shown(message))}", highlight=False, soft_wrap=True)


def say_for_the_run(console: Console | None, *notes: str) -> None:
    """Each non-empty note as a warning, said by torchrun's main process alone: a training run's notes are the
    run's, said once, not once per rank (a plain launch is the main process)."""
    from denoise_gan.runtime import world_from_env

    if world_from_env().is_main:
        for note in notes:
            if note:
                say_warning_on(console, note)


CAUTIONS_SHOWN = 5  # files a caution list names before it only counts


def say_cautions_on(console: Console, cautions: Sequence[tuple[object, str]], listed_in: str = "") -> None:
    """A warning for each file whose pixels a reader doubts, with why: the first few, then a count (``listed_in``
    names the file that lists them all)."""
    for file, caution in cautions[:CAUTIONS_SHOWN]:
        say_warning_on(console, f"{file}: {caution}")
    if len(cautions) > CAUTIONS_SHOWN:
        say_warning_on(console, f"and {len(cautions) - CAUTIONS_SHOWN} more file(s) with such a caution"
                       + (f" (all in {listed_in})" if listed_in else ""))
