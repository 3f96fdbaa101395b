"""Reading and writing images as users have them: bit depth, channels, alpha, EXIF and ICC kept.

Pixels are decoded by OpenCV (it keeps 16-bit colour, which Pillow flattens to 8-bit) from bytes,
so any path works; Pillow reads the header first (tifffile for TIFFs Pillow cannot open, such as float
RGB) to refuse decompression bombs before any pixel is allocated, then EXIF orientation and the ICC
profile. Arrays are always HxWxC in RGB(A) order.
"""

from __future__ import annotations

import errno
import io
import os
import re
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
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
    note: str = ""  # what the reader changed that a user should be told (float samples stored as 16-bit)

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
    note = ""
    tiff = _decode_tiff(data, path) if _is_tiff(data) else None
    if tiff is not None:
        pixels, tiff_orientation, note = tiff
        orientation = tiff_orientation if header is None else orientation
    else:
        pixels, rotated = _decode(data, header)
        orientation = 1 if rotated else orientation
    if pixels is None:
        raise ImageReadError(f"{path}: truncated or corrupt image data")
    if pixels.dtype not in (np.uint8, np.uint16):
        pixels, note = _samples_by_range(pixels, path)
    pixels = _apply_orientation(pixels, orientation)
    return LoadedImage(np.ascontiguousarray(pixels), exif=exif, icc=icc, note=note)


def _is_tiff(data: bytes) -> bool:
    return data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


# TIFF photometric interpretations tifffile decodes as plain samples; others (palette, CMYK, YCbCr/JPEG,
# min-is-white, bilevel) go through Pillow's well-defined conversions.
_TIFF_GRAY, _TIFF_RGB = 1, 2


def _decode_tiff(data: bytes, path: Path) -> tuple[np.ndarray, int, str] | None:
    """(pixels HxWxC, orientation, note) of a TIFF, decoded by tifffile, which knows the sample format and does
    not rotate: OpenCV applies the Orientation tag itself, so it would be applied twice. Planar (separate)
    samples, gray+alpha at any depth and float samples are handled here; what cannot be represented
    faithfully (several pages, signed or 32-bit integers, floats outside 0-1) is refused. None: let Pillow
    decode it (palette, CMYK, YCbCr, bilevel)."""
    import tifffile  # only TIFFs need it (~20 ms of every start otherwise)

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            pages = [p for p in tif.pages if not getattr(p, "is_reduced", False)]
            if len(pages) > 1:
                raise ImageReadError(f"{path}: a TIFF with {len(pages)} pages (only single-image files are "
                                     "denoised; split it, e.g. with tiffsplit, to keep every page)")
            page = tif.pages[0]
            if int(page.photometric) not in (_TIFF_GRAY, _TIFF_RGB) or page.bitspersample not in (8, 16, 32, 64):
                return None
            orientation_tag = page.tags.get("Orientation")
            orientation = int(orientation_tag.value) if orientation_tag is not None else 1
            with quiet_stderr():
                arr = page.asarray()
            axes = page.axes
    except ImageReadError:
        raise
    except Exception:
        return None
    if "S" in axes and axes.index("S") < axes.index("Y"):  # planar configuration "separate"
        arr = np.moveaxis(arr, axes.index("S"), -1)
        axes = axes.replace("S", "") + "S"
    if axes not in ("YX", "YXS"):
        raise ImageReadError(f"{path}: a TIFF with axes {axes!r} (only single 2-D images are supported)")
    arr = arr[..., None] if arr.ndim == 2 else arr
    channels = arr.shape[2]
    allowed = (1, 2) if int(page.photometric) == _TIFF_GRAY else (3, 4)
    if channels not in allowed:
        raise ImageReadError(f"{path}: a TIFF with {channels} samples per pixel is not supported "
                             "(gray, gray+alpha, RGB or RGBA)")
    pixels, note = _samples_by_range(arr, path)
    return pixels, orientation, note


def _samples_by_range(arr: np.ndarray, path: Path) -> tuple[np.ndarray, str]:
    """8/16-bit unsigned samples as they are; float samples in 0-1 as 16-bit (said in the note); anything
    whose true range a 16-bit file cannot hold, or that the file does not state, is refused."""
    if arr.dtype in (np.uint8, np.uint16):
        return arr, ""
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ImageReadError(f"{path}: float samples with NaN or infinite values")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 1.0:
            raise ImageReadError(f"{path}: float samples in {lo:g}..{hi:g}; only 0-1 floats are read "
                                 "(HDR or 0-255 floats would be clipped): convert it to 8/16-bit integers")
        pixels = np.rint(arr.astype(np.float64) * 65535.0).astype(np.uint16)
        return pixels, f"{arr.dtype} samples (0-1) read as 16-bit; the output is 16-bit"
    kind = "signed" if np.issubdtype(arr.dtype, np.signedinteger) else "unsigned"
    raise ImageReadError(f"{path}: {arr.dtype.itemsize * 8}-bit {kind} integer samples, whose "
                         "usable range the file does not state; convert it to 8/16-bit unsigned")


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
    import tifffile

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


