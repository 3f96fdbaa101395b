"""Whether an output's disk takes a name: FAT and exFAT (memory cards, USB sticks) and Windows shares refuse
: * ? " < > | \\ and control characters, which a Linux folder's photos may have. Asked before the work, so a photo
so named fails at once, with that reason, instead of after its denoising with "no such file" or "not permitted"."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from data_tools.temp_files import probe_file

# names made only of these are taken by every disk a user writes photos to: no probe is made for them
_TAKEN_EVERYWHERE = re.compile(r"[A-Za-z0-9 ._+,;=@#&'()\[\]{}~!$%^-]*\Z")
_REFUSED_BY_FAT = set(':*?"<>|\\') | {chr(code) for code in range(32)}


def refused_name(folder: Path, name: str) -> str:
    """Why the disk where ``folder`` is (or would be made) refuses a file named ``name``, or "" where it takes it:
    hidden temp files named with the name's unusual characters are made in the nearest existing folder and
    removed. A disk that takes no file there at all is not the name's fault: "" (the run's write check says why)."""
    unusual = "".join(dict.fromkeys(c for c in name if not _TAKEN_EVERYWHERE.match(c)))
    if not unusual:
        return ""
    place = next((p for p in (folder, *folder.absolute().parents) if p.is_dir()), None)
    if place is None or not _refuses(place, unusual):
        return ""
    odd = "".join(sorted(set(name) & _REFUSED_BY_FAT))
    which = f"the character(s) {odd!r}" if odd else "some of its characters"
    return (f"this disk does not take {which} in the name {name!r} (FAT and exFAT memory cards and Windows shares "
            "refuse : * ? \" < > | \\); rename the file or folder, or choose an -o on another disk")


def refused_names(folder: Path, names: Iterable[str]) -> str:
    """``refused_name`` of the first of ``names`` (a path's parts: the folders a file goes in, then its own) that
    the disk refuses, or ""."""
    return next((why for name in names if (why := refused_name(folder, name))), "")


# (disk, characters) -> refused: a folder of 2000 photos under "Straße" asked the disk 2000 times
_ASKED: dict[tuple[int, str], bool] = {}


def _refuses(place: Path, unusual: str) -> bool:
    """Whether the disk of ``place`` refuses a name holding the characters ``unusual``, asked once per disk."""
    try:
        key = (place.stat().st_dev, unusual)
    except OSError:
        return False
    if key not in _ASKED:
        if all(_makes(place, part) for part in _parts(unusual)):
            _ASKED[key] = False
        elif _makes(place, "name-check"):
            _ASKED[key] = True
        else:  # a folder that takes no file (read-only, full) says nothing of the disk's names: asked again later
            return False
    return _ASKED[key]


def _parts(characters: str, most: int = 100) -> list[str]:
    """``characters`` in runs of at most ``most`` bytes, each short enough for a temp file's name."""
    parts = [""]
    for c in characters:
        if len(os.fsencode(parts[-1] + c)) > most:
            parts.append("")
        parts[-1] += c
    return parts


def _makes(folder: Path, characters: str) -> bool:
    """Whether a temp file whose name holds ``characters`` (at most the 100 bytes a temp name keeps of them) can
    be made in ``folder``."""
    try:
        with probe_file(folder, characters):
            return True
    except (OSError, ValueError):  # ValueError: a NUL among them
        return False
