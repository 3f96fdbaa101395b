"""Detailed crops: a share of training crops is the most detailed of four, so dense texture is seen often."""

from __future__ import annotations

import numpy as np
import pytest

from data_tools.datasets import PatchSampler, fine_detail
from denoise_gan.config import RefineConfig


def _photos() -> list[np.ndarray]:
    """One flat photo and one of dense fine texture, as a pool of mostly sky with a little foliage."""
    rng = np.random.default_rng(3)
    flat = np.full((96, 96, 3), 120, np.uint8)
    texture = np.clip(120 + rng.normal(0, 30, (96, 96, 1)).repeat(3, axis=2), 0, 255).astype(np.uint8)
    return [flat, flat, flat, texture]


def test_fine_detail_reads_texture_above_flat_and_gray_alike() -> None:
    flat, _, _, texture = _photos()
    assert fine_detail(flat) == 0.0
    assert fine_detail(texture) > 10
    assert fine_detail(texture[..., :1]) == pytest.approx(fine_detail(texture), rel=0.05)
    assert fine_detail(texture.astype(np.uint16) * 257) == pytest.approx(fine_detail(texture), rel=1e-4)


def test_detailed_crops_are_drawn_as_often_as_asked() -> None:
    def textured_share(fraction: float) -> float:
        sampler = PatchSampler(_photos(), 32, 3, 0.0, detail_fraction=fraction)
        rng = np.random.default_rng(0)
        return float(np.mean([fine_detail(sampler.patch(rng)) > 10 for _ in range(400)]))

    plain, half, every = textured_share(0.0), textured_share(0.5), textured_share(1.0)
    assert 0.17 < plain < 0.33  # one photo in four
    assert 1 - 0.75**4 - 0.05 < every < 1 - 0.75**4 + 0.05  # the best of four draws finds it unless all miss
    assert plain + 0.15 < half < every - 0.1


def test_without_detail_crops_the_draws_are_unchanged_and_seeded() -> None:
    """Runs made before the option (and their --resume) see the same crops: no extra random draw is taken."""
    photos = _photos()
    plain = PatchSampler(photos, 32, 3, 0.0)
    a = [plain.one_patch(np.random.default_rng(7)) for _ in range(2)]
    b = [plain.patch(np.random.default_rng(7)) for _ in range(2)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    detailed = PatchSampler(photos, 32, 3, 0.0, detail_fraction=0.7)
    first = [detailed.patch(np.random.default_rng([5, i])) for i in range(10)]
    again = [detailed.patch(np.random.default_rng([5, i])) for i in range(10)]
    assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))


def test_the_share_must_be_a_fraction() -> None:
    with pytest.raises(ValueError, match="detail_fraction"):
        RefineConfig(run_dir="run", detail_fraction=1.5)
