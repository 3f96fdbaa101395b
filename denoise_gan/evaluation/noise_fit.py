"""How well does a noise model match real noise? The statistics Noise Flow and C2N judge a model by, against the
parametric fits a user could make (GUIDE section 6).

Paired mode (clean and noisy files of the same relative names, as ``evaluate`` pairs them): the residual
r = noisy - clean on the 0-255 scale (16-bit files scaled, alpha dropped) of the real pairs is the reference.
Each noise model (a learned F, a spec) is drawn on the same clean images, seeded as ``synth`` seeds
(``image_seed(seed, name)``), clipped and rounded to the file's dtype as the real file was, and its residual is
measured the same way:

* KL(real || model) of r's histogram per brightness band (the clean intensity of each pixel and channel in
  ``BANDS`` equal bands; 1-level bins over +-128, values beyond in the end bins, both histograms smoothed by
  ``KL_EPS``), and its mean over the bands that hold at least ``MIN_BAND`` samples;
* the std of r; the lag-1 spatial correlation of r (Pearson, horizontally and vertically adjacent residuals, the
  per-image per-channel mean removed; the mean of the two); the R-G correlation of r (colour images);
* the radially averaged power spectrum of r (Hann-windowed ``WINDOW`` px periodograms; flat for white noise).

Two baselines are fitted to the pairs: Gaussian with the real residual's std, and Poisson-Gaussian from a
least-squares fit of var(r) = a * I + b over ``FIT_BANDS`` brightness bands (peak = 255 / a, σ = sqrt(b)); a
learned model earns its place where it beats them.

Blind mode (noisy photos only, ``adapt``'s situation): no residual exists, so the rows are measured without
ground truth, as ``adapt``'s noise_fit report does: blind σ per crop (p10/median/p90; skimage's wavelet
estimate), luma/colour and coarse/fine σ ratios (``nets.noise_stats``), and, in place of residual histograms,
the finest diagonal Haar coefficients per brightness band of the 2x2 block mean (noise plus the scene's finest
texture, on both sides) with their KL to the folder's. Models are drawn on clean photos.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from data_tools.images import atomic_write_bytes, colour_channels, read_image
from data_tools.noise import image_seed, parse_noise_spec
from data_tools.synth import NoiseSource, printable
from denoise_gan.errors import UserError

BANDS = 5  # brightness bands of the clean intensity for the histograms and their KL
HIST_HALF = 128  # residual histogram range +-128 levels (0-255 scale), 1-level bins
FIT_BANDS = 32  # finer bands for the Poisson-Gaussian variance fit
MIN_BAND = 500  # samples a band needs for its KL (and a fit band for the regression)
KL_EPS = 1e-6  # probability added to every bin of both histograms before KL (then renormalised)
WINDOW = 64  # periodogram window side
SPECTRUM_BINS = 16  # radial frequency bins from 0 to 0.5 cycles/pixel
MAX_WINDOWS = 256  # periodogram windows per image and channel, evenly spread
CROP = 96  # the picture's crop of residuals
BLIND_CROPS, BLIND_SIDE = 48, 128  # blind mode: random crops per set, and their largest side (as adapt)
REFERENCE = "real noise (reference)"
BLIND_REFERENCE = "noisy folder (reference)"
BLIND_CLEAN = "clean photos (no noise)"

Progress = Callable[[int, int, str], None]


# ---- the pieces: bands, histograms, KL, correlations, spectra -----------------------------------

def band_edges(bands: int = BANDS) -> np.ndarray:
    """Equal bands of the 0-255 intensity scale: ``bands + 1`` edges from 0 to 256."""
    return np.linspace(0.0, 256.0, bands + 1)


def band_index(intensity: np.ndarray, bands: int = BANDS) -> np.ndarray:
    """The band of each intensity (0-255 scale), 0 .. bands - 1."""
    return np.clip((intensity * (bands / 256.0)).astype(np.int64), 0, bands - 1)


def band_names(bands: int = BANDS) -> list[str]:
    edges = band_edges(bands)
    return [f"{edges[i]:.0f}-{min(edges[i + 1], 255.0):.0f}" for i in range(bands)]


def histogram_bins() -> np.ndarray:
    """Bin edges of the residual histograms: one level wide, centred on whole levels."""
    return np.arange(-HIST_HALF - 0.5, HIST_HALF + 1.0, 1.0)


def banded_histograms(values: np.ndarray, bands: np.ndarray, count: int = BANDS) -> np.ndarray:
    """(count, bins) histogram of ``values`` per band (values beyond +-HIST_HALF in the end bins)."""
    nbins = len(histogram_bins()) - 1
    # half up, not numpy's half to even: Haar details of 8-bit images sit on half levels, and rounding those to
    # even would fill every other bin twice (a comb)
    index = np.clip(np.floor(values + 0.5).astype(np.int64) + HIST_HALF, 0, nbins - 1)
    flat = np.bincount(bands.ravel() * nbins + index.ravel(), minlength=count * nbins)
    return flat.reshape(count, nbins)


def kl_divergence(p_counts: np.ndarray, q_counts: np.ndarray, eps: float = KL_EPS) -> float:
    """KL(P || Q) in nats between two histograms over the same bins, both smoothed by ``eps`` per bin (so an
    empty bin of Q costs a bounded amount, and a histogram against itself gives exactly 0)."""
    p = np.asarray(p_counts, np.float64)
    q = np.asarray(q_counts, np.float64)
    if p.sum() <= 0 or q.sum() <= 0:
        raise ValueError("an empty histogram has no KL divergence")
    p = (p / p.sum() + eps) / (1.0 + eps * p.size)
    q = (q / q.sum() + eps) / (1.0 + eps * q.size)
    return float(np.sum(p * np.log(p / q)))


def correlation(sums: np.ndarray) -> float | None:
    """Pearson correlation from accumulated (sum ab, sum aa, sum bb) of mean-removed values."""
    ab, aa, bb = (float(v) for v in sums)
    return ab / math.sqrt(aa * bb) if aa > 0 and bb > 0 else None


def lag1_sums(residual: np.ndarray) -> np.ndarray:
    """(ab, aa, bb) of horizontally then vertically adjacent residuals of an HxWxC image, each channel's mean
    removed: six sums that pool over images."""
    r = residual - residual.mean(axis=(0, 1), keepdims=True)
    out = np.zeros(6)
    for i, (a, b) in enumerate(((r[:, :-1], r[:, 1:]), (r[:-1], r[1:]))):
        out[3 * i:3 * i + 3] = (np.sum(a * b, dtype=np.float64), np.sum(a * a, dtype=np.float64),
                                np.sum(b * b, dtype=np.float64))
    return out


def channel_sums(residual: np.ndarray, first: int = 0, second: int = 1) -> np.ndarray:
    """(ab, aa, bb) of two channels' mean-removed residuals (R and G by default)."""
    a = residual[..., first] - residual[..., first].mean()
    b = residual[..., second] - residual[..., second].mean()
    return np.array([np.sum(a * b, dtype=np.float64), np.sum(a * a, dtype=np.float64),
                     np.sum(b * b, dtype=np.float64)])


