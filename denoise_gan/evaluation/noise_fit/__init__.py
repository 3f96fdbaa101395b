"""How well does a noise model match real noise? The statistics Noise Flow and C2N judge a model by, against the
parametric fits a user could make (a Gaussian, a Poisson-Gaussian).

Paired mode (clean and noisy files of the same relative names, as ``evaluate`` pairs them): the residual
r = noisy - clean on the 0-255 scale (16-bit files scaled, alpha dropped) of the real pairs is the reference.
Each noise model (a learned F, a spec) is drawn on the same clean images, seeded as ``synth`` seeds
(``image_seed(seed, name)``; on a set synth made with this very seed, seeds of its own, so no row repeats the
set's draws), clipped and rounded to the file's dtype as the real file was, and its residual is
measured the same way:

* KL(real || model) of r's histogram per brightness band (the clean intensity of each pixel and channel in
  ``BANDS`` equal bands; 1-level bins over +-128, values beyond in the end bins, both histograms smoothed by
  ``KL_EPS``), and its mean over the bands that hold at least ``MIN_BAND`` samples;
* the std of r; the lag-1 spatial correlation of r (Pearson, horizontally and vertically adjacent residuals, the
  per-image per-channel mean removed; the mean of the two); the R-G correlation of r (colour images);
* the radially averaged power spectrum of r (Hann-windowed ``WINDOW`` px periodograms; flat for white noise).

Two baselines are fitted to the pairs: Gaussian with the real residual's std, and Poisson-Gaussian from a
least-squares fit of var(r) = a * I + b over ``FIT_BANDS`` brightness bands (peak = 255 / a, σ = sqrt(b); bands
that clipping at 0 or 255 shifted are left out of it; the row is left out with a warning when no band holds
``MIN_BAND`` samples); a learned model earns its place where it beats them.

Blind mode (noisy photos only, ``adapt``'s situation): no residual exists, so the rows are measured without
ground truth, as ``adapt``'s noise_fit report does: blind σ per crop (p10/median/p90; skimage's wavelet
estimate), luma/colour and coarse/fine σ ratios (``nets.noise_stats``), and, in place of residual histograms,
the finest diagonal Haar coefficients per brightness band of the 2x2 block mean (noise plus the scene's finest
texture, on both sides) with their KL to the folder's. Models are drawn on clean photos.
"""

from __future__ import annotations

from data_tools.images import to_255
from denoise_gan.evaluation.noise_fit.blind import BLIND_HOW, blind_fit, folder_photos, haar_bands
from denoise_gan.evaluation.noise_fit.fit_report import Candidate, FitRow, NoiseFitReport, load_candidates
from denoise_gan.evaluation.noise_fit.output import (
    figure,
    iter_rows,
    markdown,
    report_json,
    table_columns,
    write_report,
)
from denoise_gan.evaluation.noise_fit.paired import PAIRED_HOW, paired_fit, read_pairs
from denoise_gan.evaluation.noise_fit.statistics import (
    BANDS,
    BLIND_CLEAN,
    BLIND_CROPS,
    BLIND_REFERENCE,
    BLIND_SIDE,
    CROP,
    FIT_BANDS,
    HIST_HALF,
    KL_EPS,
    MAX_WINDOWS,
    MIN_BAND,
    REFERENCE,
    SPECTRUM_BINS,
    WINDOW,
    ResidualStats,
    band_edges,
    band_index,
    band_names,
    banded_histograms,
    channel_sums,
    correlation,
    fit_poisson_gaussian,
    hann2d,
    histogram_bins,
    kl_divergence,
    lag1_sums,
    periodograms,
    radial_average,
)
from denoise_gan.progress_bar import ProgressFn as Progress  # its callbacks' type, as this package names it

__all__ = [
    "BANDS",
    "BLIND_CLEAN",
    "BLIND_CROPS",
    "BLIND_HOW",
    "BLIND_REFERENCE",
    "BLIND_SIDE",
    "CROP",
    "Candidate",
    "FIT_BANDS",
    "FitRow",
    "HIST_HALF",
    "KL_EPS",
    "MAX_WINDOWS",
    "MIN_BAND",
    "NoiseFitReport",
    "PAIRED_HOW",
    "Progress",
    "REFERENCE",
    "ResidualStats",
    "SPECTRUM_BINS",
    "WINDOW",
    "band_edges",
    "band_index",
    "band_names",
    "banded_histograms",
    "blind_fit",
    "channel_sums",
    "correlation",
    "figure",
    "fit_poisson_gaussian",
    "haar_bands",
    "hann2d",
    "histogram_bins",
    "iter_rows",
    "kl_divergence",
    "lag1_sums",
    "load_candidates",
    "markdown",
    "paired_fit",
    "periodograms",
    "radial_average",
    "folder_photos",
    "read_pairs",
    "report_json",
    "table_columns",
    "to_255",
    "write_report",
]
