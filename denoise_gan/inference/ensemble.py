"""Test-time self-ensemble: the eight flips and quarter turns of an image, denoised and averaged.

A denoiser's errors differ between an image and its mirror or rotation, so their average is a little better
(the x8 ensemble of EDSR/DnCNN papers) at eight times the work. ``--ensemble`` is off by default.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from data_tools.images import to_dtype

TRANSFORMS = 8  # four quarter turns, each with and without a left-right flip
Progress = Callable[[int, int], None]


def dihedral(image: np.ndarray, k: int) -> np.ndarray:
    """Transform ``k`` (0-7) of an HxWxC image: ``k % 4`` quarter turns, then a flip when ``k >= 4``."""
    out = np.rot90(image, k % 4, axes=(0, 1))
    return np.ascontiguousarray(out[:, ::-1] if k >= 4 else out)


def undo_dihedral(image: np.ndarray, k: int) -> np.ndarray:
    """The inverse of ``dihedral(., k)``."""
    out = image[:, ::-1] if k >= 4 else image
    return np.rot90(out, -(k % 4), axes=(0, 1))


def ensembled(run: Callable[[list[np.ndarray], Progress | None], list[np.ndarray]], images: Sequence[np.ndarray],
              progress: Progress | None = None) -> list[np.ndarray]:
    """``run`` over all eight transforms of the images, each output transformed back, averaged and rounded to
    the images' dtype. ``run`` gives each pass unrounded (float, in the dtype's units), so the mean is rounded
    once. Progress counts the eight passes as one."""
    sums = [np.zeros(image.shape, np.float64) for image in images]
    for k in range(TRANSFORMS):
        def report(done: int, total: int, _k: int = k) -> None:
            if progress:
                progress(_k * total + done, TRANSFORMS * total)

        outputs = run([dihedral(image, k) for image in images], report)
        for total, out in zip(sums, outputs):
            total += undo_dihedral(out, k)
    return [to_dtype(total / TRANSFORMS, image.dtype) for total, image in zip(sums, images)]
