"""The blind fit: a folder of noisy photos without clean twins, against each candidate drawn on clean photos,
by statistics that need no ground truth."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from data_tools.folder_scan import no_images_text, not_a_folder
from data_tools.images import colour_channels, haar_quads, to_255
from data_tools.names import shown, warn
from data_tools.noise import image_seed
from data_tools.paths import real_path
from data_tools.synth_folder import reading_set_half, refuse_incomplete_half, refuse_synth_sets_inside
from denoise_gan.errors import UserError
from denoise_gan.evaluation.noise_fit.fit_report import Candidate, FitRow, NoiseFitReport, recorded
from denoise_gan.evaluation.noise_fit.statistics import (
    BANDS,
    BLIND_CLEAN,
    BLIND_CROPS,
    BLIND_REFERENCE,
    BLIND_SIDE,
    MIN_BAND,
    band_index,
    band_names,
    banded_histograms,
    histogram_bins,
    kl_divergence,
)
from denoise_gan.progress_bar import ProgressFn


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
                "sources": {c.label: recorded(c.source) for c in candidates}}
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


