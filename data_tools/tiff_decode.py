"""Decoding a TIFF's image page: tifffile reads the samples as stored (any depth, planar, gray+alpha, MinIsWhite,
premultiplied alpha, a preview page first), where OpenCV applies the Orientation tag itself and reads only the
first page; what tifffile cannot decode goes to the decoder that reads its layout right, or is refused.
``image_decode.decode`` reads every other file, and ``images.read_image`` is the public entry."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from data_tools.channels import has_alpha
from data_tools.image_decode import ImageReadError, as_hwc, bgr_to_rgb, is_tiff, joined_notes, samples_by_range
from data_tools.library_output import quiet_stderr, quiet_warnings

# TIFF photometric interpretations tifffile decodes as plain samples (MinIsWhite inverted after), and those
# converted here to RGB at their own depth (Lab: OpenCV's libtiff gave neutral gray a warm cast; 16-bit CMYK:
# Pillow reads it as 8-bit); the others (palette, 8-bit CMYK, YCbCr/JPEG, bilevel) go through Pillow's
# well-defined conversions.
_TIFF_WHITE, _TIFF_GRAY, _TIFF_RGB, _TIFF_CMYK, _TIFF_CIELAB, _TIFF_ICCLAB = 0, 1, 2, 5, 8, 9
_PREMULTIPLIED_NOTE = "premultiplied alpha turned straight (the colour divided by it, as the output stores it)"


@dataclass(frozen=True)
class TiffLayout:
    """What decoding a TIFF's image page depends on, read from its tags alone."""

    index: int  # of the page in the file: a reduced-resolution preview may come first
    photometric: int
    bits: int
    channels: int
    associated: bool  # premultiplied alpha
    orientation: int
    compression: str
    unspecified_extra: bool = False  # ExtraSamples 0: a last sample that is data (a mask, near infrared), not alpha

    @property
    def alpha(self) -> bool:
        return has_alpha(self.channels) and not self.unspecified_extra

    @property
    def colour_samples(self) -> int:
        """Samples a pixel's colour takes: 1 gray, 3 RGB or Lab, 4 CMYK; one more is an extra sample."""
        return 1 if self.gray else 4 if self.photometric == _TIFF_CMYK else 3

    @property
    def gray(self) -> bool:
        return self.photometric in (_TIFF_WHITE, _TIFF_GRAY)


SUB_PAGE = -1  # the index of an image in a preview's SubIFD: no page number Pillow or OpenCV could turn to


def full_pages(tif: Any) -> list[tuple[int, Any]]:
    """(index, page) of each page that is not a reduced-resolution preview (NewSubfileType bit 0), which a
    DNG-like file may put before its image, or holds the image in a SubIFD of (then read by tifffile alone);
    every page if all are previews."""
    pages = [(i, tif.pages[i]) for i in range(len(tif.pages))]  # len() stops at a page that points back to an
    # earlier one; iterating tif.pages went round such a loop for ever, holding more memory each time
    full = [(i, p) for i, p in pages if not getattr(p, "is_reduced", False)]
    if not full:
        full = [(SUB_PAGE, s) for _, p in pages for s in (getattr(p, "pages", None) or ())
                if not getattr(s, "is_reduced", False)]
    return full or pages[:1]


def _layout(index: int, page: Any) -> TiffLayout:
    tags = page.tags
    orientation = tags.get("Orientation")
    extra = tags.get("ExtraSamples")
    first_extra = np.ravel(extra.value)[:1].tolist() if extra is not None else []
    return TiffLayout(index, int(page.photometric), int(page.bitspersample), int(page.samplesperpixel),
                      first_extra == [1], int(orientation.value) if orientation is not None else 1,
                      getattr(page.compression, "name", str(page.compression)), first_extra == [0])


