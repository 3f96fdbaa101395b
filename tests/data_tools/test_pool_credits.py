"""The shipped weights' training-data page credits each training image as the code's records do."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from data_tools.photos import PHOTOS, deb_version
from data_tools.pool_credits import credits_markdown, main
from data_tools.samples import TRAIN_POOL, TRAINING_CREDITS

PAGE = Path(__file__).resolve().parents[2] / "checkpoints" / "TRAINING_DATA.md"


def shipped_rows() -> dict[str, list[str]]:
    rows = [line.strip("|").split(" | ") for line in PAGE.read_text().splitlines() if line.startswith("| ")]
    return {cells[0].strip(): [c.strip() for c in cells] for cells in rows[2:]}  # past the header and its rule


def test_every_training_image_is_credited_as_the_records_say() -> None:
    rows = shipped_rows()
    assert set(rows) == {p.name for p in PHOTOS} | set(TRAIN_POOL)
    for photo in PHOTOS:
        _, source, path, author, licence, sha = rows[photo.name]
        assert source.startswith(photo.package + " ") and path == f"`{photo.path}`"
        assert (author, licence) == (photo.author, photo.licence)
        assert re.fullmatch(r"`[0-9a-f]{64}`", sha)
    for name in TRAIN_POOL:
        credit = TRAINING_CREDITS[name]
        _, source, path, author, licence, _ = rows[name]
        assert source.startswith("scikit-image ") and (path, author, licence) == (f"`{credit.call}`", credit.author,
                                                                                  credit.licence)


def test_the_kde_wallpapers_credit_their_photographers_not_a_group() -> None:
    """Each KDE wallpaper's metadata.json names its photographer and LGPLv3; all were credited to one group
    under the package's blanket GPL-2+."""
    kde = [p for p in PHOTOS if p.package == "plasma-workspace-wallpapers"]
    assert len(kde) == 11 and all("KDE" not in p.author and p.licence.startswith("LGPL-3.0") for p in kde)


def test_every_training_sample_has_its_credit() -> None:
    assert set(TRAINING_CREDITS) == set(TRAIN_POOL)


def test_a_package_version_with_an_epoch_is_read_as_apt_names_it() -> None:
    assert deb_version(Path("plasma-workspace-wallpapers_4%3a5.27.5-2_all.deb")) == "4:5.27.5-2"
    assert deb_version(Path("mate-backgrounds_1.26.0-1_all.deb")) == "1.26.0-1"


def test_the_page_counts_the_licences_of_the_entries_it_is_given() -> None:
    entries = [{"name": f"p{i}", "package": "pkg", "package_version": "1", "path": f"p{i}.jpg", "author": "A",
                "licence": "CC-BY-4.0" if i else "CC0-1.0", "sha256": "0" * 64} for i in range(3)]
    page = credits_markdown(entries)
    assert "CC-BY-4.0 (2); CC0-1.0 (1)" in page and page.count("| pkg 1 |") == 3


def test_a_file_that_is_not_a_pools_record_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "x.json").write_text("[]")
    assert main([str(tmp_path / "x.json")]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "not a pool's sources.json" in lines[0]
