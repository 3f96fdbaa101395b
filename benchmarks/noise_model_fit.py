"""Does F's noise look like the noisy domain's? Blind noise-level distributions, side by side.

    python benchmarks/noise_model_fit.py RUN_DIR [--draws 64]

Uses only what an unpaired run has: F, the run's clean images and its noisy images (or, when the run
synthesised its noisy domain with --noise, that synthesis). Both sides are measured the same way, by
skimage's wavelet noise estimate on 128x128 crops, so the comparison needs no ground truth.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from data_tools.datasets import PatchSampler, build_domains, fit_channels, to_tensor
from data_tools.noise import to_dtype
from denoise_gan.evaluation.benchmark.inputs import estimate_noise_sigma
from denoise_gan.nets.weights import load_generator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--draws", type=int, default=64)
    args = parser.parse_args()
    cfg = json.loads((args.run_dir / "config.json").read_text())["data"]
    clean, noisy, spec = build_domains(cfg["clean_dir"], cfg["noisy_dir"], cfg["noise"])
    f, _, _ = load_generator(args.run_dir / "F.safetensors")
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    clean_patches = PatchSampler(clean, 128, 3, 0.0)
    noisy_patches = PatchSampler(noisy, 128, 3, 0.0, spec)
    fake, real, shift = [], [], []
    with torch.no_grad():
        for _ in range(args.draws):
            x = to_tensor(fit_channels(clean_patches.patch(rng), 3))[None]
            y = f(x)[0].clamp(0, 1).numpy().transpose(1, 2, 0)
            fake.append(estimate_noise_sigma(to_dtype(y * 255, np.uint8)))
            shift.append(float((f(x, torch.zeros_like(x)) - x).std()) * 255)
            patch = noisy_patches.patch(rng)  # a run trained from a --noisy folder: its patches are noisy already
            real.append(estimate_noise_sigma(patch if spec is None else noisy_patches.add_noise(patch, rng)))
    print(f"{'estimated sigma (0-255)':28} {'p10':>6} {'median':>7} {'p90':>6}")
    for name, values in (("noisy domain (real)", real), ("F(clean) (learned)", fake)):
        p10, p50, p90 = np.percentile(values, [10, 50, 90])
        print(f"{name:28} {p10:6.1f} {p50:7.1f} {p90:6.1f}")
    print(f"F's deterministic part |F(x, z=0) - x|: median std {np.median(shift):.1f} levels (0-255)")


if __name__ == "__main__":
    main()
