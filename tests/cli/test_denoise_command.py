"""`denoise-gan denoise` end to end on tiny random generators: files, folders, formats, policies, sharding."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms
from rich.console import Console

from data_tools.images import read_image, write_image
from denoise_gan.cli import app
from denoise_gan.config import GeneratorConfig
from denoise_gan.errors import UserError
from denoise_gan.inference.file_plan import OutputOptions, plan_jobs
from denoise_gan.nets.registry import build_generator
from denoise_gan.nets.shipped import shipped_dir
from denoise_gan.nets.weights import save_generator
from helpers import WIDE, cli, free_port, one_line_error, runner

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny colour U-Net with PyTorch's default init (it visibly changes images)."""
    torch.manual_seed(0)
    cfg = GeneratorConfig(width=4, depth=2, blocks=1)
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_generator(path, build_generator(cfg), cfg)
    return path


def image(h: int = 40, w: int = 48, c: int = 3, dtype: type = np.uint8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, np.iinfo(dtype).max, size=(h, w, c), dtype=dtype, endpoint=True)


def denoise(*args: str | Path) -> object:
    """At rich's width of 80 a table folds a long path across lines, and where the fold fell (the temp folder's
    length: the user's name, TMPDIR) decided whether a file's name could be read back: one row per line."""
    return runner.invoke(app, ["denoise", *map(str, args)], env=WIDE)


# ---- formats -------------------------------------------------------------------------------------

def test_folder_tree_is_mirrored_and_formats_are_kept(tmp_path: Path, weights: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    write_image(src / "a.png", image(seed=1))
    write_image(src / "sub" / "deep" / "b.jpg", image(seed=2))
    write_image(src / "sub" / "gray16.png", image(c=1, dtype=np.uint16, seed=3))
    write_image(src / "sub" / "rgba.png", image(c=4, seed=4))
    result = denoise(src, "-o", out, "--recursive", "-c", weights, "--suffix", "_dn")
    assert result.exit_code == 0, result.output
    assert "denoise summary" in result.stdout
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "a_dn.png", "sub/deep/b_dn.jpg", "sub/gray16_dn.png", "sub/rgba_dn.png"]
    gray16 = read_image(out / "sub" / "gray16_dn.png").pixels
    assert gray16.dtype == np.uint16 and gray16.shape == (40, 48, 1) and gray16.max() > 255
    rgba_in, rgba_out = read_image(src / "sub" / "rgba.png").pixels, read_image(out / "sub" / "rgba_dn.png").pixels
    assert rgba_out.shape == rgba_in.shape
    np.testing.assert_array_equal(rgba_out[..., 3], rgba_in[..., 3])
    assert np.abs(rgba_out[..., :3].astype(int) - rgba_in[..., :3]).mean() > 1  # the net did something


def test_sixteen_bit_png_in_gives_sixteen_bit_png_out(tmp_path: Path, weights: Path) -> None:
    write_image(tmp_path / "x.png", image(dtype=np.uint16, seed=5))
    result = denoise(tmp_path / "x.png", "-o", tmp_path / "out", "-c", weights, "--tile", "32", "--overlap", "8")
    assert result.exit_code == 0, result.output
    raw = Image.open(tmp_path / "out" / "x.png")
    out = read_image(tmp_path / "out" / "x.png").pixels
    assert out.dtype == np.uint16 and out.shape == (40, 48, 3) and raw.format == "PNG"


