"""How much worse a model denoises the outermost pixels of a photo than its inside: the figure the model card's
limitations quote.

    python benchmarks/border_error.py [-c default] [--noise gaussian:sigma=25] [--frame 2] [--mirror 16] [--seed 0]

Each held-out photo gets the seeded noise and is denoised whole (``tile=0``, so no tile edge is measured); the
mean absolute error against the clean photo (0-255) is taken over the frame of ``--frame`` pixels along the four
edges, and over the inside past 16 pixels from every edge. A network that pads its convolutions with zeros sees
a black surround at the photo's edges, which no training crop showed it there; the "mirrored" columns are what
mirroring at the edges would change: the noisy photo mirrored ``--mirror`` px out on every side first and the
result cropped back, its frame's error and its whole PSNR beside the plain PSNR (the mean row: the PSNR of the
photos' mean squared error, a photo returned bit for bit counting as error 0), since a fix for the frame must
not cost the inside.
"""

from __future__ import annotations

import argparse

import numpy as np
from script_args import noise_spec, run_script, seed

from data_tools.noise import parse_noise_spec
from data_tools.samples import HELD_OUT, load_sample

INSIDE_MARGIN = 16  # past the reach of the edges' padding for the shipped nets (stride 4-8, a few 3x3 layers)
PEAK = 255.0


def frame_and_inside_error(clean: np.ndarray, denoised: np.ndarray, frame: int) -> tuple[float, float]:
    """Mean absolute error (0-255 units) over the outer ``frame`` pixels and over the inside."""
    error = np.abs(denoised.astype(np.float64) - clean.astype(np.float64))
    edge = np.zeros(error.shape[:2], bool)
    edge[:frame], edge[-frame:], edge[:, :frame], edge[:, -frame:] = True, True, True, True
    inside = np.zeros_like(edge)
    inside[INSIDE_MARGIN:-INSIDE_MARGIN, INSIDE_MARGIN:-INSIDE_MARGIN] = True
    return float(error[edge].mean()), float(error[inside].mean())


def mean_squared_error(clean: np.ndarray, denoised: np.ndarray) -> float:
    return float(np.mean((denoised.astype(np.float64) - clean.astype(np.float64)) ** 2))


def psnr_of(mse: float) -> float:
    """PSNR (dB, 8-bit peak) of a mean squared error; inf for 0 (returned bit for bit)."""
    return float("inf") if mse == 0 else 10 * float(np.log10(PEAK**2 / mse))


def ratio_cell(edge: float, inside: float) -> str:
    """The frame's error over the inside's, 8 wide; "-" where the inside came back exact (a clean photo)."""
    return f"{edge / inside:8.2f}" if inside else f"{'-':>8}"


def mirrored(noisy: np.ndarray, margin: int) -> np.ndarray:
    """``noisy`` mirrored ``margin`` px out on every side (no edge repeat), gray or colour."""
    return np.pad(noisy, ((margin, margin), (margin, margin)) + ((0, 0),) * (noisy.ndim - 2), mode="reflect")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--checkpoint", default="default")
    parser.add_argument("--noise", type=noise_spec, default="gaussian:sigma=25")
    parser.add_argument("--frame", type=int, default=2)
    parser.add_argument("--mirror", type=int, default=INSIDE_MARGIN)
    parser.add_argument("--seed", type=seed, default=0)
    args = parser.parse_args()
    if not 1 <= args.frame <= INSIDE_MARGIN:  # 0 slices as the whole image ([-0:]), past the margin it overlaps
        parser.error(f"--frame is 1 to {INSIDE_MARGIN} px (the inside starts {INSIDE_MARGIN} px in)")
    if not 1 <= args.mirror <= 64:  # a reflection needs fewer pixels than the smallest photo's side
        parser.error("--mirror is 1 to 64 px")
    from denoise_gan import Denoiser

    den = Denoiser.from_pretrained(args.checkpoint, tile=0)
    spec = parse_noise_spec(args.noise)
    print(f"{args.checkpoint}, {spec}, seed {args.seed}: mean |error| (0-255) on the outer {args.frame} px "
          f"and inside {INSIDE_MARGIN} px from the edges; PSNR (dB) whole, plain and mirrored {args.mirror} px out")
    print(f"{'photo':<12}{'frame':>8}{'inside':>8}{'ratio':>8}{'frame, mirrored':>17}{'PSNR':>8}"
          f"{'PSNR, mirrored':>16}")
    rows, errors = [], []
    m = args.mirror
    for name in HELD_OUT:
        clean = load_sample(name)
        noisy, _ = spec.apply(clean, args.seed)
        plain = den(noisy)
        edge, inside = frame_and_inside_error(clean, plain, args.frame)
        with_mirror = den(mirrored(noisy, m))[m:-m, m:-m]
        edge_mirrored, _ = frame_and_inside_error(clean, with_mirror, args.frame)
        rows.append((edge, inside, edge_mirrored))
        errors.append((mean_squared_error(clean, plain), mean_squared_error(clean, with_mirror)))
        print(f"{name:<12}{edge:8.2f}{inside:8.2f}{ratio_cell(edge, inside)}{edge_mirrored:17.2f}"
              f"{psnr_of(errors[-1][0]):8.2f}{psnr_of(errors[-1][1]):16.2f}")
    edge, inside, edge_mirrored = np.mean(rows, axis=0)
    mse, mse_mirrored = np.mean(errors, axis=0)
    print(f"{'mean':<12}{edge:8.2f}{inside:8.2f}{ratio_cell(edge, inside)}{edge_mirrored:17.2f}"
          f"{psnr_of(mse):8.2f}{psnr_of(mse_mirrored):16.2f}")


if __name__ == "__main__":
    run_script(main)
