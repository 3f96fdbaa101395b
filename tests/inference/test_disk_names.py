"""Photos whose names a memory card's disk refuses (FAT and exFAT refuse : * ? " < > | \\), denoised from a Linux
folder onto one: each such file fails before its work, saying why, and the others are written. Each was
denoised first and then failed with "no such file" or "not permitted"; a folder so named under --recursive
stopped the whole run, leaving an empty folder behind."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from data_tools.disk_names import refused_name
from data_tools.images import write_image
from denoise_gan.inference.file_plan import OutputOptions
from denoise_gan.inference.files import denoise_files
from denoise_gan.inference.infer_config import InferConfig
from denoise_gan.inference.tiling import TiledDenoiser
from denoise_gan.nets.weights import load_generator
from helpers import noise_image

FAT_REFUSES = set(':*?"<>|\\')


@pytest.fixture(autouse=True)
def disk_answers_of_this_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's disks answer afresh (a disk's answer is kept per device: an emulated card shares tmp's)."""
    from data_tools import disk_names

    monkeypatch.setattr(disk_names, "_ASKED", {})


@pytest.fixture
def card(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder that behaves as a FAT card: no file or folder under it may be named with what FAT refuses."""
    card = tmp_path / "card"
    card.mkdir()
    real_open, real_mkdir = os.open, os.mkdir

    def refused(path: object) -> bool:
        path = os.fsdecode(path)
        return path.startswith(str(card)) and bool(FAT_REFUSES & set(os.path.basename(path)))

    def fat_open(path: object, *args: object, **kwargs: object) -> int:
        if refused(path):
            raise OSError(errno.EINVAL, "Invalid argument", os.fsdecode(path))
        return real_open(path, *args, **kwargs)

    def fat_mkdir(path: object, *args: object, **kwargs: object) -> None:
        if refused(path):
            raise OSError(errno.EINVAL, "Invalid argument", os.fsdecode(path))
        real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", fat_open)
    monkeypatch.setattr(os, "mkdir", fat_mkdir)
    return card


class CountingDenoiser(TiledDenoiser):
    """The tiny network, counting the images it was given: a refused name must cost no work."""

    def __init__(self, weights: Path) -> None:
        super().__init__(load_generator(weights)[0], InferConfig(device="cpu"))
        self.images = 0

    def __call__(self, pixels: np.ndarray, *args: object, **kwargs: object) -> np.ndarray:
        self.images += 1
        return super().__call__(pixels, *args, **kwargs)


def test_names_the_disk_refuses_fail_before_their_work_and_the_others_are_written(card: Path, tmp_path: Path,
                                                                                   weights: Path) -> None:
    for name in ("a:b.png", "q?.png", "ok.png", "photo (1).png", "日本.png"):
        write_image(tmp_path / "photos" / name, noise_image(24, 24))
    write_image(tmp_path / "photos" / "sub:dir" / "camera.png", noise_image(24, 24))
    write_image(tmp_path / "photos" / "fine" / "moon.png", noise_image(24, 24))
    engine = CountingDenoiser(weights)
    summary = denoise_files([tmp_path / "photos"], card / "out", engine, OutputOptions(recursive=True))
    status = {Path(r.source).relative_to(tmp_path / "photos").as_posix(): (r.status, r.message)
              for r in summary.results}
    assert {name for name, (done, _) in status.items() if done == "done"} == \
        {"ok.png", "photo (1).png", "日本.png", "fine/moon.png"}
    assert status["a:b.png"] == ("failed", "this disk does not take the character(s) ':' in the name 'a:b.png' "
                                 "(FAT and exFAT memory cards and Windows shares refuse : * ? \" < > | \\); rename the "
                                 "file or folder, or choose an -o on another disk")
    assert "the character(s) '?' in the name 'q?.png'" in status["q?.png"][1]
    assert "the character(s) ':' in the name 'sub:dir'" in status["sub:dir/camera.png"][1]
    assert engine.images == 4  # the refused ones were never denoised
    assert sorted(p.relative_to(card / "out").as_posix() for p in (card / "out").rglob("*")) == \
        ["fine", "fine/moon.png", "ok.png", "photo (1).png", "日本.png"]  # no probe left behind


def test_a_disk_that_takes_the_name_is_left_with_no_probe(tmp_path: Path) -> None:
    assert refused_name(tmp_path / "new" / "deeper", "a:b*?.png") == ""  # a Linux disk takes any name
    assert not list(tmp_path.iterdir())  # the probe files are gone, and no folder was made


def test_a_name_of_usual_characters_makes_no_probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """And a folder that takes no file at all (read-only, full) is the write check's to say, not the name's."""
    import tempfile

    made: list[str] = []
    monkeypatch.setattr(tempfile, "mkstemp", lambda **kw: made.append(kw["prefix"]) or (_ for _ in ()).throw(
        OSError(errno.EINVAL, "refused")))
    assert refused_name(tmp_path, "IMG_0001 (copy) [2], v1.2+final.png") == ""
    assert made == []
    assert refused_name(tmp_path, "a:b.png") == ""  # every file refused: the disk's, not the name's
    assert [p.split(".")[1] for p in made] == [":", "name-check"]
    from data_tools import disk_names

    asked = disk_names._ASKED
    real_mkstemp = monkeypatch.undo() or tempfile.mkstemp  # writable again: asked again, not the answer kept
    monkeypatch.setattr(disk_names, "_ASKED", asked)
    monkeypatch.setattr(tempfile, "mkstemp", lambda **kw: made.append(kw["prefix"]) or real_mkstemp(**kw))
    assert refused_name(tmp_path, "a:b.png") == "" and len(made) == 3


def test_a_disk_is_asked_once_for_the_same_characters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder of 2000 photos under "Straße" made 2000 probe files on the output disk."""
    import tempfile

    made: list[str] = []
    real_mkstemp = tempfile.mkstemp
    monkeypatch.setattr(tempfile, "mkstemp", lambda **kw: made.append(kw["prefix"]) or real_mkstemp(**kw))
    for i in range(20):
        assert refused_name(tmp_path / "Straße", f"Foto_{i}.png") == "" and refused_name(tmp_path, "Straße") == ""
    assert len(made) == 1 and not list(tmp_path.iterdir())


def test_synth_onto_such_a_disk_fails_those_photos_before_their_noise_and_completes_the_set(card: Path,
                                                                                         tmp_path: Path) -> None:
    """synth failed each after its noise, then marked the set incomplete: "make room and run the same command",
    which failed the same way for ever."""
    import json

    from data_tools.synth import synth

    for name in ("a:b.png", "ok.png"):
        write_image(tmp_path / "photos" / name, noise_image(24, 24))
    summary = synth(tmp_path / "photos", card / "set", "gaussian:sigma=10", seed=1)
    assert summary.written == 1 and summary.unwritten == 0
    assert [(p.name, why) for p, why in summary.failures] == \
        [("a:b.png", "this disk does not take the character(s) ':' in the name 'a:b.png' (FAT and exFAT memory cards "
                     "and Windows shares refuse : * ? \" < > | \\); rename the file or folder, or choose an -o on "
                     "another disk")]
    assert json.loads((card / "set" / "manifest.json").read_text())["complete"] is True
