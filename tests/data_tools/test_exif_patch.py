"""An output's EXIF is the camera's block with only orientation, the swapped resolutions and dimensions and the
thumbnail's link changed: a MakerNote, which points into the block by absolute offsets, still reads."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import ExifTags, Image

from data_tools.exif_patch import upright_exif
from data_tools.image_encode import encode_image

LENS = b"EF50mm f/1.8\x00"
THUMBNAIL = b"\xff\xd8the unprocessed photo's preview\xff\xd9"


def camera_block(orientation: int = 6, thumbnail: bool = True) -> bytes:
    """A little-endian block laid out as a camera might (a 64-byte gap Pillow would not keep), whose MakerNote
    holds the absolute offset of its lens name."""
    ifd0, gap = 8, 64
    entries0 = 5
    res_at = ifd0 + 2 + 12 * entries0 + 4 + gap
    exif_at = res_at + 16
    exif_entries = 3
    maker_at = exif_at + 2 + 12 * exif_entries + 4
    lens_at = maker_at + 12
    ifd1_at = lens_at + len(LENS) + (len(LENS) % 2)
    out = bytearray(b"II*\x00" + struct.pack("<I", ifd0))
    out += struct.pack("<H", entries0)
    for tag, kind, count, value in ((0x0112, 3, 1, orientation), (0x011A, 5, 1, res_at), (0x011B, 5, 1, res_at + 8),
                                    (0x0131, 2, 4, int.from_bytes(b"cam\x00", "little")), (0x8769, 4, 1, exif_at)):
        out += struct.pack("<HHII", tag, kind, count, value)
    out += struct.pack("<I", ifd1_at if thumbnail else 0) + bytes(gap)
    out += struct.pack("<IIII", 72, 1, 300, 1)
    out += struct.pack("<H", exif_entries)
    for tag, kind, count, value in ((0x927C, 7, 12, maker_at), (0xA002, 4, 1, 640), (0xA003, 4, 1, 480)):
        out += struct.pack("<HHII", tag, kind, count, value)
    out += struct.pack("<I", 0)
    out += b"MAKR" + struct.pack("<I", lens_at) + b"\x00" * 4 + LENS + bytes(len(LENS) % 2)
    thumb_at = ifd1_at + 2 + 3 * 12 + 4
    out += struct.pack("<H", 3) + struct.pack("<HHII", 0x0103, 3, 1, 6)  # IFD1: a JPEG thumbnail
    out += struct.pack("<HHII", 0x0201, 4, 1, thumb_at) + struct.pack("<HHII", 0x0202, 4, 1, len(THUMBNAIL))
    out += struct.pack("<I", 0) + THUMBNAIL
    return b"Exif\x00\x00" + bytes(out)


def lens_read_through_the_maker_note(block: bytes) -> bytes:
    tiff = block.removeprefix(b"Exif\x00\x00")
    exif = Image.Exif()
    exif.load(block)
    maker = exif.get_ifd(0x8769)[0x927C]
    (lens_at,) = struct.unpack("<I", maker[4:8])
    return tiff[lens_at:lens_at + len(LENS)]


def test_a_quarter_turn_is_marked_upright_and_the_maker_note_still_reads() -> None:
    block = camera_block()
    assert lens_read_through_the_maker_note(block) == LENS
    thumbnail = Image.Exif()
    thumbnail.load(block)
    assert thumbnail.get_ifd(ExifTags.IFD.IFD1)  # (there to be unlinked)
    turned = Image.Exif()
    turned.load(upright_exif(block))
    assert (turned.get_ifd(0x8769)[0xA002], turned.get_ifd(0x8769)[0xA003]) == (480, 640)
    jpeg = encode_image(np.zeros((8, 6, 3), np.uint8), ".jpg", exif=block)
    written = Image.open(io.BytesIO(jpeg)).info["exif"]
    assert lens_read_through_the_maker_note(written) == LENS  # Pillow's rebuild moved the MakerNote: other bytes
    exif = Image.Exif()
    exif.load(written)
    assert exif[0x0112] == 1 and (exif[0x011A], exif[0x011B]) == (300.0, 72.0) and exif[0x0131] == "cam"
    assert (exif.get_ifd(0x8769)[0xA002], exif.get_ifd(0x8769)[0xA003]) == (6, 8)  # the pixels stored
    changed = sum(a != b for a, b in zip(written, block))  # orientation, two swapped pairs, the thumbnail
    assert len(written) == len(block) and changed <= 2 + 20 + 20 + 4 + len(THUMBNAIL)


@pytest.mark.parametrize("orientation", [1, 3])
def test_no_quarter_turn_swaps_nothing_and_the_thumbnail_is_never_kept(orientation: int) -> None:
    block = camera_block(orientation)
    upright = upright_exif(block)
    exif = Image.Exif()
    exif.load(upright)
    assert exif[0x0112] == 1 and (exif[0x011A], exif[0x011B]) == (72.0, 300.0)
    assert exif.get_ifd(ExifTags.IFD.IFD1) == {}  # the noisy photo's preview, unlinked
    assert THUMBNAIL in block and THUMBNAIL not in upright  # and blanked: a cut of the photo must not carry it
    assert upright_exif(camera_block(1, thumbnail=False)) == camera_block(1, thumbnail=False)


def test_a_block_it_cannot_read_is_left_to_the_rebuild() -> None:
    assert upright_exif(b"Exif\x00\x00XX*\x00") is None
    assert upright_exif(camera_block()[:40]) is None  # cut inside IFD0


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tif"])
def test_a_cropped_photos_exif_gives_the_size_of_the_pixels_stored(suffix: str) -> None:
    """`synth --crop 64` of a 640x480 photo wrote a 64x64 file whose EXIF said 640x480 (the camera's size)."""
    jpeg = encode_image(np.zeros((64, 48, 3), np.uint8), suffix, exif=camera_block(1))
    exif = Image.open(io.BytesIO(jpeg)).getexif()
    assert (exif.get_ifd(0x8769)[0xA002], exif.get_ifd(0x8769)[0xA003]) == (48, 64)
    deep = encode_image(np.zeros((64, 48, 3), np.uint16), ".png", exif=camera_block(1))
    exif = Image.open(io.BytesIO(deep)).getexif()
    assert (exif.get_ifd(0x8769)[0xA002], exif.get_ifd(0x8769)[0xA003]) == (48, 64)


def test_a_size_a_short_entry_cannot_hold_is_left_to_the_rebuild() -> None:
    short = bytearray(camera_block(1))
    at = short.index(struct.pack("<HHII", 0xA002, 4, 1, 640))
    short[at:at + 12] = struct.pack("<HHIHH", 0xA002, 3, 1, 640, 0)
    assert upright_exif(bytes(short), (70000, 10)) is None
    exif = Image.Exif()
    exif.load(upright_exif(bytes(short), (300, 10)))
    assert (exif.get_ifd(0x8769)[0xA002], exif.get_ifd(0x8769)[0xA003]) == (300, 10)
