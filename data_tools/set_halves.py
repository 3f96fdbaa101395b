"""Where a synth set's images are: a folder whose manifest lists noisy images, and its clean/ and noisy/ halves;
what reads and what writes folders both ask, so this knows nothing of either."""

from __future__ import annotations

from pathlib import Path

from data_tools import json_text
from data_tools.paths import real_path

MANIFEST_NAME = "manifest.json"
SET_FOLDERS = ("clean", "noisy")  # a set's two image folders, under its output folder


def halves_of(folder: Path | str) -> tuple[Path, Path]:
    """A paired set's clean/ and noisy/: synth's layout, and that of a folder of one's own pairs."""
    return Path(folder) / SET_FOLDERS[0], Path(folder) / SET_FOLDERS[1]


def holds_both_halves(folder: Path | str) -> bool:
    return all(half.is_dir() for half in halves_of(folder))


def set_half_holding(folder: Path | str) -> tuple[Path, str] | None:
    """The synth set and the half of it (clean or noisy) that ``folder`` is or lies in, or None: what is written
    there would be read as the set's images."""
    real = real_path(folder)
    for half in (real, *real.parents):
        if half.name in SET_FOLDERS and synth_sets_under(half.parent, deep=False):
            return half.parent, half.name
    return None


def synth_sets_under(folder: Path, deep: bool = True) -> list[Path]:
    """Synth sets (a folder with a manifest that lists noisy images) under ``folder``, itself included (only it,
    without ``deep``); not in a hidden folder, which no command reads photos from."""
    found = []
    for manifest in sorted(folder.rglob(MANIFEST_NAME) if deep else folder.glob(MANIFEST_NAME)):
        if any(part.startswith(".") for part in manifest.relative_to(folder).parts[:-1]):
            continue
        try:
            data = json_text.loads(manifest.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and "noise" in data and "images" in data:
            found.append(manifest.parent)
    return found
