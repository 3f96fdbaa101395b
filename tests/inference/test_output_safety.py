"""`denoise` as a hostile user drives it: two runs into one folder, read-only and odd outputs, symlinks,
in-place resumes, a noise model given as the denoiser, tiny tiles. Nothing is lost, nothing is silent."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from data_tools.image_encode import encode_problem
from data_tools.images import read_image, write_image
from denoise_gan.config import GeneratorConfig
from denoise_gan.errors import UserError
from denoise_gan.inference.file_plan import Job, OutputOptions, plan_jobs
from denoise_gan.inference.files import denoise_file, denoise_files
from denoise_gan.inference.infer_config import InferConfig
from denoise_gan.inference.tiling import TiledDenoiser
from denoise_gan.nets.registry import build_generator
from denoise_gan.nets.weights import load_generator, save_generator
from helpers import cli, failed_rows, noise_image, one_line_error

CPU = InferConfig(device="cpu")


def engine(weights: Path) -> TiledDenoiser:
    return TiledDenoiser(load_generator(weights)[0], CPU)


def test_a_file_written_meanwhile_by_another_run_is_not_replaced(tmp_path: Path) -> None:
    write_image(tmp_path / "in" / "a.png", noise_image(16, 16, seed=1))
    target = tmp_path / "out" / "a.png"
    theirs = noise_image(16, 16, seed=2)

    def other_run_finishes_first(pixels: np.ndarray, progress: object = None, **conditioning: object) -> np.ndarray:
        write_image(target, theirs)  # the other run's rename lands while this one is denoising
        return pixels

    result = denoise_file(Job(tmp_path / "in" / "a.png", target), other_run_finishes_first, OutputOptions())
    assert result.status == "failed" and "another run" in result.message
    np.testing.assert_array_equal(read_image(target).pixels, theirs)  # the first result is kept
    assert [p.name for p in target.parent.iterdir()] == ["a.png"]  # and no temp file is left
    # asked to leave existing outputs, the run leaves this one too: skipped, not failed (exit 1 for a finished file)
    target.unlink()
    result = denoise_file(Job(tmp_path / "in" / "a.png", target), other_run_finishes_first,
                          OutputOptions(skip_existing=True))
    assert result.status == "skipped" and "written meanwhile by another run" in result.message
    np.testing.assert_array_equal(read_image(target).pixels, theirs)


def test_a_format_limit_fails_before_the_image_is_denoised(tmp_path: Path) -> None:
    write_image(tmp_path / "wide.png", np.zeros((2, 16400, 3), np.uint8))

    def never(pixels: np.ndarray, progress: object = None, **conditioning: object) -> np.ndarray:
        raise AssertionError("denoised although the output format cannot hold the result")

    result = denoise_file(Job(tmp_path / "wide.png", tmp_path / "out" / "wide.webp"), never, OutputOptions())
    assert result.status == "failed" and "too large for WEBP" in result.message
    assert "write it as .png or .tif" in result.message  # --ext is refused where -o names the file: not only it


def test_a_jpeg_wider_than_libjpeg_writes_fails_before_the_image_is_denoised(tmp_path: Path) -> None:
    """65501 px passed the check (the format's 65535) and failed after the work, with libjpeg's own line on the
    terminal and Pillow's "broken data stream" as the reason: libjpeg writes at most 65500."""
    assert encode_problem((2, 65500, 3), ".jpg") is None
    assert "too large for JPEG (at most 65500 px a side)" in encode_problem((2, 65501, 3), ".jpg")


def test_a_read_only_output_folder_fails_before_any_file_is_denoised(tmp_path: Path, weights: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(2):
        write_image(tmp_path / "in" / f"{i}.png", noise_image(16, 16, seed=i))
    out = tmp_path / "out"
    real_mkstemp = tempfile.mkstemp

    def read_only(*args: object, **kwargs: object) -> tuple[int, str]:  # as root, chmod cannot make one
        if Path(str(kwargs.get("dir"))).resolve() == out.resolve():
            raise PermissionError(13, "Permission denied")
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr("data_tools.atomic_files.tempfile.mkstemp", read_only)
    monkeypatch.setattr("denoise_gan.inference.files.read_image",
                        lambda path: pytest.fail("an input was read before the output folder was checked"))
    result = cli("denoise", tmp_path / "in", "-o", out, "-c", weights, "--device", "cpu")
    one_line_error(result, str(out), "Permission denied")


def test_a_symlink_to_another_input_is_denoised_under_its_own_name(tmp_path: Path, weights: Path) -> None:
    src = tmp_path / "in"
    write_image(src / "a.png", noise_image(16, 16, seed=1))
    os.symlink("a.png", src / "link.png")
    summary = denoise_files([src], tmp_path / "out", engine(weights), OutputOptions())
    assert sorted(Path(r.output).name for r in summary.results if r.status == "done") == ["a.png", "link.png"]


def test_an_in_place_suffix_run_resumes_with_skip_existing(tmp_path: Path, weights: Path) -> None:
    src = tmp_path / "photos"
    for i in range(3):
        write_image(src / f"p{i}.png", noise_image(16, 16, seed=i))
    opts = OutputOptions(suffix="_dn")
    first = denoise_files([src / "p0.png"], src, engine(weights), opts)  # a run killed after one file
    assert [r.status for r in first.results] == ["done"]
    rest = denoise_files([src], src, engine(weights), OutputOptions(suffix="_dn", skip_existing=True))
    assert sorted((Path(r.source).name, r.status) for r in rest.results) == [
        ("p0.png", "skipped"), ("p1.png", "done"), ("p2.png", "done")]
    assert sorted(p.name for p in src.iterdir()) == ["p0.png", "p0_dn.png", "p1.png", "p1_dn.png", "p2.png",
                                                    "p2_dn.png"]


def test_an_in_place_run_to_another_format_resumes_with_skip_existing(tmp_path: Path, weights: Path) -> None:
    """`denoise photos -o photos --ext jpg`, interrupted, said --skip-existing finishes it; the rerun refused
    "photos/p0.jpg -> photos/p0.jpg would overwrite an input file" and denoised nothing."""
    src = tmp_path / "photos"
    for i in range(3):
        write_image(src / f"p{i}.png", noise_image(16, 16, seed=i))
    opts = OutputOptions(ext="jpg")
    denoise_files([src / "p0.png"], src, engine(weights), opts)  # a run killed after one file
    rest = denoise_files([src], src, engine(weights), OutputOptions(ext="jpg", skip_existing=True))
    assert sorted((Path(r.source).name, r.status) for r in rest.results) == [
        ("p0.png", "skipped"), ("p1.png", "done"), ("p2.png", "done")]
    with pytest.raises(UserError, match="under --overwrite an earlier output counts as one"):
        denoise_files([src], src, engine(weights), OutputOptions(ext="jpg", overwrite=True))
    with pytest.raises(UserError, match="--skip-existing finishes the run"):  # a plain rerun says how to finish
        denoise_files([src], src, engine(weights), OutputOptions(ext="jpg"))


def test_an_in_place_suffix_run_redone_in_another_format_leaves_the_earlier_outputs_out(tmp_path: Path,
                                                                                     weights: Path) -> None:
    """`denoise photos -o photos --suffix _dn`, then the same to JPEG (--ext jpg): p0_dn.png, the first run's
    output, was taken as a photo and denoised a second time into p0_dn_dn.jpg, without a word."""
    src = tmp_path / "photos"
    write_image(src / "p0.png", noise_image(16, 16, seed=0))
    denoise_files([src], src, engine(weights), OutputOptions(suffix="_dn"))
    again = denoise_files([src], src, engine(weights), OutputOptions(suffix="_dn", ext="jpg"))
    assert [(Path(r.source).name, r.status) for r in again.results] == [("p0.png", "done")]
    assert sorted(p.name for p in src.iterdir()) == ["p0.png", "p0_dn.jpg", "p0_dn.png"]
    assert any("p0_dn.png" in n and "taken for an earlier output" in n for n in again.notes), again.notes


def test_photos_named_alike_in_two_formats_are_never_dropped_without_a_word(tmp_path: Path, weights: Path) -> None:
    """IMG_1.jpg and IMG_1.png, two photos, in place with --ext png: IMG_1.png must not vanish as an "earlier
    output"; without --skip-existing the run is refused, with it IMG_1.png is named as left out."""
    src = tmp_path / "photos"
    write_image(src / "IMG_1.jpg", noise_image(16, 16, seed=1))
    write_image(src / "IMG_1.png", noise_image(16, 16, seed=2))
    with pytest.raises(UserError, match="would overwrite an input file"):
        denoise_files([src], src, engine(weights), OutputOptions(ext="png"))
    summary = denoise_files([src], src, engine(weights), OutputOptions(ext="png", skip_existing=True))
    assert [(Path(r.source).name, r.status) for r in summary.results] == [("IMG_1.jpg", "skipped")]
    assert any("IMG_1.png" in n and "taken for an earlier output" in n for n in summary.notes), summary.notes


def test_temp_files_of_a_killed_run_are_cleaned_and_a_live_runs_are_kept(tmp_path: Path, weights: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    dead = out / ".a.png.999999999-abc123de.part"  # no such process
    live = out / f".b.png.{os.getppid()}-abc123de.part"  # a writer that is still running
    dead.write_bytes(b"half")
    live.write_bytes(b"half")
    write_image(tmp_path / "in" / "a.png", noise_image(16, 16))
    denoise_files([tmp_path / "in"], out, engine(weights), OutputOptions())
    assert not dead.exists() and live.exists()


def test_a_users_own_part_files_are_never_deleted(tmp_path: Path, weights: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    old = out / ".movie.mkv.part"  # a download of the user's, days old: not a temp file of this package
    like_ours = out / ".backup.999999999-x.part"  # a dead pid, but not the temp name this package writes
    for path in (old, like_ours):
        path.write_bytes(b"keep")
        os.utime(path, (1, 1))
    write_image(tmp_path / "in" / "a.png", noise_image(16, 16))
    denoise_files([tmp_path / "in"], out, engine(weights), OutputOptions())
    assert old.read_bytes() == like_ours.read_bytes() == b"keep"
    empty_but_for_a_part = tmp_path / "set"
    empty_but_for_a_part.mkdir()
    (empty_but_for_a_part / ".notes.part").write_bytes(b"keep")
    one_line_error(cli("synth", tmp_path / "in", "-o", empty_but_for_a_part, "--noise", "gaussian:sigma=5"),
                   "not empty", ".notes.part")
    assert (empty_but_for_a_part / ".notes.part").read_bytes() == b"keep"


def test_names_of_up_to_255_bytes_are_written(tmp_path: Path, weights: Path) -> None:
    name = "n" * 251 + ".png"  # 255 bytes: the temp name must not add to it
    write_image(tmp_path / "in" / name, noise_image(16, 16))
    summary = denoise_files([tmp_path / "in"], tmp_path / "out", engine(weights), OutputOptions())
    assert [r.status for r in summary.results] == ["done"], summary.results
    assert (tmp_path / "out" / name).is_file()


def test_a_noise_model_is_refused_as_the_denoiser(tmp_path: Path) -> None:
    cfg = GeneratorConfig(arch="noise", width=4, depth=1)
    f_path = tmp_path / "F.safetensors"
    save_generator(f_path, build_generator(cfg), cfg, {"role": "F clean->noisy"})
    write_image(tmp_path / "in" / "a.png", noise_image(16, 16))
    result = cli("denoise", tmp_path / "in", "-o", tmp_path / "out", "-c", f_path, "--device", "cpu")
    one_line_error(result, "F.safetensors", "noise model")
    assert not (tmp_path / "out" / "a.png").exists()


@pytest.mark.parametrize("tile", ["1", "7", "31"])
def test_tiles_below_a_sane_minimum_are_refused(tmp_path: Path, weights: Path, tile: str) -> None:
    write_image(tmp_path / "in" / "a.png", noise_image(16, 16))
    result = cli("denoise", tmp_path / "in", "-o", tmp_path / "out", "-c", weights, "--tile", tile)
    one_line_error(result, "--tile", "too small")


def test_float_input_says_the_output_is_16_bit(tmp_path: Path, weights: Path) -> None:
    import tifffile

    tifffile.imwrite(tmp_path / "f.tif", np.full((16, 16, 3), 0.5, np.float32), photometric="rgb")
    result = cli("denoise", tmp_path / "f.tif", "-o", tmp_path / "out", "-c", weights, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "16-bit" in result.stdout
    assert not failed_rows(result.stdout)


def test_a_photo_named_like_an_output_is_never_overwritten(tmp_path: Path, weights: Path) -> None:
    """Under --overwrite a file bearing another input's output name is an input: the run is refused before
    anything is written, where it was left out and then replaced. Without it, it is left out as an earlier
    output (a shell glob finishes an in-place batch as a folder does), and nothing writes over it."""
    src = tmp_path / "photos"
    write_image(src / "a.png", noise_image(16, 16, seed=1))
    write_image(src / "a_dn.png", noise_image(16, 16, seed=2))  # the user's own photo, or an earlier output
    before = (src / "a_dn.png").read_bytes()
    for inputs in ([src], [src / "a.png", src / "a_dn.png"]):
        with pytest.raises(UserError, match="would overwrite an input file .under --overwrite"):
            denoise_files(inputs, src, engine(weights), OutputOptions(suffix="_dn", overwrite=True))
        for opts in (OutputOptions(suffix="_dn"), OutputOptions(suffix="_dn", skip_existing=True)):
            summary = denoise_files(inputs, src, engine(weights), opts)
            assert [(Path(r.source).name, r.status) for r in summary.results] == [
                ("a.png", "skipped" if opts.skip_existing else "failed")]
    assert (src / "a_dn.png").read_bytes() == before and sorted(p.name for p in src.iterdir()) == ["a.png", "a_dn.png"]


@pytest.mark.parametrize("flag", ["skip_existing", "overwrite", None])
def test_a_folder_pipe_or_dead_link_at_the_output_name_is_a_failure(tmp_path: Path, weights: Path,
                                                                      flag: str | None) -> None:
    """--skip-existing reported "skipped (output exists)" and exit 0 for a folder at the output's name."""
    write_image(tmp_path / "in" / "a.png", noise_image(16, 16))
    (tmp_path / "out" / "a.png").mkdir(parents=True)
    opts = OutputOptions(**({flag: True} if flag else {}))
    summary = denoise_files([tmp_path / "in"], tmp_path / "out", engine(weights), opts)
    assert [(r.status, r.message) for r in summary.results] == [
        ("failed", "a folder is in the way of the output; move it or choose another -o")]
    if hasattr(os, "mkfifo"):  # a pipe at the output's name was "skipped (output exists)" too
        (tmp_path / "out" / "a.png").rmdir()
        os.mkfifo(tmp_path / "out" / "a.png")
        again = denoise_files([tmp_path / "in"], tmp_path / "out", engine(weights), opts)
        assert [r.message for r in again.results] == [
            "a device or pipe is in the way of the output; move it or choose another -o"]
    in_the_way = tmp_path / "out" / "a.png"
    in_the_way.rmdir() if in_the_way.is_dir() else in_the_way.unlink()
    in_the_way.symlink_to(tmp_path / "gone.png")  # was denoised, then blamed on another run
    again = denoise_files([tmp_path / "in"], tmp_path / "out", engine(weights), opts)
    assert [r.message for r in again.results] == [
        "a link to nothing is in the way of the output; move it or choose another -o"]


def test_photos_left_out_in_an_output_folder_inside_the_input_are_named(tmp_path: Path, weights: Path) -> None:
    """`denoise tree -o tree/sub --recursive` denoised 1 of 3 photos without a word about the two in tree/sub."""
    tree = tmp_path / "tree"
    for name in ("a.png", "sub/b.png", "sub/deeper/c.png"):
        write_image(tree / name, noise_image(16, 16))
    summary = denoise_files([tree], tree / "sub", engine(weights), OutputOptions(recursive=True))
    assert [Path(r.source).name for r in summary.results] == ["a.png"]
    assert any(n.startswith("left out 2 image(s) (") and "b.png and 1 more): in the output folder" in n
               for n in summary.notes), summary.notes
    again = denoise_files([tree], tree / "sub", engine(weights), OutputOptions(recursive=True, skip_existing=True))
    assert any("left out 2 image(s)" in n for n in again.notes)  # its own output a.png is not counted
    elsewhere = denoise_files([tree / "sub"], tmp_path / "out", engine(weights), OutputOptions(recursive=True))
    assert not any("left out" in n for n in elsewhere.notes)


def test_overwrite_never_replaces_a_photo_found_in_an_output_folder_inside_the_input(tmp_path: Path,
                                                                                      weights: Path) -> None:
    """`denoise photos -o photos/sub -r --overwrite` replaced the user's photos/sub/a.png with photos/a.png
    denoised. An -o inside the input that holds an image which is no output of the run is a folder of photos:
    nothing there is written over. One that holds only this run's outputs is an earlier run's, which
    --overwrite redoes."""
    photos = tmp_path / "photos"
    write_image(photos / "a.png", noise_image(16, 16, seed=1))
    write_image(photos / "sub" / "a.png", noise_image(16, 16, seed=2))
    write_image(photos / "sub" / "b.png", noise_image(16, 16, seed=3))  # no input's output: a photo
    mine = (photos / "sub" / "a.png").read_bytes()
    with pytest.raises(UserError, match="would overwrite an image found under the input: .* may hold photos"):
        denoise_files([photos], photos / "sub", engine(weights), OutputOptions(recursive=True, overwrite=True))
    from denoise_gan.inference import file_plan

    shots = tmp_path / "Shots"  # on a disk that folds case too (outputs keyed by folded names)
    write_image(shots / "a.png", noise_image(16, 16, seed=1))
    write_image(shots / "Sub" / "a.png", noise_image(16, 16, seed=2))
    write_image(shots / "Sub" / "b.png", noise_image(16, 16, seed=3))
    with pytest.MonkeyPatch.context() as folding:
        folding.setattr(file_plan, "folds_case", lambda folder: True)
        with pytest.raises(UserError, match="would overwrite an image found under the input"):
            denoise_files([shots], shots / "Sub", engine(weights), OutputOptions(recursive=True, overwrite=True))
    assert (photos / "sub" / "a.png").read_bytes() == mine
    kept = denoise_files([photos], photos / "sub", engine(weights), OutputOptions(recursive=True, skip_existing=True))
    assert [r.status for r in kept.results] == ["skipped"] and (photos / "sub" / "a.png").read_bytes() == mine
    for _ in range(2):  # a results folder of this run's own outputs: the rerun under --overwrite redoes them
        redo = denoise_files([photos], photos / "denoised", engine(weights),
                             OutputOptions(recursive=True, overwrite=True))
        assert sorted(r.status for r in redo.results) == ["done"] * 3


def test_a_path_through_a_link_and_up_names_the_file_the_system_opens(tmp_path: Path, weights: Path) -> None:
    """`dd/a.png dd/lnk/../a.png`, with lnk a link to dd/real/sub, named two files (the second is dd/real/a.png),
    but `..` was taken off by the text: one was denoised and the other dropped without a word."""
    write_image(tmp_path / "a.png", noise_image(16, 16, seed=1))
    write_image(tmp_path / "real" / "a.png", noise_image(16, 16, seed=2))
    (tmp_path / "real" / "sub").mkdir()
    (tmp_path / "lnk").symlink_to(tmp_path / "real" / "sub", target_is_directory=True)
    with pytest.raises(UserError, match="would both be written to"):
        denoise_files([tmp_path / "a.png", tmp_path / "lnk" / ".." / "a.png"], tmp_path / "out", engine(weights),
                      OutputOptions())
    twice = denoise_files([tmp_path / "real" / "a.png", tmp_path / "lnk" / ".." / "a.png", tmp_path / "real"],
                          tmp_path / "o2", engine(weights), OutputOptions())
    assert [r.status for r in twice.results] == ["done"]  # one file, however it is named


def test_a_broken_link_sharing_a_photo_s_output_is_refused_whatever_the_order(tmp_path: Path,
                                                                               weights: Path) -> None:
    """`a.png` beside a broken link `a.tif`, with --ext png: the failing link took a.png's output, and a.png was
    neither denoised nor named (exit 1 for the link alone). Named `a.jpg`, sorting first, the same pair was
    refused. A file that will fail still claims its output, so both orders are refused."""
    photos = tmp_path / "in"
    write_image(photos / "a.png", noise_image(16, 16))
    (tmp_path / "linked").symlink_to(tmp_path / "real_out", target_is_directory=True)  # -o through a link too
    (tmp_path / "real_out").mkdir()
    for link in ("a.tif", "a.jpg"):
        (photos / link).symlink_to(tmp_path / "gone" / link)
        for out in (tmp_path / "out", tmp_path / "linked"):
            with pytest.raises(UserError, match="would both be written to"):
                denoise_files([photos], out, engine(weights), OutputOptions(ext="png"))
        (photos / link).unlink()
    assert not (tmp_path / "out").exists() and not any((tmp_path / "real_out").iterdir())


def test_two_files_that_will_fail_on_one_output_name_each_fail_alone(tmp_path: Path, weights: Path) -> None:
    """Two broken links mapped to one output (--ext png) are two failures, named both, and the batch goes on with
    the other photos (exit 1, not a refusal of the whole batch)."""
    photos = tmp_path / "in"
    write_image(photos / "b.png", noise_image(16, 16))
    for link in ("a.tif", "a.jpg"):
        (photos / link).symlink_to(tmp_path / "gone" / link)
    done = denoise_files([photos], tmp_path / "out", engine(weights), OutputOptions(ext="png"))
    assert sorted((Path(r.source).name, r.status) for r in done.results) == [("a.jpg", "failed"), ("a.tif", "failed"),
                                                                        ("b.png", "done")]


def test_subfolders_left_unread_without_recursive_are_named(tmp_path: Path, weights: Path) -> None:
    """`denoise tree -o out` said "denoising 1 file(s)" and nothing of the photos in tree's subfolders. The note
    names the subfolders, once each, never the output folder, a hidden one, a link or one that is an input too."""
    tree = tmp_path / "tree"
    for name in ("a.png", "sub/b.png", "sub/deeper/c.png", "other/d.png", "out/a.png", ".hidden/e.png"):
        write_image(tree / name, noise_image(16, 16))
    (tree / "link").symlink_to(tree / "sub")
    summary = denoise_files([tree, f"{tree}/"], tree / "out", engine(weights), OutputOptions(overwrite=True))
    assert [Path(r.source).name for r in summary.results] == ["a.png"]
    assert [n for n in summary.notes if "subfolder" in n] == [
        f"not read: 2 subfolder(s) of the input ({tree / 'other'} and 1 more); --recursive denoises the photos in "
        "them too"]
    both = denoise_files([tree, tree / "sub"], tmp_path / "o2", engine(weights), OutputOptions())
    assert [Path(r.source).name for r in both.results] == ["a.png", "b.png"]
    assert [n for n in both.notes if "subfolder" in n] == [
        f"not read: 3 subfolder(s) of the input ({tree / 'other'} and 2 more); --recursive denoises the photos in "
        "them too"]  # other, out (not the output here) and sub/deeper; not sub, an input itself
    recursive = denoise_files([tree], tmp_path / "elsewhere", engine(weights), OutputOptions(recursive=True))
    assert len(recursive.results) == 5 and not any("subfolder" in n for n in recursive.notes)


def test_only_subfolders_with_photos_are_named_and_linked_folders_are(tmp_path: Path, weights: Path) -> None:
    """The note counted a subfolder holding no photo, or only the output folder; a linked folder of photos was
    skipped without a word, with --recursive too (links to folders are never followed)."""
    photos, elsewhere = tmp_path / "photos", tmp_path / "elsewhere"
    for name in ("a.png", "notes/readme.txt", "results/run1/a.png", "mac/._a.png"):  # ._a.png: macOS metadata
        path = photos / name
        if path.suffix == ".png" and not path.name.startswith("."):
            write_image(path, noise_image(16, 16))
        else:
            path.parent.mkdir(parents=True)
            path.write_text("no photo here")
    write_image(elsewhere / "e.png", noise_image(16, 16))
    (photos / "linked").symlink_to(elsewhere)
    for recursive in (False, True):
        summary = denoise_files([photos], photos / "results" / "run1", engine(weights),
                                OutputOptions(recursive=recursive, overwrite=True))
        assert [Path(r.source).name for r in summary.results] == ["a.png"]
        # notes/ holds no photo, mac/ only a hidden file, results/ only the output
        assert not any("subfolder(s) of the input" in n for n in summary.notes), summary.notes
        assert [n for n in summary.notes if "linked" in n] == [
            f"not read: 1 linked folder(s) ({photos / 'linked'}), since links to folders are never followed; give "
            "one as an input to denoise its photos"]
    given = denoise_files([photos, photos / "linked"], tmp_path / "out", engine(weights), OutputOptions())
    assert not any("linked folder" in n for n in given.notes)  # an input of its own


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_odd_inputs_are_named_for_what_they_are(tmp_path: Path, weights: Path) -> None:
    """A pipe given as input was "no such file or folder"; an empty input list "no images found in  (...)"."""
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(UserError, match="pipe.png: not a regular file or folder"):
        denoise_files([tmp_path / "pipe.png"], tmp_path / "out", engine(weights))
    with pytest.raises(UserError, match="^no input files or folders given$"):
        denoise_files([], tmp_path / "out", engine(weights))


def test_hidden_files_and_folders_inside_a_folder_are_skipped_alike(tmp_path: Path, weights: Path) -> None:
    """A hidden file was skipped but a hidden folder's photos were denoised with --recursive."""
    for name in ("a.png", ".b.png", ".thumbnails/c.png", "sub/d.png"):
        write_image(tmp_path / "in" / name, noise_image(16, 16))
    summary = denoise_files([tmp_path / "in"], tmp_path / "out", engine(weights), OutputOptions(recursive=True))
    assert sorted(Path(r.source).name for r in summary.results) == ["a.png", "d.png"]
    named = denoise_files([tmp_path / "in" / ".b.png"], tmp_path / "one", engine(weights))  # named: taken
    assert [r.status for r in named.results] == ["done"]


def test_a_folder_of_hidden_images_alone_names_them_in_its_refusal(tmp_path: Path, weights: Path) -> None:
    """"no images found in hid" did not say that the folder's one photo was passed over for its hidden name."""
    write_image(tmp_path / "hid" / ".b.png", noise_image(16, 16))
    write_image(tmp_path / "hid" / ".thumbnails" / "c.png", noise_image(16, 16))
    with pytest.raises(UserError, match=r"no images found in .*hid; 1 image\(s\) with a hidden name passed over "
                                        r"\(.*\.b\.png\): give one as an input"):
        denoise_files([tmp_path / "hid"], tmp_path / "out", engine(weights))
    with pytest.raises(UserError, match=r"; 2 image\(s\) with a hidden name passed over"):
        denoise_files([tmp_path / "hid"], tmp_path / "out", engine(weights), OutputOptions(recursive=True))


def test_a_linked_output_folder_and_overlapping_inputs_are_read_as_they_are(tmp_path: Path, weights: Path) -> None:
    """-o a link to the input folder: earlier outputs were not recognised, and the refusal advised the very
    --skip-existing given; overlapping input folders counted each image left in the output folder twice."""
    src = tmp_path / "photos"
    for i in range(2):
        write_image(src / f"p{i}.png", noise_image(16, 16, seed=i))
    os.symlink(src, tmp_path / "link")
    denoise_files([src / "p0.png"], tmp_path / "link", engine(weights), OutputOptions(suffix="_dn"))
    rest = denoise_files([src], tmp_path / "link", engine(weights), OutputOptions(suffix="_dn", skip_existing=True))
    assert sorted((Path(r.source).name, r.status) for r in rest.results) == [("p0.png", "skipped"), ("p1.png", "done")]
    tree = tmp_path / "tree"
    write_image(tree / "sub" / "out" / "x.png", noise_image(16, 16))
    write_image(tree / "a.png", noise_image(16, 16))
    summary = denoise_files([tree, tree / "sub"], tree / "sub" / "out", engine(weights), OutputOptions(recursive=True))
    assert any(n.startswith("left out 1 image(s)") for n in summary.notes), summary.notes


def test_odd_out_dir_suffix_and_console_are_one_line_before_any_folder(tmp_path: Path, weights: Path) -> None:
    """A NUL in out_dir or the suffix raised "embedded null byte" from deep in the plan; a console that is not
    a rich Console failed with an AttributeError after the output folder was made."""
    import sys

    write_image(tmp_path / "in" / "a.png", noise_image(16, 16))
    with pytest.raises(UserError, match="holds a NUL character"):
        denoise_files([tmp_path / "in"], f"{tmp_path}/o\0ut", engine(weights))
    with pytest.raises(UserError, match="holds a NUL character"):
        OutputOptions(suffix="_dn\0")
    for control in ("a\nb", "_dn\t"):  # a quoting slip: names that break the next script's `ls | while read`
        with pytest.raises(UserError, match="holds a control character"):
            OutputOptions(suffix=control)
    with pytest.raises(UserError, match="console must be a rich Console"):
        denoise_files([tmp_path / "in"], tmp_path / "out", engine(weights), console=sys.stderr)  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()


def test_images_in_formats_not_read_are_named_not_passed_over(tmp_path: Path, weights: Path) -> None:
    """A folder's GIFs (or HEIC, RAW files) were left out without a word, and a folder of them alone was "no
    images found ... (use --recursive for subfolders)"."""
    from PIL import Image

    photos = tmp_path / "photos"
    write_image(photos / "a.png", noise_image(16, 16))
    for name in ("b.gif", "sub/c.gif"):
        (photos / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(noise_image(16, 16)).save(photos / name)
    (photos / "d.CR2").write_bytes(b"raw")
    summary = denoise_files([photos], tmp_path / "out", engine(weights), OutputOptions())
    assert [Path(r.source).name for r in summary.results] == ["a.png"]
    said = [n for n in summary.notes if "format" in n]
    assert len(said) == 1 and said[0].startswith("not read: 2 image(s) in a format this tool does not read ("
                                                 f"{photos / 'b.gif'} and 1 more); convert them to PNG or TIFF"), said
    recursive = denoise_files([photos], tmp_path / "out2", engine(weights), OutputOptions(recursive=True))
    assert [n for n in recursive.notes if "format" in n][0].startswith("not read: 3 image(s)")
    assert "HEIC" not in said[0]
    (photos / "IMG_0002.HEIC").write_bytes(b"heic")  # a phone's default format: the note says how to convert it
    heic = denoise_files([photos], tmp_path / "out4", engine(weights), OutputOptions())
    note = next(n for n in heic.notes if "format" in n)
    assert "HEIC: heif-convert from libheif, or set the phone to save JPEG" in note
    (photos / "IMG_0002.HEIC").unlink()
    (photos / "a.png").unlink()
    one_line_error(cli("denoise", photos, "-o", tmp_path / "out3", "-c", weights),
                   f"no images found in {photos}; not read: 2 image(s) in a format")


def test_a_folder_whose_photos_lie_only_behind_a_link_or_in_subfolders_says_so(tmp_path: Path, weights: Path) -> None:
    """It said "no images found (use --recursive for subfolders)", and with --recursive gave no reason at all."""
    write_image(tmp_path / "real" / "a.png", noise_image(16, 16))
    (tmp_path / "only_link").mkdir()
    (tmp_path / "only_link" / "photos").symlink_to(tmp_path / "real")
    for flags in ((), ("--recursive",)):
        one_line_error(cli("denoise", tmp_path / "only_link", "-o", tmp_path / "out", "-c", weights, *flags),
                       "not read: 1 linked folder(s) (")
    write_image(tmp_path / "nested" / "sub" / "a.png", noise_image(16, 16))
    one_line_error(cli("denoise", tmp_path / "nested", "-o", tmp_path / "out", "-c", weights),
                   "not read: 1 subfolder(s) of the input (")


def test_entries_named_as_images_that_are_no_file_are_named_not_passed_over(tmp_path: Path, weights: Path) -> None:
    """A pipe, and a link to /dev/zero, named *.png in a folder were passed over without a word."""
    import os

    photos = tmp_path / "photos"
    write_image(photos / "a.png", noise_image(16, 16))
    os.mkfifo(photos / "pipe.png")
    (photos / "zero.png").symlink_to("/dev/zero")
    summary = denoise_files([photos], tmp_path / "out", engine(weights), OutputOptions())
    assert [Path(r.source).name for r in summary.results] == ["a.png"]
    said = [n for n in summary.notes if "no regular file" in n]
    assert said == [f"not read: 2 entry(ies) named as images that are no regular file (a pipe, socket or device: "
                    f"{photos / 'pipe.png'} and 1 more)"], summary.notes


def test_an_output_is_never_written_through_a_linked_folder_inside_the_output(tmp_path: Path, weights: Path) -> None:
    """--recursive mirrored photos/sub/b.png to out/sub/b.png where out/sub was a link to another folder: with
    --overwrite it replaced the user's file of that name there. That file fails, saying why; the rest is done."""
    photos, out, elsewhere = tmp_path / "photos", tmp_path / "out", tmp_path / "elsewhere"
    write_image(photos / "a.png", noise_image(16, 16, seed=1))
    write_image(photos / "sub" / "b.png", noise_image(16, 16, seed=2))
    write_image(elsewhere / "b.png", noise_image(16, 16, seed=3))
    mine = (elsewhere / "b.png").read_bytes()
    out.mkdir()
    (out / "sub").symlink_to(elsewhere)
    for opts in (OutputOptions(recursive=True), OutputOptions(recursive=True, overwrite=True)):
        summary = denoise_files([photos], out, engine(weights), opts)
        status = {Path(r.source).name: (r.status, r.message) for r in summary.results}
        assert status["a.png"][0] == "done" and status["b.png"][0] == "failed", status
        assert f"{out / 'sub'} is a link to a folder" in status["b.png"][1]
        assert (elsewhere / "b.png").read_bytes() == mine and sorted(p.name for p in elsewhere.iterdir()) == ["b.png"]
    linked_out = tmp_path / "linked_out"  # -o itself a link (a folder on another disk) is the user's choice
    linked_out.symlink_to(tmp_path / "real_out", target_is_directory=True)
    (tmp_path / "real_out").mkdir()
    summary = denoise_files([photos], linked_out, engine(weights), OutputOptions(recursive=True))
    assert [r.status for r in summary.results] == ["done", "done"]
    assert (tmp_path / "real_out" / "sub" / "b.png").is_file()


def test_denoising_a_half_of_a_synth_set_cut_short_says_so(tmp_path: Path) -> None:
    """`evaluate` and `benchmark` refuse such a set; `denoise set/noisy` denoised its blend of two noises (after a
    cut-short --overwrite) without a word."""
    import json

    from data_tools.synth import synth
    from denoise_gan.inference.file_plan import plan_jobs

    write_image(tmp_path / "photos" / "a.png", noise_image(24, 24))
    synth(tmp_path / "photos", tmp_path / "set", "gaussian:sigma=10", 1)
    assert plan_jobs([tmp_path / "set" / "noisy"], tmp_path / "out", OutputOptions()).notes == ()
    manifest = json.loads((tmp_path / "set" / "manifest.json").read_text())
    (tmp_path / "set" / "manifest.json").write_text(json.dumps({**manifest, "complete": False}))  # as cut short
    notes = plan_jobs([tmp_path / "set" / "noisy"], tmp_path / "out", OutputOptions()).notes
    assert notes == (f"{tmp_path / 'set'}: an incomplete set (its synth run was cut short); run the same synth command "
                     "again to finish it (this folder is one of its halves)",)
    from data_tools.folder_lock import holding_folder

    with holding_folder(tmp_path / "set", "set"):  # a synth writing it now: no "run it again", which it would refuse
        notes = plan_jobs([tmp_path / "set" / "noisy"], tmp_path / "out", OutputOptions()).notes
    assert notes == (f"{tmp_path / 'set'}: a synth is writing this set now, so this folder (one of its halves) holds "
                     "only the images made so far; once it ends, denoise it again with --overwrite",)


def test_a_mistyped_output_file_name_is_said_to_be_taken_as_a_folder(tmp_path: Path, weights: Path) -> None:
    """-o q.jpeg2 for one photo quietly made a folder of that name."""
    write_image(tmp_path / "a.png", noise_image(16, 16))
    summary = denoise_files([tmp_path / "a.png"], tmp_path / "q.jpeg2", engine(weights), OutputOptions())
    assert (tmp_path / "q.jpeg2" / "a.png").is_file()
    assert any(note.startswith(f"-o {tmp_path / 'q.jpeg2'} is taken as a new folder (.jpeg2 is no image format")
               for note in summary.notes), summary.notes
    again = denoise_files([tmp_path / "a.png"], tmp_path / "q.jpeg2", engine(weights), OutputOptions(overwrite=True))
    assert not any("taken as a new folder" in note for note in again.notes)  # the folder is there now
    plain = denoise_files([tmp_path / "a.png"], tmp_path / "out", engine(weights), OutputOptions())
    assert not any("taken as a new folder" in note for note in plain.notes)


def test_a_dumb_terminal_gets_a_plain_line_per_file(tmp_path: Path, weights: Path) -> None:
    """On TERM=dumb rich draws no bar, and the plain lines were for logs alone: the batch showed no progress."""
    from rich.console import Console

    write_image(tmp_path / "in" / "a.png", noise_image(16, 16))
    dumb = Console(file=io.StringIO(), force_terminal=True, _environ={"TERM": "dumb"}, width=200)
    denoise_files([tmp_path / "in"], tmp_path / "out", engine(weights), OutputOptions(), console=dumb)
    assert "[1/1] done:" in dumb.file.getvalue()


def test_names_one_file_apart_only_by_case_collide_where_the_disk_folds_case(tmp_path: Path, weights: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """card1/IMG_1.JPG and card2/img_1.jpg into one -o: on a disk that does not tell case apart (macOS, Windows,
    exFAT) the second failed as "output exists", was skipped with --skip-existing, or replaced the first with
    --overwrite. Refused before any work there, as any two inputs with one output are; taken where case counts."""
    from denoise_gan.inference import file_plan

    write_image(tmp_path / "card1" / "IMG_1.png", noise_image(16, 16, seed=1))
    write_image(tmp_path / "card2" / "img_1.png", noise_image(16, 16, seed=2))
    inputs = [tmp_path / "card1" / "IMG_1.png", tmp_path / "card2" / "img_1.png"]
    assert not file_plan.folds_case(tmp_path)  # this disk tells case apart
    assert len(plan_jobs(inputs, tmp_path / "out", OutputOptions()).jobs) == 2
    write_image(tmp_path / "ph" / "x.PNG", noise_image(16, 16, seed=4))  # two photos here: x.png may be an
    write_image(tmp_path / "ph" / "x.png", noise_image(16, 16, seed=5))  # earlier output of x.PNG, so it is said
    with pytest.raises(UserError, match="x.png would overwrite an input file \\(under --overwrite an earlier"):
        plan_jobs([tmp_path / "ph"], tmp_path / "ph", OutputOptions(overwrite=True, ext="png"))
    monkeypatch.setattr(file_plan, "folds_case", lambda folder: True)
    with pytest.raises(UserError, match="would both be written to .*does not tell case apart"):
        denoise_files(inputs, tmp_path / "out", engine(weights), OutputOptions(overwrite=True))
    assert not (tmp_path / "out").exists()
    # the input folder given again as -o in another case: one folder there (an exFAT disk through FUSE numbers the
    # two names' entries apart, so only the names tell), and --overwrite replaced the photos
    with pytest.raises(UserError, match="IMG_1.png -> .*CARD1/IMG_1.png would overwrite an input file;"):
        plan_jobs([tmp_path / "card1"], tmp_path / "CARD1", OutputOptions(overwrite=True))
    write_image(tmp_path / "card3" / "SHOT.PNG", noise_image(16, 16, seed=3))  # in place, as .png: the same file
    with pytest.raises(UserError, match="SHOT.PNG -> .*card3/SHOT.png would overwrite an input file;"):
        plan_jobs([tmp_path / "card3"], tmp_path / "card3", OutputOptions(overwrite=True, ext="png"))


def test_an_output_folder_inside_the_input_spelt_in_another_case_is_still_the_output_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`denoise card -r -o CARD/dn` on a card that folds case: the rerun read card/dn's outputs as input photos,
    and refused them as outputs over inputs (its advice, --skip-existing, refused too)."""
    from data_tools import images
    from denoise_gan.inference import file_plan

    write_image(tmp_path / "card" / "a.png", noise_image(16, 16, seed=1))
    write_image(tmp_path / "card" / "dn" / "a.png", noise_image(16, 16, seed=2))  # the first run's output
    from data_tools import folder_scan

    for module in (images, file_plan, folder_scan):
        monkeypatch.setattr(module, "folds_case", lambda folder: True)
    plan = plan_jobs([tmp_path / "card"], tmp_path / "CARD" / "dn", OutputOptions(recursive=True, skip_existing=True))
    assert [job.source for job in plan.jobs] == [tmp_path / "card" / "a.png"]
    assert any("in the output folder" in note and "dn/a.png" in note for note in plan.notes), plan.notes
    plain = plan_jobs([tmp_path / "card"], tmp_path / "CARD" / "dn", OutputOptions(skip_existing=True))
    assert not any("not read" in note for note in plain.notes), plain.notes  # nor named as a subfolder unread


def test_whether_a_disk_folds_case_is_asked_of_its_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Asked of an entry of the nearest existing folder (its parent may be another disk: a card mounted at it),
    else of the folder's own name in its parent; two entries listed apart (a link beside its target, a hard link,
    README and readme) are two names on any disk."""
    from data_tools import case_folding
    from data_tools.case_folding import folds_case

    (tmp_path / "Photos").mkdir()
    assert not folds_case(tmp_path / "Photos" / "new" / "out")  # nothing answers to pHOTOS here
    write_image(tmp_path / "out" / "A.png", noise_image(4, 4))
    (tmp_path / "out" / "a.PNG").symlink_to(tmp_path / "out" / "A.png")
    os.link(tmp_path / "out" / "A.png", tmp_path / "out" / "README")
    os.link(tmp_path / "out" / "A.png", tmp_path / "out" / "readme")
    assert not folds_case(tmp_path / "out" / "new")  # listed apart: this disk tells them apart
    (tmp_path / "docs").mkdir()  # only the two hard links: whichever the listing gives first is the one asked
    os.link(tmp_path / "out" / "A.png", tmp_path / "docs" / "README")
    os.link(tmp_path / "out" / "A.png", tmp_path / "docs" / "readme")
    assert not folds_case(tmp_path / "docs" / "new")
    real_id = case_folding.entry_id

    def folding(path: Path) -> tuple[int, int]:  # a disk whose names answer in any case
        matches = [p for p in path.parent.iterdir() if p.name.lower() == path.name.lower()]
        return real_id(matches[0]) if matches else real_id(path)

    monkeypatch.setattr(case_folding, "entry_id", folding)
    (tmp_path / "card").mkdir()
    write_image(tmp_path / "card" / "IMG_1.png", noise_image(4, 4))
    assert folds_case(tmp_path / "card" / "new")  # its entry, on its own disk
    for name in ("2024", "001.png"):  # names without case say nothing: the cased one is asked
        (tmp_path / "card" / name).mkdir()
    assert folds_case(tmp_path / "card" / "new")
    assert folds_case(tmp_path / "Photos" / "new")  # an empty folder: its name in its parent

    def numbered_apart(path: Path) -> tuple[int, int]:  # exFAT or FAT through FUSE: a number per name asked
        dev, ino = folding(path)
        return dev, ino + (path.name not in os.listdir(path.parent))

    monkeypatch.setattr(case_folding, "entry_id", numbered_apart)
    assert folds_case(tmp_path / "card" / "new") and not folds_case(tmp_path / "out" / "new")


def test_an_empty_disk_is_asked_of_a_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty exFAT card mounted at -o's parent had no cased name to ask, was taken for a disk that tells case
    apart, and two inputs A.png and a.png were written to one file under --overwrite."""
    from data_tools.case_folding import folds_case

    card = tmp_path / "card"
    card.mkdir()
    real_ismount = os.path.ismount
    monkeypatch.setattr(os.path, "ismount", lambda path: Path(path) == card or real_ismount(path))
    assert not folds_case(card / "out") and list(card.iterdir()) == []  # asked, and the probe removed
    real_lexists = os.path.lexists

    def any_case(path: str) -> bool:  # a disk whose names answer in any case
        folder, name = os.path.split(path)
        return real_lexists(path) or name.lower() in {n.lower() for n in os.listdir(folder)}

    monkeypatch.setattr(os.path, "lexists", any_case)
    assert folds_case(card / "out") and list(card.iterdir()) == []
