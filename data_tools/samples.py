"""Clean sample images bundled with scikit-image (no network), split once for the whole project.

The split is fixed so that the shipped model's held-out scores stay honest: HELD_OUT images are never
used in training; the training pool is itself split into two disjoint halves for the unpaired domains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import skimage.data as skd

from data_tools.errors import DataError
from data_tools.image_encode import encode_image
from data_tools.images import as_hwc, write_image
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


@dataclass(frozen=True)
class SampleCredit:
    """Where a training image comes from, as scikit-image's docstring of it says: the shipped weights' card
    credits each (checkpoints/TRAINING_DATA.md)."""

    call: str  # how scikit-image gives it
    author: str
    licence: str


_NO_RESTRICTIONS = "no known copyright restrictions (scikit-image's words)"
TRAINING_CREDITS: dict[str, SampleCredit] = {
    "rocket": SampleCredit("skimage.data.rocket()", "SpaceX", "public domain (released by SpaceX)"),
    "hubble": SampleCredit("skimage.data.hubble_deep_field()", "NASA", "public domain (NASA)"),
    "immunohistochemistry": SampleCredit("skimage.data.immunohistochemistry()",
                                         "Center for Microscopy And Molecular Imaging (CMMI)", _NO_RESTRICTIONS),
    "retina": SampleCredit("skimage.data.retina()", "Mikael Häggström (Wikimedia Commons)", "CC0-1.0"),
    "motorcycle": SampleCredit("skimage.data.stereo_motorcycle()[0]",
                               "Nera Nesic, Porter Westling, Xi Wang, York Kitajima, Greg Krathwohl, Daniel "
                               "Scharstein (Middlebury 2014 stereo benchmark)", "none stated by scikit-image"),
    "brick": SampleCredit("skimage.data.brick()", "CC0Textures (Bricks25)", "CC0-1.0"),
    "grass": SampleCredit("skimage.data.grass()", "linolafett (DeviantArt, Grass-01)", "CC0-1.0"),
    "gravel": SampleCredit("skimage.data.gravel()", "CC0Textures (Gravel04)", "CC0-1.0"),
    "clock": SampleCredit("skimage.data.clock()", "Stefan van der Walt", "public domain (released by the "
                          "photographer)"),
    "coins": SampleCredit("skimage.data.coins()", "Brooklyn Museum Collection", _NO_RESTRICTIONS),
    "page": SampleCredit("skimage.data.page()", "none stated by scikit-image", "none stated by scikit-image"),
    "text": SampleCredit("skimage.data.text()", "Wikipedia (File:Corner.png)", "public domain (scikit-image's "
                         "words)"),
    "cell": SampleCredit("skimage.data.cell()", "Paul Müller, Mirjam Schürmann, Salvatore Girardo, Gheorghe "
                         "Cojoc, Jochen Guck", "CC0-1.0"),
}
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
