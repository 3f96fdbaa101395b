"""The networks: the reference ResNet generator, the light residual U-Net, the stochastic noise
generator F and the PatchGAN discriminator, built from frozen configs through a small registry.

Images enter every network as float tensors in [0, 1], NCHW.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as nnf
from torch import nn

from denoise_gan.config import DiscriminatorConfig, GeneratorConfig


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


class UNetGenerator(nn.Module):
    """Light denoiser: predicts the noise and subtracts it (residual learning, as DnCNN)."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.backbone = UNetBackbone(cfg.channels, cfg.channels, cfg.width, cfg.depth, cfg.blocks)
        self.stride = self.backbone.stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.backbone(x - 0.5)


class ResnetGenerator(nn.Module):
    """The CycleGAN reference generator: c7s1, two stride-2 downs, n residual blocks, two ups, c7s1.

    Uses InstanceNorm like the paper, so its tiled output is not exact (per-tile statistics).
    """

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        norm = lambda c: nn.InstanceNorm2d(c, affine=False)  # noqa: E731
        w = cfg.width
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(cfg.channels, w, 7), norm(w), nn.ReLU(True)]
        for mult in (1, 2):
            layers += [nn.Conv2d(w * mult, w * mult * 2, 3, stride=2, padding=1), norm(w * mult * 2), nn.ReLU(True)]
        layers += [ResidualBlock(w * 4, norm) for _ in range(cfg.blocks)]
        for mult in (4, 2):
            layers += [Upsample(w * mult, w * mult // 2), norm(w * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(w, cfg.channels, 7), nn.Sigmoid()]
        self.model = nn.Sequential(*layers)
        self.stride = 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


MAX_SHIFT = 10.0 / 255.0


class NoiseGenerator(nn.Module):
    """F: clean -> noisy as a structured, stochastic noise model.

    F(x) = x + d(x) + s(x) * exp(a * u) * (k * z), with z a fresh standard Gaussian field per call, k a
    learned small kernel (unit energy, so it shapes the noise's spatial correlation but not its level),
    s(x) >= 0 a per-pixel, per-channel scale (signal-dependent noise), u a fresh standard normal per image
    with a learned spread a (a noisy set mixes levels that a clean image alone cannot predict) and d(x) a
    deterministic residual (compression-like artifacts). A generic network with a noise input learns to
    ignore it; this form cannot.
    """

    def __init__(self, cfg: GeneratorConfig, kernel_size: int = 5) -> None:
        super().__init__()
        c = cfg.channels
        self.channels = c
        self.backbone = UNetBackbone(c, 2 * c, cfg.width, cfg.depth, cfg.blocks)
        kernel = torch.zeros(c, 1, kernel_size, kernel_size)
        kernel[:, :, kernel_size // 2, kernel_size // 2] = 1.0
        self.kernel = nn.Parameter(kernel)
        self.level_spread = nn.Parameter(torch.tensor(0.5))
        self.stride = self.backbone.stride
        nn.init.zeros_(self.backbone.tail.weight)
        nn.init.constant_(self.backbone.tail.bias, 0.0)

    def scale_and_shift(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.backbone(x - 0.5)
        log_scale, shift = out[:, : self.channels], out[:, self.channels:]
        # softplus keeps the scale positive; the -3 offset starts F at sigma ~ 0.049 (12 on 0-255). The shift is
        # bounded (+-10 levels): compression artifacts are small, and an unbounded deterministic term lets F fool
        # D_noisy with invented texture instead of noise (measured: a shift of std 50 levels on unseen photos).
        return nnf.softplus(log_scale - 3.0), MAX_SHIFT * torch.tanh(shift)

    def shaped_noise(self, z: torch.Tensor) -> torch.Tensor:
        k = self.kernel / self.kernel.flatten(1).norm(dim=1).clamp_min(1e-8)[:, None, None, None]
        return nnf.conv2d(z, k, padding=k.shape[-1] // 2, groups=self.channels)

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None, u: torch.Tensor | None = None) -> torch.Tensor:
        scale, shift = self.scale_and_shift(x)
        if z is None:
            z = torch.randn_like(x)
        if u is None:
            u = torch.randn(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype)
        scale = scale * torch.exp(self.level_spread * u)
        noise = self.shaped_noise(z)
        if self.channels > 1:
            # a gray photo copied into three channels has the same noise in each: keep it gray
            gray = ((x - x[:, :1]).abs().amax(dim=(1, 2, 3)) == 0)[:, None, None, None]
            if bool(gray.any()):
                noise = torch.where(gray, noise[:, :1].expand_as(noise), noise)
                scale = torch.where(gray, scale.mean(1, keepdim=True).expand_as(scale), scale)
                shift = torch.where(gray, shift.mean(1, keepdim=True).expand_as(shift), shift)
        return x + shift + scale * noise


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


GENERATORS: dict[str, Callable[[GeneratorConfig], nn.Module]] = {
    "unet": UNetGenerator,
    "resnet": ResnetGenerator,
    "noise": NoiseGenerator,
}


def list_generators() -> list[str]:
    return sorted(GENERATORS)


def build_generator(cfg: GeneratorConfig) -> nn.Module:
    if cfg.arch not in GENERATORS:
        raise ValueError(f"unknown generator {cfg.arch!r}; choose one of {', '.join(list_generators())}")
    return GENERATORS[cfg.arch](cfg)


def build_discriminator(cfg: DiscriminatorConfig) -> nn.Module:
    return PatchDiscriminator(cfg)


def init_weights(net: nn.Module, std: float = 0.02) -> None:
    """N(0, std) init as the CycleGAN reference; F's output layer starts at zero so F starts as mild noise."""
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.normal_(module.weight, 0.0, std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    if isinstance(net, NoiseGenerator):
        nn.init.zeros_(net.backbone.tail.weight)
        nn.init.zeros_(net.backbone.tail.bias)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
