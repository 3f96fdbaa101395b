"""The one registry of generators: name -> constructor, plausible config bounds and help text.

Adding a generator is its class in ``generators.py``, its name, help and kind in ``generator_names.py`` (read
without torch) and its constructor here: the CLI's ``--generator`` help, ``train``'s early config check and
the weight loader's plausibility check all read these tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from denoise_gan.config import MAX_WIDTH, GeneratorConfig
from denoise_gan.errors import UserError
from denoise_gan.nets.generator_names import GENERATOR_KINDS, NOISE_MODEL_ARCHS, denoisers_help  # noqa: F401 (the CLI help)
from denoise_gan.nets.generators import ColourNoiseGenerator, NoiseGenerator, ResnetGenerator, UNetGenerator
from denoise_gan.nets.level import LevelAwareDenoiser

# Far beyond any denoiser (the reference ResNet has 9 blocks, our U-Net 3 levels), and small enough that even
# building the largest on the meta device to check its shapes takes about a second.
PLAUSIBLE: dict[str, tuple[int, int]] = {"channels": (1, 4), "width": (1, MAX_WIDTH), "depth": (0, 8),
                                         "blocks": (0, 64)}


@dataclass(frozen=True)
class GeneratorSpec:
    """A generator by name: how to build it, the config values a weight file may claim for it, and its help."""

    name: str
    build: Callable[[GeneratorConfig], nn.Module]
    help: str
    plausible: dict[str, tuple[int, int]] = field(default_factory=lambda: dict(PLAUSIBLE))


BUILDERS: dict[str, Callable[[GeneratorConfig], nn.Module]] = {
    "level": LevelAwareDenoiser,
    "unet": UNetGenerator,
    "resnet": ResnetGenerator,
    "noise": NoiseGenerator,
    "colour-noise": ColourNoiseGenerator,
}
GENERATORS: dict[str, GeneratorSpec] = {kind.name: GeneratorSpec(kind.name, BUILDERS[kind.name], kind.help)
                                        for kind in GENERATOR_KINDS}


def list_generators() -> list[str]:
    return sorted(GENERATORS)


def check_generator(cfg: GeneratorConfig) -> None:
    """A one-line UserError unless the config names a registered generator."""
    if cfg.arch not in GENERATORS:
        raise UserError(f"unknown generator {cfg.arch!r}; choose one of {', '.join(list_generators())}")


def check_role(cfg: GeneratorConfig, noise_model: bool, option: str, also: tuple[str, ...] = ()) -> None:
    """A one-line UserError unless the config names a registered generator of the role asked for: G a denoiser,
    F a noise model. Checked before a run starts, since the wrong kind trains to the end and is refused then.
    An unknown name lists only the role's kinds, and ``also`` (the option's other values, e.g. refine's same)."""
    kinds = [name for name in list_generators() if (name in NOISE_MODEL_ARCHS) == noise_model]
    if cfg.arch not in GENERATORS:
        raise UserError(f"unknown {option} {cfg.arch!r}; choose one of {', '.join([*also, *kinds])}")
    if (cfg.arch in NOISE_MODEL_ARCHS) != noise_model:
        raise UserError(f"{option} {cfg.arch}: this needs {'a noise model' if noise_model else 'a denoiser'} "
                        f"({', '.join(kinds)})")


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
    output layer, so F starts as mild noise. A spectral-normalised conv (the discriminators' default) keeps
    PyTorch's init, whose scale its normalisation removes: its ``weight`` is computed from the stored one, so the
    draw lands in a copy (it is kept, being part of a run's random stream)."""
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
