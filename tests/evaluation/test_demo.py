"""The README's first command, and the shipped default model it runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from data_tools.images import read_image
from data_tools.noise import image_seed, parse_noise_spec
from data_tools.samples import HELD_OUT, load_sample
from denoise_gan.cli import app
from denoise_gan.config import GeneratorConfig
from denoise_gan.evaluation.metrics import psnr
from denoise_gan.evaluation.pictures import CAPTION_H, GAP, HEADER_H, TITLE_H, rgb8
from denoise_gan.inference.infer_config import InferConfig
from denoise_gan.inference.tiling import denoise_array
from denoise_gan.nets.registry import build_generator
from denoise_gan.nets.shipped import resolve_weights
from denoise_gan.nets.weights import load_generator, save_generator

runner = CliRunner()


def test_demo_writes_strips_and_scores(tmp_path: Path) -> None:
    weights = tmp_path / "tiny.safetensors"
    cfg = GeneratorConfig(width=4, depth=1)
    save_generator(weights, build_generator(cfg), cfg)
    result = runner.invoke(app, ["demo", "-o", str(tmp_path / "out"), "--checkpoint", str(weights)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in HELD_OUT:
        strip = read_image(tmp_path / "out" / f"{name}.png").pixels
        clean = rgb8(load_sample(name))
        h, w = clean.shape[:2]
        top = TITLE_H + HEADER_H + CAPTION_H  # the title, the column names and the row's caption above
        assert strip.shape == (top + h + GAP, 3 * w + 2 * GAP, 3)  # noisy | denoised | clean
        assert np.array_equal(strip[top:top + h, 2 * (w + GAP):], clean)
        noisy = parse_noise_spec("gaussian:sigma=25").apply(load_sample(name), image_seed(0, name))[0]
        assert np.array_equal(strip[top:top + h, :w], rgb8(noisy))  # each photo's own seeded noise
        labels = strip[:top]
        assert (labels < 128).any() and (labels[:, :w] < 128).any()  # text in the label bands
    assert "mean" in result.output and "denoised PSNR" in result.output
    record = json.loads((tmp_path / "out" / "demo.json").read_text())  # the scores, for a script
    assert [i["name"] for i in record["images"]] == list(HELD_OUT) and record["noise"] == "gaussian:sigma=25"
    noisy = [i["noisy_psnr"] for i in record["images"]]
    assert f"{np.mean(noisy):.2f}" in result.output  # the printed mean is the record's
    mean = record["mean"]  # the means the table prints, for a script that reads no table
    assert mean["noisy_psnr"] == pytest.approx(np.mean(noisy)) and f"{mean['psnr']:.2f}" in result.output
    assert mean["ssim"] == pytest.approx(np.mean([i["ssim"] for i in record["images"]]))
    # how many pairs the PSNR means leave out (an identical pair's PSNR is infinite), as evaluate's results say
    assert mean["identical_pairs"] == mean["noisy_identical_pairs"] == 0 and "identical_pairs" in record["mean_rule"]


def test_demo_scores_before_and_after_are_the_strips_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The row and the strip's labels say the noisy image's scores under "noisy" and the denoised one's under
    "denoised", both against the clean image, and the seconds the denoising took."""
    import time

    from denoise_gan.evaluation import demo
    from denoise_gan.evaluation.metrics import ssim

    weights = tmp_path / "tiny.safetensors"
    cfg = GeneratorConfig(width=4, depth=1)
    save_generator(weights, build_generator(cfg), cfg)
    labels: list[list[str]] = []
    drawn = demo.labelled_grid
    monkeypatch.setattr(demo, "labelled_grid", lambda rows, columns, *a: labels.append(columns) or drawn(rows,
                                                                                                     columns, *a))
    began = time.perf_counter()
    row = demo.run_demo(tmp_path / "out", checkpoint=str(weights), names=("coffee",)).rows[0]
    took = time.perf_counter() - began
    clean = load_sample("coffee")
    noisy = parse_noise_spec("gaussian:sigma=25").apply(clean, image_seed(0, "coffee"))[0]
    h, w = clean.shape[:2]
    top = TITLE_H + HEADER_H + CAPTION_H
    denoised = read_image(row.path).pixels[top:top + h, w + GAP:2 * w + GAP]
    assert (row.noisy_psnr, row.noisy_ssim) == (psnr(clean, noisy), ssim(clean, noisy))
    assert (row.psnr, row.ssim) == (psnr(clean, denoised), ssim(clean, denoised))
    assert row.psnr != row.noisy_psnr and 0 < row.seconds < took
    assert labels[0][0].startswith(f"noisy  {row.noisy_psnr:.2f} dB / {row.noisy_ssim:.3f}")
    assert labels[0][1].startswith(f"denoised  {row.psnr:.2f} dB / {row.ssim:.3f}")


