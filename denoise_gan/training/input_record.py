"""What a run read from its image folders (and model files), so that ``--resume`` says when they changed since
the run started.

A resumed run reads its folders again (the stored config names them, not their contents). An image added,
removed or replaced there changes what the rest of the run trains on, so it no longer continues the run that
started. Resuming is still allowed (the user may mean it), but never silently.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

from rich.console import Console

from data_tools import json_text
from data_tools.atomic_files import atomic_write_text
from data_tools.file_digest import file_sha256
from data_tools.images import collect_images
from denoise_gan.runtime import world_from_env
from denoise_gan.warning_line import say_warning_on

RECORD_FILE = "inputs.json"


def _stats(folder: str, exclude: Path) -> dict[str, tuple[Path, os.stat_result]]:
    """Each image's path relative to the folder (a model file the run reads, refine's F: its own name), with
    the file and its stat."""
    root = Path(folder)
    if root.is_file():
        return {root.name: (root, root.stat())}
    if not root.is_dir():
        return {}
    # with "/" on every system, so a run folder moved from Windows to Linux (or back) finds its images by name
    return {p.relative_to(root).as_posix(): (p, p.stat()) for p in collect_images(root, exclude=exclude) if p.exists()}


def _listing(folder: str, exclude: Path, read: Mapping[Path, bytes]) -> dict[str, list[int | str]]:
    """Each image's size in bytes, modification time (ns) and sha256: a file written again with the same bytes
    (`synth` run again) is the same image; one replaced by another of the same size has other bytes. A file the
    run has read already (``read``: adapt's start model) is hashed from those bytes, not read again."""
    stats = _stats(folder, exclude)
    return {name: [st.st_size, st.st_mtime_ns, hashlib.sha256(read[path]).hexdigest() if path in read
                   else file_sha256(path)] for name, (path, st) in stats.items()}


def _replaced(path: Path, st: os.stat_result, before: list) -> bool:
    """Whether the file differs from its record: same size and time is the same file (no reading); otherwise its
    bytes decide, where the record holds their sha256 (records from before it was kept: size and time only). An
    entry that is no such list (an edited record) vouches for nothing: the file counts as replaced."""
    if not isinstance(before, list):
        return True
    if [st.st_size, st.st_mtime_ns] == before[:2]:
        return False
    return len(before) < 3 or st.st_size != before[0] or file_sha256(path) != before[2]


def is_input_record(path: Path) -> bool:
    """Whether ``path`` holds a record ``record_inputs`` wrote (each option's folder and images)."""
    try:
        record = json_text.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and all(isinstance(v, dict) and {"folder", "images"} <= v.keys()
                                            for v in record.values())


def recorded_sha256(run_dir: Path, option: str) -> str | None:
    """The sha256 the record holds for the one file an option names (refine's "the run's F"), or None."""
    try:
        images = json_text.loads((run_dir / RECORD_FILE).read_text())[option]["images"]
        (entry,) = images.values()
        return str(entry[2])
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def recorded_photos_sha256(run_dir: Path) -> set[str]:
    """The sha256 of every image the record holds, of every option (empty where there is no readable record):
    what the run read, which a held-out folder must not hold."""
    try:
        record = json_text.loads((run_dir / RECORD_FILE).read_text())
    except (OSError, ValueError):
        return set()
    folders = record.values() if isinstance(record, dict) else []
    return {str(entry[2]) for folder in folders if isinstance(folder, dict)
            for entry in (folder.get("images") or {}).values() if isinstance(entry, list) and len(entry) > 2}


def record_inputs(run_dir: Path, folders: Mapping[str, str], read: Mapping[Path, bytes] | None = None) -> None:
    """Write what a new run's folders (``{"--clean": path, ...}``; empty paths skipped) hold as it starts."""
    listing = {option: {"folder": folder, "images": _listing(folder, run_dir, read or {})}
               for option, folder in folders.items() if folder}
    atomic_write_text(run_dir / RECORD_FILE, json.dumps(listing, indent=1) + "\n")


def changed_inputs(run_dir: Path, folders: Mapping[str, str]) -> list[str]:
    """One line per folder whose images differ from the record the run wrote as it started; one line saying so
    when that record is missing or unreadable (runs from before it was kept have none)."""
    try:
        recorded = json_text.loads((run_dir / RECORD_FILE).read_text())
    except (OSError, ValueError):
        recorded = None
    if not isinstance(recorded, dict):
        return [f"{run_dir / RECORD_FILE} is missing or unreadable: whether the run's image folders changed since "
                "it started cannot be checked"]
    lines = []
    for option, folder in folders.items():
        entry = recorded.get(option)
        before = entry.get("images") if folder and isinstance(entry, dict) else None
        if not isinstance(before, dict) or not Path(folder).exists():  # gone: the run's own check says so, once
            continue
        now = _stats(folder, run_dir)
        added = len(now.keys() - before.keys())
        removed = len(before.keys() - now.keys())
        changed = sum(_replaced(*now[k], before[k]) for k in now.keys() & before.keys())
        if Path(folder).is_file() and (added or removed or changed):
            lines.append(f"{option} {folder} changed since the run started: the rest of the run trains on it as it "
                         "is now")
        elif added or removed or changed:
            lines.append(f"{option} {folder} changed since the run started ({added} image(s) added, {removed} "
                         f"removed, {changed} replaced): the rest of the run trains on what it holds now")
    return lines


def note_inputs(run_dir: Path, folders: Mapping[str, str], resume: bool, console: Console,
                read: Mapping[Path, bytes] | None = None) -> None:
    """A new run records its folders (files it has ``read`` hashed from those bytes); a resumed one warns about
    each that changed. Main process only."""
    if not world_from_env().is_main:
        return
    if not resume:
        record_inputs(run_dir, folders, read)
        return
    for line in changed_inputs(run_dir, folders):
        say_warning_on(console, line)
