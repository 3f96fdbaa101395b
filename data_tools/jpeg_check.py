"""Whether libjpeg made up part of a JPEG: a file cut off mid-data (an end marker appended or not) decodes
without an error, the missing rows filled with gray, and libjpeg's only sign is a warning on stderr.

libjpeg prints only the first warning of a decode, so a camera file with a few stray bytes between its header
segments (a common, harmless "extraneous bytes before marker" warning) would hide a later cut-off warning: such
a file is decoded once more without the stray bytes, to hear what the scan says.
"""

from __future__ import annotations

from collections.abc import Callable

CUT_OFF = "premature end of data segment"  # libjpeg's warning for data that stops early
STRAY_BYTES = "extraneous bytes before marker"
SOI, SOS = 0xD8, 0xDA


def is_jpeg(data: bytes) -> bool:
    return data[:2] == b"\xff\xd8"


def cut_off(data: bytes, said: str, decode_again: Callable[[bytes], str]) -> bool:
    """Whether a JPEG that decoded is cut off, from what libjpeg ``said`` while decoding it; ``decode_again``
    decodes bytes and returns what libjpeg said then. A cut-off warning is heard twice before it counts: stderr
    is the whole process's, and another thread's libjpeg (an app's own decoder beside the Python API) once had
    intact files refused as cut off."""
    if CUT_OFF in said:
        return CUT_OFF in decode_again(data)
    if STRAY_BYTES in said and (cleaned := without_stray_bytes(data)) is not None:
        return CUT_OFF in decode_again(cleaned)
    return False


def without_stray_bytes(data: bytes) -> bytes | None:
    """The JPEG with any bytes between its header segments (before the first scan) dropped, or None when it has
    none there (or its header is not a chain of segments)."""
    out, at, dropped = bytearray(data[:2]), 2, False
    while at < len(data):
        if data[at] != 0xFF:  # stray bytes: skip to the next marker
            nxt = data.find(b"\xff", at)
            if nxt < 0:
                return None
            at, dropped = nxt, True
            continue
        while at + 1 < len(data) and data[at + 1] == 0xFF:  # fill bytes before a marker are allowed
            at += 1
        if at + 1 >= len(data):
            return None
        marker = data[at + 1]
        if marker == SOS:
            out += data[at:]
            return bytes(out) if dropped else None
        if marker == SOI or 0xD0 <= marker <= 0xD7 or at + 4 > len(data):
            return None
        end = at + 2 + int.from_bytes(data[at + 2:at + 4], "big")
        out += data[at:end]
        at = end
    return None
