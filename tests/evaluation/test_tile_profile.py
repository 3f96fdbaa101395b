"""benchmarks/tile_profile.py tiles as the engine does (its shared column must be the engine's output, its per-tile
one the engine's with --level-per-tile), and its shared profile is one profile over all the tiles' cells (the model
card quotes it)."""

from __future__ import annotations

import numpy as np
import torch

from denoise_gan.config import GeneratorConfig
from denoise_gan.inference.api import Denoiser
from denoise_gan.nets.level import LevelAwareDenoiser
from helpers import benchmark_script


def _net() -> LevelAwareDenoiser:
    torch.manual_seed(0)
    net = LevelAwareDenoiser(GeneratorConfig(arch="level", width=8, depth=1, blocks=1)).eval()
    for tail in (net.estimator.tail, net.denoiser.tail):  # maps that vary and a correction that is not zero
        torch.nn.init.normal_(tail.weight, std=0.05)
    return net


def _photo() -> np.ndarray:
    """Flat on the left, fine texture on the right: tiles that read different levels on their own."""
    rng = np.random.default_rng(0)
    photo = np.full((136, 300, 3), 120, np.uint8)
    photo[:, 150:] = rng.integers(40, 220, (136, 150, 3), dtype=np.uint8)
    return photo


def test_the_shared_pass_is_the_engines_tiled_output_and_the_per_tile_one_its_level_per_tile() -> None:
    """With the shipped default on a clean crop, where the two ways differ by many levels."""
    import skimage.data

    from denoise_gan.nets.shipped import shipped_dir
    from denoise_gan.nets.weights import load_denoiser

    script = benchmark_script("tile_profile")
    net = load_denoiser(shipped_dir() / "default.safetensors")[0].eval()
    photo = skimage.data.coffee()[150:278, 100:356].copy()
    engine = Denoiser(net, tile=128, overlap=32)(photo)
    per_tile = Denoiser(net, tile=128, overlap=32, level_per_tile=True)(photo)
    own, shared = (script.two_pass(net, photo, 128, 32, shared=s) for s in (False, True))
    assert np.abs(own.astype(int) - shared).max() > 5  # the test tells the two apart
    assert np.abs(shared.astype(int) - engine).max() <= 1
    assert np.abs(own.astype(int) - per_tile).max() <= 1


def test_the_shared_profile_differs_only_where_the_tiles_disagree() -> None:
    script = benchmark_script("tile_profile")
    net, photo = _net(), _photo()
    own, shared = (script.two_pass(net, photo, 128, 32, shared=s) for s in (False, True))
    assert not np.array_equal(own, shared)  # flat and textured tiles read their own levels per tile
    one_tile = np.ascontiguousarray(photo[:, :128])  # a single tile: its profile is the photo's
    assert np.array_equal(script.two_pass(net, one_tile, 128, 32, shared=False),
                          script.two_pass(net, one_tile, 128, 32, shared=True))