def test_a_demo_strip_names_its_model_and_a_gray_photo_is_scored_as_gray(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Strips of two checkpoints bore one title, and a gray photo's caption said "PSNR (RGB ...)"."""
    from denoise_gan.evaluation import demo

    weights = tmp_path / "tiny.safetensors"
    cfg = GeneratorConfig(width=4, depth=1)
    save_generator(weights, build_generator(cfg), cfg)
    drawn: list[tuple[list[str], str]] = []
    grid = demo.labelled_grid
    monkeypatch.setattr(demo, "labelled_grid", lambda rows, columns, captions, title: drawn.append(
        (captions, title)) or grid(rows, columns, captions, title))
    reported: list[tuple[int, int, str]] = []  # each photo as it is done (the demo showed nothing until the end)
    demo.run_demo(tmp_path / "out", checkpoint=str(weights), names=("coffee", "camera"),
                  progress=lambda *args: reported.append(args))
    assert reported == [(1, 2, "coffee"), (2, 2, "camera")]
    (coffee, coffee_title), (camera, _) = drawn
    assert coffee_title.startswith(f"denoise-gan demo: {weights}, gaussian:sigma=25")  # as given, folder and all
    assert "PSNR (RGB," in coffee[0] and "PSNR (gray," in camera[0]


def test_demo_bad_checkpoint_is_one_line_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "-o", str(tmp_path / "out"), "--checkpoint", str(tmp_path / "none.st")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_shipped_default_model_denoises_held_out_photos() -> None:
    """The shipped weights load from the package and clearly denoise an image they never saw (crop, σ=25)."""
    net, cfg, meta = load_generator(resolve_weights(None))
    assert cfg.arch == "level" and "refine" in meta.get("trained_by", "")
    assert meta["license"] == "MIT" and "gaussian" in meta["noise_family"] and "photo pool" in meta["training_data"]
    spec = parse_noise_spec("gaussian:sigma=25")
    for name in ("coffee", "camera"):
        clean = load_sample(name)[100:228, 100:228]
        noisy = spec.apply(clean, image_seed(0, name))[0]
        denoised = denoise_array(net, noisy, InferConfig(device="cpu"))
        assert psnr(clean, denoised) > psnr(clean, noisy) + 3.0, name


def test_shipped_model_tiled_equals_whole_image() -> None:
    """The tiling contract on the real weights: default overlap, small tiles so several seams cross the image."""
    net, _, _ = load_generator(resolve_weights(None))
    clean = load_sample("chelsea")
    noisy = parse_noise_spec("gaussian:sigma=25").apply(clean, 1)[0]
    whole = denoise_array(net, noisy, InferConfig(tile=0, device="cpu"))
    tiled = denoise_array(net, noisy, InferConfig(tile=128, device="cpu"))
    assert psnr(whole, tiled) >= 45.0  # measured for the shipped model: 51.8 dB (each tile estimates its level)


def test_shipped_model_leaves_clean_photos_nearly_as_they_are() -> None:
    """A photo without noise: the estimated level is low and the output stays close to the input, and a zero
    strength returns it exactly (crops of held-out photos, never seen in training)."""
    net, _, _ = load_generator(resolve_weights(None))
    for name in ("astronaut", "chelsea"):
        clean = load_sample(name)[100:228, 100:228]
        # measured: astronaut back bit for bit, 46.0 dB (chelsea's fur, the hardest case of the held-out crops)
        assert psnr(clean, denoise_array(net, clean, InferConfig(device="cpu"))) > 40.0, name
        assert np.array_equal(denoise_array(net, clean, InferConfig(device="cpu", strength=0.0)), clean)


def test_shipped_model_strength_scales_the_smoothing() -> None:
    """More strength removes more: on a noisy crop the output moves further from the input as strength grows."""
    net, _, _ = load_generator(resolve_weights(None))
    clean = load_sample("coffee")[100:228, 100:228]
    noisy = parse_noise_spec("gaussian:sigma=25").apply(clean, 3)[0]
    change = [np.abs(denoise_array(net, noisy, InferConfig(device="cpu", strength=k)).astype(float) - noisy).mean()
              for k in (0.5, 1.0, 1.5)]
    assert change[0] < change[1] < change[2]


def test_the_mean_leaves_out_images_that_came_back_unchanged_and_says_so() -> None:
    """`demo --noise gaussian:sigma=0` printed an infinite mean when two photos came back bit for bit."""
    from rich.console import Console

    from denoise_gan.cli.render import demo_table
    from denoise_gan.evaluation.demo import DemoRow

    rows = [DemoRow("a", 20.0, 0.5, float("inf"), 1.0, 0.1, Path("a")),
            DemoRow("b", 20.0, 0.5, 40.0, 0.9, 0.1, Path("b")), DemoRow("c", 20.0, 0.5, 44.0, 0.9, 0.1, Path("c"))]
    console = Console(record=True, width=200)
    console.print(demo_table(rows, "gaussian:sigma=0", 0))
    text = " ".join(console.export_text().split())
    assert "42.00*" in text and "the PSNR mean is over the other 2" in text
    rows[1] = DemoRow("b", float("inf"), 1.0, 40.0, 0.9, 0.1, Path("b"))  # a noisy input that is the clean photo
    console = Console(record=True, width=200)
    console.print(demo_table(rows, "salt-pepper:amount=0.000003", 0))
    text = " ".join(console.export_text().split())
    assert "20.00*" in text and "42.00**" in text  # before and after means over different photos: both marked
    assert "* noisy: 1 identical pair(s) (PSNR infinite): the PSNR mean is over the other 2" in text
    assert "** denoised: 1 identical pair(s)" in text


def _tiny_weights(tmp_path: Path) -> Path:
    weights = tmp_path / "tiny.safetensors"
    cfg = GeneratorConfig(width=4, depth=1)
    save_generator(weights, build_generator(cfg), cfg)
    return weights


def test_a_demo_cut_short_leaves_no_other_runs_scores_and_its_rerun_finishes_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut short over an earlier demo, the folder held two runs' strips and the earlier run's demo.json with its
    scores for all five; cut short in a new folder, the same command was refused (not empty). The photos are cut
    to 48x48: what is tested is the record, not the pictures."""
    from denoise_gan.evaluation import demo as demo_module

    monkeypatch.setattr(demo_module, "load_sample", lambda name: load_sample(name)[:48, :48])
    weights, out = _tiny_weights(tmp_path), tmp_path / "out"
    assert runner.invoke(app, ["demo", "-o", str(out), "-c", str(weights)]).exit_code == 0
    real_strip, made = demo_module.demo_strip, []

    def second_strip_interrupted(*args: object, **kwargs: object) -> np.ndarray:
        made.append(1)
        if len(made) == 2:
            raise KeyboardInterrupt
        return real_strip(*args, **kwargs)

    monkeypatch.setattr(demo_module, "demo_strip", second_strip_interrupted)
    result = runner.invoke(app, ["demo", "-o", str(out), "-c", str(weights), "--seed", "3"])
    assert result.exit_code == 130 and "the same command finishes it" in result.output, result.output
    record = json.loads((out / "demo.json").read_text())
    assert record["complete"] is False and record["seed"] == 3 and "mean" not in record
    assert all("psnr" not in image for image in record["images"])  # no scores for strips it did not make
    monkeypatch.setattr(demo_module, "demo_strip", real_strip)
    result = runner.invoke(app, ["demo", "-o", str(out), "-c", str(weights), "--seed", "3"])
    assert result.exit_code == 0, result.output
    record = json.loads((out / "demo.json").read_text())
    assert record["complete"] is True and record["seed"] == 3 and len(record["images"]) == len(HELD_OUT)


def test_a_second_demo_into_a_folder_a_demo_is_writing_is_refused(tmp_path: Path) -> None:
    """Two demos into one folder both exited 0, the folder holding one's strips beside the other's."""
    from data_tools.folder_lock import holding_folder

    out = tmp_path / "out"
    with holding_folder(out, "demo"):  # (the lock is the process's, so the check runs in a child)
        import subprocess
        import sys

        from helpers import CHILD_ENV

        done = subprocess.run([sys.executable, "-m", "denoise_gan", "demo", "-o", str(out), "-c",
                               str(_tiny_weights(tmp_path))], env=CHILD_ENV, capture_output=True, text=True,
                              timeout=300)
    assert done.returncode == 1 and "another process is writing this demo now" in done.stderr, done.stderr
    assert not any(out.iterdir())
