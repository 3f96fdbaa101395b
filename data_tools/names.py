"""File names as text: for seeds and manifests (``printable``) and for a terminal or log (``shown``)."""

from __future__ import annotations

import os
import unicodedata


def printable(name: str) -> str:
    """A file name as text that can be printed and hashed: bytes that are not UTF-8 (kept by Python as lone
    surrogates) become backslash escapes; a UTF-8 name is returned unchanged."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


JOINER = "\u200d"  # zero-width joiner: invisible, but it builds emoji sequences (a name may hold one)


def _escaped(c: str) -> str:
    category = unicodedata.category(c)
    if category == "Cc":
        return repr(c)[1:-1]
    if category in ("Zl", "Zp") or category == "Cf" and c != JOINER:
        return f"\\U{ord(c):08x}" if ord(c) > 0xFFFF else f"\\u{ord(c):04x}"
    return c


def shown(text: object) -> str:
    """Text, usually holding a file name, as a terminal or log line can show it: ``printable``, and control and
    invisible format characters (an escape sequence, a newline or line separator, a bidi override, a zero-width
    space) as backslash escapes, so a name cannot recolour the terminal, split a one-line-per-file log, reorder
    a line or pass for another name."""
    return "".join(_escaped(c) for c in printable(str(text)))
