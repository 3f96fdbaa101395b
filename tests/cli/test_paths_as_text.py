"""Paths and names are printed as text: brackets are not rich markup (a `[/]` in a folder name crashed the
command after its files were written) and control characters are shown escaped (a newline forged a line)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data_tools.images import write_image
from helpers import cli, one_line_error


def test_bracketed_paths_are_printed_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # relative paths: a space in the temp folder's name would wrap the line there
    clean, pred = Path("c[/]"), Path("p[bold]x")
    for folder, value in ((clean, 100), (pred, 104)):
        write_image(folder / "a.png", np.full((24, 24), value, np.uint8))
    result = cli("evaluate", "--clean", clean, "--pred", pred, "--csv", "r[/].csv")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "p[bold]x vs" in text and "wrote r[/].csv" in text
    assert (tmp_path / "r[/].csv").is_file()


def test_a_control_character_in_a_name_cannot_forge_an_error_line(tmp_path: Path) -> None:
    clean, pred = tmp_path / "c", tmp_path / "p"
    name = "a\nFAKE: all good\x1b[2J"
    write_image(clean / f"{name}.png", np.zeros((24, 24), np.uint8))
    write_image(pred / f"{name}.png", np.zeros((30, 30), np.uint8))  # a size mismatch: its error names it
    write_image(clean / "b.png", np.zeros((24, 24), np.uint8))
    write_image(pred / "b.png", np.ones((24, 24), np.uint8))
    result = cli("evaluate", "--clean", clean, "--pred", pred)
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "\\nFAKE" in lines[0] and "\x1b" not in result.stderr, lines


def test_a_link_that_leads_to_itself_is_one_line_for_every_command(tmp_path: Path) -> None:
    """`ln -s loop loop` given as an output or a folder to compare crashed synth, denoise, evaluate and benchmark
    with a traceback (Path.resolve raises on a link loop on Python 3.11 and 3.12)."""
    photos, loop = tmp_path / "photos", tmp_path / "loop"
    write_image(photos / "a.png", np.full((24, 24), 100, np.uint8))
    loop.symlink_to("loop")
    for args in (("synth", photos, "-o", loop, "--noise", "gaussian:sigma=5"),
                 ("denoise", photos, "-o", loop),
                 ("evaluate", "--clean", photos, "--pred", loop),
                 ("evaluate", "--clean", loop, "--pred", photos),
                 ("benchmark", "--clean", photos, "-o", loop, "--methods", "nlm", "--noise", "gaussian:sigma=5"),
                 ("train", "--clean", photos, "--noise", "gaussian:sigma=5", "-o", loop, "--steps", "1")):
        result = cli(*args)
        line = one_line_error(result, "loop")
        assert "Symlink loop" not in line, (args, line)
    assert loop.is_symlink() and sorted(p.name for p in tmp_path.iterdir()) == ["loop", "photos"]
