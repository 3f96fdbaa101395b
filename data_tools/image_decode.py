"""Decoding an image file's bytes: the header first (Pillow, or tifffile for TIFFs Pillow cannot open) so a
decompression bomb is refused before any pixel is allocated, then the pixels by OpenCV (which keeps 16-bit
colour), EXIF orientation applied and the ICC profile kept. A TIFF's samples are read by ``tiff_decode`` first;
``images.read_image`` is the public entry."""

from __future__ import annotations

import io
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image

from data_tools.channels import has_alpha
from data_tools.errors import CPU_OUT_OF_MEMORY, DataError
from data_tools.image_metadata import text_as_read
from data_tools.jpeg_check import is_cut_off, is_jpeg, scan_complaint
from data_tools.library_output import quiet_stderr, quiet_warnings
from data_tools.png_chunks import PNG_SIGNATURE, png_pixels_damaged

# the tags of a TIFF that are its EXIF: who made the photo and when (Make, Model, Orientation, DateTime, Artist,
# Copyright) and the Exif and GPS sub-IFDs; the rest describe the file (a writer's description and name, the
# resolution, which an output writes from the dpi it keeps) or are not carried over (XMP, IPTC, a scientific
# format's private tags)
_TIFF_EXIF_TAGS = frozenset({271, 272, 274, 306, 315, 33432, 34665, 34853})


class ImageReadError(DataError):
    """An input that cannot be used as an image; the message names the file."""


def is_tiff(data: bytes) -> bool:
    return data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


FLOAT_OVERSHOOT = 0.01  # how far past 0-1 a float image's samples may stray (a resampling's ringing) and be clipped


def samples_by_range(arr: np.ndarray, path: Path) -> tuple[np.ndarray, str]:
    """8/16-bit unsigned samples as they are; float samples in 0-1 as 16-bit (said in the note); anything
    whose true range a 16-bit file cannot hold, or that the file does not state, is refused."""
    if arr.dtype in (np.uint8, np.uint16):
        return arr, ""
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ImageReadError(f"{path}: float samples with NaN or infinite values")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < -FLOAT_OVERSHOOT or hi > 1.0 + FLOAT_OVERSHOOT:
            raise ImageReadError(f"{path}: float samples in {lo:g}..{hi:g}; only 0-1 floats are read "
                                 "(HDR or 0-255 floats would be clipped): convert it to 8/16-bit integers")
        pixels = np.rint(np.clip(arr.astype(np.float64), 0.0, 1.0) * 65535.0).astype(np.uint16)
        clipped = f", the few outside it ({lo:g}..{hi:g}) clipped" if lo < 0.0 or hi > 1.0 else ""
        return pixels, f"{arr.dtype} samples (0-1{clipped}) read as 16-bit"
    if not np.issubdtype(arr.dtype, np.integer):  # complex, bool, ...: no image a photo tool reads
        raise ImageReadError(f"{path}: {arr.dtype} samples, which are not an image's; convert it to 8/16-bit "
                             "unsigned integers")
    kind = "signed" if np.issubdtype(arr.dtype, np.signedinteger) else "unsigned"
    raise ImageReadError(f"{path}: {arr.dtype.itemsize * 8}-bit {kind} integer samples, whose "
                         "usable range the file does not state; convert it to 8/16-bit unsigned")


NARROW_16BIT = 4095  # the largest 12-bit sample: a 16-bit file whose colour stays under it likely holds 10-12 bits


def narrow_range_note(pixels: np.ndarray) -> str:
    """A 16-bit file is read on the 0-65535 scale; one that holds a 12-bit camera's or scanner's samples as
    they came (0-4095) is a sixteenth as bright there, its noise too, so a blind denoiser sees almost none, noise
    synthesised on the 0-255 scale is 16 times too strong, and a score's peak is 16 times too high."""
    if pixels.dtype != np.uint16:
        return ""
    colour = pixels[..., :-1] if pixels.ndim == 3 and has_alpha(pixels.shape[2]) else pixels  # alpha is no sample
    top = int(colour.max(initial=0))
    if not 0 < top <= NARROW_16BIT:
        return ""
    return (f"16-bit samples all at most {top} of 65535 (10-12-bit data stored as it came?): read on the full "
            "16-bit scale, where 12-bit data is nearly black, its noise reads 16x weaker, noise added to it is 16x "
            "stronger and its PSNR is 24 dB higher; "
            "scale such data to the full range first")


