"""Help texts are Rich markup: a bracketed word such as an extra's name must be escaped or it vanishes."""

from __future__ import annotations

import re

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from denoise_gan.cli import app

BRACKETED = re.compile(r"\\?\[([A-Za-z][^\]\s]*)\]")
COMMANDS = get_command(app).commands


def _bracketed(command) -> set[str]:
    texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
    return {f"[{word}]" for text in texts for word in BRACKETED.findall(text)}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_bracketed_words_in_help_are_printed(name: str) -> None:
    wanted = _bracketed(COMMANDS[name])
    shown = [CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "400"}).stdout]
    if wanted & {"[train]"}:
        shown.append(CliRunner().invoke(app, ["--help"], env={"COLUMNS": "400"}).stdout)
    for word in wanted:
        assert all(word in text for text in shown), (word, shown)


def test_the_export_help_names_its_extra() -> None:
    assert "[train]" in _bracketed(COMMANDS["export"])  # the parametrised test above checks something
