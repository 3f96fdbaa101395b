"""The residual statistics a noise model is judged by: brightness bands, histograms and their KL, lag-1 and
cross-channel correlation, power spectra, and the Poisson-Gaussian fit (see the package's docstring)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from data_tools.images import center_crop

BANDS = 5  # brightness bands of the clean intensity for the histograms and their KL
HIST_HALF = 128  # residual histogram range +-128 levels (0-255 scale), 1-level bins
FIT_BANDS = 32  # finer bands for the Poisson-Gaussian variance fit
MIN_BAND = 500  # samples a band needs for its KL (and a fit band for the regression)
KL_EPS = 1e-6  # probability added to every bin of both histograms before KL (then renormalised)
WINDOW = 64  # periodogram window side
SPECTRUM_BINS = 16  # radial frequency bins from 0 to 0.5 cycles/pixel
MAX_WINDOWS = 256  # periodogram windows per image and channel, evenly spread
CROP = 96  # the picture's crop of residuals
STRIP_VALUES = 2**20  # samples per strip of rows for the per-pixel sums (about 100 MB of temporaries at most)
BLIND_CROPS, BLIND_SIDE = 48, 128  # blind mode: random crops per set, and their largest side (as adapt)
REFERENCE = "real noise (reference)"
BLIND_REFERENCE = "noisy folder (reference)"
BLIND_CLEAN = "clean photos (no noise)"


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


# ---- one row's residual statistics, accumulated image by image ----------------------------------

@dataclass
class ResidualStats:
    """Everything a row reports, summed over images so no residual is kept (only the picture's crop)."""

    hist: np.ndarray = field(default_factory=lambda: np.zeros((BANDS, len(histogram_bins()) - 1), np.int64))
    # per fine band: n, sum I, sum r, sum r^2, and how many noisy samples sit at 0 or 255 (clipped there)
    fit: np.ndarray = field(default_factory=lambda: np.zeros((FIT_BANDS, 5)))
    moments: np.ndarray = field(default_factory=lambda: np.zeros(3))  # n, sum r, sum r^2
    lag: np.ndarray = field(default_factory=lambda: np.zeros(6))
    rg: np.ndarray = field(default_factory=lambda: np.zeros(3))
    power: np.ndarray = field(default_factory=lambda: np.zeros((WINDOW, WINDOW)))
    windows: int = 0
    crop: np.ndarray | None = None  # the first image's centre crop of the residual

    def add(self, clean: np.ndarray, residual: np.ndarray) -> None:
        """One image: ``clean`` and ``residual`` HxWxC float on the 0-255 scale. The per-pixel sums run over strips
        of rows: whole, their float64 and int64 copies held about 190 bytes a pixel (19 GB for a 100 MP pair)."""
        step = max(1, STRIP_VALUES // max(1, residual[0].size))
        for top in range(0, residual.shape[0], step):
            self._add_sums(clean[top:top + step], residual[top:top + step])
        self.lag += lag1_sums(residual)
        if residual.shape[2] >= 3:
            self.rg += channel_sums(residual)
        power, count = periodograms(residual)
        self.power += power
        self.windows += count
        if self.crop is None:
            self.crop = center_crop(residual, CROP, allow_smaller=True).copy()  # the residual is not kept

    def _add_sums(self, clean: np.ndarray, residual: np.ndarray) -> None:
        self.hist += banded_histograms(residual, band_index(clean))
        fine = band_index(clean, FIT_BANDS).ravel()
        r = residual.ravel().astype(np.float64)
        noisy = clean.ravel() + r
        at_end = ((noisy <= 0.5) | (noisy >= 254.5)).astype(np.float64)
        for column, weights in enumerate((None, clean.ravel().astype(np.float64), r, r * r, at_end)):
            self.fit[:, column] += np.bincount(fine, weights=weights, minlength=FIT_BANDS)
        self.moments += (r.size, r.sum(), np.dot(r, r))

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


CLIPPED_SHARES = (0.005, 0.02, 0.05)  # a band with more of its noisy samples at 0 or 255 is left out of the fit


def fit_poisson_gaussian(stats: ResidualStats) -> tuple[float, float] | None:
    """(peak, sigma) of the Poisson-Gaussian spec whose variance a * I + b best fits the residual's variance per
    fine brightness band (least squares weighted by the band's samples; a = 255 / peak, b = sigma^2), clamped to
    the spec's limits (peak 0.01..1e6, sigma 0..255); None when no band holds MIN_BAND samples (a small set).

    Clipping at 0 and 255 shrinks the variance of the bands near the ends (peak 30, σ 5 fitted as 40.5 / 12.9),
    so the fit uses the bands with the fewest noisy samples at 0 or 255: at most 0.5 % of them, or 2 % or 5 %
    where the stricter share leaves under half the brightness range (heavy noise reaches the ends from every
    band), or else all bands. Counted, not inferred from a band's mean residual, which a clean/noisy pair a
    little apart in gain moves everywhere. Measured on the held-out samples (`samples` then `synth`): peak 30,
    σ 5 fits as 30.5 / 6.0, Poisson peak 10 as 12.1 / 20.1 (18.0 / 25.6 before), Gaussian σ 25 and 50 as
    σ 25.0 and 49.0 with no shot term, peak 200, σ 2 as 200.1 / 2.0.
    """
    n, sum_i, sum_r, sum_rr, at_end = stats.fit.T
    used = n >= MIN_BAND
    if used.sum() == 0:
        return None
    safe = np.where(used, n, 1)
    intensity, mean = sum_i / safe, sum_r / safe
    var = np.maximum(sum_rr / safe - mean**2, 0.0)
    for share in CLIPPED_SHARES:  # the strictest that leaves half the brightness range (heavy noise clips all)
        keep = used & (at_end / safe <= share)
        if _span(intensity, keep) >= 0.5 * _span(intensity, used):
            break
    if not keep.any():  # one unclipped band still fits σ (a grey card's flat patches: the ends' bands clip)
        keep = used
    a, b = _variance_line(n[keep], intensity[keep], var[keep])
    return 255.0 / a, min(math.sqrt(b), 255.0)


def _span(intensity: np.ndarray, bands: np.ndarray) -> float:
    """The brightness range the chosen bands cover (0 for fewer than two)."""
    return float(np.ptp(intensity[bands])) if bands.sum() >= 2 else 0.0


def _variance_line(n: np.ndarray, intensity: np.ndarray, var: np.ndarray) -> tuple[float, float]:
    """(a, b) of var = a * I + b by least squares weighted by the bands' samples, a clamped to the spec's peaks."""
    if len(n) >= 2 and np.ptp(intensity) > 0:
        design = np.stack([intensity, np.ones_like(intensity)], axis=1) * np.sqrt(n)[:, None]
        a, _ = np.linalg.lstsq(design, var * np.sqrt(n), rcond=None)[0]
    else:
        a = 0.0
    a = float(np.clip(a, 255.0 / 1e6, 255.0 / 0.01))
    return a, max(float(np.average(var - a * intensity, weights=n)), 0.0)


