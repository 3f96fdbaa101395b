"""benchmarks/border_error.py measures the frame it names and the inside apart (the model card quotes it)."""

from __future__ import annotations

import numpy as np

from helpers import benchmark_script


def test_the_frame_and_the_inside_are_measured_apart() -> None:
    script = benchmark_script("border_error")
    clean = np.zeros((64, 48, 3), np.uint8)
    denoised = clean.copy()
    denoised[:2], denoised[-2:], denoised[:, :2], denoised[:, -2:] = 10, 10, 10, 10  # the frame wrong by 10
    denoised[30, 20] = 40  # one inside pixel wrong by 40
    edge, inside = script.frame_and_inside_error(clean, denoised, 2)
    assert edge == 10.0
    margin = script.INSIDE_MARGIN
    assert inside == 40.0 / ((64 - 2 * margin) * (48 - 2 * margin))
    assert script.frame_and_inside_error(clean, denoised, 1)[0] == 10.0  # a narrower frame lies inside the 2 px one


def test_a_clean_photo_returned_exact_inside_has_no_ratio_and_an_infinite_psnr() -> None:
    script = benchmark_script("border_error")
    assert script.ratio_cell(0.0, 0.0).strip() == "-"  # sigma 0: the inside comes back exact, no division
    assert script.ratio_cell(3.0, 2.0) == "    1.50"
    assert script.psnr_of(0.0) == float("inf")
    assert round(script.psnr_of(1.0), 2) == 48.13


def test_the_mirror_surrounds_gray_and_colour_photos_alike() -> None:
    script = benchmark_script("border_error")
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = script.mirrored(gray, 2)
    assert out.shape == (7, 8) and out[2, 0] == gray[0, 2] and np.array_equal(out[2:-2, 2:-2], gray)
    assert script.mirrored(np.stack([gray] * 3, -1), 2).shape == (7, 8, 3)