def decode_tiff(data: bytes, path: Path, header: Image.Image | None = None) -> tuple[np.ndarray, int, str] | None:
    """(pixels HxWxC, orientation, note) of a TIFF's image page, decoded by tifffile, which knows the sample
    format and does not rotate: OpenCV applies the Orientation tag itself, so it would be applied twice. Planar
    (separate) samples, gray+alpha at any depth, MinIsWhite and float samples are handled here; what cannot
    be represented faithfully (several pages, signed or 32-bit integers, floats outside 0-1) is refused.
    None: let ``decode`` read it (palette, CMYK, YCbCr, bilevel). ``header``: Pillow's view, at the same page."""
    import tifffile  # only TIFFs need it (~20 ms of every start otherwise)

    try:
        with _tifffile_quiet(), tifffile.TiffFile(io.BytesIO(data)) as tif:
            pages = full_pages(tif)
            if len(pages) > 1:
                raise ImageReadError(f"{path}: a TIFF with {len(pages)} pages (only single-image files are "
                                     "read; split it, e.g. with tiffsplit, to keep every page)")
            layout = _layout(*pages[0])
            plain = layout.photometric in (_TIFF_WHITE, _TIFF_GRAY, _TIFF_RGB) and layout.bits in (8, 16, 32, 64)
            if not (plain or _converted_here(layout)):
                return _other_tiff(layout, header, path)
            if plain:
                _refuse_samples(layout.channels, layout, path)  # from the header: 100 samples a pixel decode to
                # 100 times the memory the size limit allows for, before their count is seen in the pixels
            try:
                with quiet_stderr():
                    arr = pages[0][1].asarray()
            except MemoryError:
                raise
            except Exception as exc:
                if "imagecodecs" not in str(exc):  # corrupt data, which OpenCV would read on, garbage and all
                    raise ImageReadError(f"{path}: truncated or corrupt image data") from None
                if not plain:
                    return _other_tiff(layout, header, path)
                return undecoded_tiff(data, path, header, layout)  # a codec tifffile lacks: LZW, JPEG, ...
            axes = pages[0][1].axes
            if arr.size == 0:  # a height or width tag read as 0 (a damaged header)
                raise ImageReadError(f"{path}: truncated or corrupt image data")
    except (ImageReadError, MemoryError):
        raise
    except Exception:
        return None
    if not plain:
        kept, dropped = _without_unspecified(_planes_last(arr, axes, path), layout)
        pixels, orientation, note = _as_rgb(kept, layout)
        return pixels, orientation, joined_notes(note, dropped)
    return _tiff_samples(arr, axes, layout, path)


def _converted_here(layout: TiffLayout) -> bool:
    """Lab (CIE or ICC encoding) at 8 or 16 bits, and 16-bit CMYK, each with or without a straight alpha."""
    if layout.associated:
        return False
    if layout.photometric in (_TIFF_CIELAB, _TIFF_ICCLAB):
        return layout.bits in (8, 16) and layout.channels in (3, 4)
    return layout.photometric == _TIFF_CMYK and layout.bits == 16 and layout.channels in (4, 5)


# Bradford chromatic adaptation from the D50 white (Lab's, in ICC and TIFF files) to sRGB's D65, on XYZ
_BRADFORD_D50_TO_D65 = np.array([[0.9555766, -0.0230393, 0.0631636],
                                 [-0.0282895, 1.0099416, 0.0210077],
                                 [0.0122982, -0.0204830, 1.3299098]])


def _as_rgb(arr: np.ndarray, layout: TiffLayout) -> tuple[np.ndarray, int, str]:
    """Lab or CMYK samples as RGB of the same depth, alpha kept. Lab is D50-relative, as ICC profiles and libtiff
    read it (Adobe's TIFF notes), adapted to sRGB's D65 white by Bradford's transform (neutral stays neutral);
    CMYK as Pillow converts 8-bit CMYK, (1 - C)(1 - K) for red and so on."""
    if np.issubdtype(arr.dtype, np.signedinteger):  # a file that calls its samples signed: the same bits
        arr = arr.view(np.dtype(arr.dtype.str.replace("i", "u")))
    peak = float(np.iinfo(arr.dtype).max)
    colour = 3 if layout.photometric != _TIFF_CMYK else 4
    unit = arr[..., :colour].astype(np.float64)
    if layout.photometric == _TIFF_CMYK:
        unit = unit / peak
        rgb = (1.0 - unit[..., :3]) * (1.0 - unit[..., 3:])
    else:
        from skimage.color import lab2xyz, xyz2rgb

        step = (peak + 1) / 256  # 1 at 8 bits, 256 at 16: a* and b* come in steps of 1/step in both encodings
        if layout.photometric == _TIFF_CIELAB:  # L* over the full range, a* b* signed (two's complement)
            lightness = unit[..., :1] * (100.0 / peak)
            ab = np.where(unit[..., 1:] >= (peak + 1) / 2, unit[..., 1:] - (peak + 1), unit[..., 1:]) / step
        else:  # ICC encoding (Adobe's TIFF notes): L* 100 at 255 * step, a* b* offset by 128
            lightness = unit[..., :1] * (100.0 / (255 * step))
            ab = unit[..., 1:] / step - 128.0
        with quiet_warnings():  # colours outside sRGB's gamut are clipped, as any conversion does
            rgb = np.clip(xyz2rgb(lab2xyz(np.dstack([lightness, ab]), illuminant="D50") @ _BRADFORD_D50_TO_D65.T),
                          0.0, 1.0)
    pixels = np.clip(np.rint(rgb * peak), 0, peak).astype(arr.dtype)
    return np.concatenate([pixels, arr[..., colour:]], axis=-1), layout.orientation, ""


