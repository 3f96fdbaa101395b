"""Pixels to the bytes of an image file, by the file's suffix: bit depth, alpha, EXIF, ICC profile and resolution
kept where the format holds them, each through the library that writes it whole (Pillow, OpenCV, tifffile, or a
plain PNG or BMP writer of our own)."""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from data_tools.channels import has_alpha
from data_tools.image_decode import as_hwc
from data_tools.image_metadata import (
    bmp_with_alpha,
    exif_for_output,
    exif_tags_for_output,
    metadata_for,
    plausible_dpi,
)
from data_tools.library_output import quiet_stderr
from data_tools.png_chunks import png_gray_alpha16, png_with_chunks

JPEG_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jif", ".jfif")  # the names a JPEG file goes by (cameras, browsers)
WRITE_FORMATS = {".png": "PNG", **dict.fromkeys(JPEG_SUFFIXES, "JPEG"), ".tif": "TIFF", ".tiff": "TIFF",
                 ".webp": "WEBP", ".bmp": "BMP"}
JPEG_MAX_SIDE = 65500  # libjpeg's limit (JPEG_MAX_DIMENSION), under the 65535 the format allows
MAX_SIDE = {"WEBP": 16383, "JPEG": JPEG_MAX_SIDE}  # the encoders' limits, in pixels per side


def encode_problem(shape: tuple[int, ...], suffix: str) -> str | None:
    """Why pixels of this shape cannot be written with this suffix (None when they can): checked before an
    image is denoised, so a format limit never costs the work."""
    fmt = WRITE_FORMATS.get(suffix.lower())
    if fmt is None:
        return f"cannot write {suffix!r}; use one of {', '.join(sorted(WRITE_FORMATS))}"
    limit = MAX_SIDE.get(fmt)
    if limit is not None and max(shape[:2]) > limit:
        return (f"{shape[1]}x{shape[0]} is too large for {fmt} (at most {limit} px a side); "
                "write it as .png or .tif (--ext, or the suffix of the file -o names)")
    return None


DEFAULT_QUALITY = 95  # JPEG/WebP quality when none is given


def encode_image(pixels: np.ndarray, suffix: str, quality: int = DEFAULT_QUALITY, exif: bytes | None = None,
                 icc: bytes | None = None, lossless: bool = False, dpi: tuple[float, float] | None = None) -> bytes:
    """Encode HxWxC uint8/uint16 pixels for a file suffix.

    8-bit goes through Pillow, which writes EXIF/ICC, but for an RGBA BMP (its own V5 header: Pillow drops the
    alpha); a 16-bit PNG through OpenCV, the ICC profile and EXIF added after; every 16-bit TIFF, and gray+alpha
    TIFF (8/16-bit), through tifffile (OpenCV writes no profile or resolution there; these keep no EXIF);
    16-bit gray+alpha PNG through a plain PNG writer, since neither library above can write it.
    Formats that cannot hold 16 bits (JPEG, WebP, BMP) get a rounded 8-bit copy;
    formats without alpha (JPEG, and BMP beside gray) get it dropped. ``lossless`` writes a WebP lossless
    (``quality`` is then the compression effort). ``dpi`` (x, y): the resolution, kept where the format holds one.
    """
    suffix = suffix.lower()
    pixels = as_hwc(pixels)
    problem = encode_problem(pixels.shape, suffix)
    if problem:
        raise ValueError(problem)
    fmt = WRITE_FORMATS[suffix]
    exif, icc = metadata_for(fmt, pixels.shape[2], exif, icc, deep=pixels.dtype == np.uint16)
    dpi = plausible_dpi(dpi)
    if pixels.shape[2] == 2 and fmt == "PNG" and pixels.dtype == np.uint16:
        return png_with_chunks(png_gray_alpha16(pixels), icc, dpi, exif_for_output(exif, fmt, _size(pixels)))
    if fmt == "TIFF" and (pixels.dtype == np.uint16 or pixels.shape[2] == 2):
        # gray+alpha: neither OpenCV nor Pillow writes it; 16-bit: OpenCV writes no ICC profile (often wide-gamut)
        # or resolution, 16-bit RGBA without the ExtraSamples tag, and LZW, which tifffile (a base dependency)
        # reads only with imagecodecs installed
        return _tiff_bytes(pixels, icc, dpi)
    if pixels.dtype == np.uint16 and fmt == "PNG":
        with quiet_stderr():
            ok, buf = cv2.imencode(suffix, _rgb_to_bgr(pixels))
        if not ok:
            raise ValueError("OpenCV could not encode a 16-bit PNG")
        return png_with_chunks(buf.tobytes(), icc, dpi, exif_for_output(exif, fmt, _size(pixels)))
    if pixels.dtype == np.uint16:
        pixels = np.clip(np.rint(pixels / 257.0), 0, 255).astype(np.uint8)
    channels = pixels.shape[2]
    if fmt == "BMP" and channels == 4:  # Pillow's 32-bit BMP drops alpha, and so did OpenCV's before 4.13
        return bmp_with_alpha(pixels, dpi)
    if fmt in ("JPEG", "BMP") and has_alpha(channels):
        pixels = pixels[..., :-1]
        channels -= 1
    return _pillow_bytes(pixels, fmt, quality, exif, icc, lossless, dpi)


