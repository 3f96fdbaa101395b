"""The photographic training pool: photos from Debian's wallpaper packages, downscaled so they are clean.

Wallpapers are large JPEGs with some compression and sensor noise; an area-filter downscale by 2-4x averages
both away and keeps real photographic texture (foliage, fur-like grass, stone, wood, water), which the few
photos in ``skimage.data`` cannot teach. Only photographs are listed (no illustrations, renders or abstract
art), each with its package, author and licence as the package's copyright file states them.

The packages are fetched with ``apt-get download`` (no installation, no root needed) and unpacked in Python
(a .deb is an ``ar`` archive holding ``data.tar.*``), so only ``apt-get`` is required; ``--debs DIR`` takes
already downloaded .deb files instead, on machines without apt.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import unquote

import cv2
import numpy as np

from data_tools import json_text
from data_tools.atomic_files import atomic_write_bytes, atomic_write_text
from data_tools.errors import DataError
from data_tools.file_digest import file_sha256
from data_tools.image_encode import encode_image
from data_tools.images import colour_channels, read_image
from data_tools.temp_files import claimed_folder, is_temp_file, temp_prefix
from data_tools.versions import installed_version

SOURCES_NAME = "sources.json"
TARGET_SIDE = 1280  # longest side after the downscale, at most; the factor is clamped to 2..4
MIN_FACTOR, MAX_FACTOR = 2, 4
MAX_PHOTO_BYTES = 128 * 2**20  # the packages' largest photo is a few MB


@dataclass(frozen=True)
class PhotoSource:
    name: str  # the output file's stem
    package: str  # Debian package holding it
    path: str  # path inside the package
    author: str
    licence: str  # as the package states it (its debian/copyright; a KDE wallpaper's own metadata.json)


_LOMIRI = "lomiri-wallpapers-16.04"
_BG = "usr/share/backgrounds"
_MATE = "usr/share/backgrounds/mate/nature"
_PLASMA = "plasma-workspace-wallpapers"
# each KDE wallpaper's metadata.json names its photographer and LGPLv3; Debian's copyright file covers the whole
# package with one line (KDE Visual Design Group, GPL-2+)
_PLASMA_LICENCE = "LGPL-3.0 (the wallpaper's metadata.json; Debian's copyright file: GPL-2+)"
_SAUKONPAA = "Risto Saukonpää"


def _plasma(name: str, author: str) -> PhotoSource:
    return PhotoSource(name.lower(), _PLASMA, f"usr/share/wallpapers/{name}/contents/images/2560x1600.jpg",
                       author, _PLASMA_LICENCE)


PHOTOS: tuple[PhotoSource, ...] = (
    PhotoSource("bridge", _LOMIRI, f"{_BG}/Bridge_by_Sander_Klootwijk.jpg", "Sander Klootwijk", "CC-BY-SA-4.0"),
    PhotoSource("dragonfly", _LOMIRI, f"{_BG}/Dragonfly_by_Bolly.jpg", "Bolly", "CC-BY-SA-4.0"),
    PhotoSource("fig", _LOMIRI, f"{_BG}/Picture_0B_by_freespace.jpg", "Trevor 'Freespace'", "CC-BY-4.0"),
    PhotoSource("brushes", _LOMIRI, f"{_BG}/Picture_1A_by_freespace.jpg", "Trevor 'Freespace'", "CC-BY-4.0"),
    PhotoSource("wine", _LOMIRI, f"{_BG}/Wine_by_Jakkub_Mede.jpg", "Jakub Mede", "CC-BY-4.0"),
    PhotoSource("aitzgorri", _LOMIRI, f"{_BG}/aitzgorri_by_Aitzol_Berasategi.jpg", "Aitzol Berasategi", "CC-BY-4.0"),
    PhotoSource("analogpattern", _LOMIRI, f"{_BG}/analogpattern_by_Peter_Nerlich.jpg", "Peter Nerlich",
                "CC-BY-SA-4.0"),
    PhotoSource("free", _LOMIRI, f"{_BG}/free_by_Peter_Nerlich.jpg", "Peter Nerlich", "CC-BY-SA-4.0"),
    PhotoSource("friends", _LOMIRI, f"{_BG}/friends_by_Aitzol_Berasategi.jpg", "Aitzol Berasategi", "CC-BY-4.0"),
    PhotoSource("greentock", _LOMIRI, f"{_BG}/greentock_by_Peter_Nerlich.jpg", "Peter Nerlich", "CC-BY-SA-4.0"),
    PhotoSource("life", _LOMIRI, f"{_BG}/life_by_Aitzol_Berasategi.jpg", "Aitzol Berasategi", "CC-BY-4.0"),
    PhotoSource("picosdeeuropa", _LOMIRI, f"{_BG}/picosdeeuropa_by_Aitzol_Berasategi.jpg", "Aitzol Berasategi",
                "CC-BY-4.0"),
    PhotoSource("seeding", _LOMIRI, f"{_BG}/seeding_by_Clements_Engelhardt.jpg", "Clemens Engelhardt", "CC0-1.0"),
    PhotoSource("sunset", _LOMIRI, f"{_BG}/sunset_by_Aitzol_Berasategi.jpg", "Aitzol Berasategi", "CC-BY-4.0"),
    PhotoSource("kleiber", "lomiri-wallpapers-20.04", f"{_BG}/Kleiber_by_Lukas_Baubkus.jpg", "Lukas Baubkus",
                "CC-BY-SA-3.0"),
    PhotoSource("aqua", "mate-backgrounds", f"{_MATE}/Aqua.jpg", "Charles Barbin", "GPL-2+"),
    PhotoSource("blinds", "mate-backgrounds", f"{_MATE}/Blinds.jpg", "Lennart Poettering, Andrea Cimitan", "GPL-2+"),
    PhotoSource("dune", "mate-backgrounds", f"{_MATE}/Dune.jpg", "Marco Cogoni, Hylke Bons", "GPL-2+"),
    PhotoSource("freshflower", "mate-backgrounds", f"{_MATE}/FreshFlower.jpg", "Jens Ansorg", "GPL-2+"),
    PhotoSource("garden", "mate-backgrounds", f"{_MATE}/Garden.jpg", "Charles Barbin", "GPL-2+"),
    PhotoSource("greenmeadow", "mate-backgrounds", f"{_MATE}/GreenMeadow.jpg", "Timothy Schellhase, Lapo Calamandrei",
                "GPL-2+"),
    PhotoSource("ladybird", "mate-backgrounds", f"{_MATE}/LadyBird.jpg", "Charles Barbin", "GPL-2+"),
    PhotoSource("raindrops", "mate-backgrounds", f"{_MATE}/RainDrops.jpg", "blackcombwhistler07", "GPL-2+"),
    PhotoSource("storm", "mate-backgrounds", f"{_MATE}/Storm.jpg", "Sergey Nazarov", "GPL-2+"),
    PhotoSource("twowings", "mate-backgrounds", f"{_MATE}/TwoWings.jpg", "Charles Barbin, Hylke Bons", "GPL-2+"),
    PhotoSource("wood", "mate-backgrounds", f"{_MATE}/Wood.jpg", "Jean-François Fortin Tam", "GPL-2+"),
    PhotoSource("yellowflower", "mate-backgrounds", f"{_MATE}/YellowFlower.jpg", "Charles Barbin", "GPL-2+"),
    *(_plasma(n, a) for n, a in (("BytheWater", "Maciej Wiklo"), ("ColdRipple", _SAUKONPAA),
                                 ("ColorfulCups", "Dmitri Popov"), ("DarkestHour", _SAUKONPAA),
                                 ("EveningGlow", "Ian Hex"), ("FallenLeaf", "Martin Klapetek"), ("Grey", "Sigi Sagi"),
                                 ("Kite", _SAUKONPAA), ("OneStandsOut", _SAUKONPAA), ("Path", _SAUKONPAA),
                                 ("summer_1am", _SAUKONPAA))),
)

PACKAGES: tuple[str, ...] = tuple(dict.fromkeys(p.package for p in PHOTOS))

ProgressFn = Callable[[int, int, str], None]


class PhotoPoolError(DataError, RuntimeError):
    """The pool cannot be built here (no apt-get, a package missing); the message says what is needed."""


def downscale_factor(height: int, width: int) -> int:
    """2-4x: enough to average JPEG blocks and sensor noise away, little enough to keep texture."""
    return min(MAX_FACTOR, max(MIN_FACTOR, math.ceil(max(height, width) / TARGET_SIDE)))


def area_downscale(pixels: np.ndarray, factor: int) -> np.ndarray:
    """Exact integer-factor box average (INTER_AREA), after cropping to a multiple of the factor."""
    h, w = pixels.shape[0] // factor * factor, pixels.shape[1] // factor * factor
    out = cv2.resize(np.ascontiguousarray(pixels[:h, :w]), (w // factor, h // factor), interpolation=cv2.INTER_AREA)
    return out.reshape(h // factor, w // factor, pixels.shape[2])


def download_packages(dest: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """`apt-get download` the packages into dest (no install); returns package -> .deb path."""
    if shutil.which("apt-get") is None:
        raise PhotoPoolError("building the photo pool needs Debian's apt-get to download the wallpaper packages "
                             f"({', '.join(packages)}); on another system download those .deb files and pass "
                             "their folder with --debs DIR")
    proc = subprocess.run(["apt-get", "download", *packages], cwd=dest, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise PhotoPoolError(f"apt-get download failed ({last}); run `apt-get update` first or pass --debs DIR")
    return find_debs(dest, packages)


def find_debs(folder: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """package -> its .deb in a folder (Debian names them PACKAGE_VERSION_ARCH.deb)."""
    found = {}
    for package in packages:
        matches = sorted(Path(folder).glob(f"{package}_*.deb"))
        if not matches:
            raise PhotoPoolError(f"{folder}: no {package}_*.deb; the photo pool needs {', '.join(packages)}")
        found[package] = matches[-1]
    return found


def read_deb_members(deb: Path, wanted: set[str]) -> dict[str, bytes]:
    """Files from a .deb's data archive, by path, without dpkg: an ar archive holding data.tar.{xz,gz,bz2}. A
    damaged file (a download cut short, a folder of that name) is a one-line PhotoPoolError."""
    try:
        data = deb.read_bytes()
    except OSError as exc:
        raise PhotoPoolError(f"{deb}: cannot read it ({exc.strerror or exc})") from None
    if not data.startswith(b"!<arch>\n"):
        raise PhotoPoolError(f"{deb}: not a Debian package (no ar header)")
    pos, payload = 8, None
    while pos + 60 <= len(data):
        header = data[pos:pos + 60]
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        size_text = header[48:58].decode("ascii", "replace").strip()
        if not (size_text.isascii() and size_text.isdigit()):  # (a negative size would loop here for ever)
            raise PhotoPoolError(f"{deb}: not a readable Debian package (a damaged archive header)")
        size = int(size_text)
        if name.startswith("data.tar"):
            payload = data[pos + 60:pos + 60 + size]
            break
        pos += 60 + size + (size % 2)
    if payload is None:
        raise PhotoPoolError(f"{deb}: no data.tar member")
    out: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(payload), mode="r:*") as tar:
            for member in tar:
                path = member.name.removeprefix("./")
                if path in wanted and member.isfile():
                    if member.size > MAX_PHOTO_BYTES:  # read whole into memory: a tiny package unpacks to any size
                        raise PhotoPoolError(f"{deb}: {path} unpacks to {member.size:,} bytes, more than any "
                                             f"wallpaper photo ({MAX_PHOTO_BYTES:,}); not the package this pool "
                                             "reads: download it again")
                    fh = tar.extractfile(member)
                    if fh is not None:
                        out[path] = fh.read()
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:  # (lzma/gzip/bz2 of a file cut short)
        raise PhotoPoolError(f"{deb}: cannot read its data archive, truncated or damaged ({exc}); download it "
                             "again") from None
    return out


def deb_version(deb: Path) -> str:
    """The package version a .deb's name holds (apt writes an epoch's colon as %3a there: 4:5.27.5-2)."""
    parts = deb.name.split("_")
    return unquote(parts[1]) if len(parts) >= 3 else "unknown"


PHOTOS_WHAT = "clean training photos from Debian wallpaper packages, area-downscaled 2-4x"
POOL_WHAT = PHOTOS_WHAT + "; plus the skimage.data training images (the held-out ones never)"


class _Manifest:
    """sources.json kept current while a pool is written: each image is listed, with the sha256 of the bytes
    about to be written, before its file is, so a build interrupted at any moment (and however often) leaves
    a folder ``holds_only_an_earlier_pool`` accepts; entries of an earlier build whose files still match are
    kept until rewritten."""

    def __init__(self, out_dir: Path, what: str) -> None:
        self.out_dir, self.what = out_dir, what
        self.entries = {e["name"]: e for e in _still_matching(out_dir) or []}

    def add(self, entry: dict, png: bytes) -> Path:
        target = self.out_dir / f"{entry['name']}.png"
        sha = hashlib.sha256(png).hexdigest()
        if target.is_file() and self.entries.get(entry["name"], {}).get("sha256") != sha:
            target.unlink()  # other bytes of an earlier build: gone before the new ones are listed
        self.entries[entry["name"]] = {**entry, "sha256": sha}
        self.write()
        atomic_write_bytes(target, png)
        return target

    def write(self) -> None:
        manifest = {"what": self.what, "images": [self.entries[k] for k in sorted(self.entries)]}
        atomic_write_text(self.out_dir / SOURCES_NAME, json.dumps(manifest, indent=2) + "\n")


def _still_matching(folder: Path) -> list[dict] | None:
    """The entries of a folder's sources.json whose files are there with the recorded sha256; None when it has
    no readable sources.json."""
    try:
        entries = json_text.loads((folder / SOURCES_NAME).read_text())["images"]
        return [e for e in entries if (folder / f"{e['name']}.png").is_file()
                and file_sha256(folder / f"{e['name']}.png") == e["sha256"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def build_training_pool(out_dir: Path | str, debs_dir: Path | str | None = None,
                        progress: ProgressFn | None = None) -> list[Path]:
    """The shipped model's whole clean pool: the wallpaper photos plus the ``skimage.data`` training images
    (never the held-out ones), all listed in sources.json."""
    from data_tools.samples import TRAIN_POOL, TRAINING_CREDITS, load_sample

    out_dir = Path(out_dir)
    written = build_photo_pool(out_dir, debs_dir, progress, what=POOL_WHAT)
    manifest = _Manifest(out_dir, POOL_WHAT)
    for name in TRAIN_POOL:
        credit = TRAINING_CREDITS[name]
        written.append(manifest.add({"name": name, "package": "scikit-image",
                                     "package_version": installed_version("scikit-image"),
                                     "path": credit.call, "author": credit.author, "licence": credit.licence},
                                    encode_image(load_sample(name), ".png")))
    return written


def build_photo_pool(out_dir: Path | str, debs_dir: Path | str | None = None,
                     progress: ProgressFn | None = None, what: str = PHOTOS_WHAT) -> list[Path]:
    """Write the pool's photos as PNG into out_dir, with sources.json (source, author, licence, factor, sha256)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = _Manifest(out_dir, what)
    # the packages (170 MB) download into a temp folder of this package's inside out_dir: one a killed build left
    # in the system's temp folder stayed there, and this one the next build into out_dir removes
    with tempfile.TemporaryDirectory(prefix=temp_prefix("debs"), suffix=".part", dir=out_dir) as tmp, \
            claimed_folder(Path(tmp)):
        debs = find_debs(Path(debs_dir)) if debs_dir is not None else download_packages(Path(tmp))
        written = []
        for package, deb in debs.items():
            mine = [p for p in PHOTOS if p.package == package]
            members = read_deb_members(deb, {p.path for p in mine})
            for photo in mine:
                if photo.path not in members:
                    raise PhotoPoolError(f"{deb}: {photo.path} is missing (another package version?)")
                try:
                    loaded = read_image_bytes(members[photo.path], photo.path)
                except PhotoPoolError as exc:  # inside a package: not a file of the user's own system
                    raise PhotoPoolError(f"{deb}: {exc}; download the package again") from None
                factor = downscale_factor(*loaded.shape[:2])
                pixels = area_downscale(loaded, factor)
                written.append(manifest.add({**asdict(photo), "package_version": deb_version(deb),
                                             "original_size": [int(loaded.shape[1]), int(loaded.shape[0])],
                                             "downscale": f"{factor}x area (cv2.INTER_AREA)",
                                             "size": [int(pixels.shape[1]), int(pixels.shape[0])]},
                                            encode_image(pixels, ".png")))
                if progress:
                    progress(len(written), len(PHOTOS), photo.name)
    manifest.write()
    return written


