"""Synthetic sets are exact and reproducible; the synth/evaluate/samples commands behave as documented."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from data_tools.clean_shrink import resize_longest
from data_tools.errors import DataError
from data_tools.images import center_crop, read_image, write_image
from data_tools.noise import image_seed, parse_noise_spec
from data_tools.synth import SynthError, synth
from denoise_gan import __version__
from denoise_gan.cli import app
from denoise_gan.errors import UserError
from helpers import cli, one_line_error, texture, write_sources

runner = CliRunner()
NAMES = ["a", "b", "c", "sub/d"]


@pytest.fixture()
def src(tmp_path: Path) -> Path:
    """Four tiny sources covering RGB, gray, 16-bit RGB and RGBA, one of them in a subfolder."""
    return write_sources(tmp_path / "src")


def invoke(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---- paired -------------------------------------------------------------------------------------

def test_paired_synth_writes_exact_clean_and_reproducible_noisy(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = invoke("synth", src, "-o", out, "--noise", "gaussian:sigma=5-30", "--seed", 7)
    assert code == 0, stderr
    assert "wrote 4 image(s)" in stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["mode"] == "paired" and manifest["seed"] == 7 and manifest["version"] == __version__
    assert manifest["noise"] == "gaussian:sigma=5-30" and manifest["failures"] == []
    assert [e["name"] for e in manifest["images"]] == NAMES
    spec = parse_noise_spec(manifest["noise"])
    for entry in manifest["images"]:
        name = entry["name"]
        source = read_image(src / entry["source"]).pixels
        clean = read_image(out / entry["clean"]).pixels
        noisy = read_image(out / entry["noisy"]).pixels
        assert entry["clean"] == f"clean/{name}.png" and entry["noisy"] == f"noisy/{name}.png"
        assert np.array_equal(clean, source), name  # the clean file is exactly what was noised
        assert entry["image_seed"] == image_seed(7, name)
        expected, stages = spec.apply(clean, entry["image_seed"])
        assert entry["stages"] == stages and 5 <= stages[0]["sigma"] <= 30
        assert noisy.dtype == source.dtype and np.array_equal(noisy, expected), name
        assert entry["dtype"] == str(source.dtype) and entry["shape"] == list(source.shape)
    alpha = read_image(out / "noisy" / "sub" / "d.png").pixels
    assert np.array_equal(alpha[..., 3], read_image(src / "sub" / "d.png").pixels[..., 3])


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(src: Path, tmp_path: Path) -> None:
    spec = "poisson-gaussian:peak=20,sigma=3-8+jpeg:quality=70-90"
    first, second, third = (synth(src, tmp_path / n, spec, s) for n, s in (("1", 3), ("2", 3), ("3", 4)))
    assert first.ok and second.ok and third.ok
    one, two, three = files(tmp_path / "1"), files(tmp_path / "2"), files(tmp_path / "3")
    assert one == two
    assert all(one[f"clean/{n}.png"] == three[f"clean/{n}.png"] for n in NAMES)
    assert all(one[f"noisy/{n}.png"] != three[f"noisy/{n}.png"] for n in NAMES)
    chain = parse_noise_spec(spec)
    for entry in json.loads(one["manifest.json"])["images"]:  # every stage's draw is recorded (benchmark reads them)
        clean = read_image(tmp_path / "1" / entry["clean"]).pixels
        assert entry["stages"] == chain.apply(clean, entry["image_seed"])[1]
        assert [stage["model"] for stage in entry["stages"]] == ["poisson-gaussian", "jpeg"]


@pytest.mark.parametrize("other", [{"seed": 4}, {"crop": 8}, {"max_size": 12}])
def test_a_set_made_with_another_seed_crop_or_size_is_not_the_same_set(src: Path, tmp_path: Path,
                                                                        other: dict[str, int]) -> None:
    """A rerun into a set with another --seed, --crop or --max-size would replace it without --overwrite."""
    out = tmp_path / "out"
    assert synth(src, out, "gaussian:sigma=10", 3).ok
    before = files(out)
    with pytest.raises(DataError, match="not empty"):
        synth(src, out, "gaussian:sigma=10", other.pop("seed", 3), **other)
    assert files(out) == before


def test_the_noisy_twin_keeps_the_photos_colour_profile_and_exif(tmp_path: Path) -> None:
    """A Display P3 or Adobe RGB photo's noisy twin without its profile looks another colour than its clean one."""
    from PIL import Image, ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "MakerOfTheCamera"
    (tmp_path / "photos").mkdir()
    Image.fromarray(texture((32, 32, 3), np.uint8, 0)).save(tmp_path / "photos" / "p.jpg", quality=95, icc_profile=icc,
                                          exif=exif.tobytes())
    assert synth(tmp_path / "photos", tmp_path / "out", "gaussian:sigma=10", 0).ok
    for half in ("clean", "noisy"):
        written = read_image(tmp_path / "out" / half / "p.png")
        assert written.icc == icc and b"MakerOfTheCamera" in (written.exif or b""), half


def test_the_manifest_gives_each_images_written_shape_and_the_progress_ends_at_the_total(src: Path,
                                                                                        tmp_path: Path) -> None:
    """Under --crop the manifest's shape is the crop's, not the photo's; the last progress call is N of N (a log
    printed its final "synth: N/N" line from it)."""
    calls: list[tuple[int, int]] = []
    assert synth(src, tmp_path / "out", "gaussian:sigma=10", 0, crop=8,
                 progress=lambda done, total, _name: calls.append((done, total))).ok
    for entry in json.loads((tmp_path / "out" / "manifest.json").read_text())["images"]:
        assert entry["shape"][:2] == [8, 8] == list(read_image(tmp_path / "out" / entry["noisy"]).pixels.shape[:2])
    assert calls[-1] == (len(NAMES), len(NAMES)) and [done for done, _ in calls] == list(range(1, len(NAMES) + 1))