def test_exif_orientation_applied_and_metadata_kept(tmp_path: Path, weights: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    exif[0x010F] = "TestCam"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(image(h=24, w=40)).save(tmp_path / "p.jpg", exif=exif.tobytes(), icc_profile=icc, quality=95)
    result = denoise(tmp_path / "p.jpg", "-o", tmp_path / "out", "-c", weights, "--ext", "png", "--tile", "0")
    assert result.exit_code == 0, result.output
    written = read_image(tmp_path / "out" / "p.png")
    assert written.pixels.shape == (40, 24, 3)  # stored upright
    assert written.icc == icc
    kept = Image.Exif()
    kept.load(written.exif)
    assert kept[0x010F] == "TestCam" and kept.get(0x0112, 1) == 1


def test_a_16_bit_png_keeps_its_exif_and_every_metadata_drop_is_said(tmp_path: Path, weights: Path) -> None:
    """Every 16-bit PNG/TIFF output dropped EXIF (camera, date, GPS) without a word, as a BMP dropped EXIF and ICC,
    a JPEG an EXIF over 64 KB and a CMYK file its profile: the README promised the file's line says so."""
    exif = Image.Exif()
    exif[0x0112], exif[0x010F] = 6, "TestCam"
    write_image(tmp_path / "in" / "deep.png", (image(h=24, w=40).astype(np.uint16) * 257), exif=exif.tobytes())
    result = denoise(tmp_path / "in", "-o", tmp_path / "png", "-c", weights, "--tile", "0")
    assert result.exit_code == 0 and "dropped" not in result.output, result.output
    written = read_image(tmp_path / "png" / "deep.png")
    kept = Image.Exif()
    kept.load(written.exif)
    assert written.pixels.dtype == np.uint16 and written.pixels.shape == (24, 40, 3)
    assert kept[0x010F] == "TestCam" and kept.get(0x0112, 1) == 1
    for ext, said in (("tif", "EXIF dropped (a 16-bit or gray+alpha TIFF is written without it)"),
                      ("bmp", "EXIF dropped (a BMP holds none)")):
        result = denoise(tmp_path / "in", "-o", tmp_path / ext, "-c", weights, "--tile", "0", "--ext", ext)
        assert result.exit_code == 0 and said in " ".join(result.output.split()), result.output
    import tifffile

    (tmp_path / "turned").mkdir()  # an orientation its only tag: the upright pixels took it in, nothing is lost
    tifffile.imwrite(tmp_path / "turned" / "deep.tif", image(h=24, w=40).astype(np.uint16) * 257, photometric="rgb",
                     extratags=[(274, "H", 1, 6, False)])
    result = denoise(tmp_path / "turned", "-o", tmp_path / "turned_tif", "-c", weights, "--tile", "0")
    assert result.exit_code == 0 and "dropped" not in result.output, result.output
    assert read_image(tmp_path / "turned_tif" / "deep.tif").pixels.shape == (40, 24, 3)  # upright
    from data_tools.image_metadata import metadata_lost

    pointer = Image.Exif()
    pointer[0x0112] = 6
    pointer.get_ifd(0x8825)  # an empty GPS sub-IFD beside it: nothing to lose either
    assert metadata_lost("TIFF", 3, pointer.tobytes(), None, deep=True) == []
    pointer.get_ifd(0x8825)[2] = (1.0, 2.0, 3.0)  # a latitude in it: lost, and said
    assert metadata_lost("TIFF", 3, pointer.tobytes(), None, deep=True) != []
    cmyk_profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    cmyk_profile = cmyk_profile[:16] + b"CMYK" + cmyk_profile[20:]  # its colour space field says CMYK
    Image.fromarray(image(h=24, w=40)).convert("CMYK").save(tmp_path / "c.jpg", icc_profile=cmyk_profile)
    result = denoise(tmp_path / "c.jpg", "-o", tmp_path / "c.png", "-c", weights, "--tile", "0")
    said = " ".join(result.output.split())
    assert result.exit_code == 0 and "ICC profile dropped (a CMYK profile, not one of RGB" in said


# ---- policies ------------------------------------------------------------------------------------

def test_never_writes_over_an_input(tmp_path: Path, weights: Path) -> None:
    write_image(tmp_path / "a.png", image())
    before = (tmp_path / "a.png").read_bytes()
    result = denoise(tmp_path, "-o", tmp_path, "-c", weights, "--overwrite")
    assert result.exit_code == 2
    assert "would overwrite an input" in one_line_error(result)
    assert (tmp_path / "a.png").read_bytes() == before
    os.link(tmp_path / "a.png", tmp_path / "alias.png")  # a hard link is the input under another name
    with pytest.raises(UserError, match="would overwrite an input"):
        plan_jobs([tmp_path / "a.png"], tmp_path, OutputOptions(suffix="", ext="png"))
    (tmp_path / "alias.png").unlink()
    assert denoise(tmp_path, "-o", tmp_path, "-c", weights, "--suffix", "_dn").exit_code == 0
    assert (tmp_path / "a_dn.png").is_file()


def test_a_quality_that_no_output_uses_is_noted(tmp_path: Path) -> None:
    """--quality 80 on PNG outputs changed nothing without a word; given for JPEG or WebP, or not given, no note."""
    write_image(tmp_path / "a.png", image())
    write_image(tmp_path / "b.tif", image())

    def notes(**given: object) -> list[str]:
        return [n for n in plan_jobs([tmp_path / "a.png", tmp_path / "b.tif"], tmp_path / "out",
                                     OutputOptions(suffix="", **given)).notes if "--quality" in n]

    assert notes(quality=80) == ["--quality 80 is not used: it sets JPEG and WebP outputs, and these are png, tif "
                                 "(choose --ext jpg or webp to use it)"]
    assert notes() == [] and notes(quality=80, ext="jpg") == [] and notes(quality=80, ext="webp") == []
    assert OutputOptions().encoder_quality == 95 and OutputOptions(quality=80).encoder_quality == 80
    named = plan_jobs([tmp_path / "a.png"], tmp_path / "a_dn.tif", OutputOptions(quality=80)).notes  # one file:
    assert named == ("--quality 80 is not used: it sets JPEG and WebP outputs, and these are tif (name a .jpg or "
                     ".webp file with -o to use it)",)  # it said nothing
    assert plan_jobs([tmp_path / "a.png"], tmp_path / "a_dn.jpg", OutputOptions(quality=80)).notes == ()


def test_rerun_into_a_subfolder_of_the_input_never_takes_outputs_as_inputs(tmp_path: Path, weights: Path) -> None:
    write_image(tmp_path / "a.png", image())
    write_image(tmp_path / "sub" / "b.png", image())
    for _ in range(2):
        result = denoise(tmp_path, "-o", tmp_path / "clean", "-r", "-c", weights, "--skip-existing")
        assert result.exit_code == 0, result.output
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.png")) == [
        "a.png", "clean/a.png", "clean/sub/b.png", "sub/b.png"]


