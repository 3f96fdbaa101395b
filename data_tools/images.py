"""Reading and writing images as users have them: bit depth, channels, alpha, EXIF and ICC kept.

Pixels are decoded from bytes, so any path works: a TIFF's by tifffile (``tiff_decode``), others by OpenCV (it
keeps 16-bit colour, which Pillow flattens to 8-bit; Pillow where OpenCV misreads one, ``image_decode``); Pillow
reads the header first (tifffile for TIFFs Pillow cannot open, such as float RGB) to refuse decompression
bombs before any pixel is allocated, then EXIF orientation and the ICC profile. Files are written whole or not at
all, encoded by ``image_encode``. Arrays are always HxWxC in RGB(A) order.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
from PIL import Image, PngImagePlugin

from data_tools.atomic_files import atomic_write_bytes
from data_tools.case_folding import folds_case, name_on_disk
from data_tools.channels import has_alpha
from data_tools.claimed_size import claimed_size
from data_tools.image_decode import (
    ImageReadError,
    animation_frames,
    apply_orientation,
    as_hwc,
    decode,
    is_lossless_webp,
    is_tiff,
    joined_notes,
    metadata,
    narrow_range_note,
    open_header,
    samples_by_range,
)
from data_tools.image_encode import DEFAULT_QUALITY, JPEG_SUFFIXES, encode_image
from data_tools.image_metadata import (
    file_resolution,
    profile_unkept,
)
from data_tools.paths import real_path
from data_tools.png_chunks import PNG_SIGNATURE, png_without_large_chunks
from data_tools.tiff_decode import decode_tiff, tiff_size

IMAGE_EXTENSIONS = (".png", *JPEG_SUFFIXES, ".tif", ".tiff", ".webp", ".bmp")
MAX_PIXELS = 200_000_000  # 200 MP: far above any camera file, far below a bomb's claim
PILLOWS_OWN_LIMIT = 1024 * 1024 * 1024 // 4 // 3  # Image.MAX_IMAGE_PIXELS as Pillow sets it

# Pillow refuses an image over twice its MAX_IMAGE_PIXELS (179 MP as it ships), at opening and again as a TIFF's
# pixels load, in its own words, where ours (above) names the file. Where it is still Pillow's own, it is raised
# just far enough that ours is met first, once for the whole process, never lowered or turned off (turned off, an
# app embedding the API lost the check for every image its own code opened; turned off and on around each read,
# other threads met it off and a TIFF's load met it on). An app's own stricter limit, set before, is kept. A file
# claiming more than both is sized from its header bytes (``claimed_size``), with Pillow's check left as it is.
if Image.MAX_IMAGE_PIXELS == PILLOWS_OWN_LIMIT and 2 * Image.MAX_IMAGE_PIXELS < MAX_PIXELS:
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS // 2


@dataclass(frozen=True)
class LoadedImage:
    pixels: np.ndarray  # HxWxC, C in {1, 2, 3, 4}, uint8 or uint16, RGB(A) order, orientation applied
    exif: bytes | None = None
    icc: bytes | None = None
    note: str = ""  # what the reader changed that a user should be told (float samples stored as 16-bit)
    caution: str = ""  # what makes the pixels themselves doubtful (damaged data, 12-bit values in a 16-bit file):
    # every command that uses them says it, where ``note`` concerns the output files that denoise writes
    lossless: bool = False  # a lossless WebP: its output is written lossless too
    dpi: tuple[float, float] | None = None  # the resolution the file records (x, y as stored upright), if any


def collect_images(folder: Path | str, recursive: bool = True, exclude: Path | str | None = None) -> list[Path]:
    """Image files under a folder, sorted, by extension (hidden files and folders below it skipped: a
    ``.thumbnails`` or ``.git`` folder holds no photos to take).

    Files under ``exclude`` (a command's output folder inside its input) are left out, so a rerun never takes
    its own outputs as inputs; an ``exclude`` that is the folder itself or holds it excludes nothing. A broken
    symbolic link is listed, so its reader reports it by name instead of it vanishing.
    """
    return collect_images_and_excluded(folder, recursive, exclude)[0]


def collect_images_and_excluded(folder: Path | str, recursive: bool = True, exclude: Path | str | None = None,
                                folds: bool | None = None) -> tuple[list[Path], list[Path]]:
    """``collect_images``, and the images it left out for being under ``exclude`` (so a caller can say so): by name
    as the disk tells names apart, so `-o CARD/dn` for `card/dn` on a card that folds case is the output folder,
    not a folder of input photos (a rerun read its outputs as photos to write over, and refused). ``folds``:
    whether that disk folds case, where the caller has asked it already (``folds_case``)."""
    pattern, depth = "**/*" if recursive else "*", len(Path(folder).parts)  # below it: the parts after depth
    found = sorted(
        p for p in Path(folder).glob(pattern)
        if (p.is_file() or (p.is_symlink() and not p.exists()))
        and p.suffix.lower() in IMAGE_EXTENSIONS
        and not any(part.startswith(".") for part in p.parts[depth:])
    )
    if exclude is None:
        return found, []
    folds = folds_case(Path(exclude)) if folds is None else folds
    skip = name_on_disk(real_path(exclude), folds)
    if name_on_disk(real_path(folder), folds).is_relative_to(skip):
        return found, []
    under = [name_on_disk(real_path(p), folds).is_relative_to(skip) for p in found]  # (a link loop too)
    return [p for p, u in zip(found, under) if not u], [p for p, u in zip(found, under) if u]


# ---- pixel helpers -------------------------------------------------------------------------------

def split_alpha(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Colour channels and the alpha channel (None when there is none) of an HxW or HxWxC image."""
    if image.ndim == 3 and has_alpha(image.shape[2]):
        return image[..., :-1], image[..., -1:]
    return image, None


def colour_channels(pixels: np.ndarray) -> np.ndarray:
    """The HxWxC colour channels of an HxW or HxWxC image, alpha dropped."""
    return split_alpha(as_hwc(pixels))[0]


def to_255(pixels: np.ndarray) -> np.ndarray:
    """The colour channels (HxWxC, alpha dropped) as float32 on the 0-255 scale, whatever the bit depth."""
    colour = colour_channels(pixels)
    return colour.astype(np.float32) * np.float32(255.0 / np.iinfo(colour.dtype).max)


LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma weights of R, G, B


def haar_quads(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The four pixels of every 2x2 block (top-left, top-right, bottom-left, bottom-right; an odd last row or
    column dropped): what the finest Haar bands are made of."""
    h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
    return x[0:h:2, 0:w:2], x[0:h:2, 1:w:2], x[1:h:2, 0:w:2], x[1:h:2, 1:w:2]


def to_dtype(x: np.ndarray, dtype: npt.DTypeLike) -> np.ndarray:
    """Round (not truncate) and clip a float image into an integer dtype, as a file would store it."""
    info = np.iinfo(dtype)
    return np.clip(np.rint(x), info.min, info.max).astype(dtype)


def center_crop(pixels: np.ndarray, size: int, allow_smaller: bool = False) -> np.ndarray:
    """The central ``size`` x ``size`` window. An image smaller than that is an error, not padded; with
    ``allow_smaller`` a side shorter than ``size`` is kept whole instead."""
    h, w = pixels.shape[:2]
    if (h < size or w < size) and not allow_smaller:
        raise ValueError(f"{w}x{h} is smaller than the {size}x{size} crop")
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return np.ascontiguousarray(pixels[top:top + size, left:left + size])


# ---- reading -------------------------------------------------------------------------------------

def read_image(path: Path | str, max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """Decode a file into a LoadedImage or raise ImageReadError with a one-line reason."""
    path = Path(path)
    data = _image_bytes(path)
    header = open_header(data)
    dropped: list[str] = []
    if header is None:  # a metadata chunk past Pillow's limit fails the whole PNG: read it without the chunk
        data, dropped = png_without_large_chunks(data, PngImagePlugin.MAX_TEXT_CHUNK)
        header = open_header(data) if dropped else None
    size = tiff_size(data, header) or (header.size if header is not None else claimed_size(data))
    if size is None:
        raise ImageReadError(f"{path}: not a readable image file")
    width, height = size
    if width * height > max_pixels:
        raise ImageReadError(f"{path}: {width}x{height} pixels is over the {max_pixels // 1_000_000} MP limit "
                             "(refused before decoding; cut it into parts under the limit to read it)")
    frames = animation_frames(header)
    if frames > 1:
        raise ImageReadError(f"{path}: an animation with {frames} frames (only still images are read; "
                             "extract the frames, e.g. with ffmpeg, to keep every one)")
    exif, icc, orientation = metadata(data, header.tell() if header is not None else 0)  # tiff_size's page
    recorded, note, damaged = orientation, "", ""  # the file's orientation, whichever decoder applies it
    tiff = decode_tiff(data, path, header) if is_tiff(data) else None
    if tiff is not None:
        pixels, orientation, note = tiff
        recorded = orientation if orientation != 1 else recorded
    else:
        pixels, rotated, damaged = decode(data, header)
        orientation = 1 if rotated else orientation
    if pixels is None:
        raise ImageReadError(f"{path}: truncated or corrupt image data")
    if pixels.dtype not in (np.uint8, np.uint16):
        pixels, note = samples_by_range(pixels, path)
    pixels = apply_orientation(pixels, orientation)
    if dropped:
        note = joined_notes(note, f"{' and '.join(sorted(set(dropped)))} chunk dropped: it inflates past Pillow's "
                                  f"{PngImagePlugin.MAX_TEXT_CHUNK // 2**20} MB limit")
    dpi = file_resolution(header, turned=recorded in (5, 6, 7, 8))  # the file's x and y are its stored axes
    if header is not None and header.mode == "1":  # a scan's black and white: the output has gray levels
        note = joined_notes(note, "1-bit (black and white) read as 8-bit gray")
    unkept = profile_unkept(icc) if icc else ""  # judged once: it may parse the profile with LittleCMS
    if unkept:
        note = joined_notes(note, f"ICC profile dropped ({unkept})")
    return LoadedImage(np.ascontiguousarray(pixels), exif=exif, icc=icc if icc and not unkept else None, note=note,
                       caution=joined_notes(damaged, narrow_range_note(pixels)), lossless=is_lossless_webp(data),
                       dpi=dpi)


def _regular_file(path: Path) -> BinaryIO:
    """The file opened for reading, refused unless it is a regular file: a pipe put where a listed image was (a
    set's manifest names it, or it replaced a planned input) blocked the read for ever, waiting for a writer.
    Opened without waiting (but for a lease's holder to let go), then read as usual from that same descriptor."""
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0)  # Windows reads text otherwise: a PNG ends at its Ctrl-Z byte
    try:
        fd = os.open(path, flags | getattr(os, "O_NONBLOCK", 0))
    except BlockingIOError:  # a regular file another program holds a lease on (Samba, NFS): wait for it, as before
        fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ImageReadError(f"{path}: is a folder, not an image file")
        if not stat.S_ISREG(mode):
            raise ImageReadError(f"{path}: not a regular file (a pipe, socket or device); no image is read from one")
        if hasattr(os, "O_NONBLOCK"):  # (Windows has no such flag, and its set_blocking takes only pipes)
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _image_bytes(path: Path) -> bytes:
    """The file's bytes, once its first bytes show an image format (Pillow's signatures, or a TIFF's), so a
    huge file that is not an image (a video named .png) is refused at once instead of read whole."""
    try:
        with _regular_file(path) as fh:
            head = fh.read(64 << 10)  # (a JPEG's frame header comes after its EXIF)
            fh.seek(0)
            known = (is_tiff(head) or head[:8] == PNG_SIGNATURE or claimed_size(head) is not None
                     or bool(head) and open_header(fh) is not None)
            fh.seek(0)
            data = fh.read() if known else head
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not data:
        raise ImageReadError(f"{path}: empty file")
    if not known:
        raise ImageReadError(f"{path}: not a readable image file")
    return data


def write_image(path: Path | str, pixels: np.ndarray, quality: int = DEFAULT_QUALITY, exif: bytes | None = None,
                icc: bytes | None = None, overwrite: bool = True, lossless: bool = False,
                dpi: tuple[float, float] | None = None) -> None:
    """Encode by the path's suffix and write atomically (``atomic_write_bytes``: ``overwrite=False`` never
    replaces a file that appeared meanwhile)."""
    path = Path(path)
    atomic_write_bytes(path, encode_image(pixels, path.suffix, quality=quality, exif=exif, icc=icc,
                                          lossless=lossless, dpi=dpi), overwrite)