def test_names_that_print_alike_get_different_noise(tmp_path: Path) -> None:
    """A name holding a byte that is not UTF-8 and one spelling its escape print alike; each gets its own noise."""
    folder = tmp_path / "src"
    folder.mkdir()
    gray = np.full((32, 32), 128, np.uint8)
    for name in (b"a\xff.png", b"a\\xff.png"):
        write_image(Path(os.fsdecode(bytes(folder) + b"/" + name)), gray)
    result = synth(folder, tmp_path / "out", "gaussian:sigma=25", 1)
    assert result.ok
    noisy = [p.read_bytes() for p in sorted((tmp_path / "out" / "noisy").iterdir())]
    assert len(noisy) == 2 and noisy[0] != noisy[1]


def test_spec_ending_in_jpeg_is_stored_losslessly(src: Path, tmp_path: Path) -> None:
    summary = synth(src, tmp_path / "out", "jpeg:quality=40", 0)
    assert summary.ok
    for name in NAMES:
        clean = read_image(tmp_path / "out" / "clean" / f"{name}.png").pixels
        noisy = read_image(tmp_path / "out" / "noisy" / f"{name}.png").pixels
        assert np.array_equal(noisy, parse_noise_spec("jpeg:quality=40").apply(clean, 0)[0])
    assert not list((tmp_path / "out").rglob("*.jpg"))


def test_resize_then_crop_before_noise(src: Path, tmp_path: Path) -> None:
    code, _, stderr = invoke("synth", src, "-o", tmp_path / "out", "--noise", "gaussian:sigma=10", "--seed", 0,
                             "--max-size", 16, "--crop", 12)
    assert code == 0, stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["crop"] == 12 and manifest["max_size"] == 16
    for name in NAMES:
        source = read_image(src / f"{name}.png").pixels
        clean = read_image(tmp_path / "out" / "clean" / f"{name}.png").pixels
        noisy = read_image(tmp_path / "out" / "noisy" / f"{name}.png").pixels
        assert clean.shape[:2] == noisy.shape[:2] == (12, 12)
        assert np.array_equal(clean, center_crop(resize_longest(source, 16), 12))


def test_resize_and_crop_helpers() -> None:
    img = np.arange(40 * 30 * 3, dtype=np.uint16).reshape(40, 30, 3)
    assert resize_longest(img, 20).shape == (20, 15, 3) and resize_longest(img, 20).dtype == np.uint16
    assert resize_longest(img, 50) is img  # never upscaled
    assert resize_longest(img[..., :1], 20).shape == (20, 15, 1)
    assert resize_longest(img[..., 0], 20).shape == (20, 15)  # an HxW array was an IndexError
    assert resize_longest(np.zeros((101, 77, 3), np.uint8), 64).shape == (64, 49, 3)  # 48.8 rounds, not cut
    assert np.array_equal(center_crop(img, 10), img[15:25, 10:20])
    with pytest.raises(ValueError, match="smaller"):
        center_crop(img, 35)


def test_downscaling_averages_instead_of_aliasing() -> None:
    # a one-pixel checkerboard shrunk threefold is mid-gray, not a coarser checkerboard
    board = (np.indices((48, 48)).sum(axis=0) % 2 * 255).astype(np.uint8)[..., None]
    small = resize_longest(board, 16)
    assert small.shape == (16, 16, 1) and small.std() < 20 and abs(small.mean() - 127.5) < 3


# ---- unpaired ----------------------------------------------------------------------------------

