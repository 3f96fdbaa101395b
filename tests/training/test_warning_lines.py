"""Warnings of the training commands name files as the CLI's do: through ``shown``. Three of them printed a
name as it was, so an escape sequence, a newline or a bidi override in a photo's name reached the terminal."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from denoise_gan.training.adapt_noise import read_photos
from denoise_gan.training.input_record import note_inputs, record_inputs

HOSTILE = "a\x1b[31mred\nforged line \u202egnp.png"


def _terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=400), out


def test_an_unreadable_photos_name_is_shown_escaped(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / HOSTILE).write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # unreadable: warned about
    console, out = _terminal()
    assert read_photos(str(tmp_path / "photos"), None, console) == []
    text = out.getvalue()
    assert "warning:" in text and "\\x1b[31mred\\nforged line \\u202egnp.png" in text
    assert "\x1b[31mred" not in text and "\u202e" not in text and text.count("\n") == 1


def test_a_changed_input_folders_name_is_shown_escaped(tmp_path: Path) -> None:
    folder = tmp_path / HOSTILE
    folder.mkdir()
    (folder / "x.png").write_bytes(b"1")
    record_inputs(tmp_path / "run", {"clean": str(folder)})
    (folder / "y.png").write_bytes(b"2")  # the folder changed since the run began
    console, out = _terminal()
    note_inputs(tmp_path / "run", {"clean": str(folder)}, resume=True, console=console)
    text = out.getvalue()
    assert "warning:" in text and "\u202e" not in text and "\x1b[31mred" not in text
