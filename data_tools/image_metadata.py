"""What metadata an output file carries, and the resolution an input records: EXIF made true of the upright
pixels, the ICC profile where the format and samples take it, the dpi where it is the file's own."""

from __future__ import annotations

import contextlib
import io
import struct

import numpy as np
from PIL import Image

from data_tools.exif_patch import upright_exif
from data_tools.library_output import quiet_warnings

_TIFF_X_RESOLUTION = 282
_ORIENTATION = 274
_IFD_POINTERS = (0x8769, 0x8825)  # the Exif and GPS sub-IFDs' offsets
MAX_JPEG_EXIF = 65_000  # bytes of EXIF a JPEG's APP1 segment can carry (65533 with its header), with a margin
# a TIFF's own tags for how its pixels are stored (size, samples, strips, tiles, compression, colour map, the
# ICC profile; Pillow writes EXIF IFD0 tags over a TIFF output's own): in its EXIF they would describe the
# input's layout, not the output's
_TIFF_LAYOUT_TAGS = frozenset({254, 255, 256, 257, 258, 259, 262, 263, 264, 265, 266, 273, 277, 278, 279, 280, 281,
                               284, 288, 289, 292, 293, 317, 320, 322, 323, 324, 325, 330, 338, 339, 340, 341, 346,
                               347, *range(512, 522), 529, 530, 531, 532, 34675})


def file_resolution(header: Image.Image | None, turned: bool) -> tuple[float, float] | None:
    """The file's resolution in dots per inch (x, y of the upright image), or None where it records none."""
    try:
        if header.format == "JPEG" and header.info.get("jfif_unit") not in (1, 2):  # type: ignore[union-attr]
            x, y = _exif_dpi(header.getexif())  # type: ignore[union-attr]  # the EXIF's, else none (Pillow says 72)
        elif header.format == "TIFF" and _TIFF_X_RESOLUTION not in header.tag_v2:  # type: ignore[union-attr]
            return None  # Pillow says 1 dpi, the tag's default, for a TIFF that records no resolution
        else:
            x, y = (round(float(v), 1) for v in header.info["dpi"])  # type: ignore[union-attr]  # (PNG: per metre)
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    return plausible_dpi((y, x) if turned else (x, y))


def _exif_dpi(tags: Image.Exif) -> tuple[float, float]:
    """X/YResolution in dots per inch by their ResolutionUnit, which EXIF defaults to inches (Pillow read 72 dpi
    for a 300 with no unit); KeyError where it records no resolution, or none in a unit (1)."""
    per_inch = {2: 1.0, 3: 2.54}[int(tags.get(0x0128, 2))]
    return round(float(tags[0x011A]) * per_inch, 1), round(float(tags[0x011B]) * per_inch, 1)


def profile_unkept(icc: bytes) -> str:
    """Why a file's ICC profile is not carried to its output, or "": a CMYK or Lab file is decoded to RGB, and its
    profile kept would tell a colour-managed viewer to read those RGB samples as CMYK or Lab; one that is no ICC
    profile (its signature missing) or that colour management cannot read (LittleCMS, through Pillow, as viewers
    use it: one cut short) would mislead a viewer as much."""
    if len(icc) < 128 or icc[36:40] != b"acsp":
        return "not a valid ICC profile"
    space = icc[16:20]
    if space not in (b"RGB ", b"GRAY"):
        return f"a {space.decode('latin-1').strip() or 'blank'} profile, not one of RGB or gray samples"
    if not _readable_profile(icc):
        return "a damaged ICC profile that colour management cannot read"
    return ""


def _readable_profile(icc: bytes) -> bool:
    """Whether LittleCMS opens the profile (True where Pillow was built without it: nothing to check with; its
    ImageCms then imports, and fails on first use)."""
    from PIL import features

    if not features.check("littlecms2"):
        return True
    from PIL import ImageCms

    try:
        ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except (OSError, ImageCms.PyCMSError, ValueError):
        return False
    return True


