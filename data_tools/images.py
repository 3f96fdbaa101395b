"""Reading and writing images as users have them: bit depth, channels, alpha, EXIF and ICC kept.

Pixels are decoded by OpenCV (it keeps 16-bit colour, which Pillow flattens to 8-bit) from bytes,
so any path works; Pillow reads the header first (tifffile for TIFFs Pillow cannot open, such as float
RGB) to refuse decompression bombs before any pixel is allocated, then EXIF orientation and the ICC
profile. Arrays are always HxWxC in RGB(A) order.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import tifffile
from PIL import Image

from data_tools.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")
MAX_PIXELS = 200_000_000  # 200 MP: far above any camera file, far below a bomb's claim

# Pillow's own bomb check would raise mid-run with its own message; ours runs first and names the file.
Image.MAX_IMAGE_PIXELS = None


class ImageReadError(DataError):
    """An input that cannot be used as an image; the message names the file."""


@dataclass(frozen=True)
class LoadedImage:
    pixels: np.ndarray  # HxWxC, C in {1, 2, 3, 4}, uint8 or uint16, RGB(A) order, orientation applied
    exif: bytes | None = None
    icc: bytes | None = None

    @property
    def has_alpha(self) -> bool:
        return self.pixels.shape[2] in (2, 4)


def collect_images(folder: Path | str, recursive: bool = True, exclude: Path | str | None = None) -> list[Path]:
    """Image files under a folder, sorted, by extension (hidden files skipped).

    Files under ``exclude`` (a command's output folder inside its input) are left out, so a rerun never takes
    its own outputs as inputs; an ``exclude`` that is the folder itself excludes nothing.
    """
    pattern = "**/*" if recursive else "*"
    found = sorted(
        p for p in Path(folder).glob(pattern)
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
    )
    if exclude is None:
        return found
    skip = Path(exclude).resolve()
    if skip == Path(folder).resolve():
        return found
    return [p for p in found if not p.resolve().is_relative_to(skip)]


# ---- pixel helpers -------------------------------------------------------------------------------

def as_hwc(pixels: np.ndarray) -> np.ndarray:
    """An HxW image as HxWx1; an HxWxC image as it is."""
    return pixels[..., None] if pixels.ndim == 2 else pixels


def split_alpha(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Colour channels and the alpha channel (None when there is none) of an HxW or HxWxC image."""
    if image.ndim == 3 and image.shape[2] in (2, 4):
        return image[..., :-1], image[..., -1:]
    return image, None


def colour_channels(pixels: np.ndarray) -> np.ndarray:
    """The HxWxC colour channels of an HxW or HxWxC image, alpha dropped."""
    return split_alpha(as_hwc(pixels))[0]


def to_dtype(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
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
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not data:
        raise ImageReadError(f"{path}: empty file")
    header = _open_header(data)
    size = header.size if header is not None else _tiff_size(data)
    if size is None:
        raise ImageReadError(f"{path}: not a readable image file")
    width, height = size
    if width * height > max_pixels:
        raise ImageReadError(f"{path}: {width}x{height} pixels is over the {max_pixels // 1_000_000} MP limit "
                             "(refused before decoding)")
    exif, icc, orientation = _metadata(header) if header is not None else (None, None, 1)
    pixels = _decode(data, header)
    if pixels is None:
        raise ImageReadError(f"{path}: truncated or corrupt image data")
    pixels = _apply_orientation(pixels, orientation)
    return LoadedImage(np.ascontiguousarray(pixels), exif=exif, icc=icc)


def _open_header(data: bytes) -> Image.Image | None:
    """Pillow's view of the file from its header alone (no pixels decoded), or None if Pillow cannot open it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Image.open(io.BytesIO(data))
    except Exception:
        return None


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a TIFF that Pillow cannot open (float RGB, for one) from its first IFD, or None."""
    if data[:4] not in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return None
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages[0]
            return int(page.imagewidth), int(page.imagelength)
    except Exception:
        return None


def _metadata(header: Image.Image) -> tuple[bytes | None, bytes | None, int]:
    """EXIF, ICC and EXIF orientation; read only after the size check, since for some formats (PNG) Pillow
    decodes the whole image to find EXIF. Unreadable metadata is treated as absent, not as a broken image."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            orientation = header.getexif().get(0x0112, 1)
    except Exception:
        orientation = 1
    return header.info.get("exif"), header.info.get("icc_profile"), orientation


def _decode(data: bytes, header: Image.Image | None) -> np.ndarray | None:
    buf = np.frombuffer(data, np.uint8)
    flags = cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION
    try:
        arr = cv2.imdecode(buf, flags)
    except cv2.error:
        arr = None
    if arr is not None and header is not None and header.format != "TIFF" \
            and header.mode in ("P", "PA", "LA", "CMYK", "1", "I", "F", "YCbCr"):
        arr = None  # OpenCV expands these inconsistently; Pillow's conversions are well defined
    if arr is None:
        arr = _decode_with_pillow(header) if header is not None else None
    else:
        arr = _bgr_to_rgb(arr)
    if arr is None:
        return None
    if arr.dtype not in (np.uint8, np.uint16):
        arr = _float_or_wide_to_uint16(arr)
    if arr.ndim == 2:
        arr = arr[..., None]
    return arr


def _decode_with_pillow(header: Image.Image) -> np.ndarray | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
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
    except Exception:
        return None


def _bgr_to_rgb(arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[2] == 3:
        return arr[..., ::-1]
    if arr.ndim == 3 and arr.shape[2] == 4:
        return arr[..., [2, 1, 0, 3]]
    return arr


def _float_or_wide_to_uint16(arr: np.ndarray) -> np.ndarray:
    """Float TIFFs are taken as [0, 1] (values outside clipped); 32-bit integers are scaled down."""
    if np.issubdtype(arr.dtype, np.floating):
        arr = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0)
        return np.clip(np.rint(arr * 65535.0), 0, 65535).astype(np.uint16)
    info = np.iinfo(arr.dtype)
    if info.min < 0:
        arr = arr.astype(np.int64) - info.min
    return (arr.astype(np.float64) * (65535.0 / (float(info.max) - float(info.min)))).round().astype(np.uint16)


def _apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    ops = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
           7: lambda a: np.rot90(a, 1)[::-1], 8: lambda a: np.rot90(a, 1)}
    return ops[orientation](pixels) if orientation in ops else pixels


def _exif_without_orientation(exif: bytes | None) -> bytes | None:
    """The EXIF block with orientation reset to 1, since the pixels are stored upright now."""
    if not exif:
        return None
    try:
        parsed = Image.Exif()
        parsed.load(exif)
        parsed[0x0112] = 1
        return parsed.tobytes()
    except Exception:
        return None


WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF",
                 ".webp": "WEBP", ".bmp": "BMP"}


def encode_image(pixels: np.ndarray, suffix: str, quality: int = 95,
                 exif: bytes | None = None, icc: bytes | None = None) -> bytes:
    """Encode HxWxC uint8/uint16 pixels for a file suffix.

    8-bit goes through Pillow, which writes EXIF/ICC; 16-bit through OpenCV (PNG/TIFF keep 16 bits, metadata
    is not written for them). Formats that cannot hold 16 bits (JPEG, WebP, BMP) get a rounded 8-bit copy;
    formats without alpha get it dropped.
    """
    suffix = suffix.lower()
    if suffix not in WRITE_FORMATS:
        raise ValueError(f"cannot write {suffix!r}; use one of {', '.join(sorted(WRITE_FORMATS))}")
    fmt = WRITE_FORMATS[suffix]
    pixels = as_hwc(pixels)
    if pixels.dtype == np.uint16 and fmt in ("PNG", "TIFF"):
        ok, buf = cv2.imencode(suffix, _rgb_to_bgr(pixels))
        if not ok:
            raise ValueError(f"OpenCV could not encode a 16-bit {fmt}")
        return buf.tobytes()
    if pixels.dtype == np.uint16:
        pixels = np.clip(np.rint(pixels / 257.0), 0, 255).astype(np.uint8)
    channels = pixels.shape[2]
    if fmt in ("JPEG", "BMP") and channels in (2, 4):
        pixels = pixels[..., :-1]
        channels -= 1
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels]
    img = Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode=mode)
    kwargs: dict = {}
    if fmt in ("JPEG", "WEBP"):
        kwargs["quality"] = int(quality)
    if fmt == "PNG":
        kwargs["compress_level"] = 6
    exif = _exif_without_orientation(exif)
    if exif and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        kwargs["exif"] = exif
    if icc and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        kwargs["icc_profile"] = icc
    out = io.BytesIO()
    img.save(out, format=fmt, **kwargs)
    return out.getvalue()


def _rgb_to_bgr(arr: np.ndarray) -> np.ndarray:
    if arr.shape[2] == 3:
        return np.ascontiguousarray(arr[..., ::-1])
    if arr.shape[2] == 4:
        return np.ascontiguousarray(arr[..., [2, 1, 0, 3]])
    if arr.shape[2] == 2:  # OpenCV has no gray+alpha: write as BGRA
        g, a = arr[..., 0], arr[..., 1]
        return np.ascontiguousarray(np.stack([g, g, g, a], axis=-1))
    return np.ascontiguousarray(arr[..., 0])


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write to a temp file beside the target, fsync, then rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; outputs get the usual permissions
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_image(path: Path | str, pixels: np.ndarray, quality: int = 95,
                exif: bytes | None = None, icc: bytes | None = None) -> None:
    path = Path(path)
    atomic_write_bytes(path, encode_image(pixels, path.suffix, quality=quality, exif=exif, icc=icc))
