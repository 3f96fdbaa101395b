"""The first thing a new user runs: bundled held-out photos, seeded noise, the shipped model, scores."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_tools.images import write_image
from data_tools.noise import image_seed, parse_noise_spec
from data_tools.output_folders import prepare_output_dir
from data_tools.samples import HELD_OUT, load_sample
from denoise_gan.evaluation.metrics import psnr, ssim
from denoise_gan.evaluation.pictures import labelled_grid
from denoise_gan.inference.engine_choice import load_backend
from denoise_gan.inference.infer_config import InferConfig
from denoise_gan.inference.tiling import TiledDenoiser

DEMO_NOISE = "gaussian:sigma=25"


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


def run_demo(out_dir: Path, noise: str = DEMO_NOISE, seed: int = 0, checkpoint: str | None = None,
             names: tuple[str, ...] = HELD_OUT, infer: InferConfig = InferConfig(),
             overwrite: bool = False, engine: str = "auto", threads: int = 0) -> DemoResult:
    """Noisy | denoised | clean strips in out_dir, one per image, and the scores before and after.

    The images are the project's held-out set: the shipped model never saw them in training. The folder must
    be new or empty unless ``overwrite`` (then files of the same names are replaced).
    """
    spec = parse_noise_spec(noise)
    model = load_backend(checkpoint, engine, infer.device, infer.precision,
                         threads)
    denoiser = TiledDenoiser(model.backend, infer)
    prepare_output_dir(out_dir, overwrite=overwrite)
    rows = []
    for name in names:
        clean = load_sample(name)
        noisy = spec.apply(clean, image_seed(seed, name))[0]
        start = time.perf_counter()
        denoised = denoiser(noisy)
        seconds = time.perf_counter() - start
        path = Path(out_dir) / f"{name}.png"
        row = DemoRow(name, psnr(clean, noisy), ssim(clean, noisy), psnr(clean, denoised), ssim(clean, denoised),
                      seconds, path)
        write_image(path, demo_strip(row, noisy, denoised, clean, noise, seed, checkpoint or "default"),
                    overwrite=overwrite)
        rows.append(row)
    return DemoResult(rows, tuple(dict.fromkeys(model.backend.notes)))


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

