"""The folders a training run reads, checked before anything heavy is imported or any folder is made.

A training command's argument errors (a missing folder, a --val made of training photos, one photo in both
domains) answer at once: this module needs the file system only, not torch or albumentations.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from data_tools.errors import DataError
from data_tools.images import collect_images
from data_tools.paths import real_path
from data_tools.set_halves import set_half_holding
from data_tools.synth_folder import MANIFEST_NAME, manifest_of


def file_ids(folder: str) -> dict[tuple[int, int], Path]:
    """A folder's images by the file they are on disk (a hard or symbolic link is the file it leads to)."""
    found: dict[tuple[int, int], Path] = {}
    for path in collect_images(Path(folder)):
        with contextlib.suppress(OSError):  # a broken link: its reader names it
            stat = path.stat()
            found.setdefault((stat.st_dev, stat.st_ino), path)
    return found


def refuse_val_from_training(val_dir: str, training: dict[str, str]) -> None:
    """--val scores photos that are not in training: a val folder that is, holds or lies inside a training folder
    (``{"--clean": path, ...}``), or a val image that is a training photo under another name (a link), would
    score the training photos as held out."""
    val = real_path(val_dir)
    for option, folder in ((o, f) for o, f in training.items() if f):
        where = real_path(folder)
        if _overlap(val, where):
            raise DataError(f"--val {val_dir} and {option} {folder} overlap: its pairs would be training photos; "
                            "--val takes pairs of photos not in training")
    held_out = file_ids(val_dir) if Path(val_dir).is_dir() else {}  # a missing one: the val reader says so
    for option, folder in ((o, f) for o, f in training.items() if f and Path(f).is_dir()):
        shared = [(held_out[key], path) for key, path in file_ids(folder).items() if key in held_out]
        if shared:
            raise DataError(f"{shared[0][0]}: the same file as {shared[0][1]} in {option}; --val takes pairs of "
                            "photos not in training")


def _overlap(one: Path, other: Path) -> bool:
    """Whether two real folders are one, or one lies inside the other (images are read with their subfolders)."""
    return one.is_relative_to(other) or other.is_relative_to(one)


def _source_of(manifest: dict) -> str:
    """The folder of photos a synth set's manifest says it was made from, or "" (none recorded, or not text)."""
    source = manifest.get("source_dir")
    return source if isinstance(source, str) else ""


def val_drawn_from_training(val_dir: str, training: dict[str, str]) -> str:
    """A warning when the paired --val set was made by synth from a training folder's photos (its manifest's
    source folder is, holds or lies inside one): copied and cropped, they are new files, so the checks above pass,
    yet its scores are of photos the run trains on. "" otherwise."""
    source = _source_of(manifest_of(Path(val_dir) / MANIFEST_NAME) or {})
    if not source:
        return ""
    for option, folder in ((o, f) for o, f in training.items() if f):
        if _overlap(real_path(source), real_path(folder)):
            return (f"--val {val_dir} was made by synth from {source}, photos of {option} {folder}: its PSNR/SSIM "
                    "will be of photos the run trains on, not held-out ones")
    return ""


def refuse_shared_files(clean_dir: str, noisy_dir: str) -> None:
    """The two domains hold no file in common (hard links to one file, a folder of links): the folders differ,
    but such a photo is in both domains, and F would learn its noise from the very photo G learns is clean."""
    clean = file_ids(clean_dir)
    shared = [(path, clean[key]) for key, path in file_ids(noisy_dir).items() if key in clean]
    if shared:
        noisy, twin = shared[0]
        raise DataError(f"{noisy}: the same file as {twin} in --clean ({len(shared)} such in --noisy); the two "
                        "domains must hold different photos")


def noisy_drawn_from_clean(clean_dir: str, noisy_dir: str) -> str:
    """A warning when --noisy is a synth set's noisy half made from --clean's photos (its manifest's source folder
    is, holds or lies inside --clean), or --clean is the other half of the same paired set: every noisy photo then
    has its clean twin in training, pixel for pixel, where an unpaired run's two domains are independent scenes
    (the file checks above pass: synth wrote new files). "" otherwise."""
    if not clean_dir or not noisy_dir:
        return ""
    held = set_half_holding(noisy_dir)
    if held is None or held[1] != "noisy":
        return ""
    manifest = manifest_of(held[0] / MANIFEST_NAME) or {}
    source, clean = _source_of(manifest), real_path(clean_dir)
    same_pairs = manifest.get("mode") == "paired" and clean == held[0] / "clean"
    if not same_pairs and not (source and _overlap(real_path(source), clean)):
        return ""
    return (f"--noisy {noisy_dir} was made by synth from {'the photos of its clean/' if same_pairs else source}, "
            f"and --clean {clean_dir} holds them: each noisy photo's clean twin is in training, where the two "
            "domains of an unpaired run are independent scenes; `synth --unpaired` makes its two halves of "
            "different photos")
