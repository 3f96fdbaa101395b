"""TIFF and EXIF edge cases read and written as they mean: EXIF layout tags never override a TIFF output's,
a preview page first is skipped, compressed TIFFs tifffile cannot decode (no imagecodecs) read right or are
refused, CMYK orientation applied once, MinIsWhite inverted, and a huge non-image refused from its first bytes."""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import tifffile
from PIL import Image, ImageCms

from data_tools.image_encode import encode_image
from data_tools.images import ImageReadError, read_image

HAS_IMAGECODECS = importlib.util.find_spec("imagecodecs") is not None


def asymmetric(h: int = 12, w: int = 10, channels: int = 3, dtype: type = np.uint8) -> np.ndarray:
    """An image whose every pixel differs, so any flip, rotation or channel mix-up shows."""
    peak = np.iinfo(dtype).max
    return (np.arange(h * w * channels).reshape(h, w, channels) * 37 % (peak + 1)).astype(dtype)


def tiff_bytes(pixels: np.ndarray, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, pixels, **kwargs)
    return buf.getvalue()


def lzw(data: bytes) -> bytes:
    """TIFF LZW without a dictionary: a clear code before every 250 literal 9-bit codes, so the table never
    grows to 10-bit codes. Valid for every decoder, and enough to make files tifffile needs imagecodecs for."""
    codes: list[int] = []
    for i in range(0, len(data), 250):
        codes += [256, *data[i:i + 250]]
    bits = "".join(f"{c:09b}" for c in [*codes, 257])
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


def lzw_tiff(pixels: np.ndarray, **kwargs: object) -> bytes:
    """A one-strip LZW TIFF: tifffile writes the encoded strip as if deflated, then the tag is set to LZW."""
    buf = io.BytesIO()
    tifffile.imwrite(buf, iter([lzw(np.ascontiguousarray(pixels).tobytes())]), shape=pixels.shape,
                     dtype=pixels.dtype, compression="zlib", rowsperstrip=pixels.shape[0], **kwargs)
    with tifffile.TiffFile(io.BytesIO(buf.getvalue())) as tif:
        at = tif.pages[0].tags["Compression"].offset + 8  # the entry's value, inline
    data = bytearray(buf.getvalue())
    data[at:at + 2] = (5).to_bytes(2, "little" if tif.byteorder == "<" else "big")
    return bytes(data)


# ---- 1. EXIF copied into an 8-bit TIFF ----------------------------------------------------------------

def test_exif_layout_tags_do_not_override_a_tiff_output(tmp_path: Path) -> None:
    pixels = asymmetric(20, 28)
    img = Image.fromarray(pixels)
    exif = img.getexif()
    exif.update({256: 4000, 257: 3000, 258: (8, 8, 8), 259: 6, 278: 16, 0x0112: 6, 0x010F: "Camera"})
    img.save(tmp_path / "resized.png", exif=exif.tobytes())  # a resized, rotated photo keeping its EXIF
    loaded = read_image(tmp_path / "resized.png")
    assert loaded.pixels.shape == (28, 20, 3)  # turned upright
    out = Image.open(io.BytesIO(encode_image(loaded.pixels, ".tif", exif=loaded.exif)))
    assert out.size == (20, 28)
    np.testing.assert_array_equal(np.asarray(out), loaded.pixels)
    assert out.tag_v2.get(0x010F) == "Camera"  # the rest of the EXIF is kept
    assert out.getexif().get(0x0112, 1) == 1  # already upright, as in a JPEG or PNG output


def test_a_pngs_exif_after_its_image_data_is_kept_as_well_as_its_orientation(tmp_path: Path) -> None:
    """Pillow reads an eXIf chunk after IDAT only once the image loads: the orientation was applied and the rest
    of the EXIF (camera, dates) dropped from the output without a word."""
    from data_tools.png_chunks import png_chunk

    tags = Image.Exif()
    tags.update({0x0112: 6, 0x010F: "AfterIDAT"})
    buf = io.BytesIO()
    Image.fromarray(asymmetric(12, 10)).save(buf, "PNG")
    data = buf.getvalue()
    end = data.rindex(b"IEND") - 4  # the IEND chunk's length field
    (tmp_path / "after.png").write_bytes(data[:end] + png_chunk(b"eXIf", tags.tobytes()[6:]) + data[end:])
    loaded = read_image(tmp_path / "after.png")
    assert loaded.pixels.shape[:2] == (10, 12) and loaded.exif is not None  # turned upright, EXIF kept
    out = Image.open(io.BytesIO(encode_image(loaded.pixels, ".png", exif=loaded.exif)))
    assert out.getexif().get(0x010F) == "AfterIDAT" and out.getexif().get(0x0112, 1) == 1