def test_bmp_is_an_output_format_and_an_unwritten_format_is_no_folder(tmp_path: Path, weights: Path) -> None:
    write_image(tmp_path / "a.png", image())
    result = denoise(tmp_path / "a.png", "-o", tmp_path / "out", "--ext", "bmp", "-c", weights)
    assert result.exit_code == 0, result.output
    assert read_image(tmp_path / "out" / "a.bmp").pixels.shape == image().shape
    for ext in ("jpeg", "tiff"):  # the other spellings write the usual suffix
        assert denoise(tmp_path / "a.png", "-o", tmp_path / ext, "--ext", ext, "-c", weights).exit_code == 0
    assert [p.name for p in (tmp_path / "jpeg").iterdir()] == ["a.jpg"]
    assert [p.name for p in (tmp_path / "tiff").iterdir()] == ["a.tif"]
    for name in ("x.gif", "x.heic"):  # a file name in a format not written: refused, no folder made
        one_line_error(denoise(tmp_path / "a.png", "-o", tmp_path / name, "-c", weights), "cannot write")
        assert not (tmp_path / name).exists()


def test_a_run_whose_every_file_failed_leaves_no_folder_it_made(tmp_path: Path, weights: Path) -> None:
    """Exit 1 with nothing written left the new output folder behind, empty (synth and evaluate leave none); a
    folder the user had made stays, and so does one a file was written to."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(b"not an image")
    assert denoise(tmp_path / "in", "-o", tmp_path / "new" / "deep", "-c", weights).exit_code == 1
    assert not (tmp_path / "new").exists()
    (tmp_path / "mine").mkdir()
    assert denoise(tmp_path / "in", "-o", tmp_path / "mine", "-c", weights).exit_code == 1
    assert (tmp_path / "mine").is_dir()
    write_image(tmp_path / "in" / "b.png", image())
    assert denoise(tmp_path / "in", "-o", tmp_path / "some", "-c", weights).exit_code == 1
    assert [p.name for p in (tmp_path / "some").iterdir()] == ["b.png"]


def test_a_trailing_slash_makes_an_image_like_name_a_folder(tmp_path: Path, weights: Path) -> None:
    write_image(tmp_path / "a.png", image())
    write_image(tmp_path / "in" / "b.png", image())
    for inputs in ([tmp_path / "a.png", tmp_path / "in" / "b.png"], [tmp_path / "in"]):  # without it: refused
        one_line_error(denoise(*inputs, "-o", tmp_path / "result.png", "-c", weights), "names one image file",
                       "end it with /")
        assert not (tmp_path / "result.png").exists()
    for name in ("shots.png", "anim.gif"):
        result = denoise(tmp_path / "a.png", "-o", f"{tmp_path / name}/", "-c", weights)
        assert result.exit_code == 0, result.output
        assert read_image(tmp_path / name / "a.png").pixels.shape == image().shape


def test_a_bmp_keeps_colour_alpha_and_says_when_gray_alpha_is_dropped(tmp_path: Path, weights: Path) -> None:
    write_image(tmp_path / "in" / "rgba.png", image(c=4))
    write_image(tmp_path / "in" / "la.png", image(c=2))
    result = denoise(tmp_path / "in", "-o", tmp_path / "out", "--ext", "bmp", "-c", weights)
    assert result.exit_code == 0, result.output
    out = read_image(tmp_path / "out" / "rgba.bmp").pixels
    assert out.shape[2] == 4 and np.array_equal(out[..., 3], image(c=4)[..., 3])
    assert read_image(tmp_path / "out" / "la.bmp").pixels.shape[2] == 1
    notes = [line for line in result.output.splitlines() if "alpha dropped" in line]
    assert notes and all("rgba" not in line for line in notes)  # the gray one's note; the colour one keeps it


def test_a_gray_photo_written_as_webp_says_it_comes_back_colour(tmp_path: Path, weights: Path) -> None:
    """.webp holds no gray: the file came back RGB without a note, and evaluate refused it with no reason."""
    write_image(tmp_path / "in" / "g.png", image(c=1)[..., 0])
    result = denoise(tmp_path / "in", "-o", tmp_path / "out", "--ext", "webp", "-c", weights)
    assert result.exit_code == 0, result.output
    assert read_image(tmp_path / "out" / "g.webp").pixels.shape[2] == 3
    assert "gray written as colour (.webp holds no gray)" in " ".join(result.output.split())
    scored = cli("evaluate", "--clean", tmp_path / "in", "--pred", tmp_path / "out")
    assert "write .png to score it" in " ".join(scored.output.split()), scored.output


def test_a_lossless_webp_comes_back_lossless(tmp_path: Path, weights: Path) -> None:
    from PIL import Image

    Image.fromarray(image()).save(tmp_path / "a.webp", lossless=True)
    assert denoise(tmp_path / "a.webp", "-o", tmp_path / "out", "-c", weights).exit_code == 0
    assert read_image(tmp_path / "out" / "a.webp").lossless


def test_an_output_folder_holding_the_input_folder_finds_its_images(tmp_path: Path, weights: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    write_image(tmp_path / "photos" / "a.png", image())
    monkeypatch.chdir(tmp_path)
    result = denoise("photos", "-o", ".", "-c", weights)  # said "no images found in photos"
    assert result.exit_code == 0, result.output
    assert read_image(tmp_path / "a.png").pixels.shape == image().shape


def test_a_broken_link_is_reported_by_name(tmp_path: Path, weights: Path) -> None:
    write_image(tmp_path / "in" / "a.png", image())
    (tmp_path / "in" / "b.png").symlink_to(tmp_path / "unmounted" / "b.png")
    result = denoise(tmp_path / "in", "-o", tmp_path / "out", "-c", weights)
    assert result.exit_code == 1 and "a broken link" in result.output and "b.png" in result.output
    assert (tmp_path / "out" / "a.png").is_file()


def test_a_broken_link_named_as_the_input_is_called_one(tmp_path: Path, weights: Path) -> None:
    """Named on the command line, a link to nothing and a link loop were "no such file or folder" (evaluate and
    synth: "no such folder"), which sent the user looking for a typo; inside a folder they were named right."""
    (tmp_path / "gone.png").symlink_to(tmp_path / "unmounted" / "gone.png")
    (tmp_path / "loop").symlink_to("loop")
    said = {"denoise gone": denoise(tmp_path / "gone.png", "-o", tmp_path / "out", "-c", weights),
            "denoise loop": denoise(tmp_path / "loop", "-o", tmp_path / "out", "-c", weights),
            "evaluate": cli("evaluate", "--clean", tmp_path / "gone.png", "--pred", tmp_path),
            "synth": cli("synth", tmp_path / "loop", "-o", tmp_path / "noisy", "--noise", "gaussian:sigma=5")}
    for what, result in said.items():
        line = one_line_error(result)
        assert result.exit_code == 2 and ("a broken link: its target" in line or "a link loop" in line), (what, line)


def test_a_link_loop_fails_its_own_file_and_the_batch_goes_on(tmp_path: Path, weights: Path) -> None:
    write_image(tmp_path / "in" / "a.png", image())
    (tmp_path / "in" / "self.png").symlink_to("self.png")  # was a RuntimeError traceback from Path.resolve
    (tmp_path / "in" / "x.png").symlink_to("y.png")
    (tmp_path / "in" / "y.png").symlink_to("x.png")
    result = denoise(tmp_path / "in", "-o", tmp_path / "out", "-c", weights)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert result.output.count("a link loop") >= 3 and (tmp_path / "out" / "a.png").is_file()
    synth = cli("synth", tmp_path / "in", "-o", tmp_path / "noisy", "--noise", "gaussian:sigma=5")
    assert synth.exit_code == 1 and "self.png" in synth.output and (tmp_path / "noisy" / "noisy" / "a.png").is_file()


def test_ctrl_c_says_how_to_finish_the_rest(tmp_path: Path, weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from denoise_gan.inference import api

    def stop(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(api.Denoiser, "denoise_files", stop)
    write_image(tmp_path / "a.png", image())
    result = denoise(tmp_path / "a.png", "-o", tmp_path / "out", "-c", weights)
    assert result.exit_code == 130 and "interrupted" in result.output and "--skip-existing" in result.output
    again = denoise(tmp_path / "a.png", "-o", tmp_path / "out", "-c", weights, "--overwrite")  # --skip-existing
    assert again.exit_code == 130 and "--skip-existing" not in again.output  # would keep the earlier outputs
    assert "the same command replaces them all" in " ".join(again.output.split())


def test_an_empty_model_name_or_a_file_as_output_folder_is_one_line(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", image())
    one_line_error(denoise(tmp_path / "a.png", "-o", tmp_path / "out", "-c", ""), "an empty model name")
    (tmp_path / "notes.txt").write_text("mine")
    one_line_error(denoise(tmp_path / "a.png", tmp_path / "a.png", "-o", tmp_path / "notes.txt"),
                   "exists and is not a folder")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_names_and_reasons_with_brackets_are_printed_as_they_are(tmp_path: Path, weights: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Rich read "[red]" in a file name as markup and dropped it (and "[bench]" from an install hint)."""
    from denoise_gan.cli.render import denoise_summary
    from denoise_gan.cli.say import say_note
    from denoise_gan.inference.files import FileResult, Summary

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "img[red].png").write_bytes(b"not a png")
    result = denoise(tmp_path / "in", "-o", tmp_path / "out", "-c", weights)
    assert result.exit_code == 1
    assert "img[red].png" in "".join(line.strip(" |") for line in result.output.splitlines())
    console = Console(record=True, width=200)
    console.print(denoise_summary(Summary((FileResult("a[b].png", "o", "failed", message="pip install 'x[bench]'"),),
                                          1.0)))
    text = console.export_text()
    assert "a[b].png" in text and "x[bench]" in text
    say_note("note [i]")
    assert "note: note [i]" in capsys.readouterr().err


