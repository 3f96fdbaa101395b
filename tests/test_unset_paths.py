"""An empty path is an unset variable ("$DIR" with DIR unset, a config field left at its default), never the
current folder, which a Path of "" is: `benchmark --clean ""` scored whatever photos were there, `denoise a.png
-o ""` wrote into it, and train()/adapt() from Python trained on the photos of the directory they ran in."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from data_tools.errors import DataError
from data_tools.images import write_image
from data_tools.synth import synth
from denoise_gan.config import AdaptConfig
from denoise_gan.errors import UserError
from denoise_gan.evaluation.metrics import evaluate_folders
from denoise_gan.training.adapt import adapt
from denoise_gan.training.cyclegan import train
from helpers import cli, one_line_error, tiny_train_config


@pytest.fixture
def photo_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current folder holds a photo, which an empty path must not pick up."""
    write_image(tmp_path / "here.png", np.full((24, 24, 3), 90, np.uint8))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("args", [
    ("samples", "-o", ""),
    ("denoise", "", "-o", "out"),
    ("evaluate", "--clean", "", "--pred", "."),
    ("benchmark", "--clean", "", "-o", "bench", "--methods", "noisy", "--noise", "gaussian:sigma=5"),
    ("export", "default", "-o", ""),
    # text options whose "" a config reads as "not given": validation turned off, a fresh G, the bundled photos
    ("train", "--clean", ".", "--noise", "gaussian:sigma=5", "-o", "run", "--val", ""),
    ("adapt", "--noisy", ".", "--clean", "", "-o", "adapted"),
    ("adapt", "--noisy", ".", "--from", "", "-o", "adapted"),
])
def test_the_cli_refuses_an_empty_path(photo_here: Path, args: tuple[str, ...]) -> None:
    said = one_line_error(cli(*args), "an empty path (an unset variable?); give ")
    assert ("a shipped model's name" if "--from" in args else "give '.' for the current folder") in said
    assert sorted(p.name for p in photo_here.iterdir()) == ["here.png"]


@pytest.mark.parametrize("args", [
    ("denoise", "here.png", "-o", "-"),
    ("samples", "-o", "-"),
    ("synth", ".", "-o", "-", "--noise", "gaussian:sigma=5"),
    ("export", "default", "-o", "-"),
])
def test_the_cli_refuses_standard_output_as_an_output_path(photo_here: Path, args: tuple[str, ...]) -> None:
    """`denoise a.png -o -` made a folder named "-" and wrote into it, where a Unix user meant standard output."""
    one_line_error(cli(*args), "- (standard output): every command writes files")
    assert sorted(p.name for p in photo_here.iterdir()) == ["here.png"]
    assert cli("denoise", "here.png", "-o", "./-").exit_code == 0  # a folder named "-", spelt as a path, is taken


def test_an_empty_suffix_is_still_a_value(photo_here: Path) -> None:
    result = cli("denoise", "here.png", "-o", "out", "--suffix", "", "-c", "default")
    assert result.exit_code == 0, result.output
    assert (photo_here / "out" / "here.png").is_file()


def test_python_calls_refuse_an_empty_folder(photo_here: Path) -> None:
    from denoise_gan import Denoiser

    den = Denoiser.from_pretrained("default")
    for inputs, out in (("", "out"), ("here.png", "")):
        with pytest.raises(UserError, match="an empty path"):
            den.denoise_files(inputs, out)
    with pytest.raises(UserError, match="an empty folder path"):
        evaluate_folders("", photo_here)
    from denoise_gan.nets.export import export_model

    with pytest.raises(UserError, match="an empty output path"):
        export_model("default", "", "folder")
    with pytest.raises(DataError, match="an empty folder path"):
        synth("", "set", "gaussian:sigma=5", 0)
    with pytest.raises(UserError, match="a new run needs a folder of clean photos"):
        train(replace(tiny_train_config(photo_here), data=replace(tiny_train_config(photo_here).data,
                                                                  clean_dir="")), photo_here / "run")
    with pytest.raises(UserError, match="a new adaptation needs a folder of noisy photos"):
        adapt(AdaptConfig(steps=2, device="cpu"), photo_here / "adapted")
    assert sorted(p.name for p in photo_here.iterdir()) == ["here.png"]


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"seed": -1}, "seed must be a whole number from 0"), ({"seed": True}, "seed must be"),
    ({"seed": 1.5}, "seed must be"), ({"seed": None}, "seed must be"), ({"seed": "1"}, "seed must be"),
    ({"crop": 16.5}, "crop must be a whole number from 1"), ({"crop": 0}, "crop must be"),
    ({"max_size": -3}, "max_size must be"),
])
def test_synth_from_python_checks_its_numbers(photo_here: Path, kwargs: dict, needle: str) -> None:
    """A NumPy seed failed writing the manifest (an empty set left), 16.5 as a crop after the manifest said
    "incomplete", and -1, True or None went into the manifest as given."""
    args = {"seed": 0, **kwargs}
    with pytest.raises(DataError, match=needle):
        synth(photo_here, photo_here.parent / "set", "gaussian:sigma=5", args.pop("seed"), **args)
    assert not (photo_here.parent / "set").exists()


def test_synth_takes_a_numpy_seed_as_the_same_seed(photo_here: Path) -> None:
    a = synth(photo_here, photo_here.parent / "a", "gaussian:sigma=5", np.int64(3))
    b = synth(photo_here, photo_here.parent / "b", "gaussian:sigma=5", 3)
    assert a.written == b.written
    assert (photo_here.parent / "a" / "noisy" / "here.png").read_bytes() == \
        (photo_here.parent / "b" / "noisy" / "here.png").read_bytes()


@pytest.mark.parametrize("args", [("denoise", "here.png", "-o", "out"), ("demo", "-o", "out"),
                                  ("benchmark", "--clean", ".", "-o", "out", "--methods", "nlm", "--noise",
                                   "gaussian:sigma=5")])
def test_an_empty_device_is_refused_not_taken_for_auto(photo_here: Path, args: tuple[str, ...]) -> None:
    """`--device "$DEV"` with DEV unset ran as auto (on a GPU where there is one), where an empty --engine or path
    was refused."""
    one_line_error(cli(*args, "--device", ""), "an empty device name", "unset variable")
    assert not (photo_here / "out").exists()