def test_a_tiffs_own_exif_tags_travel_to_other_formats_without_its_layout(tmp_path: Path) -> None:
    """A TIFF keeps its EXIF in its own tags, which Pillow does not hand over as a block: they were dropped."""
    pixels = asymmetric(20, 28)
    exif = Image.Exif()
    exif.update({0x010F: "Camera", 0x0110: "Model X", 0x0112: 6, 700: b"<x:xmpmeta/>"})
    exif.get_ifd(0x8769).update({0x9003: "2020:01:02 03:04:05", 0x829A: (1, 100)})
    Image.fromarray(pixels).save(tmp_path / "shot.tif", exif=exif.tobytes(), dpi=(300, 150))
    loaded = read_image(tmp_path / "shot.tif")
    assert loaded.pixels.shape == (28, 20, 3)  # turned upright
    for suffix in (".jpg", ".png", ".tif"):
        out = Image.open(io.BytesIO(encode_image(loaded.pixels, suffix, exif=loaded.exif, dpi=(150, 300))))
        tags = out.getexif()
        assert tags.get(0x010F) == "Camera" and tags.get(0x0110) == "Model X", suffix
        assert tags.get_ifd(0x8769).get(0x9003) == "2020:01:02 03:04:05", suffix
        assert tags.get(0x0112, 1) == 1 and 700 not in tags, suffix  # upright now; XMP is not carried over
        if suffix != ".tif":  # the input's strips, size and resolution describe the input, not this file
            assert not {256, 257, 273, 279, 282, 283}.intersection(tags), suffix
    # a writer's own description and name (tifffile's JSON shape, its name) describe the file, not the photo
    (tmp_path / "tf.tif").write_bytes(tiff_bytes(pixels, photometric="rgb", extratags=[(271, "s", 0, "Cam", True)]))
    loaded = read_image(tmp_path / "tf.tif")
    tags = Image.open(io.BytesIO(encode_image(loaded.pixels, ".jpg", exif=loaded.exif))).getexif()
    assert tags.get(0x010F) == "Cam" and 270 not in tags and 305 not in tags

# ---- 2. a reduced-resolution preview before the image -------------------------------------------------


def test_a_tiff_with_its_preview_first_reads_the_full_image(tmp_path: Path) -> None:
    full = asymmetric(40, 56)
    path = tmp_path / "dng_like.tif"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    with tifffile.TiffWriter(path) as tw:
        tw.write(full[::8, ::8].copy(), photometric="rgb", subfiletype=1)  # NewSubfileType bit 0: reduced
        tw.write(full, photometric="rgb", extratags=[(34675, 7, len(icc), icc, True)])  # the image's ICC profile
    loaded = read_image(path)
    np.testing.assert_array_equal(loaded.pixels, full)
    assert loaded.icc == icc  # the metadata is the image's page's too, not the preview's
    with pytest.raises(ImageReadError, match="over the"):  # the size limit is the image's, not the preview's
        read_image(path, max_pixels=40 * 56 - 1)


def test_a_tiff_whose_image_is_in_its_previews_subifd_reads_the_full_image(tmp_path: Path) -> None:
    """The preview in IFD 0 and the image in its SubIFD: the 7x5 preview was denoised and written, exit 0."""
    full = asymmetric(40, 56)
    path = tmp_path / "subifd.tif"
    with tifffile.TiffWriter(path) as tw:
        tw.write(full[::8, ::8].copy(), photometric="rgb", subfiletype=1, subifds=1)
        tw.write(full, photometric="rgb")
    np.testing.assert_array_equal(read_image(path).pixels, full)
    with pytest.raises(ImageReadError, match="over the"):
        read_image(path, max_pixels=40 * 56 - 1)


# ---- 3. compressed TIFFs with alpha tifffile cannot decode without imagecodecs --------------------------

@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_an_lzw_tiff_keeps_straight_alpha_and_gray_alpha(tmp_path: Path, mode: str) -> None:
    pixels = asymmetric(channels=len(mode))
    pixels[..., -1] = np.where(np.arange(10) % 2, 100, 255)  # semi-transparent columns
    Image.fromarray(pixels, mode).save(tmp_path / "a.tif", compression="tiff_lzw")
    np.testing.assert_array_equal(read_image(tmp_path / "a.tif").pixels, pixels)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_an_lzw_tiff_with_premultiplied_alpha_reads_as_the_uncompressed_one(tmp_path: Path, dtype: type) -> None:
    peak = np.iinfo(dtype).max
    pixels = asymmetric(channels=4, dtype=dtype)
    pixels[..., :3] = (pixels[..., :3].astype(np.float64) * pixels[..., 3:] / peak).astype(dtype)
    kwargs = {"photometric": "rgb", "extrasamples": ["assocalpha"]}
    (tmp_path / "raw.tif").write_bytes(tiff_bytes(pixels, **kwargs))
    (tmp_path / "lzw.tif").write_bytes(lzw_tiff(pixels, **kwargs))
    want, got = read_image(tmp_path / "raw.tif").pixels, read_image(tmp_path / "lzw.tif").pixels
    assert got.dtype == dtype and got.shape == want.shape
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1  # Pillow's and our division round apart


