"""An EXIF block marked upright by editing it where it lies, every other byte as the camera wrote it.

A camera's MakerNote (lens, focus, serial numbers) points into the block by absolute offsets. Pillow rebuilds a
block from its tags, so the MakerNote moves and its offsets point at other bytes: exiftool reads "Bad offset for
MakerNotes" and the lens comes out empty. Here only the values that describe the stored pixels change: the
orientation becomes 1, a quarter turn swaps the x and y resolution and pixel dimensions (each pair's entries trade
their type, count and value, so the tags stay in order), the pixel dimensions become the stored pixels' (a crop
or a shrink), and the thumbnail is blanked (its bytes zeroed, its link
cut): it is the unprocessed photo's preview, which a cut or a crop of the photo must not carry. A block this
cannot read gives None, and the caller rebuilds it as before.
"""

from __future__ import annotations

import struct

_PREFIX = b"Exif\x00\x00"
_ORIENTATION, _X_RES, _Y_RES, _EXIF_IFD = 0x0112, 0x011A, 0x011B, 0x8769
_PIXEL_X, _PIXEL_Y = 0xA002, 0xA003
_THUMBNAIL_AT, _THUMBNAIL_BYTES = 0x0201, 0x0202  # a JPEG thumbnail's offset and length
_STRIPS_AT, _STRIP_BYTES = 0x0111, 0x0117  # an uncompressed one's
_SHORT, _LONG = 3, 4
_QUARTER_TURNS = (5, 6, 7, 8)


class _Block:
    """The TIFF structure of an EXIF block, bounds-checked: a read or write past its end raises ValueError."""

    def __init__(self, data: bytes) -> None:
        if data[:2] not in (b"II", b"MM"):
            raise ValueError("no byte order")
        self.data = bytearray(data)
        self.order = "<" if data[:2] == b"II" else ">"
        if self.unpack("H", 2) != 42:
            raise ValueError("not a TIFF header")

    def unpack(self, kind: str, at: int) -> int:
        size = struct.calcsize(kind)
        if not 0 <= at <= len(self.data) - size:
            raise ValueError("past the block's end")
        return struct.unpack_from(self.order + kind, self.data, at)[0]

    def pack(self, kind: str, at: int, value: int) -> None:
        self.unpack(kind, at)  # the same bounds
        struct.pack_into(self.order + kind, self.data, at, value)

    def entries(self, ifd: int) -> tuple[dict[int, int], int]:
        """tag -> its entry's offset, and where the IFD's link to the next one lies."""
        count = self.unpack("H", ifd)
        found = {self.unpack("H", ifd + 2 + 12 * i): ifd + 2 + 12 * i for i in range(count)}
        return found, self.unpack("I", ifd + 2 + 12 * count) and ifd + 2 + 12 * count

    def blank(self, entries: dict[int, int], at_tag: int, size_tag: int) -> None:
        """Zero the one run of bytes an offset tag and its length tag name (several strips: not done here)."""
        if at_tag not in entries:
            return
        if size_tag not in entries or self.unpack("I", entries[at_tag] + 4) != 1:
            raise ValueError("not one run of bytes")
        start, size = (self.unpack("I" if self.unpack("H", entries[tag] + 2) == _LONG else "H", entries[tag] + 8)
                       for tag in (at_tag, size_tag))
        if not 0 <= start <= start + size <= len(self.data):
            raise ValueError("past the block's end")
        self.data[start:start + size] = bytes(size)

    def swap(self, entries: dict[int, int], a: int, b: int) -> None:
        """Two entries trade everything but their tags; one of the pair alone cannot move in place."""
        if a not in entries and b not in entries:
            return
        if a not in entries or b not in entries:
            raise ValueError("one of a pair")
        first, second = entries[a], entries[b]
        self.data[first + 2:first + 12], self.data[second + 2:second + 12] = \
            self.data[second + 2:second + 12], self.data[first + 2:first + 12]


    def set_size(self, entries: dict[int, int], size: tuple[int, int]) -> None:
        """PixelX/YDimension made the stored pixels' (width, height), in the type each entry has."""
        for tag, value in zip((_PIXEL_X, _PIXEL_Y), size, strict=True):
            if tag not in entries:
                continue
            at = entries[tag]
            kind = {_SHORT: "H", _LONG: "I"}.get(self.unpack("H", at + 2))
            if kind is None or self.unpack("I", at + 4) != 1 or (kind == "H" and value > 0xFFFF):
                raise ValueError("not one number that holds the size")
            self.pack(kind, at + 8, value)


def upright_exif(exif: bytes, size: tuple[int, int] | None = None) -> bytes | None:
    """The block (with the ``Exif`` prefix a JPEG's APP1 holds) marked upright, or None where it cannot be read.
    ``size``: the (width, height) of the pixels it goes with, which its pixel dimensions then say (a crop or a
    shrink made them smaller than the camera's)."""
    try:
        block = _Block(exif.removeprefix(_PREFIX))
        ifd0 = block.unpack("I", 4)
        entries, next_link = block.entries(ifd0)
        if next_link:  # the thumbnail: the unprocessed photo's preview, not the output's
            thumbnail = block.entries(block.unpack("I", next_link))[0]
            block.blank(thumbnail, _THUMBNAIL_AT, _THUMBNAIL_BYTES)
            block.blank(thumbnail, _STRIPS_AT, _STRIP_BYTES)
            block.pack("I", next_link, 0)
        exif_entries = block.entries(block.unpack("I", entries[_EXIF_IFD] + 8))[0] if _EXIF_IFD in entries else {}
        if _ORIENTATION in entries:
            at = entries[_ORIENTATION]
            kind = {_SHORT: "H", _LONG: "I"}.get(block.unpack("H", at + 2))
            if kind is None or block.unpack("I", at + 4) != 1:
                return None
            if block.unpack(kind, at + 8) in _QUARTER_TURNS:
                block.swap(entries, _X_RES, _Y_RES)
                block.swap(exif_entries, _PIXEL_X, _PIXEL_Y)
            block.pack(kind, at + 8, 1)
        if size is not None:
            block.set_size(exif_entries, size)
        return _PREFIX + bytes(block.data)
    except (ValueError, struct.error):
        return None
