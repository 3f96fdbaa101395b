"""Patch datasets for training: unpaired clean/noisy patches (train, adapt's noise phase) and clean patches for
pairs (refine, adapt's denoiser phase); the noise spec as an albumentations transform is in ``noise_transform``.

Every sample is a pure function of (seed, index): the loader can run in worker processes and a resumed
run sees exactly the batches an uninterrupted one would have. The geometry is crop, flip and 90° rotation
only, never a resize: resampling a noisy image would correlate its noise and teach the networks the wrong noise.
(Refinement's optional stripes and colour casts change clean crops, before any noise is drawn.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from data_tools.albumentations_quiet import A
from data_tools.colour_cast import colour_cast
from data_tools.errors import DataError
from data_tools.folder_scan import no_images_text, no_longer_a_folder
from data_tools.images import LUMA as BT601_LUMA
from data_tools.images import ImageReadError, collect_images, haar_quads, read_image, split_alpha, to_255
from data_tools.names import warn as warn_on_stderr
from data_tools.noise import NoiseSpec, parse_noise_spec
from data_tools.noise_levels import measured_level_map, noise_level_map
from data_tools.noise_transform import SyntheticNoise  # noqa: F401  its old home: scripts import it from here
from data_tools.patterns import overlay_pattern
from data_tools.synth_folder import reading_set_half, refuse_incomplete_half, refuse_synth_sets_inside
from data_tools.training_folders import refuse_shared_files

LUMA = np.array(BT601_LUMA, dtype=np.float32)


def read_folder(folder: Path | str, exclude: Path | None = None,
                warn: Callable[[str], None] = warn_on_stderr, skipped: list[str] | None = None,
                keep: Callable[[int], bool] | None = None) -> list[tuple[Path, np.ndarray]]:
    """(path, colour pixels) of every image under a folder (recursive), leaving out those under ``exclude`` (an
    output folder inside it); unreadable files are skipped with a warning, and their reasons (each naming its
    file) appended to ``skipped`` when given. A synth set's half is read whole or not at all: one a synth is
    writing now, or one a cut-short synth left, is refused (a training run read 790 photos of the old noise and
    710 of the new while ``synth --overwrite`` rewrote its set), and a synth into it meanwhile is. The pixels of
    the i-th readable image with ``keep(i)`` false are decoded (to know it is readable) but not held: an empty
    array stands for them."""
    found = []
    with reading_set_half(folder):  # first: a synth writing the set now leaves it marked incomplete till it ends
        refuse_incomplete_half(folder, DataError)
        for path in collect_images(Path(folder), exclude=exclude):
            try:
                pixels = split_alpha(read_image(path).pixels)[0]
                found.append((path, pixels if keep is None or keep(len(found)) else np.empty((0, 0, 0), np.uint8)))
            except ImageReadError as exc:
                warn(f"skipping {exc}")
                if skipped is not None:
                    skipped.append(str(exc))
    return found


def split_halves(items: list[Any]) -> tuple[list[Any], list[Any]]:
    """Two disjoint halves (alternating, so both get a spread of the sorted list)."""
    return items[0::2], items[1::2]


def augment_pipeline(patch_size: int) -> A.Compose:
    """A new crop-and-orientation pipeline, for an image at least ``patch_size`` on each side (``reflect_padded``).
    Training reuses one per patch size (``shared_pipeline``)."""
    return A.Compose([
        A.RandomCrop(height=patch_size, width=patch_size),
        A.HorizontalFlip(p=0.5),
        A.RandomRotate90(p=1.0),
    ])


def reflect_padded(image: np.ndarray, side: int) -> np.ndarray:
    """The image mirrored out (centred, as albumentations' PadIfNeeded) to at least ``side`` px each way; as it
    is when it holds that already. In the pipeline, PadIfNeeded copied the whole photo for every patch, padded or
    not: a 24 MP photo's batch took 40 times as long as its crops."""
    height, width = image.shape[:2]
    rows, cols = max(0, side - height), max(0, side - width)
    if not rows and not cols:
        return image
    out = cv2.copyMakeBorder(image, rows // 2, rows - rows // 2, cols // 2, cols - cols // 2, cv2.BORDER_REFLECT_101)
    return out.reshape(out.shape[:2] + image.shape[2:])  # OpenCV drops a single channel's axis


_PIPELINES = threading.local()  # per thread: a pipeline is re-seeded before each call, which two threads would race


def shared_pipeline(patch_size: int) -> A.Compose:
    """``augment_pipeline(patch_size)``, built once per thread: building one takes longer than running it
    (albumentations validates every transform's arguments), and ``set_random_seed`` before each call resets all of
    its random state, so a reused pipeline draws exactly what a new one would."""
    built: dict[int, A.Compose] = _PIPELINES.__dict__.setdefault("by_size", {})
    if patch_size not in built:
        built[patch_size] = augment_pipeline(patch_size)
    return built[patch_size]


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """HxWxC uint8/uint16 -> CxHxW float in [0, 1]."""
    scale = float(np.iinfo(pixels.dtype).max)
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1))).float().div_(scale)


