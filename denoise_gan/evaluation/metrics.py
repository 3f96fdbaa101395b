"""PSNR and SSIM by the project's evaluation protocol (``PROTOCOL`` below), and folder-vs-folder evaluation.

Scores are computed on integer files as users have them, so a number here is comparable with the
published tables: ``data_range`` comes from the dtype (255 or 65535), PSNR is over all colour channels
without border crop, SSIM is Wang et al.'s (Gaussian window σ = 1.5, population covariance) averaged over
channels. The optional Y channel follows BasicSR (ITU-R BT.601, unrounded) and is always labelled ``_y``.
An alpha channel is never scored: it is not something a denoiser is asked to restore.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import skimage
from skimage.metrics import structural_similarity

from data_tools.atomic_files import atomic_write_text
from data_tools.channels import channels_first_hint
from data_tools.images import colour_channels
from data_tools.synth_folder import reading_set_half, refuse_incomplete_half
from denoise_gan.errors import DenoiseGanError, UserError
from denoise_gan.evaluation.pairing import partial_pairs, read_checked_pair, suffix_stem
from denoise_gan.progress_bar import ProgressFn

SSIM_SIGMA = 1.5
SSIM_MIN_SIDE = 11  # the Gaussian window's size at SSIM_SIGMA: a smaller image has no SSIM
# BT.601 luma weights for R, G, B on [0, 1] inputs giving Y on the 16..235 scale (BasicSR/KAIR).
_Y_WEIGHTS = np.array([65.481, 128.553, 24.966], dtype=np.float64)

PROTOCOL: dict[str, Any] = {
    "name": "denoise-gan-eval/1",
    "inputs": "integer image files (uint8 or uint16) as users have them; noisy test inputs are clipped and "
              "rounded to the file's dtype, outputs rounded (not truncated) to the dtype before scoring",
    "pairing": "clean and predicted files paired by relative path without extension (with it where two files of "
               "one folder share that name: a.png pairs a.png, a.jpg pairs a.jpg); clean files without a "
               "prediction are listed under missing and left out of the means, predictions without a clean file "
               "under unpaired; in one folder with a prediction suffix, a prediction is a name that is another's "
               "plus the suffix, and the other names are the clean files",
    "data_range": "from the dtype: 255 for uint8, 65535 for uint16",
    "alpha": "excluded (colour channels only)",
    "border_crop": 0,
    "psnr": "10*log10(data_range^2 / MSE), MSE over all pixels and colour channels; "
            "null in JSON when the images are identical (infinite)",
    "ssim": {
        "implementation": "skimage.metrics.structural_similarity",
        "gaussian_weights": True,
        "sigma": SSIM_SIGMA,
        "use_sample_covariance": False,
        "data_range": "explicit, from the dtype",
        "channels": "mean over colour channels",
    },
    "y_channel": "psnr_y/ssim_y only when requested: ITU-R BT.601 Y = 16 + (65.481 R + 128.553 G + 24.966 B) "
                 "on [0, 1] RGB, scaled back to the dtype's range, not rounded (as BasicSR); same data_range; "
                 "grayscale images score their single channel",
    "mean": "arithmetic mean of the per-image scores (null when a pair is identical: infinite PSNR); then "
            "mean.identical_pairs counts those pairs and mean.psnr_finite is the mean over the others, "
            "which tables and CSV files show; likewise mean.identical_y_pairs and mean.psnr_y_finite for pairs "
            "equal in Y (which RGB pairs that differ can be)",
}


def data_range_for(dtype: np.dtype | type) -> int:
    """255 for uint8, 65535 for uint16: the protocol never infers the range from the pixel values."""
    dtype = np.dtype(dtype)
    if dtype.newbyteorder("=") not in (np.uint8, np.uint16):  # a big-endian 16-bit TIFF is still 16-bit
        why = " (a float image is on no stated scale: convert it as the file would hold it)"
        why = why if dtype.kind == "f" else ""
        raise UserError(f"scoring needs uint8 or uint16 images, got {dtype}{why}")
    return int(np.iinfo(dtype).max)


def _color(image: np.ndarray) -> np.ndarray:
    """HxWxC colour channels of an HxW or HxWxC image, alpha dropped."""
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 2, 3, 4)):
        # a CxHxW array was scored channel by channel: Y PSNR as RGB's, the alpha of an RGBA scored
        raise UserError(f"expected an HxW or HxWxC image (C 1-4), got shape {image.shape}"
                        f"{channels_first_hint(image.shape)}")
    return colour_channels(image)


def to_y_channel(image: np.ndarray) -> np.ndarray:
    """BT.601 luma as float64 HxWx1 on the dtype's scale; gray images pass through as float64."""
    color = _color(image)
    peak = float(data_range_for(image.dtype))
    if color.shape[2] != 3:
        return color.astype(np.float64)
    y = (color.astype(np.float64) / peak) @ _Y_WEIGHTS + 16.0
    return (y / 255.0 * peak)[..., None]


