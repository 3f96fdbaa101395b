"""Images are untrusted input: every odd-but-valid file works with its bit depth, channels and alpha kept,
every broken or hostile one is a one-line per-file failure, the batch goes on, exit code 1 iff one failed.
"""

from __future__ import annotations

import io
import resource
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from data_tools.images import ImageReadError, read_image, write_image
from helpers import cli, failed_rows, memory_ceiling, noise_image, smooth_rgb

torch.set_num_threads(1)  # the suite shares two cores with a training job


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_claiming(width: int, height: int, bit_depth: int = 8, colour_type: int = 2, idat: bytes | None = None) -> bytes:
    """A structurally valid PNG (correct CRCs) whose header claims any size; the pixel data is `idat`."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64) if idat is None else idat
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))


def one_bit_png_bomb(side: int) -> bytes:
    """A real bomb: a side x side 1-bit PNG of zeros, fully valid, ~side^2/8 bytes raw, a few KB on disk."""
    row = b"\x00" * (1 + (side + 7) // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    return png_claiming(side, side, bit_depth=1, colour_type=0, idat=idat)


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small valid JPEG whose SOF0 header is rewritten to claim width x height."""
    buf = io.BytesIO()
    Image.fromarray(noise_image(16, 16)).save(buf, format="JPEG", quality=90)
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def encoded(pixels: np.ndarray, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt, **kw)
    return buf.getvalue()


