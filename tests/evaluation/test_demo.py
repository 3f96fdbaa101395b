"""The README's first command, and the shipped default model it runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from data_tools.images import read_image
from data_tools.noise import image_seed, parse_noise_spec
from data_tools.samples import HELD_OUT, load_sample
from denoise_gan.cli import app
from denoise_gan.config import GeneratorConfig
from denoise_gan.evaluation.metrics import psnr
from denoise_gan.inference.tiling import InferConfig, denoise_array
from denoise_gan.nets.registry import build_generator
from denoise_gan.nets.weights import load_generator, resolve_weights, save_generator

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
        clean = load_sample(name)
        assert strip.shape == (clean.shape[0], 3 * clean.shape[1], clean.shape[2])  # noisy | denoised | clean
        assert np.array_equal(strip[:, 2 * clean.shape[1]:], clean)
    assert "mean" in result.output and "denoised PSNR" in result.output


def test_demo_bad_checkpoint_is_one_line_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "-o", str(tmp_path / "out"), "--checkpoint", str(tmp_path / "none.st")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_shipped_default_model_denoises_held_out_photos() -> None:
    """The shipped weights load from the package and clearly denoise an image they never saw (crop, σ=25)."""
    net, cfg, meta = load_generator(resolve_weights(None))
    assert cfg.arch == "unet" and "refine" in meta.get("trained_by", "")
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
    assert psnr(whole, tiled) >= 45.0  # measured for the shipped model: 61.0 dB