def _prepare(clean: np.ndarray, pred: np.ndarray, y_channel: bool) -> tuple[np.ndarray, np.ndarray, int]:
    for what, image in (("clean", clean), ("prediction", pred)):
        if not isinstance(image, np.ndarray):
            raise UserError(f"scoring needs image arrays; the {what} is a {type(image).__name__}")
    if clean.dtype.newbyteorder("=") != pred.dtype.newbyteorder("="):
        raise UserError(f"dtype mismatch: clean is {clean.dtype}, prediction is {pred.dtype}")
    data_range = data_range_for(clean.dtype)
    a, b = _color(clean), _color(pred)
    if a.shape != b.shape:
        raise UserError(f"shape mismatch: clean is {a.shape}, prediction is {b.shape} (colour channels)")
    if a.size == 0:
        raise UserError(f"an empty image (shape {a.shape}) has no pixels to score")
    if y_channel:
        return to_y_channel(clean), to_y_channel(pred), data_range
    return a.astype(np.float64), b.astype(np.float64), data_range


def psnr(clean: np.ndarray, pred: np.ndarray, y_channel: bool = False) -> float:
    """PSNR in dB with data_range from the dtype, all colour channels, no crop; inf when identical."""
    a, b, data_range = _prepare(clean, pred, y_channel)
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(data_range**2 / mse)


def ssim(clean: np.ndarray, pred: np.ndarray, y_channel: bool = False) -> float:
    """SSIM as Wang et al. (Gaussian σ=1.5, population covariance), mean over colour channels."""
    a, b, data_range = _prepare(clean, pred, y_channel)
    if min(a.shape[:2]) < SSIM_MIN_SIDE:
        raise UserError(f"SSIM needs images of at least {SSIM_MIN_SIDE}x{SSIM_MIN_SIDE} pixels (Gaussian window), "
                         f"got {a.shape[:2]}")
    value = structural_similarity(
        a[..., 0] if a.shape[2] == 1 else a,
        b[..., 0] if b.shape[2] == 1 else b,
        gaussian_weights=True, sigma=SSIM_SIGMA, use_sample_covariance=False,
        data_range=data_range, channel_axis=None if a.shape[2] == 1 else -1,
    )
    return float(value)


@dataclass(frozen=True)
class ImageScore:
    """One scored pair; the ``_y`` fields are set only when the Y channel was requested."""

    name: str
    psnr: float
    ssim: float
    psnr_y: float | None = None
    ssim_y: float | None = None


@dataclass(frozen=True)
class Evaluation:
    """Per-image scores and their means, whether the Y-channel scores were computed, the clean images that had
    no prediction (not scored, so the means are over fewer images than the clean set), and the predictions that
    had no clean image (a misnamed output must not pass for scored)."""

    images: tuple[ImageScore, ...]
    y_channel: bool
    missing: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()  # (name, reason): pairs that could not be read or scored
    unpaired: tuple[str, ...] = ()  # predictions (relative path) without a clean image of their name
    cautions: tuple[tuple[str, str], ...] = ()  # (file, caution): scored pixels a reader doubts (damaged, 12-bit)

    @property
    def keys(self) -> tuple[str, ...]:
        """The score columns, in output order."""
        return ("psnr", "ssim", "psnr_y", "ssim_y") if self.y_channel else ("psnr", "ssim")

    @property
    def mean(self) -> dict[str, float]:
        """Mean of each score over the images where it is finite: a pair of identical images (PSNR infinite)
        is counted in ``identical``, not allowed to make the mean infinite."""
        return {k: finite_mean(getattr(s, k) for s in self.images) for k in self.keys}

    @property
    def strict_mean(self) -> dict[str, float]:
        """The plain arithmetic mean of every score: infinite PSNR when any pair is identical (NaN, null in
        JSON, when no pair was scored)."""
        return {k: float(np.mean([getattr(s, k) for s in self.images])) if self.images else math.nan
                for k in self.keys}

    @property
    def identical(self) -> int:
        """Pairs whose prediction equals the clean image exactly (infinite PSNR), left out of the PSNR means."""
        return sum(not math.isfinite(s.psnr) for s in self.images)

    @property
    def identical_y(self) -> int:
        """Pairs equal in Y (infinite PSNR-Y), left out of the PSNR-Y mean: all identical pairs, and pairs whose
        colours differ where their luma does not."""
        return sum(not math.isfinite(s.psnr_y) for s in self.images) if self.y_channel else 0


