"""The paired fit: each candidate's noise drawn on the clean photos, against the residual of their noisy twins."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from data_tools.images import colour_channels, to_255
from data_tools.names import printable, warn
from data_tools.noise import image_seed, parse_noise_spec
from data_tools.paths import real_path
from data_tools.synth_folder import reading_set_half, refuse_incomplete_half
from denoise_gan.errors import UserError
from denoise_gan.evaluation.noise_fit.fit_report import Candidate, FitRow, NoiseFitReport, recorded
from denoise_gan.evaluation.noise_fit.seeds import fit_seed, follows, made_with_seed
from denoise_gan.evaluation.noise_fit.statistics import (
    FIT_BANDS,
    HIST_HALF,
    KL_EPS,
    MIN_BAND,
    REFERENCE,
    WINDOW,
    ResidualStats,
    band_names,
    correlation,
    fit_poisson_gaussian,
    kl_divergence,
)
from denoise_gan.progress_bar import ProgressFn


def read_pairs(clean_dir: Path | str, noisy_dir: Path | str) -> list[tuple[str, Path, Path]]:
    """(name, clean file, noisy file) by relative name, as ``evaluate`` pairs them; unpaired files are errors."""
    from denoise_gan.evaluation.pairing import paired_files

    return paired_files(clean_dir, noisy_dir, role="noisy image")


def _load_pair(clean_path: Path, noisy_path: Path) -> tuple[np.ndarray, np.ndarray]:
    from denoise_gan.evaluation.pairing import read_pair

    clean, noisy = read_pair(clean_path, noisy_path)
    return colour_channels(clean), colour_channels(noisy)


def paired_fit(clean_dir: Path | str, noisy_dir: Path | str, candidates: Sequence[Candidate], seed: int = 0,
               progress: ProgressFn | None = None) -> NoiseFitReport:
    """The paired table: the real residual, each candidate and the fitted baselines (see the package doc). The
    set a half belongs to is held while it is read: a synth into it meanwhile is refused."""
    with reading_set_half(noisy_dir), reading_set_half(clean_dir):
        return _paired_fit(clean_dir, noisy_dir, candidates, seed, progress)


def _paired_fit(clean_dir: Path | str, noisy_dir: Path | str, candidates: Sequence[Candidate], seed: int,
                progress: ProgressFn | None) -> NoiseFitReport:
    refuse_incomplete_half(noisy_dir, UserError, "--noisy ")
    pairs = read_pairs(clean_dir, noisy_dir)
    total = 2 * len(pairs)
    real, same = ResidualStats(), []
    for i, (name, clean_path, noisy_path) in enumerate(pairs):
        clean, noisy = _load_pair(clean_path, noisy_path)
        clean255 = to_255(clean)
        real.add(clean255, to_255(noisy) - clean255)
        if np.array_equal(clean, noisy):
            same.append(name)
        if progress is not None:
            progress(i + 1, total, printable(name))
    if real.moments[0] == 0:
        raise UserError(f"{clean_dir}: no pixels to measure")
    _check_noise_present(same, len(pairs), noisy_dir)
    fitted = fit_poisson_gaussian(real)
    gauss_text = f"gaussian:sigma={min(real.std, 255.0):.3f}"
    pg_text = None if fitted is None else f"poisson-gaussian:peak={fitted[0]:.3f},sigma={fitted[1]:.3f}"
    rows = [*candidates, Candidate(f"Gaussian fit (σ {real.std:.2f})", "baseline", parse_noise_spec(gauss_text))]
    if real.hist.sum(axis=1).max() < MIN_BAND:  # the KL column would be a dash with no reason given
        warn(f"too few pixels in {printable(str(clean_dir))} for the KL column (no brightness band holds "
             f"{MIN_BAND} residual samples; {int(real.moments[0])} in all): it is left out, and σ and the "
             "correlations rest on those few samples")
    if fitted is None:
        warn(f"too few pixels in {printable(str(clean_dir))} to fit a Poisson-Gaussian model (no brightness "
             f"band holds {MIN_BAND}); its row is left out")
    else:
        rows.append(Candidate(_pg_label(*fitted), "baseline", parse_noise_spec(pg_text)))
    known = made_with_seed(noisy_dir, seed)  # else a replay is known by a draw that follows the real noise
    generated = [ResidualStats() for _ in rows]
    for i, (name, clean_path, noisy_path) in enumerate(pairs):
        clean, noisy = _load_pair(clean_path, noisy_path)
        clean255 = to_255(clean)
        residual = to_255(noisy) - clean255
        for stats, cand in zip(generated, rows):
            try:
                drawn = to_255(cand.source.apply(clean, fit_seed(seed, name) if known else image_seed(seed, name))[0])
                if not known and follows(residual, drawn - clean255):  # a pair synth drew with this seed
                    drawn = to_255(cand.source.apply(clean, fit_seed(seed, name))[0])
            except ValueError as exc:  # a noise stage's own limit (jpeg: 65500 px a side)
                raise UserError(f"{clean_path}: {exc}; leave this photo out to fit the others") from None
            stats.add(clean255, drawn - clean255)
        if progress is not None:
            progress(len(pairs) + i + 1, total, printable(name))
    table = [_residual_row(REFERENCE, "reference", real, real)]
    table += [_residual_row(c.label, c.kind, s, real, {"source": str(c.source)}) for c, s in zip(rows, generated)]
    settings = {"clean_dir": str(real_path(clean_dir)), "noisy_dir": str(real_path(noisy_dir)),
                "pairs": len(pairs), "seed": seed, "bands": band_names(),
                "fitted": {"gaussian": gauss_text, "poisson_gaussian": pg_text},
                "sources": {c.label: recorded(c.source) for c in candidates}}
    report = NoiseFitReport("paired", table, settings, PAIRED_HOW)
    report.picture = {"bands": band_names()}
    return report


def _check_noise_present(same: list[str], pairs: int, noisy_dir: Path | str) -> None:
    """A noisy image equal to its clean twin has no noise to fit: every pair so is a mistake in the folders (the
    clean photos given twice), a few are said, since they pull every fitted level towards zero."""
    if len(same) == pairs:
        raise UserError(f"{noisy_dir}: every noisy image equals its clean twin, so there is no noise to fit; "
                        "--noisy must hold the noisy versions of the --clean photos")
    if same:
        warn(f"{len(same)} of {pairs} noisy images equal their clean twins (no noise), e.g. "
             f"{printable(same[0])}; they count as noise-free in every row")


def _pg_label(peak: float, sigma: float) -> str:
    if peak >= 0.999e6:  # the slope clamped at its floor: the variance does not grow with brightness
        return f"Poisson-Gaussian fit (no shot term fits: σ {sigma:.2f})"
    return f"Poisson-Gaussian fit (peak {peak:.4g}, σ {sigma:.2f})"


PAIRED_HOW = ("residual r = noisy - clean on the 0-255 scale (16-bit scaled, alpha dropped); generated rows draw "
              "their noise on the same clean images (seed image_seed(seed, name), as synth; on a set synth made "
              "with this seed, known by its manifest or by a row whose draw on an image follows its real noise, "
              "image_seed(seed, NUL + 'noise-fit:' + name), so no row repeats its draws), clipped "
              "and rounded to the file's dtype; bands: the clean intensity of each pixel and channel in equal "
              "bands; KL(real "
              f"|| row) of 1-level histograms over +-{HIST_HALF} smoothed by {KL_EPS:g} per bin, mean over bands "
              f"with >= {MIN_BAND} samples; lag1: Pearson correlation of adjacent residuals (per-image, "
              "per-channel mean removed), mean of horizontal and vertical; rg: Pearson correlation of the R and G "
              f"residuals (colour images); spectrum: Hann-windowed {WINDOW}x{WINDOW} periodograms, radially "
              "averaged (flat = white); baselines: Gaussian with the real std, Poisson-Gaussian from var(r) = "
              f"a*I + b over {FIT_BANDS} brightness bands (peak = 255/a, sigma = sqrt(b))")


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


