"""What a denoiser network promises the code that runs it: one declared contract instead of attribute guesses.

The tiler, the exporter and training ask ``denoiser_contract(net)`` instead of ``getattr(net, "level_aware")``.
A generator declares its facts as attributes (``level_aware``, ``stride``, ``min_tile``, ``in_channels``); a
network from outside the registry (a test's stand-in, a user's module) gets the blind defaults and its first
convolution's channels. ``tests/nets/test_contract.py`` checks the promise for every registered generator.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from torch import nn

from denoise_gan.errors import UserError
from denoise_gan.nets.generator_names import LEVEL_MAX


@dataclass(frozen=True)
class DenoiserContract:
    level_aware: bool  # forward(x, strength=, sigma=, level=) and estimate(x); a blind one takes x alone
    stride: int  # input sides must be multiples of this
    min_tile: int  # the smallest tile whose result matches the whole image's within the tested tolerance
    channels: int  # colour channels it takes
    level_max: float = LEVEL_MAX  # a level-aware one's cap on the map that conditions it (0-255 scale)
    instance_norm: bool = False  # per-tile statistics: a tiny or flat tile needs care, tiles may differ in tone
    # a blind level-aware one's map can follow a whole photo: ``estimator.cells_and_brightness(x)`` gives what a
    # photo's profile is made of, and ``forward(x, profile=)`` takes it (``profile_bins``)
    photo_profile: bool = False


def denoiser_contract(net: nn.Module) -> DenoiserContract:
    return DenoiserContract(level_aware=bool(getattr(net, "level_aware", False)),
                            stride=max(1, _declared(net, "stride")),
                            min_tile=max(1, _declared(net, "min_tile")),
                            channels=_input_channels(net),
                            level_max=float(getattr(net, "level_max", LEVEL_MAX)),
                            instance_norm=any(isinstance(m, nn.modules.instancenorm._InstanceNorm)
                                              for m in net.modules()),
                            photo_profile=bool(getattr(net, "level_aware", False)
                                               and getattr(net, "photo_profile", False) and _takes_profile(net)))


def _takes_profile(net: nn.Module) -> bool:
    """Whether the net can do what ``photo_profile`` claims: a user's subclass of the shipped denoiser inherits the
    claim, but its own ``forward`` or estimator may not take a profile (it runs per tile, as it did)."""
    estimator = getattr(net, "estimator", None)
    if not callable(getattr(estimator, "cells_and_brightness", None)):
        return False
    try:
        params = inspect.signature(net.forward).parameters.values()
    except (TypeError, ValueError):  # a forward whose signature Python cannot read
        return False
    return any(p.name == "profile" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _declared(net: nn.Module, name: str) -> int:
    """A whole number the network declares, or 1: a bare layer's own ``stride`` is a tuple of its kernel's steps,
    not a promise about the inputs it takes."""
    value = getattr(net, name, 1)
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def _input_channels(net: nn.Module) -> int:
    declared = getattr(net, "in_channels", None)
    if isinstance(declared, int):
        return declared
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            return module.in_channels
    raise UserError(f"cannot tell how many channels {type(net).__name__} takes (no Conv2d, no in_channels)")