def score_pair(clean: np.ndarray, pred: np.ndarray, name: str, y_channel: bool = False) -> ImageScore:
    """Score one pair, turning a mismatch into a UserError that names the image."""
    try:
        if y_channel:
            return ImageScore(name, psnr(clean, pred), ssim(clean, pred),
                              psnr(clean, pred, y_channel=True), ssim(clean, pred, y_channel=True))
        return ImageScore(name, psnr(clean, pred), ssim(clean, pred))
    except (ValueError, TypeError) as exc:
        raise UserError(f"{name}: {exc}") from None


def evaluate_folders(
    clean_dir: Path | str,
    pred_dir: Path | str,
    y_channel: bool = False,
    pred_suffix: str = "",
    progress: ProgressFn | None = None,
) -> Evaluation:
    """Score every prediction against the clean file of the same relative name.

    Clean files without a prediction are scored as far as there are predictions and listed in ``missing``
    (``missing_text`` says it in one line), so a partial output folder is measured, and flagged rather than
    passed off as complete; a prediction without a clean file is listed in ``unpaired``. No pair at all is an
    error; pairs that all fail to score give no images, and ``failed`` says why.
    ``pred_suffix`` strips a name suffix the denoiser added (``a_denoised.png`` -> ``a``).
    ``progress(done, total, name)`` is called after each image. A half of a set whose synth run was cut short is
    refused, as benchmark refuses the set: after a cut-short ``--overwrite`` it holds the old noise and the new.
    """
    with reading_set_half(clean_dir), reading_set_half(pred_dir):  # a synth into either meanwhile is refused
        return _evaluate_folders(clean_dir, pred_dir, y_channel, pred_suffix, progress)


def _evaluate_folders(clean_dir: Path | str, pred_dir: Path | str, y_channel: bool, pred_suffix: str,
                      progress: ProgressFn | None) -> Evaluation:
    pairs, missing, unpaired = partial_pairs(clean_dir, pred_dir, pred_suffix)
    refuse_incomplete_half(clean_dir, UserError, "--clean ")
    refuse_incomplete_half(pred_dir, UserError, "--pred ")
    rows, failed, cautions = [], [], []
    for i, (stem, clean_path, pred_path) in enumerate(pairs):
        try:  # one unreadable, mismatched or too small pair is listed; the others are still scored
            clean, pred = read_checked_pair(clean_path, pred_path)
            rows.append(score_pair(clean.pixels, pred.pixels, stem, y_channel))
            cautions += [(str(path), image.caution) for path, image in ((clean_path, clean), (pred_path, pred))
                         if image.caution]
        except DenoiseGanError as exc:
            failed.append((stem, str(exc)))
        if progress is not None:
            progress(i + 1, len(pairs), stem)
    return Evaluation(tuple(rows), y_channel, tuple(missing), tuple(failed), tuple(unpaired), tuple(cautions))


def failed_text(evaluation: Evaluation) -> str:
    """One line: how many pairs could not be scored, and why (the first few)."""
    shown = "; ".join(reason for _, reason in evaluation.failed[:MISSING_SHOWN])  # each names its file
    more = ", ..." if len(evaluation.failed) > MISSING_SHOWN else ""
    return (f"could not score {len(evaluation.failed)} of {len(evaluation.failed) + len(evaluation.images)} "
            f"pair(s) ({shown}{more}); "
            + (f"the means are over the other {len(evaluation.images)}" if evaluation.images else "nothing was scored"))


MISSING_SHOWN = 5  # names a missing-prediction line lists before it only counts


def missing_text(evaluation: Evaluation, pred_dir: Path | str, pred_suffix: str = "") -> str:
    """One line: how many clean images had no prediction, and which (all, or the first few)."""
    missing = evaluation.missing
    names = ", ".join(f"{stem}{suffix_stem(pred_suffix)}.*" for stem in missing[:MISSING_SHOWN])
    if len(missing) > MISSING_SHOWN:
        names = f"first {MISSING_SHOWN}: {names}, ..."
    total = len(missing) + len(evaluation.images) + len(evaluation.failed)
    scored = f"scored {len(evaluation.images)} of the other {total - len(missing)}" if evaluation.failed \
        else f"scored the other {len(evaluation.images)}"
    return (f"no prediction for {len(missing)} of {total} clean image(s) in {pred_dir} ({names}); "
            f"{scored}, the means are over those only")


