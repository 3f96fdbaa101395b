"""Paired and blind noise fits: the candidates, the rows and the report they make."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from data_tools.folder_scan import no_images_text, not_a_folder
from data_tools.images import colour_channels, haar_quads, to_255
from data_tools.names import printable, shown, warn
from data_tools.noise import image_seed, parse_noise_spec
from data_tools.noise_source import NoiseSource
from data_tools.paths import real_path
from data_tools.synth_folder import reading_set_half, refuse_incomplete_half, refuse_synth_sets_inside
from denoise_gan.errors import UserError
from denoise_gan.evaluation.noise_fit.seeds import fit_seed, follows, made_with_seed
from denoise_gan.evaluation.noise_fit.statistics import (
    BANDS,
    BLIND_CLEAN,
    BLIND_CROPS,
    BLIND_REFERENCE,
    BLIND_SIDE,
    FIT_BANDS,
    HIST_HALF,
    KL_EPS,
    MIN_BAND,
    REFERENCE,
    WINDOW,
    ResidualStats,
    band_index,
    band_names,
    banded_histograms,
    correlation,
    fit_poisson_gaussian,
    histogram_bins,
    kl_divergence,
)
from denoise_gan.progress_bar import ProgressFn

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
    """Learned models (weight files, folders, shipped names) and parametric specs, as rows to compare; one given
    twice (the same name, or specs written differently that mean the same) is one row, as in `benchmark`."""
    out: list[Candidate] = []
    if models:
        from denoise_gan.inference.noise_model import NoiseModel

        loaded = {}  # by file: `--model default --model default-F` name one file
        for m in dict.fromkeys(models):
            model = NoiseModel.from_pretrained(m, device=device)
            loaded.setdefault((real_path(model.weights) if model.weights else m, model.sha256), (m, model))
        out += [Candidate(f"model {m}", "model", model) for m, model in loaded.values()]
    parsed = {str(spec): spec for spec in map(parse_noise_spec, specs)}
    out += [Candidate(f"spec {label}", "spec", spec) for label, spec in parsed.items()]
    return out


# ---- paired mode ---------------------------------------------------------------------------------

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
                "sources": {c.label: _record(c.source) for c in candidates}}
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


def _record(source: NoiseSource) -> dict[str, Any]:
    from data_tools.noise_source import source_record

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

@dataclass(frozen=True)
class FolderPhotos:
    """The photos a blind fit measures, and "name: why" of those it left out (unreadable, too small): the report
    says how many it used, as adapt's does."""

    images: list[np.ndarray]
    left_out: tuple[str, ...] = ()

    def record(self) -> dict[str, Any]:
        return {"used": len(self.images), "left_out": list(self.left_out)}


def folder_photos(folder: Path | str, smallest: int = 1) -> FolderPhotos:
    """The colour channels of every readable image under a folder (recursive, sorted), as training reads one:
    an unreadable file, or one under ``smallest`` px on a side, is skipped with a warning that names it; a
    folder with no image left is an error."""
    from data_tools.datasets import at_least, read_folder

    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: {not_a_folder(folder)}")
    unreadable: list[str] = []
    found = read_folder(folder, warn=warn, skipped=unreadable)
    usable, small = at_least(found, folder, smallest)
    if small and usable:  # none usable: the error below says why
        more = f" and {len(small) - 1} more" if len(small) > 1 else ""
        warn(f"skipping {shown(small[0])}{more}: under {smallest} px on a side, too small to measure")
    images = [colour_channels(pixels) for pixels in usable]
    if not images:
        raise UserError(no_images_text(folder) if not found else
                        f"{folder}: every image is under {smallest} px on a side; the statistics need at least that")
    too_small = tuple(f"{name}: under {smallest} px on a side" for name in small)
    return FolderPhotos(images, (*unreadable, *too_small))


