"""The independent evaluation set is all five photos or an error: a smaller set would change every mean."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "independent_photos.py"


@pytest.fixture()
def photos(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))  # as `python script` has it: run alone, its import failed
    spec = importlib.util.spec_from_file_location("independent_photos", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "independent_photos", module)
    spec.loader.exec_module(module)
    return module


def _fake_sources(module, monkeypatch, broken: set[str], unreadable: frozenset[str] = frozenset()) -> None:
    def source(name):
        def load():
            if name in broken:
                raise ImportError(f"No module named 'pkg_of_{name}'")
            if name in unreadable:
                raise OSError(f"cannot identify image file {name}.jpg")
            return np.full((8, 8, 3), 100, np.uint8)
        return load
    monkeypatch.setattr(module, "SOURCES", {name: source(name) for name in module.SOURCES})


def test_the_set_is_the_five_photos_the_readme_names(photos):
    assert list(photos.SOURCES) == ["china", "flower", "grace_hopper", "aero", "ascent"]


def test_a_missing_package_is_an_error_and_writes_nothing(photos, monkeypatch, tmp_path):
    _fake_sources(photos, monkeypatch, {"china", "flower"})
    with pytest.raises(SystemExit) as exc:
        photos.write_independent(tmp_path / "indep")
    message = str(exc.value)
    assert message.startswith("error: missing china, flower") and "'.[bench]'" in message and "\n" not in message
    assert "--partial writes the rest" in message
    assert not (tmp_path / "indep").exists() or not any((tmp_path / "indep").iterdir())


def test_partial_writes_what_is_there(photos, monkeypatch, tmp_path):
    _fake_sources(photos, monkeypatch, {"aero"})
    names = photos.write_independent(tmp_path / "indep", partial=True)
    assert names == ["china", "flower", "grace_hopper", "ascent"]
    assert sorted(p.stem for p in (tmp_path / "indep").iterdir()) == sorted(names)


def test_an_unreadable_photo_is_not_blamed_on_a_missing_package(photos, monkeypatch, tmp_path):
    _fake_sources(photos, monkeypatch, set(), unreadable=frozenset({"flower"}))
    with pytest.raises(SystemExit) as exc:
        photos.write_independent(tmp_path / "indep")
    message = str(exc.value)
    assert "flower: installed but unreadable (cannot identify image file flower.jpg)" in message
    assert "pip install" not in message


def test_partial_with_nothing_to_write_is_an_error(photos, monkeypatch, tmp_path):
    _fake_sources(photos, monkeypatch, set(photos.SOURCES))
    with pytest.raises(SystemExit) as exc:
        photos.write_independent(tmp_path / "indep", partial=True)
    assert str(exc.value).startswith("error: missing") and "--partial" not in str(exc.value)


def test_every_photo_loads_here(photos):
    found, not_installed, unreadable = photos.load_independent()
    # the bench extra (in dev) installs every package the set needs
    assert not not_installed and not unreadable, (not_installed, unreadable)
    assert set(found) == set(photos.SOURCES) and all(p.dtype == np.uint8 and p.ndim == 3 for p in found.values())


def test_a_folder_holding_other_files_is_refused_and_a_rerun_is_taken(photos, monkeypatch, tmp_path):
    """It wrote into any folder: a same-named photo of the user's replaced, others scored with the set."""
    _fake_sources(photos, monkeypatch, set())
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "holiday.png").write_bytes(b"a photo of the user's")
    with pytest.raises(SystemExit, match="holds other files \\(holiday.png\\), which a benchmark of the folder"):
        photos.write_independent(tmp_path / "mine")
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["holiday.png"]
    photos.write_independent(tmp_path / "indep")
    assert len(photos.write_independent(tmp_path / "indep")) == 5  # its own folder again: written again