def test_unpaired_uses_two_disjoint_halves(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, _, stderr = invoke("synth", src, "-o", out, "--noise", "speckle:sigma=0.2", "--seed", 1, "--unpaired")
    assert code == 0, stderr
    clean = sorted(p.relative_to(out / "clean").as_posix() for p in (out / "clean").rglob("*.png"))
    noisy = sorted(p.relative_to(out / "noisy").as_posix() for p in (out / "noisy").rglob("*.png"))
    assert clean == ["a.png", "c.png"] and noisy == ["b.png", "sub/d.png"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["mode"] == "unpaired"
    splits = {e["name"]: (e["split"], e["clean"], e["noisy"]) for e in manifest["images"]}
    assert splits == {"a": ("clean", "clean/a.png", None), "b": ("noisy", None, "noisy/b.png"),
                      "c": ("clean", "clean/c.png", None), "sub/d": ("noisy", None, "noisy/sub/d.png")}
    entry_b = next(e for e in manifest["images"] if e["name"] == "b")
    expected, _ = parse_noise_spec("speckle:sigma=0.2").apply(read_image(src / "b.png").pixels, entry_b["image_seed"])
    assert np.array_equal(read_image(out / "noisy" / "b.png").pixels, expected)


def test_unpaired_needs_two_images(tmp_path: Path) -> None:
    write_image(tmp_path / "one" / "x.png", texture((16, 16, 3), np.uint8, 0))
    with pytest.raises(SynthError, match="at least 2"):
        synth(tmp_path / "one", tmp_path / "out", "gaussian:sigma=5", 0, unpaired=True)



def test_an_unpaired_set_left_one_sided_by_failures_is_no_set(tmp_path: Path) -> None:
    """The split is by position before reading: a failing odd source left a set with no noisy side, marked
    complete. It is refused now, and nothing of it stays in a folder that was new."""
    write_image(tmp_path / "in" / "a.png", texture((40, 40, 3), np.uint8, 0))
    write_image(tmp_path / "in" / "b.png", texture((16, 16, 3), np.uint8, 1))  # smaller than the crop
    with pytest.raises(SynthError, match="none is left for its noisy side"):
        synth(tmp_path / "in", tmp_path / "out", "gaussian:sigma=5", 0, unpaired=True, crop=32)
    assert not (tmp_path / "out").exists()

# ---- failures ----------------------------------------------------------------------------------

def test_corrupt_input_is_skipped_reported_and_exits_1(src: Path, tmp_path: Path) -> None:
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = tmp_path / "out"
    code, stdout, stderr = invoke("synth", src, "-o", out, "--noise", "gaussian:sigma=10", "--seed", 0)
    assert code == 1
    assert "broken.png" in stderr and "1 input(s) failed" in stderr
    assert "wrote 4 image(s)" in stdout
    assert sorted(p.name for p in (out / "noisy").rglob("*.png")) == ["a.png", "b.png", "c.png", "d.png"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["failures"]) == 1 and manifest["failures"][0]["source"].endswith("broken.png")


def test_a_photo_too_wide_for_the_jpeg_stage_fails_alone_in_every_command(src: Path, tmp_path: Path) -> None:
    """OpenCV's JPEG encoder refuses a side over 65500 px (a 2x65501 strip is 0.13 MP): the jpeg stage raised a
    RuntimeError that synth, benchmark and noise-fit let through as a traceback, with the other photos unwritten."""
    write_image(src / "strip.png", np.full((2, 65501, 3), 128, np.uint8))
    code, stdout, stderr = invoke("synth", src, "-o", tmp_path / "set", "--noise", "gaussian:sigma=5+jpeg:quality=80")
    assert code == 1 and "strip.png: 65501x2 is too large for the jpeg noise stage (at most 65500 px" in stderr
    assert "wrote 4 image(s)" in stdout
    bench = cli("benchmark", "--clean", src, "--noise", "jpeg:quality=80", "--methods", "tv", "-o", tmp_path / "b")
    assert bench.exit_code == 1 and "too large for the jpeg noise stage" in bench.output, bench.output
    pairs = tmp_path / "pairs"
    for side in ("clean", "noisy"):
        write_image(pairs / side / "strip.png", np.full((2, 65501, 3), 100 if side == "clean" else 104, np.uint8))
    fit = cli("noise-fit", "--clean", pairs / "clean", "--noisy", pairs / "noisy", "--spec", "jpeg:quality=50",
              "-o", tmp_path / "fit")
    one_line_error(fit, "strip.png: 65501x2 is too large for the jpeg noise stage")


@pytest.mark.parametrize(("file", "fails"), [("x.jpg", "x.png/a.png"), ("x.tif", "x.tif")])  # before, after
def test_a_source_whose_set_file_is_another_sources_folder_fails_alone(tmp_path: Path, file: str, fails: str) -> None:
    """x.jpg is written as clean/x.png, and x.png/a.png needed clean/x.png/ as a folder: the clean write failed
    as a full disk would ("make room"), and removing its noisy twin raised NotADirectoryError, a traceback."""
    src = tmp_path / "src"
    for name in ("x.png/a.png", file, "z.png"):
        write_image(src / name, texture((24, 24, 3), np.uint8, seed=len(name)))
    summary = synth(src, tmp_path / "set", "gaussian:sigma=5", 0)
    assert [p.relative_to(src).as_posix() for p, _ in summary.failures] == [fails]
    assert "a file and a folder of one name" in summary.failures[0][1]
    assert summary.unwritten == 0 and summary.written == 2
    (src / "z.png").unlink()  # unpaired, the two go to two halves (clean/x.png, noisy/x.png/a.png): no clash
    halves = synth(src, tmp_path / "halves", "gaussian:sigma=5", 0, unpaired=True)
    assert halves.ok and halves.written == 2


def test_every_command_that_reads_a_folder_names_the_images_it_cannot_read(src: Path, tmp_path: Path) -> None:
    """Only denoise said so: synth, evaluate, benchmark and noise-fit made a set, a score or a fit from part of
    the folder, passing over its GIF and HEIC files without a word."""
    (src / "anim.gif").write_bytes(b"GIF89a")
    (src / "sub" / "photo.heic").write_bytes(b"")
    said = "not read: 2 image(s) in a format this tool does not read ("
    code, _, stderr = invoke("synth", src, "-o", tmp_path / "set", "--noise", "gaussian:sigma=5")
    assert code == 0 and said in stderr, stderr
    assert said in cli("evaluate", "--clean", src, "--pred", tmp_path / "set" / "clean").stderr
    shutil.copytree(tmp_path / "set" / "clean", src / "sub" / "pred")  # a --pred inside --clean: walked twice,
    (src / "sub" / "pred" / "x.gif").write_bytes(b"GIF89a")  # its GIF was counted twice
    assert "not read: 3 image(s) in a format" in cli("evaluate", "--clean", src, "--pred", src / "sub" / "pred").stderr
    (src / "sub" / "pred" / "x.gif").unlink()
    shutil.rmtree(src / "sub" / "pred")
    assert said in cli("benchmark", "--clean", src, "--noise", "gaussian:sigma=5", "--methods", "tv",
                       "-o", tmp_path / "b").stderr
    (tmp_path / "set" / "noisy" / "x.gif").write_bytes(b"GIF89a")
    fit = cli("noise-fit", "--clean", tmp_path / "set" / "clean", "--noisy", tmp_path / "set" / "noisy", "-o",
              tmp_path / "fit")
    assert fit.exit_code == 0 and "not read: 1 image(s) in a format" in fit.stderr, fit.output
    code, _, stderr = invoke("synth", tmp_path / "set" / "clean", "-o", tmp_path / "again", "--noise", "jpeg:quality=8")
    assert code == 0 and "format" not in stderr  # none there, nothing said


def test_image_smaller_than_crop_is_left_out(src: Path, tmp_path: Path) -> None:
    summary = synth(src, tmp_path / "out", "gaussian:sigma=10", 0, crop=22)
    assert [p.name for p, _ in summary.skipped] == ["b.png", "c.png"] and not summary.failures
    assert summary.written == 2 and summary.ok


def test_a_run_where_every_source_fails_leaves_no_set_for_the_next_run_to_refuse(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = invoke("synth", src, "-o", out, "--noise", "gaussian:sigma=10", "--crop", 1000)
    assert code == 1 and "smaller than the 1000x1000 crop; lower --crop" in stderr
    assert "wrote no image; no set was made" in stdout
    assert not out.exists()
    assert synth(src, out, "gaussian:sigma=10", 0).ok  # a corrected run needs no --overwrite


def test_a_cut_short_run_is_marked_incomplete_and_the_same_command_finishes_it(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"

    def ctrl_c_after_two(done: int, total: int, name: str) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        synth(src, out, "gaussian:sigma=10", 3, progress=ctrl_c_after_two)
    assert json.loads((out / "manifest.json").read_text())["complete"] is False
    with pytest.raises(DataError, match="run the command that made its unfinished set .* to finish it, or pass "
                                        "--overwrite"):  # another command: told the set is unfinished
        synth(src, out, "gaussian:sigma=11", 3)
    code, _, stderr = invoke("benchmark", "--noisy", out, "--methods", "nlm", "-o", tmp_path / "bench")
    assert code == 2 and "an incomplete set" in stderr and "same synth command" in stderr
    with pytest.raises(SynthError, match="an incomplete set .*run the same synth command again"):
        synth(out / "clean", tmp_path / "from_half", "gaussian:sigma=5", 3)  # its clean/ as a photo folder
    assert not (tmp_path / "from_half").exists()
    assert synth(src, out, "gaussian:sigma=10", 3).ok  # the same settings: its own set, no --overwrite
    finished = json.loads((out / "manifest.json").read_text())
    assert finished["complete"] is True and len(finished["images"]) == 4
    reference = tmp_path / "reference"
    synth(src, reference, "gaussian:sigma=10", 3)
    assert files(out) == files(reference)
    with pytest.raises(DataError, match="not empty"):  # other settings: still refused
        synth(src, out, "gaussian:sigma=11", 3)


def test_an_output_inside_the_input_is_refused(src: Path, tmp_path: Path) -> None:
    """Its noisy images would be read as clean photos by the next benchmark, train or synth of that folder."""
    with pytest.raises(DataError, match="inside the input folder .*: its noisy images would be read as clean"):
        synth(src, src / "synth", "gaussian:sigma=10", 0)
    (tmp_path / "link").symlink_to(src / "sub")
    with pytest.raises(DataError, match="inside the input folder"):  # a link into the input is inside it
        synth(src, tmp_path / "link" / "set", "gaussian:sigma=10", 0)
    assert not (src / "synth").exists() and not (src / "sub" / "set").exists()
    with pytest.raises(SynthError, match="must not be the input"):
        synth(src, src, "gaussian:sigma=10", 0)
    with pytest.raises(SynthError, match="must not contain the input"):  # not "no image files found"
        synth(src, src.parent, "gaussian:sigma=10", 0)


def test_an_earlier_set_inside_the_input_is_not_read_as_clean_photos(src: Path, tmp_path: Path) -> None:
    assert synth(src, tmp_path / "first", "gaussian:sigma=10", 0).ok
    (tmp_path / "first").rename(src / "first")  # moved there by hand
    with pytest.raises(SynthError, match="a synth set inside .*move it out"):  # its noisy/ read as clean photos
        synth(src, tmp_path / "second", "gaussian:sigma=10", 0)
    assert not (tmp_path / "second").exists()


def test_a_synth_set_given_as_clean_photos_is_refused_by_every_command(src: Path, tmp_path: Path) -> None:
    """benchmark --clean, calibrate --clean, noise-fit --clean-photos and adapt --clean read a set's noisy/
    images as clean photos."""
    from denoise_gan.training.adapt_noise import clean_pool

    made = tmp_path / "set"
    assert synth(src, made, "gaussian:sigma=10", 0).ok
    hint = f"give its {made / 'clean'} instead"
    one_line_error(cli("benchmark", "--clean", made, "-o", tmp_path / "b", "--methods", "model", "--noise",
                       "gaussian:sigma=5"), "a synth set inside", hint)
    one_line_error(cli("calibrate", "-c", "default", "--clean", made, "-o", tmp_path / "c"), hint)
    one_line_error(cli("noise-fit", "--noisy", made / "noisy", "--clean-photos", made, "-o", tmp_path / "n"), hint)
    with pytest.raises(UserError, match=f"a synth set inside .*{hint}"):
        clean_pool(str(made))
    assert not any((tmp_path / name).exists() for name in ("b", "c", "n"))
    assert len(clean_pool(str(made / "clean"))) == len(list((made / "clean").iterdir()))
    # the set's noisy half itself, given as clean photos (or its clean half as noisy ones): taken without a word
    half = f"the noisy images of the synth set {made}"
    one_line_error(cli("synth", made / "noisy", "-o", tmp_path / "s2", "--noise", "gaussian:sigma=5"), half,
                   f"give {made / 'clean'} instead")
    one_line_error(cli("benchmark", "--clean", made / "noisy", "-o", tmp_path / "b2", "--methods", "tv", "--noise",
                       "gaussian:sigma=5"), half)
    one_line_error(cli("noise-fit", "--noisy", made / "clean", "-o", tmp_path / "n2"),
                   f"the clean images of the synth set {made}", f"give {made / 'noisy'} instead")
    assert not any((tmp_path / name).exists() for name in ("s2", "b2", "n2"))


def test_a_synth_sets_halves_swapped_are_refused_by_evaluate_and_paired_noise_fit(src: Path, tmp_path: Path) -> None:
    """evaluate --clean SET/noisy scored the predictions against the noise (20.7 dB where 31.6 was right) and
    noise-fit --clean SET/noisy --noisy SET/clean measured the noise backwards, both without a word."""
    made = tmp_path / "set"
    assert synth(src, made, "gaussian:sigma=10", 0).ok
    noisy_as_clean = (f"the noisy images of the synth set {made}", f"give {made / 'clean'} instead")
    one_line_error(cli("evaluate", "--clean", made / "noisy", "--pred", made / "clean"), *noisy_as_clean)
    one_line_error(cli("noise-fit", "--clean", made / "noisy", "--noisy", made / "clean", "--spec",
                       "gaussian:sigma=10", "-o", tmp_path / "n"), *noisy_as_clean)
    one_line_error(cli("noise-fit", "--clean", src, "--noisy", made / "clean", "--spec",
                       "gaussian:sigma=10", "-o", tmp_path / "n"),
                   f"the clean images of the synth set {made}", f"give {made / 'noisy'} instead")
    assert not (tmp_path / "n").exists()
    assert cli("evaluate", "--clean", made / "clean", "--pred", made / "noisy").exit_code == 0


def test_an_output_folder_in_a_synth_sets_half_is_refused_by_every_command(src: Path, tmp_path: Path) -> None:
    """synth, benchmark, calibrate, noise-fit and demo wrote their sets, crops, weights and charts into a set's
    clean/ or noisy/ (--overwrite: among its images), where the next evaluate or noise-fit of the set read them."""
    made = tmp_path / "set"
    assert synth(src, made, "gaussian:sigma=10", 0).ok
    half = f"half of the synth set {made}"
    one_line_error(cli("synth", src, "-o", made / "noisy" / "inner", "--noise", "gaussian:sigma=5"),
                   f"inside the noisy/ {half}")
    one_line_error(cli("benchmark", "--clean", src, "--noise", "gaussian:sigma=5", "--methods", "wavelet", "-o",
                       made / "clean" / "bench"), f"inside the clean/ {half}")
    one_line_error(cli("demo", "-o", made / "noisy", "--overwrite"), f"the noisy/ {half}")
    assert not (made / "noisy" / "inner").exists() and not (made / "clean" / "bench").exists()
    (tmp_path / "shortcut").symlink_to(made / "noisy")  # the half under another name: still the half
    one_line_error(cli("synth", src, "-o", tmp_path / "shortcut" / "inner", "--noise", "gaussian:sigma=5"),
                   f"inside the noisy/ {half}")
    assert cli("evaluate", "--clean", made / "clean", "--pred", made / "noisy").exit_code == 0  # the set as it was
    from data_tools.set_halves import set_half_holding

    (tmp_path / "work" / "clean").mkdir(parents=True)  # a clean/ beside a set, not in one: anyone's folder
    assert synth(src, tmp_path / "work" / "sub", "gaussian:sigma=10", 0).ok
    assert set_half_holding(tmp_path / "work" / "clean" / "out") is None
    assert set_half_holding(tmp_path / "work" / "sub" / "clean" / "out") == (tmp_path / "work" / "sub", "clean")


def test_a_folder_of_images_no_command_reads_is_named_by_every_command_that_finds_none(tmp_path: Path) -> None:
    """"no image files found" alone, from synth, benchmark, evaluate and noise-fit ("no readable images" from
    train and adapt), for a folder of GIFs and hidden-name photos (denoise named them)."""
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (16, 16)).save(photos / "a.gif")
    write_image(photos / ".b.png", np.zeros((16, 16, 3), np.uint8))
    needles = ("photos: no image files found; not read: 1 image(s) in a format this tool does not read",
               "1 image(s) with a hidden name passed over")
    one_line_error(cli("synth", photos, "-o", tmp_path / "s", "--noise", "gaussian:sigma=5"), *needles)
    one_line_error(cli("benchmark", "--clean", photos, "--noise", "gaussian:sigma=5", "--methods", "wavelet", "-o",
                       tmp_path / "b"), *needles)
    one_line_error(cli("evaluate", "--clean", photos, "--pred", src_like(tmp_path)), *needles)
    one_line_error(cli("noise-fit", "--noisy", photos, "--spec", "gaussian:sigma=5", "-o", tmp_path / "n"), *needles)
    train = cli("train", "--clean", photos, "--noisy", src_like(tmp_path), "-o", tmp_path / "t", "--steps", "2")
    assert train.exit_code == 2 and train.stderr.count("a.gif") == 1, train.stderr  # said once, in the error
    error = train.stderr.strip().splitlines()[-1]
    assert "photos: no readable images; not read: 1 image(s) in a format" in error
    assert "with a hidden name passed over" in error
    adapt = cli("adapt", "--noisy", photos, "-o", tmp_path / "a", "--steps", "2")
    assert adapt.exit_code == 2 and "photos: no readable images; not read: 1 image(s) in a format" in adapt.stderr
    assert adapt.stderr.count("a.gif") == 1, adapt.stderr


def src_like(tmp_path: Path) -> Path:
    """A folder of one readable photo."""
    write_image(tmp_path / "other" / "a.png", np.zeros((16, 16, 3), np.uint8))
    return tmp_path / "other"


def test_a_synth_set_given_as_training_photos_is_refused(src: Path, tmp_path: Path) -> None:
    """train/refine --clean read a set's noisy/ as clean photos, and train --noisy, adapt --noisy and noise-fit
    --noisy its clean/ as noisy ones; a set in a hidden folder, which none of them reads, is no matter."""
    from data_tools.datasets import build_domains
    from denoise_gan.training.adapt_noise import noisy_photos

    made = tmp_path / "set"
    assert synth(src, made, "gaussian:sigma=10", 0).ok
    with pytest.raises(ValueError, match=f"its noisy images would be read as clean photos: give its {made / 'clean'}"):
        build_domains(str(made), "", "gaussian:sigma=10")
    noisy_hint = f"its clean images would be read as noisy photos: give its {made / 'noisy'} instead"
    with pytest.raises(ValueError, match=noisy_hint):
        build_domains(str(made / "clean"), str(made), "")
    with pytest.raises(UserError, match=noisy_hint):
        noisy_photos(str(made))
    one_line_error(cli("noise-fit", "--noisy", made, "-o", tmp_path / "n"), noisy_hint)
    one_line_error(cli("train", "--clean", made, "--noise", "gaussian:sigma=10", "-o", tmp_path / "t",
                       "--steps", "1"), "a synth set inside")
    assert not (tmp_path / "n").exists() and not (tmp_path / "t").exists()
    hidden = tmp_path / "photos"
    shutil.copytree(src, hidden)
    (hidden / ".old").mkdir()
    made.rename(hidden / ".old" / "set")
    clean, noisy, _ = build_domains(str(hidden), "", "gaussian:sigma=10")
    assert len(clean) + len(noisy) == len(list(src.rglob("*.png")))


@pytest.mark.parametrize("args, fragment", [
    (["--noise", "gaussain:sigma=10", "--seed", "0"], "unknown noise model 'gaussain'"),
    (["--noise", "gaussian:sigma=999", "--seed", "0"], "outside 0..255"),
])
def test_bad_spec_is_one_line_and_exit_2(src: Path, tmp_path: Path, args: list[str], fragment: str) -> None:
    code, _, stderr = invoke("synth", src, "-o", tmp_path / "out", *args)
    assert code == 2
    assert fragment in stderr and "valid models" in stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert not (tmp_path / "out").exists()


def test_missing_input_folder_is_exit_2(tmp_path: Path) -> None:
    code, _, stderr = invoke("synth", tmp_path / "nope", "-o", tmp_path / "out", "--noise", "gaussian:sigma=5",
                             "--seed", 0)
    assert code == 2 and "nope: no such folder" in stderr and len(stderr.strip().splitlines()) == 1


# ---- evaluate ----------------------------------------------------------------------------------

def test_evaluate_prints_a_table_and_writes_json_and_csv(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert synth(src, out, "gaussian:sigma=15", 0).ok
    (out / "clean" / "c.png").unlink()  # 16-bit: keep one dtype across this run's table
    (out / "noisy" / "c.png").unlink()
    code, stdout, stderr = invoke("evaluate", "--clean", out / "clean", "--pred", out / "noisy",
                                  "--json", tmp_path / "r.json", "--csv", tmp_path / "r.csv", "--y-channel")
    assert code == 0, stderr
    assert "mean" in stdout and "PSNR-Y" in stdout and "sub/d" in stdout
    data = json.loads((tmp_path / "r.json").read_text())
    assert set(data) == {"protocol", "images", "mean"}
    assert data["protocol"]["y_channel_scored"] is True
    assert [r["name"] for r in data["images"]] == ["a", "b", "sub/d"]
    assert all(set(r) == {"name", "psnr", "ssim", "psnr_y", "ssim_y"} for r in data["images"])
    assert all(20 < r["psnr"] < 30 for r in data["images"])  # σ=15 is about 24.6 dB
    assert set(data["mean"]) == {"psnr", "ssim", "psnr_y", "ssim_y"}
    rows = list(csv.reader((tmp_path / "r.csv").open()))
    assert rows[0] == ["name", "psnr", "ssim", "psnr_y", "ssim_y"] and rows[-1][0] == "mean" and len(rows) == 5


def test_evaluate_missing_partner_scores_the_rest_and_exits_1_naming_it(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert synth(src, out, "gaussian:sigma=15", 0).ok
    (out / "noisy" / "b.png").unlink()
    code, stdout, stderr = invoke("evaluate", "--clean", out / "clean", "--pred", out / "noisy")
    assert code == 1 and "no prediction for 1 of 4" in stderr and "(b.*)" in stderr
    assert "sub/d" in stdout and "mean" in stdout
    (out / "clean" / "b.png").unlink()
    code, _, stderr = invoke("evaluate", "--clean", out / "clean", "--pred", out / "noisy")
    assert code == 0, stderr


# ---- samples, version, help --------------------------------------------------------------------

def test_samples_writes_named_images(tmp_path: Path) -> None:
    code, stdout, stderr = invoke("samples", "-o", tmp_path / "s", "--names", "coins,text")
    assert code == 0, stderr
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["coins.png", "text.png"]
    assert read_image(tmp_path / "s" / "coins.png").pixels.shape[2] == 1
    code, _, stderr = invoke("samples", "-o", tmp_path / "t", "--names", "coins,nope")
    assert code == 2 and "nope" in stderr and "astronaut" in stderr
    assert not (tmp_path / "t").exists()
    for empty in ("", " , "):  # named none: an error, where the held-out set was written instead
        code, _, stderr = invoke("samples", "-o", tmp_path / "u", "--names", empty)
        assert code == 2 and "(none given)" in stderr and not (tmp_path / "u").exists()


def test_samples_refuses_a_debs_folder_it_would_not_read(tmp_path: Path) -> None:
    (tmp_path / "debs.txt").write_text("x")
    for args, needle in ((["--set", "held-out", "--debs", tmp_path], "--set photos or pool only"),  # ignored before
                         (["--names", "coins", "--debs", tmp_path], "--set photos or pool only"),
                         (["--set", "photos", "--debs", tmp_path / "debs.txt"], "not a folder"),
                         (["--set", "pool", "--debs", tmp_path / "none"], "no such folder")):
        code, _, stderr = invoke("samples", "-o", tmp_path / "s", *args)
        assert code == 2 and needle in stderr, (args, stderr)
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("subset", [None, "pool", "train", "all"])
def test_samples_names_of_the_set_are_written_once(tmp_path: Path, subset: str | None) -> None:
    code, _, stderr = invoke("samples", "-o", tmp_path / "s", "--names", "coins, coins,text",
                             *(["--set", subset] if subset else []))
    assert code == 0, stderr
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["coins.png", "text.png"]


@pytest.mark.parametrize("subset, names, needle", [
    ("train", "coins,astronaut", "--names astronaut: not in --set train (its samples: "),
    ("held-out", "coins", "--names coins: not in --set held-out"),
    ("photos", "coins", "--names coins: not in --set photos (it holds no skimage sample)"),
    ("pool", "coins,moon", "--names moon: not in --set pool (its samples: "),
])
def test_samples_names_outside_the_set_given_are_refused(tmp_path: Path, subset: str, names: str, needle: str) -> None:
    """`--set train --names astronaut` wrote a held-out photo into a folder meant for training, without a word."""
    code, _, stderr = invoke("samples", "-o", tmp_path / "s", "--names", names, "--set", subset)
    assert code == 2 and needle in stderr and not (tmp_path / "s").exists(), stderr
    code, _, stderr = invoke("samples", "-o", tmp_path / "t", "--names", "coins", "--set", "photoz")
    assert code == 2 and "unknown --set 'photoz'" in stderr and not (tmp_path / "t").exists()


@pytest.mark.parametrize("spelling", ["heldout", "Held_Out"])
def test_samples_set_takes_the_readme_folders_spelling(tmp_path: Path, spelling: str) -> None:
    """The README names the held-out folder `heldout`; `--set heldout` was refused as an unknown set."""
    code, _, stderr = invoke("samples", "-o", tmp_path / "s", "--set", spelling, "--names", "camera")
    assert code == 0, stderr
    assert [p.name for p in (tmp_path / "s").iterdir()] == ["camera.png"]
    code, _, stderr = invoke("samples", "-o", tmp_path / "t", "--set", spelling, "--names", "coins")
    assert code == 2 and "not in --set held-out" in stderr, stderr


def test_a_second_sample_set_written_into_a_folder_at_once_is_refused(tmp_path: Path) -> None:
    """`samples -o s & samples -o s --set train`: both checked the folder empty, both wrote, and the held-out
    photos sat among the training ones, both runs saying done."""
    import subprocess
    import sys

    from data_tools.folder_lock import holding_folder
    from helpers import CHILD_ENV

    with holding_folder(tmp_path / "s", "sample set"):  # the first run, still writing
        done = subprocess.run([sys.executable, "-m", "denoise_gan", "samples", "-o", str(tmp_path / "s"), "--set",
                               "train"], env=CHILD_ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "another process is writing this sample set now" in done.stderr, done.stderr
    assert not any((tmp_path / "s").iterdir())


def test_samples_written_again_into_their_own_folder_is_a_repeat(tmp_path: Path) -> None:
    """README sections each start with `samples -o heldout`; the second refused the folder the first filled."""
    for _ in range(2):
        code, _, stderr = invoke("samples", "-o", tmp_path / "s", "--names", "coins,text")
        assert code == 0, stderr
    (tmp_path / "s" / "mine.txt").write_text("a user's file")
    code, _, stderr = invoke("samples", "-o", tmp_path / "s", "--names", "coins,text")
    assert code == 2 and "not empty" in stderr and (tmp_path / "s" / "mine.txt").read_text() == "a user's file"


def test_version_and_help() -> None:
    code, stdout, _ = invoke("--version")
    assert code == 0 and stdout.strip() == f"denoise-gan {__version__}"
    code, stdout, _ = invoke("--help")
    assert code == 0 and all(cmd in stdout for cmd in ("synth", "evaluate", "samples"))
    code, stdout, _ = invoke("synth", "--help")
    assert code == 0 and "--noise" in stdout and "--unpaired" in stdout


@pytest.mark.parametrize("command, target, said", [
    ("synth", "data_tools.synth.synth", "the same command finishes the set (one cut short is marked incomplete)"),
    ("benchmark", "denoise_gan.evaluation.benchmark.run_benchmark", "the same command with --resume continues it"),
])
def test_an_interrupt_says_what_finishes_the_work(command: str, target: str, said: str, src: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def ctrl_c(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(target, ctrl_c)
    options = ["--noise", "gaussian:sigma=10", "-o", tmp_path / "out"]
    code, _, stderr = invoke(command, *([src] if command == "synth" else ["--clean", src]), *options)
    assert code == 130 and "interrupted" in stderr and said in " ".join(stderr.split()), stderr


def test_a_file_that_fails_to_read_takes_no_name_from_another(tmp_path: Path) -> None:
    """A corrupt a.jpg failed, and the good a.png beside it was then skipped as "same name as a.jpg"."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    write_image(src / "a.png", texture((24, 24, 3), np.uint8, 0))
    summary = synth(src, tmp_path / "set", "gaussian:sigma=5", 0)
    assert summary.written == 1 and [p.name for p, _ in summary.failures] == ["a.jpg"], summary.failures
    assert (tmp_path / "set" / "noisy" / "a.png").is_file()
    write_image(src / "a.jpg", texture((24, 24, 3), np.uint8, 1))  # two readable files of one name: one refused
    summary = synth(src, tmp_path / "set2", "gaussian:sigma=5", 0)
    assert summary.written == 1 and "same name as" in summary.failures[0][1], summary.failures


def test_names_apart_only_by_case_are_one_name_where_the_set_is_written_on_a_disk_that_folds_case(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On an exFAT card A.png and a.png were written to one file, the manifest listed both, and benchmark then
    scored one photo twice and the other never."""
    from data_tools import synth as synth_module

    src = tmp_path / "src"
    write_image(src / "A.png", texture((24, 24, 3), np.uint8, 0))
    write_image(src / "a.png", texture((24, 24, 3), np.uint8, 1))
    write_image(src / "b.png", texture((24, 24, 3), np.uint8, 2))
    assert synth(src, tmp_path / "here", "gaussian:sigma=5", 0).written == 3  # this disk tells them apart
    card = tmp_path / "card"
    real_unlink, real_is_file = Path.unlink, Path.is_file

    def on_disk(path: Path) -> Path:  # a name in another case opens the file
        names = {p.name.lower(): p for p in path.parent.iterdir()} if path.parent.is_dir() else {}
        return names.get(path.name.lower(), path)

    monkeypatch.setattr(synth_module, "folds_case", lambda folder: True)
    monkeypatch.setattr(Path, "unlink", lambda path, missing_ok=False: real_unlink(on_disk(path), missing_ok))
    monkeypatch.setattr(Path, "is_file", lambda path: real_is_file(on_disk(path)))
    summary = synth(src, card, "gaussian:sigma=5", 0)
    assert summary.written == 2 and [p.name for p, _ in summary.failures] == ["a.png"], summary.failures
    assert "same name as" in summary.failures[0][1] and "does not tell case apart" in summary.failures[0][1]
    manifest = json.loads((card / "manifest.json").read_text())
    assert [entry["name"] for entry in manifest["images"]] == ["A", "b"], manifest["images"]
    assert sorted(p.name for p in (card / "clean").iterdir()) == ["A.png", "b.png"]  # a.png's removal took A.png
    assert sorted(p.name for p in (card / "noisy").iterdir()) == ["A.png", "b.png"]


@pytest.mark.skipif(not Path("/proc/self/fd/2").exists(), reason="reads where fd 2 points through /proc")
def test_synth_leaves_stderr_where_it_was(tmp_path: Path) -> None:
    """synth encodes on a writer thread while it decodes the next image, both with the C libraries' stderr
    redirected: one thread's restore left fd 2 on the other's deleted temp file, and every later line (its
    'skipped' and 'input(s) failed') was lost."""
    rng = np.random.default_rng(0)
    for i in range(12):
        write_image(tmp_path / "src" / f"{i}.png", (rng.random((48, 48, 3)) * 65535).astype(np.uint16))
    before = os.readlink("/proc/self/fd/2")
    assert synth(tmp_path / "src", tmp_path / "out", "gaussian:sigma=25", 0).written == 12
    assert os.readlink("/proc/self/fd/2") == before


def test_synth_names_a_linked_folder_of_photos_it_does_not_follow(tmp_path: Path) -> None:
    """A linked folder under the source was left out of the set without a word (denoise names them)."""
    src, elsewhere = tmp_path / "src", tmp_path / "elsewhere"
    write_image(src / "a.png", texture((24, 24, 3), np.uint8, 0))
    write_image(elsewhere / "b.png", texture((24, 24, 3), np.uint8, 1))
    (src / "linked").symlink_to(elsewhere)
    summary = synth(src, tmp_path / "set", "gaussian:sigma=5", 0)
    assert summary.written == 1 and summary.linked == [src / "linked"]
    result = cli("synth", src, "-o", tmp_path / "set2", "--noise", "gaussian:sigma=5")
    said = " ".join(result.stderr.split())
    assert result.exit_code == 0 and f"not read: 1 linked folder(s) of photos ({src / 'linked'})" in said, said


def test_samples_reads_its_set_in_any_case(tmp_path: Path) -> None:
    """--set was the one word option read case-sensitively: HELD-OUT was "unknown"."""
    result = cli("samples", "-o", tmp_path / "s", "--set", "HELD-OUT", "--names", "camera")
    assert result.exit_code == 0 and (tmp_path / "s" / "camera.png").is_file(), result.output


def test_a_photo_smaller_than_the_crop_is_left_out_not_a_failure(tmp_path: Path) -> None:
    """`--crop` says a smaller photo is skipped; it was counted as a failed input and a finished set exited 1. A
    broken file is still a failure, and a crop that leaves no photo makes no set."""
    photos = tmp_path / "photos"
    write_image(photos / "big.png", np.zeros((80, 80, 3), np.uint8))
    write_image(photos / "exact.png", np.zeros((64, 70, 3), np.uint8))  # a side the crop's size: it holds the crop
    write_image(photos / "small.png", np.zeros((20, 20, 3), np.uint8))
    made = cli("synth", photos, "-o", tmp_path / "s", "--noise", "gaussian:sigma=5", "--crop", "64")
    assert made.exit_code == 0 and "small.png: 20x20 is smaller than the 64x64 crop" in made.stderr, made.stderr
    assert "failed" not in made.stderr and "exact.png" not in made.stderr
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["complete"] and manifest["failures"] == [] and len(manifest["images"]) == 2
    assert [Path(s["source"]).name for s in manifest["skipped"]] == ["small.png"]
    none = cli("synth", photos, "-o", tmp_path / "n", "--noise", "gaussian:sigma=5", "--crop", "100")
    assert none.exit_code == 1 and "smaller than the 100x100 crop; lower --crop" in none.stderr, none.stderr
    assert not (tmp_path / "n").exists()
    write_image(photos / "tall.png", np.zeros((100, 90, 3), np.uint8))  # shrunk by --max-size below the crop
    shrunk = cli("synth", photos, "-o", tmp_path / "m", "--noise", "gaussian:sigma=5", "--crop", "64", "--max-size",
                 "70")
    assert shrunk.exit_code == 0 and "tall.png: 63x70 (from 90x100 by --max-size 70) is smaller than the 64x64 " \
        "crop" in " ".join(shrunk.stderr.split()), shrunk.stderr
    one_line_error(cli("synth", photos, "-o", tmp_path / "x", "--noise", "gaussian:sigma=5", "--crop", "64",
                       "--max-size", "50"), "--crop 64 is larger than --max-size 50")
    assert not (tmp_path / "x").exists()
    wide = tmp_path / "wide"
    write_image(wide / "a.png", np.zeros((96, 128, 3), np.uint8))  # holds a 96 crop, not once shrunk to 96x72
    shrunk = cli("synth", wide, "-o", tmp_path / "w", "--noise", "gaussian:sigma=5", "--crop", "96", "--max-size",
                 "96")
    assert shrunk.exit_code == 1 and "smaller than the 96x96 crop after --max-size; give a larger --max-size" in \
        " ".join(shrunk.stderr.split()), shrunk.stderr
    (photos / "broken.png").write_bytes(b"not a png")
    broken = cli("synth", photos, "-o", tmp_path / "b", "--noise", "gaussian:sigma=5", "--crop", "64")
    assert broken.exit_code == 1 and "1 input(s) failed" in broken.stderr, broken.stderr


def test_samples_keeps_a_users_own_file_of_a_samples_name_and_writes_skimages_own_pictures(tmp_path: Path) -> None:
    """A folder holding only the user's own (edited) astronaut.png passed for a set written there before, and was
    replaced by the bundled one without --overwrite. Each name is that very skimage.data picture (the held-out
    set would score one photo twice were moon the cameraman)."""
    import skimage.data as skd

    own = tmp_path / "mine"
    write_image(own / "astronaut.png", np.full((8, 8, 3), 7, np.uint8))
    before = (own / "astronaut.png").read_bytes()
    code, _, stderr = invoke("samples", "-o", own, "--names", "astronaut")
    assert code != 0 and "--overwrite" in stderr and (own / "astronaut.png").read_bytes() == before, stderr
    code, stdout, stderr = invoke("samples", "--set", "held-out", "-o", tmp_path / "held")
    assert code == 0, stderr
    assert stdout.count("wrote ") == 5 and sorted(p.name for p in (tmp_path / "held").iterdir()) == [
        "astronaut.png", "camera.png", "chelsea.png", "coffee.png", "moon.png"]
    for name in ("astronaut", "chelsea", "coffee", "camera", "moon"):
        written = read_image(tmp_path / "held" / f"{name}.png").pixels
        np.testing.assert_array_equal(written.reshape(getattr(skd, name)().shape), getattr(skd, name)(), name)


def test_a_pipe_named_as_an_image_is_named_not_passed_over(tmp_path: Path) -> None:
    """A FIFO `b.png` beside a photo was left out without a word."""
    write_image(tmp_path / "photos" / "a.png", np.full((16, 16, 3), 90, np.uint8))
    os.mkfifo(tmp_path / "photos" / "b.png")
    code, _, stderr = invoke("synth", tmp_path / "photos", "-o", tmp_path / "set", "--noise", "gaussian:sigma=5")
    said = " ".join(stderr.split())
    assert code == 0 and "1 entry(ies) named as images that are no regular file" in said and "b.png" in said, said
