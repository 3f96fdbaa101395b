"""Write the independent evaluation photos: sample images that other Python packages ship.

No training set of this project contains them (training uses `skimage.data` and Debian wallpapers only), so
they measure how the product does on photos it has never seen. Only the packages installed here are used:

    python benchmarks/independent_photos.py -o indep/      # then: denoise-gan benchmark --clean indep/ ...

scikit-learn: china.jpg, flower.jpg; matplotlib: grace_hopper.jpg; PyWavelets: aero, ascent (gray).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from data_tools.images import read_image, write_image


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


def write_independent(out_dir: Path) -> list[str]:
    """Write every available image as OUT/NAME.png; returns the names written (missing packages are skipped)."""
    written = []
    for name, load in SOURCES.items():
        try:
            pixels = load()
        except (ImportError, OSError, ValueError) as exc:
            print(f"skipped {name}: {exc}")
            continue
        write_image(out_dir / f"{name}.png", pixels)
        written.append(name)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    names = write_independent(args.output)
    print(f"wrote {len(names)} image(s) to {args.output}: {', '.join(names)}")


if __name__ == "__main__":
    main()
