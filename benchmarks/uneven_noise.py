"""Denoising a photo whose noise differs between its halves at the same brightness, whole and tiled: the figure
the README's tiling notes quote.

    python benchmarks/uneven_noise.py [-c default] [--noise gaussian:sigma=25] [--tiles 0,256,128] [--seed 0]

Each held-out photo keeps its left half clean and gets the seeded noise on its right half (a retouched or
pasted region, a panorama stitched from two exposures). A blind model reads one noise-versus-brightness profile
per photo, so the two halves share one averaged level, whole or tiled; with ``--level-per-tile`` each tile reads
its own, and a tile sees one half, or a strip of both. Printed: the mean PSNR of each half against the clean
photo, per tile size (0 = whole), and per tile size with a profile per tile.
"""

from __future__ import annotations

import argparse

import numpy as np
from script_args import noise_spec, run_script, seed

from data_tools.noise import parse_noise_spec
from data_tools.samples import HELD_OUT, load_sample
from denoise_gan.evaluation.metrics import psnr


def right_half_noisy(clean: np.ndarray, noise: str, seed: int) -> np.ndarray:
    """The photo with ``noise`` drawn over it and kept on the right half only (columns from the middle on)."""
    noisy, _ = parse_noise_spec(noise).apply(clean, seed)
    out = clean.copy()
    middle = clean.shape[1] // 2
    out[:, middle:] = noisy[:, middle:]
    return out


def tile_sizes(text: str) -> list[int]:
    """``--tiles``' comma-separated sizes, refused at the start where a typo would end the run in a traceback."""
    try:
        tiles = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not tile sizes separated by commas, e.g. 0,256,128") from None
    if any(tile < 0 for tile in tiles):
        raise argparse.ArgumentTypeError(f"{text}: a tile size is 0 (the whole image) or more")
    return tiles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--checkpoint", default="default")
    parser.add_argument("--noise", type=noise_spec, default="gaussian:sigma=25")
    parser.add_argument("--tiles", type=tile_sizes, default="0,256,128",
                        help="tile sizes, comma-separated (0 = the whole image)")
    parser.add_argument("--seed", type=seed, default=0)
    args = parser.parse_args()
    from denoise_gan import Denoiser

    # each tile size with the photo's one level profile, and (a tiled one) with a profile per tile as well
    runs = [(tile, False) for tile in args.tiles] + [(tile, True) for tile in args.tiles if tile]
    denoisers = {run: Denoiser.from_pretrained(args.checkpoint, tile=run[0], level_per_tile=run[1]) for run in runs}
    print(f"{args.checkpoint}, {args.noise} on the right half only, seed {args.seed}: mean PSNR (dB) per half")
    print(f"{'tile':<22}{'left (clean)':>14}{'right (noisy)':>15}")
    halves = {run: [] for run in runs}
    inputs = []
    for name in HELD_OUT:
        clean = load_sample(name)
        noisy = right_half_noisy(clean, args.noise, args.seed)
        middle = clean.shape[1] // 2
        inputs.append(psnr(clean[:, middle:], noisy[:, middle:]))
        for run in runs:
            out = denoisers[run](noisy)
            halves[run].append((psnr(clean[:, :middle], out[:, :middle]), psnr(clean[:, middle:], out[:, middle:])))
    for tile, per_tile in runs:
        left, right = np.mean([[min(v, 100.0) for v in pair] for pair in halves[tile, per_tile]], axis=0)
        label = f"{tile}, --level-per-tile" if per_tile else str(tile or "whole")
        print(f"{label:<22}{left:14.2f}{right:15.2f}")
    print(f"{'input':<22}{'inf':>14}{np.mean(inputs):15.2f}  (a left half returned bit for bit counts as 100 dB)")


if __name__ == "__main__":
    run_script(main)
