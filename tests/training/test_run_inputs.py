"""`train`/`refine` check every input before step 1: folders, values, --val, what a --resume can honour, and a
damaged newest checkpoint; a full disk is one line."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_tools.folder_lock import holding_folder
from denoise_gan.errors import UserError
from denoise_gan.nets.run_folder import list_checkpoints
from denoise_gan.training.cyclegan import train
from denoise_gan.training.input_record import record_inputs
from helpers import TINY_TRAIN_FLAGS, cli, one_line_error, reordered_metadata, tiny_train_config, tiny_train_flags

pytestmark = pytest.mark.usefixtures("losses_png_unrendered")  # trains; never looks at that picture


def new_run(clean_dir: Path, out: Path, *extra: object) -> object:
    return cli("train", "--clean", clean_dir, "--noise", "gaussian:sigma=25", "-o", out, *tiny_train_flags(*extra))


def test_a_folder_that_is_not_a_run_is_refused(clean_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "config.json").write_text('{"mine": true}')
    one_line_error(new_run(clean_dir, out, "--steps", "2"), "not empty", "--resume")
    assert (out / "config.json").read_text() == '{"mine": true}'


def test_a_finished_run_without_checkpoints_is_not_overwritten(clean_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(tiny_train_config(clean_dir), run)
    shutil.rmtree(run / "checkpoints")
    weights = (run / "G.safetensors").read_bytes()
    one_line_error(new_run(clean_dir, run, "--steps", "2"), "not empty")
    assert (run / "G.safetensors").read_bytes() == weights


def test_a_run_killed_while_writing_its_first_checkpoint_is_started_again_in_its_folder(clean_dir: Path,
                                                                                        tmp_path: Path) -> None:
    """A SIGKILL (an out-of-memory kill, a power cut) mid-write leaves the checkpoint's temp file: the same command
    refused the folder ("another run wrote into this folder", then "not empty") after removing the run's start
    files, so only removing the folder by hand went on."""
    import subprocess

    run = tmp_path / "run"
    record_inputs(run, {"--clean": str(clean_dir)})
    gone = subprocess.Popen(["true"])
    gone.wait()  # a writer that is dead: its PID names the temp file it left
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / f".step_0000002.pt.{gone.pid}-abcd1234.part").write_bytes(b"half a checkpoint")
    result = new_run(clean_dir, run, "--steps", "2")
    assert result.exit_code == 0, result.output
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step_0000002.pt"]


def test_a_refused_run_leaves_nothing_and_one_stopped_early_is_started_again_in_its_folder(clean_dir: Path,
                                                                                           tmp_path: Path) -> None:
    empty, run, made = tmp_path / "empty", tmp_path / "run", tmp_path / "made"
    empty.mkdir()
    made.mkdir()
    for out in (run, made):  # its data refused after the folder was opened
        refused = cli("train", "--clean", clean_dir, "--noisy", empty, "-o", out, *TINY_TRAIN_FLAGS, "--steps", "2")
        one_line_error(refused, "no readable images")
    assert not run.exists() and made.is_dir() and not any(made.iterdir())  # the user's own folder stays, empty
    record_inputs(run, {"--clean": str(clean_dir)})  # all a run killed before its first checkpoint leaves
    (run / "val").mkdir()  # with its first validation (--val) and event files (--tensorboard)
    (run / "val" / "step_0000001.png").write_bytes(b"grid")
    (run / "val_grid.png").write_bytes(b"grid")
    (run / "tensorboard").mkdir()
    (run / "tensorboard" / "events.out.tfevents.1.host.1.0").write_bytes(b"events")
    one_line_error(cli("train", "--resume", run), "stopped before its first checkpoint", "without --resume")
    with holding_folder(run):  # a run still starting, in another process, looks the same from outside
        one_line_error(cli("train", "--resume", run), "another process is writing this run now", code=1)
    assert new_run(clean_dir, run, "--steps", "2").exit_code == 0  # no "not empty"
    assert list_checkpoints(run / "checkpoints")
    with holding_folder(run):  # a second new run while it trains: "use --resume" was advice that is refused too
        one_line_error(new_run(clean_dir, run, "--steps", "2"), "another process is writing this run now", code=1)
    with holding_folder(run / "refine"):  # a refinement learning from the F a resume replaces: said, not silent
        resumed = cli("train", "--resume", run, "--steps", "3")
    assert resumed.exit_code == 0 and "a refinement of this run is training now" in resumed.stderr, resumed.output
    for killed_runs in ("val", "val_grid.png", "tensorboard"):  # never mixed into the new run's plots and grids
        assert not (run / killed_runs).exists()
    mine = tmp_path / "mine"  # a folder of the user's own that only looks like one is still refused
    mine.mkdir()
    (mine / "inputs.json").write_text('{"photos": ["a.png"]}')
    one_line_error(new_run(clean_dir, mine, "--steps", "2"), "not empty")
    own_val = tmp_path / "own_val"  # a killed run's folder that the user then put a --val set in: never taken
    record_inputs(own_val, {"--clean": str(clean_dir)})
    assert cli("synth", clean_dir, "-o", own_val / "val", "--noise", "gaussian:sigma=25").exit_code == 0
    one_line_error(new_run(clean_dir, own_val, "--steps", "2", "--val", own_val / "val"), "not empty",
                   warned=1)  # that --val is made of training photos
    assert sorted(p.name for p in (own_val / "val").iterdir()) == ["clean", "manifest.json", "noisy"]


@pytest.mark.parametrize("flags, needle", [
    (["--steps", "0"], "--steps"),
    (["--generator", "foo"], "unknown --generator 'foo'; choose one of level, resnet, unet"),  # denoisers only
    (["--channels", "2"], "--channels"),
    (["--width", "0"], "--width"),
    (["--lr", "-1"], "--lr"),
    (["--gray-fraction", "5"], "--gray-fraction"),
    (["--f-depth", "0"], "error: --f-depth must be between 1 and 8"),  # F's own check names its field --depth
    (["--d-layers", "0"], "error: --d-layers must be between 1 and 8, not 0"),
    (["--d-width", "0"], "error: --d-width must be between"),
    (["--lr", "2"], "error: --lr must be at most 1, not 2"),  # 1e308 overflowed inside Adam: a traceback
    (["--blocks", "100000"], "error: --blocks must be between 1 and 64"),  # built for minutes, without a word
    (["--depth", "30"], "error: --depth must be between 1 and 8"),  # blamed --patch-size
    (["--workers", "100000"], "error: --workers must be between 0 and 64"),  # killed for memory
])
def test_bad_train_values_are_one_line(clean_dir: Path, tmp_path: Path, flags: list[str], needle: str) -> None:
    one_line_error(new_run(clean_dir, tmp_path / "run", *flags), needle)
    assert not (tmp_path / "run").exists()


def test_clean_and_noisy_must_differ(clean_dir: Path, tmp_path: Path) -> None:
    result = cli("train", "--clean", clean_dir, "--noisy", clean_dir, "-o", tmp_path / "run", *TINY_TRAIN_FLAGS)
    one_line_error(result, "same folder")
    inner = tmp_path / "photos" / "noisy"  # read recursively, --clean would hold every noisy photo too
    shutil.copytree(clean_dir, inner)
    for clean, noisy, said in ((inner.parent, inner, "--noisy"), (inner, inner.parent, "--clean")):
        result = cli("train", "--clean", clean, "--noisy", noisy, "-o", tmp_path / "run", *TINY_TRAIN_FLAGS)
        one_line_error(result, f"{said} {inner} is inside", "independent")
    one_line_error(cli("adapt", "--noisy", inner, "--clean", inner.parent, "-o", tmp_path / "ad", "--steps", "4"),
                   "is inside", "independent")


@pytest.mark.parametrize("flags, needle", [
    (["--steps", "-1"], "--steps"),
    (["--patch-size", "30"], "--patch-size"),
    (["--patch-size", "8"], "--patch-size"),
    (["--batch-size", "0"], "--batch-size"),
    (["--lr", "-1"], "--lr"),
    (["--faint-fraction", "1.5"], "--faint-fraction"),
    (["--init", "no_such.safetensors"], "no_such.safetensors"),
    (["--init", "default-F"], "noise model"),
])
def test_bad_refine_values_are_one_line(finished_run: Path, tmp_path: Path, flags: list[str], needle: str) -> None:
    result = cli("refine", finished_run, "-o", tmp_path / "ref", "--device", "cpu", "--workers", "0", *flags)
    one_line_error(result, needle)
    assert not (tmp_path / "ref" / "G.safetensors").exists()


def test_a_bad_val_set_is_refused_before_step_1(clean_dir: Path, tmp_path: Path) -> None:
    val = tmp_path / "val"
    (val / "clean").mkdir(parents=True)
    shutil.copy(next(clean_dir.iterdir()), val / "clean" / "a.png")  # no noisy/ partner
    one_line_error(new_run(clean_dir, tmp_path / "run", "--steps", "4", "--val", val), "--val")
    assert not (tmp_path / "run").exists()  # refused after the folder was made: it is removed again
    (val / "noisy").mkdir()  # a set's half given for the set: it said ".../clean/clean: no such folder"
    one_line_error(new_run(clean_dir, tmp_path / "run", "--steps", "4", "--val", val / "noisy"),
                   "--val must be a paired set, clean/ and noisy/ with the same names", "give the folder above it")
    cut = tmp_path / "cut"  # a synth run killed partway: its few pairs were scored as the set, without a word
    assert cli("synth", clean_dir, "-o", cut, "--noise", "gaussian:sigma=25").exit_code == 0
    manifest = json.loads((cut / "manifest.json").read_text())
    (cut / "manifest.json").write_text(json.dumps({**manifest, "complete": False}))
    one_line_error(new_run(clean_dir, tmp_path / "run", "--steps", "4", "--val", cut), "an incomplete set",
                   warned=1)  # that --val is made of training photos
    (cut / "manifest.json").write_text(json.dumps(manifest)[:40])  # cut short: it was read as no manifest at all
    one_line_error(new_run(clean_dir, tmp_path / "run", "--steps", "4", "--val", cut), "--val ",
                   "the set's manifest cannot be read")


def test_a_val_image_too_small_to_score_is_refused_before_step_1(clean_dir: Path, finished_run: Path,
                                                                  tmp_path: Path) -> None:
    val = tmp_path / "val"  # synth takes a 10x10 photo, but validation's SSIM cannot score it
    for part in ("clean", "noisy"):
        (val / part).mkdir(parents=True)
        Image.fromarray(np.full((10, 10, 3), 99, np.uint8)).save(val / part / "a.png")
    one_line_error(new_run(clean_dir, tmp_path / "run", "--steps", "4", "--val", val), "a.png", "too small")
    refused = cli("refine", finished_run, "-o", tmp_path / "ref", "--device", "cpu", "--workers", "0", "--val", val)
    one_line_error(refused, "a.png", "too small")
    assert not (tmp_path / "run").exists() and not (tmp_path / "ref" / "G.safetensors").exists()


def test_val_every_without_val_is_named_as_doing_nothing(clean_dir: Path, tmp_path: Path) -> None:
    result = new_run(clean_dir, tmp_path / "run", "--steps", "2", "--val-every", "2")
    assert result.exit_code == 0 and "--val-every has no effect without --val" in result.stderr, result.output
    quiet = new_run(clean_dir, tmp_path / "plain", "--steps", "2")
    assert "--val-every" not in quiet.stderr, quiet.stderr


def test_resume_refuses_options_it_cannot_honour(finished_run: Path) -> None:
    config = (finished_run / "config.json").read_text()
    one_line_error(cli("train", "--resume", finished_run, "--lr", "1e-3", "--patch-size", "64"),
                   "--lr", "--patch-size")
    one_line_error(cli("refine", finished_run, "--resume", "--noise", "gaussian:sigma=5"), "--noise")
    assert (finished_run / "config.json").read_text() == config


def test_resume_cannot_go_back_below_its_step(clean_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(tiny_train_config(clean_dir, steps=4, save_every=2), run)
    config = (run / "config.json").read_text()
    one_line_error(cli("train", "--resume", run, "--steps", "3"), "step 4")
    assert (run / "config.json").read_text() == config


@pytest.mark.parametrize("damage", [b"", b"this is text, not a checkpoint\n"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(clean_dir: Path, tmp_path: Path,
                                                                     damage: bytes) -> None:
    run = tmp_path / "refused_run"  # the word in the path made every damaged checkpoint "unsafe"
    train(tiny_train_config(clean_dir, steps=4, save_every=2, keep_checkpoints=2), run)
    (run / "checkpoints" / "step_0000004.pt").write_bytes(damage)
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()
    half = run / f".G.safetensors.{gone.pid}-abcdefgh.part"  # the G a kill cut short: the resume removes it
    half.write_bytes(b"half")
    (run / "val").mkdir(exist_ok=True)  # and a validation page's, which the resume left in val/ for good
    page = run / "val" / f".index.html.{gone.pid}-abcdefgh.part"
    page.write_bytes(b"<html")
    (run / "refine").mkdir()  # a refinement's folder is its own process's to clean (it may run on another machine)
    theirs = run / "refine" / f".G.safetensors.{gone.pid}-abcdefgh.part"
    theirs.write_bytes(b"half")
    result = cli("train", "--resume", run, "--steps", "6")
    assert result.exit_code == 0, result.output
    assert not half.exists() and not page.exists() and theirs.exists()
    assert "step_0000004.pt" in result.stderr and "step_0000002.pt" in result.stderr  # said, not silent
    assert [s for s, _ in list_checkpoints(run / "checkpoints")][-1] == 6


def test_a_newest_checkpoint_of_another_kind_stops_the_resume(clean_dir: Path, tmp_path: Path) -> None:
    """A refine checkpoint copied in as the newest is a mix-up to say, not damage to skip past: falling back would
    drop the steps since the older checkpoint without a word."""
    import torch

    run = tmp_path / "run"
    train(tiny_train_config(clean_dir, steps=2, save_every=2), run)
    torch.save({"kind": "refine", "step": 4}, run / "checkpoints" / "step_0000004.pt")
    before = sorted(p.name for p in (run / "checkpoints").iterdir())
    one_line_error(cli("train", "--resume", run, "--steps", "6"), "step_0000004.pt: not a cyclegan checkpoint")
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == before


def test_a_full_disk_is_one_line(clean_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    real = tempfile.mkstemp

    def full_for_checkpoints(*args: object, **kwargs: object) -> tuple[int, str]:
        if str(kwargs.get("prefix", "")).startswith(".step_"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr("data_tools.atomic_files.tempfile.mkstemp", full_for_checkpoints)
    result = new_run(clean_dir, tmp_path / "run", "--steps", "2")
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert result.exit_code == 1 and "Traceback" not in result.output  # a full disk, not a bad argument: 1
    assert len(lines) == 1 and "No space left on device" in lines[0] and "step_" in lines[0], result.stderr


def test_noise_model_fit_runs_on_a_run_trained_from_a_noisy_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import runpy
    import sys

    from data_tools.images import write_image
    from data_tools.samples import load_sample
    from denoise_gan.config import DataConfig

    for folder, names in (("clean", ("astronaut", "coffee")), ("noisy", ("camera", "chelsea"))):
        for name in names:
            write_image(tmp_path / folder / f"{name}.png", load_sample(name)[:160, :160])
    run = tmp_path / "run"
    data = DataConfig(clean_dir=str(tmp_path / "clean"), noisy_dir=str(tmp_path / "noisy"), patch_size=32,
                      batch_size=2, workers=0)
    train(tiny_train_config(tmp_path / "clean", data=data), run)
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "noise_model_fit.py"
    monkeypatch.syspath_prepend(str(script.parent))  # as `python script` has it: run alone, its import failed
    monkeypatch.setattr(sys, "argv", [str(script), str(run), "--draws", "2", "--json", str(tmp_path / "fit.json")])
    with pytest.raises(SystemExit) as stop:  # the gate's verdict is the exit code (a 2-step F fails it)
        runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert "noisy domain" in out and "level_median" in out and "coarse_to_fine" in out
    fit = json.loads((tmp_path / "fit.json").read_text())
    assert stop.value.code == (0 if fit["passed"] else 1) and set(fit) >= {"real", "fake", "tolerance"}
    monkeypatch.setattr(sys, "argv", [str(script), str(tmp_path / "clean")])  # no run there: not a failed gate
    with pytest.raises(SystemExit) as stop:
        runpy.run_path(str(script), run_name="__main__")
    assert stop.value.code == 2 and "not a `denoise-gan train` run folder" in capsys.readouterr().err


def test_noisy_photos_smaller_than_the_patch_are_left_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Mirrored padding would teach F mirrored noise; adapt leaves such photos out too."""
    from data_tools.datasets import build_domains
    from data_tools.images import write_image
    from data_tools.samples import load_sample

    write_image(tmp_path / "clean" / "a.png", load_sample("astronaut")[:64, :64])
    write_image(tmp_path / "noisy" / "big.png", load_sample("camera")[:48, :40])
    write_image(tmp_path / "noisy" / "small.png", load_sample("coffee")[:20, :48])
    write_image(tmp_path / "noisy" / "exact.png", load_sample("coffee")[:32, :50])  # as tall as a patch: kept
    _, noisy, _ = build_domains(str(tmp_path / "clean"), str(tmp_path / "noisy"), "", patch_size=32)
    assert sorted(im.shape[:2] for im in noisy) == [(32, 50), (48, 40)]
    out, warning = capsys.readouterr()
    assert out == "" and warning.startswith("warning: ")  # on stderr, apart from results, as adapt's
    assert "1 of 3 photos" in warning and "small.png (48x20)" in warning and "left out" in warning
    with pytest.raises(ValueError, match="every noisy photo is smaller than the 64 px patch"):
        build_domains(str(tmp_path / "clean"), str(tmp_path / "noisy"), "", patch_size=64)


