"""`--ensemble`: the eight flips and quarter turns, denoised, turned back and averaged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data_tools.images import read_image, write_image
from denoise_gan import Denoiser
from denoise_gan.inference.ensemble import TRANSFORMS, dihedral, undo_dihedral
from denoise_gan.inference.infer_config import InferConfig
from denoise_gan.inference.tiling import TiledDenoiser
from helpers import cli, noise_image


def test_every_transform_is_undone_exactly() -> None:
    image = noise_image(5, 7, 4)
    shapes = set()
    for k in range(TRANSFORMS):
        moved = dihedral(image, k)
        shapes.add(moved.shape)
        np.testing.assert_array_equal(undo_dihedral(moved, k), image)
    assert shapes == {(5, 7, 4), (7, 5, 4)}
    assert len({dihedral(image, k).tobytes() for k in range(TRANSFORMS)}) == TRANSFORMS  # eight different ones


def _unrounded_passes(weights: Path, image: np.ndarray) -> list[np.ndarray]:
    """The eight passes turned back, each as the tiler makes it before rounding (float, in the file's units)."""
    den = TiledDenoiser(Denoiser.from_pretrained(weights, engine="torch").backend, InferConfig(tile=0, device="cpu"))
    return [undo_dihedral(den._run([dihedral(image, k)], None, 1.0, None, rounded=False)[0], k).astype(np.float64)
            for k in range(TRANSFORMS)]


def test_the_ensemble_is_the_mean_of_the_eight_passes_rounded_once(weights: Path) -> None:
    image = noise_image(40, 56, 3, seed=2)
    single = Denoiser.from_pretrained(weights, device="cpu", engine="torch", tile=0)
    both = Denoiser.from_pretrained(weights, device="cpu", engine="torch", tile=0, ensemble=True)
    out = both(image)
    np.testing.assert_array_equal(out, np.rint(np.mean(_unrounded_passes(weights, image), axis=0)).astype(np.uint8))
    rounded_twice = np.rint(np.mean([undo_dihedral(single(dihedral(image, k)), k).astype(np.float64)
                                     for k in range(TRANSFORMS)], axis=0)).astype(np.uint8)
    assert not np.array_equal(out, rounded_twice)  # each pass rounded first would move some pixels a level
    assert not np.array_equal(out, single(image))  # a random U-Net is no symmetric function
    rgba = np.concatenate([image, noise_image(40, 56, 1, seed=3)], axis=2)
    np.testing.assert_array_equal(both(rgba)[..., 3], rgba[..., 3])  # alpha untouched
    deep = image.astype(np.uint16) * 257  # a 16-bit photo keeps its depth through the average
    np.testing.assert_array_equal(both(deep), np.rint(np.mean(_unrounded_passes(weights, deep), axis=0))
                                  .astype(np.uint16))


def test_progress_counts_the_eight_passes_as_one(weights: Path) -> None:
    seen: list[tuple[int, int]] = []
    den = TiledDenoiser(Denoiser.from_pretrained(weights, engine="torch").backend,
                        InferConfig(tile=32, overlap=8, device="cpu", ensemble=True))
    den(noise_image(40, 40), lambda done, total: seen.append((done, total)))
    assert {total for _, total in seen} == {TRANSFORMS * 4} and seen[-1] == (TRANSFORMS * 4, TRANSFORMS * 4)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


@pytest.mark.parametrize("engine", ["onnxruntime", "torch"])
def test_denoise_ensemble_from_the_command_line(tmp_path: Path, engine: str) -> None:
    write_image(tmp_path / "a.png", noise_image(48, 40))
    result = cli("denoise", tmp_path / "a.png", "-o", tmp_path / "out", "--ensemble", "--engine", engine)
    assert result.exit_code == 0, result.output
    assert read_image(tmp_path / "out" / "a.png").pixels.shape == (48, 40, 3)
