"""Colour-cast crops: a share of training crops turned to saturated colours, so colour alone predicts no level."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data_tools.colour_cast import WEAKEST_GAIN, colour_cast, colour_gains
from denoise_gan.config import RefineConfig
from denoise_gan.training.new_run_inputs import load_source_config
from denoise_gan.training.refine import make_dataset
from helpers import altered_crop_share


def _photos() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [np.clip(120 + rng.normal(0, 4, (80, 80, 3)), 0, 255).astype(np.uint8) for _ in range(3)]


def test_gains_keep_one_channel_and_darken_the_others_within_range() -> None:
    kept, weakest = set(), 1.0
    for seed in range(300):
        gains = colour_gains(np.random.default_rng(seed))
        assert gains.shape == (3,) and gains.max() == 1.0
        assert gains.min() >= WEAKEST_GAIN * 0.999
        kept.add(int(np.argmax(gains)))
        weakest = min(weakest, float(gains.min()))
    assert kept == {0, 1, 2}, "any channel may be the one kept"
    assert weakest < 2 * WEAKEST_GAIN, "near-black channels (a leaf's blue) are drawn"


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_cast_scales_each_channel_and_keeps_the_dtype(dtype: type) -> None:
    top = np.iinfo(dtype).max
    patch = np.full((16, 16, 3), top, dtype)
    cast = colour_cast(patch, np.random.default_rng(3))
    gains = colour_gains(np.random.default_rng(3))
    assert cast.dtype == patch.dtype and cast.shape == patch.shape
    assert np.array_equal(cast[0, 0], np.rint(top * gains).astype(dtype))
    assert np.array_equal(cast, colour_cast(patch, np.random.default_rng(3))), "seeded"


def test_gray_patches_stay_gray_and_draw_nothing() -> None:
    patch = np.full((16, 16, 1), 100, np.uint8)
    rng = np.random.default_rng(5)
    assert colour_cast(patch, rng) is patch
    assert rng.random() == np.random.default_rng(5).random()


def test_cast_crops_are_drawn_as_often_as_asked() -> None:
    photos = _photos()
    assert altered_crop_share(photos, colour_cast_fraction=0.0) == 0.0
    assert 0.24 < altered_crop_share(photos, colour_cast_fraction=0.3) < 0.36


def test_the_share_must_be_a_fraction() -> None:
    with pytest.raises(ValueError, match="colour_cast_fraction"):
        RefineConfig(run_dir="run", colour_cast_fraction=1.5)


def test_refine_hands_the_shares_to_its_sampler(finished_run: Path) -> None:
    cfg = RefineConfig(run_dir=str(finished_run), colour_cast_fraction=0.3, pattern_fraction=0.2,
                       gray_fraction=0.6, clean_jpeg_fraction=0.4)
    dataset = make_dataset(cfg, load_source_config(finished_run))
    sampler = dataset.sampler
    assert (sampler.colour_cast_fraction, sampler.pattern_fraction, sampler.gray_fraction) == (0.3, 0.2, 0.6)
    assert dataset.clean_variant is not None  # --clean-jpeg-fraction's JPEG copies of the clean patches
    assert make_dataset(RefineConfig(run_dir=str(finished_run)), load_source_config(finished_run)).clean_variant \
        is None