@pytest.mark.parametrize("link", ["hard", "symbolic"])
def test_a_photo_in_both_domains_under_two_names_is_refused(tmp_path: Path, link: str) -> None:
    """Only the folders were compared: a --noisy folder of links to the --clean photos trained F on the very
    photos G was shown as clean."""
    import os

    from data_tools.datasets import build_domains
    from data_tools.errors import DataError
    from data_tools.images import write_image
    from data_tools.samples import load_sample

    write_image(tmp_path / "clean" / "a.png", load_sample("astronaut")[:64, :64])
    write_image(tmp_path / "clean" / "b.png", load_sample("coffee")[:64, :64])
    write_image(tmp_path / "noisy" / "n.png", load_sample("camera")[:64, :64])
    (os.link if link == "hard" else os.symlink)(tmp_path / "clean" / "b.png", tmp_path / "noisy" / "b_copy.png")
    with pytest.raises(DataError, match=r"b_copy.png: the same file as .*b.png in --clean \(1 such in --noisy\)"):
        build_domains(str(tmp_path / "clean"), str(tmp_path / "noisy"), "", patch_size=32)
    (tmp_path / "noisy" / "b_copy.png").unlink()
    assert len(build_domains(str(tmp_path / "clean"), str(tmp_path / "noisy"), "", patch_size=32)[1]) == 1


