"""The one registry of generators: name -> constructor, plausible config bounds and help text.

Adding a generator is one entry here (and its class in ``generators.py``): the CLI's ``--generator`` help,
``train``'s early config check and the weight loader's plausibility check all read this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from denoise_gan.config import GeneratorConfig
from denoise_gan.errors import UserError
from denoise_gan.nets.generators import ColourNoiseGenerator, NoiseGenerator, ResnetGenerator, UNetGenerator
from denoise_gan.nets.level import LevelAwareDenoiser

# Far beyond any denoiser (the reference ResNet has 9 blocks, our U-Net 3 levels), and small enough that even
# building the largest on the meta device to check its shapes takes about a second.
PLAUSIBLE: dict[str, tuple[int, int]] = {"channels": (1, 4), "width": (1, 4096), "depth": (0, 8), "blocks": (0, 64)}


@dataclass(frozen=True)
class GeneratorSpec:
    """A generator by name: how to build it, the config values a weight file may claim for it, and its help."""

    name: str
    build: Callable[[GeneratorConfig], nn.Module]
    help: str
    plausible: dict[str, tuple[int, int]] = field(default_factory=lambda: dict(PLAUSIBLE))


GENERATORS: dict[str, GeneratorSpec] = {
    g.name: g
    for g in [
        GeneratorSpec("level", LevelAwareDenoiser, "level-aware denoiser: residual U-Net conditioned on a noise-level "
                      "map from a built-in blind estimator (the shipped default)"),
        GeneratorSpec("unet", UNetGenerator, "light residual U-Net without normalisation (tiles exactly)"),
        GeneratorSpec("resnet", ResnetGenerator, "the CycleGAN reference ResNet (InstanceNorm)"),
        GeneratorSpec("noise", NoiseGenerator, "structured stochastic noise model, the default F"),
        GeneratorSpec("colour-noise", ColourNoiseGenerator, "F whose noise may be correlated across colour "
                      "channels (demosaiced camera noise, JPEG chroma)"),
    ]
}


def list_generators() -> list[str]:
    return sorted(GENERATORS)


def generators_help() -> str:
    """One line naming every generator, for the CLI's --generator help."""
    return "; ".join(f"{g.name}: {g.help}" for g in GENERATORS.values())


def check_generator(cfg: GeneratorConfig) -> None:
    """A one-line UserError unless the config names a registered generator."""
    if cfg.arch not in GENERATORS:
        raise UserError(f"unknown generator {cfg.arch!r}; choose one of {', '.join(list_generators())}")


def plausible_bounds(arch: str) -> dict[str, tuple[int, int]]:
    """The config bounds a weight file may claim for ``arch`` (the default bounds for an unknown name, which
    is refused when the generator is built)."""
    spec = GENERATORS.get(arch)
    return spec.plausible if spec is not None else PLAUSIBLE


def build_generator(cfg: GeneratorConfig) -> nn.Module:
    check_generator(cfg)
    return GENERATORS[cfg.arch].build(cfg)


def init_weights(net: nn.Module, std: float = 0.02) -> None:
    """N(0, std) init as the CycleGAN reference; a network with an ``init_output`` hook (F) then resets its
    output layer, so F starts as mild noise."""
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.normal_(module.weight, 0.0, std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    hook = getattr(net, "init_output", None)
    if callable(hook):
        hook()


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