@pytest.mark.parametrize("orientation", [3, 6])
def test_a_16_bit_lzw_tiff_is_turned_upright_once_as_the_uncompressed_one(tmp_path: Path, orientation: int) -> None:
    """Without imagecodecs a 16-bit LZW TIFF is decoded by OpenCV: its Orientation must be applied once (a portrait
    scan came back turned twice if the tag were kept after OpenCV applied it)."""
    pixels = asymmetric(12, 10, dtype=np.uint16)
    tag = {"photometric": "rgb", "extratags": [(274, "H", 1, orientation, True)]}
    (tmp_path / "raw.tif").write_bytes(tiff_bytes(pixels, **tag))
    (tmp_path / "lzw.tif").write_bytes(lzw_tiff(pixels, **tag))
    want = read_image(tmp_path / "raw.tif").pixels
    assert want.shape[:2] == ((10, 12) if orientation == 6 else (12, 10))  # turned upright
    np.testing.assert_array_equal(read_image(tmp_path / "lzw.tif").pixels, want)


@pytest.mark.skipif(HAS_IMAGECODECS, reason="tifffile decodes LZW itself with imagecodecs")
def test_an_lzw_tiff_no_decoder_reads_right_is_refused_naming_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "la16.tif"  # 16-bit gray+alpha: OpenCV drops the alpha and the depth, Pillow cannot open it
    path.write_bytes(lzw_tiff(asymmetric(channels=2, dtype=np.uint16), photometric="minisblack",
                              extrasamples=["unassalpha"]))
    with pytest.raises(ImageReadError, match=r"la16\.tif: .*imagecodecs") as info:
        read_image(path)
    assert "\n" not in str(info.value)


# ---- 4. CMYK with an Orientation tag ------------------------------------------------------------------

@pytest.mark.parametrize("compression", [None, "tiff_lzw"])
@pytest.mark.parametrize("orientation", [3, 6])
def test_a_cmyk_tiff_orientation_is_applied_once(tmp_path: Path, orientation: int, compression: str | None) -> None:
    upright = asymmetric(12, 10)
    stored = np.rot90(upright, 1) if orientation == 6 else upright[::-1, ::-1]  # what a viewer turns upright
    path = tmp_path / "cmyk.tif"
    Image.fromarray(np.ascontiguousarray(stored)).convert("CMYK").save(
        path, compression=compression, tiffinfo={274: orientation})
    np.testing.assert_array_equal(read_image(path).pixels, upright)  # RGB to CMYK and back is exact for K = 0


# ---- 5. MinIsWhite gray -------------------------------------------------------------------------------

@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_a_min_is_white_tiff_is_read_as_it_shows(tmp_path: Path, dtype: type, compress: bool) -> None:
    stored = asymmetric(channels=1, dtype=dtype)[..., 0]
    path = tmp_path / "white.tif"
    path.write_bytes((lzw_tiff if compress else tiff_bytes)(stored, photometric="miniswhite"))
    np.testing.assert_array_equal(read_image(path).pixels[..., 0], np.iinfo(dtype).max - stored)


# ---- 6. a huge file that is not an image --------------------------------------------------------------

def test_a_huge_non_image_is_refused_from_its_first_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "video.png"
    with open(path, "wb") as f:
        f.truncate(2 * 1024**3)  # sparse: no disk used
    read = []
    monkeypatch.setattr(Path, "read_bytes", lambda self: read.append(self) or b"")
    start = time.perf_counter()
    with pytest.raises(ImageReadError, match=r"video\.png: not a readable image file$"):
        read_image(path)
    assert not read and time.perf_counter() - start < 2.0


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_a_truncated_16_bit_tiff_is_called_corrupt_not_a_missing_codec(tmp_path: Path, compression: str | None) -> None:
    """Only a codec tifffile lacks sends a file to the fallback decoders; broken data is broken data."""
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.random.default_rng(0).integers(0, 65535, (64, 64, 3), dtype=np.uint16),
                     compression=compression)
    (tmp_path / "a.tif").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageReadError, match="truncated or corrupt") as info:
        read_image(tmp_path / "a.tif")
    assert "imagecodecs" not in str(info.value)


