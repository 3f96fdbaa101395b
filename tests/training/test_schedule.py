"""The learning-rate schedule both trainers step: constant, then linear to zero over the last steps."""

from __future__ import annotations

import pytest

from denoise_gan.training.schedule import linear_decay


def test_the_rate_is_constant_then_falls_linearly_to_zero_at_the_last_step() -> None:
    factor = linear_decay(100, 0.5)
    assert [factor(s) for s in (0, 1, 49, 50)] == [1.0, 1.0, 1.0, 1.0]
    assert factor(75) == pytest.approx(0.5) and factor(99) == pytest.approx(0.02) and factor(100) == 0.0
    assert factor(150) == 0.0  # a run extended past its plan never gets a negative rate
    assert linear_decay(10, 1.0)(9) == 1.0  # decay from the end: constant throughout
    assert linear_decay(10, 0.0)(0) == 1.0 and linear_decay(10, 0.0)(5) == pytest.approx(0.5)
