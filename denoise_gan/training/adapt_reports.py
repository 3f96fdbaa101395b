"""What an adaptation shows: the noise-fit report (F's noise against the folder's, before and after: JSON,
Markdown and a plot) and the labelled before/after strip of the user's photos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from data_tools.atomic_files import atomic_write_bytes, atomic_write_text
from data_tools.datasets import (
    random_crops,
    to_tensor,
)
from data_tools.errors import DataError
from data_tools.images import center_crop, collect_images, read_image, split_alpha, to_dtype, write_image
from data_tools.paths import real_path
from denoise_gan.config import (
    AdaptConfig,
)
from denoise_gan.evaluation.noise_sigma import estimate_noise_sigma, measurable
from denoise_gan.evaluation.pictures import figure_png, labelled_grid, rgb8
from denoise_gan.inference.infer_config import InferConfig
from denoise_gan.inference.tiling import denoise_array
from denoise_gan.nets.noise_stats import SUBPATCH, blind_ratios, noise_sigmas
from denoise_gan.nets.run_folder import RunFolder
from denoise_gan.nets.weights import (
    load_denoiser,
    load_generator,
)
from denoise_gan.training.adapt_start import StartModel

FIT_CROPS, FIT_CROP = 48, 128  # the noise-fit report: crops per set, and their (largest) side
# written in this order, the JSON last; a resume redoes a report any of them is missing from (a kill between them)
NOISE_FIT_FILES = ("noise_fit.png", "noise_fit.md", "noise_fit.json")


def fit_side(noisy: list[np.ndarray]) -> int:
    """The noise-fit crops' side: FIT_CROP, or less (a multiple of the statistics' window) when a noisy photo is
    smaller, so no crop of the folder is padded by mirroring and measured as noise it does not have."""
    smallest = min(min(image.shape[:2]) for image in noisy)
    return max(SUBPATCH, min(FIT_CROP, smallest // SUBPATCH * SUBPATCH))


def _two(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _measure(crops: list[np.ndarray]) -> tuple[dict[str, float], list[float]]:
    """Blind σ p10/median/p90 over the crops that have one (skimage's wavelet estimate, 0-255; a black or flat
    crop has none), and the correlation ratios over the same crops."""
    crops, sigmas = measurable(crops)
    tensors = [to_tensor(c) for c in crops]
    luma_vs_colour, coarse_vs_fine = blind_ratios(noise_sigmas(tensors), tensors)
    p10, p50, p90 = np.percentile(sigmas, [10, 50, 90])
    return {"blind_sigma_p10": float(p10), "blind_sigma_median": float(p50), "blind_sigma_p90": float(p90),
            "luma_vs_colour": luma_vs_colour, "coarse_vs_fine": coarse_vs_fine}, sigmas


@torch.no_grad()
def _apply_f(f_path: Path, crops: list[np.ndarray], seed: int,
             data: bytes | None = None) -> tuple[list[np.ndarray], list[float]]:
    """F(clean) as 8-bit files, and the std F added to each crop (0-255): the amplitude a blind estimate cannot
    read."""
    f = load_generator(f_path, data=data)[0]
    torch.manual_seed(seed)
    out, added = [], []
    for crop in crops:
        x = to_tensor(crop)[None]
        y = f(x).clamp(0, 1)
        added.append(float((y - x).std()) * 255.0)
        out.append(to_dtype(y[0].numpy().transpose(1, 2, 0) * 255.0, np.uint8))
    return out, added


def write_noise_fit(out_dir: Path, start: StartModel, clean_photos: list[np.ndarray], noisy_photos: list[np.ndarray],
                    note: str, cfg: AdaptConfig) -> dict[str, Any]:
    """noise_fit.json, noise_fit.md and noise_fit.png: F's noise on clean crops against the noisy folder's crops,
    measured the same way (no ground truth), before (the start's F) and after adaptation, with the photos used."""
    channels = start.config(start.f).channels
    side = fit_side(noisy_photos)
    clean = random_crops(clean_photos, cfg.seed, channels, side, FIT_CROPS)
    noisy = random_crops(noisy_photos, cfg.seed + 1, channels, side, FIT_CROPS, noisy_photos=True)
    rows: dict[str, dict[str, float]] = {}
    sigmas: dict[str, list[float]] = {}  # per crop that has a σ to read
    for label, crops in (("noisy folder", noisy), ("clean photos (no noise)", clean)):
        rows[label], sigmas[label] = _measure(crops)
    added: dict[str, list[float]] = {}
    for label, path, data in (("F before (start model)", start.f, start.read(start.f)),
                              ("F adapted", RunFolder(out_dir).f, None)):
        fake, added[label] = _apply_f(path, clean, cfg.seed, data)
        row, sigmas[label] = _measure(fake)
        rows[label] = {**row, "added_std": float(np.median(added[label]))}
    real = rows["noisy folder"]["blind_sigma_median"]
    ratios = {label: rows[label]["blind_sigma_median"] / max(real, 1e-6) for label in
              ("F before (start model)", "F adapted")}
    report = {"crops": FIT_CROPS, "crop_size": side, "noisy_dir": str(real_path(cfg.noisy_dir)),
              "photos": note, "rows": rows, "level_ratio_to_folder": ratios,
              "blind_sigma_per_crop": sigmas, "added_std_per_crop": added,
              "how": "blind sigma: skimage.restoration.estimate_sigma on each crop (0-255); luma_vs_colour and "
                     "coarse_vs_fine: medians over 32x32 windows of the finest-wavelet sigma ratios (luma to the "
                     "channels' mean; one scale coarser to the finest): higher = noise more correlated across "
                     "channels / in space; added_std: the std F adds (what the blind estimate reads low)"}
    atomic_write_bytes(out_dir / "noise_fit.png", figure_png(noise_fit_figure(sigmas, added, side), dpi=90))
    lines = [f"# Noise fit: F(clean) against {report['noisy_dir']}", "",
             f"Photos: {note}", "",
             f"{FIT_CROPS} random {side}x{side} crops per row, never resized; measured the same way on "
             "every row, without ground truth.", "",
             "| | blind σ p10 | median | p90 | luma / colour σ | coarse / fine σ | σ F adds |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for label, r in rows.items():
        added_text = f"{r['added_std']:.1f}" if "added_std" in r else ""
        lines.append(f"| {label} | {r['blind_sigma_p10']:.2f} | {r['blind_sigma_median']:.2f} | "
                     f"{r['blind_sigma_p90']:.2f} | {_two(r['luma_vs_colour'])} | {r['coarse_vs_fine']:.2f} | "
                     f"{added_text} |")
    lines += ["", f"F's median blind σ over the folder's: {ratios['F before (start model)']:.2f} before, "
              f"{ratios['F adapted']:.2f} adapted (1.00 = the same reading). The blind σ reads correlated noise low "
              "(a camera's demosaiced, compressed noise at about a third of its std, white noise nearly in full), "
              "so the ratio means a matched level only where the coarse / fine and luma / colour columns agree "
              "too: where F's noise is whiter than the folder's (a lower coarse / fine), a ratio above 1 can still "
              "be an F weaker than the camera.", "",
              "![Histograms of the blind σ per crop (your photos, clean photos, F before and after) and of the σ F "
              "adds](noise_fit.png)", ""]
    atomic_write_text(out_dir / "noise_fit.md", "\n".join(lines))
    atomic_write_text(out_dir / "noise_fit.json", json.dumps(report, indent=2))  # last: it marks a whole report
    return report


def noise_fit_figure(sigmas: dict[str, list[float]], added: dict[str, list[float]], side: int) -> Any:
    """Two labelled histograms: the blind σ per crop of the folder, of the clean photos and of F(clean) before
    and after (one estimator for all, so they compare), and the σ F adds before and after (which the blind
    estimate reads low). A matplotlib Figure, drawn without pyplot."""
    from matplotlib.figure import Figure  # imported on use: matplotlib is slow to import

    fig = Figure(figsize=(11, 4.2))
    left, right = fig.subplots(1, 2)
    styles = {"noisy folder": {"histtype": "stepfilled", "alpha": 0.35, "color": "tab:blue"},
              "clean photos (no noise)": {"histtype": "step", "color": "gray", "linestyle": ":"},
              "F before (start model)": {"histtype": "step", "color": "tab:orange", "linestyle": "--"},
              "F adapted": {"histtype": "step", "color": "tab:green", "linewidth": 2}}
    for ax, values, xlabel, title in (
            (left, sigmas, "blind σ per crop (0-255; wavelet estimate, reads correlated noise low)",
             "noise level: your photos vs F(clean)"),
            (right, added, "σ F adds to a clean crop (0-255)", "noise F adds, before and after")):
        top = max((max(v) for v in values.values() if v), default=1.0)
        bins = np.linspace(0.0, max(top, 1e-3) * 1.05, 30)
        for label, v in values.items():
            ax.hist(v, bins=bins, label=f"{label} (median {np.median(v):.2f})", **styles[label])
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel("crops")
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"adapt noise fit: {len(next(iter(sigmas.values())))} random {side}x{side} crops per set, "
                 "no ground truth", fontsize=10)
    fig.tight_layout()
    return fig


def _sigma_text(image: np.ndarray) -> str:
    try:
        return f"{estimate_noise_sigma(image):.1f}"
    except ValueError:  # a flat or tiny crop has no σ to read
        return "-"


def write_before_after(out_dir: Path, start: StartModel, cfg: AdaptConfig, count: int = 4, side: int = 192) -> Path:
    """before_after.png: centre crops of the first few noisy photos (never the output folder's own pictures), per
    row noisy | start model | adapted G, with column titles and each crop's blind σ (no clean twin, so no PSNR).
    The grid's font has no Greek letters: it says "sigma"."""
    paths = collect_images(Path(cfg.noisy_dir), exclude=out_dir)[:count]
    infer = InferConfig(tile=0, device=cfg.device)
    before = load_denoiser(start.g, data=start.read(start.g))[0]
    after = load_denoiser(RunFolder(out_dir).g)[0]
    rows, captions = [], []
    for path in paths:
        try:
            crop = rgb8(center_crop(split_alpha(read_image(path).pixels)[0], side, allow_smaller=True))
        except DataError:
            continue
        row = [crop, denoise_array(before, crop, infer), denoise_array(after, crop, infer)]
        rows.append(row)
        noisy_s, before_s, after_s = (_sigma_text(a) for a in row)
        captions.append(f"{path.relative_to(cfg.noisy_dir)}   blind sigma: noisy {noisy_s}, start model {before_s}, "
                        f"adapted {after_s}")
    target = out_dir / "before_after.png"
    if rows:
        grid = labelled_grid(rows, ["noisy", "start model", "adapted"], captions,
                             "before / after adapt (no clean twin, so no PSNR: blind sigma, 0-255)")
        write_image(target, grid)
    return target
