"""Noise statistics that a PatchGAN cannot see, and the loss that makes F match them.

A patch discriminator judges texture, and is nearly blind to the noise's *amplitude* and to how the
amplitude spreads over a data set: measured here, an F trained by the adversarial loss alone added a third
of the real noise. So F also matches, over many patches, the distribution of a few robust statistics of
the noise, computed the same way on F(clean) and on the real noisy images:

* per channel, the noise σ of the finest diagonal wavelet band (Haar HH, median absolute deviation / 0.6745,
  the estimator behind ``skimage.restoration.estimate_sigma``);
* the same on the luma channel (independent colour noise partly cancels there, correlated noise does not);
* the same one and two scales coarser (white noise halves at each, blurred noise does not: the spatial
  correlation; demosaiced, JPEG'd camera noise keeps most of its amplitude there, where the finest band reads
  a third of it);
* the σ of the horizontal and vertical details of luma at the same three scales (demosaiced, JPEG'd noise puts
  most of its energy there: matched on the diagonal band alone, an F added too little noise);
* the σ of the colour differences R-G and B-G, finest and one scale coarser (with the channels' σ they fix the
  noise's correlation across colours: JPEG's chroma subsampling leaves fine noise almost pure luma);
* the mean luma (so the σ-vs-brightness relation of shot noise is matched, not only the σ).

F matches one of two sets of them (``STATISTICS_SETS``). ``compact``, `train`'s default: the channels' σ, luma's σ at
the finest scale and one coarser, and the mean luma, over all windows at once. ``camera``, `adapt`'s default: all of
them, and the σ statistics also within four brightness bands. The extra ones were added so that F matches
demosaiced, JPEG'd camera noise; on the default's family of synthetic noise they cost the denoiser trained on F's
draws 0.3 dB at σ 25 (measured, stage 2 on held-out photos: 30.62 / 30.41 dB with them, 30.91 / 30.73 without, two
seeds), so `train` leaves them out.

The loss is a sliced 1-D Wasserstein distance between the fake patches' statistics and a bank of the most
recent real ones: sorted projections of both on fixed random directions, compared quantile by quantile.

A noise model that draws each image's level at a quantile v of its own level distribution (``NoiseGenerator``)
is also compared image by image: the image drawn at v against the real images' level at quantile v. Pooled
windows alone left that distribution where it started (measured: F's level multipliers spanned 0.36-2.79 at
the start and 0.37-2.82 after 2500 steps, where the noisy domain spans near-clean to σ 50), because eight images
a batch give its spread a weak gradient whose sign flips from batch to batch; the quantile comparison pulls every
knot its way.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as nnf

from data_tools.images import LUMA

MAD_TO_SIGMA = 1.0 / 0.6745
SUBPATCH = 32  # statistics per 32x32 window: 4 samples from a 64x64 training patch
FEATURES = ("log_sigma_r", "log_sigma_g", "log_sigma_b", "log_sigma_luma", "log_sigma_luma_coarse",
            "log_sigma_luma_coarser", "log_sigma_luma_edge", "log_sigma_luma_edge_coarse",
            "log_sigma_luma_edge_coarser", "log_sigma_r_minus_g", "log_sigma_b_minus_g", "log_sigma_r_minus_g_coarse",
            "log_sigma_b_minus_g_coarse", "luma")  # the first six and the last keep their places (readers index them)


@dataclass(frozen=True)
class StatisticsSet:
    """The statistics (names in FEATURES, mean luma last) F's loss compares, and in how many brightness bands."""

    features: tuple[str, ...]
    luma_bands: int

    def __post_init__(self) -> None:
        unknown = set(self.features) - set(FEATURES)
        assert not unknown and self.features[-1] == "luma", f"not a statistics set: {self.features}"

    @property
    def columns(self) -> list[int]:
        """Where its statistics are among ``noise_statistics``' columns."""
        return [FEATURES.index(name) for name in self.features]


STATISTICS_SETS = {
    "compact": StatisticsSet(FEATURES[:5] + ("luma",), luma_bands=1),
    "camera": StatisticsSet(FEATURES, luma_bands=4),
}


