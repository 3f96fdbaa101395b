"""How much worse a model denoises the outermost pixels of a photo than its inside: the figure the model card's
limitations quote.

    python benchmarks/border_error.py [-c default] [--noise gaussian:sigma=25] [--frame 2] [--seed 0]

Each held-out photo gets the seeded noise and is denoised whole (``tile=0``, so no tile edge is measured); the
mean absolute error against the clean photo (0-255) is taken over the frame of ``--frame`` pixels along the four
edges, and over the inside past 16 pixels from every edge. A network that pads its convolutions with zeros sees
a black surround at the photo's edges, which no training crop showed it there; the last column is the frame's
error when the noisy photo is mirrored 16 px out on every side first and the result cropped back: what
mirroring at the edges would change.
"""

from __future__ import annotations

import argparse

import numpy as np
from script_args import noise_spec, run_script, seed

from data_tools.noise import parse_noise_spec
from data_tools.samples import HELD_OUT, load_sample

INSIDE_MARGIN = 16  # past the reach of the edges' padding for the shipped nets (stride 4-8, a few 3x3 layers)


def frame_and_inside_error(clean: np.ndarray, denoised: np.ndarray, frame: int) -> tuple[float, float]:
    """Mean absolute error (0-255 units) over the outer ``frame`` pixels and over the inside."""
    error = np.abs(denoised.astype(np.float64) - clean.astype(np.float64))
    edge = np.zeros(error.shape[:2], bool)
    edge[:frame], edge[-frame:], edge[:, :frame], edge[:, -frame:] = True, True, True, True
    inside = np.zeros_like(edge)
    inside[INSIDE_MARGIN:-INSIDE_MARGIN, INSIDE_MARGIN:-INSIDE_MARGIN] = True
    return float(error[edge].mean()), float(error[inside].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--checkpoint", default="default")
    parser.add_argument("--noise", type=noise_spec, default="gaussian:sigma=25")
    parser.add_argument("--frame", type=int, default=2)
    parser.add_argument("--seed", type=seed, default=0)
    args = parser.parse_args()
    if not 1 <= args.frame <= INSIDE_MARGIN:  # 0 slices as the whole image ([-0:]), past the margin it overlaps
        parser.error(f"--frame is 1 to {INSIDE_MARGIN} px (the inside starts {INSIDE_MARGIN} px in)")
    from denoise_gan import Denoiser

    den = Denoiser.from_pretrained(args.checkpoint, tile=0)
    spec = parse_noise_spec(args.noise)
    print(f"{args.checkpoint}, {spec}, seed {args.seed}: mean |error| (0-255) on the outer {args.frame} px "
          f"and inside {INSIDE_MARGIN} px from the edges")
    print(f"{'photo':<12}{'frame':>8}{'inside':>8}{'ratio':>8}{'frame, mirrored':>17}")
    rows = []
    for name in HELD_OUT:
        clean = load_sample(name)
        noisy, _ = spec.apply(clean, args.seed)
        edge, inside = frame_and_inside_error(clean, den(noisy), args.frame)
        pad = ((INSIDE_MARGIN, INSIDE_MARGIN), (INSIDE_MARGIN, INSIDE_MARGIN), (0, 0))
        mirrored = den(np.pad(noisy, pad, mode="reflect"))[INSIDE_MARGIN:-INSIDE_MARGIN, INSIDE_MARGIN:-INSIDE_MARGIN]
        edge_mirrored, _ = frame_and_inside_error(clean, mirrored, args.frame)
        rows.append((edge, inside, edge_mirrored))
        print(f"{name:<12}{edge:8.2f}{inside:8.2f}{edge / inside:8.2f}{edge_mirrored:17.2f}")
    edge, inside, edge_mirrored = np.mean(rows, axis=0)
    print(f"{'mean':<12}{edge:8.2f}{inside:8.2f}{edge / inside:8.2f}{edge_mirrored:17.2f}")


if __name__ == "__main__":
    run_script(main)
