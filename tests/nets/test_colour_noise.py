"""The colour-correlated noise model: identical to F at start, able to correlate channels, level kept."""

from __future__ import annotations

import torch

from denoise_gan.config import GeneratorConfig
from denoise_gan.nets.registry import build_generator

MEDIAN = torch.full((1, 1, 1, 1), 0.5)


def test_starts_as_the_plain_noise_model_and_can_correlate_channels() -> None:
    colour = build_generator(GeneratorConfig(arch="colour-noise", width=4, depth=1))
    plain = build_generator(GeneratorConfig(arch="noise", width=4, depth=1))
    plain.load_state_dict({k: v for k, v in colour.state_dict().items() if k != "colour_mix"})
    x, z = torch.full((2, 3, 32, 32), 0.4), torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(colour(x, z, MEDIAN), plain(x, z, MEDIAN))
        colour.colour_mix.fill_(1.0)  # every channel the same mixture: fully correlated (luma-only) noise
        noisy, level = colour.sample(x, z, MEDIAN)
    added = noisy - x
    assert torch.allclose(added[:, 0], added[:, 1]) and torch.allclose(added[:, 1], added[:, 2])
    # rows of unit norm: mixing keeps the per-channel std, so the reported level stays what was drawn
    assert abs(added.std().item() - level.mean().item()) < 0.1 * level.mean().item()
