"""Variants of F's noise draws for refinement: spatially and cross-channel correlated, spatially white, faint.

Each takes the noise (draw minus clean) of a batch and varies a share of its samples. Why correlated: a
camera's demosaicing spreads each photosite's noise over its neighbours and colours, and its JPEG removes the
finest grain, so camera noise of a given per-pixel std is coarser than the per-pixel noise F draws. A G and
estimator that only met F's noise read such noise at about 0.8x its std and removed too little of it (measured
on held-out photos: `--strength 1.5` gained 0.9 dB there). Blurring a share of F's draws and mixing their
channels, then restoring each draw's std, teaches both that coarse noise of a level is that level; the level
map F drew stays valid because the std is kept.
"""

from __future__ import annotations

import torch
import torch.nn.functional as nnf

BLUR_WIDTHS = (0.4, 1.2)  # px: the Gaussian's std, drawn per sample (bilinear demosaicing is ~0.5-0.8)
CHANNEL_MIX = 0.6  # at most this share of each channel's noise is replaced by the channels' mean
_RADIUS = 3


def _blur(noise: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur with one width per sample (reflect-padded, so a patch keeps its size)."""
    n, c, h, w = noise.shape
    taps = torch.arange(-_RADIUS, _RADIUS + 1, device=noise.device, dtype=noise.dtype)
    kernel = torch.exp(-0.5 * (taps / widths[:, None]) ** 2)
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)  # (n*c, taps)
    x = nnf.pad(noise.reshape(1, n * c, h, w), (_RADIUS,) * 4, mode="reflect")
    x = nnf.conv2d(x, kernel[:, None, None, :], groups=n * c)
    x = nnf.conv2d(x, kernel[:, None, :, None], groups=n * c)
    return x.reshape(n, c, h, w)


@torch.no_grad()
def correlate_some(noise: torch.Tensor, fraction: float) -> torch.Tensor:
    """``noise`` (N, C, H, W) with a ``fraction`` of its samples blurred (a Gaussian of random width in
    ``BLUR_WIDTHS``) and mixed across channels (a random share up to ``CHANNEL_MIX``), each then scaled back
    to its own std. The other samples are returned as they are."""
    n = noise.shape[0]
    pick = torch.rand(n, device=noise.device) < fraction
    if not bool(pick.any()):
        return noise
    low, high = BLUR_WIDTHS  # drawn for every sample, so the random stream does not depend on the share picked
    widths = low + (high - low) * torch.rand(n, device=noise.device, dtype=noise.dtype)
    mix = CHANNEL_MIX * torch.rand(n, 1, 1, 1, device=noise.device, dtype=noise.dtype)
    chosen = noise[pick]
    varied = _blur(chosen, widths[pick])
    varied = (1 - mix[pick]) * varied + mix[pick] * varied.mean(dim=1, keepdim=True)
    scale = chosen.std(dim=(1, 2, 3), keepdim=True) / varied.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-8)
    out = noise.clone()
    out[pick] = varied * scale
    return out


@torch.no_grad()
def whiten_some(noise: torch.Tensor, fraction: float) -> torch.Tensor:
    """``noise`` (N, C, H, W) with a ``fraction`` of its samples multiplied by a random sign per pixel (one sign
    for all channels of a pixel).

    F's noise is coarser than white (coarse/fine σ 0.63 against about 0.5 for white noise, model card), and its
    correlated variants coarser still. A random sign per pixel removes every spatial correlation and keeps each
    pixel's size, so the level map F drew stays exact; one sign per pixel keeps the colour correlation. Measured
    in stage 5 at 0.3 (two seeds): high-ISO camera noise and Poisson gain, plain Gaussian noise barely moves, so
    F's spatial correlation is not what holds G back there. The other samples are returned as they are.
    """
    n, _, h, w = noise.shape
    pick = torch.rand(n, device=noise.device) < fraction
    signs = torch.randint(0, 2, (n, 1, h, w), device=noise.device).to(noise.dtype) * 2 - 1  # drawn for all
    return torch.where(pick[:, None, None, None], noise * signs, noise)


@torch.no_grad()
def fade_some(noise: torch.Tensor, level: torch.Tensor, fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``noise`` and its ``level`` map with a ``fraction`` of their samples scaled by one random factor in [0, 1).

    F seldom draws faint noise, and a G trained only on its draws never learns the bottom of the range: its
    estimator read σ = 5 on smooth photos as no noise at all (measured), so G left such photos noisy."""
    shape = (noise.shape[0], 1, 1, 1)
    faint = torch.rand(shape, device=noise.device) < fraction
    factor = torch.where(faint, torch.rand(shape, device=noise.device), 1.0)
    return factor * noise, level * factor