def joined_notes(*notes: str) -> str:
    """What a reader changed, each part said once, the empty ones left out."""
    return "; ".join(note for note in notes if note)


def open_header(data: bytes | BinaryIO) -> Image.Image | None:
    """Pillow's view of the file from its header alone (no pixels decoded), or None if Pillow cannot open it."""
    try:
        # Pillow's libtiff prints its complaints ("More samples per pixel than can be decoded") to stderr itself
        with quiet_warnings(), quiet_stderr() if isinstance(data, bytes) and is_tiff(data) else nullcontext():
            return Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)
    except MemoryError:
        raise  # a good file is not "not a readable image" for want of memory
    except Exception:  # a file claiming more pixels than Pillow opens too: ``claimed_size`` reads its size
        return None


def animation_frames(header: Image.Image | None) -> int:
    """Frames of an animated PNG, WebP or GIF (1 for a still image): the decoders return the first frame alone, so
    an animation would come back cut without a word. A JPEG's MPO preview images are not frames of it."""
    if header is None or header.format not in ("PNG", "WEBP", "GIF"):  # a GIF under an image extension
        return 1
    try:
        return int(getattr(header, "n_frames", 1)) if getattr(header, "is_animated", False) else 1
    except MemoryError:
        raise
    except Exception:
        return 1


