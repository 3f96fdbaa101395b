"""The generators by name, what each is for, and which are noise models: the registry's table without torch.

The CLI's ``--generator`` help, the ONNX Runtime engine and ``adapt`` read this (``--help`` must not import
torch); ``registry`` pairs each name with its constructor, and a test holds the two tables together (a noise
model's class is a ``NoiseGenerator``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GeneratorKind:
    name: str
    help: str
    noise_model: bool = False  # clean -> noisy (an F): never a denoiser, never exported as one
    instance_norm: bool = False  # per-sample statistics: a tile is normalised on its own, a tiny image is padded


GENERATOR_KINDS: tuple[GeneratorKind, ...] = (
    GeneratorKind("level", "level-aware denoiser: residual U-Net conditioned on a noise-level map from a built-in "
                  "blind estimator (the shipped model's)"),
    GeneratorKind("unet", "light residual U-Net without normalisation (tiles exactly)"),
    GeneratorKind("resnet", "the CycleGAN reference ResNet (InstanceNorm)", instance_norm=True),
    GeneratorKind("noise", "structured stochastic noise model, the default F", noise_model=True),
    GeneratorKind("colour-noise", "F whose noise may be correlated across colour channels (demosaiced camera "
                  "noise, JPEG chroma)", noise_model=True),
)

# the level-aware G's smallest tile: its estimator sees ~130 px, and on smaller tiles the tiled result drifts
# from the whole image's (the net declares it as ``min_tile``; the tile options' messages name it)
LEVEL_MIN_TILE = 128
# the highest noise level (0-255 scale) a level map conditions the level-aware G with, unless its training maps
# went higher (refine records their highest level in the weight file, ``level_max``): the shipped default's reach
# about 85 (a camera at peak 15), and far beyond them G's output darkens (at 255, 30 grey levels off a mid-grey
# photo); a higher --sigma, or an estimate scaled up by --strength, runs at the cap
LEVEL_MAX = 100.0
LEVEL_MAX_BOUNDS = (1.0, 1000.0)  # a recorded cap outside these is a damaged or hostile file

NOISE_MODEL_ARCHS = frozenset(kind.name for kind in GENERATOR_KINDS if kind.noise_model)
INSTANCE_NORM_ARCHS = frozenset(kind.name for kind in GENERATOR_KINDS if kind.instance_norm)


def denoisers_help() -> str:
    """One line naming every denoiser, for the CLI's --generator help (a noise model is refused as G there; F has
    its own option, --noise-model)."""
    return "; ".join(f"{kind.name}: {kind.help}" for kind in GENERATOR_KINDS if not kind.noise_model)