def holds_only_an_earlier_pool(folder: Path | str, whole_pool: bool = False) -> bool:
    """Whether a folder holds nothing but a build of this set there before (the photos, or with ``whole_pool``
    the photos and the skimage.data training images): its sources.json and the images it lists, each with the
    sha256 recorded (so a user's file of a photo's name is never taken for one), and none the set does not write
    (the photos built into a whole pool's folder would keep its skimage.data images under the photos' label)."""
    from data_tools.samples import TRAIN_POOL

    matching = _still_matching(Path(folder))
    if matching is None:  # no pool's manifest (or an unreadable one): not a pool
        return False
    names = {p.name for p in PHOTOS} | (set(TRAIN_POOL) if whole_pool else set())
    if any(e["name"] not in names for e in matching):
        return False
    listed = {f"{e['name']}.png" for e in matching}
    return all(path.name in listed for path in Path(folder).iterdir()
               if path.name != SOURCES_NAME and not is_temp_file(path.name))


def read_image_bytes(data: bytes, name: str) -> np.ndarray:
    """HxWxC uint8 pixels (alpha dropped) of an encoded image, through the project's reader."""
    with tempfile.NamedTemporaryFile(suffix=Path(name).suffix) as fh:
        fh.write(data)
        fh.flush()
        try:
            pixels = read_image(fh.name).pixels
        except DataError as exc:  # named by the temp file, which the user never saw
            raise PhotoPoolError(str(exc).replace(fh.name, name)) from None
    return colour_channels(pixels)
