"""What the CLI prints beside a command's results: the two consoles, the one-line error, warning and note, and a
result table printed whole however narrow the terminal."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.measure import Measurement
from rich.segment import Segment, Segments
from rich.table import Table

from data_tools.names import shown
from data_tools.paths import real_path
from denoise_gan.warning_line import say_warning_on

console = Console(stderr=False)
err_console = Console(stderr=True)
MEASURE_UP_TO = 10_000  # columns: how wide a result may be measured (its own need, not the terminal's width)


def print_whole(result: RenderableType) -> None:
    """A result (a table of scores) printed whole: where it does not fit the terminal, it is laid out at the
    narrowest width that cuts no word, and the terminal wraps the lines. Fitted to a narrower width, rich cut
    cells to ``…`` (a 45-column pane showed ``0.…`` for every score, a 20-column one blank columns)."""
    from denoise_gan.cli.render import plain_boxes  # the CLI's drawing, imported on use as the commands do

    result = plain_boxes(result, console)
    for part in result.renderables if isinstance(result, Group) else [result]:
        if isinstance(part, str):  # a line of text under a table (a model's load, a failure): one line in a log or
            console.print(part, soft_wrap=True)  # a pipe, as the terminal wraps it, not cut at 80 columns
            continue
        need = _uncut_width(part)
        if need <= console.width:
            console.print(part)
            continue
        lines = console.render_lines(part, console.options.update_width(need), pad=False)
        console.print(Segments([seg for line in lines for seg in (*line, Segment.line())]), soft_wrap=True, end="")


FOLDED_COLUMN = 12  # columns: what a column that folds its text (a file name, a reason) needs to be read


def _uncut_width(result: RenderableType) -> int:
    """The narrowest width at which no cell is cut: every word of a column that cuts whole, and a column that
    folds its text (so cuts nothing) at most FOLDED_COLUMN wide."""
    folding = [column for column in result.columns if column.overflow == "fold"] if isinstance(result, Table) else []
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
