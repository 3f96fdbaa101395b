"""`samples`' job: a named set of clean images written into a folder, by the folder rules every command keeps.

A bundled set (``held-out``, ``train``, ``all`` or ``--names``) is written from ``skimage.data``; ``photos`` and
``pool`` are built from Debian's wallpaper packages. The folder must be new or empty, hold only files of this
very set (written again, the same bytes), or be given with ``overwrite``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from data_tools.errors import DataError
from data_tools.folder_lock import holding_folder, removed_if_left_empty
from data_tools.folder_scan import not_a_folder
from data_tools.output_folders import prepare_output_dir
from data_tools.samples import SAMPLES, SETS, holds_only_samples, write_samples

POOLS = ("photos", "pool")  # built from the wallpaper packages, with their sources.json
SET_SPELLINGS = {"heldout": "held-out", "held_out": "held-out"}  # the README's folder is named heldout


@dataclass(frozen=True)
class WrittenSet:
    """What a call wrote; ``pool``: a photo pool, whose sources.json names each photo's source and licence."""

    paths: list[Path]
    pool: bool


def write_sample_set(output: Path | str, subset: str | None = None, names: str | None = None,
                     debs: Path | str | None = None, overwrite: bool = False,
                     progress: Callable[[int, int, str], None] | None = None) -> WrittenSet:
    """Write ``subset`` (default held-out), or the comma-separated ``names`` (of that subset, when one is given),
    into ``output``; ``debs`` is a folder of the wallpaper .deb files for a pool built without apt-get."""
    output = Path(output)
    named_set, subset = subset is not None, subset if subset is not None else "held-out"
    subset = SET_SPELLINGS.get(subset, subset)
    if subset not in (*SETS, *POOLS):
        raise DataError(f"unknown --set {subset!r}; choose one of {', '.join(SETS)}, {', '.join(POOLS)}")
    if debs is not None and (names is not None or subset not in POOLS):
        raise DataError("--debs is for --set photos or pool only (the other sets are bundled)")
    if debs is not None and not Path(debs).is_dir():
        raise DataError(f"--debs {debs}: {not_a_folder(Path(debs))}")
    if subset in POOLS and names is None:
        return WrittenSet(_build_pool(output, subset == "pool", debs, overwrite, progress), pool=True)
    # --names overrides --set; a name given twice is written once
    chosen = list(dict.fromkeys(n.strip() for n in names.split(",") if n.strip())) if names is not None \
        else list(SETS[subset])  # --names "" names none: an error below, not the whole set
    unknown = [n for n in chosen if n not in SAMPLES]
    if unknown or not chosen:
        raise DataError(f"unknown sample name(s) {', '.join(unknown) or '(none given)'}; "
                        f"available: {', '.join(SAMPLES)}")
    members = SETS.get(subset, SETS["train"] if subset == "pool" else ())
    if named_set and (outside := [n for n in chosen if n not in members]):  # a held-out photo in a training set
        raise DataError(f"--names {', '.join(outside)}: not in --set {subset} "
                        f"({'its samples: ' + ', '.join(members) if members else 'it holds no skimage sample'}); "
                        "drop --set to write any named sample")
    with removed_if_left_empty(output), holding_folder(output, "sample set"):  # two sets at once: one refused
        again = holds_only_samples(output, chosen)  # (under the lock: the other's files are there by now)
        prepare_output_dir(output, overwrite=overwrite, own=again, known=[f"{name}.png" for name in chosen])
        return WrittenSet(write_samples(output, chosen, overwrite=overwrite or again), pool=False)


def _build_pool(output: Path, whole: bool, debs: Path | str | None, overwrite: bool,
                progress: Callable[[int, int, str], None] | None) -> list[Path]:
    from data_tools.photos import build_photo_pool, build_training_pool, holds_only_an_earlier_pool

    build = build_training_pool if whole else build_photo_pool
    with removed_if_left_empty(output), holding_folder(output, "photo set"):  # (a bad --debs leaves no folder)
        # checked once the lock is held: a second build into the folder waits, then finds the first's photos
        prepare_output_dir(output, overwrite=overwrite, own=holds_only_an_earlier_pool(output, whole))
        return build(output, debs, progress)
