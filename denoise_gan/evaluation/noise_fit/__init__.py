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

from denoise_gan.evaluation.noise_fit.blind import blind_fit, folder_photos
from denoise_gan.evaluation.noise_fit.fit_report import load_candidates
from denoise_gan.evaluation.noise_fit.output import figure, iter_rows, markdown, table_columns, write_report
from denoise_gan.evaluation.noise_fit.paired import paired_fit
from denoise_gan.evaluation.noise_fit.statistics import (
    BANDS,
    BLIND_CLEAN,
    BLIND_REFERENCE,
    FIT_BANDS,
    HIST_HALF,
    KL_EPS,
    MIN_BAND,
    REFERENCE,
    WINDOW,
    ResidualStats,
    band_index,
    banded_histograms,
    fit_poisson_gaussian,
    kl_divergence,
    lag1_sums,
)

__all__ = [
    "BANDS",
    "BLIND_CLEAN",
    "BLIND_REFERENCE",
    "FIT_BANDS",
    "HIST_HALF",
    "KL_EPS",
    "MIN_BAND",
    "REFERENCE",
    "ResidualStats",
    "WINDOW",
    "band_index",
    "banded_histograms",
    "blind_fit",
    "figure",
    "fit_poisson_gaussian",
    "folder_photos",
    "iter_rows",
    "kl_divergence",
    "lag1_sums",
    "load_candidates",
    "markdown",
    "paired_fit",
    "table_columns",
    "write_report",
]