def _quads(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The four pixels of every 2x2 block: top left, top right, bottom left, bottom right."""
    return x[..., 0::2, 0::2], x[..., 0::2, 1::2], x[..., 1::2, 0::2], x[..., 1::2, 1::2]


def _haar_hh(x: torch.Tensor) -> torch.Tensor:
    """Diagonal Haar detail, scaled so white noise of σ gives a band of std σ."""
    a, b, c, d = _quads(x)
    return (a - b - c + d) / 2.0


def _haar_edges(x: torch.Tensor) -> torch.Tensor:
    """The horizontal and vertical Haar details side by side (last dim), scaled as ``_haar_hh``: the diagonal band
    alone misses most of the energy of anisotropically correlated noise (bilinear demosaicing, JPEG), so a model
    matching it alone may add too little noise."""
    a, b, c, d = _quads(x)
    return torch.cat([(a + b - c - d) / 2.0, (a - b + c - d) / 2.0], dim=-1)


def _robust_sigma(band: torch.Tensor) -> torch.Tensor:
    """MAD/0.6745 over the last two dims."""
    flat = band.flatten(-2)
    return flat.abs().median(dim=-1).values * MAD_TO_SIGMA


def _luma(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x
    weights = torch.tensor(LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True)


def _windows(x: torch.Tensor, side: int) -> torch.Tensor:
    """(B, C, H, W) -> (B * n, C, side, side) non-overlapping windows."""
    b, c, h, w = x.shape
    side = min(side, h, w)
    x = x[..., : h // side * side, : w // side * side]
    x = x.unfold(2, side, side).unfold(3, side, side)  # B, C, nh, nw, side, side
    return x.permute(0, 2, 3, 1, 4, 5).reshape(-1, c, side, side)


def noise_statistics(images: torch.Tensor, eps: float = 0.5 / 255.0) -> torch.Tensor:
    """(N, len(FEATURES)) statistics per SUBPATCH window of a batch of [0, 1] images (3 channels; gray is repeated)."""
    x = _windows(images.float(), SUBPATCH)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    luma = _luma(x)
    per_channel = _robust_sigma(_haar_hh(x))  # (N, 3)
    sigma_luma = _robust_sigma(_haar_hh(luma))[:, 0]
    coarse = nnf.avg_pool2d(luma, 2)
    sigma_coarse = _robust_sigma(_haar_hh(coarse))[:, 0]
    coarser = nnf.avg_pool2d(coarse, 2)
    sigma_coarser = _robust_sigma(_haar_hh(coarser))[:, 0]
    edges = torch.cat([_robust_sigma(_haar_edges(band)) for band in (luma, coarse, coarser)], dim=1)  # (N, 3)
    # colour differences (finest and one scale coarser): with the channels' σ they pin the noise's colour
    # correlation, which the luma σ alone (one number, blue barely in it) leaves free
    chroma = torch.cat([x[:, 0:1] - x[:, 1:2], x[:, 2:3] - x[:, 1:2]], dim=1)
    sigma_chroma = _robust_sigma(_haar_hh(chroma))  # (N, 2)
    sigma_chroma_coarse = _robust_sigma(_haar_hh(nnf.avg_pool2d(chroma, 2)))  # (N, 2)
    logs = torch.log(torch.cat([per_channel, sigma_luma[:, None], sigma_coarse[:, None], sigma_coarser[:, None],
                                edges, sigma_chroma, sigma_chroma_coarse], dim=1) + eps)
    return torch.cat([logs, luma.mean(dim=(1, 2, 3))[:, None]], dim=1)


def _sliced_w1(fake: torch.Tensor, real: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """Mean W1 between the 1-D projections of two sets of rows on each direction, quantile by quantile."""
    proj_fake = torch.sort(fake @ dirs.T, dim=0).values  # (n, P)
    proj_real = torch.sort(real @ dirs.T, dim=0).values  # (m, P)
    n, m = proj_fake.shape[0], proj_real.shape[0]
    positions = ((torch.arange(n, device=fake.device) + 0.5) / n * m - 0.5).clamp(0, m - 1)
    lo = positions.floor().long()
    hi = positions.ceil().long()
    frac = (positions - lo.float())[:, None]
    target = proj_real[lo] * (1 - frac) + proj_real[hi] * frac
    return (proj_fake - target).abs().mean()


MIN_BAND_ROWS = 4  # fake (and real) windows a band needs to count
LEVEL_BANK = 256  # real images' levels kept for the quantile term
MIN_LEVELS = 16  # real images' levels the quantile term needs


def image_levels(stats: torch.Tensor, images: int) -> torch.Tensor:
    """Each image's noise level: the mean over its windows of the channels' log σ (``noise_statistics`` lists an
    image's windows together)."""
    return stats[:, :3].mean(dim=1).view(images, -1).mean(dim=1)


class StatisticsBank:
    """The most recent real statistics (a few hundred patches): the target distribution F matches. Rows keep
    every statistic (a bank reloads whichever set a run compares); the distance reads ``statistics``' columns."""

    def __init__(self, size: int = 1024, projections: int = 32, seed: int = 0,
                 statistics: StatisticsSet = STATISTICS_SETS["camera"]) -> None:
        self.size, self.statistics = size, statistics
        self.columns = torch.tensor(statistics.columns)
        self.rows: torch.Tensor | None = None
        self.levels: torch.Tensor | None = None  # per real image (``add`` told how many images the rows hold)
        generator = torch.Generator().manual_seed(seed)
        width = len(statistics.features)
        dirs = torch.randn(projections, width, generator=generator)
        eye = torch.eye(width)
        self.directions = torch.cat([eye, dirs / dirs.norm(dim=1, keepdim=True)])

    def add(self, stats: torch.Tensor, images: int | None = None) -> None:
        """Real statistics; ``images``, the number of images they come from, also banks each image's level."""
        stats = stats.detach().float().cpu()
        self.rows = stats if self.rows is None else torch.cat([self.rows, stats])[-self.size:]
        if images:
            levels = image_levels(stats, images)
            self.levels = levels if self.levels is None else torch.cat([self.levels, levels])[-LEVEL_BANK:]

    def ready(self, minimum: int = 64) -> bool:
        return self.rows is not None and len(self.rows) >= minimum

    def level_distance(self, fake: torch.Tensor, quantiles: torch.Tensor) -> torch.Tensor:
        """Mean gap between each fake image's level and the real images' level at the quantile it was drawn at,
        in units of the real levels' spread."""
        assert self.levels is not None
        real = self.levels.to(fake.device)
        target = torch.quantile(real, quantiles.detach().float().flatten().clamp(0, 1))
        return (image_levels(fake.float(), len(target)) - target).abs().mean() / real.std().clamp_min(1e-3)

    def distance(self, fake: torch.Tensor, quantiles: torch.Tensor | None = None) -> torch.Tensor:
        """Sliced W1 between fake statistics and the bank over the set's columns, standardised by the bank's
        spread; with two or more bands in the set, plus the same per brightness band (quantile bands of the bank's
        mean luma, the σ features only): the joint distribution alone barely sees how the noise level depends on
        brightness (measured: the true camera noise, the same noise at a flat σ and at the reversed slope scored
        alike), which shot noise is about.
        With ``quantiles`` (the level quantile each fake image was drawn at) and enough real images' levels
        banked, plus ``level_distance``. Always fp32, also inside a bf16 autocast step: the standardised statistics
        are around 10 and F nears a match by differences of hundredths, which bf16's projections round away (the
        gradient there was measured as noise)."""
        with torch.autocast(fake.device.type, enabled=False):
            if quantiles is not None and self.levels is not None and len(self.levels) >= MIN_LEVELS:
                return self._distance(fake) + self.level_distance(fake, quantiles)
            return self._distance(fake)

    def _distance(self, fake: torch.Tensor) -> torch.Tensor:
        assert self.rows is not None
        columns = self.columns.to(fake.device)
        real = self.rows.to(fake.device)[:, columns]
        scale = real.std(dim=0).clamp_min(1e-3)
        dirs = self.directions.to(fake.device)
        fake = fake.float()[:, columns]
        overall = _sliced_w1(fake / scale, real / scale, dirs)
        bands = self.statistics.luma_bands
        if bands < 2:
            return overall
        edges = torch.quantile(real[:, -1], torch.linspace(0, 1, bands + 1, device=fake.device)[1:-1])
        band_fake, band_real = (torch.bucketize(fake[:, -1].detach().contiguous(), edges),
                                  torch.bucketize(real[:, -1].contiguous(), edges))
        sigma_dirs = torch.eye(len(columns), device=fake.device)[:-1]  # each σ feature, luma left out
        terms = [_sliced_w1(fake[band_fake == b] / scale, real[band_real == b] / scale, sigma_dirs)
                 for b in range(bands)
                 if int((band_fake == b).sum()) >= MIN_BAND_ROWS and int((band_real == b).sum()) >= MIN_BAND_ROWS]
        return overall + torch.stack(terms).mean() if terms else overall

    def state(self) -> dict:
        return {"rows": self.rows, "levels": self.levels}

    def load(self, state: dict) -> None:
        rows, levels = state["rows"], state.get("levels")
        if not all(t is None or (isinstance(t, torch.Tensor) and t.is_floating_point() and t.dim() == dims)
                   for t, dims in ((rows, 2), (levels, 1))):  # a crafted bank: a one-line error, not a later traceback
            raise ValueError("its statistics bank is not a table of numbers")
        # a bank saved with other statistics (an older version) is dropped: it refills from real patches in a step
        self.rows = rows if rows is None or rows.shape[1] == len(FEATURES) else None
        self.levels = levels if self.rows is not None else None  # absent from older runs: refills


def noise_sigmas(crops: list[torch.Tensor]) -> torch.Tensor:
    """Per crop (CxHxW in [0, 1]), the σ of ``noise_statistics``' first six features (R, G, B, luma, luma one
    scale coarser, two coarser), on the 0-1 scale: what the blind reports are read from."""
    return torch.exp(noise_statistics(torch.stack(crops))[:, :6])


def blind_ratios(sig: torch.Tensor, crops: list[torch.Tensor]) -> tuple[float | None, float]:
    """The median luma / colour σ ratio and coarse / fine σ ratio of the crops' ``noise_sigmas``, as the blind
    reports print them. The first is over crops with colour only (None if there are none): a gray photo's
    noise, drawn gray, reads as fully luma (1.0) whatever a model does with colour."""
    per_crop = sig.shape[0] // max(len(crops), 1)  # the rows are windows, crop after crop (``_windows``)
    colour = [i * per_crop + k for i, c in enumerate(crops)
              if c.shape[0] >= 3 and bool((c[:3].amax(0) != c[:3].amin(0)).any()) for k in range(per_crop)]
    luma_vs_colour = float((sig[colour, 3] / sig[colour, :3].mean(dim=1)).median()) if colour else None
    return luma_vs_colour, float((sig[:, 4] / sig[:, 3]).median())