@pytest.mark.parametrize(("tag", "photometric"), [(257, "rgb"), (256, "rgb"), (256, "cielab")])
def test_a_tiff_whose_header_says_zero_rows_or_columns_is_corrupt(tmp_path: Path, tag: int, photometric: str) -> None:
    """An ImageLength or ImageWidth damaged to 0 escaped as an IndexError (a Lab one as skimage's ValueError),
    which stopped synth, evaluate and benchmark with a traceback where the next file waited."""
    data = bytearray(tiff_bytes(asymmetric(24, 31), photometric=photometric))
    with tifffile.TiffFile(io.BytesIO(bytes(data))) as tif:
        field = tif.pages[0].tags[tag]
        offset, width = field.valueoffset, 2 if field.dtype == 3 else 4  # a SHORT or a LONG
    data[offset:offset + width] = bytes(width)
    (tmp_path / "zero.tif").write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match="zero.tif: truncated or corrupt image data"):
        read_image(tmp_path / "zero.tif")


@pytest.mark.parametrize(("channels", "photometric"), [(4, "rgb"), (2, "minisblack")])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_a_tiffs_unspecified_extra_sample_is_not_taken_for_alpha(tmp_path: Path, channels: int, photometric: str,
                                                                 dtype: type) -> None:
    """ExtraSamples 0 says "unspecified data" (a mask, near infrared), not alpha: passed through as alpha, a
    sample of zeros turned the denoised photo fully transparent. It is left out, and the note says so."""
    pixels = asymmetric(12, 10, channels, dtype)
    pixels[..., -1] = 0
    (tmp_path / "x.tif").write_bytes(tiff_bytes(pixels, photometric=photometric, extrasamples=["unspecified"]))
    loaded = read_image(tmp_path / "x.tif")
    assert np.array_equal(loaded.pixels, pixels[..., :-1]) and "unspecified data (not alpha)" in loaded.note
    (tmp_path / "a.tif").write_bytes(tiff_bytes(pixels, photometric=photometric, extrasamples=["unassalpha"]))
    assert read_image(tmp_path / "a.tif").pixels.shape[2] == channels  # true alpha is still alpha


@pytest.mark.parametrize(("photometric", "channels", "dtype"), [("cielab", 4, np.uint8), ("separated", 5, np.uint16)])
def test_a_lab_or_cmyk_tiffs_unspecified_extra_sample_is_not_alpha_either(tmp_path: Path, photometric: str,
                                                                          channels: int, dtype: type) -> None:
    """Converted to RGB here, a Lab or 16-bit CMYK TIFF kept whatever followed its colour as alpha."""
    pixels = np.zeros((12, 10, channels), dtype)
    (tmp_path / "x.tif").write_bytes(tiff_bytes(pixels, photometric=photometric, extrasamples=["unspecified"]))
    loaded = read_image(tmp_path / "x.tif")
    assert loaded.pixels.shape == (12, 10, 3) and "unspecified data (not alpha)" in loaded.note


@pytest.mark.parametrize("compression", [None, "tiff_lzw", "tiff_adobe_deflate", "packbits"])
def test_pillows_rgbx_tiff_is_rgb_whichever_decoder_reads_it(tmp_path: Path, compression: str | None) -> None:
    """Pillow writes RGBX with ExtraSamples 0; compressed with LZW (which tifffile leaves to other decoders
    without imagecodecs), OpenCV read the fourth sample as alpha: all zeros, a fully transparent photo."""
    pixels = asymmetric(12, 10, 4)
    pixels[..., 3] = 0
    Image.frombytes("RGBX", (10, 12), pixels.tobytes()).save(tmp_path / "x.tif", compression=compression)
    loaded = read_image(tmp_path / "x.tif")
    assert np.array_equal(loaded.pixels, pixels[..., :3]) and "unspecified data (not alpha)" in loaded.note


def _ifd_offsets(data: bytes) -> list[int]:
    """Where a little-endian TIFF's pages (IFDs) start, in chain order."""
    offsets, at = [], int.from_bytes(data[4:8], "little")
    while at:
        offsets.append(at)
        at = int.from_bytes(data[at + 2 + 12 * int.from_bytes(data[at:at + 2], "little"):][:4], "little")
    return offsets


@pytest.mark.parametrize("pages", [1, 2])
def test_a_tiff_whose_page_chain_loops_back_is_read_once_not_walked_for_ever(tmp_path: Path, pages: int) -> None:
    """A 1 KB TIFF whose last page pointed back to its first hung denoise, evaluate and synth on it, holding 20 GB
    after ten minutes: the walk over its pages went round the loop."""
    data = bytearray(tiff_bytes(np.stack([asymmetric(16, 16)] * pages) if pages > 1 else asymmetric(16, 16),
                                photometric="rgb", byteorder="<"))
    offsets = _ifd_offsets(bytes(data))
    assert len(offsets) == pages
    last = offsets[-1]
    next_at = last + 2 + 12 * int.from_bytes(data[last:last + 2], "little")
    data[next_at:next_at + 4] = offsets[0].to_bytes(4, "little")  # the last page's "next" is the first
    (tmp_path / "loop.tif").write_bytes(bytes(data))
    # in a child with a time limit: were the walk to loop again, the suite would hang and eat memory
    read = ("import sys; from data_tools.images import ImageReadError, read_image\n"
            "try:\n    print(read_image(sys.argv[1]).pixels.tobytes().hex())\n"
            "except ImageReadError as refused:\n    print(refused)\n")
    said = subprocess.run([sys.executable, "-c", read, str(tmp_path / "loop.tif")], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).resolve().parents[2]).stdout.strip()
    if pages == 1:
        assert said == asymmetric(16, 16).tobytes().hex()
    else:
        assert "a TIFF with 2 pages" in said, said