def _planes_last(arr: np.ndarray, axes: str, path: Path) -> np.ndarray:
    """The samples as HxWxC, whether the file stores them by pixel or by plane."""
    if "S" in axes and axes.index("S") < axes.index("Y"):  # planar configuration "separate"
        arr = np.moveaxis(arr, axes.index("S"), -1)
        axes = axes.replace("S", "") + "S"
    if axes not in ("YX", "YXS"):
        raise ImageReadError(f"{path}: a TIFF with axes {axes!r} (only single 2-D images are supported)")
    return arr[..., None] if arr.ndim == 2 else arr


def _other_tiff(layout: TiffLayout, header: Image.Image | None, path: Path) -> None:
    """None, for ``decode`` (Pillow) to read a palette, CMYK, YCbCr or bilevel TIFF; refused when its image
    is not the first page and Pillow cannot open the file, since OpenCV reads only the first."""
    if layout.index and (header is None or header.tell() != layout.index):
        raise ImageReadError(f"{path}: a {layout.compression} TIFF whose image follows a preview page, which "
                             "no available decoder reads; save the image page alone")
    return None


def _tiff_samples(arr: np.ndarray, axes: str, layout: TiffLayout, path: Path) -> tuple[np.ndarray, int, str]:
    """The decoded samples as HxWxC, straight alpha, black at zero; refused when no output can hold them."""
    arr = _planes_last(arr, axes, path)
    _refuse_samples(arr.shape[2], layout, path)
    arr, dropped = _without_unspecified(arr, layout)
    pixels, note = samples_by_range(arr, path)
    return _as_stored(pixels, layout, joined_notes(note, dropped))


def _refuse_samples(channels: int, layout: TiffLayout, path: Path) -> None:
    if channels not in ((1, 2) if layout.gray else (3, 4)):
        raise ImageReadError(f"{path}: a TIFF with {channels} samples per pixel is not supported "
                             "(gray, gray+alpha, RGB or RGBA)")


_UNSPECIFIED_NOTE = "its extra sample, which the file calls unspecified data (not alpha), is left out"


def _without_unspecified(arr: np.ndarray, layout: TiffLayout) -> tuple[np.ndarray, str]:
    """The samples without a last one that the file calls unspecified data, and the note saying so: passed
    through as alpha, a mask of zeros made the denoised photo invisible."""
    if not (layout.unspecified_extra and layout.channels == layout.colour_samples + 1):
        return arr, ""
    return (arr[..., :-1] if arr.shape[2] == layout.channels else arr), _UNSPECIFIED_NOTE  # (Pillow: left out)


def _as_stored(pixels: np.ndarray, layout: TiffLayout, note: str) -> tuple[np.ndarray, int, str]:
    """Raw samples as every output stores them: MinIsWhite gray inverted (0 is black) and premultiplied
    colour divided by its alpha."""
    if layout.photometric == _TIFF_WHITE:
        peak = np.iinfo(pixels.dtype).max
        pixels = np.concatenate([peak - pixels[..., :1], pixels[..., 1:]], axis=-1)
    if layout.associated and layout.alpha:
        pixels = _straight_alpha(pixels)
        note = joined_notes(note, _PREMULTIPLIED_NOTE)
    return pixels, layout.orientation, note