def hann2d(side: int = WINDOW) -> np.ndarray:
    w = np.hanning(side + 2)[1:-1]
    return np.outer(w, w)


def periodograms(residual: np.ndarray, side: int = WINDOW, limit: int = MAX_WINDOWS) -> tuple[np.ndarray, int]:
    """Sum and count of Hann-windowed periodograms |FFT(w r)|^2 / sum(w^2) over non-overlapping side x side
    windows of every channel (at most ``limit`` per channel, evenly spread); white noise of variance s^2 gives
    s^2 at every frequency. An image smaller than a window gives none."""
    h, w, c = residual.shape
    nh, nw = h // side, w // side
    if nh == 0 or nw == 0:
        return np.zeros((side, side)), 0
    tiles = residual[:nh * side, :nw * side].reshape(nh, side, nw, side, c).transpose(0, 2, 4, 1, 3)
    tiles = tiles.reshape(-1, side, side)
    per_channel = nh * nw
    if per_channel > limit:
        keep = np.linspace(0, per_channel - 1, limit).round().astype(np.int64)
        tiles = tiles.reshape(per_channel, c, side, side)[keep].reshape(-1, side, side)
    window = hann2d(side)
    tiles = (tiles - tiles.mean(axis=(1, 2), keepdims=True)) * window
    power = np.abs(np.fft.fft2(tiles)) ** 2 / np.sum(window**2)
    return power.sum(axis=0), len(tiles)