@pytest.mark.parametrize("palette", [False, True])
def test_a_png_whose_image_data_fails_its_checksum_is_refused_not_decoded_into_garbage(tmp_path: Path,
                                                                                     palette: bool) -> None:
    """libpng refuses a flipped byte in the compressed data (the chunk's CRC), but Pillow, the fallback, decodes
    many such files without a check: a gradient came back with black rows and streaks, denoised, exit 0. (A
    palette PNG goes to Pillow whatever OpenCV says.)"""
    gradient = np.dstack([*np.meshgrid(np.arange(160) * 255 // 159, np.arange(120) * 255 // 119), np.full(
        (120, 160), 90)]).astype(np.uint8)
    buf = io.BytesIO()
    image = Image.fromarray(gradient)
    (image.quantize(64) if palette else image).save(buf, "PNG")
    data = buf.getvalue()
    start = data.index(b"IDAT") + 4
    length = int.from_bytes(data[start - 8:start - 4], "big")
    pillow_took = 0
    for at in range(start + length // 2, start + length - 8, max(1, length // 40)):
        damaged = bytearray(data)
        damaged[at] ^= 0x10
        (tmp_path / "d.png").write_bytes(bytes(damaged))
        try:
            Image.open(tmp_path / "d.png").load()
            pillow_took += 1
        except Exception:  # noqa: BLE001 - Pillow's own refusal, any kind
            pass
        with pytest.raises(ImageReadError, match="d.png: truncated or corrupt image data"):
            read_image(tmp_path / "d.png")
    assert pillow_took  # the case the check is for: data Pillow decodes without a word


def test_a_jpeg_cut_off_mid_data_is_refused_not_filled_with_gray(tmp_path: Path) -> None:
    """libjpeg fills what is missing with gray and only warns; with an end marker appended the file was
    denoised and reported done (without one it was already refused)."""
    buf = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()).save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    (tmp_path / "whole.jpg").write_bytes(data)
    assert read_image(tmp_path / "whole.jpg").pixels.shape == (512, 512, 3)
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2] + b"\xff\xd9")
    with pytest.raises(ImageReadError, match="truncated or corrupt"):
        read_image(tmp_path / "cut.jpg")


