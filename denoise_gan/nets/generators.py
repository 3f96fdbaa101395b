"""The generators: the light residual U-Net (G), the CycleGAN reference ResNet and the stochastic noise
generator F. Each is built from a ``GeneratorConfig``; ``nets.registry`` names them.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import torch
import torch.nn.functional as nnf
from torch import nn

from denoise_gan.config import GeneratorConfig
from denoise_gan.nets.blocks import ResidualBlock, UNetBackbone, Upsample


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
LEVEL_KNOTS = 8


class NoiseGenerator(nn.Module):
    """F: clean -> noisy as a structured, stochastic noise model.

    F(x) = x + d(x) + s(x) * m(v) * (k * z), with z a fresh standard Gaussian field per call, k a learned small
    kernel (unit energy, so it shapes the noise's spatial correlation but not its level), s(x) >= 0 a per-pixel,
    per-channel scale (signal-dependent noise), m(v) a per-image level multiplier and d(x) a bounded
    deterministic residual (compression-like artifacts). A generic network with a noise input learns to ignore
    it; this form cannot.

    The level multiplier is exp(q(v)) with v uniform on [0, 1] per image and q a learned monotone
    piecewise-linear quantile function: a noisy set mixes levels that a clean image alone cannot predict, and
    the mixture need not be log-normal (a uniform σ of 5-50 is far from it). ``sample`` also returns the
    per-pixel noise level s(x) * m(v), which is what refinement teaches the level estimator.
    """

    def __init__(self, cfg: GeneratorConfig, kernel_size: int = 5) -> None:
        super().__init__()
        c = cfg.channels
        self.channels = c
        self.in_channels = c
        self.backbone = UNetBackbone(c, 2 * c, cfg.width, cfg.depth, cfg.blocks)
        kernel = torch.zeros(c, 1, kernel_size, kernel_size)
        kernel[:, :, kernel_size // 2, kernel_size // 2] = 1.0
        self.kernel = nn.Parameter(kernel)
        # q starts as the quantiles of N(0, 0.5^2) (clipped at 2 %/98 %): levels spread ~e^+-1 around s(x)
        # (plain Python arithmetic: the network is also built on the meta device to check weight files)
        normal = NormalDist()
        quantiles = [0.5 * normal.inv_cdf(0.02 + 0.96 * k / LEVEL_KNOTS) for k in range(LEVEL_KNOTS + 1)]
        steps = [math.log(math.expm1(b - a)) for a, b in zip(quantiles, quantiles[1:])]  # softplus^-1
        self.level_start = nn.Parameter(torch.tensor(quantiles[:1]))
        self.level_steps = nn.Parameter(torch.tensor(steps))  # softplus(steps) > 0: q stays monotone
        self.stride = self.backbone.stride
        self.init_output()

    def init_output(self) -> None:
        """F's output layer starts at zero, so F starts as mild noise (re-run after any weight init)."""
        nn.init.zeros_(self.backbone.tail.weight)
        nn.init.zeros_(self.backbone.tail.bias)

    def deterministic(self, x: torch.Tensor) -> torch.Tensor:
        """F's output without its random part (z = 0), for the identity loss: F(noisy) keeps the colours."""
        return self(x, torch.zeros_like(x))

    def level_parameters(self) -> list[nn.Parameter]:
        """The per-image level distribution's knots."""
        return [self.level_start, self.level_steps]

    def shape_parameters(self) -> list[nn.Parameter]:
        """A few scalars that every pixel of every sample feeds (the level knots and the correlation kernel):
        trained at a higher rate, or the kernel barely leaves its delta start within a run (measured: an adapted
        F's noise stayed white on demosaiced camera noise, and added half its amplitude)."""
        return [*self.level_parameters(), self.kernel]

    def scale_and_shift(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.backbone(x - 0.5)
        log_scale, shift = out[:, : self.channels], out[:, self.channels:]
        # softplus keeps the scale positive; the -3 offset starts F at sigma ~ 0.049 (12 on 0-255). The shift is
        # bounded (+-10 levels): compression artifacts are small, and an unbounded deterministic term lets F fool
        # D_noisy with invented texture instead of noise (measured: a shift of std 50 levels on unseen photos).
        return nnf.softplus(log_scale - 3.0), MAX_SHIFT * torch.tanh(shift)

    def level_quantiles(self) -> torch.Tensor:
        """q at the knots 0, 1/K, ..., 1 (monotone)."""
        return torch.cat([self.level_start, self.level_start + torch.cumsum(nnf.softplus(self.level_steps), 0)])

    def log_level(self, v: torch.Tensor) -> torch.Tensor:
        """q(v): linear interpolation between the knots, differentiable in the knots."""
        knots = self.level_quantiles().to(v.dtype)
        pos = v.clamp(0, 1) * LEVEL_KNOTS
        index = pos.floor().clamp(max=LEVEL_KNOTS - 1).long()
        frac = pos - index.to(v.dtype)
        return knots[index] * (1 - frac) + knots[index + 1] * frac

    def shaped_noise(self, z: torch.Tensor) -> torch.Tensor:
        k = self.kernel / self.kernel.flatten(1).norm(dim=1).clamp_min(1e-8)[:, None, None, None]
        return nnf.conv2d(z, k.to(z.dtype), padding=k.shape[-1] // 2, groups=self.channels)

    def sample(self, x: torch.Tensor, z: torch.Tensor | None = None, v: torch.Tensor | None = None,
               maps: tuple[torch.Tensor, torch.Tensor] | None = None,
               gray: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(F(x), the per-pixel noise level it used), both NCHW on the [0, 1] scale. ``maps`` are
        ``scale_and_shift(x)`` computed elsewhere (another runtime), so the noise is still composed here. ``gray``
        (N,1,1,1 bool) says which images are gray photos when x holds tiles of them: a neutral tile of a colour
        photo would otherwise get gray noise, unlike the rest of its photo."""
        scale, shift = self.scale_and_shift(x) if maps is None else maps
        if z is None:
            z = torch.randn_like(x)
        if v is None:
            v = torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype)
        level = scale * torch.exp(self.log_level(v))
        noise = self.shaped_noise(z)
        if self.channels > 1:
            # a gray photo copied into three channels has the same noise in each: keep it gray (no `if` on the
            # mask: a data-dependent branch breaks torch.compile's graph, with a warning on the user's terminal)
            if gray is None:
                gray = is_gray(x)
            noise = torch.where(gray, noise[:, :1].expand_as(noise), noise)
            level = torch.where(gray, level.mean(1, keepdim=True).expand_as(level), level)
            shift = torch.where(gray, shift.mean(1, keepdim=True).expand_as(shift), shift)
        return x + shift + level * noise, level

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None, v: torch.Tensor | None = None) -> torch.Tensor:
        return self.sample(x, z, v)[0]


def is_gray(x: torch.Tensor) -> torch.Tensor:
    """(N,1,1,1) bool: which NCHW images hold the same values in every channel (a gray photo copied to colour)."""
    return ((x - x[:, :1]).abs().amax(dim=(1, 2, 3)) == 0)[:, None, None, None]


class ColourNoiseGenerator(NoiseGenerator):
    """F whose noise may also be correlated across colour channels: demosaiced camera noise comes in coloured
    blotches, and JPEG's chroma subsampling leaves mostly luma noise, which independent channels cannot model.

    The shaped noise is mixed by a learned channel matrix whose rows have unit norm, so each channel's noise
    keeps unit variance and s(x) alone sets the level (the level map F reports stays true). It starts as the
    identity: the same F as ``noise`` until the data asks for correlation.
    """

    def __init__(self, cfg: GeneratorConfig, kernel_size: int = 5) -> None:
        super().__init__(cfg, kernel_size)
        self.colour_mix = nn.Parameter(torch.eye(cfg.channels))

    def shape_parameters(self) -> list[nn.Parameter]:
        return [*super().shape_parameters(), self.colour_mix]

    def shaped_noise(self, z: torch.Tensor) -> torch.Tensor:
        mix = self.colour_mix / self.colour_mix.norm(dim=1, keepdim=True).clamp_min(1e-8)
        return torch.einsum("oc,nchw->nohw", mix.to(z.dtype), super().shaped_noise(z))
