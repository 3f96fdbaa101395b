"""The benchmark's argument refusals, each one line before any row runs: an output folder that is the clean one
(its report would land among the user's photos), sets that are not sets, options that contradict each other."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_tools.images import write_image
from helpers import cli, noise_image, one_line_error

NOISE = ("--noise", "gaussian:sigma=25")


@pytest.fixture(scope="module")
def clean_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("refusals_clean")
    write_image(folder / "a.png", noise_image(40, 48, seed=0))
    return folder


def test_the_clean_folder_is_not_the_output_folder(clean_dir: Path) -> None:
    before = sorted(p.name for p in clean_dir.iterdir())
    one_line_error(cli("benchmark", "--clean", clean_dir, *NOISE, "--methods", "tv", "-o", clean_dir),
                   "the output folder must not be the --clean folder")
    assert sorted(p.name for p in clean_dir.iterdir()) == before


@pytest.mark.parametrize(("args", "needle"), [
    (("--noisy", "{clean}/a.png"), "a.png: not a folder"),
    (("--noisy", "{empty}"), "neither a paired set made by `denoise-gan synth`"),
    (("--noisy", "{empty}", "--clean", "{clean}"), "--noisy sets hold their own clean/ and noise"),
    ((), "give --clean DIR with one or more --noise SPEC, or --noisy SET"),
    (("--clean", "{clean}", *NOISE, "--methods", ","), "no methods given; valid: noisy, model"),
    (("--clean", "{clean}", *NOISE, "--methods", "model", "-c", "{weights}", "-c", "{weights}"),
     "the same checkpoint is given twice"),
])
def test_sets_and_methods_that_cannot_run_are_refused(clean_dir: Path, tmp_path: Path, weights: Path,
                                                      args: tuple[str, ...], needle: str) -> None:
    (tmp_path / "empty").mkdir()
    filled = [a.format(clean=clean_dir, empty=tmp_path / "empty", weights=weights) for a in args]
    methods = [] if "--methods" in args else ["--methods", "tv"]
    one_line_error(cli("benchmark", *filled, *methods, "-o", tmp_path / "out"), needle)
    assert not (tmp_path / "out").exists()


def test_two_checkpoints_with_one_row_name_are_refused(clean_dir: Path, tmp_path: Path, weights: Path) -> None:
    files = [tmp_path / top / "run" / "refine" / "m.safetensors" for top in ("x", "y")]  # two parents added: alike
    for file in files:
        file.parent.mkdir(parents=True)
        file.write_bytes(weights.read_bytes())
    one_line_error(cli("benchmark", "--clean", clean_dir, *NOISE, "--methods", "model", "-c", files[0], "-c",
                       files[1], "-o", tmp_path / "out"), "two --checkpoint files give the same row name")
    assert not (tmp_path / "out").exists()
