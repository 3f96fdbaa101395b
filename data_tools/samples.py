"""Clean sample images bundled with scikit-image (no network), split once for the whole project.

The split is fixed so that the shipped model's held-out scores stay honest: HELD_OUT images are never
used in training; the training pool is itself split into two disjoint halves for the unpaired domains.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import skimage.data as skd

from data_tools.errors import DataError
from data_tools.images import as_hwc, encode_image, write_image
from data_tools.temp_files import is_temp_file


def _motorcycle() -> np.ndarray:
    return skd.stereo_motorcycle()[0]


SAMPLES: dict[str, Callable[[], np.ndarray]] = {
    # natural photographs, colour
    "astronaut": skd.astronaut, "chelsea": skd.chelsea, "coffee": skd.coffee, "rocket": skd.rocket,
    "hubble": skd.hubble_deep_field, "immunohistochemistry": skd.immunohistochemistry, "retina": skd.retina,
    "motorcycle": _motorcycle,
    # grayscale
    "camera": skd.camera, "moon": skd.moon, "brick": skd.brick, "grass": skd.grass, "gravel": skd.gravel,
    "clock": skd.clock, "coins": skd.coins, "page": skd.page, "text": skd.text, "cell": skd.cell,
}

HELD_OUT = ("astronaut", "chelsea", "coffee", "camera", "moon")
# Training uses only these; `train --noise` splits them into the two disjoint domains (datasets.split_halves).
TRAIN_POOL = tuple(name for name in SAMPLES if name not in HELD_OUT)
SETS: dict[str, tuple[str, ...]] = {"held-out": HELD_OUT, "train": TRAIN_POOL, "all": tuple(SAMPLES)}


def load_sample(name: str) -> np.ndarray:
    """An HxWxC uint8 sample image by name."""
    if name not in SAMPLES:
        raise DataError(f"unknown sample {name!r}; available: {', '.join(SAMPLES)}")
    img = np.asarray(SAMPLES[name]())
    return as_hwc(img)


def write_samples(folder: Path | str, names: str | tuple[str, ...] | list[str] = HELD_OUT,
                  overwrite: bool = True) -> list[Path]:
    """Write samples as PNG files into a folder (created), for the CLI, demos and tests. With
    ``overwrite=False`` a file of the same name is never replaced (OutputExistsError)."""
    if isinstance(names, str):  # a str is a sequence of one-letter names: "unknown sample 'a'"
        names = (names,)
    folder = Path(folder)
    paths = []
    for name in names:
        path = folder / f"{name}.png"
        write_image(path, load_sample(name), overwrite=overwrite)
        paths.append(path)
    return paths


def holds_only_samples(folder: Path | str, names: str | tuple[str, ...] | list[str]) -> bool:
    """Whether a folder exists and holds nothing but these samples, byte for byte as ``write_samples`` writes
    them (a set written there before, which writing again changes in nothing); a user's own file of a
    sample's name is not one."""
    folder = Path(folder)
    if not folder.is_dir():
        return False
    names = (names,) if isinstance(names, str) else names  # one name, not its letters
    wanted = {f"{name}.png": name for name in names}
    for path in folder.iterdir():
        if is_temp_file(path.name):
            continue
        name = wanted.get(path.name)
        if name is None or not path.is_file() or path.read_bytes() != encode_image(load_sample(name), ".png"):
            return False
    return True