def is_lossless_webp(data: bytes) -> bool:
    """Whether a WebP file holds a lossless (VP8L) image: its chunks are walked, since an extended file (VP8X,
    with EXIF or ICC) names its codec after them."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return False
    pos = 12
    while pos + 8 <= len(data):
        kind, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        if kind in (b"VP8L", b"VP8 "):
            return kind == b"VP8L"
        pos += 8 + size + (size & 1)
    return False


def metadata(data: bytes, page: int = 0) -> tuple[bytes | None, bytes | None, int]:
    """EXIF, ICC and EXIF orientation of the image on ``page`` (a TIFF's preview may come first); read only after
    the size check, since for some formats (PNG) Pillow decodes the whole image to find EXIF. Unreadable metadata
    is treated as absent, not as a broken image. Read from a view of the file of its own: that decode of a corrupt
    PNG leaves its view half-loaded, and a decoder given the same view would take the half-decoded pixels as the
    image."""
    header = open_header(data)
    if header is None:
        return None, None, 1
    try:
        header.seek(page)
    except MemoryError:
        raise
    except Exception:
        return None, None, 1  # a page Pillow cannot reach: none of the preview's metadata is the image's
    exif = header.info.get("exif")
    try:
        with quiet_warnings():
            tags = header.getexif()
            if exif is None:  # a PNG's eXIf chunk after its image data is in ``info`` only once getexif loaded it
                exif = header.info.get("exif")
            orientation = _recorded_orientation(header, exif)
            if exif is None and header.format == "TIFF":
                exif = _tiff_exif(tags)
    except MemoryError:
        raise  # a photo's orientation is not dropped for want of memory
    except Exception:
        orientation = 1
    return exif, header.info.get("icc_profile"), orientation


def _recorded_orientation(header: Image.Image, exif: bytes | None) -> object:
    """The orientation the file's EXIF (a TIFF's own tag) records. Pillow's getexif also takes one from XMP or a
    PNG's text chunk where the EXIF has none, which browsers and viewers do not: applied, the output came out
    turned against the picture the user saw."""
    if header.format == "TIFF":
        return header.tag_v2.get(0x0112, 1)
    if not exif:
        return 1
    recorded = Image.Exif()
    recorded.load(exif)
    return recorded.get(0x0112, 1)


def _bmp_bits(data: bytes) -> int:
    """Bits per pixel of a BMP with an info header (40 bytes or more), else 0."""
    if data[:2] != b"BM" or len(data) < 30 or int.from_bytes(data[14:18], "little") < 40:
        return 0
    return int.from_bytes(data[28:30], "little")


def _tiff_exif(tags: Image.Exif) -> bytes | None:
    """A TIFF keeps its EXIF in its own tags (Make, Model, the Exif and GPS sub-IFDs), not in a block Pillow
    hands over as ``info["exif"]``: the descriptive ones, as a block any output format can carry."""
    for tag in set(tags) - _TIFF_EXIF_TAGS:
        del tags[tag]
    text_as_read(tags)  # a photographer's name in UTF-8 kept, not written back as '?'
    return tags.tobytes() if len(tags) else None


def decode(data: bytes, header: Image.Image | None) -> tuple[np.ndarray | None, bool, str]:
    """Pixels, whether the decoder already applied the orientation (OpenCV does for TIFFs, whatever the flags;
    they reach here only when tifffile cannot decode them, e.g. compressed without imagecodecs; newer Pillow does
    for TIFFs too, and drops the tag), and a caution when libjpeg called the data corrupt but decoded it."""
    if data.startswith(PNG_SIGNATURE) and png_pixels_damaged(data):
        return None, False, ""  # corrupt: the fallback to Pillow below would decode it into garbage
    flags = cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION
    arr, said = _opencv_decoded(data, flags)
    ended = False
    if arr is None and is_jpeg(data) and not data.endswith(JPEG_END) and header is not None \
            and not header.info.get("progressive"):
        # whole but for its end marker (a writer that stopped short of it): OpenCV's imdecode refuses what libjpeg
        # reads whole, and reads it so once the marker is added. Any word from libjpeg then means data is missing
        # (a scan cut off, at a restart marker too), and the file stays refused; a progressive file cut in a later
        # scan decodes blurred without a word, so it is not tried
        data, ended = data + JPEG_END, True
        arr, said = _opencv_decoded(data, flags)
    complaint = scan_complaint(data, said(), lambda other: _libjpeg_says(other, flags)) \
        if arr is not None and is_jpeg(data) else ""
    if is_cut_off(complaint) or (ended and complaint):
        return None, False, ""  # libjpeg filled the missing part with gray and said only this (Pillow does the same)
    caution = f"libjpeg reports corrupt data ({complaint}): parts of the image may be garbled" if complaint else ""
    arr, rotated = _pixels(arr, data, header)
    return arr, rotated, caution


JPEG_END = b"\xff\xd9"  # the EOI marker


def _opencv_decoded(data: bytes, flags: int) -> tuple[np.ndarray | None, Callable[[], str]]:
    """OpenCV's pixels (None where it refuses the data), and what libjpeg said on stderr meanwhile."""
    try:
        with quiet_stderr() as said:
            arr = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error as exc:
        if any(words in str(exc) for words in CPU_OUT_OF_MEMORY):  # not the file's fault: said as memory
            raise MemoryError(f"decoding the image: {str(exc).strip().splitlines()[-1]}") from None
        arr = None
    return arr, said


def _pixels(arr: np.ndarray | None, data: bytes, header: Image.Image | None) -> tuple[np.ndarray | None, bool]:
    """OpenCV's pixels where it reads the file right, Pillow's otherwise, in RGB(A) order as HxWxC."""
    rotated = arr is not None and is_tiff(data)
    if arr is not None and arr.ndim == 3 and arr.shape[2] == 4 and _png_colour_type(data) == 4:
        return arr[..., [0, 3]], False  # gray+alpha PNG: OpenCV expands it to BGRA (Pillow reads 16-bit as 8)
    if arr is not None and header is not None and (header.mode == "CMYK" or header.format != "TIFF"
                                                   and header.mode in ("P", "PA", "LA", "1", "I", "F", "YCbCr")
                                                   or header.format == "TIFF" and header.tell()
                                                   or _bmp_bits(data) == 16):
        arr = None  # OpenCV expands these inconsistently (a CMYK TIFF to BGRA with a made-up alpha, a 16-bit
        # BMP's 5-bit levels by a shift, so white is 248); Pillow's conversions are well defined. And OpenCV
        # reads only a TIFF's first page, maybe a preview.
    if arr is None:
        arr = _decode_with_pillow(header) if header is not None else None
        rotated = arr is not None and header.format == "TIFF" and 0x0112 not in header.tag_v2
    else:
        arr = bgr_to_rgb(arr)
    if arr is None:
        return None, False
    if arr.dtype not in (np.uint8, np.uint16) and not is_tiff(data) and np.issubdtype(arr.dtype, np.integer) \
            and arr.size and arr.min() >= 0 and arr.max() <= 65535:
        arr = arr.astype(np.uint16)  # Pillow's 32-bit "I" mode holding a 16-bit file's values
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.shape[2] == 1 and _png_colour_type(data) == 0:
        arr = _gray_key_as_alpha(arr, data)
    return arr, rotated


