"""Write the independent evaluation photos: sample images that other Python packages ship.

No training set of this project contains them (training uses `skimage.data` and Debian wallpapers only), so
they measure how the product does on photos it has never seen:

    python benchmarks/independent_photos.py -o indep/      # then: denoise-gan benchmark --clean indep/ ...

scikit-learn: china.jpg, flower.jpg; matplotlib: grace_hopper.jpg; PyWavelets: aero, ascent (gray). The
`bench` extra installs all three. A missing package is an error, not a smaller set: a mean over three photos
is not comparable with the README's mean over five (``--partial`` writes what is there, for a quick look).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from script_args import run_script

from data_tools.images import read_image, write_image
from data_tools.temp_files import is_temp_file


def _package_file(module: str, *parts: str) -> Path:
    return Path(importlib.import_module(module).__file__).parent.joinpath(*parts)


def _sklearn(name: str) -> np.ndarray:
    return read_image(_package_file("sklearn.datasets", "images", name)).pixels


def _matplotlib(name: str) -> np.ndarray:
    return read_image(_package_file("matplotlib", "mpl-data", "sample_data", name)).pixels


def _pywt(name: str) -> np.ndarray:
    data = importlib.import_module("pywt.data")
    return np.asarray(getattr(data, name)(), dtype=np.uint8)[..., None]


SOURCES: dict[str, Callable[[], np.ndarray]] = {
    "china": lambda: _sklearn("china.jpg"),
    "flower": lambda: _sklearn("flower.jpg"),
    "grace_hopper": lambda: _matplotlib("grace_hopper.jpg"),
    "aero": lambda: _pywt("aero"),
    "ascent": lambda: _pywt("ascent"),
}


def load_independent() -> tuple[dict[str, np.ndarray], dict[str, str], dict[str, str]]:
    """Every photo that loads, and for each other one why: its package is not installed, or it is installed and
    the photo could not be read (a broken install, which no extra fixes)."""
    found: dict[str, np.ndarray] = {}
    not_installed: dict[str, str] = {}
    unreadable: dict[str, str] = {}
    for name, load in SOURCES.items():
        try:
            found[name] = load()
        except ImportError as exc:
            not_installed[name] = str(exc)
        except (OSError, ValueError) as exc:
            unreadable[name] = str(exc)
    return found, not_installed, unreadable


def write_independent(out_dir: Path, partial: bool = False) -> list[str]:
    """Write the photos as OUT/NAME.png; returns the names written.

    Without ``partial`` a missing photo raises ``SystemExit`` before anything is written; with it, so does an
    empty set."""
    own = {f"{name}.png" for name in SOURCES}  # a rerun's: written again
    other = sorted(p.name for p in out_dir.iterdir() if p.name not in own and not is_temp_file(p.name)) \
        if out_dir.is_dir() else []
    if other:  # scored with the set, they would change what its mean is of
        raise SystemExit(f"error: {out_dir} holds other files ({', '.join(other[:3])}{', ...' if other[3:] else ''}),"
                         " which a benchmark of the folder would score with the independent photos; give a new or "
                         "empty folder")
    found, not_installed, unreadable = load_independent()
    problems = []
    if not_installed:
        problems.append(f"{', '.join(not_installed)}: {'; '.join(sorted(set(not_installed.values())))} "
                        "(pip install -e '.[bench]' installs their packages)")
    if unreadable:
        problems.append(f"{', '.join(unreadable)}: installed but unreadable "
                        f"({'; '.join(sorted(set(unreadable.values())))})")
    if problems and (not partial or not found):
        tail = "" if not found else "; --partial writes the rest"
        raise SystemExit(f"error: missing {' | '.join(problems)}{tail}")
    for name, why in {**not_installed, **unreadable}.items():
        print(f"skipped {name}: {why}")
    for name, pixels in found.items():
        write_image(out_dir / f"{name}.png", pixels)
    return list(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--partial", action="store_true",
                        help="write the photos that are there when a package is missing")
    args = parser.parse_args()
    names = write_independent(args.output, partial=args.partial)
    print(f"wrote {len(names)} image(s) to {args.output}: {', '.join(names)}")


if __name__ == "__main__":
    run_script(main)
