"""What the photo-wide level profile that tiled denoising uses changes against one profile per tile.

    python benchmarks/tile_profile.py heldout/ [indep/] [--noise SPEC ...] [--tile 512] [--overlap 32] [--seed 0]

The blind level map is projected onto a function of brightness per image the network is given. A photo larger
than a tile is denoised with one such function read from all its tiles' estimator cells (the tiler's first pass);
fitted per tile instead, a tile of dense texture or of clean, fine detail reads more noise than the photo holds.
This script denoises each photo both ways in the engine's tiles and blend: per photo larger than a tile and noise,
PSNR (dB) of the shipped default denoised whole (``tile=0``), tiled by the engine (torch), tiled here with the
photo's profile (it must agree with the engine: the last column is their PSNR against each other) and with a
profile per tile.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from script_args import noise_spec, run_script, seed

from data_tools.images import collect_images, read_image
from data_tools.noise import image_seed, parse_noise_spec
from denoise_gan.evaluation.metrics import psnr
from denoise_gan.inference.tile_grid import plan_grid, reflect_index

DEFAULT_NOISE = ("gaussian:sigma=0", "gaussian:sigma=5", "gaussian:sigma=25",
                 "camera:peak=1000,read=2+jpeg:quality=90")


def _side_by_side(cells):
    """(N, C, h, w) tiles as one (1, C, h, N*w) image, tile after tile along the width."""
    n, c, h, w = cells.shape
    return cells.permute(1, 2, 0, 3).reshape(1, c, h, n * w)


def two_pass(net, noisy: np.ndarray, tile: int, overlap: int, shared: bool) -> np.ndarray:
    """``noisy`` (H×W×3 uint8) denoised in the engine's tiles, the level profile per tile or shared."""
    import torch
    import torch.nn.functional as nnf

    from denoise_gan.nets.level import scaled_level
    from denoise_gan.nets.level_profile import brightness_profile

    h, w = noisy.shape[:2]
    grid = plan_grid(h, w, tile, overlap, net.stride, min_tile=net.min_tile)
    rows = reflect_index(grid.ys[-1] + grid.tile_h, h)
    cols = reflect_index(grid.xs[-1] + grid.tile_w, w)
    placed = list(grid.tiles())
    batch = torch.stack([torch.from_numpy(noisy[np.ix_(rows[y:y + grid.tile_h], cols[x:x + grid.tile_w])])
                         for y, x, _ in placed]).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        cells = net.estimator.cells(batch)
        brightness = nnf.avg_pool2d(batch, net.estimator.stride)
        if shared:  # the tiles side by side as one image: one profile over all their cells
            n, c, ch, cw = cells.shape
            profiled = brightness_profile(_side_by_side(cells), _side_by_side(brightness))
            profiled = profiled.reshape(c, ch, n, cw).permute(2, 0, 1, 3)
        else:
            profiled = brightness_profile(cells, brightness)
        level = nnf.interpolate(profiled * net.level_scale, size=batch.shape[-2:], mode="bilinear",
                                align_corners=False)
        out = net.denoiser(batch, scaled_level(level, 1.0, net.level_max)).permute(0, 2, 3, 1).numpy()
    total, weight = np.zeros((h, w, 3), np.float64), np.zeros((h, w, 1), np.float64)
    for (y, x, ramp), tile_out in zip(placed, out):
        th, tw = min(grid.tile_h, h - y), min(grid.tile_w, w - x)
        total[y:y + th, x:x + tw] += tile_out[:th, :tw] * ramp[:th, :tw, None]
        weight[y:y + th, x:x + tw] += ramp[:th, :tw, None]
    return np.clip(total / weight * 255.0, 0, 255).round().astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--noise", action="append", type=noise_spec, default=None, help="a noise spec (repeatable)")
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--seed", type=seed, default=0)
    args = parser.parse_args()
    if not 128 <= args.tile <= 4096 or not 0 <= args.overlap <= args.tile // 2:
        parser.error("--tile is 128 to 4096 px (the shipped model's least tile is 128), --overlap 0 to half of it")
    for folder in args.folders:  # an empty table of a mistyped folder would pass for a measurement
        if not folder.is_dir() or not collect_images(folder):
            raise SystemExit(f"error: {folder}: no images there (no such folder, or none in it)")
    from denoise_gan import Denoiser
    from denoise_gan.nets.shipped import shipped_dir
    from denoise_gan.nets.weights import load_denoiser

    net = load_denoiser(shipped_dir() / "default.safetensors")[0].eval()
    whole = Denoiser.from_pretrained("default", engine="torch", tile=0)
    tiled = Denoiser.from_pretrained("default", engine="torch", tile=args.tile, overlap=args.overlap)
    print(f"{'photo':22} {'noise':40} {'whole':>7} {'tiled':>7} {'shared':>7} {'per tile':>9} {'agree':>7}")
    for folder in args.folders:
        for path in collect_images(folder):
            clean = read_image(path).pixels
            if clean.dtype != np.uint8 or max(clean.shape[:2]) <= args.tile:
                continue  # one tile (or not an 8-bit photo): nothing to share
            for text in args.noise or DEFAULT_NOISE:
                noisy = parse_noise_spec(text).apply(clean, image_seed(args.seed, path.stem))[0]
                colour = noisy if noisy.ndim == 3 else np.repeat(noisy[..., None], 3, axis=2)
                own, shared = (two_pass(net, colour, args.tile, args.overlap, s) for s in (False, True))
                if noisy.ndim == 2:  # gray: denoised as colour, averaged back as the engine does
                    own, shared = (x.mean(axis=2).round().astype(np.uint8) for x in (own, shared))
                engine = tiled(noisy)
                cells = [psnr(clean, x) for x in (whole(noisy), engine, shared, own)] + [psnr(engine, shared)]
                print(f"{folder.name + '/' + path.stem:22} {text:40} {cells[0]:7.2f} {cells[1]:7.2f} "
                      f"{cells[2]:7.2f} {cells[3]:9.2f} {cells[4]:7.2f}", flush=True)


if __name__ == "__main__":
    run_script(main)