def write_broken_images(folder: Path) -> dict[str, str]:
    """Broken or hostile files; value: what the one-line reason must say."""
    folder.mkdir(parents=True, exist_ok=True)
    png, jpg = encoded(smooth_rgb(48, 64), "PNG"), encoded(smooth_rgb(48, 64), "JPEG", quality=90)
    (folder / "truncated.png").write_bytes(png[: len(png) * 6 // 10])
    (folder / "truncated.jpg").write_bytes(jpg[: len(jpg) * 6 // 10])
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.jpg").write_text("this is a note, not a JPEG\n")
    (folder / "bomb.png").write_bytes(png_claiming(60000, 60000))
    (folder / "bomb.jpg").write_bytes(jpeg_claiming(65000, 65000))
    return {"truncated.png": "truncated or corrupt", "truncated.jpg": "truncated or corrupt",
            "empty.png": "empty file", "text.jpg": "not a readable image file",
            "bomb.png": "60000x60000 pixels is over the 200 MP limit", "bomb.jpg": "65000x65000 pixels is over"}


def write_odd_images(folder: Path) -> dict[str, tuple[tuple[int, ...], type]]:
    """Valid files in every awkward mode; value: the (shape, dtype) they must decode to and come back as."""
    folder.mkdir(parents=True, exist_ok=True)
    rgb = smooth_rgb(20, 30)
    rng = np.random.default_rng(7)
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "palette.png")
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "palette_alpha.png",
                                                                           transparency=0)
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.tif")  # OpenCV would add an alpha channel
    Image.fromarray(noise_image(20, 30, 2, seed=1), mode="LA").save(folder / "gray_alpha.png")
    gray16, rgb16 = noise_image(20, 30, 1, np.uint16, seed=2), noise_image(20, 30, 3, np.uint16, seed=3)
    cv2.imwrite(str(folder / "gray16.png"), gray16[..., 0])
    cv2.imwrite(str(folder / "rgb16.png"), rgb16[..., ::-1])
    tifffile.imwrite(folder / "gray16.tif", gray16[..., 0])
    tifffile.imwrite(folder / "rgb16.tif", rgb16, photometric="rgb")
    tifffile.imwrite(folder / "float32.tif", rng.random((20, 30, 3), dtype=np.float32), photometric="rgb")
    tifffile.imwrite(folder / "float32_gray.tif", rng.random((20, 30), dtype=np.float32))
    write_image(folder / "one_pixel.png", rgb[:1, :1])
    write_image(folder / "strip_3x5000.png", smooth_rgb(3, 5000))
    write_image(folder / "strip_5000x3.png", smooth_rgb(5000, 3))
    write_image(folder / "name with spaces.png", rgb)
    write_image(folder / "ünïcødé 猫 画像.png", rgb)
    u8, u16 = np.uint8, np.uint16
    return {"palette.png": ((20, 30, 3), u8), "palette_alpha.png": ((20, 30, 4), u8), "cmyk.jpg": ((20, 30, 3), u8),
            "cmyk.tif": ((20, 30, 3), u8),
            "gray_alpha.png": ((20, 30, 2), u8), "gray16.png": ((20, 30, 1), u16), "rgb16.png": ((20, 30, 3), u16),
            "gray16.tif": ((20, 30, 1), u16), "rgb16.tif": ((20, 30, 3), u16), "float32.tif": ((20, 30, 3), u16),
            "float32_gray.tif": ((20, 30, 1), u16), "one_pixel.png": ((1, 1, 3), u8),
            "strip_3x5000.png": ((3, 5000, 3), u8), "strip_5000x3.png": ((5000, 3, 3), u8),
            "name with spaces.png": ((20, 30, 3), u8), "ünïcødé 猫 画像.png": ((20, 30, 3), u8)}


def test_a_batch_of_odd_and_broken_images(weights: Path, tmp_path: Path) -> None:
    """Every valid file comes back with its shape, bit depth and alpha; every broken one is a one-line failure
    naming it; the batch goes on past them; the exit code is 1 because some failed."""
    good, bad, out = tmp_path / "good", tmp_path / "bad", tmp_path / "out"
    expected = write_odd_images(good)
    reasons = write_broken_images(bad)
    result = cli("denoise", good, bad, "-o", out, "-c", weights, "--device", "cpu", "--tile", "64", "--overlap", "8")
    assert result.exit_code == 1, (result.output, repr(result.exception))
    failed = failed_rows(result.stdout)
    assert {Path(f).name for f in failed} == set(reasons), failed
    for file, reason in failed.items():
        assert reasons[Path(file).name] in reason, (file, reason)
    for name, (shape, dtype) in expected.items():
        source = read_image(good / name).pixels
        assert (source.shape, source.dtype) == (shape, dtype), name  # decoded as the mode says
        written = read_image(out / name).pixels
        assert (written.shape, written.dtype) == (shape, dtype), name
        if shape[2] in (2, 4):
            np.testing.assert_array_equal(written[..., -1], source[..., -1], err_msg=name)
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)  # nothing for the broken ones
    only_good = cli("denoise", good, "-o", tmp_path / "out2", "-c", weights, "--device", "cpu", "--tile", "64")
    assert only_good.exit_code == 0, only_good.output  # nothing failed this time
    assert sorted(p.name for p in (tmp_path / "out2").iterdir()) == sorted(expected)


def test_names_with_spaces_and_non_ascii_given_directly(weights: Path, tmp_path: Path) -> None:
    folder = tmp_path / "my photos ✓"
    write_image(folder / "été à la plage.jpg", smooth_rgb(24, 32))
    result = cli("denoise", folder / "été à la plage.jpg", "-o", tmp_path / "sortie é", "-c", weights,
                 "--device", "cpu", "--suffix", " (clean)")
    assert result.exit_code == 0, result.output
    assert read_image(tmp_path / "sortie é" / "été à la plage (clean).jpg").pixels.shape == (24, 32, 3)


def test_a_decompression_bomb_is_refused_before_any_pixel_is_allocated(tmp_path: Path) -> None:
    """A valid 400 MP 1-bit PNG of a few KB: refused from its header, quickly, within a small memory budget
    (decoding it would need 400 MB as 8-bit, far more as a float tile buffer)."""
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(one_bit_png_bomb(20000))
    assert bomb.stat().st_size < 200_000
    start = time.perf_counter()
    too_big = pytest.raises(ImageReadError, match="20000x20000 pixels is over the 200 MP")
    with memory_ceiling(200 << 20), too_big as info:
        read_image(bomb)
    assert time.perf_counter() - start < 1.0
    assert str(info.value).startswith(str(bomb)) and "\n" not in str(info.value)
    with pytest.raises(ImageReadError, match="over the"):  # a lower limit applies the same way
        read_image(bomb, max_pixels=10_000)


def webp_claiming(width: int, height: int) -> bytes:
    """A WebP whose extended (VP8X) header claims width x height over a small real image."""
    body = encoded(noise_image(16, 16), "WEBP", exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00")
    assert body[12:16] == b"VP8X"
    return body[:24] + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little") + body[30:]


def bmp_claiming(width: int, height: int) -> bytes:
    body = encoded(noise_image(16, 16), "BMP")
    return body[:18] + struct.pack("<ii", width, height) + body[26:]


@pytest.mark.parametrize("name, data", [
    pytest.param("claims.png", png_claiming(60000, 60000), id="png"),
    pytest.param("claims.jpg", jpeg_claiming(65000, 65000), id="jpeg"),
    pytest.param("claims.webp", webp_claiming(60000, 60000), id="webp"),
    pytest.param("claims.bmp", bmp_claiming(60000, 60000), id="bmp"),
    pytest.param("top_down.bmp", bmp_claiming(60000, -60000), id="bmp-top-down"),  # a negative height: rows top down
])
def test_header_only_bombs_are_refused_quickly(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with pytest.raises(ImageReadError, match="over the 200 MP limit"):
        read_image(path)
    assert time.perf_counter() - start < 0.5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 50_000  # KiB: no big allocation


def test_pillows_own_bomb_check_stays_on_for_the_caller_and_never_refuses_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Importing the package turned Pillow's decompression-bomb check off for the whole process, so an app that
    embeds the API lost it for every image its own code opened. Its limit is now only raised to ours, so that a
    photo this package takes (up to 200 MP) is never refused by Pillow in its own words, at opening or as a
    TIFF's pixels load."""
    from PIL import Image

    from data_tools.images import MAX_PIXELS

    assert Image.MAX_IMAGE_PIXELS is not None and 2 * Image.MAX_IMAGE_PIXELS >= MAX_PIXELS
    with pytest.raises(Image.DecompressionBombError):  # the caller's own Image.open keeps the check
        Image.open(io.BytesIO(png_claiming(16000, 16000)))  # 256 MP: over ours too
    limits: list[int | None] = []  # a bomb is sized from its header bytes, Pillow's check never lifted for it
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda *a, **k: limits.append(Image.MAX_IMAGE_PIXELS) or real_open(*a, **k))
    (tmp_path / "claims.png").write_bytes(png_claiming(60000, 60000))
    with pytest.raises(ImageReadError, match="60000x60000 pixels is over the 200 MP limit"):
        read_image(tmp_path / "claims.png")
    assert limits and None not in limits, limits
    stricter = "from PIL import Image; Image.MAX_IMAGE_PIXELS = 5_000_000; import data_tools.images; " \
               "print(Image.MAX_IMAGE_PIXELS)"  # an app's own limit, set before the import, is kept
    assert subprocess.run([sys.executable, "-c", stricter], capture_output=True, text=True,
                          check=True).stdout.strip() == "5000000"