def _decode(data: bytes, header: Image.Image | None) -> tuple[np.ndarray | None, bool]:
    """Pixels, and whether the decoder already applied the orientation (OpenCV does for TIFFs, whatever the
    flags; they reach here only when tifffile cannot decode them, e.g. compressed without imagecodecs)."""
    buf = np.frombuffer(data, np.uint8)
    flags = cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION
    try:
        with quiet_stderr():
            arr = cv2.imdecode(buf, flags)
    except cv2.error:
        arr = None
    rotated = arr is not None and _is_tiff(data)
    if arr is not None and arr.ndim == 3 and arr.shape[2] == 4 and _png_colour_type(data) == 4:
        return arr[..., [0, 3]], False  # gray+alpha PNG: OpenCV expands it to BGRA (Pillow reads 16-bit as 8)
    if arr is not None and header is not None and header.format != "TIFF" \
            and header.mode in ("P", "PA", "LA", "CMYK", "1", "I", "F", "YCbCr"):
        arr = None  # OpenCV expands these inconsistently; Pillow's conversions are well defined
    if arr is None:
        rotated = False
        arr = _decode_with_pillow(header) if header is not None else None
    else:
        arr = _bgr_to_rgb(arr)
    if arr is None:
        return None, False
    if arr.dtype not in (np.uint8, np.uint16) and not _is_tiff(data) and np.issubdtype(arr.dtype, np.integer) \
            and arr.size and arr.min() >= 0 and arr.max() <= 65535:
        arr = arr.astype(np.uint16)  # Pillow's 32-bit "I" mode holding a 16-bit file's values
    if arr.ndim == 2:
        arr = arr[..., None]
    return arr, rotated


