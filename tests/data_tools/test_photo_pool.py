"""The photo pool's folder after an interrupted build: every image written so far (and the one being written)
is listed in sources.json with its sha256, so `samples --set photos/pool` run again into that folder is
allowed, however often it was interrupted (it refused the folder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data_tools import photos
from data_tools.images import encode_image


@pytest.fixture
def fake_debs(monkeypatch: pytest.MonkeyPatch) -> None:
    packages = {p.package for p in photos.PHOTOS}
    monkeypatch.setattr(photos, "find_debs", lambda folder: {p: folder / f"{p}_1_all.deb" for p in packages})
    rng = np.random.default_rng(0)
    picture = encode_image(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8), ".png")
    monkeypatch.setattr(photos, "read_deb_members", lambda deb, wanted: {path: picture for path in wanted})


def _stop_after(count: int):
    def progress(done: int, total: int, name: str) -> None:
        if done == count:
            raise KeyboardInterrupt
    return progress


def test_a_build_interrupted_twice_leaves_a_folder_it_may_build_again(tmp_path: Path, fake_debs: None) -> None:
    out = tmp_path / "pool"
    for stop in (3, 1):  # the second run listed only its own first photo, so the third was refused
        with pytest.raises(KeyboardInterrupt):
            photos.build_photo_pool(out, tmp_path, _stop_after(stop))
        assert photos.holds_only_an_earlier_pool(out)
    assert len(list(out.glob("*.png"))) == 3
    written = photos.build_photo_pool(out, tmp_path)
    assert len(written) == len(photos.PHOTOS) and photos.holds_only_an_earlier_pool(out)
    (out / written[0].name).write_bytes(b"a user's own file of that name")
    assert not photos.holds_only_an_earlier_pool(out)


def test_a_rebuild_interrupted_anywhere_leaves_a_folder_it_may_build_again(tmp_path: Path, fake_debs: None,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A full training pool rebuilt with other bytes (a newer package) and killed during its photos, or between
    a photo's listing and its file: the folder is still one the next build may be run into."""
    from data_tools import samples

    out = tmp_path / "pool"
    written = photos.build_training_pool(out, tmp_path)
    assert len(written) == len(photos.PHOTOS) + len(samples.TRAIN_POOL)
    with pytest.raises(KeyboardInterrupt):  # during the photos: the skimage entries must stay listed
        photos.build_photo_pool(out, tmp_path, _stop_after(2), what=photos.POOL_WHAT)
    assert photos.holds_only_an_earlier_pool(out, whole_pool=True)
    assert not photos.holds_only_an_earlier_pool(out)  # not the photos alone: its skimage.data images would stay
    other = encode_image(np.full((40, 48, 3), 7, np.uint8), ".png")
    monkeypatch.setattr(photos, "read_deb_members", lambda deb, wanted: {path: other for path in wanted})
    real_write = photos.atomic_write_bytes

    def killed_at_the_png(path: Path, data: bytes, **kwargs: object) -> None:
        if path.suffix == ".png":
            raise KeyboardInterrupt  # listed with its new sha256, its file not yet written
        real_write(path, data, **kwargs)

    monkeypatch.setattr(photos, "atomic_write_bytes", killed_at_the_png)
    with pytest.raises(KeyboardInterrupt):
        photos.build_photo_pool(out, tmp_path)
    assert photos.holds_only_an_earlier_pool(out, whole_pool=True)


def test_a_folder_with_an_unreadable_manifest_is_no_pool(tmp_path: Path) -> None:
    (tmp_path / photos.SOURCES_NAME).write_text("not JSON")
    assert not photos.holds_only_an_earlier_pool(tmp_path)


def _deb(files: dict[str, bytes]) -> bytes:
    """A .deb as Debian lays it out: an ar archive whose data.tar.xz holds the package's files."""
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(f"./{path}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    payload = buffer.getvalue()
    header = f"{'data.tar.xz/':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(payload):<10}`\n".encode("ascii")
    return b"!<arch>\n" + header + payload + b"\n" * (len(payload) % 2)


def test_a_damaged_deb_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """A download cut short, a damaged header or a folder of that name raised EOFError, ValueError or
    IsADirectoryError through `samples --set photos --debs`."""
    whole = _deb({"usr/share/backgrounds/a.png": bytes(range(256)) * 400})
    (tmp_path / "whole.deb").write_bytes(whole)
    assert photos.read_deb_members(tmp_path / "whole.deb", {"usr/share/backgrounds/a.png"})
    (tmp_path / "cut.deb").write_bytes(whole[:len(whole) // 2])
    (tmp_path / "junk.deb").write_bytes(b"!<arch>\n" + b"x" * 80)
    (tmp_path / "negative.deb").write_bytes(b"!<arch>\n" + f"{'debian-binary':<16}{0:<32}{-60:<10}`\n".encode() * 2)
    (tmp_path / "folder.deb").mkdir()
    for name, needle in (("cut.deb", "truncated or damaged"), ("junk.deb", "damaged archive header"),
                         ("negative.deb", "damaged archive header"),  # it looped for ever
                         ("folder.deb", "cannot read it")):
        with pytest.raises(photos.PhotoPoolError, match=needle):
            photos.read_deb_members(tmp_path / name, {"usr/share/backgrounds/a.png"})


def test_the_training_pool_never_holds_a_held_out_image() -> None:
    """The held-out scores are honest only if no held-out photo is ever a training image."""
    from data_tools import samples

    assert not set(samples.TRAIN_POOL) & set(samples.HELD_OUT)
    assert set(samples.TRAIN_POOL) | set(samples.HELD_OUT) == set(samples.SAMPLES)
    assert samples.SETS["train"] == samples.TRAIN_POOL and samples.SETS["held-out"] == samples.HELD_OUT