def _size(pixels: np.ndarray) -> tuple[int, int]:
    """(width, height): what an output's EXIF says of the pixels stored (a crop's, not the camera's)."""
    return pixels.shape[1], pixels.shape[0]


FULL_CHROMA_QUALITY = 90  # JPEG outputs at this quality or above keep full colour resolution (4:4:4)


def _pillow_bytes(pixels: np.ndarray, fmt: str, quality: int, exif: bytes | None, icc: bytes | None,
                  lossless: bool, dpi: tuple[float, float] | None) -> bytes:
    """An 8-bit image through Pillow, with the metadata the format holds."""
    channels = pixels.shape[2]
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels]
    img = Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode=mode)
    kwargs: dict = {}
    if fmt in ("JPEG", "WEBP"):
        kwargs["quality"] = int(quality)
    if fmt == "JPEG" and quality >= FULL_CHROMA_QUALITY:
        kwargs["subsampling"] = 0  # 4:4:4: Pillow's 4:2:0 moved sharp colour edges by up to 175 levels
    if fmt == "WEBP":  # exact: transparent pixels keep their colour (libwebp's lossy mode blanked it too)
        kwargs.update(lossless=lossless, exact=True)
    if fmt == "PNG":
        kwargs["compress_level"] = 6
    # a TIFF's handed over parsed (its text would be re-read from bytes as ASCII), the others' as edited bytes
    size = _size(pixels)
    tags = exif_tags_for_output(exif, fmt, size) if fmt == "TIFF" else exif_for_output(exif, fmt, size)
    if tags is not None and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        kwargs["exif"] = tags
    if icc and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        kwargs["icc_profile"] = icc
    if dpi and fmt in ("JPEG", "PNG", "TIFF", "BMP"):  # WebP has no resolution field
        kwargs["dpi"] = dpi
    out = io.BytesIO()
    img.save(out, format=fmt, **kwargs)
    return out.getvalue()


def _tiff_bytes(pixels: np.ndarray, icc: bytes | None, dpi: tuple[float, float] | None = None) -> bytes:
    """A TIFF through tifffile, which writes any channel count with its ICC profile: gray or RGB, alpha as an
    extra (unassociated) sample; deflate-compressed, which every TIFF reader decodes, and without tifffile's own
    description tag (its shape, as JSON) in the user's file."""
    import tifffile

    channels = pixels.shape[2]
    out = io.BytesIO()
    tifffile.imwrite(out, pixels if channels > 1 else pixels[..., 0],
                     photometric="rgb" if channels > 2 else "minisblack",
                     extrasamples=["unassalpha"] if has_alpha(channels) else None,
                     compression="zlib", iccprofile=icc, metadata=None,
                     **({"resolution": dpi, "resolutionunit": "INCH"} if dpi else {}))
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