def to_gray(pixels: np.ndarray) -> np.ndarray:
    """HxWx1 luminance of an RGB patch, in the same dtype."""
    if pixels.shape[2] == 1:
        return pixels
    y = pixels.astype(np.float32) @ LUMA
    return np.clip(np.rint(y), 0, np.iinfo(pixels.dtype).max).astype(pixels.dtype)[..., None]


def fit_channels(pixels: np.ndarray, channels: int) -> np.ndarray:
    if pixels.shape[2] == channels:
        return pixels
    if channels == 1:
        return to_gray(pixels)
    return np.repeat(pixels, channels, axis=2)


DETAIL_CANDIDATES = 4


def fine_detail(patch: np.ndarray) -> float:
    """What a wavelet noise estimate reads on a clean patch: the median absolute finest diagonal Haar
    coefficient of its luma, on the 0-255 scale whatever the bit depth (a pool may mix 8- and 16-bit photos).
    Dense texture (foliage, gravel, fabric) scores as high as moderate noise, which is why an estimator that
    never saw it at level 0 reads it as noise."""
    pixels = to_255(patch)
    a, b, c, d = haar_quads(pixels @ LUMA if pixels.shape[2] == 3 else pixels[..., 0])
    return float(np.median(np.abs(a - b - c + d)))