def test_clean_photos_smaller_than_the_patch_are_left_out_too(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """train padded them by mirroring without a word (the discriminator saw mirrored seams as clean photos);
    adapt already left them out."""
    from data_tools.datasets import build_domains
    from data_tools.images import write_image
    from data_tools.samples import load_sample

    write_image(tmp_path / "clean" / "big.png", load_sample("astronaut")[:64, :64])
    write_image(tmp_path / "clean" / "small.png", load_sample("coffee")[:20, :48])
    write_image(tmp_path / "noisy" / "n.png", load_sample("camera")[:64, :64])
    clean, _, _ = build_domains(str(tmp_path / "clean"), str(tmp_path / "noisy"), "", patch_size=32)
    assert [im.shape[:2] for im in clean] == [(64, 64)]
    warning = capsys.readouterr().err
    assert "1 of 2 photos" in warning and "small.png (48x20)" in warning and "mirrored seams" in warning
    with pytest.raises(ValueError, match="every clean photo is smaller than the 128 px patch"):
        build_domains(str(tmp_path / "clean"), str(tmp_path / "noisy"), "", patch_size=128, read_noisy=False)


def test_a_split_folders_small_photos_are_counted_against_their_half(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """With --noise the folder is split in two: "1 of 3 photos in FOLDER" was said of a folder of 6."""
    from data_tools.datasets import build_domains
    from data_tools.images import write_image

    for i in range(5):
        write_image(tmp_path / "clean" / f"{i}.png", np.full((40, 40, 3), 30 * i, np.uint8))
    write_image(tmp_path / "clean" / "small.png", np.full((24, 24, 3), 200, np.uint8))
    build_domains(str(tmp_path / "clean"), "", "gaussian:sigma=25", patch_size=32)
    warning = " ".join(capsys.readouterr().err.split())
    assert re.search(f"1 of 3 photos in the (clean|noisy-domain) half of {re.escape(str(tmp_path / 'clean'))} are "
                     "smaller than the 32 px patch", warning), warning


def test_a_skipped_photos_name_cannot_drive_the_terminal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file name with an escape sequence reached the training warnings raw (adapt's were escaped)."""
    from data_tools.datasets import read_folder

    (tmp_path / "bad\x1b[31m.png").write_bytes(b"not an image")
    assert read_folder(tmp_path) == []
    warning = capsys.readouterr().err
    assert "\x1b" not in warning and "bad\\x1b[31m.png" in warning


def test_a_noise_runs_halves_do_not_depend_on_the_patch_size(tmp_path: Path) -> None:
    """Small photos left out before the split shifted it: refine (another patch size) then took photos train had
    used as its noisy domain for clean ones."""
    from data_tools.datasets import build_domains
    from data_tools.images import write_image

    folder = tmp_path / "pool"
    for i, side in enumerate((64, 20, 64, 64, 64)):  # b is smaller than a 32 px patch
        write_image(folder / f"{'abcde'[i]}.png", np.full((side, 40 + i, 3), 10 * i, np.uint8))
    widths = {40 + i: "abcde"[i] for i in range(5)}  # each photo told by its width
    named = lambda images: sorted(widths[im.shape[1]] for im in images)  # noqa: E731
    clean, noisy, _ = build_domains(str(folder), "", "gaussian:sigma=10", patch_size=32)  # train
    refined, _, _ = build_domains(str(folder), "", "gaussian:sigma=10", patch_size=16, read_noisy=False)  # refine
    assert (named(clean), named(noisy), named(refined)) == (["a", "c", "e"], ["d"], ["a", "c", "e"])


def test_refine_init_with_a_graph_and_a_resume_without_its_folder_say_so(finished_run: Path, clean_dir: Path,
                                                                          tmp_path: Path) -> None:
    (tmp_path / "g.onnx").write_bytes((finished_run / "G.onnx").read_bytes())
    one_line_error(cli("refine", finished_run, "-o", tmp_path / "r", "--init", tmp_path / "g.onnx", "--steps", "2"),
                   "an ONNX graph holds no weights", "the .safetensors file it was exported from")
    moved = tmp_path / "photos"
    shutil.copytree(clean_dir, moved)
    train(tiny_train_config(moved), tmp_path / "run")
    shutil.rmtree(moved)
    one_line_error(cli("train", "--resume", tmp_path / "run", "--steps", "4"), "no such folder (moved or deleted?)")
    moved.write_bytes(b"")  # a file where the folder was: it is there, but no folder
    one_line_error(cli("train", "--resume", tmp_path / "run", "--steps", "4"), "not a folder (replaced by a file?)",
                   warned=1)  # that --clean changed since the run started
    from denoise_gan.training.adapt_noise import clean_pool

    with pytest.raises(UserError, match="photos: not a folder \\(replaced by a file\\?\\)"):
        clean_pool(str(moved))  # an adaptation's --clean, on its resume


def test_a_run_folder_another_process_is_writing_is_refused(clean_dir: Path, tmp_path: Path) -> None:
    """Two `train -o SAME` started together both ran, mixing their checkpoints and log into one folder."""
    from data_tools.folder_lock import holding_folder

    run = tmp_path / "run"
    with holding_folder(run):  # as the first process holds it while it trains
        one_line_error(cli("train", "--clean", clean_dir, "--noise", "gaussian:sigma=25", "-o", run,
                           *TINY_TRAIN_FLAGS, "--steps", "2"), "another process is writing this run now", code=1)
        assert not (run / "config.json").exists()
    assert cli("train", "--clean", clean_dir, "--noise", "gaussian:sigma=25", "-o", run, *TINY_TRAIN_FLAGS,
               "--steps", "2").exit_code == 0  # the lock ends with its holder; the folder is still new
    with holding_folder(run / "refine"):
        one_line_error(cli("refine", run, "--steps", "2", "--patch-size", "32", "--batch-size", "2", "--workers",
                           "0"), "another process is writing this refinement now", code=1)


def test_resume_says_when_the_image_folders_changed_since_the_run_started(clean_dir: Path, tmp_path: Path) -> None:
    """A resume read the folders again and trained on what they held then, without a word."""
    photos = tmp_path / "photos"
    shutil.copytree(clean_dir, photos)
    run = tmp_path / "run"
    train(tiny_train_config(photos), run)
    same = cli("train", "--resume", run, "--steps", "3")
    assert same.exit_code == 0, same.output
    assert "changed since the run started" not in same.output
    shutil.copy(photos / "coffee.png", photos / "extra.png")
    (photos / "camera.png").unlink()
    changed = cli("train", "--resume", run, "--steps", "4")
    assert changed.exit_code == 0, changed.output
    assert f"--clean {photos} changed since the run started (1 image(s) added, 1 removed, 0 replaced)" in \
        " ".join(changed.output.split())
    assert "changed since" in changed.stderr and "changed since" not in changed.stdout  # a warning: on stderr,
    # beside its others (a log of stderr alone lost the ones said on the run's progress console)


def test_an_edited_entry_of_the_input_record_counts_as_replaced_not_a_traceback(clean_dir: Path,
                                                                             tmp_path: Path) -> None:
    """An image's entry in inputs.json edited to a number (or null) stopped `train --resume` with a TypeError
    once the photo's time had changed: the entry vouches for nothing, so the photo counts as replaced."""
    photos = tmp_path / "photos"
    shutil.copytree(clean_dir, photos)
    run = tmp_path / "run"
    train(tiny_train_config(photos), run)
    record = json.loads((run / "inputs.json").read_text())
    record["--clean"]["images"]["camera.png"] = 5
    (run / "inputs.json").write_text(json.dumps(record))
    os.utime(photos / "camera.png", ns=(1, 1))
    resumed = cli("train", "--resume", run, "--steps", "3")
    assert resumed.exit_code == 0 and "Traceback" not in resumed.output, resumed.output
    assert "(0 image(s) added, 0 removed, 1 replaced)" in " ".join(resumed.output.split())


def test_a_run_whose_config_disagrees_with_its_g_is_refused_before_refine_trains(clean_dir: Path,
                                                                                tmp_path: Path) -> None:
    """config.json's G edited (width 4 to 8): refine fine-tuned the width-4 G it loaded, then wrote it under the
    width-8 config and failed after the steps, leaving a G.safetensors nothing could load."""
    run = tmp_path / "run"
    train(tiny_train_config(clean_dir), run)
    config = json.loads((run / "config.json").read_text())
    config["model"]["g"]["width"] *= 2
    (run / "config.json").write_text(json.dumps(config))
    refused = cli("refine", run, "--generator", "same", "--steps", "2", "--patch-size", "32", "--batch-size", "2",
                  "--workers", "0")
    one_line_error(refused, "config.json: its G (", "is not the one G.safetensors holds", "restore its config.json")
    assert not (run / "refine").exists()


def test_an_empty_clean_folder_in_a_runs_config_is_never_the_current_folder(clean_dir: Path, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """config.json's data.clean_dir edited to "": refine trained on every photo under the working folder (a new
    run refuses "" as never the current folder; a stored one was read as it stood)."""
    run = tmp_path / "run"
    train(tiny_train_config(clean_dir), run)
    config = json.loads((run / "config.json").read_text())
    config["data"]["clean_dir"] = ""
    (run / "config.json").write_text(json.dumps(config))
    monkeypatch.chdir(clean_dir)  # photos here, which it would have trained on
    refused = cli("refine", run, "--generator", "same", "--steps", "2", "--patch-size", "32", "--batch-size", "2",
                  "--workers", "0")
    one_line_error(refused, "clean photos' folder is empty", "never the current folder")
    assert "relative to where" not in refused.stderr


def test_refine_resume_says_when_the_runs_f_changed_since_it_started(clean_dir: Path, tmp_path: Path) -> None:
    """`train --resume` between two refine sessions replaced F: the refinement went on with the new one silently."""
    run = tmp_path / "run"
    train(tiny_train_config(clean_dir), run)
    out = tmp_path / "refined"
    flags = ["--steps", "2", "--save-every", "1", "--patch-size", "32", "--batch-size", "2", "--device", "cpu"]
    assert cli("refine", run, "-o", out, *flags).exit_code == 0
    same = cli("refine", run, "-o", out, "--resume", "--steps", "3")
    assert same.exit_code == 0, same.output
    assert "changed since the run started" not in same.output
    assert cli("train", "--resume", run, "--steps", "3").exit_code == 0  # writes a new F
    changed = cli("refine", run, "-o", out, "--resume", "--steps", "4")
    assert changed.exit_code == 0, changed.output
    assert f"the run's F {run / 'F.safetensors'} changed since the run started" in " ".join(changed.output.split())


def test_a_run_folder_reached_through_a_link_into_clean_is_refused(clean_dir: Path, tmp_path: Path) -> None:
    """Its plots went into the photo folder, and the next run trained on them."""
    photos = tmp_path / "photos"
    shutil.copytree(clean_dir, photos)
    (photos / "run").mkdir()
    (tmp_path / "out").symlink_to(photos / "run")
    one_line_error(cli("train", "--clean", photos, "--noise", "gaussian:sigma=25", "-o", tmp_path / "out",
                       *TINY_TRAIN_FLAGS, "--steps", "2"), "is inside --clean")
    assert not any((photos / "run").iterdir())


def test_output_names_the_file_system_refuses_are_one_line(clean_dir: Path, tmp_path: Path) -> None:
    long = tmp_path / ("x" * 300)
    one_line_error(cli("train", "--clean", clean_dir, "--noise", "gaussian:sigma=25", "-o", long, *TINY_TRAIN_FLAGS),
                   "name too long")
    one_line_error(cli("demo", "-o", long), "name too long")
    (tmp_path / "dangling").symlink_to(tmp_path / "unmounted")
    one_line_error(cli("demo", "-o", tmp_path / "dangling"), "which does not exist")


def test_refine_init_continues_the_shipped_model(finished_run: Path, tmp_path: Path) -> None:
    from denoise_gan.nets.shipped import resolve_weights
    from denoise_gan.nets.weights import read_generator_file

    result = cli("refine", finished_run, "-o", tmp_path / "ref", "--init", "default", "--faint-fraction", "0.5",
                 "--steps", "2", "--batch-size", "2", "--patch-size", "32", "--device", "cpu", "--workers", "0")
    assert result.exit_code == 0, result.output
    assert read_generator_file(tmp_path / "ref" / "G.safetensors")[1] == read_generator_file(resolve_weights(None))[1]
    config = json.loads((tmp_path / "ref" / "config.json").read_text())
    assert config["init"] == "default" and config["faint_fraction"] == 0.5 and config["generator"] is None


def test_a_resumed_train_run_ends_with_its_done_line(finished_run: Path, tmp_path: Path) -> None:
    """A fresh run ended with "done: G weights in RUN/G.safetensors"; a resumed one ended on its progress line."""
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    result = cli("train", "--resume", run)
    assert result.exit_code == 0, result.output
    assert f"done: G weights in {run / 'G.safetensors'}" in " ".join(result.stdout.split())


def test_a_refinement_resumes_after_its_run_folder_moved_and_never_of_another_run(finished_run: Path,
                                                                                 tmp_path: Path) -> None:
    """Moved, `refine t6 --resume` failed naming the old path; `refine r2 -o r1/refine --resume` went on refining
    r1 without a word about r2."""
    flags = ("--generator", "same", "--batch-size", "2", "--patch-size", "32", "--workers", "0", "--device", "cpu")
    run = tmp_path / "t5"
    shutil.copytree(finished_run, run)
    assert cli("refine", run, "--steps", "2", "--save-every", "1", *flags).exit_code == 0
    moved = run.rename(tmp_path / "t6")
    result = cli("refine", moved, "--resume", "--steps", "3")
    assert result.exit_code == 0, result.output
    assert json.loads((moved / "refine" / "config.json").read_text())["run_dir"] == str(moved.resolve())
    other = tmp_path / "other"
    shutil.copytree(finished_run, other)
    one_line_error(cli("refine", other, "-o", moved / "refine", "--resume", "--steps", "4"),
                   f"refines the run in {moved.resolve()}, not {other}")
    gone = moved.rename(tmp_path / "t7")  # with the stored run gone too, another run is still told apart by its F
    (other / "F.safetensors").write_bytes((other / "F.safetensors").read_bytes() + b" ")
    one_line_error(cli("refine", other, "-o", gone / "refine", "--resume", "--steps", "4"),
                   "its F is not the one the refinement recorded")
    # a `train --resume` between two sessions replaces F (in place only a warning): a refinement that moved with
    # its run still resumes there (it was refused, told to give the folder that no longer exists)
    reordered_metadata(gone / "F.safetensors", gone / "F.tmp").replace(gone / "F.safetensors")
    result = cli("refine", gone, "--resume", "--steps", "4")
    assert result.exit_code == 0, result.output
    assert "changed since the run started" in " ".join(result.output.split())



def test_a_refinement_outside_its_run_resumes_from_the_folder_the_run_moved_to(finished_run: Path,
                                                                              tmp_path: Path) -> None:
    """A refinement in its own -o whose run was renamed: the named run holds the F it recorded (by its sha256),
    so it resumes there."""
    flags = ("--generator", "same", "--batch-size", "2", "--patch-size", "32", "--workers", "0", "--device", "cpu")
    run, outside = tmp_path / "runA", tmp_path / "refA"
    shutil.copytree(finished_run, run)
    assert cli("refine", run, "-o", outside, "--steps", "2", "--save-every", "1", *flags).exit_code == 0
    moved = run.rename(tmp_path / "runB")
    result = cli("refine", moved, "-o", outside, "--resume", "--steps", "3")
    assert result.exit_code == 0, result.output
    assert json.loads((outside / "config.json").read_text())["run_dir"] == str(moved.resolve())
    assert "records no F" not in " ".join(result.output.split())
    (outside / "inputs.json").unlink()  # as a refinement made before the F was recorded
    again = cli("refine", moved.rename(tmp_path / "runC"), "-o", outside, "--resume", "--steps", "4")
    assert again.exit_code == 0, again.output  # it cannot check, and says so: the named run's F, whatever it holds
    assert f"{outside} records no F to check {tmp_path / 'runC'} against" in " ".join(again.output.split())


def test_refine_refuses_options_its_g_would_ignore(finished_run: Path, tmp_path: Path) -> None:
    """--clean-fraction, --lambda-level, --clean-jpeg-fraction ("Level-aware G: ...") with a blind G were
    ignored without a word; --noise (a fresh G on true pairs) with --generator same contradicted it."""
    flags = ("--steps", "2", "--batch-size", "2", "--patch-size", "32", "--workers", "0", "--device", "cpu")
    one_line_error(cli("refine", finished_run, "-o", tmp_path / "a", "--generator", "unet", "--clean-fraction", "0.5",
                       "--lambda-level", "3", *flags), "--clean-fraction, --lambda-level apply to a level-aware G")
    assert not (tmp_path / "a").exists()
    one_line_error(cli("refine", finished_run, "-o", tmp_path / "a", "--generator", "unet", "--clean-fraction", "0.5",
                       *flags), "drop it, or refine a level-aware G (--generator level, refine's default)")
    # with --init the G is the file's: --generator, which --init may not change, is no way out
    one_line_error(cli("refine", finished_run, "-o", tmp_path / "a", "--init", finished_run / "G.safetensors",
                       "--clean-fraction", "0.5", *flags), "drop it, or --init a level-aware G's weights")
    one_line_error(cli("refine", finished_run, "-o", tmp_path / "b", "--generator", "same", "--noise",
                       "gaussian:sigma=10", *flags), "--noise trains a fresh G")
    for generator in ("level", "unet"):  # --fresh did nothing there: a new G is new
        one_line_error(cli("refine", finished_run, "-o", tmp_path / "f", "--generator", generator, "--fresh", *flags),
                       f"--generator {generator} trains a new G", "--fresh starts the run's own G afresh")
    assert not (tmp_path / "f").exists()
    result = cli("refine", finished_run, "-o", tmp_path / "c", "--generator", "unet", *flags)  # defaults: fine
    assert result.exit_code == 0, result.output


def test_a_log_resaved_by_a_spreadsheet_or_with_a_broken_cell_still_resumes(clean_dir: Path, tmp_path: Path) -> None:
    """A byte-order mark (KeyError 'step') or one cell that is no number (ValueError) ended --resume in a
    traceback after the steps had run."""
    for damage in ("bom", "cell"):
        run = tmp_path / damage
        train(tiny_train_config(clean_dir, steps=2, save_every=2, log_every=1), run)
        lines = (run / "log.csv").read_text().splitlines(keepends=True)
        if damage == "bom":
            (run / "log.csv").write_bytes(b"\xef\xbb\xbf" + "".join(lines).encode())
        else:
            cells = lines[1].split(",")
            (run / "log.csv").write_text(lines[0] + ",".join([cells[0], "abc", *cells[2:]]) + "".join(lines[2:]))
        result = cli("train", "--resume", run, "--steps", "4")
        assert result.exit_code == 0, result.output
        steps = [row.split(",")[0] for row in (run / "log.csv").read_text().splitlines()[1:]]
        assert steps == ["1", "2", "3", "4"], steps
    (run / "log.csv").unlink()
    (run / "log.csv").mkdir()  # IsADirectoryError traceback
    one_line_error(cli("train", "--resume", run, "--steps", "6"), "cannot read the run's log")


def test_a_new_run_whose_folder_another_run_filled_while_it_waited_is_refused(clean_dir: Path, tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Two short runs given one new folder: the second checked it empty, waited for the lock while the first ran
    to its end, then trained into it too; both said done, over one folder of mixed checkpoints."""
    from data_tools.atomic_files import FolderBusyError
    from denoise_gan.training import cyclegan
    from denoise_gan.training.run_open import open_run

    def first_run_meanwhile(run_dir: Path, *args: object) -> object:
        opened = open_run(run_dir, *args)
        (run_dir / "config.json").write_text('{"the other run": true}')
        return opened

    monkeypatch.setattr(cyclegan, "open_run", first_run_meanwhile)
    with pytest.raises(FolderBusyError, match="another run wrote into this folder"):
        train(tiny_train_config(clean_dir), tmp_path / "run")
    assert (tmp_path / "run" / "config.json").read_text() == '{"the other run": true}'


def test_a_bug_while_the_folders_are_read_is_not_passed_off_as_the_users_mistake(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """build_domains raised plain ValueErrors, so train and refine caught every ValueError, a NumPy or OpenCV
    bug's too, and showed it as a one-line input error; now only what the folders hold is said that way."""
    import data_tools.datasets as datasets
    from denoise_gan.config import DataConfig, TrainConfig
    from denoise_gan.errors import UserError
    from denoise_gan.training.cyclegan import make_dataset

    cfg = TrainConfig(data=DataConfig(clean_dir=str(tmp_path / "gone"), noise="gaussian:sigma=25"))
    with pytest.raises(UserError, match="no such folder"):
        make_dataset(cfg)
    (tmp_path / "gone").mkdir()

    def broken(*_: object, **__: object) -> None:
        raise ValueError("operands could not be broadcast together")

    monkeypatch.setattr(datasets, "read_folder", broken)
    with pytest.raises(ValueError, match="broadcast") as raised:
        make_dataset(cfg)
    assert not isinstance(raised.value, UserError)


def test_a_refinement_given_to_train_resume_names_the_command_that_goes_on_with_it(finished_run: Path,
                                                                                   tmp_path: Path) -> None:
    """`train --resume REF` said "not a cyclegan checkpoint"; `refine RUN -o RUN --resume` "not a refine one"."""
    ref = tmp_path / "ref"
    assert cli("refine", finished_run, "-o", ref, "--steps", "2", "--batch-size", "2", "--patch-size", "32",
               "--workers", "0", "--device", "cpu").exit_code == 0
    one_line_error(cli("train", "--resume", ref), "written by `denoise-gan refine`, not by `denoise-gan train` "
                   f"(`denoise-gan refine {finished_run} -o {ref} --resume` goes on with it)")
    one_line_error(cli("refine", finished_run, "-o", finished_run, "--resume"),
                   f"(`denoise-gan train --resume {finished_run}` goes on with it)")
    run = tmp_path / "run"  # a train run's own refinement, RUN/refine: no phase of an adaptation in RUN
    shutil.copytree(finished_run, run)
    shutil.copytree(ref, run / "refine")
    one_line_error(cli("adapt", "--resume", run / "refine"),
                   "written by `denoise-gan refine`, not by `denoise-gan adapt`")


def test_a_runs_checkpoints_folder_given_to_resume_is_said_to_be_one_level_too_deep(finished_run: Path) -> None:
    one_line_error(cli("train", "--resume", finished_run / "checkpoints"),
                   "no checkpoint to resume from (expected checkpoints/step_*.pt); this is a run's checkpoints "
                   f"folder: give the run folder above it, {finished_run}")


def test_a_moved_clean_folder_and_a_run_of_damaged_checkpoints_are_said_as_such(tmp_path: Path) -> None:
    """adapt --resume with its --clean moved away said "no readable images"; a resume whose every checkpoint was
    damaged named one of three."""
    from denoise_gan.errors import WeightsError
    from denoise_gan.training.adapt_noise import clean_pool
    from denoise_gan.training.run_open import _newest_usable_checkpoint

    with pytest.raises(UserError, match="moved: no such folder \\(moved or deleted\\?\\)"):
        clean_pool(str(tmp_path / "moved"))
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    for step in (2, 4, 6):
        (tmp_path / "run" / "checkpoints" / f"step_{step:07d}.pt").write_bytes(b"")
    with pytest.raises(WeightsError, match="step_0000006.pt: .*; 2 older one\\(s\\) damaged too\\)$"):
        _newest_usable_checkpoint(tmp_path / "run", "cyclegan")


def test_a_val_set_made_of_training_photos_is_refused(tmp_path: Path) -> None:
    """--val takes pairs of photos not in training; a val set inside --clean, or one whose clean image is a
    training photo under another name, ran and reported its PSNR as held out."""
    from data_tools.errors import DataError
    from data_tools.images import write_image
    from data_tools.training_folders import refuse_val_from_training

    clean, val = tmp_path / "clean", tmp_path / "val"
    write_image(clean / "a.png", np.full((40, 40, 3), 90, np.uint8))
    write_image(val / "noisy" / "b.png", np.full((40, 40, 3), 80, np.uint8))
    (val / "clean").mkdir()
    refuse_val_from_training(str(val), {"--clean": str(clean), "--noisy": ""})  # independent: taken
    with pytest.raises(DataError, match="overlap: its pairs would be training photos"):
        refuse_val_from_training(str(clean / "val"), {"--clean": str(clean)})
    (val / "clean" / "b.png").hardlink_to(clean / "a.png")
    with pytest.raises(DataError, match="b.png: the same file as .*a.png in --clean; --val takes pairs"):
        refuse_val_from_training(str(val), {"--clean": str(clean), "--noisy": ""})
    one_line_error(cli("train", "--clean", clean, "--noise", "gaussian:sigma=25", "--val", val, "-o", tmp_path / "run",
                       *TINY_TRAIN_FLAGS), "the same file as")
    assert not (tmp_path / "run").exists()


def test_a_val_set_synth_made_from_the_training_photos_is_warned_of(tmp_path: Path) -> None:
    """A set made by `synth CLEAN -o val --crop 32` holds new files (crops, PNG copies), so no link check sees it,
    yet every pair in it is a training photo: its PSNR read as held out without a word."""
    from data_tools.images import write_image
    from data_tools.synth import synth

    clean, other = tmp_path / "clean", tmp_path / "other"
    for folder, value in ((clean, 90), (other, 60)):
        for name in ("a", "b"):
            write_image(folder / f"{name}.png", np.random.default_rng(value).integers(0, 256, (64, 64, 3), np.uint8))
    synth(clean, tmp_path / "val", "gaussian:sigma=10", 1, crop=32)
    synth(other, tmp_path / "held_out", "gaussian:sigma=10", 1, crop=32)
    result = cli("train", "--clean", clean, "--noise", "gaussian:sigma=25", "--val", tmp_path / "val", "-o",
                 tmp_path / "run", *TINY_TRAIN_FLAGS, "--steps", "1")
    assert result.exit_code == 0, result.output
    assert (f"warning: --val {tmp_path / 'val'} was made by synth from {clean}, photos of --clean {clean}: its "
            "PSNR/SSIM will be of photos the run trains on, not held-out ones") in " ".join(result.output.split())
    result = cli("train", "--clean", clean, "--noise", "gaussian:sigma=25", "--val", tmp_path / "held_out", "-o",
                 tmp_path / "run2", *TINY_TRAIN_FLAGS, "--steps", "1")
    assert result.exit_code == 0 and "was made by synth from" not in result.output, result.output
    from data_tools.training_folders import val_drawn_from_training

    assert f"photos of --noisy {other}" in val_drawn_from_training(str(tmp_path / "held_out"), {
        "--clean": str(clean), "--noisy": str(other)})  # G's inputs are training photos too
    result = cli("refine", tmp_path / "run", "--val", tmp_path / "val", "--steps", "1", "--patch-size", "32",
                 "--batch-size", "2", "--threads", "1", "--workers", "0")
    assert "photos of the run's --clean" in " ".join(result.output.split()), result.output


def test_noisy_photos_synth_made_from_the_clean_ones_are_warned_of(tmp_path: Path) -> None:
    """train/adapt took a paired set's halves, or a set synthesised from --clean, as two independent domains:
    every noisy photo's clean twin was in training, pixel for pixel, without a word. An unpaired set's halves,
    made for this, are no matter."""
    from data_tools.images import write_image
    from data_tools.synth import synth
    from data_tools.training_folders import noisy_drawn_from_clean

    clean = tmp_path / "clean"
    for name, value in (("a", 90), ("b", 60), ("c", 30), ("d", 10)):
        write_image(clean / f"{name}.png", np.random.default_rng(value).integers(0, 256, (64, 64, 3), np.uint8))
    synth(clean, tmp_path / "paired", "gaussian:sigma=25", 1)
    synth(clean, tmp_path / "unpaired", "gaussian:sigma=25", 1, unpaired=True)
    paired, unpaired = tmp_path / "paired", tmp_path / "unpaired"
    assert "made by synth from the photos of its clean/" in noisy_drawn_from_clean(str(paired / "clean"),
                                                                                   str(paired / "noisy"))
    assert f"made by synth from {clean}" in noisy_drawn_from_clean(str(clean), str(paired / "noisy"))
    assert f"made by synth from {clean}" in noisy_drawn_from_clean(str(clean), str(unpaired / "noisy"))
    assert noisy_drawn_from_clean(str(unpaired / "clean"), str(unpaired / "noisy")) == ""
    assert noisy_drawn_from_clean(str(clean), str(clean)) == ""  # no set: refused elsewhere, as one folder
    result = cli("train", "--clean", paired / "clean", "--noisy", paired / "noisy", "-o", tmp_path / "run",
                 *TINY_TRAIN_FLAGS, "--steps", "1")
    assert result.exit_code == 0 and "each noisy photo's clean twin is in training" in " ".join(
        result.output.split()), result.output
    result = cli("train", "--clean", unpaired / "clean", "--noisy", unpaired / "noisy", "-o", tmp_path / "run2",
                 *TINY_TRAIN_FLAGS, "--steps", "1")
    assert result.exit_code == 0 and "clean twin" not in result.output, result.output


def test_a_later_torchrun_rank_does_not_take_rank_0s_lock_for_another_process(
        clean_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every rank probed the folder's lock: one that came after rank 0 had taken it refused, and torchrun ended
    the whole launch, new or --resume."""
    from denoise_gan.config import TrainConfig
    from denoise_gan.runtime import World
    from denoise_gan.training import run_open

    run = tmp_path / "run"
    assert cli("train", "--clean", clean_dir, "--noise", "gaussian:sigma=25", "-o", run, *TINY_TRAIN_FLAGS,
               "--steps", "2").exit_code == 0
    monkeypatch.setattr(run_open, "world_from_env", lambda: World(rank=1, size=2, local_rank=1))
    with holding_folder(run):  # rank 0, a moment ahead
        run_open.open_run(run, "cyclegan", TrainConfig, None, resume=True, steps=3)
        fresh = tmp_path / "fresh"
        fresh.mkdir()
        with holding_folder(fresh):
            run_open.open_run(fresh, "cyclegan", TrainConfig, tiny_train_config(clean_dir), resume=False, steps=None)


def test_a_set_made_from_a_folder_holding_the_training_one_or_inside_it_is_warned_of(tmp_path: Path) -> None:
    """The source folder of a --val or --noisy set may hold the training folder or lie inside it: only the same
    folder was tried, and the warning rests on that nesting alone."""
    from data_tools.images import write_image
    from data_tools.synth import synth
    from data_tools.training_folders import noisy_drawn_from_clean, val_drawn_from_training

    photos = tmp_path / "photos"
    for name, value in (("sub/a", 90), ("sub/b", 60), ("c", 30)):
        write_image(photos / f"{name}.png", np.random.default_rng(value).integers(0, 256, (64, 64, 3), np.uint8))
    synth(photos, tmp_path / "from_parent", "gaussian:sigma=10", 1)
    synth(photos / "sub", tmp_path / "from_sub", "gaussian:sigma=10", 1)
    for made, training in (("from_parent", photos / "sub"), ("from_sub", photos)):
        assert "photos the run trains on" in val_drawn_from_training(str(tmp_path / made), {"--clean": str(training)})
        assert "made by synth from" in noisy_drawn_from_clean(str(training), str(tmp_path / made / "noisy")), made