def radial_average(power: np.ndarray, bins: int = SPECTRUM_BINS) -> tuple[np.ndarray, np.ndarray]:
    """(bin centres in cycles/pixel, mean power per bin) of a 2-D spectrum, DC left out, radii up to 0.5."""
    side = power.shape[0]
    f = np.fft.fftfreq(side)
    radius = np.hypot(f[:, None], f[None, :])
    edges = np.linspace(0.0, 0.5, bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    which = np.digitize(radius, edges) - 1
    valid = (radius > 0) & (which >= 0) & (which < bins)
    sums = np.bincount(which[valid], weights=power[valid], minlength=bins)
    counts = np.bincount(which[valid], minlength=bins)
    return centres, np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def to_255(pixels: np.ndarray) -> np.ndarray:
    """The colour channels (HxWxC, alpha dropped) as float32 on the 0-255 scale, whatever the bit depth."""
    colour = colour_channels(pixels)
    return colour.astype(np.float32) * np.float32(255.0 / np.iinfo(colour.dtype).max)


# ---- one row's residual statistics, accumulated image by image ----------------------------------

@dataclass
class ResidualStats:
    """Everything a row reports, summed over images so no residual is kept (only the picture's crop)."""

    hist: np.ndarray = field(default_factory=lambda: np.zeros((BANDS, len(histogram_bins()) - 1), np.int64))
    fit: np.ndarray = field(default_factory=lambda: np.zeros((FIT_BANDS, 4)))  # n, sum I, sum r, sum r^2
    moments: np.ndarray = field(default_factory=lambda: np.zeros(3))  # n, sum r, sum r^2
    lag: np.ndarray = field(default_factory=lambda: np.zeros(6))
    rg: np.ndarray = field(default_factory=lambda: np.zeros(3))
    power: np.ndarray = field(default_factory=lambda: np.zeros((WINDOW, WINDOW)))
    windows: int = 0
    crop: np.ndarray | None = None  # the first image's centre crop of the residual

    def add(self, clean: np.ndarray, residual: np.ndarray) -> None:
        """One image: ``clean`` and ``residual`` HxWxC float on the 0-255 scale."""
        self.hist += banded_histograms(residual, band_index(clean))
        fine = band_index(clean, FIT_BANDS).ravel()
        r = residual.ravel().astype(np.float64)
        for column, weights in enumerate((None, clean.ravel().astype(np.float64), r, r * r)):
            self.fit[:, column] += np.bincount(fine, weights=weights, minlength=FIT_BANDS)
        self.moments += (r.size, r.sum(), np.dot(r, r))
        self.lag += lag1_sums(residual)
        if residual.shape[2] >= 3:
            self.rg += channel_sums(residual)
        power, count = periodograms(residual)
        self.power += power
        self.windows += count
        if self.crop is None:
            h, w = residual.shape[:2]
            top, left = max(0, (h - CROP) // 2), max(0, (w - CROP) // 2)
            self.crop = residual[top:top + CROP, left:left + CROP].copy()

    @property
    def std(self) -> float:
        n, s, ss = self.moments
        return math.sqrt(max(ss / n - (s / n) ** 2, 0.0)) if n else float("nan")

    @property
    def lag1(self) -> float | None:
        parts = [correlation(self.lag[:3]), correlation(self.lag[3:])]
        return None if None in parts else (parts[0] + parts[1]) / 2  # type: ignore[operator]

    @property
    def rg_corr(self) -> float | None:
        return correlation(self.rg)

    def band_std(self) -> list[float | None]:
        """The residual's std per band (about the band's mean)."""
        centres = np.arange(-HIST_HALF, HIST_HALF + 1, dtype=np.float64)
        out: list[float | None] = []
        for counts in self.hist:
            n = counts.sum()
            if n < 2:
                out.append(None)
                continue
            mean = np.dot(counts, centres) / n
            out.append(float(math.sqrt(np.dot(counts, (centres - mean) ** 2) / n)))
        return out

    def spectrum(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.windows:
            return radial_average(np.full((WINDOW, WINDOW), np.nan))
        return radial_average(self.power / self.windows)


def fit_poisson_gaussian(stats: ResidualStats) -> tuple[float, float]:
    """(peak, sigma) of the Poisson-Gaussian spec whose variance a * I + b best fits the residual's variance per
    fine brightness band (least squares weighted by the band's samples; a = 255 / peak, b = sigma^2), clamped to
    the spec's limits (peak 0.01..1e6, sigma 0..255)."""
    n, sum_i, sum_r, sum_rr = stats.fit.T
    used = n >= MIN_BAND
    if used.sum() == 0:
        raise UserError("too few pixels to fit a Poisson-Gaussian model to the pairs")
    n, intensity = n[used], sum_i[used] / n[used]
    var = sum_rr[used] / n - (sum_r[used] / n) ** 2
    if used.sum() >= 2 and np.ptp(intensity) > 0:
        design = np.stack([intensity, np.ones_like(intensity)], axis=1) * np.sqrt(n)[:, None]
        a, _ = np.linalg.lstsq(design, var * np.sqrt(n), rcond=None)[0]
    else:
        a = 0.0
    a = float(np.clip(a, 255.0 / 1e6, 255.0 / 0.01))
    b = max(float(np.average(var - a * intensity, weights=n)), 0.0)
    return 255.0 / a, min(math.sqrt(b), 255.0)


# ---- the report ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Candidate:
    """A noise model under test: its row label, kind (model, spec, baseline) and the source that draws it."""

    label: str
    kind: str
    source: NoiseSource


@dataclass
class FitRow:
    """One row of the table: its figures (``values``, what the JSON holds) and what the picture draws: the
    histograms per brightness band (``hist``) and a crop (a residual, or in blind mode a noisy crop)."""

    label: str
    kind: str  # reference, model, spec, baseline (paired); reference, clean, model, spec (blind)
    values: dict[str, Any]
    hist: np.ndarray
    crop: np.ndarray


@dataclass
class NoiseFitReport:
    """The table (rows), the settings that reproduce it, and what the picture draws."""

    mode: str  # paired or blind
    rows: list[FitRow]
    settings: dict[str, Any]
    how: str
    picture: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "settings": self.settings, "how": self.how,
                "rows": [{"label": r.label, "kind": r.kind, **_jsonable(r.values)} for r in self.rows]}

    def row(self, label: str) -> FitRow:
        return next(r for r in self.rows if r.label == label)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def load_candidates(models: Sequence[str] = (), specs: Sequence[str] = (), device: str = "cpu") -> list[Candidate]:
    """Learned models (weight files, folders, shipped names) and parametric specs, as rows to compare."""
    out: list[Candidate] = []
    if models:
        from denoise_gan.inference.noise_model import NoiseModel

        out += [Candidate(f"model {m}", "model", NoiseModel.from_pretrained(m, device=device)) for m in models]
    out += [Candidate(f"spec {parse_noise_spec(s)}", "spec", parse_noise_spec(s)) for s in specs]
    return out


# ---- paired mode ---------------------------------------------------------------------------------

def read_pairs(clean_dir: Path | str, noisy_dir: Path | str) -> list[tuple[str, Path, Path]]:
    """(name, clean file, noisy file) by relative name, as ``evaluate`` pairs them; unpaired files are errors."""
    from denoise_gan.evaluation.metrics import paired_files

    return paired_files(clean_dir, noisy_dir, role="noisy image")


def _load_pair(clean_path: Path, noisy_path: Path) -> tuple[np.ndarray, np.ndarray]:
    from denoise_gan.evaluation.metrics import read_pair

    clean, noisy = read_pair(clean_path, noisy_path)
    return colour_channels(clean), colour_channels(noisy)


def paired_fit(clean_dir: Path | str, noisy_dir: Path | str, candidates: Sequence[Candidate], seed: int = 0,
               progress: Progress | None = None) -> NoiseFitReport:
    """The paired table: the real residual, each candidate and the two fitted baselines (see the module doc)."""
    pairs = read_pairs(clean_dir, noisy_dir)
    total = 2 * len(pairs)
    real = ResidualStats()
    for i, (name, clean_path, noisy_path) in enumerate(pairs):
        clean, noisy = _load_pair(clean_path, noisy_path)
        clean255 = to_255(clean)
        real.add(clean255, to_255(noisy) - clean255)
        if progress is not None:
            progress(i + 1, total, printable(name))
    if real.moments[0] == 0:
        raise UserError(f"{clean_dir}: no pixels to measure")
    peak, sigma = fit_poisson_gaussian(real)
    gauss_text = f"gaussian:sigma={min(real.std, 255.0):.3f}"
    pg_text = f"poisson-gaussian:peak={peak:.3f},sigma={sigma:.3f}"
    rows = [*candidates,
            Candidate(f"Gaussian fit (σ {real.std:.2f})", "baseline", parse_noise_spec(gauss_text)),
            Candidate(_pg_label(peak, sigma), "baseline", parse_noise_spec(pg_text))]
    generated = [ResidualStats() for _ in rows]
    for i, (name, clean_path, noisy_path) in enumerate(pairs):
        clean = _load_pair(clean_path, noisy_path)[0]
        clean255 = to_255(clean)
        per_image = image_seed(seed, printable(name))
        for stats, cand in zip(generated, rows):
            stats.add(clean255, to_255(cand.source.apply(clean, per_image)[0]) - clean255)
        if progress is not None:
            progress(len(pairs) + i + 1, total, printable(name))
    table = [_residual_row(REFERENCE, "reference", real, real)]
    table += [_residual_row(c.label, c.kind, s, real, {"source": str(c.source)}) for c, s in zip(rows, generated)]
    settings = {"clean_dir": str(Path(clean_dir).resolve()), "noisy_dir": str(Path(noisy_dir).resolve()),
                "pairs": len(pairs), "seed": seed, "bands": band_names(),
                "fitted": {"gaussian": gauss_text, "poisson_gaussian": pg_text},
                "sources": {c.label: _record(c.source) for c in candidates}}
    report = NoiseFitReport("paired", table, settings, PAIRED_HOW)
    report.picture = {"bands": band_names()}
    return report


def _pg_label(peak: float, sigma: float) -> str:
    if peak >= 0.999e6:  # the slope clamped at its floor: the variance does not grow with brightness
        return f"Poisson-Gaussian fit (no shot term fits: σ {sigma:.2f})"
    return f"Poisson-Gaussian fit (peak {peak:.4g}, σ {sigma:.2f})"


PAIRED_HOW = ("residual r = noisy - clean on the 0-255 scale (16-bit scaled, alpha dropped); generated rows draw "
              "their noise on the same clean images (seed image_seed(seed, name), as synth), clipped and rounded "
              "to the file's dtype; bands: the clean intensity of each pixel and channel in equal bands; KL(real "
              f"|| row) of 1-level histograms over +-{HIST_HALF} smoothed by {KL_EPS:g} per bin, mean over bands "
              f"with >= {MIN_BAND} samples; lag1: Pearson correlation of adjacent residuals (per-image, "
              "per-channel mean removed), mean of horizontal and vertical; rg: Pearson correlation of the R and G "
              f"residuals (colour images); spectrum: Hann-windowed {WINDOW}x{WINDOW} periodograms, radially "
              "averaged (flat = white); baselines: Gaussian with the real std, Poisson-Gaussian from var(r) = "
              f"a*I + b over {FIT_BANDS} brightness bands (peak = 255/a, sigma = sqrt(b))")


def _record(source: NoiseSource) -> dict[str, Any]:
    from data_tools.synth import source_record

    return source_record(source)


def _residual_row(label: str, kind: str, stats: ResidualStats, real: ResidualStats,
                  extra: dict[str, Any] | None = None) -> FitRow:
    assert stats.crop is not None
    return FitRow(label, kind, {**(extra or {}), **_residual_values(stats, real)}, stats.hist, stats.crop)


def _residual_values(stats: ResidualStats, real: ResidualStats) -> dict[str, Any]:
    """A row's figures: KL to the real residual per band and their mean, std, correlations, per-band std."""
    kl: list[float | None] = []
    for mine, theirs in zip(stats.hist, real.hist):
        enough = mine.sum() >= MIN_BAND and theirs.sum() >= MIN_BAND
        kl.append(kl_divergence(theirs, mine) if enough else None)
    valid = [k for k in kl if k is not None]
    freqs, power = stats.spectrum()
    return {"kl_mean": float(np.mean(valid)) if valid else None, "kl_per_band": kl, "std": stats.std,
            "lag1": stats.lag1, "lag1_horizontal": correlation(stats.lag[:3]),
            "lag1_vertical": correlation(stats.lag[3:]), "rg_corr": stats.rg_corr, "std_per_band": stats.band_std(),
            "band_samples": stats.hist.sum(axis=1), "spectrum": {"cycles_per_pixel": freqs, "power": power}}


# ---- blind mode ----------------------------------------------------------------------------------

def _crops(images: Sequence[np.ndarray], seed: int, side: int, count: int = BLIND_CROPS) -> list[np.ndarray]:
    """Random side x side crops (flips and 90° turns only, never resized), HxWx3 (gray copied)."""
    from data_tools.datasets import PatchSampler, fit_channels

    sampler = PatchSampler(list(images), side, 3, 0.0)
    rng = np.random.default_rng([seed, 29])
    return [fit_channels(sampler.patch(rng), 3) for _ in range(count)]


def read_folder(folder: Path | str) -> list[np.ndarray]:
    """The colour channels of every readable image under a folder (recursive, sorted); an empty one is an error."""
    from data_tools.images import collect_images

    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder")
    images = [colour_channels(read_image(p).pixels) for p in collect_images(folder, recursive=True)]
    if not images:
        raise UserError(f"{folder}: no image files found")
    return images


def haar_bands(crop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(2x2 block mean, finest diagonal Haar detail) per channel on the 0-255 scale; the detail has the noise's
    σ for white noise, and is what a blind σ estimate reads."""
    x = to_255(crop)
    h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
    a, b, c, d = x[0:h:2, 0:w:2], x[0:h:2, 1:w:2], x[1:h:2, 0:w:2], x[1:h:2, 1:w:2]
    return (a + b + c + d) / 4, (a - b - c + d) / 2


def _blind_values(crops: Sequence[np.ndarray], hist: np.ndarray, reference: np.ndarray | None) -> dict[str, Any]:
    """adapt's blind measures of a set of crops (nets.noise_stats; skimage's blind σ), and the KL of its Haar
    detail histograms per brightness band to the reference's."""
    import torch

    from data_tools.datasets import to_tensor
    from denoise_gan.evaluation.benchmark.inputs import estimate_noise_sigma
    from denoise_gan.nets.noise_stats import noise_statistics

    sigmas = [estimate_noise_sigma(c) for c in crops]
    stats = noise_statistics(torch.stack([to_tensor(c) for c in crops]))
    sig = torch.exp(stats[:, :6])
    p10, p50, p90 = np.percentile(sigmas, [10, 50, 90])
    values: dict[str, Any] = {
        "blind_sigma_p10": float(p10), "blind_sigma_median": float(p50), "blind_sigma_p90": float(p90),
        "luma_vs_colour": float((sig[:, 3] / sig[:, :3].mean(dim=1)).median()),
        "coarse_vs_fine": float((sig[:, 4] / sig[:, 3]).median()),
        "sigma_per_octave": [float(sig[:, k].median()) * 255.0 for k in (3, 4, 5)],
        "blind_sigma_per_crop": sigmas,
        "brightness_per_crop": [float(to_255(c).mean()) for c in crops]}
    if reference is not None:
        kl = [kl_divergence(r, m) if min(r.sum(), m.sum()) >= MIN_BAND else None for r, m in zip(reference, hist)]
        valid = [k for k in kl if k is not None]
        values["detail_kl_per_band"] = kl
        values["detail_kl_mean"] = float(np.mean(valid)) if valid else None
    return values


def _detail_histograms(crops: Sequence[np.ndarray]) -> np.ndarray:
    hist = np.zeros((BANDS, len(histogram_bins()) - 1), np.int64)
    for crop in crops:
        mean, detail = haar_bands(crop)
        hist += banded_histograms(detail, band_index(mean))
    return hist


def blind_fit(noisy_dir: Path | str, candidates: Sequence[Candidate], clean_dir: Path | str | None = None,
              seed: int = 0, progress: Progress | None = None) -> NoiseFitReport:
    """The blind table: the noisy folder's crops, clean photos' crops and each candidate drawn on them."""
    from data_tools.samples import TRAIN_POOL, load_sample
    from denoise_gan.nets.noise_stats import SUBPATCH

    noisy_images = read_folder(noisy_dir)
    clean_images = read_folder(clean_dir) if clean_dir else [load_sample(n) for n in TRAIN_POOL]
    smallest = min(min(i.shape[:2]) for i in noisy_images + clean_images)
    if smallest < SUBPATCH:
        raise UserError(f"an image is {smallest} px on a side; blind statistics need at least {SUBPATCH}")
    side = max(SUBPATCH, min(BLIND_SIDE, smallest // SUBPATCH * SUBPATCH))
    noisy = _crops(noisy_images, seed + 1, side)
    clean = _crops(clean_images, seed, side)
    sets: list[tuple[str, str, list[np.ndarray], dict[str, Any]]] = [
        (BLIND_REFERENCE, "reference", noisy, {}), (BLIND_CLEAN, "clean", clean, {})]
    for k, cand in enumerate(candidates):
        fake = [cand.source.apply(c, image_seed(seed, f"crop-{i}"))[0] for i, c in enumerate(clean)]
        added = [float(np.std(to_255(f) - to_255(c))) for f, c in zip(fake, clean)]
        sets.append((cand.label, cand.kind, fake, {"source": str(cand.source), "added_std": float(np.median(added))}))
        if progress is not None:
            progress(k + 1, len(candidates) + 1, cand.label)
    reference = _detail_histograms(noisy)
    rows = []
    for label, kind, crops, extra in sets:
        hist = _detail_histograms(crops)
        values = {**extra, **_blind_values(crops, hist, None if kind == "reference" else reference)}
        rows.append(FitRow(label, kind, values, hist, crops[0]))
    if progress is not None:
        progress(len(candidates) + 1, len(candidates) + 1, "statistics")
    settings = {"noisy_dir": str(Path(noisy_dir).resolve()),
                "clean_dir": str(Path(clean_dir).resolve()) if clean_dir else "bundled skimage.data training images",
                "crops": BLIND_CROPS, "crop_size": side, "seed": seed, "bands": band_names(),
                "sources": {c.label: _record(c.source) for c in candidates}}
    report = NoiseFitReport("blind", rows, settings, BLIND_HOW)
    report.picture = {"bands": band_names()}
    return report


BLIND_HOW = ("no ground truth: every row measured the same way on random crops (never resized); blind sigma: "
             "skimage.restoration.estimate_sigma per crop (0-255; reads correlated noise low); luma_vs_colour and "
             "coarse_vs_fine: medians over 32x32 windows of the finest-wavelet sigma ratios (nets.noise_stats, as "
             "adapt's noise_fit); sigma_per_octave: the luma's finest diagonal Haar sigma at 1, 1/2 and 1/4 "
             "resolution (white noise halves each octave); detail_kl: KL(folder || row) of the finest diagonal "
             "Haar coefficients per brightness band of the 2x2 block mean (noise plus the scenes' finest texture); "
             "added_std: the std a model adds to a clean crop")


# ---- outputs: JSON, Markdown, PNG ----------------------------------------------------------------

def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}"


def markdown(report: NoiseFitReport) -> str:
    """The table as Markdown, with the settings and the method in words."""
    s = report.settings
    bands = s["bands"]
    if report.mode == "paired":
        head = (f"# Noise fit: {s['noisy_dir']} against {s['clean_dir']}\n\n{s['pairs']} pairs, seed {s['seed']}; "
                "KL(real ‖ row) per brightness band of the clean intensity (nats; lower is closer).\n\n")
        cols = ["row", "KL mean", *[f"KL {b}" for b in bands], "σ", "lag-1 corr", "R-G corr"]
        lines = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
        for r in report.rows:
            v = r.values
            lines.append("| " + " | ".join([r.label, _fmt(v["kl_mean"], 4), *[_fmt(k, 4) for k in v["kl_per_band"]],
                                            _fmt(v["std"], 2), _fmt(v["lag1"]), _fmt(v["rg_corr"])]) + " |")
    else:
        head = (f"# Noise fit (blind): {s['noisy_dir']}\n\nNo clean twins: {s['crops']} random {s['crop_size']}x"
                f"{s['crop_size']} crops per row, models drawn on clean photos ({s['clean_dir']}), seed {s['seed']}."
                "\n\n")
        cols = ["row", "blind σ p10", "median", "p90", "luma / colour σ", "coarse / fine σ", "σ per octave",
                "detail KL mean", "σ added"]
        lines = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
        for r in report.rows:
            v = r.values
            lines.append("| " + " | ".join([
                r.label, _fmt(v["blind_sigma_p10"], 2), _fmt(v["blind_sigma_median"], 2), _fmt(v["blind_sigma_p90"], 2),
                _fmt(v["luma_vs_colour"], 2), _fmt(v["coarse_vs_fine"], 2),
                " / ".join(_fmt(x, 2) for x in v["sigma_per_octave"]), _fmt(v.get("detail_kl_mean"), 4),
                _fmt(v.get("added_std"), 2)]) + " |")
    return head + "\n".join(lines) + f"\n\nHow: {report.how}.\n\n![noise fit](noise_fit.png)\n"


def report_json(report: NoiseFitReport) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"


def figure(report: NoiseFitReport) -> Any:
    """The picture: histograms per brightness band, spectra (or σ per octave), crops; every panel labelled."""
    from matplotlib.figure import Figure  # imported on use: matplotlib is slow to import

    rows = report.rows
    colours = ["black"] + [f"C{i}" for i in range(len(rows) - 1)]
    fig = Figure(figsize=(3.4 * max(BANDS, len(rows)), 11))
    grid = fig.add_gridspec(3, 1, height_ratios=[1, 1, 1.1])
    _histogram_panels(fig, grid[0].subgridspec(1, BANDS), report, colours)
    if report.mode == "paired":
        _spectrum_panels(fig, grid[1].subgridspec(1, 2), report, colours)
    else:
        _blind_panels(fig, grid[1].subgridspec(1, 2), report, colours)
    _crop_panels(fig, grid[2].subgridspec(1, len(rows)), report)
    title = ("noise fit: residual noisy - clean, real pairs against each model drawn on the same clean images"
             if report.mode == "paired" else
             "noise fit (blind, no clean twins): the noisy folder against models drawn on clean photos")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig


def _histogram_panels(fig: Any, cells: Any, report: NoiseFitReport, colours: list[str]) -> None:
    centres = np.arange(-HIST_HALF, HIST_HALF + 1)
    hists = [r.hist for r in report.rows]
    reference = hists[0]
    for band, name in enumerate(report.picture["bands"]):
        ax = fig.add_subplot(cells[band])
        counts = reference[band]
        spread = np.sqrt(np.dot(counts, centres**2) / max(counts.sum(), 1))
        limit = max(8.0, 4.0 * spread)
        for row, hist, colour in zip(report.rows, hists, colours):
            total = hist[band].sum()
            if total == 0:
                continue
            density = hist[band] / total
            kl = row.values.get("kl_per_band", row.values.get("detail_kl_per_band"))
            tag = "" if kl is None or kl[band] is None else f" (KL {kl[band]:.3f})"
            style = {"linewidth": 2.0} if row is report.rows[0] else {"linewidth": 1.0}
            ax.step(centres, np.where(density > 0, density, np.nan), where="mid", color=colour,
                    label=_short(row.label) + tag, **style)
        ax.set_yscale("log")
        ax.set_xlim(-limit, limit)
        what = "residual" if report.mode == "paired" else "finest diagonal Haar detail"
        ax.set_title(f"{what}, brightness {name}\n({int(counts.sum())} samples)", fontsize=8)
        ax.set_xlabel("levels (0-255 scale)", fontsize=7)
        ax.set_ylabel("share of samples (log)", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=5)


def _spectrum_panels(fig: Any, cells: Any, report: NoiseFitReport, colours: list[str]) -> None:
    ax = fig.add_subplot(cells[0])
    for row, colour in zip(report.rows, colours):
        spectrum = row.values["spectrum"]
        ax.plot(spectrum["cycles_per_pixel"], spectrum["power"], color=colour, marker=".",
                label=f"{_short(row.label)} (lag-1 {_fmt(row.values['lag1'], 2)})")
    ax.set_yscale("log")
    ax.set_xlabel("spatial frequency (cycles/pixel)", fontsize=8)
    ax.set_ylabel("noise power (levels², log)", fontsize=8)
    ax.set_title(f"radially averaged noise power spectrum ({WINDOW}x{WINDOW} windows; flat = white)", fontsize=9)
    ax.legend(fontsize=6)
    ax = fig.add_subplot(cells[1])
    edges = band_edges()
    mids = (edges[:-1] + edges[1:]) / 2
    for row, colour in zip(report.rows, colours):
        std = [np.nan if s is None else s for s in row.values["std_per_band"]]
        ax.plot(mids, std, color=colour, marker="o", label=f"{_short(row.label)} (σ {_fmt(row.values['std'], 2)})")
    ax.set_xlabel("clean intensity (0-255)", fontsize=8)
    ax.set_ylabel("residual std (levels)", fontsize=8)
    ax.set_title("noise level against brightness (signal dependence)", fontsize=9)
    ax.legend(fontsize=6)


def _blind_panels(fig: Any, cells: Any, report: NoiseFitReport, colours: list[str]) -> None:
    ax = fig.add_subplot(cells[0])
    for row, colour in zip(report.rows, colours):
        ax.plot([1, 2, 4], row.values["sigma_per_octave"], color=colour, marker="o",
                label=f"{_short(row.label)} (coarse/fine {row.values['coarse_vs_fine']:.2f})")
    ax.plot([1, 2, 4], [report.rows[0].values["sigma_per_octave"][0] / k for k in (1, 2, 4)], color="gray",
            linestyle=":", label="white noise would halve")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("scale (pixels per sample, luma)", fontsize=8)
    ax.set_ylabel("finest diagonal Haar σ (levels)", fontsize=8)
    ax.set_title("noise σ per octave, median over crops (blind stand-in for a spectrum)", fontsize=9)
    ax.legend(fontsize=6)
    ax = fig.add_subplot(cells[1])
    for row, colour in zip(report.rows, colours):
        ax.scatter(row.values["brightness_per_crop"], row.values["blind_sigma_per_crop"], s=8, color=colour,
                   label=f"{_short(row.label)} (median {row.values['blind_sigma_median']:.2f})")
    ax.set_xlabel("crop mean brightness (0-255)", fontsize=8)
    ax.set_ylabel("blind σ of the crop (levels)", fontsize=8)
    ax.set_title("noise level against brightness (blind σ per crop)", fontsize=9)
    ax.legend(fontsize=6)


def _crop_panels(fig: Any, cells: Any, report: NoiseFitReport) -> None:
    if report.mode == "paired":
        spread = max(report.rows[0].values["std"], 1.0)
        caption = f"residual crop, 128 + r x {40 / spread:.1f} (same scale for all)"
    for i, row in enumerate(report.rows):
        ax = fig.add_subplot(cells[i])
        if report.mode == "paired":
            shown = np.clip(128.0 + row.crop * (40.0 / spread), 0, 255).astype(np.uint8)
            sub = f"{caption}\nσ {_fmt(row.values['std'], 2)}"
        else:
            shown = np.clip(np.rint(to_255(row.crop)), 0, 255).astype(np.uint8)
            sub = f"a {shown.shape[0]}px crop at 1:1\nblind σ median {_fmt(row.values['blind_sigma_median'], 2)}"
        ax.imshow(shown[..., 0] if shown.shape[2] == 1 else shown, cmap="gray", vmin=0, vmax=255,
                  interpolation="nearest")
        ax.set_title(f"{_short(row.label)}\n{sub}", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])


def _short(label: str, width: int = 44) -> str:
    return label if len(label) <= width else label[:width - 1] + "…"


def write_report(report: NoiseFitReport, out_dir: Path | str) -> list[Path]:
    """noise_fit.json, noise_fit.md and noise_fit.png in ``out_dir`` (prepared by the caller)."""
    out_dir = Path(out_dir)
    paths = [out_dir / "noise_fit.json", out_dir / "noise_fit.md", out_dir / "noise_fit.png"]
    atomic_write_bytes(paths[0], report_json(report).encode())
    atomic_write_bytes(paths[1], markdown(report).encode())
    buf = io.BytesIO()
    figure(report).savefig(buf, format="png", dpi=80)
    atomic_write_bytes(paths[2], buf.getvalue())
    return paths


def iter_rows(report: NoiseFitReport) -> Iterator[tuple[str, list[str]]]:
    """(label, formatted cells) per row, for a terminal table: the columns ``table_columns`` names."""
    for r in report.rows:
        v = r.values
        if report.mode == "paired":
            yield r.label, [_fmt(v["kl_mean"], 4), _fmt(v["std"], 2), _fmt(v["lag1"]), _fmt(v["rg_corr"])]
        else:
            yield r.label, [_fmt(v["blind_sigma_median"], 2), _fmt(v["luma_vs_colour"], 2),
                            _fmt(v["coarse_vs_fine"], 2), _fmt(v.get("detail_kl_mean"), 4),
                            _fmt(v.get("added_std"), 2)]


def table_columns(report: NoiseFitReport) -> list[str]:
    if report.mode == "paired":
        return ["KL mean (nats)", "σ", "lag-1 corr", "R-G corr"]
    return ["blind σ median", "luma/colour σ", "coarse/fine σ", "detail KL mean", "σ added"]
