"""The noise models as an albumentations transform, for a user's own augmentation pipeline.

Kept apart from the training datasets (which need torch), so the base install runs it.
"""

from __future__ import annotations

import hashlib
import sys
from typing import Any

import numpy as np

from data_tools.albumentations_quiet import A
from data_tools.noise_source import NoiseSource, as_noise_source, drawn_noise, noise_text


class SyntheticNoise(A.ImageOnlyTransform):
    """A noise model as an albumentations transform (uint8/uint16 in, same dtype out), seeded by the pipeline.

    ``spec`` is a spec text, a parsed ``NoiseSpec`` or any ``NoiseSource`` (an object with ``apply(image, seed)``,
    such as a learned ``denoise_gan.NoiseModel``).
    """

    def __init__(self, spec: str | NoiseSource, p: float = 1.0) -> None:
        super().__init__(p=p)
        self.spec = as_noise_source(spec)

    @classmethod
    def get_class_fullname(cls) -> str:
        """The name ``A.save`` records and ``A.load`` looks up: the one pipelines were saved under when the class
        lived beside the datasets, so they still load."""
        return "data_tools.datasets.SyntheticNoise"

    def set_random_seed(self, seed: int | None) -> None:
        """A seeded Compose gives each of its transforms the same seed: salted with the noise's own text, two
        SyntheticNoise of different noise draw independent fields, not one field twice (stack one noise on
        another in one spec, ``a+b``, which draws each stage from its own stream)."""
        super().set_random_seed(seed)
        if seed is not None:
            salt = int.from_bytes(hashlib.sha256(noise_text(self.spec).encode()).digest()[:8], "little")
            self.random_generator = np.random.default_rng([int(seed), salt])

    def should_apply(self, force_apply: bool = False) -> bool:
        """Whether to noise this call, drawn as the noise is: albumentations' own draw (``py_random``) repeats in
        every DataLoader worker and epoch, and in a seeded Compose fires with every transform given that seed."""
        if force_apply or not 0.0 < self.p < 1.0:
            return super().should_apply(force_apply)
        return self._draw() / 2**63 < self.p

    def get_params(self) -> dict[str, Any]:
        return {"noise_seed": self._draw()}

    def _draw(self) -> int:
        draw = int(self.random_generator.integers(0, 2**63 - 1))
        worker = _loader_worker_seed()
        if worker is not None:  # every DataLoader worker holds a copy of this generator: the same draws in each
            draw = int(np.random.default_rng([draw, worker]).integers(0, 2**63 - 1))
        return draw

    def apply(self, img: np.ndarray, noise_seed: int = 0, **params: Any) -> np.ndarray:
        # held to synth's rule: a source of the user's own that changed the image's dtype or shape is named here,
        # not passed on to fail (or to train on) far down the pipeline
        return drawn_noise(self.spec, img, noise_seed)[0]

    def apply_to_images(self, images: np.ndarray, *args: Any, noise_seed: int = 0, **params: Any) -> np.ndarray:
        """A batch (or a volume's slices) each with its own field: albumentations passes one call's parameters
        to every image, which gave all of them the very same noise."""
        return np.stack([self.apply(image, _nth_seed(noise_seed, i)) for i, image in enumerate(images)])

    def apply_to_volumes(self, volumes: np.ndarray, *args: Any, noise_seed: int = 0, **params: Any) -> np.ndarray:
        return np.stack([self.apply_to_images(volume, noise_seed=_nth_seed(noise_seed, i, volume=True))
                         for i, volume in enumerate(volumes)])

    def get_transform_init_args(self) -> dict[str, Any]:
        # a spec as its text, so ``A.save`` writes it and ``A.load`` rebuilds the same noise; a learned noise
        # model as its description (file name, sha256) and a source of the user's own as its text or class name:
        # saved whole, and ``A.load`` refuses either in one line
        return {"spec": noise_text(self.spec)}


def _nth_seed(seed: int, index: int, volume: bool = False) -> int:
    """The first image keeps the call's seed (a batch of one is noised as ``image=`` is); the others their own.
    A volume's seed is drawn apart from a slice's, so slice 1 of volume 0 and slice 0 of volume 1 differ."""
    if index == 0:
        return seed
    return int(np.random.default_rng([seed, index, *([1] if volume else [])]).integers(0, 2**63 - 1))


def _loader_worker_seed() -> int | None:
    """The seed torch gave this DataLoader worker (its base seed, new each epoch, plus its index); None outside
    one. torch is looked up, never imported: the base install has none."""
    torch = sys.modules.get("torch")
    data = getattr(getattr(torch, "utils", None), "data", None)
    info = data.get_worker_info() if data is not None else None
    return None if info is None else int(info.seed)
