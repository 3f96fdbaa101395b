"""PNG files written chunk by chunk, where neither OpenCV nor Pillow writes what a photo needs: a 16-bit PNG's ICC
profile and resolution (OpenCV writes 16-bit PNGs without them), and 16-bit gray+alpha (OpenCV writes two
channels as BGRA, Pillow only 8-bit)."""

from __future__ import annotations

import struct
import zlib

import numpy as np

INCH = 0.0254  # metres


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_with_chunks(data: bytes, icc: bytes | None, dpi: tuple[float, float] | None = None) -> bytes:
    """A PNG with an ICC profile (iCCP) and a resolution in dots per inch (pHYs, stored per metre) right after
    its header, where the format puts them."""
    extra = png_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(icc)) if icc else b""
    if dpi:
        extra += png_chunk(b"pHYs", struct.pack(">IIB", *(max(1, round(d / INCH)) for d in dpi), 1))
    ihdr_end = 8 + 8 + 13 + 4  # signature, then IHDR's length and type, its 13 bytes and CRC
    return data[:ihdr_end] + extra + data[ihdr_end:]


def png_gray_alpha16(pixels: np.ndarray) -> bytes:
    """A 16-bit gray+alpha PNG (colour type 4)."""
    height, width = pixels.shape[:2]
    rows = np.ascontiguousarray(pixels, dtype=">u2").view(np.uint8).reshape(height, width * 4)  # 2 samples x 2 B
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1)  # filter type 0 before each row
    header = struct.pack(">IIBBBBB", width, height, 16, 4, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
            + png_chunk(b"IEND", b""))
