"""Each noise model states the per-pixel σ it adds (its ``variance``), and the level map sums them: checked
against the σ the model really adds on a flat gray image, for every model in the registry."""

from __future__ import annotations

import numpy as np
import pytest

from data_tools.noise import MODELS, noise_level_map, parse_noise_spec

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