def undecoded_tiff(data: bytes, path: Path, header: Image.Image | None,
                   layout: TiffLayout) -> tuple[np.ndarray, int, str] | None:
    """A gray or RGB TIFF tifffile could not decode (LZW and other codecs need imagecodecs, no dependency here),
    by the decoder that reads its layout right: None leaves 8-bit gray/RGB without alpha to ``decode``'s OpenCV;
    other 8-bit to Pillow (OpenCV premultiplies 8-bit colour by alpha and drops a gray alpha); deeper samples to
    OpenCV (Pillow reads 16-bit colour as 8-bit), which reads only the first page. The rest is refused."""
    if layout.bits == 8 and not layout.alpha and not layout.unspecified_extra and layout.index == 0:
        return None
    at_page = header is not None and header.tell() == layout.index
    if layout.bits == 8 and at_page and not (layout.alpha and layout.photometric == _TIFF_WHITE):
        pixels, orientation = _pillow_tiff(header, layout)
        if pixels is not None:  # Pillow inverts MinIsWhite and divides RGBa itself, not La
            pixels = _straight_alpha(pixels) if header.mode == "La" else pixels
            pixels, dropped = _without_unspecified(pixels, layout)
            return pixels, orientation, _PREMULTIPLIED_NOTE if layout.associated and layout.alpha else dropped
    if layout.bits > 8 and layout.index == 0:
        with quiet_stderr():
            arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
        if arr is not None and arr.dtype.itemsize * 8 == layout.bits and as_hwc(arr).shape[2] == layout.channels:
            kept, dropped = _without_unspecified(bgr_to_rgb(as_hwc(arr)), layout)
            pixels, note = samples_by_range(kept, path)
            return _as_stored(pixels, replace(layout, orientation=1),  # OpenCV applied the orientation
                              joined_notes(note, dropped))
    kind = f"{layout.bits}-bit {'gray' if layout.gray else 'RGB'}{'+alpha' if layout.alpha else ''}"
    raise ImageReadError(f"{path}: a {kind} TIFF compressed with {layout.compression}, which cannot be decoded "
                         "right without the imagecodecs package: pip install imagecodecs, or save it uncompressed")


def _pillow_tiff(header: Image.Image, layout: TiffLayout) -> tuple[np.ndarray | None, int]:
    """Pixels of an 8-bit TIFF by Pillow (an La image's colour still premultiplied: Pillow divides only RGBa),
    and the orientation left to apply: newer Pillow applies it on loading and then drops the tag."""
    try:
        with quiet_warnings():
            header.load()
            arr = as_hwc(np.asarray(header))
    except MemoryError:
        raise
    except Exception:
        return None, 1
    if header.mode not in ("L", "LA", "La", "RGB", "RGBA") or arr.shape[2] not in (
            layout.channels, layout.channels - layout.unspecified_extra):  # Pillow reads RGBX as RGB
        return None, 1
    return arr, 1 if 0x0112 not in header.tag_v2 else layout.orientation


def _straight_alpha(pixels: np.ndarray) -> np.ndarray:
    """Colour divided by alpha: a TIFF's associated (premultiplied) alpha, in the straight form every output
    format here stores, so a viewer does not multiply the colour by alpha a second time."""
    peak = float(np.iinfo(pixels.dtype).max)
    alpha = pixels[..., -1:].astype(np.float64)
    colour = pixels[..., :-1].astype(np.float64) * peak / np.maximum(alpha, 1.0)
    colour = np.where(alpha > 0, np.clip(np.rint(colour), 0, peak), 0)
    return np.concatenate([colour.astype(pixels.dtype), pixels[..., -1:]], axis=-1)


@contextmanager
def _tifffile_quiet() -> Iterator[None]:
    """tifffile logs what it finds wrong in a file ("invalid offset to first page") on the terminal; the file's
    own result line says it failed, so its log waits at CRITICAL meanwhile (and is put back as it was)."""
    logger = logging.getLogger("tifffile")
    before = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(before)


def tiff_size(data: bytes, header: Image.Image | None = None) -> tuple[int, int] | None:
    """(width, height) of a TIFF's image (its first full-resolution page: a preview may come first) from its
    IFD, or None; Pillow's view ``header`` is turned to that page, so its metadata and pixels are the image's."""
    if not is_tiff(data):
        return None
    import tifffile

    try:
        with _tifffile_quiet(), tifffile.TiffFile(io.BytesIO(data)) as tif:
            index, page = full_pages(tif)[0]
            size = int(page.imagewidth), int(page.imagelength)
    except MemoryError:
        raise
    except Exception:
        return None
    if index and header is not None:
        try:
            header.seek(index)
        except MemoryError:
            raise
        except Exception:
            pass  # decode_tiff reads that page itself, or refuses it
    return size
