"""The size an image file's header claims, read from its bytes without a decoder: for a file that claims more
pixels than Pillow opens (a decompression bomb), so our own limit can name the size without lifting Pillow's
check, which is the whole process's. TIFFs have their own reader (``tiff_decode.tiff_size``)."""

from __future__ import annotations

from data_tools.jpeg_check import SOS, is_jpeg
from data_tools.png_chunks import PNG_SIGNATURE

SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # JPEG frame headers (not DHT, JPG, DAC)


def claimed_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG, WebP or BMP header, or None (another format, or a header cut short)."""
    try:
        if data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR":
            return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        if is_jpeg(data):
            return _jpeg_size(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp_size(data)
        if data[:2] == b"BM" and len(data) >= 26:
            if int.from_bytes(data[14:18], "little") == 12:  # the old OS/2 core header: 16-bit sides
                return int.from_bytes(data[18:20], "little"), int.from_bytes(data[20:22], "little")
            return (int.from_bytes(data[18:22], "little", signed=True),
                    abs(int.from_bytes(data[22:26], "little", signed=True)))
    except IndexError:
        return None
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 9 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in SOF_MARKERS:
            return int.from_bytes(data[at + 7:at + 9], "big"), int.from_bytes(data[at + 5:at + 7], "big")
        if marker in (0xD9, SOS):  # the end, or the scan, before any frame header
            return None
        at += 2 if 0xD0 <= marker <= 0xD7 or marker == 0x01 else 2 + int.from_bytes(data[at + 2:at + 4], "big")
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    kind = data[12:16]
    if kind == b"VP8X" and len(data) >= 30:
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if kind == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if kind == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        return int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
    return None