def haar_bands(crop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(2x2 block mean, finest diagonal Haar detail) per channel on the 0-255 scale; the detail has the noise's
    σ for white noise, and is what a blind σ estimate reads."""
    a, b, c, d = haar_quads(to_255(crop))
    return (a + b + c + d) / 4, (a - b - c + d) / 2


def _blind_values(crops: Sequence[np.ndarray], hist: np.ndarray, reference: np.ndarray | None) -> dict[str, Any]:
    """adapt's blind measures of a set of crops (nets.noise_stats; skimage's blind σ), and the KL of its Haar
    detail histograms per brightness band to the reference's."""

    from data_tools.datasets import to_tensor
    from denoise_gan.evaluation.noise_sigma import measurable
    from denoise_gan.nets.noise_stats import blind_ratios, noise_sigmas

    crops, sigmas = measurable(crops)  # a black or flat crop has no σ to read
    tensors = [to_tensor(c) for c in crops]
    sig = noise_sigmas(tensors)  # once: the ratios and the per-octave σ are read from it
    p10, p50, p90 = np.percentile(sigmas, [10, 50, 90])
    luma_vs_colour, coarse_vs_fine = blind_ratios(sig, tensors)
    values: dict[str, Any] = {
        "blind_sigma_p10": float(p10), "blind_sigma_median": float(p50), "blind_sigma_p90": float(p90),
        "luma_vs_colour": luma_vs_colour, "coarse_vs_fine": coarse_vs_fine,
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
              seed: int = 0, progress: ProgressFn | None = None) -> NoiseFitReport:
    """The blind table: the noisy folder's crops, clean photos' crops and each candidate drawn on them (a set's
    half held while it is read, as ``paired_fit`` holds it)."""
    with reading_set_half(noisy_dir):
        return _blind_fit(noisy_dir, candidates, clean_dir, seed, progress)


def _blind_fit(noisy_dir: Path | str, candidates: Sequence[Candidate], clean_dir: Path | str | None, seed: int,
               progress: ProgressFn | None) -> NoiseFitReport:
    from data_tools.datasets import fit_channels, random_crops  # torch, as the candidates need it anyway
    from data_tools.samples import TRAIN_POOL, load_sample
    from denoise_gan.nets.noise_stats import SUBPATCH

    if clean_dir:
        refuse_synth_sets_inside(clean_dir, UserError)  # its noisy/ would be read as clean photos
    refuse_synth_sets_inside(noisy_dir, UserError, "noisy")  # and its clean/ as noisy ones
    refuse_incomplete_half(noisy_dir, UserError, "--noisy ")
    noisy_photos = folder_photos(noisy_dir, SUBPATCH)
    clean_photos = folder_photos(clean_dir, SUBPATCH) if clean_dir else None
    noisy_images = noisy_photos.images
    clean_images = clean_photos.images if clean_photos else [load_sample(n) for n in TRAIN_POOL]
    smallest = min(min(i.shape[:2]) for i in noisy_images + clean_images)
    side = max(SUBPATCH, min(BLIND_SIDE, smallest // SUBPATCH * SUBPATCH))
    noisy = random_crops(noisy_images, seed + 1, 3, side, BLIND_CROPS)
    # a gray folder's noise is gray (synth draws it so on gray photos): the models draw theirs on gray crops there,
    # and on colour crops (gray ones copied) otherwise; every row is then measured in colour alike
    gray = all(image.shape[2] == 1 for image in noisy_images)
    own = random_crops(clean_images, seed, 1 if gray else 3, side, BLIND_CROPS)
    clean = [fit_channels(c, 3) for c in own]
    sets: list[tuple[str, str, list[np.ndarray], dict[str, Any]]] = [
        (BLIND_REFERENCE, "reference", noisy, {}), (BLIND_CLEAN, "clean", clean, {})]
    for k, cand in enumerate(candidates):
        fake = [fit_channels(cand.source.apply(c, image_seed(seed, f"crop-{i}"))[0], 3) for i, c in enumerate(own)]
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
    settings = {"noisy_dir": str(real_path(noisy_dir)),
                "clean_dir": str(real_path(clean_dir)) if clean_dir else "bundled skimage.data training images",
                "noisy_photos": noisy_photos.record(),
                **({"clean_photos": clean_photos.record()} if clean_photos else {}),
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


