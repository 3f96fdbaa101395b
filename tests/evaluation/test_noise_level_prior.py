"""The weak-texture PCA reader of benchmarks/noise_level_prior.py reads white noise at its level, texture as none."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from data_tools.images import write_image
from helpers import BENCHMARKS, benchmark_script

SCRIPT = BENCHMARKS / "noise_level_prior.py"


@pytest.fixture(scope="module")
def prior():
    return benchmark_script("noise_level_prior")


def _textured(side: int = 160) -> np.ndarray:
    """A smooth ramp with a band of strong stripes: texture a wavelet estimate reads as noise."""
    y, x = np.mgrid[0:side, 0:side].astype(np.float64)
    image = 60.0 + 100.0 * x / side
    image[:, : side // 3] += 40.0 * np.sin(x[:, : side // 3] * 2.2) * np.cos(y[:, : side // 3] * 1.7)
    return image


@pytest.mark.parametrize("sigma", [5.0, 15.0])
def test_white_noise_is_read_at_its_level(prior, sigma):
    noisy = _textured() + np.random.default_rng(0).normal(0.0, sigma, (160, 160))
    assert prior.pca_sigma(noisy) == pytest.approx(sigma, rel=0.12)


def test_texture_without_noise_reads_near_zero(prior):
    assert prior.pca_sigma(_textured()) < 0.5


def test_clipped_patches_are_left_out(prior):
    # a photo half black: its black patches have no noise and, kept, would read the whole photo as clean
    noisy = _textured(320) + np.random.default_rng(1).normal(0.0, 10.0, (320, 320))
    half_black = noisy.copy()
    half_black[:, 160:] = 0.0
    assert prior.pca_sigma(half_black) == pytest.approx(prior.pca_sigma(noisy[:, :160]), rel=0.02)
    assert prior.pca_sigma(half_black) > 8.0


def test_script_prints_the_table_without_torch_readers(tmp_path):
    write_image(tmp_path / "ramp.png", np.clip(_textured(), 0, 255).astype(np.uint8))
    run = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "--no-model", "--noise", "gaussian:sigma=10"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    row = next(line for line in run.stdout.splitlines() if line.startswith(f"{tmp_path.name}/ramp"))
    true, pca = (float(v) for v in row.split()[2:4])
    assert pca == pytest.approx(true, rel=0.12)
    assert "gaussian:sigma=10" in run.stdout.split("median reading")[1]


def test_a_folder_without_images_is_refused_not_an_empty_table(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    for folder in (tmp_path / "missing", tmp_path / "empty"):
        done = subprocess.run([sys.executable, str(SCRIPT), str(folder), "--no-model"], capture_output=True, text=True)
        assert done.returncode == 1 and done.stderr.strip() == f"error: {folder}: no images there (no such folder, " \
            "or none in it)", done.stderr
