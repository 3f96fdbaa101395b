"""Refusals name what caused them: the file that makes a folder not empty, the field a manifest lacks, a report
name of the report's own kind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from data_tools.images import write_image
from helpers import cli, one_line_error


def test_a_sample_folder_refusal_names_the_stray_file_first(tmp_path: Path) -> None:
    out = tmp_path / "heldout"
    assert cli("samples", "-o", out, "--names", "astronaut,camera,coffee,moon").exit_code == 0
    (out / "notes.txt").write_text("mine")
    one_line_error(cli("samples", "-o", out, "--names", "astronaut,camera,coffee,moon"),
                   "not empty (5 entries: notes.txt, astronaut.png")


def test_a_synth_folder_refusal_names_the_stray_file_first(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_image(src / "a.png", np.full((32, 32), 128, np.uint8))
    out = tmp_path / "set"
    assert cli("synth", src, "-o", out, "--noise", "gaussian:sigma=5").exit_code == 0
    (out / "z_notes.txt").write_text("mine")
    one_line_error(cli("synth", src, "-o", out, "--noise", "gaussian:sigma=9"), "(4 entries: z_notes.txt, clean")


def test_a_manifest_without_a_field_names_the_field(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"images": []}))
    one_line_error(cli("benchmark", "--noisy", folder, "--methods", "nlm", "-o", tmp_path / "b"),
                   "not a synth manifest (it has no 'noise' field)")


def test_a_report_given_an_image_name_is_shown_a_name_of_its_own_kind(tmp_path: Path) -> None:
    clean = tmp_path / "c"
    write_image(clean / "a.png", np.zeros((16, 16), np.uint8))
    one_line_error(cli("evaluate", "--clean", clean, "--pred", clean, "--csv", tmp_path / "a.png"),
                   "(e.g. results.csv)")


def test_a_folder_holding_one_entry_is_said_to_hold_one_entry(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "rocket.png").write_bytes(b"x")
    one_line_error(cli("samples", "-o", tmp_path / "out", "--names", "camera"), "not empty (1 entry: rocket.png)")


def test_samples_help_says_the_default_set_of_names_is_all() -> None:
    """--set showed its default as held-out alone, where --names reads any sample (of all) without it."""
    from typer.testing import CliRunner

    from denoise_gan.cli import app

    text = " ".join(CliRunner().invoke(app, ["samples", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"}).output
                    .replace("|", " ").split())
    assert "held-out; with --names, all" in text
