"""The blind level map as a function of brightness: the estimator's map, projected per image and channel.

Noise in a photo depends on how bright a pixel is (shot noise grows with the signal, read noise does not),
not on what the pixel shows. The estimator, reading a small neighbourhood, mistakes fine texture (grass,
fur) and JPEG block edges for noise in places, and then G smooths them. Projecting its map onto a noise-level
function of brightness (the median level among the cells of similar brightness, per image and channel)
keeps the brightness dependence and drops the texture spikes: the median ignores a minority of textured
cells. Measured on held-out photos with the shipped model: clean photos in +8 dB, base-ISO camera noise
+0.5 dB, Gaussian σ 25 +0.2 dB, and no row lower.

Everything here is plain tensor algebra (sort, gather, softmax), so the ONNX graph holds it too. A tile is
an image to it, unless the tiler gives it the bins of its whole photo (``profile_bins``).
"""

from __future__ import annotations

import torch

from denoise_gan.nets.profile_bins import MIN_CELLS, PROFILE_BINS

BANDWIDTH = 1.0  # bins: each cell's level blends the bins' medians with a Gaussian weight of this width
_UNUSED = 1.0e4  # sorts after every real level (levels are ~0-1)


def brightness_profile(cells: torch.Tensor, brightness: torch.Tensor,
                       given: torch.Tensor | None = None) -> torch.Tensor:
    """``cells``: the estimator's map, (N, C, h, w); ``brightness``: the image averaged over the same cells;
    ``given``: (N, C, PROFILE_BINS) bins' medians of the photo each image is a tile of (``profile_bins``), used
    for the images whose entries are not all negative (the others use their own cells).

    Returns the map each cell's brightness predicts, same shape. Where no bin holds ``MIN_CELLS`` cells (a
    tiny image) the map is returned as it is."""
    n, c, h, w = cells.shape
    levels = cells.reshape(n, c, h * w)
    value = brightness.reshape(n, c, h * w).clamp(0.0, 1.0)
    bins = torch.arange(PROFILE_BINS, device=cells.device, dtype=cells.dtype)
    member = torch.clamp(torch.floor(value * PROFILE_BINS), max=PROFILE_BINS - 1).unsqueeze(-1) == bins
    count = member.sum(dim=2)  # N, C, K
    in_bin = torch.where(member, levels.unsqueeze(-1), torch.full_like(levels.unsqueeze(-1), _UNUSED))
    middle = torch.div(torch.clamp(count - 1, min=0), 2, rounding_mode="floor")
    median = torch.sort(in_bin, dim=2).values.gather(2, middle.unsqueeze(2)).squeeze(2)  # N, C, K
    usable = count >= MIN_CELLS
    if given is not None:  # (a tensor select, not a Python branch: the exported graph holds both ways)
        shared = (given >= 0).to(cells.dtype).amax(dim=(1, 2), keepdim=True) > 0  # (one "given" broadcasts to all)
        median = torch.where(shared, given.to(median.dtype), median)
        usable = (shared & (given >= 0)) | (~shared & usable)  # (ONNX Runtime has no Where of booleans)
    distance = (value.unsqueeze(-1) - (bins + 0.5) / PROFILE_BINS) * (PROFILE_BINS / BANDWIDTH)
    logits = torch.where(usable.unsqueeze(2), -0.5 * distance * distance, torch.full_like(distance, -1.0e9))
    weights = torch.softmax(logits, dim=-1)
    profiled = (weights * torch.where(usable, median, torch.zeros_like(median)).unsqueeze(2)).sum(dim=-1)
    any_usable = usable.any(dim=-1, keepdim=True)  # N, C, 1
    return torch.where(any_usable, profiled, levels).reshape(n, c, h, w)
