"""Whether a disk tells names apart by case (Linux's do; macOS', Windows' and exFAT ones do not), asked of its
entries (a disk with no cased name yet, of a hidden temp file): two outputs named IMG_1.JPG and img_1.jpg are
one file on such a disk."""

from __future__ import annotations

import itertools
import os
import unicodedata
from pathlib import Path

from data_tools.temp_files import probe_file


def folds_case(folder: Path) -> bool:
    """Whether names that differ only in case (or Unicode form) are one file where ``folder`` is (or would be made):
    macOS, Windows and exFAT disks. Asked of the nearest existing folder, on its own disk: does an entry of it
    (or, short of one with a cased name, the folder itself, unless a disk is mounted there) answer to its name in
    the other case? A disk with no cased name up to its mount point (an empty card) is asked of a hidden temp file
    made in the nearest folder, and removed."""
    place = first = next((p for p in (folder, *folder.absolute().parents) if p.is_dir()), None)
    while place is not None:
        names = _listing(place)
        cased = next((name for name in names if name.swapcase() != name), None)
        if cased is not None:
            return _one_entry(place, cased, names)
        if place.name.swapcase() != place.name and not os.path.ismount(place):  # on the parent's disk, the same one
            return _one_entry(place.parent, place.name, _listing(place.parent))
        place = None if os.path.ismount(place) or place.parent == place else place.parent
    return first is not None and _probe(first)


def _probe(folder: Path) -> bool:
    """Whether a new file's name answers in the other case: a disk with nothing to ask yet (taken for one that
    tells case apart, two outputs A.png and a.png were written to one file of an empty exFAT card)."""
    try:
        with probe_file(folder, "Case-probe") as made:
            return os.path.lexists(os.path.join(folder, os.path.basename(made).swapcase()))
    except OSError:  # a folder nothing can be written to: the run's own check says so
        return False


def _listing(folder: Path, most: int = 200) -> list[str]:
    try:
        with os.scandir(folder) as entries:
            return [entry.name for entry in itertools.islice(entries, most)]
    except OSError:
        return []


def _one_entry(folder: Path, name: str, names: list[str]) -> bool:
    """Whether ``name`` in the other case opens the same entry of ``folder``. Listed apart, they are two (a link
    beside its target, a hard link, a user's README and readme), which no case-folding disk can hold. The entry
    numbers alone do not tell: an exFAT or FAT disk through FUSE numbers each name it is asked for apart."""
    other = name.swapcase()
    if other in names:
        return False
    try:
        if entry_id(folder / other) == entry_id(folder / name):
            return True
    except OSError:  # no such entry: the disk tells the names apart
        return False
    try:  # it answers to the other name: the same entry unless the folder lists that name too (past the names read)
        return other not in os.listdir(folder)
    except OSError:
        return False


def entry_id(path: Path) -> tuple[int, int]:
    """The entry a name opens, the link itself for a link (not what it leads to)."""
    st = os.lstat(path)
    return st.st_dev, st.st_ino


def name_on_disk(path: Path, folds: bool) -> Path:
    """The output's name as the disk tells names apart: IMG_1.JPG and img_1.jpg are one file where it folds case
    (lower case, not casefold: these disks keep ß and ss apart)."""
    return Path(unicodedata.normalize("NFC", str(path)).lower()) if folds else path
