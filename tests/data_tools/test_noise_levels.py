"""Each noise model states the per-pixel σ it adds (its ``variance``), and the level map sums them: checked
against the σ the model really adds on a flat gray image, for every model in the registry."""

from __future__ import annotations

import numpy as np
import pytest

from data_tools.noise import MODELS, parse_noise_spec
from data_tools.noise_levels import measured_level_map, noise_level_map

SPECS = {
    "gaussian": "gaussian:sigma=12",
    "poisson": "poisson:peak=60",
    "poisson-gaussian": "poisson-gaussian:peak=80,sigma=5",
    "speckle": "speckle:sigma=0.08",
    "salt-pepper": "salt-pepper:amount=0.01",
    "jpeg": "jpeg:quality=90",
    "correlated": "correlated:sigma=12,scale=1",
    "camera": "camera:peak=200,read=2",
}


def test_every_model_is_checked_here() -> None:
    assert set(SPECS) == set(MODELS)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_level_map_is_the_sigma_the_model_adds(name: str) -> None:
    clean = np.full((256, 256, 3), 120, np.uint8)
    noisy, stages = parse_noise_spec(SPECS[name]).apply(clean, 7)
    measured = float(np.std(noisy.astype(np.float64) - clean))
    predicted = float(noise_level_map(clean, stages).mean())
    if name == "jpeg":  # deterministic given the image: no random level, and a flat image compresses exactly
        assert predicted == 0.0 and measured < 1.0
    elif name == "camera":  # per photosite, before demosaicing lowers it: an upper estimate (documented)
        assert 0.5 * predicted <= measured <= 1.05 * predicted, (measured, predicted)
    else:
        assert predicted == pytest.approx(measured, rel=0.2), (measured, predicted)


def test_salt_and_pepper_s_level_follows_its_share_of_salt() -> None:
    """At salt 0.5 the two shares weigh alike and a swap of them goes unseen; on a dark image, mostly salt is
    the large error."""
    clean = np.full((256, 256, 3), 40, np.uint8)
    noisy, stages = parse_noise_spec("salt-pepper:amount=0.05,salt=0.9").apply(clean, 7)
    measured = float(np.std(noisy.astype(np.float64) - clean))
    assert float(noise_level_map(clean, stages).mean()) == pytest.approx(measured, rel=0.1)


def test_levels_are_on_the_0_255_scale_whatever_the_bit_depth() -> None:
    clean = np.full((64, 64, 3), 120, np.uint8)
    noisy, stages = parse_noise_spec("poisson:peak=60").apply(clean, 2)
    deep_clean, deep_noisy = clean.astype(np.uint16) * 257, noisy.astype(np.uint16) * 257
    np.testing.assert_allclose(noise_level_map(deep_clean, stages), noise_level_map(clean, stages), rtol=1e-5)
    np.testing.assert_allclose(measured_level_map(deep_clean, deep_noisy), measured_level_map(clean, noisy),
                               rtol=1e-4, atol=1e-4)


def test_the_measured_level_is_the_local_std_of_the_noise_left() -> None:
    """Measured from the pair: Gaussian noise at its σ; a camera's noise through JPEG at what is left of it,
    below the σ stated before demosaicing; and local, over a window of a few dozen pixels."""
    flat = np.full((128, 128, 3), 120, np.uint8)
    noisy, _ = parse_noise_spec("gaussian:sigma=12").apply(flat, 3)
    assert float(measured_level_map(flat, noisy).mean()) == pytest.approx(12.0, rel=0.05)
    ramp = np.repeat(np.linspace(20, 230, 256, dtype=np.float32)[None, :, None], 128, axis=0)
    ramp = np.repeat(ramp, 3, axis=2).astype(np.uint8)
    noisy, stages = parse_noise_spec("camera:peak=60,read=2+jpeg:quality=90").apply(ramp, 3)
    level = measured_level_map(ramp, noisy)
    assert level.shape == ramp.shape and level.dtype == np.float32
    assert 0.2 * noise_level_map(ramp, stages).mean() < level.mean() < noise_level_map(ramp, stages).mean()
    half = flat.copy()
    half[:, 64:] = parse_noise_spec("gaussian:sigma=12").apply(flat[:, 64:], 5)[0]
    level = measured_level_map(flat, half)
    assert level[:, :16].max() < 0.5 and level[:, 112:].mean() == pytest.approx(12.0, rel=0.1)
    assert not measured_level_map(ramp, ramp).any()  # a clean pair: level 0 everywhere