def test_name_collisions_are_refused_before_any_work(tmp_path: Path, weights: Path) -> None:
    write_image(tmp_path / "one" / "a.png", image())
    write_image(tmp_path / "two" / "a.png", image())
    result = denoise(tmp_path / "one" / "a.png", tmp_path / "two" / "a.png", "-o", tmp_path / "out", "-c", weights)
    assert result.exit_code == 2 and "would both be written" in one_line_error(result)
    assert not (tmp_path / "out").exists()
    # the advice fits the way they met: two folders (where --recursive alone would not help), or one --ext
    two_folders = denoise(tmp_path / "one", tmp_path / "two", "-o", tmp_path / "out", "-r", "-c", weights)
    assert "separate -o folders" in one_line_error(two_folders)
    write_image(tmp_path / "one" / "a.jpg", image())
    formats = denoise(tmp_path / "one", "-o", tmp_path / "out", "--ext", "png", "-c", weights)
    assert "--ext same" in one_line_error(formats)
    assert not (tmp_path / "out").exists()


def test_corrupt_file_is_skipped_and_exit_code_is_one(tmp_path: Path, weights: Path) -> None:
    src = tmp_path / "in"
    write_image(src / "a.png", image(seed=1))
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    write_image(src / "c.png", image(seed=2))
    result = denoise(src, "-o", tmp_path / "out", "-c", weights)
    assert result.exit_code == 1
    assert "broken.png" in result.stdout and "failed" in result.stdout
    assert (tmp_path / "out" / "a.png").is_file() and (tmp_path / "out" / "c.png").is_file()
    assert not (tmp_path / "out" / "broken.png").exists()


