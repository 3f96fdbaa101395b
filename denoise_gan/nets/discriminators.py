"""The PatchGAN discriminator of the CycleGAN reference, optionally with spectral norm."""

from __future__ import annotations

import torch
from torch import nn

from denoise_gan.config import DiscriminatorConfig


class PatchDiscriminator(nn.Module):
    """PatchGAN: a map of real/fake scores, each for one receptive field (70x70 with 3 layers)."""

    def __init__(self, cfg: DiscriminatorConfig) -> None:
        super().__init__()
        wrap = nn.utils.parametrizations.spectral_norm if cfg.spectral_norm else (lambda m: m)
        norm = (lambda c: nn.Identity()) if cfg.spectral_norm else (lambda c: nn.InstanceNorm2d(c, affine=False))
        w = cfg.width
        layers: list[nn.Module] = [wrap(nn.Conv2d(cfg.channels, w, 4, stride=2, padding=1)), nn.LeakyReLU(0.2, True)]
        mult = 1
        for i in range(1, cfg.layers + 1):
            prev, mult = mult, min(2**i, 8)
            stride = 2 if i < cfg.layers else 1
            layers += [wrap(nn.Conv2d(w * prev, w * mult, 4, stride=stride, padding=1)), norm(w * mult),
                       nn.LeakyReLU(0.2, True)]
        layers.append(wrap(nn.Conv2d(w * mult, 1, 4, stride=1, padding=1)))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)



def build_discriminator(cfg: DiscriminatorConfig) -> nn.Module:
    return PatchDiscriminator(cfg)
