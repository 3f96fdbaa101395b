"""The blind level map projected onto a function of brightness: texture spikes go, brightness dependence stays."""

from __future__ import annotations

import pytest
import torch

from denoise_gan.config import GeneratorConfig
from denoise_gan.nets.level import LevelAwareDenoiser
from denoise_gan.nets.level_profile import MIN_CELLS, brightness_profile


def _image(h: int = 32, w: int = 32) -> torch.Tensor:
    """A brightness ramp over the columns, the same in every row (N=1, C=1)."""
    return torch.linspace(0.05, 0.95, w).expand(1, 1, h, w).contiguous()


def test_texture_spikes_in_a_minority_of_cells_are_dropped() -> None:
    brightness = _image()
    cells = torch.full_like(brightness, 0.04)
    cells[..., ::4, :] = 0.6  # a quarter of the cells read texture as strong noise
    out = brightness_profile(cells, brightness)
    assert torch.allclose(out, torch.full_like(out, 0.04), atol=1e-5)


def test_a_level_that_grows_with_brightness_is_kept() -> None:
    brightness = _image()
    cells = 0.02 + 0.1 * brightness  # shot noise: more level where brighter
    out = brightness_profile(cells, brightness)
    assert (out[..., 1:] >= out[..., :-1] - 1e-6).all()  # still rising along the ramp
    assert (out - cells).abs().mean() < 0.01  # and close to the truth
    assert out[..., -1].mean() > 2 * out[..., 0].mean()


def test_images_and_channels_are_projected_separately() -> None:
    brightness = _image().expand(2, 3, 32, 32).contiguous()
    levels = torch.tensor([0.01, 0.05, 0.1, 0.02, 0.07, 0.2]).reshape(2, 3, 1, 1)
    out = brightness_profile(levels.expand(2, 3, 32, 32).contiguous(), brightness)
    assert torch.allclose(out, levels.expand_as(out), atol=1e-6)


def test_a_map_too_small_for_any_bin_is_returned_unchanged() -> None:
    brightness = _image(1, MIN_CELLS - 1)  # fewer cells than a bin needs, all in different bins anyway
    cells = torch.rand_like(brightness)
    assert torch.equal(brightness_profile(cells, brightness), cells)


def test_thin_bins_borrow_from_their_neighbours() -> None:
    brightness = torch.full((1, 1, 8, 8), 0.3)
    brightness[..., 0, 0] = 0.9  # one cell alone in its bin: too thin for a median of its own
    cells = torch.full_like(brightness, 0.05)
    cells[..., 0, 0] = 0.8
    out = brightness_profile(cells, brightness)
    assert torch.allclose(out, torch.full_like(out, 0.05), atol=1e-6)


def test_the_blind_denoiser_conditions_on_the_projected_map() -> None:
    torch.manual_seed(0)
    net = LevelAwareDenoiser(GeneratorConfig(arch="level", width=8, depth=1, blocks=1)).eval()
    torch.nn.init.normal_(net.estimator.tail.weight, std=0.5)  # a map that varies (a fresh one is flat)
    noisy = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        projected = net.estimate(noisy)
        assert projected.shape == noisy.shape
        assert torch.equal(net(noisy), net(noisy, level=projected))
        # training still teaches the per-cell map: the raw estimator is not the projection
        raw = net.estimator(noisy)
        assert raw.shape == noisy.shape and not torch.equal(raw, projected)


def test_the_profile_matches_a_plain_reference_cell_by_cell() -> None:
    """Each bin's lower median (even-sized bins), a brightness of exactly 1.0 in the top bin, each cell weighting
    the usable bins by its distance to their centres: a loop written from the module's rule, on random maps."""
    import math

    from denoise_gan.nets.level_profile import BANDWIDTH, MIN_CELLS, PROFILE_BINS

    generator = torch.Generator().manual_seed(3)
    cells = torch.rand(2, 2, 16, 16, generator=generator, dtype=torch.float64)
    brightness = torch.rand(2, 2, 16, 16, generator=generator, dtype=torch.float64) ** 2
    brightness[..., :2, :] = 1.0  # 32 cells at exactly full brightness: the top bin's
    got = brightness_profile(cells, brightness)
    for i in range(2):
        for ch in range(2):
            levels, value = cells[i, ch].flatten().tolist(), brightness[i, ch].flatten().tolist()
            members = [[lv for lv, b in zip(levels, value) if min(math.floor(b * PROFILE_BINS), PROFILE_BINS - 1) == k]
                       for k in range(PROFILE_BINS)]
            medians = {k: sorted(m)[(len(m) - 1) // 2] for k, m in enumerate(members) if len(m) >= MIN_CELLS}
            assert PROFILE_BINS - 1 in medians and any(len(m) % 2 == 0 and len(m) >= MIN_CELLS for m in members)
            for j, b in enumerate(value):
                logits = {k: -0.5 * ((b - (k + 0.5) / PROFILE_BINS) * PROFILE_BINS / BANDWIDTH) ** 2 for k in medians}
                top = max(logits.values())
                weights = {k: math.exp(v - top) for k, v in logits.items()}
                expected = sum(weights[k] * medians[k] for k in medians) / sum(weights.values())
                assert got[i, ch].flatten()[j].item() == pytest.approx(expected, abs=1e-9)
