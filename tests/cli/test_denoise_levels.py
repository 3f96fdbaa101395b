"""`denoise --strength/--sigma`: a level-aware model takes them, strength 0 returns the input untouched, and a
blind model refuses them in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from data_tools.images import read_image, write_image
from denoise_gan.nets.weights import save_generator
from helpers import TINY_LEVEL, cli, noise_image, one_line_error, random_level_net


def _level_weights(tmp_path: Path) -> Path:
    path = tmp_path / "level.safetensors"
    save_generator(path, random_level_net(), TINY_LEVEL, {"role": "G noisy->clean"})
    return path


def test_strength_and_sigma_reach_a_level_aware_model(tmp_path: Path) -> None:
    weights = _level_weights(tmp_path)
    source = noise_image(48, 40)
    write_image(tmp_path / "in" / "a.png", source)
    outs = {}
    for name, flags in {"zero": ["--strength", "0"], "blind": [], "sigma": ["--sigma", "40"]}.items():
        result = cli("denoise", tmp_path / "in", "-o", tmp_path / name, "-c", weights, *flags)
        assert result.exit_code == 0, result.stdout
        outs[name] = read_image(tmp_path / name / "a.png").pixels
    assert np.array_equal(outs["zero"], source)  # level 0: the correction fades to nothing
    assert not np.array_equal(outs["sigma"], source) and not np.array_equal(outs["sigma"], outs["blind"])


def test_a_blind_model_refuses_strength(weights: Path, tmp_path: Path) -> None:
    write_image(tmp_path / "in" / "a.png", noise_image(16, 16))
    result = cli("denoise", tmp_path / "in", "-o", tmp_path / "out", "-c", weights, "--strength", "0.5")
    one_line_error(result, "blind")