def test_existing_outputs_error_skip_or_overwrite(tmp_path: Path, weights: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    write_image(tmp_path / "in" / "a.png", image())
    out = tmp_path / "out"
    assert denoise(tmp_path / "in", "-o", out, "-c", weights).exit_code == 0
    (out / "a.png").write_bytes(b"sentinel")
    again = denoise(tmp_path / "in", "-o", out, "-c", weights)
    assert again.exit_code == 1 and "--skip-existing" in again.stdout
    assert (out / "a.png").read_bytes() == b"sentinel"
    skipped = denoise(tmp_path / "in", "-o", out, "-c", weights, "--skip-existing")
    assert skipped.exit_code == 0 and (out / "a.png").read_bytes() == b"sentinel"
    replaced = denoise(tmp_path / "in", "-o", out, "-c", weights, "--overwrite")
    assert replaced.exit_code == 0 and read_image(out / "a.png").pixels.shape == (40, 48, 3)
    both = denoise(tmp_path / "in", "-o", out, "-c", weights, "--overwrite", "--skip-existing")
    assert both.exit_code == 2 and "contradict" in one_line_error(both)
    tree = denoise(tmp_path / "in", "-o", out, "-c", weights, "--overwrite", "--skip-existing", "--recursive")
    assert tree.exit_code == 2 and "contradict" in one_line_error(tree)
    (out / "a.png").write_bytes(b"")
    os.utime(out / "a.png", (time.time() - 120, time.time() - 120))  # where hard links work, a user's file: kept
    assert "skipped" in denoise(tmp_path / "in", "-o", out, "-c", weights, "--skip-existing").output
    assert (out / "a.png").read_bytes() == b""
    from denoise_gan.inference import files

    monkeypatch.setattr(files, "hard_links_work", lambda folder: False)  # a FAT disk: outputs reserve their name
    (out / "a.png").write_bytes(b"")  # a name another run reserved a moment ago: it fills it
    young = denoise(tmp_path / "in", "-o", out, "-c", weights, "--skip-existing")
    assert young.exit_code == 1 and "an empty file" in young.output  # not "skipped", which reads as done
    assert (out / "a.png").read_bytes() == b""
    os.utime(out / "a.png", (time.time() - 120, time.time() - 120))  # still empty a while later: its run was killed
    resumed = denoise(tmp_path / "in", "-o", out, "-c", weights, "--skip-existing")
    assert resumed.exit_code == 0 and read_image(out / "a.png").pixels.shape == (40, 48, 3)


@pytest.mark.parametrize("args, message", [
    (["--tile", "big"], "--tile must be"),
    (["--overlap", "-1"], "--overlap must be"),  # the flag, as the others name theirs
    (["--batch-size", "0"], "--batch-size must be >= 1"),
    (["--ext", "gif"], "unknown --ext"),
    (["--quality", "0"], "--quality"),
    (["--precision", "fp8"], "unknown precision"),
    (["--device", "tpu"], "unknown device"),
    (["--device", "cuda:"], "unknown device 'cuda:'"),  # was blamed on a missing GPU
    (["--suffix", "."], "is not '.' or '..'"),  # was "must not contain a path separator"
])
def test_bad_arguments_are_one_line_errors(tmp_path: Path, weights: Path, args: list[str], message: str) -> None:
    write_image(tmp_path / "a.png", image())
    result = denoise(tmp_path / "a.png", "-o", tmp_path / "out", "-c", weights, *args)
    assert result.exit_code == 2
    assert message in one_line_error(result)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only messages")
def test_cpu_only_machine_refuses_gpu_options(tmp_path: Path, weights: Path) -> None:
    write_image(tmp_path / "a.png", image())
    for args, message in ((["--device", "cuda"], "no CUDA GPU"), (["--precision", "fp16"], "needs a CUDA GPU")):
        result = denoise(tmp_path / "a.png", "-o", tmp_path / "out", "-c", weights, *args)
        assert result.exit_code == 2 and message in one_line_error(result)


def test_missing_inputs_and_weights_are_one_line_errors(tmp_path: Path, weights: Path) -> None:
    result = denoise(tmp_path / "nope.png", "-o", tmp_path / "out", "-c", weights)
    assert result.exit_code == 2 and "no such file or folder" in one_line_error(result)
    write_image(tmp_path / "a.png", image())
    result = denoise(tmp_path / "a.png", "-o", tmp_path / "out", "-c", tmp_path / "missing.safetensors")
    assert result.exit_code == 2 and "no such weight file" in one_line_error(result)
    if not (shipped_dir() / "default.safetensors").is_file():
        result = denoise(tmp_path / "a.png", "-o", tmp_path / "out")
        said = one_line_error(result)
        assert result.exit_code == 2 and "default: no such file or folder, and no shipped model" in said


# ---- torchrun sharding ---------------------------------------------------------------------------

RANK_SCRIPT = textwrap.dedent("""
    import json, sys
    import torch
    torch.set_num_threads(1)
    from denoise_gan import Denoiser
    from denoise_gan.inference.file_plan import OutputOptions
    den = Denoiser.from_pretrained(sys.argv[3], engine="torch")
    summary = den.denoise_files([sys.argv[1]], sys.argv[2], OutputOptions(ext="png"), shard=True)
    json.dump({"results": [[r.source, r.status] for r in summary.results],
               "world_size": summary.world_size, "rank": summary.rank}, open(sys.argv[4], "w"))
""")


@pytest.mark.slow  # real processes, seconds each; runs by default, deselect with -m 'not slow'
def test_torchrun_style_sharding_does_every_file_once(tmp_path: Path, weights: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    names = [f"img{i}.png" for i in range(5)]
    for i, name in enumerate(names):
        write_image(src / name, image(h=24, w=24, seed=i))
    port = str(free_port())
    procs = []
    for rank in range(2):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2",
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port, "OMP_NUM_THREADS": "1"}
        procs.append(subprocess.Popen([sys.executable, "-c", RANK_SCRIPT, str(src), str(out), str(weights),
                                       str(tmp_path / f"rank{rank}.json")], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    try:
        for proc in procs:
            log, _ = proc.communicate(timeout=120)
            assert proc.returncode == 0, log
    finally:  # one rank failing or timing out leaves the other waiting for it at the gather: not left running
        for proc in procs:
            proc.kill()
            proc.communicate()
    rank0, rank1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2))
    everything = [Path(s).name for s, status in rank0["results"]]
    assert sorted(everything) == names and rank0["world_size"] == 2  # rank 0 gathered every file, once
    assert (rank0["rank"], rank1["rank"]) == (0, 1)
    assert all(status == "done" for _, status in rank0["results"])
    own1 = {Path(s).name for s, _ in rank1["results"]}
    assert 0 < len(own1) < len(names)  # rank 1 did its own share only
    assert sorted(p.name for p in out.iterdir()) == names


def test_a_tile_too_small_names_what_the_shipped_model_needs(tmp_path: Path) -> None:
    """--tile 16 said "use at least 32", and --tile 32 then failed for the shipped model (it needs 128)."""
    from denoise_gan.nets.contract import denoiser_contract
    from denoise_gan.nets.generator_names import LEVEL_MIN_TILE
    from denoise_gan.nets.shipped import resolve_weights
    from denoise_gan.nets.weights import load_generator

    assert denoiser_contract(load_generator(resolve_weights("default"))[0]).min_tile == LEVEL_MIN_TILE
    write_image(tmp_path / "a.png", np.zeros((32, 32, 3), np.uint8))
    one_line_error(cli("denoise", tmp_path / "a.png", "-o", tmp_path / "out", "--tile", "16"),
                   f"the shipped default model needs {LEVEL_MIN_TILE}")
    from denoise_gan import Denoiser

    for engine in ("onnxruntime", "torch"):  # the graph's metadata and the network's contract say the same
        with pytest.raises(UserError, match=f"needs tiles of at least {LEVEL_MIN_TILE} px"):
            Denoiser.from_pretrained("default", engine=engine, tile=64)
        assert Denoiser.from_pretrained("default", engine=engine).backend.min_tile == LEVEL_MIN_TILE


def test_a_stray_world_size_without_torchrun_is_refused_before_any_file(tmp_path: Path, weights: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """It denoised this rank's share of the files, then failed for want of torchrun's address."""
    for i in range(4):
        write_image(tmp_path / "in" / f"img{i}.png", image(h=24, w=24, seed=i))
    for var, value in (("WORLD_SIZE", "2"), ("RANK", "0"), ("LOCAL_RANK", "0")):
        monkeypatch.setenv(var, value)
    for var in ("MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    one_line_error(denoise(tmp_path / "in", "-o", tmp_path / "out", "--checkpoint", weights),
                   "WORLD_SIZE=2 but MASTER_ADDR is not set", "unset WORLD_SIZE and RANK")
    assert not any((tmp_path / "out").rglob("*.png"))  # nothing denoised


def test_a_process_group_the_caller_set_up_needs_no_torchrun_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tcp:// or file:// initialised group (no MASTER_ADDR) gathers through that group, as before."""
    from types import SimpleNamespace

    from denoise_gan.inference.files import check_launch
    from denoise_gan.runtime import World

    for var in ("MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(UserError, match="MASTER_ADDR is not set"):
        check_launch(World(rank=0, size=2))
    group = SimpleNamespace(is_available=lambda: True, is_initialized=lambda: True)
    monkeypatch.setitem(sys.modules, "torch.distributed", group)
    check_launch(World(rank=0, size=2))


def test_denoise_keeps_the_photos_resolution(tmp_path: Path, weights: Path) -> None:
    from PIL import Image

    Image.fromarray(image()).save(tmp_path / "scan.png", dpi=(300, 300))
    assert denoise(tmp_path / "scan.png", "-o", tmp_path / "out", "-c", weights).exit_code == 0
    assert read_image(tmp_path / "out" / "scan.png").dpi == (300.0, 300.0)


@pytest.mark.parametrize("tile", ["²", "①", "٣"])  # digits to str.isdigit, not to int()
def test_a_tile_of_non_ascii_digits_is_one_line(tmp_path: Path, tile: str) -> None:
    """--tile ² printed a ValueError traceback (exit 1), and Denoiser.from_pretrained(tile="²") raised it."""
    from denoise_gan import Denoiser
    from denoise_gan.errors import UserError

    write_image(tmp_path / "a.png", image())
    one_line_error(denoise(tmp_path / "a.png", "-o", tmp_path / "out", "--tile", tile), "--tile must be a size")
    with pytest.raises(UserError, match="tile must be a size"):
        Denoiser.from_pretrained("default", tile=tile)


def test_a_done_file_with_a_note_is_listed_for_attention(tmp_path: Path, weights: Path) -> None:
    """A 16-bit photo written as an 8-bit JPEG is done, but the user should know what it lost."""
    write_image(tmp_path / "deep.png", image(dtype=np.uint16))
    write_image(tmp_path / "plain.png", image())
    result = denoise(tmp_path / "deep.png", tmp_path / "plain.png", "-o", tmp_path / "out", "--ext", "jpg",
                     "-c", weights)
    assert result.exit_code == 0, result.output
    assert "files needing attention" in result.stdout
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in result.stdout.splitlines()]
    noted = [cells for cells in rows if len(cells) == 3 and cells[1] == "done"]  # (a long path folds its cell)
    assert len(noted) == 1 and "16-bit written as 8-bit" in noted[0][2]  # the 8-bit photo lost nothing


def test_a_16_bit_photo_written_as_8_bit_webp_or_bmp_says_so(tmp_path: Path, weights: Path) -> None:
    write_image(tmp_path / "deep.png", image(dtype=np.uint16))
    for ext in ("webp", "bmp"):
        result = denoise(tmp_path / "deep.png", "-o", tmp_path / ext, "--ext", ext, "-c", weights)
        assert result.exit_code == 0 and "16-bit written as 8-bit" in result.stdout, result.output


def test_every_loss_an_output_format_makes_is_noted_and_nothing_else() -> None:
    """What each format cannot keep, for every channel count and depth: gray+alpha to JPEG lost its alpha without
    the note if the rule read colour+alpha only."""
    from denoise_gan.inference.files import _format_note

    eight, alpha = "16-bit written as 8-bit ({} holds 8 bits)", "alpha dropped (.jpg has none)"
    gray_webp = "gray written as colour (.webp holds no gray)"
    bmp_alpha = "alpha dropped (.bmp holds alpha only with colour)"
    expected = {(1, 8, ".webp"): [gray_webp], (2, 8, ".jpg"): [alpha], (2, 8, ".webp"): [gray_webp],
                (2, 8, ".bmp"): [bmp_alpha], (4, 8, ".jpg"): [alpha]}
    for channels in (1, 2, 3, 4):
        for suffix in (".jpg", ".webp", ".bmp"):
            expected[(channels, 16, suffix)] = [eight.format(suffix), *expected.get((channels, 8, suffix), [])]
    for channels in (1, 2, 3, 4):
        for bits, dtype in ((8, np.uint8), (16, np.uint16)):
            for suffix in (".png", ".jpg", ".tif", ".webp", ".bmp"):
                note = _format_note(np.zeros((2, 2, channels), dtype), suffix)
                assert note == "; ".join(expected.get((channels, bits, suffix), [])), (channels, bits, suffix)


def test_rank_0_gathers_every_ranks_files_and_times_the_run_by_its_slowest_rank(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The ranks run side by side: the run took as long as its slowest rank (summing them understated MP/s)."""
    import torch.distributed as dist

    from denoise_gan.inference.files import FileResult, Summary, gather_summary
    from denoise_gan.runtime import World

    mine = Summary((FileResult("b.png", "out/b.png", "done"),), 3.0, ("a note",))
    other = Summary((FileResult("a.png", "out/a.png", "done"),), 5.0, ("a note", "another"))

    def gather(local: Summary, parts: list, dst: int = 0, group: object = None) -> None:
        parts[:] = [local, other]

    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "new_group", lambda **_: None)
    monkeypatch.setattr(dist, "gather_object", gather)
    summary = gather_summary(mine, World(rank=0, size=2))
    assert summary.seconds == 5.0 and (summary.world_size, summary.rank) == (2, 0)
    assert [r.source for r in summary.results] == ["a.png", "b.png"] and summary.notes == ("a note", "another")


def test_jpeg_files_named_jfif_jpe_or_jif_are_read_and_written_as_jpeg(tmp_path: Path, weights: Path) -> None:
    """A folder of .jfif and .jpe files (a browser's and an old camera's JPEG names) was passed over without a word;
    a GIF named as an input was "not an image file extension"."""
    rng = np.random.default_rng(0)
    (tmp_path / "in").mkdir()
    for name in ("a.jfif", "b.jpe", "c.jif", "d.png"):
        pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / "in" / name, format="PNG" if name.endswith(".png") else "JPEG")
    result = denoise(tmp_path / "in", "-o", tmp_path / "out", "-c", weights)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.jfif", "b.jpe", "c.jif", "d.png"]
    assert Image.open(tmp_path / "out" / "a.jfif").format == "JPEG"
    Image.new("RGB", (8, 8)).save(tmp_path / "anim.gif")
    one_line_error(denoise(tmp_path / "anim.gif", "-o", tmp_path / "g", "-c", weights),
                   "anim.gif: a .gif image, a format this tool does not read; convert it to PNG or TIFF")



def test_notes_go_to_stderr_and_the_summary_alone_to_stdout(tmp_path: Path, weights: Path) -> None:
    """Notes were printed with the summary table on stdout, where `> results.txt` kept them and a pipe wrapped them
    at 80 columns; the other formats' note went to stderr."""
    write_image(tmp_path / "in" / "a.png", image())
    write_image(tmp_path / "in" / "sub" / "b.png", image())
    result = denoise(tmp_path / "in", "-o", tmp_path / "out", "-c", weights)
    assert result.exit_code == 0, result.output
    assert "note: not read: 1 subfolder(s) of the input" in result.stderr
    assert "note:" not in result.stdout and "denoise summary" in result.stdout
