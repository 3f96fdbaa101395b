"""The building blocks the generators share: 3x3 convolutions, residual blocks, checkerboard-free
upsampling and the residual U-Net backbone.

Images enter every network as float tensors in [0, 1], NCHW.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as nnf
from torch import nn


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, padding_mode="zeros")


class ResidualBlock(nn.Module):
    """conv-act-conv with a skip; `norm` is a factory so the light net can run without normalisation."""

    def __init__(self, width: int, norm: Callable[[int], nn.Module] | None = None) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv3x3(width, width)]
        if norm:
            layers.append(norm(width))
        layers += [nn.LeakyReLU(0.2, inplace=True), conv3x3(width, width)]
        if norm:
            layers.append(norm(width))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Upsample(nn.Module):
    """Nearest-neighbour upsample then conv: no transposed conv, so no checkerboard artifacts."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = conv3x3(cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(nnf.interpolate(x, scale_factor=2.0, mode="nearest"))


class UNetBackbone(nn.Module):
    """Residual U-Net without per-sample normalisation (tiles of one image see the same function)."""

    def __init__(self, cin: int, cout: int, width: int, depth: int, blocks: int) -> None:
        super().__init__()
        widths = [width * 2**i for i in range(depth + 1)]
        self.head = conv3x3(cin, widths[0])
        self.encoders = nn.ModuleList(
            nn.Sequential(*[ResidualBlock(w) for _ in range(blocks)]) for w in widths[:-1])
        self.downs = nn.ModuleList(conv3x3(widths[i], widths[i + 1], stride=2) for i in range(depth))
        self.middle = nn.Sequential(*[ResidualBlock(widths[-1]) for _ in range(blocks)])
        self.ups = nn.ModuleList(Upsample(widths[i + 1], widths[i]) for i in range(depth))
        self.decoders = nn.ModuleList(
            nn.Sequential(*[ResidualBlock(w) for _ in range(blocks)]) for w in widths[:-1])
        self.tail = conv3x3(widths[0], cout)
        self.stride = 2**depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        skips = []
        for enc, down in zip(self.encoders, self.downs):
            h = enc(h)
            skips.append(h)
            h = nnf.leaky_relu(down(h), 0.2)
        h = self.middle(h)
        for up, dec, skip in zip(reversed(self.ups), reversed(self.decoders), reversed(skips)):
            h = dec(up(h) + skip)
        return self.tail(h)
