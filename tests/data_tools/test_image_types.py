"""Every image type reads and writes as it is: orientation applied once, gray+alpha kept at any depth,
planar TIFFs, sample formats by their true range (or refused), no page silently dropped, no C-library noise."""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms, ImageOps

from data_tools.image_encode import encode_image
from data_tools.image_metadata import exif_for_output
from data_tools.images import ImageReadError, read_image, write_image


def asymmetric(h: int = 6, w: int = 9, channels: int = 3, dtype: type = np.uint8) -> np.ndarray:
    """An image whose every pixel differs, so any flip or rotation shows."""
    scale = 1 if dtype == np.uint8 else 200
    return (np.arange(h * w * channels).reshape(h, w, channels) % 250 * scale).astype(dtype)


def tiff_bytes(pixels: np.ndarray, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, pixels, **kwargs)
    return buf.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_applied_as_pillow_does(tmp_path: Path, orientation: int) -> None:
    pixels = asymmetric()
    img = Image.fromarray(pixels)
    exif = img.getexif()
    exif[0x0112] = orientation
    path = tmp_path / "o.png"
    img.save(path, exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)))
    np.testing.assert_array_equal(read_image(path).pixels, expected)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_the_carried_exif_describes_the_upright_image(orientation: int) -> None:
    """A quarter turn (5-8) swaps the EXIF's pixel size and x/y resolution with the pixels; the others keep them."""
    exif = Image.Exif()
    exif.update({0x0112: orientation, 0x011A: 300.0, 0x011B: 150.0, 0x010F: "Camera"})
    exif.get_ifd(0x8769).update({0xA002: 12, 0xA003: 10})
    for fmt in ("JPEG", "PNG"):
        out = Image.Exif()
        out.load(exif_for_output(exif.tobytes(), fmt))
        turned = orientation >= 5
        assert (out[0x011A], out[0x011B]) == ((150.0, 300.0) if turned else (300.0, 150.0))
        sizes = out.get_ifd(0x8769)
        assert (sizes[0xA002], sizes[0xA003]) == ((10, 12) if turned else (12, 10))
        assert out[0x0112] == 1 and out[0x010F] == "Camera"
    bare = Image.Exif()
    bare.update({0x0112: orientation})
    out = Image.Exif()
    out.load(exif_for_output(bare.tobytes(), "JPEG"))
    assert dict(out) == {0x0112: 1}  # nothing added: no empty Exif sub-IFD, no resolution

@pytest.mark.parametrize("orientation", [3, 6, 7, 8])
def test_a_tiff_orientation_tag_is_applied_once(tmp_path: Path, orientation: int) -> None:
    pixels = asymmetric()
    path = tmp_path / "o.tif"
    path.write_bytes(tiff_bytes(pixels, photometric="rgb", extratags=[(274, "H", 1, orientation, True)]))
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)))
    np.testing.assert_array_equal(read_image(path).pixels, expected)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_gray_alpha_tiff_keeps_depth_and_alpha_both_ways(tmp_path: Path, dtype: type) -> None:
    pixels = asymmetric(channels=2, dtype=dtype)
    path = tmp_path / "la.tif"
    path.write_bytes(tiff_bytes(pixels, photometric="minisblack", extrasamples=["unassalpha"]))
    got = read_image(path).pixels
    assert got.dtype == dtype and got.shape == pixels.shape
    np.testing.assert_array_equal(got, pixels)
    write_image(tmp_path / "out.tif", got)
    np.testing.assert_array_equal(read_image(tmp_path / "out.tif").pixels, pixels)


def test_16_bit_gray_alpha_png_stays_gray_alpha(tmp_path: Path) -> None:
    pixels = asymmetric(channels=2, dtype=np.uint16)
    write_image(tmp_path / "la16.png", pixels)
    raw = (tmp_path / "la16.png").read_bytes()
    assert raw[24:26] == bytes([16, 4])  # IHDR: 16-bit, colour type 4 (gray+alpha)
    got = read_image(tmp_path / "la16.png").pixels
    assert got.shape == pixels.shape and got.dtype == np.uint16
    np.testing.assert_array_equal(got, pixels)


def test_planar_separate_16_bit_rgb_tiff(tmp_path: Path) -> None:
    pixels = asymmetric(dtype=np.uint16)
    path = tmp_path / "planar.tif"
    path.write_bytes(tiff_bytes(np.moveaxis(pixels, -1, 0), photometric="rgb", planarconfig="separate"))
    got = read_image(path).pixels
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, pixels)


def test_float_samples_in_0_1_become_16_bit_with_a_note(tmp_path: Path) -> None:
    unit = np.linspace(0, 1, 6 * 9 * 3, dtype=np.float32).reshape(6, 9, 3)
    path = tmp_path / "f.tif"
    path.write_bytes(tiff_bytes(unit, photometric="rgb"))
    loaded = read_image(path)
    assert loaded.pixels.dtype == np.uint16
    np.testing.assert_array_equal(loaded.pixels, np.rint(unit.astype(np.float64) * 65535).astype(np.uint16))
    assert "16-bit" in loaded.note