@dataclass(frozen=True)
class PatchSampler:
    """Draws one augmented patch from a list of images, optionally gray, optionally with synthetic noise."""

    images: list[np.ndarray]
    patch_size: int
    channels: int
    gray_fraction: float
    noise: NoiseSpec | None = None
    detail_fraction: float = 0.0
    pattern_fraction: float = 0.0
    colour_cast_fraction: float = 0.0
    noisy_photos: bool = False  # the images hold real noise: a gray patch is one channel of them (``one_patch``)

    def patch(self, rng: np.random.Generator) -> np.ndarray:
        """An augmented clean patch (HxWxC integer), gray with probability gray_fraction; with probability
        detail_fraction the most detailed of DETAIL_CANDIDATES random patches; with probability
        pattern_fraction shaded by stripes (``overlay_pattern``); with probability colour_cast_fraction given a
        strong colour cast (``colour_cast``). A fraction of 0 draws nothing from ``rng``, so runs without the
        option are what they were."""
        if self.detail_fraction > 0 and rng.random() < self.detail_fraction:
            patch = max((self.one_patch(rng) for _ in range(DETAIL_CANDIDATES)), key=fine_detail)
        else:
            patch = self.one_patch(rng)
        if self.pattern_fraction > 0 and rng.random() < self.pattern_fraction:
            patch = overlay_pattern(patch, rng)
        if self.colour_cast_fraction > 0 and rng.random() < self.colour_cast_fraction:
            patch = colour_cast(patch, rng)
        return patch

    def one_patch(self, rng: np.random.Generator) -> np.ndarray:
        pixels = self.images[int(rng.integers(len(self.images)))]
        pipeline = shared_pipeline(self.patch_size)
        pipeline.set_random_seed(int(rng.integers(0, 2**31 - 1)))
        patch = pipeline(image=reflect_padded(pixels, self.patch_size))["image"]
        if patch.ndim == 2:
            patch = patch[..., None]
        if self.channels == 1 or rng.random() < self.gray_fraction:
            # gray before the noise: a gray photo has the same noise in every channel. A photo already noisy
            # gives its green channel, whose noise is a gray sensor's strength: luma's mix of three channels
            # left a quarter of the noisy domain's patches with a third less noise
            patch = patch[..., 1:2] if self.noisy_photos and patch.shape[2] == 3 else to_gray(patch)
        return patch

    def add_noise(self, patch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.add_noise_with_stages(patch, rng)[0]

    def add_noise_with_stages(self, patch: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, list[dict]]:
        """The noisy patch and the parameters each stage drew (from which its noise-level map follows)."""
        assert self.noise is not None
        return self.noise.apply(patch, int(rng.integers(0, 2**63 - 1)))

    def __call__(self, rng: np.random.Generator) -> torch.Tensor:
        patch = self.patch(rng)
        if self.noise is not None:
            patch = self.add_noise(patch, rng)
        return to_tensor(fit_channels(patch, self.channels))


def random_crops(images: Sequence[np.ndarray], seed: int, channels: int, side: int, count: int,
                 noisy_photos: bool = False) -> list[np.ndarray]:
    """``count`` seeded random crops of ``side`` px (flips and quarter turns only, never resized), HxWx``channels``
    (gray copied; of ``noisy_photos``, one channel, as ``PatchSampler`` takes it): the same crops for the same
    seed, so reports before and after training compare alike."""
    sampler = PatchSampler(list(images), side, channels, 0.0, noisy_photos=noisy_photos)
    rng = np.random.default_rng([seed, 29])
    return [fit_channels(sampler.patch(rng), channels) for _ in range(count)]


class PairedPatches(Dataset):
    """Item i: a clean patch and, when the sampler has a noise spec, the same patch with synthetic noise and
    its true per-pixel noise level on the [0, 1] scale (supervised pairs); without one only the clean patch,
    for pseudo-pairs made by F at train time. With ``clean_variant`` (e.g. a JPEG spec) the item also holds the
    clean patch passed through it, as ``clean_variant``: a photo that is clean but compressed. With
    ``estimator_noise`` it also holds the patch under that noise and the level measured from the pair
    (``measured_level_map``), as ``estimator_noisy`` and ``estimator_level``: draws only a level estimator reads."""

    def __init__(self, sampler: PatchSampler, seed: int, *, clean_variant: NoiseSpec | None = None,
                 estimator_noise: NoiseSpec | None = None) -> None:
        self.sampler, self.seed, self.clean_variant = sampler, seed, clean_variant
        self.estimator_noise = estimator_noise

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index])
        clean = self.sampler.patch(rng)
        item = {"clean": to_tensor(fit_channels(clean, self.sampler.channels))}
        if self.clean_variant is not None:
            variant = self.clean_variant.apply(clean, int(rng.integers(0, 2**63 - 1)))[0]
            item["clean_variant"] = to_tensor(fit_channels(variant, self.sampler.channels))
        if self.sampler.noise is not None:
            noisy, stages = self.sampler.add_noise_with_stages(clean, rng)
            item["noisy"] = to_tensor(fit_channels(noisy, self.sampler.channels))
            level = noise_level_map(clean, stages) / np.float32(255.0)
            item["level"] = _level_tensor(level, self.sampler.channels)
        if self.estimator_noise is not None:
            noisy = self.estimator_noise.apply(clean, int(rng.integers(0, 2**63 - 1)))[0]
            item["estimator_noisy"] = to_tensor(fit_channels(noisy, self.sampler.channels))
            level = measured_level_map(clean, noisy) / np.float32(255.0)
            item["estimator_level"] = _level_tensor(level, self.sampler.channels)
        return item


def _level_tensor(level: np.ndarray, channels: int) -> torch.Tensor:
    """An HxWxC level map (0-1 scale) as the CxHxW tensor of a ``channels``-channel model."""
    return torch.from_numpy(np.ascontiguousarray(fit_channels(level, channels).transpose(2, 0, 1)))


class UnpairedPatches(Dataset):
    """Item i: a clean patch and an unrelated noisy patch, both a pure function of (seed, i)."""

    def __init__(self, clean: PatchSampler, noisy: PatchSampler | None, seed: int) -> None:
        self.clean, self.noisy, self.seed = clean, noisy, seed

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index])
        item = {"clean": self.clean(rng)}
        if self.noisy is not None:
            item["noisy"] = self.noisy(rng)
        return item


