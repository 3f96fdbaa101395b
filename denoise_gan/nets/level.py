"""The level-aware denoiser: G(noisy, level map), with a blind level estimator in front.

A blind network trained on a range of noise levels cannot tell fine texture from weak noise, so it smooths
clean photos. Conditioning G on a per-pixel, per-channel noise-level map (as FFDNet and CBDNet do) separates
the two questions: the estimator says how much noise there is where, G removes that much. A clean photo gets
a map near zero and G leaves it as it is; users scale the map (``strength``) or fix it (``sigma``) the way
they know from other denoisers' strength settings.

Capacity per CPU FLOP: both networks first fold 2x2 pixels into channels (pixel-unshuffle), so every
convolution runs at a quarter of the pixels, and G is a residual U-Net whose widths double as the resolution
halves (each level costs the same FLOPs per image pixel, and the coarse levels see far: the receptive field
covers ~150 px, what σ = 50 needs). No normalisation layers: a tile sees exactly the function the whole image
does. Both output layers start at zero, so training starts from "noisy in, noisy out" and "level 0.13σ-ish".

Levels are on the [0, 1] image scale (σ/255 for 8-bit files); the map has the image's channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as nnf
from torch import nn

from denoise_gan.config import GeneratorConfig
from denoise_gan.nets.blocks import conv3x3
from denoise_gan.nets.generator_names import LEVEL_MAX, LEVEL_MIN_TILE
from denoise_gan.nets.level_profile import brightness_profile

LEVEL_SCALE = 50.0 / 255.0  # a level of σ = 50 enters G as 1.0
LEVEL_GATE = 2.0 / 255.0  # below σ ~ 2 the correction is scaled down (tanh), to zero at level 0
ESTIMATOR_WIDTH = 48
ESTIMATOR_BLOCKS = 3
UNSHUFFLE = 2


class PlainResidualBlock(nn.Module):
    """conv-ReLU-conv plus the input: the unit of G and the estimator."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = conv3x3(width, width)
        self.conv2 = conv3x3(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(nnf.relu(self.conv1(x)))


def _stage(width: int, blocks: int) -> nn.Sequential:
    return nn.Sequential(*[PlainResidualBlock(width) for _ in range(blocks)])


class LevelUNet(nn.Module):
    """G(y, level) -> clean: pixel-unshuffled residual U-Net predicting the noise to subtract."""

    def __init__(self, channels: int, width: int, depth: int, blocks: int) -> None:
        super().__init__()
        widths = [width * 2**i for i in range(depth + 1)]
        folded = channels * UNSHUFFLE**2
        self.head = conv3x3(folded + channels, widths[0])
        self.encoders = nn.ModuleList(_stage(w, blocks) for w in widths[:-1])
        self.downs = nn.ModuleList(nn.Conv2d(widths[i], widths[i + 1], 2, stride=2) for i in range(depth))
        self.middle = _stage(widths[-1], blocks)
        self.ups = nn.ModuleList(nn.Sequential(nn.Conv2d(widths[i + 1], widths[i] * 4, 1), nn.PixelShuffle(2))
                                 for i in range(depth))
        self.decoders = nn.ModuleList(_stage(w, blocks) for w in widths[:-1])
        self.tail = conv3x3(widths[0], folded)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)
        self.stride = UNSHUFFLE * 2**depth

    def forward(self, noisy: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        h = torch.cat([nnf.pixel_unshuffle(noisy - 0.5, UNSHUFFLE),
                       nnf.avg_pool2d(level, UNSHUFFLE) / LEVEL_SCALE], dim=1)
        h = self.head(h)
        skips = []
        for encoder, down in zip(self.encoders, self.downs):
            h = encoder(h)
            skips.append(h)
            h = down(h)
        h = self.middle(h)
        for up, decoder, skip in zip(reversed(self.ups), reversed(self.decoders), reversed(skips)):
            h = decoder(up(h) + skip)
        # the correction fades out as the level goes to zero: a zero map returns the input exactly, and a
        # near-zero estimate on a clean photo changes it by a fraction of a level, not by a denoiser's smoothing
        return noisy - nnf.pixel_shuffle(self.tail(h), UNSHUFFLE) * torch.tanh(level / LEVEL_GATE)


class NoiseLevelEstimator(nn.Module):
    """Blind per-pixel level map from the noisy image alone, at 1/8 resolution, upsampled smoothly.

    Noise levels vary slowly (with brightness, not with every edge), so a coarse map with a wide view
    (~130 px) is both cheaper and steadier than a per-pixel guess.
    """

    stride = 8

    def __init__(self, channels: int, width: int = ESTIMATOR_WIDTH, blocks: int = ESTIMATOR_BLOCKS) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv3x3(channels * UNSHUFFLE**2, width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 2, stride=2), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 2, stride=2),
            *[PlainResidualBlock(width) for _ in range(blocks)], nn.ReLU(inplace=True),
        )
        self.tail = conv3x3(width, channels)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def cells(self, noisy: torch.Tensor) -> torch.Tensor:
        """The map at the estimator's own resolution (one cell per ``stride`` x ``stride`` pixels)."""
        h = self.tail(self.body(nnf.pixel_unshuffle(noisy - 0.5, UNSHUFFLE)))
        return nnf.softplus(h - 2.0) * LEVEL_SCALE

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        """The per-pixel map, as training teaches it (each cell read on its own)."""
        return _upsample(self.cells(noisy), noisy)

    def cells_and_brightness(self, noisy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The cells and the image averaged over each: what a photo's profile is made of (``profile_bins``)."""
        return self.cells(noisy), nnf.avg_pool2d(noisy, self.stride)

    def profiled(self, noisy: torch.Tensor, profile: torch.Tensor | None = None) -> torch.Tensor:
        """The per-pixel map blind denoising uses: the cells projected onto a function of brightness
        (``level_profile``), so texture read as noise does not steer G; by the bins of the whole photo where
        ``profile`` gives them for a tile."""
        cells, brightness = self.cells_and_brightness(noisy)
        return _upsample(brightness_profile(cells, brightness, profile), noisy)


def _upsample(cells: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return nnf.interpolate(cells, size=like.shape[-2:], mode="bilinear", align_corners=False)


class LevelAwareDenoiser(nn.Module):
    """The shipped denoiser: the estimator's map (times ``strength``), or a given map, conditions G.

    ``net(noisy)`` is blind; ``net(noisy, strength=0.5)`` smooths less; ``net(noisy, sigma=25)`` assumes a
    uniform σ on the 0-255 scale; ``net(noisy, level=map)`` uses a known map; ``net(tiles, profile=bins)`` a
    blind map that follows the tiles' photo.
    """

    level_aware = True
    photo_profile = True  # a tile's blind map can follow its photo's profile (``forward(profile=)``)
    min_tile = LEVEL_MIN_TILE  # the tiling engine refuses smaller tiles for this model

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        # a trained estimator can read a family's noise a few per cent low or high; `calibrate` fits this factor
        # on clean photos and stores it in the weight file's metadata (a plain float: traced into an exported
        # graph as a constant, and no tensor, so files written before it still load)
        self.level_scale = 1.0
        # the cap on the map that conditions G when it denoises: LEVEL_MAX, or the highest level of its training
        # maps where they went higher (refine raises it as it trains; the weight file records it)
        self.level_max = LEVEL_MAX
        self.channels = cfg.channels
        self.in_channels = cfg.channels
        self.denoiser = LevelUNet(cfg.channels, cfg.width, cfg.depth, cfg.blocks)
        self.estimator = NoiseLevelEstimator(cfg.channels)
        self.stride = max(self.denoiser.stride, NoiseLevelEstimator.stride)

    def init_output(self) -> None:
        """Undo the CycleGAN N(0, 0.02) init for this network: deep residual stacks train with PyTorch's own
        (fan-in scaled) init, and both output layers start at zero."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                module.reset_parameters()
        for tail in (self.denoiser.tail, self.estimator.tail):
            nn.init.zeros_(tail.weight)
            nn.init.zeros_(tail.bias)

    def estimate(self, noisy: torch.Tensor, profile: torch.Tensor | None = None) -> torch.Tensor:
        """The level map a blind call conditions G on (before ``strength``, after the calibration); ``profile``:
        the bins of the photo each image is a tile of (``profile_bins.photo_profile``, (N, C, bins))."""
        level = self.estimator.profiled(noisy, profile)
        return level if self.level_scale == 1.0 else level * self.level_scale

    def forward(self, noisy: torch.Tensor, strength: float = 1.0, sigma: float | None = None,
                level: torch.Tensor | None = None, profile: torch.Tensor | None = None) -> torch.Tensor:
        if level is None:
            level = torch.full_like(noisy, sigma / 255.0) if sigma is not None else self.estimate(noisy, profile)
            level = level * strength if self.training else scaled_level(level, strength, self.level_max)
        return self.denoiser(noisy, level.to(noisy.dtype))


def scaled_level(level: torch.Tensor, strength: float | torch.Tensor, level_max: float = LEVEL_MAX) -> torch.Tensor:
    """The map G is conditioned on when it denoises: ``level`` times ``strength``, no higher than ``level_max``
    (0-255 scale; a known map, and any map in training, is used as given)."""
    return (level * strength).clamp(max=level_max / 255.0)
