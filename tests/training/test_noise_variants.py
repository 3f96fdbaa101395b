"""Variants of F's draws on the share asked: correlated (coarser, shared across channels, at the same std),
white (no spatial correlation, every pixel's size and its channels' correlation kept) and faint (noise and level
map scaled together)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from denoise_gan.training.noise_variants import correlate_some, fade_some, whiten_some


def _lag1(noise: torch.Tensor) -> float:
    """Correlation of horizontally neighbouring values: 0 for white noise."""
    a, b = noise[..., :-1].flatten(), noise[..., 1:].flatten()
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])


def _channel_corr(noise: torch.Tensor) -> float:
    return float(torch.corrcoef(torch.stack([noise[:, 0].flatten(), noise[:, 1].flatten()]))[0, 1])


def test_every_draw_becomes_coarser_and_shared_across_channels_at_its_own_std() -> None:
    torch.manual_seed(0)
    noise = torch.randn(32, 3, 48, 48) * torch.linspace(0.01, 0.2, 32)[:, None, None, None]
    out = correlate_some(noise, 1.0)
    assert out.shape == noise.shape
    assert torch.allclose(out.std(dim=(1, 2, 3)), noise.std(dim=(1, 2, 3)), rtol=1e-4)
    assert abs(_lag1(noise)) < 0.05 and _lag1(out) > 0.3
    assert abs(_channel_corr(noise)) < 0.05 and _channel_corr(out) > 0.05
    assert abs(float(out.mean())) < 0.01  # still zero-mean noise


def _fade_noise(noise: torch.Tensor, fraction: float) -> torch.Tensor:
    return fade_some(noise, torch.ones_like(noise), fraction)[0]


@pytest.mark.parametrize("vary", [correlate_some, whiten_some, _fade_noise])
def test_only_the_share_asked_for_changes(vary: Callable[[torch.Tensor, float], torch.Tensor]) -> None:
    torch.manual_seed(1)
    noise = torch.randn(400, 3, 16, 16)
    assert torch.equal(vary(noise, 0.0), noise)
    changed = (vary(noise, 0.3) != noise).flatten(1).any(dim=1).float().mean()
    assert 0.2 < float(changed) < 0.4


def test_a_flat_draw_stays_flat() -> None:
    noise = torch.zeros(4, 3, 16, 16)
    assert torch.equal(correlate_some(noise, 1.0), noise)


def test_whitened_draws_lose_their_spatial_correlation_and_keep_every_pixels_size() -> None:
    torch.manual_seed(2)
    coarse = correlate_some(torch.randn(32, 3, 48, 48) * 0.1, 1.0)
    out = whiten_some(coarse, 1.0)
    assert _lag1(coarse) > 0.3 and abs(_lag1(out)) < 0.05
    assert torch.equal(out.abs(), coarse.abs())  # the level map F drew stays exact
    assert torch.allclose(out[:, 0] * out[:, 1], coarse[:, 0] * coarse[:, 1])  # one sign for a pixel's channels


def test_faint_draws_scale_noise_and_level_map_by_one_factor_per_sample() -> None:
    torch.manual_seed(3)
    noise = 0.1 * torch.randn(64, 3, 8, 8)
    level = torch.full_like(noise, 0.1)
    faint, faint_level = fade_some(noise, level, 1.0)
    factor = faint_level[:, :1, :1, :1] / 0.1  # one factor per sample, in [0, 1), shared by noise and map
    assert torch.allclose(faint_level, factor.expand_as(level) * 0.1)
    assert torch.allclose(faint, factor * noise, atol=1e-7)
    assert 0 <= factor.min() and factor.max() < 1 and factor.std() > 0.2
    same, same_level = fade_some(noise, level, 0.0)
    assert torch.equal(same, noise) and torch.equal(same_level, level)


def test_the_blur_spreads_a_point_by_its_width() -> None:
    """A width is the Gaussian's std in pixels: a single photosite's noise spreads that far, and no farther."""
    from denoise_gan.training.noise_variants import _blur

    point = torch.zeros(2, 1, 15, 15)
    point[:, :, 7, 7] = 1.0
    spread = _blur(point, torch.tensor([0.8, 1.2]))[:, 0]
    offsets = torch.arange(15, dtype=torch.float32) - 7
    for response, width in zip(spread, (0.8, 1.2)):
        assert float(response.sum()) == pytest.approx(1.0, abs=1e-5)
        along_x = float((response.sum(dim=0) * offsets**2).sum())
        assert along_x == pytest.approx(width**2, rel=0.05), width