def at_least(found: list[tuple[Path, np.ndarray]], root: Path | str,
             side: int) -> tuple[list[np.ndarray], tuple[str, ...]]:
    """The photos at least ``side`` px on their shorter side, and "name (WxH)" of the others: real noise is
    never padded up to a patch by mirroring, which would teach a noise model mirrored noise."""
    usable = [pixels for _, pixels in found if min(pixels.shape[:2]) >= side]
    small = tuple(f"{path.relative_to(root)} ({px.shape[1]}x{px.shape[0]})" for path, px in found
                  if min(px.shape[:2]) < side)
    return usable, small


SEAMS = "padding would show mirrored seams as clean photos"


def patch_sized(folder: Path | str, patch_size: int, kind: str, why: str = SEAMS,
                found: list[tuple[Path, np.ndarray]] | None = None, error: type[Exception] = DataError,
                warn: Callable[[str], None] = warn_on_stderr, part: str = "") -> list[np.ndarray]:
    """The photos (the folder's, or ``found`` of it: its ``part``, such as "the clean half of") that hold a whole
    patch; the others are said, and none at all is an error: train, refine and adapt leave small photos out by
    one rule."""
    found = read_folder(folder) if found is None else found
    if not found:
        raise error(no_images_text(folder, found="no readable images"))
    usable, small = at_least(found, folder, patch_size)
    if not usable:
        raise error(f"{folder}: every {kind} photo is smaller than the {patch_size} px patch; lower --patch-size or "
                    "give larger photos")
    if small:
        warn(f"{len(small)} of {len(found)} photos in {part + ' ' if part else ''}{folder} are smaller than the "
             f"{patch_size} px patch and are left out ({why}): {', '.join(small)}")
    return usable


def build_domains(clean_dir: str, noisy_dir: str, noise: str, patch_size: int = 0,
                  read_noisy: bool = True) -> tuple[list[np.ndarray], list[np.ndarray], NoiseSpec | None]:
    """The two training domains: two folders, or one clean folder split in halves plus a noise spec.

    Returns (clean images, noisy-domain images, spec to apply to the noisy-domain images or None). Photos
    smaller than ``patch_size`` are left out with a warning: padded by mirroring, a noisy one would teach F
    mirrored noise and a clean one would show the discriminator mirrored seams as clean photos.
    ``read_noisy=False`` (refine, which learns from the clean domain only) leaves a noisy folder unread and holds
    only the clean half of a split one: the noisy domain comes back empty (and no spec), and a noisy folder need
    not exist any more.
    """
    if not clean_dir:  # "" is never the current folder (a run's config edited, or a field left unset)
        raise DataError("the run's clean photos' folder is empty (\"\"), and it is never the current folder")
    for folder in (clean_dir, noisy_dir if read_noisy else ""):  # on --resume: moved or deleted since the start
        if folder and not Path(folder).is_dir():
            raise DataError(f"{folder}: {no_longer_a_folder(Path(folder))}")
    refuse_synth_sets_inside(clean_dir, DataError)
    if noisy_dir and read_noisy:
        refuse_synth_sets_inside(noisy_dir, DataError, "noisy")
        refuse_shared_files(clean_dir, noisy_dir)
    if noisy_dir:
        clean = patch_sized(clean_dir, patch_size, "clean")
        if not read_noisy:
            return clean, [], None
        return clean, patch_sized(noisy_dir, patch_size, "noisy", "padding would teach F mirrored noise"), None
    if not noise:
        raise DataError("give --noisy DIR, or --noise SPEC to synthesise the noisy domain from half the clean images")
    found = read_folder(clean_dir, keep=None if read_noisy else lambda i: i % 2 == 0)  # refine: the clean half's
    if len(found) < 2:
        raise DataError(f"{clean_dir}: need at least 2 images to split into two disjoint domains")
    # split first: the halves must not depend on the patch size (refine's differs from train's, and its clean
    # half must stay the one train used as clean)
    clean_half, noisy_half = split_halves(found)
    if not read_noisy:
        return patch_sized(clean_dir, patch_size, "clean", found=clean_half, part="the clean half of"), [], None
    return (patch_sized(clean_dir, patch_size, "clean", found=clean_half, part="the clean half of"),
            patch_sized(clean_dir, patch_size, "noisy-domain", found=noisy_half, part="the noisy-domain half of"),
            parse_noise_spec(noise))
