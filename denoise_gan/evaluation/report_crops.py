"""The benchmark's zoomed crops: for every method the same window of an image (the most textured CROP² window of
the clean image, chosen deterministically), enlarged ×ZOOM by pixel repetition, so what a viewer sees is the
method's pixels, not a resampler's. Each is a PNG under crops/, named by a collision-free slug of its labels."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from data_tools.atomic_files import atomic_write_bytes
from data_tools.image_encode import encode_image
from data_tools.images import colour_channels, to_dtype

CROP = 128
ZOOM = 2
CROP_STEP = 8  # candidate windows start on this grid: fine enough to find texture, cheap on big images
MAX_CROP_IMAGES = 12  # per noise condition; the tables still list every image
CROPS_DIR = "crops"


def _channel_mean(pixels: np.ndarray) -> np.ndarray:
    return colour_channels(pixels).astype(np.float64).mean(axis=2)


def crop_window(clean: np.ndarray, size: int = CROP) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the size² window with the most gradient energy in the clean image.

    Texture is where denoisers differ (flat areas all look fine), and the clean image decides, so the window
    is the same for every method and noise level. Ties go to the top-left-most window.
    """
    brightness = _channel_mean(clean)
    h, w = brightness.shape
    ch, cw = min(size, h), min(size, w)
    energy = np.zeros_like(brightness)
    energy[:, 1:] += np.abs(np.diff(brightness, axis=1))
    energy[1:, :] += np.abs(np.diff(brightness, axis=0))
    integral = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    tops = np.unique(np.r_[np.arange(0, h - ch + 1, CROP_STEP), h - ch])
    lefts = np.unique(np.r_[np.arange(0, w - cw + 1, CROP_STEP), w - cw])
    t, l_ = np.meshgrid(tops, lefts, indexing="ij")
    sums = integral[t + ch, l_ + cw] - integral[t, l_ + cw] - integral[t + ch, l_] + integral[t, l_]
    best = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(tops[best[0]]), int(lefts[best[1]]), ch, cw


SAFE_NAME = re.compile(r"[A-Za-z0-9=,+@.-]+")  # file-name safe on every platform, and in a URL after quoting


HASHED_END = re.compile(r"-[0-9a-f]{8}$")  # how every hashed slug ends: no plain one may


def slug(text: str) -> str:
    """A readable file name for a label: ``gaussian:sigma=25`` -> ``gaussian_sigma=25``, ``astronaut.png`` ->
    ``astronaut.png``, ``model`` -> ``model``.

    Collision-free: a label of safe characters and ``:`` (written ``_``) maps one to one; any other (``_``, ``|``,
    ``/``, spaces, a leading dot, over 60 characters, or one that ends as a hashed name does: ``x-79340245``)
    keeps a readable part and adds 8 hex of its SHA-1.
    """
    plain = text.replace(":", "_")
    if (text and len(text) <= 60 and not text.startswith(".") and SAFE_NAME.fullmatch(text.replace(":", ""))
            and not HASHED_END.search(text)):
        return plain
    readable = re.sub(r"[^A-Za-z0-9=,+@.-]+", "_", text).strip("_.")[:40] or "x"
    return f"{readable}-{_sha1_hex(text)}"


def _sha1_hex(text: str) -> str:
    """8 hex of the text's SHA-1; a name that is not UTF-8 hashes as its own bytes."""
    return hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()[:8]


def legacy_slug(text: str) -> str:
    """The hashed names of earlier versions, so a resumed benchmark's reused crops are still found."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:40] or "x"
    return f"{readable}-{_sha1_hex(text)}"


def crop_relpath(noise: str, image: str, method: str, name: Callable[[str], str] = slug) -> str:
    """Where a crop lives, relative to the output folder (posix, as written in the HTML):
    ``crops/gaussian_sigma=25/astronaut.png/bm3d.png``."""
    return f"{CROPS_DIR}/{name(noise)}/{name(image)}/{name(method)}.png"


def crop_png(pixels: np.ndarray, window: tuple[int, int, int, int], zoom: int = ZOOM) -> bytes:
    """The window of an image as an 8-bit PNG (alpha dropped, 16-bit rounded), enlarged by pixel repetition."""
    top, left, h, w = window
    part = colour_channels(pixels)[top:top + h, left:left + w]
    if part.dtype != np.uint8:
        part = to_dtype(part / 257.0, np.uint8)
    part = part.repeat(zoom, axis=0).repeat(zoom, axis=1)
    return encode_image(np.ascontiguousarray(part), ".png")


def has_crop(out_dir: Path, noise: str, image: str, method: str) -> bool:
    """Whether a row's crop is on disk, under today's name or an earlier version's: a reused row without one
    is computed again, as the report would otherwise show "crop missing"."""
    return any((Path(out_dir) / crop_relpath(noise, image, method, name)).is_file() for name in (slug, legacy_slug))


def save_crop(out_dir: Path, noise: str, image: str, method: str, pixels: np.ndarray,
              window: tuple[int, int, int, int]) -> None:
    atomic_write_bytes(Path(out_dir) / crop_relpath(noise, image, method), crop_png(pixels, window))
