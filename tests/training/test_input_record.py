"""A run's record of its image folders, and the lock it holds on its folder while it writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from data_tools.errors import DataError
from data_tools.folder_lock import holding_folder
from data_tools.images import write_image
from denoise_gan.training.input_record import RECORD_FILE, changed_inputs, record_inputs

pytestmark = pytest.mark.usefixtures("losses_png_unrendered")  # trains; never looks at that picture


def _photos(folder: Path, count: int = 3) -> Path:
    for i in range(count):
        write_image(folder / f"im{i}.bmp", np.full((16, 16, 3), 40 * i, np.uint8))
    return folder


def test_a_replaced_image_of_the_same_size_is_seen(tmp_path: Path) -> None:
    """BMPs of one size have one byte count: the size alone missed a replaced photo."""
    photos, run = _photos(tmp_path / "photos"), tmp_path / "run"
    run.mkdir()
    record_inputs(run, {"--clean": str(photos), "--noisy": ""})
    assert changed_inputs(run, {"--clean": str(photos), "--noisy": ""}) == []
    before = (photos / "im0.bmp").stat().st_size
    write_image(photos / "im0.bmp", np.full((16, 16, 3), 7, np.uint8))  # other pixels, the same byte count
    os.utime(photos / "im0.bmp", ns=(1, 1))  # whatever the clock's resolution
    assert (photos / "im0.bmp").stat().st_size == before
    (line,) = changed_inputs(run, {"--clean": str(photos), "--noisy": ""})
    assert "(0 image(s) added, 0 removed, 1 replaced)" in line


def test_a_folder_gone_since_the_start_is_left_to_the_error_that_names_it(tmp_path: Path) -> None:
    """A moved folder was first "changed (... 3 removed): the rest of the run trains on what it holds now", and
    then the resume failed with "no such folder"."""
    photos, run = _photos(tmp_path / "photos"), tmp_path / "run"
    run.mkdir()
    record_inputs(run, {"--clean": str(photos)})
    photos.rename(tmp_path / "moved")
    assert changed_inputs(run, {"--clean": str(photos)}) == []

def test_added_and_removed_images_are_counted_apart(tmp_path: Path) -> None:
    photos, run = _photos(tmp_path / "photos", count=4), tmp_path / "run"
    run.mkdir()
    record_inputs(run, {"--clean": str(photos)})
    for i in range(3):
        (photos / f"im{i}.bmp").unlink()
    (line,) = changed_inputs(run, {"--clean": str(photos)})
    assert "(0 image(s) added, 3 removed, 0 replaced)" in line
    _photos(tmp_path / "photos", count=5)  # the three back unchanged, and one more
    (line,) = changed_inputs(run, {"--clean": str(photos)})
    assert "(1 image(s) added, 0 removed, 0 replaced)" in line


def test_an_image_written_again_with_the_same_bytes_is_not_replaced(tmp_path: Path) -> None:
    """`synth` run again into its own set rewrites every file, byte for byte: a new time, the same image."""
    photos, run = _photos(tmp_path / "photos"), tmp_path / "run"
    run.mkdir()
    record_inputs(run, {"--val": str(photos)})
    for path in photos.iterdir():
        data = path.read_bytes()
        path.unlink()
        path.write_bytes(data)
        os.utime(path, ns=(1, 1))  # a new time, whatever the clock's resolution
    assert changed_inputs(run, {"--val": str(photos)}) == []
    legacy = json.loads((run / RECORD_FILE).read_text())  # a record from before the sha256 was kept
    legacy["--val"]["images"] = {name: entry[:2] for name, entry in legacy["--val"]["images"].items()}
    (run / RECORD_FILE).write_text(json.dumps(legacy))
    (line,) = changed_inputs(run, {"--val": str(photos)})
    assert "(0 image(s) added, 0 removed, 3 replaced)" in line  # size and time were all it could compare


@pytest.mark.parametrize("text", [None, "[]", "null", '{"--clean": 5}', '{"--clean": {"fol'])
def test_a_missing_or_damaged_record_says_the_check_cannot_be_made(tmp_path: Path, text: str | None) -> None:
    photos, run = _photos(tmp_path / "photos"), tmp_path / "run"
    run.mkdir()
    if text is not None:
        (run / RECORD_FILE).write_text(text)
    lines = changed_inputs(run, {"--clean": str(photos)})
    if text == '{"--clean": 5}':  # readable, nothing recorded for the folder: nothing to compare
        assert lines == []
    else:
        assert len(lines) == 1 and "missing or unreadable" in lines[0] and "cannot be checked" in lines[0]


def test_the_lock_is_on_the_folder_itself_and_refuses_a_second_holder(tmp_path: Path) -> None:
    """A lock file could be deleted (the second writer then ran) or not be creatable in a read-only folder."""
    run = tmp_path / "run"
    with holding_folder(run):
        assert list(run.iterdir()) == []
        with pytest.raises(DataError, match="another process is writing this run now"):
            with holding_folder(run):
                pass
    with holding_folder(run):  # released with its holder
        pass


def test_json_nested_past_the_parsers_stack_is_malformed_json_not_a_recursion_error(tmp_path: Path) -> None:
    """Every reader of a file a user can hand over (configs, records, manifests) treats it as unreadable."""
    from helpers import cli, one_line_error

    deep = "[" * 100_000 + "]" * 100_000
    photos, run = _photos(tmp_path / "photos"), tmp_path / "run"
    run.mkdir()
    (run / RECORD_FILE).write_text(deep)
    (line,) = changed_inputs(run, {"--clean": str(photos)})
    assert "missing or unreadable" in line
    (tmp_path / "deep.json").write_text(deep)
    one_line_error(cli("train", "--config", tmp_path / "deep.json", "-o", tmp_path / "out"), "deep.json", "nested")
    assert not (tmp_path / "out").exists()
