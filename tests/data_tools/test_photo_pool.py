"""The photo pool's folder after an interrupted build: every image written so far (and the one being written)
is listed in sources.json with its sha256, so `samples --set photos/pool` run again into that folder is
allowed, however often it was interrupted (it refused the folder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data_tools import photos
from data_tools.image_encode import encode_image


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


def test_the_pool_set_holds_the_photos_and_the_training_samples(tmp_path: Path, fake_debs: None) -> None:
    from data_tools import samples
    from helpers import cli

    for subset in ("pool", "photos"):
        result = cli("samples", "--set", subset, "--debs", tmp_path, "-o", tmp_path / subset)
        assert result.exit_code == 0, result.output
        written = len(list((tmp_path / subset).glob("*.png")))  # the closing line counts what it wrote
        assert f"wrote {written} image(s) and sources.json" in " ".join(result.stdout.split()), result.stdout
    pool, photos_only = ({p.stem for p in (tmp_path / s).glob("*.png")} for s in ("pool", "photos"))
    assert set(samples.TRAIN_POOL) <= pool and len(pool) == len(photos.PHOTOS) + len(samples.TRAIN_POOL)
    assert not set(samples.TRAIN_POOL) & photos_only and len(photos_only) == len(photos.PHOTOS)


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


def test_a_deb_with_an_odd_sized_member_before_its_data_is_read(tmp_path: Path) -> None:
    """ar pads each member to an even length: a real .deb's control.tar.xz often has an odd size, and reading the
    next header one byte early would call the package damaged."""
    def member(name: str, data: bytes) -> bytes:
        header = f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode("ascii")
        return header + data + b"\n" * (len(data) % 2)

    whole = _deb({"usr/share/backgrounds/a.png": b"picture"})
    deb = tmp_path / "pkg_1_all.deb"
    deb.write_bytes(b"!<arch>\n" + member("debian-binary", b"2.0\n") + member("control.tar.xz", b"x" * 301)
                    + whole[len(b"!<arch>\n"):])
    assert photos.read_deb_members(deb, {"usr/share/backgrounds/a.png"}) == {"usr/share/backgrounds/a.png": b"picture"}


@pytest.mark.parametrize(("height", "width", "factor"), [
    (100, 100, 2), (1600, 2600, 3), (1000, 3000, 3), (2667, 4000, 4), (4000, 2667, 4), (9000, 9000, 4)])
def test_the_downscale_factor_follows_the_longest_side(height: int, width: int, factor: int) -> None:
    """Longest side at most 1280 px after the downscale, the factor kept to 2..4: a smaller factor leaves more
    of the wallpaper's own noise in a clean training photo."""
    assert photos.downscale_factor(height, width) == factor


def test_the_area_downscale_averages_blocks_of_a_wide_photo() -> None:
    """Box means of factor x factor blocks, in place: a non-square photo must not come back re-flowed."""
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (41, 50, 3), dtype=np.uint8)
    out = photos.area_downscale(pixels, 2)
    blocks = pixels[:40, :50].reshape(20, 2, 25, 2, 3).astype(np.float64).mean(axis=(1, 3))
    assert out.shape == (20, 25, 3)
    assert np.abs(out.astype(np.float64) - blocks).max() <= 0.5 + 1e-9


def test_a_newer_version_of_a_package_is_the_one_found(tmp_path: Path) -> None:
    for name in ("pkg_1.0_all.deb", "pkg_2.0_all.deb"):
        (tmp_path / name).write_bytes(b"")
    assert photos.find_debs(tmp_path, ("pkg",)) == {"pkg": tmp_path / "pkg_2.0_all.deb"}


def test_writing_samples_without_overwrite_keeps_a_users_file(tmp_path: Path) -> None:
    from data_tools.atomic_files import OutputExistsError
    from data_tools.samples import write_samples

    (tmp_path / "camera.png").write_bytes(b"a user's own photo")
    with pytest.raises(OutputExistsError):
        write_samples(tmp_path, ["camera"], overwrite=False)
    assert (tmp_path / "camera.png").read_bytes() == b"a user's own photo"


