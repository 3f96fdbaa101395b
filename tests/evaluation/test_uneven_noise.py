"""benchmarks/uneven_noise.py draws its noise on the right half only (the README's tiling notes quote it)."""

from __future__ import annotations

import numpy as np

from helpers import benchmark_script, noise_image


def test_the_left_half_stays_clean_and_the_right_half_gets_the_seeded_noise() -> None:
    script = benchmark_script("uneven_noise")
    clean = noise_image(32, 41)
    noisy = script.right_half_noisy(clean, "gaussian:sigma=25", 3)
    assert noisy.dtype == clean.dtype and noisy.shape == clean.shape
    np.testing.assert_array_equal(noisy[:, :20], clean[:, :20])
    assert np.abs(noisy[:, 20:].astype(int) - clean[:, 20:]).mean() > 10
    np.testing.assert_array_equal(noisy, script.right_half_noisy(clean, "gaussian:sigma=25", 3))
