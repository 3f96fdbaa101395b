"""PNG files written chunk by chunk, where neither OpenCV nor Pillow writes what a photo needs: a 16-bit PNG's ICC
profile and resolution (OpenCV writes 16-bit PNGs without them), and 16-bit gray+alpha (OpenCV writes two
channels as BGRA, Pillow only 8-bit); and read past the metadata chunk Pillow refuses a whole file over."""

from __future__ import annotations

import struct
import zlib

import numpy as np

INCH = 0.0254  # metres
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


CRITICAL_CHUNKS = frozenset({b"IHDR", b"PLTE", b"IDAT", b"IEND"})  # the pixels depend on these


def png_pixels_damaged(data: bytes) -> bool:
    """Whether one of a PNG's critical chunks fails its CRC. libpng refuses such a file, but Pillow decodes it
    without checking, and a flipped bit in the compressed data then comes out as streaks and black rows without
    a word. A chunk cut off by the end of the file is the decoders' own refusal to make; an ancillary chunk's
    CRC is libpng's warning, not an error."""
    view = memoryview(data)
    at = len(PNG_SIGNATURE)
    while at + 12 <= len(data):
        length, kind = int.from_bytes(view[at:at + 4], "big"), bytes(view[at + 4:at + 8])
        end = at + 12 + length
        if end > len(data):
            return False
        if kind in CRITICAL_CHUNKS and zlib.crc32(view[at + 4:end - 4]) != int.from_bytes(view[end - 4:end], "big"):
            return True
        if kind == b"IEND":
            return False
        at = end
    return False


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_with_chunks(data: bytes, icc: bytes | None, dpi: tuple[float, float] | None = None,
                    exif: bytes | None = None, text: dict[str, str] | None = None) -> bytes:
    """A PNG with an ICC profile (iCCP), a resolution in dots per inch (pHYs, stored per metre), EXIF (eXIf,
    its TIFF-format block without a JPEG's "Exif" prefix) and text by keyword (iTXt, UTF-8) right after its
    header, before the image data, where a reader finds them without decoding the pixels."""
    extra = png_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(icc)) if icc else b""
    if dpi:
        extra += png_chunk(b"pHYs", struct.pack(">IIB", *(max(1, round(d / INCH)) for d in dpi), 1))
    if exif:
        extra += png_chunk(b"eXIf", exif.removeprefix(b"Exif\x00\x00"))
    for keyword, value in (text or {}).items():  # uncompressed: no flag, method, language or translated keyword
        extra += png_chunk(b"iTXt", keyword.encode("latin-1") + b"\x00" * 5 + value.encode("utf-8", "replace"))
    ihdr_end = 8 + 8 + 13 + 4  # signature, then IHDR's length and type, its 13 bytes and CRC
    return data[:ihdr_end] + extra + data[ihdr_end:]


def png_gray_alpha16(pixels: np.ndarray) -> bytes:
    """A 16-bit gray+alpha PNG (colour type 4)."""
    height, width = pixels.shape[:2]
    rows = np.ascontiguousarray(pixels, dtype=">u2").view(np.uint8).reshape(height, width * 4)  # 2 samples x 2 B
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1)  # filter type 0 before each row
    header = struct.pack(">IIBBBBB", width, height, 16, 4, 0, 0, 0)
    return (PNG_SIGNATURE + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
            + png_chunk(b"IEND", b""))


COMPRESSED_METADATA = (b"iCCP", b"zTXt", b"iTXt")  # an ICC profile, compressed text, international text


def png_without_large_chunks(data: bytes, limit: int) -> tuple[bytes, list[str]]:
    """The PNG without the compressed metadata chunks (ICC profile, compressed text) that inflate past ``limit``
    bytes, and the names of those dropped: Pillow refuses the whole file over one of them (a printer's ICC profile
    can be larger than its 1 MB), though the pixels are fine. Anything that is not a well-formed PNG comes back
    as it is."""
    if data[:8] != PNG_SIGNATURE:
        return data, []
    kept, dropped, pos = [data[:8]], [], 8
    while pos + 12 <= len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        end = pos + 12 + length
        if end > len(data):
            return data, []
        if kind in COMPRESSED_METADATA and _inflates_past(kind, data[pos + 8:end - 4], limit):
            dropped.append(kind.decode("ascii"))
        else:
            kept.append(data[pos:end])
        pos = end
    return (b"".join(kept) + data[pos:], dropped) if dropped else (data, [])


def _inflates_past(kind: bytes, body: bytes, limit: int) -> bool:
    """Whether a chunk's compressed payload inflates past ``limit`` bytes (an uncompressed iTXt never does). After
    the keyword's NUL: the compression method, then the payload; in an iTXt a compression flag before the method,
    and a language tag and a translated keyword (each NUL-ended) after it."""
    start = body.find(b"\x00") + 1
    if start == 0:
        return False
    if kind != b"iTXt":
        payload = body[start + 1:]
    elif body[start:start + 1] != b"\x01":
        return False
    else:
        rest = body[start + 2:].split(b"\x00", 2)
        payload = rest[2] if len(rest) == 3 else b""
    try:
        return len(zlib.decompressobj().decompress(payload, limit + 1)) > limit
    except zlib.error:
        return False