def test_a_whole_jpeg_without_its_end_marker_is_read_and_one_cut_off_still_refused(tmp_path: Path) -> None:
    """A writer that stopped just short of the end marker leaves every pixel: OpenCV's imdecode refused it (its
    imread and libjpeg read it whole), and the file was called truncated. Cut inside the scan, it still is; a
    progressive file without the marker is refused as before: cut in a later scan, it decodes blurred and silent."""
    data = {}
    for progressive in (False, True):
        buf = io.BytesIO()
        Image.fromarray(skimage.data.astronaut()[:96, :128]).save(buf, "JPEG", quality=90, progressive=progressive)
        data[progressive] = buf.getvalue()
    (tmp_path / "no_end.jpg").write_bytes(data[False][:-2])
    loaded = read_image(tmp_path / "no_end.jpg")
    np.testing.assert_array_equal(loaded.pixels, read_image_bytes(data[False], tmp_path))
    assert not loaded.caution
    import cv2

    restarts = cv2.imencode(".jpg", skimage.data.astronaut()[:96, :128], [cv2.IMWRITE_JPEG_RST_INTERVAL, 2])[1]
    restarts = restarts.tobytes()
    marker = restarts.index(b"\xff\xd3")  # a cut at a restart marker: libjpeg reports the marker, not a cut-off
    for name, cut in (("cut.jpg", data[False][: len(data[False]) * 2 // 3]),
                      ("progressive_cut.jpg", data[True][: len(data[True]) * 2 // 3]),
                      ("restart_cut.jpg", restarts[:marker]), ("restart_cut_after.jpg", restarts[:marker + 2])):
        (tmp_path / name).write_bytes(cut)
        with pytest.raises(ImageReadError, match="truncated or corrupt"):
            read_image(tmp_path / name)


def test_a_cut_off_jpeg_with_stray_header_bytes_is_refused_and_a_whole_one_read(tmp_path: Path) -> None:
    """libjpeg prints only a decode's first warning: two stray bytes before a header segment (a camera quirk)
    hid the cut-off warning, and the gray-filled file was read."""
    buf = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()).save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    at = data.find(b"\xff\xdb")  # the first quantisation table
    stray = data[:at] + b"\x00\x00" + data[at:]
    (tmp_path / "whole.jpg").write_bytes(stray)
    np.testing.assert_array_equal(read_image(tmp_path / "whole.jpg").pixels, read_image_bytes(data, tmp_path))
    (tmp_path / "cut.jpg").write_bytes(stray[: len(stray) // 2] + b"\xff\xd9")
    with pytest.raises(ImageReadError, match="truncated or corrupt"):
        read_image(tmp_path / "cut.jpg")


def test_another_threads_libjpeg_warning_does_not_refuse_an_intact_jpeg(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """stderr is the whole process's: an app's own decoder warning about its own cut-off file, in the moment this
    package listened, got intact files refused as "truncated or corrupt". A cut-off warning must be heard twice."""
    import os

    import cv2

    buf = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()).save(buf, "JPEG", quality=90)
    (tmp_path / "whole.jpg").write_bytes(buf.getvalue())
    decode, calls = cv2.imdecode, []

    def others_warning_first(*args: object) -> object:
        calls.append(1)
        if len(calls) == 1:  # the app's thread, in the moment of the first decode
            os.write(2, b"Corrupt JPEG data: premature end of data segment\n")
        return decode(*args)

    monkeypatch.setattr(cv2, "imdecode", others_warning_first)
    assert read_image(tmp_path / "whole.jpg").pixels.shape == (512, 512, 3)


def astronaut_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()[:200, :200]).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def test_a_jpeg_whose_scan_libjpeg_calls_corrupt_is_read_with_a_caution(tmp_path: Path) -> None:
    """40 damaged bytes in the compressed data: libjpeg lost its place, decoded the lower half into displaced,
    colour-shifted blocks and said "corrupt JPEG data"; the file was denoised (and scored) as a good photo, without
    a word. Bytes padding intact data before its end marker (some scanners and webcams write them) draw the same
    complaint, so the file is read, not refused, and the caution says what libjpeg said."""
    data = astronaut_jpeg()
    (tmp_path / "whole.jpg").write_bytes(data)
    assert read_image(tmp_path / "whole.jpg").caution == ""
    damaged = bytearray(data)
    for at in range(len(data) // 2, len(data) // 2 + 40):
        damaged[at] ^= 0x55
    (tmp_path / "damaged.jpg").write_bytes(bytes(damaged))
    loaded = read_image(tmp_path / "damaged.jpg")
    assert loaded.pixels.shape == (200, 200, 3)
    assert loaded.caution.startswith("libjpeg reports corrupt data (") and "may be garbled" in loaded.caution
    (tmp_path / "padded.jpg").write_bytes(data[:-2] + bytes(5) + data[-2:])
    padded = read_image(tmp_path / "padded.jpg")
    np.testing.assert_array_equal(padded.pixels, read_image(tmp_path / "whole.jpg").pixels)
    assert "extraneous bytes before marker 0xd9" in padded.caution


def test_a_scan_complaint_behind_stray_header_bytes_is_heard(tmp_path: Path) -> None:
    """libjpeg prints only a decode's first warning: the stray header bytes' harmless one hid the scan's."""
    data = astronaut_jpeg()
    at = data.find(b"\xff\xdb")
    stray = data[:at] + b"\x00\x00" + data[at:]
    (tmp_path / "stray.jpg").write_bytes(stray)
    assert read_image(tmp_path / "stray.jpg").caution == ""
    (tmp_path / "stray_padded.jpg").write_bytes(stray[:-2] + bytes(5) + stray[-2:])
    assert "extraneous bytes before marker 0xd9" in read_image(tmp_path / "stray_padded.jpg").caution


def test_another_threads_libjpeg_complaint_gives_an_intact_jpeg_no_caution(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    import cv2

    (tmp_path / "whole.jpg").write_bytes(astronaut_jpeg())
    decode, calls = cv2.imdecode, []

    def others_warning_first(*args: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            os.write(2, b"Corrupt JPEG data: bad Huffman code\n")
        return decode(*args)

    monkeypatch.setattr(cv2, "imdecode", others_warning_first)
    assert read_image(tmp_path / "whole.jpg").caution == ""


def read_image_bytes(data: bytes, folder: Path) -> np.ndarray:
    (folder / "plain.jpg").write_bytes(data)
    return read_image(folder / "plain.jpg").pixels


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "LA", "RGBA"])
def test_a_png_with_damaged_image_data_is_refused_not_read_half_decoded(tmp_path: Path, mode: str) -> None:
    """Pillow's EXIF lookup decodes a whole PNG; on damaged data it stopped partway, and the decode after it took
    that half-filled image (mostly black rows) as the photo, denoised and reported done."""
    buf = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()[:256, :256]).convert(mode).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    at = data.index(b"IDAT")
    data[at + 8 + (len(data) - at - 20) // 5] ^= 0x55  # one flipped byte a fifth of the way into the data
    (tmp_path / "a.png").write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match="truncated or corrupt"):
        read_image(tmp_path / "a.png")


def test_a_tiff_with_a_damaged_strip_is_refused_not_read_on_by_opencv(tmp_path: Path) -> None:
    """tifffile refused the strip, and OpenCV, the fallback, read the file with that strip garbled."""
    buf = io.BytesIO()
    tifffile.imwrite(buf, skimage.data.astronaut()[:256, :256], photometric="rgb", compression="zlib",
                     rowsperstrip=16)
    data = bytearray(buf.getvalue())
    page = tifffile.TiffFile(io.BytesIO(bytes(data))).pages[0]
    data[page.dataoffsets[11] + page.databytecounts[11] // 2] ^= 0x55
    (tmp_path / "a.tif").write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match="truncated or corrupt"):
        read_image(tmp_path / "a.tif")


def test_a_png_whose_metadata_inflates_past_pillows_limit_is_read_without_it(tmp_path: Path) -> None:
    """A printer's 1.2 MB ICC profile, or a compressed text chunk that is a zip bomb, made Pillow refuse the whole
    PNG ("not a readable image file"), though its pixels are fine: they are read and the note names the chunk."""
    import zlib

    from data_tools.png_chunks import png_chunk, png_with_chunks

    pixels = np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    plain = encode_image(pixels, ".png")
    def rgb_profile(size: int) -> bytes:  # a real sRGB profile, padded with noise (incompressible) to ``size``
        srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
        padded = srgb + np.random.default_rng(1).bytes(size - len(srgb))
        return size.to_bytes(4, "big") + padded[4:]

    big_profile = rgb_profile(1_200_000)
    ihdr_end = 8 + 8 + 13 + 4
    inflated = zlib.compress(b"\x00" * 200_000_000)  # 200 MB
    bomb = png_chunk(b"zTXt", b"Comment\x00\x00" + inflated)
    international = png_chunk(b"iTXt", b"Comment\x00\x01\x00en\x00\x00" + inflated)  # compressed, a language
    for kind, data in (("iCCP", png_with_chunks(plain, big_profile)),
                       ("zTXt", plain[:ihdr_end] + bomb + plain[ihdr_end:]),
                       ("iTXt", plain[:ihdr_end] + international + plain[ihdr_end:])):
        (tmp_path / f"{kind}.png").write_bytes(data)
        image = read_image(tmp_path / f"{kind}.png")
        assert np.array_equal(image.pixels, pixels) and image.icc is None
        assert image.note == f"{kind} chunk dropped: it inflates past Pillow's 1 MB limit"
    profile = rgb_profile(500_000)  # once: a new profile records the second it was made in its header
    fine = png_with_chunks(plain, profile)  # under the limit: kept byte for byte
    (tmp_path / "fine.png").write_bytes(fine)
    assert read_image(tmp_path / "fine.png").icc == profile
    (tmp_path / "cut.png").write_bytes(fine[:-24])  # a damaged file stays refused
    with pytest.raises(ImageReadError):
        read_image(tmp_path / "cut.png")


def test_16_bit_pixels_written_to_an_8_bit_format_round_to_the_nearest_level(tmp_path: Path) -> None:
    levels = np.arange(256, dtype=np.uint16).reshape(16, 16, 1).repeat(3, axis=2)
    (tmp_path / "a.bmp").write_bytes(encode_image(levels * 257, ".bmp"))  # 257 k is exactly level k
    np.testing.assert_array_equal(read_image(tmp_path / "a.bmp").pixels, levels.astype(np.uint8))


@pytest.mark.parametrize(("quality", "sampling"), [(89, 2), (90, 0), (95, 0)])
def test_a_jpeg_from_quality_90_keeps_full_colour_resolution(quality: int, sampling: int) -> None:
    from PIL import JpegImagePlugin

    pixels = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    written = Image.open(io.BytesIO(encode_image(pixels, ".jpg", quality=quality)))
    assert JpegImagePlugin.get_sampling(written) == sampling  # 0 = 4:4:4, 2 = 4:2:0


def test_a_gray_profile_is_not_written_onto_colour_samples(tmp_path: Path) -> None:
    gray_profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()  # its colour space set to gray
    gray_profile = gray_profile[:16] + b"GRAY" + gray_profile[20:]
    colour = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    (tmp_path / "c.png").write_bytes(encode_image(colour, ".png", icc=gray_profile))
    assert read_image(tmp_path / "c.png").icc is None  # a viewer would misread or reject it
    (tmp_path / "g.png").write_bytes(encode_image(colour[..., :1], ".png", icc=gray_profile))
    assert read_image(tmp_path / "g.png").icc == gray_profile


def test_a_float_tiff_with_negative_samples_is_refused_not_clipped(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "f.tif", np.linspace(-0.25, 0.75, 64, dtype=np.float32).reshape(8, 8))
    with pytest.raises(ImageReadError, match=r"float samples in -0\.25\.\.0\.75"):
        read_image(tmp_path / "f.tif")


def test_a_pipe_where_an_image_was_is_refused_not_waited_on(tmp_path: Path) -> None:
    """A set's manifest names its files, which are opened without a folder scan: a pipe put in one's place blocked
    benchmark for ever, waiting for a writer."""
    import os
    import threading

    pipe = tmp_path / "a.png"
    os.mkfifo(pipe)
    said: list[str] = []

    def read() -> None:
        try:
            read_image(pipe)
        except ImageReadError as exc:
            said.append(str(exc))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():  # blocked in open(): a writer's end lets it go, so the suite does not hang
        os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(10)
    assert said and "a.png: not a regular file (a pipe, socket or device)" in said[0], said


def test_an_image_another_program_holds_a_lease_on_is_waited_for(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Opened without waiting, a file under a lease (Samba, NFS) failed at once with EAGAIN where a plain open
    waits for the holder to let go; and a folder is called a folder."""
    import os

    from data_tools import images

    photo = np.random.default_rng(0).integers(0, 256, (8, 8, 3), np.uint8)
    (tmp_path / "a.png").write_bytes(encode_image(photo, ".png"))
    real_open = os.open

    def leased(path: object, flags: int, *rest: int) -> int:
        if flags & os.O_NONBLOCK:
            raise BlockingIOError(11, "Resource temporarily unavailable")
        return real_open(path, flags, *rest)

    monkeypatch.setattr(images.os, "open", leased)
    assert np.array_equal(read_image(tmp_path / "a.png").pixels, photo)
    monkeypatch.undo()
    (tmp_path / "b.png").mkdir()
    with pytest.raises(ImageReadError, match="b.png: is a folder, not an image file"):
        read_image(tmp_path / "b.png")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_float_tiff_holding_nan_or_infinity_is_refused(tmp_path: Path, bad: float) -> None:
    """NaN passes every range comparison: it would have become an arbitrary 16-bit value, denoised as done."""
    samples = np.linspace(0.0, 1.0, 64, dtype=np.float32).reshape(8, 8)
    samples[3, 4] = bad
    tifffile.imwrite(tmp_path / "f.tif", samples)
    with pytest.raises(ImageReadError, match="float samples with NaN or infinite values"):
        read_image(tmp_path / "f.tif")


@pytest.mark.parametrize("name", ["b.png", "b.tif", "b.bmp"])
def test_a_1_bit_image_is_read_as_8_bit_gray_and_said(tmp_path: Path, name: str) -> None:
    """A dithered 1-bit scan came back as gray levels (8 dB from its input) without a word."""
    Image.fromarray(np.random.default_rng(0).random((16, 16)) > 0.5).convert("1").save(tmp_path / name)
    loaded = read_image(tmp_path / name)
    assert loaded.pixels.dtype == np.uint8 and set(np.unique(loaded.pixels)) == {0, 255}
    assert loaded.note == "1-bit (black and white) read as 8-bit gray"


def test_a_float_tiff_a_hair_outside_0_1_is_clipped_and_said(tmp_path: Path) -> None:
    """One sample at 1.0001 (a resampling's ringing) refused the whole photo as HDR or 0-255 data."""
    samples = np.linspace(0.0, 1.0, 64, dtype=np.float32).reshape(8, 8)
    samples[0, 0], samples[-1, -1] = -0.0001, 1.0001
    tifffile.imwrite(tmp_path / "f.tif", samples)
    loaded = read_image(tmp_path / "f.tif")
    assert loaded.pixels.dtype == np.uint16 and loaded.pixels[0, 0, 0] == 0 and loaded.pixels[-1, -1, 0] == 65535
    assert "the few outside it (-0.0001..1.0001) clipped" in loaded.note


def test_a_broken_tiff_is_refused_without_tifffiles_log_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """"<tifffile.TiffPages @8> invalid offset to first page 8" reached the terminal before the file's own line;
    tifffile's log level is put back afterwards."""
    import logging

    from data_tools.image_decode import ImageReadError
    from data_tools.images import read_image

    (tmp_path / "hdr.tif").write_bytes(b"II*\x00\x08\x00\x00\x00")
    before = logging.getLogger("tifffile").level
    with pytest.raises(ImageReadError):
        read_image(tmp_path / "hdr.tif")
    assert not [r for r in caplog.records if r.name.startswith("tifffile")]  # (a terminal shows what is logged)
    assert logging.getLogger("tifffile").level == before
