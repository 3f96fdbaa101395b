"""Striped crops: a share of training crops is shaded by stripes or grids, so regular texture is seen often."""

from __future__ import annotations

import numpy as np
import pytest

from data_tools.patterns import CONTRASTS, PERIODS, overlay_pattern, stripes
from denoise_gan.config import RefineConfig
from helpers import altered_crop_share


def _photos() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [np.clip(90 + rng.normal(0, 4, (80, 80, 3)), 0, 255).astype(np.uint8) for _ in range(3)]


def _dominant_period(row: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(row - row.mean()))
    return len(row) / int(np.argmax(spectrum[1:]) + 1)


def test_stripes_are_regular_and_within_the_stated_periods() -> None:
    """An axis-aligned single grating repeats along the row at a period in PERIODS (the FFT's strongest bin)."""
    found, across = [], 0
    for seed in range(200):
        pattern = stripes((256, 256), np.random.default_rng(seed))
        assert pattern.dtype == np.float32 and 0.0 <= pattern.min() and pattern.max() <= 1.0
        assert pattern.std() > 0.05, "a pattern with no contrast teaches nothing"
        if np.allclose(pattern, pattern[:1]):  # the same in every row: upright stripes
            found.append(_dominant_period(pattern[0]))
        across += bool(np.allclose(pattern, pattern[:, :1]))  # the same in every column: lying stripes
    # both axes: the crop is turned before the stripes are laid, so the stripes' own axis must be drawn too
    assert len(found) > 25 and across > 25
    assert PERIODS[0] * 0.9 <= min(found) and max(found) <= PERIODS[1] * 1.1
    assert max(found) > 3 * min(found), "periods drawn across the range, not one"


@pytest.mark.parametrize(("dtype", "channels"), [(np.uint8, 3), (np.uint8, 1), (np.uint16, 3)])
def test_overlay_keeps_the_patch_a_photo_of_its_kind(dtype: type, channels: int) -> None:
    top = np.iinfo(dtype).max
    patch = np.full((64, 64, channels), top // 2, dtype)
    shaded = overlay_pattern(patch, np.random.default_rng(4))
    assert shaded.shape == patch.shape and shaded.dtype == patch.dtype
    assert not np.array_equal(shaded, patch)
    assert shaded.min() >= (1 - CONTRASTS[1]) * (top // 2) - 1  # shaded on its own scale, 16-bit too
    # alike in every channel: luminance stripes, no colour added
    assert all(np.array_equal(shaded[..., 0], shaded[..., c]) for c in range(channels))
    again = overlay_pattern(patch, np.random.default_rng(4))
    assert np.array_equal(shaded, again)


def test_overlay_never_wraps_at_black_or_white() -> None:
    for seed in range(40):
        for value in (0, 255):
            patch = np.full((32, 32, 3), value, np.uint8)
            shaded = overlay_pattern(patch, np.random.default_rng(seed))
            assert shaded.min() >= 0 and shaded.max() <= 255
            # black stays black when darkened; white stays white when lightened; never the opposite extreme
            assert not np.any(np.abs(shaded.astype(int) - value) == 255)


def test_stripes_darken_some_patches_and_lighten_others() -> None:
    """Blinds shade a photo, print on a light ground lightens it: both are drawn, each alike over the patch."""
    patch = np.full((32, 32, 3), 128, np.uint8)
    ways = set()
    for seed in range(20):
        shaded = overlay_pattern(patch, np.random.default_rng(seed)).astype(int)
        assert shaded.max() <= 128 or shaded.min() >= 128  # one way per patch
        ways.add("darker" if shaded.min() < 128 else "lighter")
    assert ways == {"darker", "lighter"}


def test_striped_crops_are_drawn_as_often_as_asked() -> None:
    photos = _photos()
    assert altered_crop_share(photos, pattern_fraction=0.0) == 0.0
    assert 0.24 < altered_crop_share(photos, pattern_fraction=0.3) < 0.36
    assert altered_crop_share(photos, pattern_fraction=1.0) > 0.97


def test_the_share_must_be_a_fraction() -> None:
    with pytest.raises(ValueError, match="pattern_fraction"):
        RefineConfig(run_dir="run", pattern_fraction=-0.1)
