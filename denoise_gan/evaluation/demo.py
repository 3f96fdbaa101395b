"""The first thing a new user runs: bundled held-out photos, seeded noise, the shipped model, scores."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_tools import json_text
from data_tools.atomic_files import atomic_write_text
from data_tools.folder_lock import holding_folder, removed_if_left_empty
from data_tools.images import write_image
from data_tools.noise import NoiseSpec, image_seed, parse_noise_spec
from data_tools.output_folders import prepare_output_dir
from data_tools.samples import HELD_OUT, load_sample
from data_tools.temp_files import is_temp_file
from denoise_gan.evaluation.metrics import finite_mean, json_float, psnr, ssim
from denoise_gan.evaluation.pictures import labelled_grid
from denoise_gan.inference.engine_choice import load_backend
from denoise_gan.inference.infer_config import InferConfig
from denoise_gan.inference.tiling import TiledDenoiser
from denoise_gan.progress_bar import ProgressFn

DEMO_NOISE = "gaussian:sigma=25"
RECORD = "demo.json"  # what a demo wrote there, and the scores: a rerun replaces its own strips


@dataclass(frozen=True)
class DemoRow:
    name: str
    noisy_psnr: float
    noisy_ssim: float
    psnr: float
    ssim: float
    seconds: float
    path: Path


@dataclass(frozen=True)
class DemoResult:
    """The scores per image, and what a user should know of the model (a run stopped partway, a graph made from
    other weights), as `denoise` says it."""

    rows: list[DemoRow]
    notes: tuple[str, ...] = ()


def demo_means(rows: Sequence[DemoRow]) -> dict[str, float]:
    """Each score's mean over the images, the PSNRs over their finite values as `evaluate` takes them (an
    identical pair's is infinite), and the mean seconds."""
    return {key: finite_mean(getattr(r, key) for r in rows) for key in MEAN_KEYS}


MEAN_KEYS = ("noisy_psnr", "noisy_ssim", "psnr", "ssim", "seconds")


def run_demo(out_dir: Path, noise: str = DEMO_NOISE, seed: int = 0, checkpoint: str | None = None,
             names: tuple[str, ...] = HELD_OUT, infer: InferConfig = InferConfig(),
             overwrite: bool = False, engine: str = "auto", threads: int = 0,
             progress: ProgressFn | None = None) -> DemoResult:
    """Noisy | denoised | clean strips in out_dir, one per image, and the scores before and after.

    The images are the project's held-out set: the shipped model never saw them in training. The folder must
    be new or empty unless ``overwrite`` (then files of the same names are replaced), or hold an earlier demo's
    strips alone (its demo.json says which), which a rerun replaces. ``progress(done, total, name)`` is called
    as each photo is done.
    """
    spec = parse_noise_spec(noise)
    model = load_backend(checkpoint, engine, infer.device, infer.precision,
                         threads)
    denoiser = TiledDenoiser(model.backend, infer)
    with removed_if_left_empty(out_dir), holding_folder(out_dir, "demo"):  # a second demo there is refused
        rows = _write_demo(Path(out_dir), spec, noise, seed, checkpoint, names, denoiser, overwrite, progress)
    return DemoResult(rows, tuple(dict.fromkeys(model.backend.notes)))


def _write_demo(out_dir: Path, spec: NoiseSpec, noise: str, seed: int, checkpoint: str | None,
                names: tuple[str, ...], denoiser: TiledDenoiser, overwrite: bool,
                progress: ProgressFn | None) -> list[DemoRow]:
    """The strips and the record, in a folder this run holds. The record is written first, marked incomplete
    and naming the strips planned: a run cut short leaves a folder its rerun knows as a demo's (and finishes),
    never one run's strips beside another's scores."""
    overwrite = overwrite or _holds_only_a_demo(out_dir)
    prepare_output_dir(out_dir, overwrite=overwrite, known=(RECORD, *(f"{name}.png" for name in names)))
    request = {"tool": "denoise-gan demo", "complete": False, "noise": noise, "seed": seed,
               "model": checkpoint or "default", "images": [{"name": n, "file": f"{n}.png"} for n in names]}
    atomic_write_text(out_dir / RECORD, json.dumps(request, indent=2) + "\n")
    rows = []
    for name in names:
        clean = load_sample(name)
        noisy = spec.apply(clean, image_seed(seed, name))[0]
        start = time.perf_counter()
        denoised = denoiser(noisy)
        seconds = time.perf_counter() - start
        path = out_dir / f"{name}.png"
        row = DemoRow(name, psnr(clean, noisy), ssim(clean, noisy), psnr(clean, denoised), ssim(clean, denoised),
                      seconds, path)
        write_image(path, demo_strip(row, noisy, denoised, clean, noise, seed, checkpoint or "default"),
                    overwrite=True)  # (the folder was checked above: a strip there is this demo's, or replaced)
        rows.append(row)
        if progress is not None:
            progress(len(rows), len(names), name)
    record = {**request, "complete": True,
              "images": [{"name": r.name, "file": r.path.name, "noisy_psnr": json_float(r.noisy_psnr),
                          "noisy_ssim": r.noisy_ssim, "psnr": json_float(r.psnr), "ssim": r.ssim} for r in rows],
              "mean": {key: json_float(value) for key, value in demo_means(rows).items()}
              | {"identical_pairs": sum(math.isinf(r.psnr) for r in rows),  # left out of the PSNR means, as evaluate
                 "noisy_identical_pairs": sum(math.isinf(r.noisy_psnr) for r in rows)},  # leaves them, and counts
              "mean_rule": "PSNR means are over the pairs that are not identical (an identical pair's PSNR is "
                           "infinite, null in this file); identical_pairs counts those left out"}
    # strict JSON, as evaluate's: an identical pair's infinite PSNR is null
    atomic_write_text(out_dir / RECORD, json.dumps(record, indent=2, allow_nan=False) + "\n")
    return rows


def _holds_only_a_demo(out_dir: Path) -> bool:
    """Whether the folder holds nothing but what an earlier demo wrote (the strips its demo.json names)."""
    try:
        record = json_text.loads((out_dir / RECORD).read_text())
        written = {RECORD, *(entry["file"] for entry in record["images"])} if record.get("tool") == \
            "denoise-gan demo" else set()
        present = {p.name for p in out_dir.iterdir() if not is_temp_file(p.name)}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    return bool(written) and present <= written and all((out_dir / name).is_file() for name in present)


def demo_strip(row: DemoRow, noisy: np.ndarray, denoised: np.ndarray, clean: np.ndarray, noise: str,
               seed: int, model: str = "default") -> np.ndarray:
    """noisy | denoised | clean side by side, the columns named with their PSNR/SSIM, the model and the noise in the
    title (two demos of two checkpoints are told apart)."""
    columns = [f"noisy  {row.noisy_psnr:.2f} dB / {row.noisy_ssim:.3f}",
               f"denoised  {row.psnr:.2f} dB / {row.ssim:.3f}", "clean (reference)"]
    over = "gray" if clean.ndim == 2 or clean.shape[2] == 1 else "RGB"
    caption = f"{row.name}: PSNR ({over}, data range 255) / SSIM against the clean image; {row.seconds:.2f} s"
    return labelled_grid([[noisy, denoised, clean]], columns, [caption],
                         f"denoise-gan demo: {model}, {noise}, seed {seed}")  # as given: runs/a/G.safetensors