def _png_colour_type(data: bytes) -> int | None:
    """The PNG IHDR colour type (0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA), or None for other files."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 26 or data[12:16] != b"IHDR":
        return None
    return data[25]


@contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence what C libraries (libpng, libtiff, libjpeg through OpenCV) print straight to file descriptor 2:
    their warnings are about ancillary data we do not use, and a failure is reported by the return value."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


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


def _apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    ops = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
           7: lambda a: a[::-1, ::-1].transpose(1, 0, 2), 8: lambda a: np.rot90(a, 1)}
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
MAX_SIDE = {"WEBP": 16383, "JPEG": 65535}  # the formats' own limits, in pixels per side


def encode_problem(shape: tuple[int, ...], suffix: str) -> str | None:
    """Why pixels of this shape cannot be written with this suffix (None when they can): checked before an
    image is denoised, so a format limit never costs the work."""
    fmt = WRITE_FORMATS.get(suffix.lower())
    if fmt is None:
        return f"cannot write {suffix!r}; use one of {', '.join(sorted(WRITE_FORMATS))}"
    limit = MAX_SIDE.get(fmt)
    if limit is not None and max(shape[:2]) > limit:
        return (f"{shape[1]}x{shape[0]} is too large for {fmt} (at most {limit} px a side); "
                "choose another --ext, e.g. png")
    return None


def encode_image(pixels: np.ndarray, suffix: str, quality: int = 95,
                 exif: bytes | None = None, icc: bytes | None = None) -> bytes:
    """Encode HxWxC uint8/uint16 pixels for a file suffix.

    8-bit goes through Pillow, which writes EXIF/ICC; 16-bit through OpenCV (PNG/TIFF keep 16 bits, metadata
    is not written for them); gray+alpha TIFF (8/16-bit) through tifffile and 16-bit gray+alpha PNG through
    a plain PNG writer, since neither library above can write them. Formats that cannot hold 16 bits (JPEG,
    WebP, BMP) get a rounded 8-bit copy; formats without alpha get it dropped.
    """
    suffix = suffix.lower()
    pixels = as_hwc(pixels)
    problem = encode_problem(pixels.shape, suffix)
    if problem:
        raise ValueError(problem)
    fmt = WRITE_FORMATS[suffix]
    if pixels.shape[2] == 2 and fmt == "TIFF":
        import tifffile

        out = io.BytesIO()
        tifffile.imwrite(out, pixels, photometric="minisblack", extrasamples=["unassalpha"],
                         iccprofile=icc if pixels.dtype == np.uint8 else None)
        return out.getvalue()
    if pixels.shape[2] == 2 and fmt == "PNG" and pixels.dtype == np.uint16:
        return _png_gray_alpha16(pixels)
    if pixels.dtype == np.uint16 and fmt in ("PNG", "TIFF"):
        with quiet_stderr():
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


def _png_gray_alpha16(pixels: np.ndarray) -> bytes:
    """A 16-bit gray+alpha PNG (colour type 4): OpenCV writes two channels as BGRA and Pillow only as 8-bit."""
    import struct
    import zlib

    height, width = pixels.shape[:2]
    rows = np.ascontiguousarray(pixels, dtype=">u2").view(np.uint8).reshape(height, width * 4)  # 2 samples x 2 B
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1)  # filter type 0 before each row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 16, 4, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
            + chunk(b"IEND", b""))


def _rgb_to_bgr(arr: np.ndarray) -> np.ndarray:
    if arr.shape[2] == 3:
        return np.ascontiguousarray(arr[..., ::-1])
    if arr.shape[2] == 4:
        return np.ascontiguousarray(arr[..., [2, 1, 0, 3]])
    if arr.shape[2] == 2:  # OpenCV has no gray+alpha: write as BGRA
        g, a = arr[..., 0], arr[..., 1]
        return np.ascontiguousarray(np.stack([g, g, g, a], axis=-1))
    return np.ascontiguousarray(arr[..., 0])


# ---- writing files and output folders ------------------------------------------------------------

class OutputWriteError(DataError):
    """An output that cannot be written (a read-only or full disk, a folder in the way); one line."""


class OutputExistsError(OutputWriteError):
    """The output appeared while it was being made (another run writing the same name): nothing replaced."""


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()
_PART = re.compile(r"\.(\d+)-[A-Za-z0-9_]+\.part$")
_PART_NAME_BYTES = 100  # the temp name keeps a prefix of the target's, so a 255-byte name still has room
STALE_PART_SECONDS = 24 * 3600  # a temp file without a writer's pid is stale after this


def _temp_prefix(name: str) -> str:
    return "." + os.fsdecode(os.fsencode(name)[:_PART_NAME_BYTES]) + f".{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def remove_stale_parts(folder: Path | str) -> int:
    """Delete hidden ``.part`` temp files left in a folder by writers that were killed mid-write (their
    process is gone, or, for files that do not name it, a day old); a live writer's are left alone.
    Returns how many were removed."""
    removed = 0
    try:
        candidates = [p for p in Path(folder).glob(".*.part") if p.is_file()]
    except OSError:
        return 0
    for path in candidates:
        match = _PART.search(path.name)
        try:
            stale = (not _pid_alive(int(match.group(1))) if match
                     else time.time() - path.stat().st_mtime > STALE_PART_SECONDS)
            if stale:
                path.unlink()
                removed += 1
        except (OSError, ValueError):
            continue
    return removed


def _write_error(path: Path, exc: OSError) -> OutputWriteError:
    return OutputWriteError(f"{path}: cannot write ({exc.strerror or exc})")


def atomic_write_bytes(path: Path | str, data: bytes, overwrite: bool = True) -> None:
    """Write to a temp file beside the target, fsync, then rename: a crash never leaves half a file.

    With ``overwrite=False`` the finished file is linked into place, which fails if the target exists by
    then (another run wrote it while this one worked): OutputExistsError, and nothing is replaced. Any
    failure to write (read-only or full disk, a folder in the way) is a one-line OutputWriteError.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise OutputWriteError(f"{path}: is a folder; give a file path")
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path.name), suffix=".part", dir=path.parent)
    except OSError as exc:
        raise _write_error(path, exc) from None
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; outputs get the usual permissions
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_exclusive(tmp, path)
    except OutputWriteError:
        Path(tmp).unlink(missing_ok=True)
        raise
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _write_error(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _link_exclusive(tmp: str, path: Path) -> None:
    """Put the finished temp file at ``path`` only if nothing is there (atomic: a hard link cannot replace)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise OutputExistsError(f"{path}: appeared while this run was writing it (another run writing the same "
                                "folder?); left as it is") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        try:  # no hard links here (FAT, some network shares): reserve the name exclusively, then rename
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            raise OutputExistsError(f"{path}: appeared while this run was writing it (another run writing the "
                                    "same folder?); left as it is") from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def check_writable(folder: Path | str) -> None:
    """Create the folder if needed and prove a file can be made in it, before any work is done."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=_temp_prefix("write-check"), suffix=".part", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputWriteError(f"{folder}: cannot write there ({exc.strerror or exc})") from None


def prepare_output_dir(folder: Path | str, overwrite: bool = False, own: bool = False,
                       hint: str = "pass --overwrite to replace its files") -> Path:
    """The one rule for every command that writes a folder of results: a folder that does not exist or is
    empty is used; a non-empty one only when it is this command's own resumable output (``own``) or the
    user said ``overwrite``; a file in the way is an error. The folder is created, proved writable and
    cleared of temp files that killed writers left, all before any work starts."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputWriteError(f"{folder}: exists and is not a folder; choose another -o")
    if folder.is_dir() and not (own or overwrite):
        try:
            entries = sorted(p.name for p in folder.iterdir() if not p.name.endswith(".part"))
        except OSError as exc:
            raise OutputWriteError(f"{folder}: cannot list it ({exc.strerror or exc})") from None
        if entries:
            shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
            raise OutputWriteError(f"{folder}: not empty ({len(entries)} entries: {shown}); choose a new or empty "
                                   f"folder, or {hint}")
    check_writable(folder)
    remove_stale_parts(folder)
    return folder


def write_image(path: Path | str, pixels: np.ndarray, quality: int = 95,
                exif: bytes | None = None, icc: bytes | None = None, overwrite: bool = True) -> None:
    path = Path(path)
    atomic_write_bytes(path, encode_image(pixels, path.suffix, quality=quality, exif=exif, icc=icc), overwrite)