def unpaired_text(evaluation: Evaluation, clean_dir: Path | str) -> str:
    """One line: the predictions that no clean image is named like, so none was scored."""
    unpaired = evaluation.unpaired
    names = ", ".join(unpaired[:MISSING_SHOWN]) + (", ..." if len(unpaired) > MISSING_SHOWN else "")
    return (f"{len(unpaired)} prediction(s) without a clean image of the same name in {clean_dir}, not scored "
            f"({names})")


def finite_mean(values: Iterable[float | None]) -> float:
    """The mean of the finite scores, as every mean this tool reports is taken: an identical pair's infinite
    PSNR would make it meaningless (such pairs are counted apart). Infinite when every score is, NaN when there
    are none."""
    given = list(values)
    finite = [v for v in given if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.inf if given else math.nan


def json_float(value: float | None) -> float | None:
    """Strict JSON has no Infinity or NaN: an identical pair's PSNR is written as null (see PROTOCOL)."""
    return None if value is None or not math.isfinite(value) else float(value)


def results_dict(evaluation: Evaluation) -> dict[str, Any]:
    """The results JSON: the protocol it was measured by, per-image scores and means."""
    protocol = {**PROTOCOL, "y_channel_scored": evaluation.y_channel, "skimage_version": skimage.__version__}
    out: dict[str, Any] = {
        "protocol": protocol,
        "images": [{"name": s.name, **{k: json_float(getattr(s, k)) for k in evaluation.keys}}
                   for s in evaluation.images],
        "mean": {k: json_float(v) for k, v in evaluation.strict_mean.items()},
    }
    if evaluation.missing:  # clean images without a prediction: the means are over the others
        out["missing"] = list(evaluation.missing)
    if evaluation.failed:  # pairs that could not be scored: the means are over the others
        out["failed"] = [{"name": name, "reason": reason} for name, reason in evaluation.failed]
    if evaluation.unpaired:  # predictions no clean image is named like: not scored
        out["unpaired"] = list(evaluation.unpaired)
    if evaluation.cautions:  # scored, but from pixels a reader doubts
        out["cautions"] = [{"file": file, "caution": caution} for file, caution in evaluation.cautions]
    if evaluation.identical:  # the strict PSNR mean is infinite (null): say how many, and the finite mean
        out["mean"]["identical_pairs"] = evaluation.identical
        out["mean"]["psnr_finite"] = json_float(evaluation.mean["psnr"])
    if evaluation.identical_y:
        out["mean"]["identical_y_pairs"] = evaluation.identical_y
        out["mean"]["psnr_y_finite"] = json_float(evaluation.mean["psnr_y"])
    return out


def write_results_json(evaluation: Evaluation, path: Path | str, overwrite: bool = True) -> None:
    """Write the results JSON atomically (strict JSON: no NaN/Infinity tokens); without ``overwrite`` a file that
    appeared meanwhile (another run's) is kept: OutputExistsError."""
    text = json.dumps(results_dict(evaluation), indent=2, allow_nan=False) + "\n"
    atomic_write_text(path, text, overwrite)


MEAN_ROW = "mean"  # the CSV's summary row's name


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a CSV cell as a formula


def csv_image_name(name: str) -> str:
    """An image's relative name as a CSV cell: one that a spreadsheet would run as a formula (``=HYPERLINK(..)``)
    or read as the summary row (``mean``) is written ``./name``, the same file."""
    return f"./{name}" if name == MEAN_ROW or name.startswith(FORMULA_STARTS) else name


def write_results_csv(evaluation: Evaluation, path: Path | str, overwrite: bool = True) -> None:
    """Write ``name,psnr,ssim[,psnr_y,ssim_y]`` rows and a final ``mean`` row (none when nothing was scored),
    atomically (``overwrite`` as in ``write_results_json``), each name as ``csv_image_name`` writes it."""
    buf = io.StringIO()
    writer = csv.writer(buf)  # RFC 4180's \r\n line ends: with \n alone, a name holding \r went unquoted
    writer.writerow(["name", *evaluation.keys])
    for s in evaluation.images:
        writer.writerow([csv_image_name(s.name), *(f"{getattr(s, k):.6f}" for k in evaluation.keys)])
    if evaluation.images:
        writer.writerow([MEAN_ROW, *(f"{evaluation.mean[k]:.6f}" for k in evaluation.keys)])
    atomic_write_text(path, buf.getvalue(), overwrite)
