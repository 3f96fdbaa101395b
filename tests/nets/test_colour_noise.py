"""The colour-correlated noise model: identical to F at start, able to correlate channels, level kept."""

from __future__ import annotations

import pytest
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


def test_both_noise_models_trace_as_one_graph_so_compiling_them_prints_no_graph_break_warning() -> None:
    """`train` may compile F (the step-mode trial); a branch on the data breaks the graph, and torch prints a
    multi-line warning into the user's run. Keeping a gray photo's noise gray must stay branch-free."""
    for arch in ("noise", "colour-noise"):
        f = build_generator(GeneratorConfig(arch=arch, width=4, depth=1))
        x = torch.rand(2, 3, 16, 16)
        x[1] = x[1, :1]  # one gray photo in the batch
        explained = torch._dynamo.explain(f)(x, torch.randn_like(x), torch.rand(2, 1, 1, 1))
        assert explained.graph_break_count == 0, (arch, explained.break_reasons)


def test_any_colour_mix_keeps_each_channels_noise_at_unit_variance() -> None:
    """The level map F reports is the noise it adds only while each channel's mixed noise has unit variance."""
    colour = build_generator(GeneratorConfig(arch="colour-noise", width=4, depth=1))
    with torch.no_grad():
        colour.colour_mix.copy_(torch.tensor([[1.0, 0.5, 0.0], [0.2, 1.0, 0.9], [0.0, 0.3, 2.0]]))
        mixed = colour.shaped_noise(torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(0)))
    assert mixed.transpose(0, 1).flatten(1).std(dim=1).tolist() == pytest.approx([1.0, 1.0, 1.0], abs=0.02)


def test_only_an_image_equal_in_every_channel_is_drawn_gray() -> None:
    from denoise_gan.nets.generators import is_gray

    gray = torch.full((1, 3, 8, 8), 0.5)
    near = gray.clone()
    near[0, 2, 3, 3] += 1 / 255  # one level off in one pixel: a colour photo
    assert is_gray(torch.cat([gray, near])).flatten().tolist() == [True, False]