def _gray_key_as_alpha(gray: np.ndarray, data: bytes) -> np.ndarray:
    """A gray PNG's transparent value (its tRNS chunk) as an alpha channel, which the decoders drop for gray
    while they expand it for RGB; the key is scaled as a 1/2/4-bit image's samples are to 8 bits."""
    key = _png_chunk(data, b"tRNS")
    if key is None or len(key) < 2:
        return gray
    depth = data[24]
    value = int.from_bytes(key[:2], "big") & ((1 << depth) - 1)
    if depth < 8:
        value = value * 255 // ((1 << depth) - 1)
    return key_as_alpha(gray, np.array([value]))


def key_as_alpha(pixels: np.ndarray, key: np.ndarray) -> np.ndarray:
    """An HxWxC image whose pixels of colour ``key`` (C values) are transparent, with that as an alpha channel."""
    peak = np.iinfo(pixels.dtype).max if np.issubdtype(pixels.dtype, np.integer) else 1
    alpha = np.where((pixels == key).all(axis=-1), 0, peak).astype(pixels.dtype)
    return np.dstack([pixels, alpha])


def _png_chunk(data: bytes, kind: bytes) -> bytes | None:
    """The data of a PNG's first chunk of ``kind`` before the image data, or None."""
    at = 8
    while at + 8 <= len(data):
        length, name = int.from_bytes(data[at:at + 4], "big"), data[at + 4:at + 8]
        if name == kind:
            return data[at + 8:at + 8 + length]
        if name in (b"IDAT", b"IEND"):
            return None
        at += 12 + length
    return None


def _png_colour_type(data: bytes) -> int | None:
    """The PNG IHDR colour type (0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA), or None for other files."""
    if data[:8] != PNG_SIGNATURE or len(data) < 26 or data[12:16] != b"IHDR":
        return None
    return data[25]


def _libjpeg_says(data: bytes, flags: int) -> str:
    """What libjpeg prints while OpenCV decodes ``data`` (the pixels are not needed)."""
    try:
        with quiet_stderr() as said:
            cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error:
        pass
    return said()


def _decode_with_pillow(header: Image.Image) -> np.ndarray | None:
    try:
        with quiet_warnings():
            img = header
            img.load()
            if img.mode in ("I;16", "I;16B", "I;16L"):
                return np.asarray(img, dtype=np.uint16)
            if img.mode in ("I", "F"):
                return np.asarray(img)
            keep_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
            gray = img.mode in ("L", "LA", "1")
            target = ("LA" if keep_alpha else "L") if gray else ("RGBA" if keep_alpha else "RGB")
            return np.asarray(img.convert(target))
    except MemoryError:
        raise  # a good file on a full machine is not "truncated or corrupt": training skipped such photos
    except Exception:
        return None


def as_hwc(pixels: np.ndarray) -> np.ndarray:
    """An HxW image as HxWx1; an HxWxC image as it is."""
    return pixels[..., None] if pixels.ndim == 2 else pixels


def bgr_to_rgb(arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[2] == 3:
        return arr[..., ::-1]
    if arr.ndim == 3 and arr.shape[2] == 4:
        return arr[..., [2, 1, 0, 3]]
    return arr


def apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    ops = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
           7: lambda a: a[::-1, ::-1].transpose(1, 0, 2), 8: lambda a: np.rot90(a, 1)}
    return ops[orientation](pixels) if orientation in ops else pixels

