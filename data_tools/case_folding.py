"""Whether a disk tells names apart by case (Linux's do; macOS', Windows' and exFAT ones do not), asked without
writing: two outputs named IMG_1.JPG and img_1.jpg are one file on such a disk."""

from __future__ import annotations

import itertools
import os
import unicodedata
from pathlib import Path


def folds_case(folder: Path) -> bool:
    """Whether names that differ only in case (or Unicode form) are one file where ``folder`` is (or would be made):
    macOS, Windows and exFAT disks. Asked of the nearest existing folder, on its own disk: is an entry of it (or,
    short of one with a cased name, the folder itself, unless a disk is mounted there) the same file under its
    name in the other case? Nothing is written."""
    place = next((p for p in (folder, *folder.absolute().parents) if p.is_dir()), None)
    while place is not None:
        try:
            with os.scandir(place) as entries:
                cased = next((e.name for e in itertools.islice(entries, 200) if e.name.swapcase() != e.name), None)
        except OSError:
            return False
        if cased is not None:
            return _same_file(place / cased, place / cased.swapcase())
        if place.name.swapcase() != place.name and not os.path.ismount(place):
            return _same_file(place, place.with_name(place.name.swapcase()))  # on the parent's disk, the same one
        place = None if os.path.ismount(place) or place.parent == place else place.parent
    return False


def _same_file(one: Path, other: Path) -> bool:
    try:
        return other.exists() and os.path.samefile(one, other)
    except OSError:
        return False


def name_on_disk(path: Path, folds: bool) -> Path:
    """The output's name as the disk tells names apart: IMG_1.JPG and img_1.jpg are one file where it folds case
    (lower case, not casefold: these disks keep ß and ss apart)."""
    return Path(unicodedata.normalize("NFC", str(path)).lower()) if folds else path