def metadata_for(fmt: str, channels: int, exif: bytes | None, icc: bytes | None,
                 deep: bool = False) -> tuple[bytes | None, bytes | None]:
    """The EXIF and ICC profile a file of this format can carry (``deep``: 16-bit samples), the rest left out by
    the rules of ``metadata_lost``; the encoder writes what this keeps, and a file's line says what it does not."""
    return (None if _exif_loss(fmt, channels, exif, deep) else exif, None if _icc_loss(fmt, channels, icc) else icc)


def metadata_lost(fmt: str, channels: int, exif: bytes | None, icc: bytes | None, deep: bool = False) -> list[str]:
    """What of the EXIF and ICC profile an output of this format will not carry, in words for the file's line."""
    return ([f"EXIF dropped ({why})" for why in (_exif_loss(fmt, channels, exif, deep),) if why]
            + [f"ICC profile dropped ({why})" for why in (_icc_loss(fmt, channels, icc),) if why])


def _exif_loss(fmt: str, channels: int, exif: bytes | None, deep: bool) -> str:
    """Why an output of this format carries no EXIF, or "": a BMP holds none; a 16-bit or gray+alpha TIFF is
    written by OpenCV or tifffile, which write none; past the 64 KB of a JPEG segment Pillow refused the whole
    file, after the work."""
    if not exif or not _describes(exif):
        return ""
    if fmt == "BMP":
        return "a BMP holds none"
    if fmt == "TIFF" and (deep or channels == 2):
        return "a 16-bit or gray+alpha TIFF is written without it"
    return "over the 64 KB a JPEG holds" if fmt == "JPEG" and len(exif) > MAX_JPEG_EXIF else ""


def _describes(exif: bytes) -> bool:
    """Whether an EXIF block holds more than its orientation, which the upright pixels have taken in: one holding
    only that loses nothing when an output carries none (a 16-bit TIFF's was said "dropped")."""
    tags = Image.Exif()
    try:
        with quiet_warnings():  # as exif_for_output reads it
            tags.load(exif)
    except MemoryError:
        raise
    except Exception:  # a damaged block (Pillow raises many types for one): counted as holding something
        return True
    rest = set(tags) - {_ORIENTATION}
    return any(tag not in _IFD_POINTERS or tags.get_ifd(tag) for tag in rest)  # an empty sub-IFD holds nothing


def _icc_loss(fmt: str, channels: int, icc: bytes | None) -> str:
    """Why an output of this format carries no ICC profile, or "": a BMP holds none, a gray profile on colour
    samples (a gray photo written as WebP, which stores RGB) a viewer rejects or misreads, and a colour one in a
    gray PNG (a gray photo that came with an RGB profile) the PNG format forbids (libpng drops it, warning)."""
    if not icc:
        return ""
    if fmt == "BMP":
        return "a BMP holds none"
    colour, gray_profile = channels >= 3 or fmt == "WEBP", icc[16:20] == b"GRAY"
    if colour and gray_profile:
        return "a gray profile, where the file stores RGB"
    return "a colour profile, which a gray PNG may not hold" if fmt == "PNG" and not colour and not gray_profile \
        else ""


def bmp_with_alpha(rgba: np.ndarray, dpi: tuple[float, float] | None) -> bytes:
    """An 8-bit RGBA image as a bottom-up 32-bit BMP whose V5 header has a mask for each of B, G, R and alpha, as
    OpenCV writes it from 4.13 on: before, its 40-byte header made the fourth byte padding to every reader, and
    the alpha came back opaque. The resolution in pixels per metre (0: none recorded)."""
    height, width = rgba.shape[:2]
    rows = np.ascontiguousarray(rgba[::-1, :, [2, 1, 0, 3]]).tobytes()
    per_metre = [round(d / 0.0254) for d in dpi] if dpi is not None else [0, 0]
    info = struct.pack("<IiiHHIIiiII4I4s", 124, width, height, 1, 32, 3, len(rows), *per_metre, 0, 0,
                       0x00FF0000, 0x0000FF00, 0x000000FF, 0xFF000000, b"BGRs")  # BI_BITFIELDS, sRGB
    info += bytes(48) + struct.pack("<I", 4) + bytes(12)  # no endpoints or gamma; intent: images
    return b"BM" + struct.pack("<IHHI", 14 + len(info) + len(rows), 0, 0, 14 + len(info)) + info + rows