def test_the_training_pool_never_holds_a_held_out_image() -> None:
    """The held-out scores are honest only if no held-out photo is ever a training image; the held-out five are
    the ones the README and the model card score, so a name moved out of them is a changed protocol."""
    from data_tools import samples

    assert samples.HELD_OUT == ("astronaut", "chelsea", "coffee", "camera", "moon")
    assert samples.load_sample("camera").shape == (512, 512, 1)  # HxWxC, as documented, for a gray one too
    assert not set(samples.TRAIN_POOL) & set(samples.HELD_OUT)
    assert set(samples.TRAIN_POOL) | set(samples.HELD_OUT) == set(samples.SAMPLES)
    assert samples.SETS["train"] == samples.TRAIN_POOL and samples.SETS["held-out"] == samples.HELD_OUT


def test_a_build_killed_between_an_images_listing_and_its_file_leaves_a_folder_it_may_build_again(
        tmp_path: Path, fake_debs: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each image is listed before its file is written: a file written first and then a kill before its listing
    left an image sources.json does not name, and the folder was refused as another's."""
    real_write = photos.atomic_write_bytes

    def killed_after_the_second_image(target: Path, data: bytes) -> None:
        real_write(target, data)
        if len(list(target.parent.glob("*.png"))) == 2:
            raise KeyboardInterrupt  # the second image is on disk: what sources.json says of it decides

    monkeypatch.setattr(photos, "atomic_write_bytes", killed_after_the_second_image)
    with pytest.raises(KeyboardInterrupt):
        photos.build_photo_pool(tmp_path / "pool", tmp_path)
    assert photos.holds_only_an_earlier_pool(tmp_path / "pool")


def test_a_package_member_larger_than_any_photo_is_refused_before_it_is_unpacked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 13 MB package whose photo unpacked to 3 GB of zeros was read whole into memory, then written to a temp
    file, which the refusal named."""
    deb = tmp_path / "pkg_1_all.deb"
    deb.write_bytes(_deb({"usr/share/backgrounds/a.png": bytes(4000)}))
    monkeypatch.setattr(photos, "MAX_PHOTO_BYTES", 3999)
    with pytest.raises(photos.PhotoPoolError, match=r"pkg_1_all.deb: usr/share/backgrounds/a.png unpacks to 4,000 "
                                                    r"bytes, more than any wallpaper photo \(3,999\)"):
        photos.read_deb_members(deb, {"usr/share/backgrounds/a.png"})
    with pytest.raises(photos.PhotoPoolError, match=r"^usr/share/backgrounds/a.png: ") as refused:
        photos.read_image_bytes(bytes(4000), "usr/share/backgrounds/a.png")
    assert "/tmp" not in str(refused.value)
    packages = {p.package for p in photos.PHOTOS}  # in the pool's build, named with its package
    monkeypatch.setattr(photos, "find_debs", lambda folder: {p: folder / f"{p}_1_all.deb" for p in packages})
    monkeypatch.setattr(photos, "read_deb_members", lambda deb, wanted: {path: bytes(99) for path in wanted})
    with pytest.raises(photos.PhotoPoolError, match=r"_1_all.deb: usr/share/.*: not a readable image file; "
                                                    "download the package again"):
        photos.build_photo_pool(tmp_path / "pool", tmp_path)


def test_the_packages_download_where_a_killed_build_leaves_them_for_the_next_to_remove(
        tmp_path: Path, fake_debs: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """apt-get downloaded the packages (170 MB) into the system's temp folder, where a build killed meanwhile (the
    OOM killer, a SIGKILL) left them for good: now they go to a temp folder of this package's inside the output,
    which the next build into it removes, and a finished build leaves nothing of them."""
    from data_tools.sample_sets import write_sample_set
    from data_tools.temp_files import is_temp_file

    out = tmp_path / "pool"
    stale = out / ".debs.999999999-abcdefgh.part"  # a build whose process is gone
    stale.mkdir(parents=True)
    (stale / "mate-backgrounds_1_all.deb").write_bytes(b"half a package")
    used: list[Path] = []
    found = photos.find_debs  # (the fixture's, which names a .deb per package in the folder it is given)
    monkeypatch.setattr(photos, "find_debs", lambda folder, packages=photos.PACKAGES: found(folder))
    monkeypatch.setattr(photos.shutil, "which", lambda name: "/usr/bin/apt-get")
    monkeypatch.setattr(photos.subprocess, "run", lambda *a, cwd, **k: used.append(Path(cwd)) or
                        type("Done", (), {"returncode": 0})())
    write_sample_set(out, "photos")
    assert len(used) == 1 and used[0].parent == out and is_temp_file(used[0].name)
    assert not stale.exists() and not any(is_temp_file(p.name) for p in out.iterdir())