@pytest.mark.parametrize("pixels, needle", [
    (np.full((6, 9, 3), 200.0, np.float32), "0-1 floats"),  # 0-255 floats: would be 93 % white
    (np.full((6, 9, 3), 4.5, np.float32), "0-1 floats"),  # HDR: would be clipped
    (np.full((6, 9), 40000, np.uint32), "32-bit unsigned"),  # 16-bit data in 32 bits: would be black
    (np.full((6, 9), 3000, np.int16), "16-bit signed"),  # 12-bit data in int16: would be shifted
    (np.full((6, 9), 1 + 2j, np.complex64), "complex64 samples, which are not an image's"),  # was "64-bit unsigned"
])
def test_sample_formats_without_a_stated_range_are_refused(tmp_path: Path, pixels: np.ndarray, needle: str) -> None:
    path = tmp_path / "odd.tif"
    path.write_bytes(tiff_bytes(pixels, photometric="rgb" if pixels.ndim == 3 else "minisblack"))
    with pytest.raises(ImageReadError, match=needle) as info:
        read_image(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


@pytest.mark.parametrize("count", [2, 3])
def test_a_multi_page_tiff_is_refused_not_cut_to_its_first_page(tmp_path: Path, count: int) -> None:
    path = tmp_path / "pages.tif"
    with tifffile.TiffWriter(path) as tif:
        for i in range(count):
            tif.write(asymmetric() + i)
    with pytest.raises(ImageReadError, match=f"a TIFF with {count} pages"):
        read_image(path)


@pytest.mark.parametrize("suffix", [".png", ".webp"])
def test_an_animation_is_refused_not_cut_to_its_first_frame(tmp_path: Path, suffix: str) -> None:
    for count in (2, 3):  # two frames, the fewest an animation has, too
        frames = [Image.fromarray(asymmetric() + i) for i in range(count)]
        frames[0].save(tmp_path / f"clip{suffix}", save_all=True, append_images=frames[1:], lossless=True)
        with pytest.raises(ImageReadError, match=f"animation with {count} frames"):
            read_image(tmp_path / f"clip{suffix}")
    frames[0].save(tmp_path / f"still{suffix}", lossless=True)  # one frame, saved the same way: read
    assert np.array_equal(read_image(tmp_path / f"still{suffix}").pixels, asymmetric())


def test_an_animated_gif_under_an_image_extension_is_refused(tmp_path: Path) -> None:
    frames = [Image.fromarray(asymmetric() + 40 * i) for i in range(3)]
    frames[0].save(tmp_path / "clip.png", format="GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(ImageReadError, match="animation with 3 frames"):  # was the first frame, "done"
        read_image(tmp_path / "clip.png")
    frames[0].save(tmp_path / "still.png", format="GIF")  # a still GIF under .png is read
    assert read_image(tmp_path / "still.png").pixels.shape[:2] == (6, 9)


def test_a_bmp_keeps_alpha_beside_colour(tmp_path: Path) -> None:
    rgba = asymmetric(channels=4)
    write_image(tmp_path / "a.bmp", rgba)
    assert np.array_equal(read_image(tmp_path / "a.bmp").pixels, rgba)
    assert Image.open(tmp_path / "a.bmp").mode == "RGBA"  # other readers see it too
    write_image(tmp_path / "la.bmp", asymmetric(channels=2))  # gray + alpha: BMP cannot, the gray is kept
    assert np.array_equal(read_image(tmp_path / "la.bmp").pixels, asymmetric(channels=2)[..., :1])


@pytest.mark.parametrize("channels", [3, 4])
def test_a_lossless_webp_is_written_lossless_and_a_lossy_one_lossy(tmp_path: Path, channels: int) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (24, 30, channels), dtype=np.uint8)
    icc = b"\0" * 8  # any ICC bytes make Pillow write an extended (VP8X) file, whose codec chunk comes later
    Image.fromarray(pixels).save(tmp_path / "exact.webp", lossless=True, exact=True, icc_profile=icc)
    Image.fromarray(pixels).save(tmp_path / "lossy.webp", quality=90)
    exact, lossy = read_image(tmp_path / "exact.webp"), read_image(tmp_path / "lossy.webp")
    assert (exact.lossless, lossy.lossless) == (True, False)
    write_image(tmp_path / "out.webp", exact.pixels, lossless=exact.lossless)
    assert np.array_equal(read_image(tmp_path / "out.webp").pixels, pixels)
    write_image(tmp_path / "out_lossy.webp", exact.pixels)
    assert not read_image(tmp_path / "out_lossy.webp").lossless
    assert not read_image(tmp_path / "out_lossy.webp").pixels.tolist() == pixels.tolist()
    Image.fromarray(pixels).save(tmp_path / "odd.webp", lossless=True, exact=True, icc_profile=b"\0" * 7)
    assert read_image(tmp_path / "odd.webp").lossless  # an odd-sized chunk before the codec's is padded to even


def test_a_lossy_webp_keeps_the_colour_under_transparent_pixels(tmp_path: Path) -> None:
    """The lossless writer kept it (exact), the lossy one let libwebp blank it: an RGBA photo with a cut-out came
    back with its hidden colour gone (71 levels off on average), which an editor shows again as alpha changes."""
    y, x = np.mgrid[0:64, 0:64]
    pixels = np.dstack([x * 3, y * 3, (x + y) * 2, np.zeros((64, 64))]).astype(np.uint8)  # (a flat colour survived)
    pixels[:, :32, 3] = 255  # half opaque, half fully transparent
    write_image(tmp_path / "lossy.webp", pixels, quality=90)
    back = read_image(tmp_path / "lossy.webp").pixels
    assert np.array_equal(back[..., 3], pixels[..., 3])
    assert np.abs(back[:, 32:, :3].astype(int) - pixels[:, 32:, :3]).mean() < 5  # it was 31


@pytest.mark.parametrize(("suffix", "channels"), [(".png", 3), (".png", 4), (".tif", 1), (".tif", 3), (".tif", 4)])
def test_a_16_bit_output_keeps_its_colour_profile(tmp_path: Path, suffix: str, channels: int) -> None:
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    pixels = asymmetric(channels=channels, dtype=np.uint16)
    write_image(tmp_path / f"wide{suffix}", pixels, icc=icc)
    loaded = read_image(tmp_path / f"wide{suffix}")
    assert loaded.icc == icc
    np.testing.assert_array_equal(loaded.pixels.reshape(pixels.shape), pixels)
    assert Image.open(tmp_path / f"wide{suffix}").info.get("icc_profile") == icc  # other readers see it too


def test_c_library_warnings_do_not_reach_stderr(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    data = encode_image(asymmetric(), ".png")

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    bad_icc = chunk(b"iCCP", b"x\x00\x00" + zlib.compress(b"not a profile" * 3))  # libpng warns: too short
    (tmp_path / "warn.png").write_bytes(data[:33] + bad_icc + data[33:])
    capfd.readouterr()
    assert read_image(tmp_path / "warn.png").pixels.shape == (6, 9, 3)
    assert "libpng" not in capfd.readouterr().err
    os.write(2, b"said after\n")  # fd 2 restored: what the process writes next still reaches the user
    assert "said after" in capfd.readouterr().err


def test_libtiffs_complaint_while_pillow_opens_a_header_does_not_reach_stderr(tmp_path: Path) -> None:
    """Pillow's libtiff printed "More samples per pixel than can be decoded: 11" twice, in a buffer written out
    later (so a process of its own shows it), before the one-line refusal."""
    import subprocess
    import sys

    (tmp_path / "many.tif").write_bytes(tiff_bytes(np.zeros((2, 9, 11), np.uint8), photometric="minisblack",
                                                    planarconfig="contig"))
    run = subprocess.run([sys.executable, "-c", "import sys; from data_tools.images import read_image\n"
                          "try: read_image(sys.argv[1])\nexcept Exception as exc: print(exc)", tmp_path / "many.tif"],
                         capture_output=True, text=True, timeout=120)
    assert "11 samples per pixel is not supported" in run.stdout and run.stderr == "", run.stderr


@pytest.mark.parametrize("space", [b"CMYK", b"Lab "])
def test_a_profile_for_samples_decoded_away_is_not_passed_on(tmp_path: Path, space: bytes) -> None:
    """A CMYK or Lab file is decoded to RGB; its profile, written beside RGB samples, misleads colour management."""
    profile = (132).to_bytes(4, "big") + bytes(12) + space + bytes(16) + b"acsp" + bytes(92)  # its colour space
    Image.new("CMYK", (9, 6), (10, 20, 30, 40)).save(tmp_path / "print.jpg", icc_profile=profile)  # at 16-19
    loaded = read_image(tmp_path / "print.jpg")
    assert loaded.pixels.shape == (6, 9, 3) and loaded.icc is None
    assert f"ICC profile dropped (a {space.decode().strip()} profile, not one of RGB or gray samples)" in loaded.note


def test_a_profile_that_is_not_a_whole_icc_profile_is_dropped_for_what_it_is(tmp_path: Path) -> None:
    """Bytes that are no ICC profile were said to be "a CMYK or Lab profile"; one cut short was copied on."""
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for name, profile, why in (("junk", b"notaprofile" * 20, "not a valid ICC profile"),
                               ("cut", srgb[:200], "a damaged ICC profile that colour management cannot read")):
        Image.fromarray(asymmetric()).save(tmp_path / f"{name}.jpg", icc_profile=profile)
        loaded = read_image(tmp_path / f"{name}.jpg")
        assert loaded.icc is None and f"ICC profile dropped ({why})" in loaded.note, loaded.note
    Image.fromarray(asymmetric()).save(tmp_path / "whole.jpg", icc_profile=srgb)
    assert read_image(tmp_path / "whole.jpg").icc == srgb
    roomy = (len(srgb) + 8).to_bytes(4, "big") + srgb[4:]  # its size field past its bytes: LittleCMS reads it
    Image.fromarray(asymmetric()).save(tmp_path / "roomy.jpg", icc_profile=roomy)
    assert read_image(tmp_path / "roomy.jpg").icc == roomy
    write_image(tmp_path / "out.jpg", loaded.pixels, icc=loaded.icc)
    assert "icc_profile" not in Image.open(tmp_path / "out.jpg").info


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_an_rgba_tiff_labels_its_alpha(tmp_path: Path, dtype: type) -> None:
    """The ExtraSamples tag says the fourth sample is alpha; 16-bit RGBA went out without it (libtiff warns, and
    readers may take the image as four colour samples). 8-bit had it already: kept here as a guard."""
    pixels = asymmetric(channels=4, dtype=dtype)
    write_image(tmp_path / "a.tif", pixels)
    with tifffile.TiffFile(tmp_path / "a.tif") as tif:
        assert "ExtraSamples" in tif.pages[0].tags
    np.testing.assert_array_equal(read_image(tmp_path / "a.tif").pixels, pixels)


@pytest.mark.parametrize("bits", [1, 8, 16])
def test_a_gray_png_transparent_colour_key_becomes_alpha(tmp_path: Path, bits: int) -> None:
    """The RGB tRNS key became alpha, the gray one was dropped: its transparent pixels came back opaque."""
    ramp = np.arange(48 * 48).reshape(48, 48)
    if bits == 16:
        pixels = (ramp * 13 % 65536).astype(np.uint16)
        key = int(pixels[0, 5])
        Image.fromarray(pixels).save(tmp_path / "g.png", transparency=key)
    else:
        pixels = (ramp % 256).astype(np.uint8) if bits == 8 else (ramp % 2 * 255).astype(np.uint8)
        key = 0 if bits == 8 else 255  # a 1-bit file's key is 1: white, scaled to 8 bits as its samples are
        image = Image.fromarray(pixels, "L")
        (image if bits == 8 else image.convert("1")).save(tmp_path / "g.png", transparency=key if bits == 8 else 1)
    read = read_image(tmp_path / "g.png").pixels
    assert read.shape == (48, 48, 2)
    np.testing.assert_array_equal(read[..., 0], pixels)
    np.testing.assert_array_equal(read[..., 1] == 0, pixels == key)
    assert read[..., 1].max() == np.iinfo(pixels.dtype).max


def test_premultiplied_tiff_alpha_is_read_as_straight_alpha(tmp_path: Path) -> None:
    """A TIFF with associated alpha kept its premultiplied colour under the straight-alpha tag every output has,
    so a viewer multiplied by alpha twice (a half-transparent column came back 30 levels darker over white)."""
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 256, (32, 32, 3)).astype(np.float64)
    alpha = np.tile(np.linspace(0, 255, 32), (32, 1))
    stored = np.dstack([np.rint(colour * alpha[..., None] / 255), alpha]).astype(np.uint8)
    tifffile.imwrite(tmp_path / "assoc.tif", stored, photometric="rgb", extrasamples=[1])
    read = read_image(tmp_path / "assoc.tif")
    assert "premultiplied" in read.note
    opaque_enough = alpha > 60  # rounding in the file grows as alpha shrinks
    assert np.abs(read.pixels[..., :3].astype(float) - colour)[opaque_enough].max() <= 5
    np.testing.assert_array_equal(read.pixels[..., 3], stored[..., 3])
    assert (read.pixels[..., :3][alpha == 0] == 0).all()
    tifffile.imwrite(tmp_path / "straight.tif", stored, photometric="rgb", extrasamples=[2])  # unchanged
    np.testing.assert_array_equal(read_image(tmp_path / "straight.tif").pixels, stored)


def test_exif_too_long_for_a_jpeg_is_dropped_not_fatal(tmp_path: Path) -> None:
    """70 KB of EXIF failed the file after it was denoised ("EXIF data is too long"): JPEG holds 64 KB."""
    exif = Image.Exif()
    exif[0x010E] = "x" * 70_000  # ImageDescription
    pixels = np.full((16, 16, 3), 100, np.uint8)
    data = encode_image(pixels, ".jpg", exif=exif.tobytes())
    assert Image.open(io.BytesIO(data)).size == (16, 16)
    small = Image.Exif()
    small[0x010E] = "kept"
    assert Image.open(io.BytesIO(encode_image(pixels, ".jpg", exif=small.tobytes()))).getexif()[0x010E] == "kept"


def test_a_gray_profile_is_not_written_on_colour_samples(tmp_path: Path) -> None:
    """A gray photo written as WebP (stored as RGB) carried its GRAY profile."""
    gray_profile = bytes(16) + b"GRAY" + bytes(108)
    gray = np.tile(np.arange(16, dtype=np.uint8) * 16, (16, 1))[..., None]
    assert "icc_profile" not in Image.open(io.BytesIO(encode_image(gray, ".webp", icc=gray_profile))).info
    assert Image.open(io.BytesIO(encode_image(gray, ".png", icc=gray_profile))).info["icc_profile"] == gray_profile



def test_a_colour_profile_is_not_written_on_gray_samples(tmp_path: Path) -> None:
    """A gray photo that came with an RGB profile wrote it into a gray PNG, which the format forbids (libpng drops
    it on reading, with a warning); the file's line says it is dropped. A gray TIFF keeps it, as before."""
    from data_tools.image_metadata import metadata_lost

    rgb_profile = bytes(16) + b"RGB " + bytes(108)
    gray = np.tile(np.arange(16, dtype=np.uint8) * 16, (16, 1))[..., None]
    assert "icc_profile" not in Image.open(io.BytesIO(encode_image(gray, ".png", icc=rgb_profile))).info
    assert metadata_lost("PNG", 1, None, rgb_profile) == ["ICC profile dropped (a colour profile, which a gray PNG "
                                                          "may not hold)"]
    colour = np.zeros((16, 16, 3), np.uint8)
    assert Image.open(io.BytesIO(encode_image(colour, ".png", icc=rgb_profile))).info["icc_profile"] == rgb_profile
    assert metadata_lost("TIFF", 1, None, rgb_profile) == []


@pytest.mark.parametrize("source", ["jpg", "png", "tif"])
def test_a_photos_resolution_is_kept_where_the_output_holds_one(tmp_path: Path, source: str) -> None:
    """Every output was written without the photo's dpi (a 300-dpi scan came back with none: 72 to most
    programs); 8- and 16-bit, turned upright by its EXIF orientation (x and y swap)."""
    from PIL import Image

    from data_tools.image_encode import encode_image

    pixels = (np.random.default_rng(0).random((24, 40, 3)) * 255).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: the upright image is 40 high, 24 wide
    Image.fromarray(pixels).save(tmp_path / f"in.{source}", dpi=(300, 150), exif=exif.tobytes())
    loaded = read_image(tmp_path / f"in.{source}")
    assert loaded.pixels.shape[:2] == (40, 24) and loaded.dpi == (150.0, 300.0)
    for out in ("png", "jpg", "tif", "bmp"):
        for image in (loaded.pixels, loaded.pixels.astype(np.uint16) * 257):
            (tmp_path / f"out.{out}").write_bytes(encode_image(image, f".{out}", dpi=loaded.dpi))
            assert read_image(tmp_path / f"out.{out}").dpi == (150.0, 300.0), (out, image.dtype)
    (tmp_path / "out.webp").write_bytes(encode_image(loaded.pixels, ".webp", dpi=loaded.dpi))  # holds none
    assert read_image(tmp_path / "out.webp").dpi is None


def test_a_jpeg_records_a_resolution_only_where_its_jfif_or_exif_gives_one(tmp_path: Path) -> None:
    """Pillow fills in 72 dpi for a JPEG with EXIF but no resolution: that is not the file's, nothing is written."""
    pixels = asymmetric()
    camera = Image.Exif()
    camera[0x010F] = "Camera"
    Image.fromarray(pixels).save(tmp_path / "none.jpg", exif=camera.tobytes())
    assert read_image(tmp_path / "none.jpg").dpi is None
    Image.fromarray(pixels).save(tmp_path / "jfif.jpg", exif=camera.tobytes(), dpi=(300, 150))
    assert read_image(tmp_path / "jfif.jpg").dpi == (300.0, 150.0)
    recorded = Image.Exif()
    recorded.update({0x011A: 240.0, 0x011B: 240.0, 0x0128: 2})  # in the EXIF only (JFIF aspect ratio 1:1)
    Image.fromarray(pixels).save(tmp_path / "exif.jpg", exif=recorded.tobytes())
    assert read_image(tmp_path / "exif.jpg").dpi == (240.0, 240.0)
    for unit, expected in ((None, (300.0, 300.0)), (3, (762.0, 762.0)), (1, None)):  # inches by default; cm; none
        tags = Image.Exif()
        tags.update({0x011A: 300.0, 0x011B: 300.0, **({0x0128: unit} if unit else {})})
        Image.fromarray(pixels).save(tmp_path / "unit.jpg", exif=tags.tobytes())
        assert read_image(tmp_path / "unit.jpg").dpi == expected, unit  # Pillow read 72 without a unit tag


def test_a_tiff_without_resolution_tags_records_none(tmp_path: Path) -> None:
    """Pillow fills in 1 dpi for a TIFF with no resolution tags: written on, a photo printed 300 inches wide."""
    import cv2

    cv2.imwrite(str(tmp_path / "bare.tif"), asymmetric())  # OpenCV writes no resolution tags
    assert read_image(tmp_path / "bare.tif").dpi is None
    Image.fromarray(asymmetric()).save(tmp_path / "set.tif", dpi=(300, 150))
    assert read_image(tmp_path / "set.tif").dpi == (300.0, 150.0)


@pytest.mark.parametrize("compression", [None, "tiff_lzw"])
def test_a_tiff_turned_by_its_decoder_swaps_its_resolution_too(tmp_path: Path, compression: str | None) -> None:
    """An LZW TIFF is turned upright by the decoder itself, and its x and y resolution were not swapped."""
    from PIL import Image, TiffImagePlugin

    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[274] = 6  # rotated: 80 wide as stored, 80 high upright
    Image.fromarray(np.zeros((40, 80, 3), np.uint8)).save(tmp_path / "t.tif", compression=compression,
                                                           tiffinfo=tags, dpi=(300, 600))
    loaded = read_image(tmp_path / "t.tif")
    assert loaded.pixels.shape[:2] == (80, 40) and loaded.dpi == (600.0, 300.0)


def test_a_high_quality_jpeg_output_keeps_full_colour_resolution(tmp_path: Path) -> None:
    """Every JPEG output was 4:2:0: a photo passed through unchanged (--sigma 0) lost its sharp colour edges."""
    from PIL import JpegImagePlugin

    pixels = np.zeros((32, 32, 3), np.uint8)
    pixels[:, ::2, 0] = 255  # red and black stripes one pixel wide: chroma at full resolution
    write_image(tmp_path / "hi.jpg", pixels, quality=95)
    write_image(tmp_path / "lo.jpg", pixels, quality=80)
    with Image.open(tmp_path / "hi.jpg") as hi, Image.open(tmp_path / "lo.jpg") as lo:
        assert JpegImagePlugin.get_sampling(hi) == 0 and JpegImagePlugin.get_sampling(lo) == 2
    assert np.abs(read_image(tmp_path / "hi.jpg").pixels.astype(int) - pixels).max() < 40


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("encoding", ["cielab", "icclab"])
def test_a_lab_tiff_is_read_as_its_rgb_colours_at_its_depth(tmp_path: Path, bits: int, encoding: str) -> None:
    """OpenCV's libtiff turned Lab white into (255, 252, 222) and 16-bit Lab into 8-bit RGB. The ICC encoding
    (Adobe's TIFF notes): L* 100 at 255 (8-bit) or 65280 (16-bit), a* and b* offset by 128 (times 256). Lab is
    D50-relative, as ICC profiles and libtiff take it: sRGB's XYZ adapted to D50 (Bradford) here."""
    from skimage import color, data

    from data_tools.tiff_decode import _BRADFORD_D50_TO_D65

    rgb = data.astronaut()[::8, ::8]
    lab = color.xyz2lab(color.rgb2xyz(rgb) @ np.linalg.inv(_BRADFORD_D50_TO_D65).T, illuminant="D50")
    peak, step = 2**bits - 1, 1 if bits == 8 else 256
    signed, unsigned = (np.int8, np.uint8) if bits == 8 else (np.int16, np.uint16)
    if encoding == "cielab":
        lightness = np.rint(lab[..., 0] * peak / 100).astype(unsigned)
        ab = np.rint(lab[..., 1:] * step).astype(signed).view(unsigned)
        white = [peak, 0, 0]
    else:
        lightness = np.rint(lab[..., 0] * 255 * step / 100).astype(unsigned)
        ab = np.rint((lab[..., 1:] + 128) * step).astype(unsigned)
        white = [255 * step, 128 * step, 128 * step]
    photometric = 8 if encoding == "cielab" else 9
    tifffile.imwrite(tmp_path / "lab.tif", np.dstack([lightness, ab]), photometric=photometric)
    tifffile.imwrite(tmp_path / "white.tif", np.full((4, 4, 3), white, unsigned), photometric=photometric)
    pixels = read_image(tmp_path / "lab.tif").pixels
    assert pixels.dtype == unsigned and pixels.shape == rgb.shape
    assert np.abs(pixels / (peak / 255) - rgb).max() <= 2.5
    assert (read_image(tmp_path / "white.tif").pixels == peak).all()


def test_a_lab_tiff_from_littlecms_reads_back_as_its_srgb_colours(tmp_path: Path) -> None:
    """A Lab TIFF as Photoshop and LittleCMS write it (D50 Lab) was read as D65 Lab: saturated colours moved by
    up to 47 levels (24.9 dB against the photo; neutral stayed neutral)."""
    patches = [(47, 68, 205), (61, 196, 79), (200, 40, 40), (230, 210, 30), (128, 128, 128), (20, 160, 190)]
    rgb = np.repeat(np.array(patches, np.uint8)[None], 16, axis=0).repeat(16, axis=1)  # saturated colours
    to_lab = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB")
    lab = np.asarray(ImageCms.applyTransform(Image.fromarray(rgb), to_lab))
    tifffile.imwrite(tmp_path / "lab.tif", lab, photometric="cielab")
    error = read_image(tmp_path / "lab.tif").pixels.astype(float) - rgb
    assert 10 * np.log10(255**2 / np.mean(error**2)) > 40


def test_a_16_bit_cmyk_tiff_keeps_its_depth_and_converts_as_8_bit_cmyk_does(tmp_path: Path) -> None:
    cmyk = np.zeros((4, 6, 4), np.uint16)
    cmyk[..., 0], cmyk[..., 3] = 30000, 10000
    tifffile.imwrite(tmp_path / "c16.tif", cmyk, photometric="separated")
    tifffile.imwrite(tmp_path / "c8.tif", (cmyk // 257).astype(np.uint8), photometric="separated")
    deep, shallow = read_image(tmp_path / "c16.tif").pixels, read_image(tmp_path / "c8.tif").pixels
    assert deep.dtype == np.uint16 and deep.shape == (4, 6, 3)
    assert deep[0, 0].tolist() == [round(35535 * 55535 / 65535), 55535, 55535]
    assert np.abs(deep / 257.0 - shallow).max() <= 1.5


@pytest.mark.parametrize("masks", [None, (0xF800, 0x07E0, 0x001F)])  # RGB555, RGB565
def test_a_16_bit_bmp_reads_its_full_range(tmp_path: Path, masks: tuple[int, int, int] | None) -> None:
    """OpenCV widens 5- and 6-bit levels by a shift (white read as 248, gray given a tint); Pillow scales them."""
    h, w = 6, 8
    words = (np.arange(h * w, dtype=np.uint32) * 1361 % 65536).astype("<u2")
    if masks is None:
        words &= 0x7FFF
    words[0] = 0x7FFF if masks is None else 0xFFFF  # white in the bottom row's first pixel (BMPs run bottom-up)
    rows = words.tobytes()
    header = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 16, 0 if masks is None else 3, len(rows), 2835, 2835, 0, 0)
    header += struct.pack("<III", *masks) if masks else b""
    start = 14 + len(header)
    path = tmp_path / "shallow.bmp"
    path.write_bytes(b"BM" + struct.pack("<IHHI", start + len(rows), 0, 0, start) + header + rows)
    pixels = read_image(path).pixels
    np.testing.assert_array_equal(pixels, np.asarray(Image.open(path).convert("RGB")))
    assert pixels[-1, 0].tolist() == [255, 255, 255]


def test_a_bmp_with_alpha_keeps_the_resolution_too(tmp_path: Path) -> None:
    """OpenCV writes the 32-bit BMP (Pillow's drops alpha) and leaves its resolution at 0: an RGB BMP kept the
    dpi, an RGBA one lost it."""
    rgba = asymmetric(channels=4)
    (tmp_path / "a.bmp").write_bytes(encode_image(rgba, ".bmp", dpi=(150.0, 300.0)))
    loaded = read_image(tmp_path / "a.bmp")
    assert loaded.dpi == (150.0, 300.0)
    np.testing.assert_array_equal(loaded.pixels, rgba)
    (tmp_path / "none.bmp").write_bytes(encode_image(rgba, ".bmp"))
    assert read_image(tmp_path / "none.bmp").dpi is None


def test_a_16_bit_file_whose_samples_fit_in_12_bits_is_said_to_be_read_on_the_16_bit_scale(tmp_path: Path) -> None:
    """12-bit data stored as it came (0-4095) was denoised as a nearly black image with a sixteenth of its noise:
    left as it was, without a word."""
    twelve = np.random.default_rng(0).integers(0, 4096, (8, 9, 3), dtype=np.uint16)
    twelve[0, 0, 0] = 4095
    write_image(tmp_path / "raw12.png", twelve)
    assert "16-bit samples all at most 4095 of 65535" in read_image(tmp_path / "raw12.png").caution
    alpha = np.concatenate([twelve, np.full((8, 9, 1), 65535, np.uint16)], axis=2)  # the alpha is not data
    write_image(tmp_path / "raw12a.png", alpha)
    assert "at most 4095" in read_image(tmp_path / "raw12a.png").caution
    for name, pixels in (("full.png", twelve * 16), ("black.png", np.zeros_like(twelve)),
                         ("eight.png", (twelve // 16).astype(np.uint8))):
        write_image(tmp_path / name, pixels)
        assert "16-bit samples" not in read_image(tmp_path / name).caution, name


@pytest.mark.parametrize("channels", [1, 2, 3])
def test_a_16_bit_tiff_output_is_readable_without_extra_codecs(tmp_path: Path, channels: int) -> None:
    """OpenCV wrote it LZW-compressed, which tifffile (a base dependency) decodes only with imagecodecs; and
    tifffile's own shape description is no tag of the user's file."""
    import tifffile

    pixels = asymmetric(channels=channels, dtype=np.uint16)
    write_image(tmp_path / "deep.tif", pixels)
    with tifffile.TiffFile(tmp_path / "deep.tif") as tif:
        assert tif.pages[0].compression.name in ("ADOBE_DEFLATE", "DEFLATE")
        assert "shape" not in (tif.pages[0].description or "")
    np.testing.assert_array_equal(read_image(tmp_path / "deep.tif").pixels.reshape(pixels.shape), pixels)


def test_a_pillow_without_colour_management_keeps_a_profile_it_cannot_check(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Built without LittleCMS, Pillow's ImageCms imports and fails on first use: every photo with a profile
    failed to read."""
    from PIL import ImageCms, features

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(asymmetric()).save(tmp_path / "p.jpg", icc_profile=srgb)
    real = features.check
    monkeypatch.setattr(features, "check", lambda name: False if name == "littlecms2" else real(name))
    monkeypatch.setattr(ImageCms, "ImageCmsProfile", lambda *a: (_ for _ in ()).throw(ImportError("no littlecms")))
    assert read_image(tmp_path / "p.jpg").icc == srgb


def test_a_damaged_exif_is_written_without_pillows_warning(tmp_path: Path) -> None:
    """Pillow's "Corrupt EXIF data" UserWarning reached stderr, with its site-packages path, on writing a photo
    whose EXIF is cut short; the file itself is read and written as before."""
    source = tmp_path / "bad_exif.jpg"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(source, exif=b"Exif\x00\x00II*\x00\xff\xff\xff\xff cut")
    with warnings.catch_warnings(record=True) as heard:
        warnings.simplefilter("always")
        loaded = read_image(source)
        write_image(tmp_path / "out.jpg", loaded.pixels, exif=loaded.exif)
    assert [str(w.message) for w in heard] == []
    assert read_image(tmp_path / "out.jpg").pixels.shape == (8, 8, 3)


def test_too_many_tiff_samples_are_refused_from_the_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 389 KB TIFF of 2000x2000 pixels with 100 samples each took 890 MB and 7 s to decode before its sample
    count was refused: the pixel-count limit does not see samples, so the header's count must refuse it."""
    (tmp_path / "deep.tif").write_bytes(tiff_bytes(np.zeros((4, 5, 100), np.uint8), photometric="minisblack",
                                                   planarconfig="contig"))

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr(tifffile.TiffPage, "asarray", never)
    with pytest.raises(ImageReadError, match="deep.tif: a TIFF with 100 samples per pixel is not supported"):
        read_image(tmp_path / "deep.tif")


def test_exif_text_that_is_not_ascii_is_written_as_it_came(tmp_path: Path) -> None:
    """A photographer's name in UTF-8 and a Latin-1 "©" (IFD0), a lens with an en dash (the Exif sub-IFD): each
    was written back by Pillow as ASCII, every other byte a "?", in every output format."""
    artist, copyright_, lens = "José Núñez".encode(), b"\xa9 2024 J. Smith", "EF 24\u201370mm".encode()
    exif = Image.Exif()
    exif.update({0x0112: 6, 0x010F: "Canon", 0x013B: artist, 0x8298: copyright_})
    exif.get_ifd(0x8769)[0xA434] = lens
    block = exif.tobytes()
    assert all(text in block for text in (artist, copyright_, lens))
    for suffix, dtype in ((".jpg", np.uint8), (".png", np.uint8), (".webp", np.uint8), (".tif", np.uint8),
                          (".png", np.uint16)):
        data = encode_image(asymmetric(dtype=dtype), suffix, exif=block)
        assert all(text in data for text in (artist, copyright_, lens)), (suffix, dtype)
        assert b"Jos??" not in data and b"? 2024" not in data
        written = tmp_path / f"out{suffix}"
        written.write_bytes(data)
        tags = Image.open(written).getexif()
        assert tags[0x0112] == 1 and tags[0x010F] == "Canon"


XMP_TURNED = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
              '<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF>'
              '</x:xmpmeta>')


def test_an_orientation_only_xmp_records_is_not_applied(tmp_path: Path) -> None:
    """Browsers and viewers turn a photo by its EXIF only; Pillow also takes XMP's tiff:Orientation where the EXIF
    has none, and the output came out turned against what the user saw. An EXIF orientation still counts."""
    from PIL import PngImagePlugin

    pixels = asymmetric()
    Image.fromarray(pixels).save(tmp_path / "x.jpg", xmp=XMP_TURNED.encode(), quality=100, subsampling=0)
    text = PngImagePlugin.PngInfo()
    text.add_itxt("XML:com.adobe.xmp", XMP_TURNED)
    Image.fromarray(pixels).save(tmp_path / "x.png", pnginfo=text)
    assert Image.open(tmp_path / "x.png").getexif().get(0x0112) == 6  # what Pillow reads into it
    np.testing.assert_array_equal(read_image(tmp_path / "x.png").pixels, pixels)
    assert read_image(tmp_path / "x.jpg").pixels.shape == pixels.shape
    exif = Image.Exif()
    exif[0x0112] = 8
    Image.fromarray(pixels).save(tmp_path / "both.png", pnginfo=text, exif=exif.tobytes())
    np.testing.assert_array_equal(read_image(tmp_path / "both.png").pixels, np.rot90(pixels))


def test_a_tiffs_exif_text_that_is_not_ascii_is_written_as_it_came(tmp_path: Path) -> None:
    """A TIFF keeps its EXIF in its own tags: their text was made a block by Pillow, every other byte a '?'."""
    from PIL import TiffImagePlugin

    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[315], tags[33432] = "José".encode(), b"\xa9 M\xfcller"
    Image.fromarray(asymmetric()).save(tmp_path / "in.tif", tiffinfo=tags)
    loaded = read_image(tmp_path / "in.tif")
    for suffix in (".jpg", ".png", ".tif"):
        data = encode_image(loaded.pixels, suffix, exif=loaded.exif)
        assert "José".encode() in data and b"\xa9 M\xfcller" in data and b"Jos?" not in data, suffix
