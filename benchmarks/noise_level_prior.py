"""How well does a blind global noise estimate read each noise? The case for (or against) a prior on the map.

    python benchmarks/noise_level_prior.py heldout/ [indep/] [--noise SPEC ...] [--seed 0] [--no-model]

The default's learnt estimator reads fine texture and JPEG blocks as weak noise, so a clean, detailed photo
gets a level map above zero and G smooths it. A classical global estimate could bound the map. This script
puts three readers side by side, per photo and noise, against the truth (the std of noisy - clean, 0-255):

* ``pca``: the weak-texture-patch PCA estimate (after Liu, Tanaka and Okutomi, 2013): the smallest
  eigenvalue of the covariance of 7x7 patches, refined on the patches whose gradient energy is what noise
  alone would give; clipped patches are left out, since they carry less noise than the rest;
* ``wavelet``: skimage's wavelet estimate, the σ that BM3D and FFDNet get in the README's tables;
* ``map``: the mean of the shipped default's blind level map (needs torch; ``--no-model`` leaves it out).

It prints each photo's row and, per noise, the median ratio of each reader to the truth.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy.stats import gamma
from script_args import noise_spec, run_script, seed

from data_tools.images import collect_images, read_image, to_255
from data_tools.noise import image_seed, parse_noise_spec
from denoise_gan.evaluation.noise_sigma import estimate_noise_sigma

PATCH = 7
CONFIDENCE = 0.99  # the gamma quantile of pure noise's gradient energy a weak-texture patch stays under
MAX_PATCHES = 40_000
CLIPPED = (5.0, 250.0)
DEFAULT_NOISE = ("gaussian:sigma=0", "gaussian:sigma=5", "gaussian:sigma=15", "poisson:peak=30",
                 "camera:peak=1000,read=2+jpeg:quality=90", "camera:peak=40,read=2+jpeg:quality=90")


def _difference_operators(side: int) -> np.ndarray:
    """Horizontal and vertical neighbour differences of a flattened side x side patch, stacked as rows."""
    index = np.arange(side * side).reshape(side, side)
    pairs = [(index[:, :-1], index[:, 1:]), (index[:-1, :], index[1:, :])]
    rows = [(a, b) for first, second in pairs for a, b in zip(first.ravel(), second.ravel())]
    ops = np.zeros((len(rows), side * side))
    for row, (a, b) in enumerate(rows):
        ops[row, a], ops[row, b] = -1.0, 1.0
    return ops


def _smallest_eigenvalue(patches: np.ndarray) -> float:
    return float(np.linalg.eigvalsh(np.cov(patches, rowvar=False))[0])


def pca_sigma(channel: np.ndarray, seed: int = 0, rounds: int = 5) -> float:
    """σ of one 0-255 channel from its weak-texture patches (NaN when too few patches are left)."""
    patches = np.lib.stride_tricks.sliding_window_view(channel.astype(np.float64), (PATCH, PATCH))
    patches = patches.reshape(-1, PATCH * PATCH)
    patches = patches[(patches.min(axis=1) > CLIPPED[0]) & (patches.max(axis=1) < CLIPPED[1])]
    if len(patches) > MAX_PATCHES:
        patches = patches[np.random.default_rng(seed).choice(len(patches), MAX_PATCHES, replace=False)]
    if len(patches) < 4 * PATCH * PATCH:
        return float("nan")
    ops = _difference_operators(PATCH)
    energy = ((patches @ ops.T) ** 2).sum(axis=1)
    # pure noise of variance v gives energy ~ v * Gamma(n/2, 2 tr(OᵀO)/n): the threshold for "only noise here"
    scale = 2.0 * np.trace(ops.T @ ops) / (PATCH * PATCH)
    variance = _smallest_eigenvalue(patches)
    for _ in range(rounds):
        weak = energy < max(variance, 0.0) * gamma.ppf(CONFIDENCE, a=PATCH * PATCH / 2.0, scale=scale)
        if weak.sum() < 4 * PATCH * PATCH:
            break
        updated = _smallest_eigenvalue(patches[weak])
        converged = abs(updated - variance) < 1e-4
        variance = updated
        if converged:
            break
    return float(np.sqrt(max(variance, 0.0)))


def _map_reader():
    """The default's mean blind level (0-255) of an image, on 3 channels (gray repeated), cropped to its stride."""
    import torch

    from denoise_gan.nets.shipped import shipped_dir
    from denoise_gan.nets.weights import load_denoiser

    net = load_denoiser(shipped_dir() / "default.safetensors")[0]
    stride = net.stride

    def read(noisy255: np.ndarray) -> float:
        h, w = (s // stride * stride for s in noisy255.shape[:2])
        x = torch.from_numpy(np.ascontiguousarray(noisy255[:h, :w].transpose(2, 0, 1))).float()[None] / 255.0
        with torch.no_grad():
            return float(net.estimate(x.expand(1, 3, h, w)).mean()) * 255.0

    return read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--noise", action="append", type=noise_spec, default=None, help="a noise spec (repeatable)")
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--no-model", action="store_true", help="leave out the default's map (no torch)")
    args = parser.parse_args()
    for folder in args.folders:  # an empty table of a mistyped folder would pass for a measurement
        if not folder.is_dir() or not collect_images(folder):
            raise SystemExit(f"error: {folder}: no images there (no such folder, or none in it)")
    specs = [(text, parse_noise_spec(text)) for text in (args.noise or DEFAULT_NOISE)]
    read_map = None if args.no_model else _map_reader()
    ratios: dict[str, dict[str, list[float]]] = {text: {"pca": [], "wavelet": [], "map": []} for text, _ in specs}
    print(f"{'photo':24} {'noise':42} {'true':>6} {'pca':>6} {'wavelet':>7} {'map':>6}")
    for folder in args.folders:
        for path in collect_images(folder):
            clean = read_image(path).pixels
            for text, spec in specs:
                noisy = spec.apply(clean, image_seed(args.seed, path.stem))[0]
                noisy255 = to_255(noisy)
                true = float(np.std(noisy255 - to_255(clean)))
                readers = {"pca": float(np.mean([pca_sigma(noisy255[..., c], args.seed)
                                                 for c in range(noisy255.shape[2])])),
                           "wavelet": estimate_noise_sigma(noisy)}
                if read_map is not None:
                    readers["map"] = read_map(noisy255)
                cells = " ".join(f"{readers.get(k, float('nan')):{w}.2f}" for k, w in (("pca", 6), ("wavelet", 7),
                                                                                      ("map", 6)))
                print(f"{folder.name + '/' + path.stem:24} {text:42} {true:6.2f} {cells}", flush=True)
                for key, value in readers.items():
                    if true > 0.5:
                        ratios[text][key].append(value / true)
    print("\nmedian reading / truth, per noise (noises with a truth above 0.5):")
    for text, by_reader in ratios.items():
        cells = "  ".join(f"{key} {np.median(vals):.2f}" for key, vals in by_reader.items() if vals)
        if cells:
            print(f"  {text:42} {cells}")


if __name__ == "__main__":
    run_script(main)
