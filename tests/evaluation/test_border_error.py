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
