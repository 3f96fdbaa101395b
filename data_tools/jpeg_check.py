"""What libjpeg said was wrong with a JPEG's compressed image data: a file cut off mid-data (an end marker
appended or not) decodes without an error, the missing rows filled with gray, and a damaged scan decodes into
garbled blocks; libjpeg's only sign is a warning on stderr.

libjpeg prints only the first warning of a decode, so a camera file with a few stray bytes between its header
segments (a common, harmless "extraneous bytes before marker" warning) would hide a later warning about its scan:
such a file is decoded once more without the stray bytes, to hear what the scan says. Stray bytes inside the scan
(before a restart or end marker, or between a progressive file's scans) are the scan's own complaint: a decoder
that lost its place in damaged data leaves them, and so do some scanners and webcams that pad intact data.
"""

from __future__ import annotations

import re
from collections.abc import Callable

CUT_OFF = "premature end of data segment"  # libjpeg's warning for data that stops early
STRAY_BYTES = "extraneous bytes before marker"
COMPLAINT = re.compile(r"corrupt jpeg data: (?P<what>[^\n]*)", re.IGNORECASE)
SOI, SOS = 0xD8, 0xDA


def is_jpeg(data: bytes) -> bool:
    return data[:2] == b"\xff\xd8"


def scan_complaint(data: bytes, said: str, decode_again: Callable[[bytes], str]) -> str:
    """What libjpeg said is corrupt in the compressed data of a JPEG that decoded ("" when nothing), from what it
    ``said`` while decoding it; ``decode_again`` decodes bytes and returns what libjpeg said then. A complaint
    is heard twice before it counts: stderr is the whole process's, and another thread's libjpeg (an app's own
    decoder beside the Python API) once had intact files refused as cut off."""
    first = _complaint(said)
    if STRAY_BYTES in first and (cleaned := without_stray_bytes(data)) is not None:
        return _complaint(decode_again(cleaned))  # the header's stray bytes dropped: what the scan says
    return first if first and _complaint(decode_again(data)) == first else ""


def is_cut_off(complaint: str) -> bool:
    """Whether libjpeg filled the rest of the image with gray: the data stopped before the image did."""
    return CUT_OFF in complaint


def _complaint(said: str) -> str:
    found = COMPLAINT.search(said)
    return found["what"].strip() if found else ""


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
