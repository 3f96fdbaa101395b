"""Pictures people look at: a grid of images with named columns, a caption per row and a title.

Every picture the tool writes (validation grids, the demo's strips, adapt's before/after) is labelled the same
way, so a reader knows which column is which and what the numbers are.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from data_tools.names import printable

if TYPE_CHECKING:  # Pillow loads with the first picture, not with this module
    from PIL import ImageFont

TITLE_H, HEADER_H, CAPTION_H, GAP = 26, 20, 18, 4  # label bands of the grid, in pixels
BACKGROUND, INK = 255, (20, 20, 20)


@functools.cache
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """matplotlib's DejaVu Sans where it is installed (accented, Greek and Cyrillic letters: Pillow's own font
    drew "café" as "caf□"), else Pillow's; loaded once a size (a grid asks for each size several times)."""
    from PIL import ImageFont

    if (path := _dejavu_sans()) is not None:
        with contextlib.suppress(OSError):
            return ImageFont.truetype(str(path), size)
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the fixed-size bitmap font
        return ImageFont.load_default()


@functools.cache
def _dejavu_sans() -> Path | None:
    """The font file matplotlib ships, found without importing matplotlib (slow to import)."""
    spec = importlib.util.find_spec("matplotlib")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        if (path := Path(folder) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf").is_file():
            return path
    return None


def _drawable(text: str, font: Any) -> str:
    """``text`` with each character the font has no glyph for (drawn as its empty box: a name in Japanese) as ?."""
    from PIL import ImageFont

    if text.isascii() or not isinstance(font, ImageFont.FreeTypeFont):  # (a bitmap font: Latin-1, fitted sees to it)
        return text
    missing = _missing_glyph(font)
    return "".join("?" if not ch.isascii() and _glyph(font, ch) == missing else ch for ch in text)


def _glyph(font: Any, ch: str) -> tuple[tuple[int, int], bytes]:
    mask = font.getmask(ch)
    return mask.size, bytes(mask)


def _missing_glyph(font: Any) -> tuple[tuple[int, int], bytes]:
    return _glyph(font, "\U0010fffd")  # a private-use code point: no font draws it, each draws its box


def labelled_grid(rows: list[list[np.ndarray]], columns: list[str], captions: list[str], title: str) -> np.ndarray:
    """One image per cell, columns aligned and named, a caption above each row and a title on top (uint8 RGB)."""
    from PIL import Image, ImageDraw

    font = _font(12)
    cell_w = cell_width(max(a.shape[1] for row in rows for a in row), columns)
    width = max(cell_w * len(columns) + GAP * (len(columns) - 1), 480)
    heights = [CAPTION_H + max(a.shape[0] for a in row) + GAP for row in rows]
    canvas = Image.new("RGB", (width, TITLE_H + HEADER_H + sum(heights)), (BACKGROUND,) * 3)
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 5), fitted(draw, title, _font(14), width - 8), fill=INK, font=_font(14))
    for i, name in enumerate(columns):
        left = i * (cell_w + GAP)
        name = fitted(draw, name, font, cell_w)
        text_w = draw.textlength(name, font=font)
        draw.text((left + max(0, (cell_w - text_w) / 2), TITLE_H + 3), name, fill=INK, font=font)
    top = TITLE_H + HEADER_H
    for row, caption, height in zip(rows, captions, heights):
        draw.text((4, top + 2), fitted(draw, caption, font, width - 8), fill=INK, font=font)
        for i, image in enumerate(row):
            canvas.paste(Image.fromarray(rgb8(image)), (i * (cell_w + GAP), top + CAPTION_H))
        top += height
    return np.asarray(canvas)


def cell_width(widest: int, columns: list[str]) -> int:
    """A grid cell's width: its widest image's, and its column's name's at least (small images, a 48 px validation
    crop, cut it to "G…isy)")."""
    from PIL import Image, ImageDraw

    named, font = ImageDraw.Draw(Image.new("RGB", (1, 1))), _font(12)
    return max(widest, *(int(named.textlength(c, font=font)) + 6 for c in columns))


def fitted(draw: Any, text: str, font: Any, width: float) -> str:
    """``text`` shortened in its middle (…) to fit ``width`` pixels: a long file name or noise spec ran off the
    picture and took the figures at the end of its line (PSNR, σ, seed) with it. Every text a picture draws goes
    through it, so what a font cannot draw is replaced here (with ?), not raised from the drawing."""
    mark = "…"
    text = _drawable(text, font)
    try:
        draw.textlength(text + mark, font=font)
    except UnicodeEncodeError:  # the bitmap font of Pillow < 10.1 holds Latin-1 alone (a name in Cyrillic, "…")
        text, mark = text.encode("latin-1", "replace").decode("latin-1"), "..."
    if draw.textlength(text, font=font) <= width:
        return text
    keep_end = len(text) // 2
    head, tail = text[: len(text) - keep_end], text[len(text) - keep_end:]
    while (head or tail) and draw.textlength(head + mark + tail, font=font) > width:
        if len(head) >= len(tail) // 2 and head:  # cut the name's middle, keeping more of the end (its figures)
            head = head[:-1]
        else:
            tail = tail[1:]
    return head + mark + tail


def rgb8(image: np.ndarray) -> np.ndarray:
    """Any image the tool handles (gray, gray+alpha, RGB, RGBA; 8 or 16 bits) as 8-bit RGB for a picture."""
    pixels = image[..., None] if image.ndim == 2 else image
    pixels = pixels[..., :1] if pixels.shape[2] == 2 else pixels[..., :3]
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    if pixels.dtype == np.uint16:
        pixels = np.rint(pixels / 257.0).astype(np.uint8)
    return np.ascontiguousarray(pixels, dtype=np.uint8)


def as_label(text: str) -> str:
    """A name as matplotlib text: ``$`` would start mathtext (``$\\bad$`` crashed the plot, ``run$1_v$2`` drew
    maths), a leading ``_`` hides a legend entry, and a name that is not UTF-8 (lone surrogates) crashed it:
    such bytes are shown as backslash escapes, as on the terminal."""
    text = printable(text).replace("$", r"\$")
    return "\u200b" + text if text.startswith("_") else text


# the shapes a plot tells its series apart by, beside colour: tab10's green and red (and orange and green) read
# alike to a reader with red-green colour blindness
MARKERS = "osD^vP*Xh<>"


def figure_png(fig: object, dpi: int, tight: bool = False) -> bytes:
    """A matplotlib figure as PNG bytes (``tight`` crops the margins), for an atomic write or an inline image."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, **({"bbox_inches": "tight"} if tight else {}))  # type: ignore[attr-defined]
    return buf.getvalue()

