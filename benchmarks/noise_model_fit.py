"""Does F's noise look like the noisy domain's? Level distribution and correlation, side by side, as a gate.

    python benchmarks/noise_model_fit.py RUN_DIR [--draws 256] [--json fit.json]

Uses only what an unpaired run has: F, the run's clean images and its noisy images (or, when the run
synthesised its noisy domain with --noise, that synthesis). Both sides are measured the same way, so the
comparison needs no ground truth:

* level: skimage's blind wavelet noise estimate on 128x128 crops; the gate asks the median within 5 % and
  the 10th/90th percentiles within 10 % of the noisy domain's;
* spatial correlation: the median ratio of the noise σ one scale coarser to the finest scale (white noise
  halves, ~0.5; blurred noise does not), within 10 %;
* colour correlation: the median ratio of the luma channel's σ to the mean colour channel's (independent
  colour noise partly cancels in luma, ~0.6; gray or luma-only noise does not, ~1.0), within 10 %.
The exit code is 0 when every line passes, 1 when one fails, 2 when the run cannot be measured (not a `train`
run folder, its images gone).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from script_args import positive_int, run_script

from data_tools.datasets import PatchSampler, build_domains, fit_channels, to_tensor
from data_tools.images import to_dtype
from denoise_gan.evaluation.noise_sigma import estimate_noise_sigma
from denoise_gan.nets.noise_stats import noise_statistics
from denoise_gan.nets.weights import load_generator

SIDE = 128
TOLERANCE = {"level_p10": 0.10, "level_median": 0.05, "level_p90": 0.10, "coarse_to_fine": 0.10,
             "luma_to_colour": 0.10}


def _ratios(batch: torch.Tensor) -> tuple[float, float]:
    """Median coarse/fine and luma/colour σ ratios over the 32x32 windows of one [0, 1] image batch."""
    stats = noise_statistics(batch)
    coarse_to_fine = (stats[:, 4] - stats[:, 3]).exp()
    luma_to_colour = stats[:, 3].exp() / stats[:, :3].exp().mean(dim=1)
    return float(coarse_to_fine.median()), float(luma_to_colour.median())


def measure(run_dir: Path, draws: int, seed: int = 0) -> dict[str, dict[str, float]]:
    try:
        cfg = json.loads((run_dir / "config.json").read_text())["data"]
        clean, noisy, spec = build_domains(cfg["clean_dir"], cfg["noisy_dir"], cfg["noise"])
        f, _, _ = load_generator(run_dir / "F.safetensors")
    except (OSError, ValueError, KeyError, TypeError) as exc:  # a gate that failed must not look like this
        reason = f"no {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0] if str(exc) else type(exc)
        print(f"error: {run_dir}: not a `denoise-gan train` run folder to measure ({reason})", file=sys.stderr)
        sys.exit(2)
    f.eval()
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    clean_patches = PatchSampler(clean, SIDE, 3, 0.0)
    noisy_patches = PatchSampler(noisy, SIDE, 3, 0.0, spec)
    sides: dict[str, dict[str, list[float]]] = {"real": {}, "fake": {}}
    with torch.no_grad():
        for _ in range(draws):
            x = to_tensor(fit_channels(clean_patches.patch(rng), 3))[None]
            y = (f(x).clamp(0, 1) * 255).round() / 255  # as an 8-bit file holds it
            patch = noisy_patches.patch(rng)  # a run trained from a --noisy folder: its patches are noisy already
            real = patch if spec is None else noisy_patches.add_noise(patch, rng)
            for side, image in (("fake", y[0].numpy().transpose(1, 2, 0)), ("real", real / 255.0)):
                pixels = to_dtype(image * 255, np.uint8)
                values = sides[side]
                values.setdefault("level", []).append(estimate_noise_sigma(pixels))
                ratios = _ratios(to_tensor(fit_channels(pixels, 3))[None])
                values.setdefault("coarse_to_fine", []).append(ratios[0])
                values.setdefault("luma_to_colour", []).append(ratios[1])
    out: dict[str, dict[str, float]] = {}
    for side, values in sides.items():
        p10, p50, p90 = np.percentile(values["level"], [10, 50, 90])
        out[side] = {"level_p10": p10, "level_median": p50, "level_p90": p90,
                     "coarse_to_fine": float(np.median(values["coarse_to_fine"])),
                     "luma_to_colour": float(np.median(values["luma_to_colour"]))}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--draws", type=positive_int, default=256)
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    args = parser.parse_args()
    fit = measure(args.run_dir, args.draws)
    print(f"{'statistic':16} {'noisy domain':>13} {'F(clean)':>9} {'diff':>7} {'allowed':>8}  gate")
    passed = True
    for key, allowed in TOLERANCE.items():
        real, fake = fit["real"][key], fit["fake"][key]
        diff = (fake - real) / real
        ok = bool(abs(diff) <= allowed)
        passed &= ok
        print(f"{key:16} {real:13.3f} {fake:9.3f} {diff:+7.1%} {allowed:8.0%}  {'pass' if ok else 'FAIL'}")
    if args.json:
        args.json.write_text(json.dumps({**fit, "tolerance": TOLERANCE, "passed": passed}, indent=2) + "\n")
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    run_script(main)