def exif_for_output(exif: bytes | None, fmt: str, size: tuple[int, int] | None = None) -> bytes | None:
    """The block marked upright as bytes: edited in place (``upright_exif``: a MakerNote's offsets still hold),
    or where that cannot read it, and always for a TIFF (whose own tags take the block's), as
    ``exif_tags_for_output`` rebuilds it. ``size``: the stored pixels' (width, height)."""
    if exif and fmt != "TIFF" and (upright := upright_exif(exif, size)) is not None:
        return upright
    tags = exif_tags_for_output(exif, fmt, size)
    try:
        return tags.tobytes() if tags is not None else None
    except MemoryError:
        raise  # a photo's EXIF is not dropped from its output for want of memory
    except Exception:
        return None


def exif_tags_for_output(exif: bytes | None, fmt: str, size: tuple[int, int] | None = None) -> Image.Exif | None:
    """The EXIF block with orientation reset to 1, since the pixels are stored upright now (a quarter turn also
    swaps its width and height and its x and y resolution, and its width and height become ``size``, the stored
    pixels' (width, height), after a crop or a shrink, so the block describes the file it is in); for a
    TIFF, whose own tags EXIF IFD0 would override, without the layout tags (and ICC profile, written on its
    own). Its text is kept byte for byte (``text_as_read``)."""
    if not exif:
        return None
    try:
        parsed = Image.Exif()
        with quiet_warnings():  # a damaged block: Pillow's own warning, with its path, is no user's line
            parsed.load(exif)
        if parsed.get(0x0112, 1) in (5, 6, 7, 8):
            _swap(parsed, 0x011A, 0x011B)  # X/YResolution
            if 0x8769 in parsed:
                _swap(parsed.get_ifd(0x8769), 0xA002, 0xA003)  # PixelX/YDimension
        dimensions = parsed.get_ifd(0x8769) if 0x8769 in parsed else {}
        for tag, value in zip((0xA002, 0xA003), size or (), strict=False):
            if tag in dimensions:
                dimensions[tag] = value
        parsed[0x0112] = 1
        for tag in _TIFF_LAYOUT_TAGS.intersection(parsed) if fmt == "TIFF" else ():
            del parsed[tag]
        text_as_read(parsed)
        return parsed
    except MemoryError:
        raise
    except Exception:
        return None


def text_as_read(parsed: Image.Exif) -> None:
    """Pillow reads EXIF text as Latin-1 and writes it back as ASCII, every other byte a "?": a photographer's
    "José" (UTF-8) or a "©" (Latin-1) in Artist, Copyright or LensModel. Given back the bytes it read, it writes
    them as they came."""
    exif_ifd = parsed.get_ifd(0x8769) if 0x8769 in parsed else {}
    tables = [parsed, exif_ifd, parsed.get_ifd(0x8825) if 0x8825 in parsed else {},
              parsed.get_ifd(0xA005) if 0xA005 in exif_ifd else {}]
    for tags in tables:
        for tag, value in list(tags.items()):
            if isinstance(value, str) and not value.isascii():
                with contextlib.suppress(UnicodeEncodeError):  # (text Pillow read some other way)
                    tags[tag] = value.encode("latin-1")


def _swap(tags: Image.Exif | dict, a: int, b: int) -> None:
    values = tags.get(a), tags.get(b)
    for tag, value in zip((a, b), reversed(values)):
        if value is None:
            tags.pop(tag, None)
        else:
            tags[tag] = value


def plausible_dpi(dpi: tuple[float, float] | None) -> tuple[float, float] | None:
    """A resolution worth writing: two positive, finite numbers (a file's 0 or NaN says "unknown")."""
    if dpi is None or len(dpi) != 2 or not all(isinstance(d, (int, float)) and 0 < d < 1e6 for d in dpi):
        return None
    return float(dpi[0]), float(dpi[1])
