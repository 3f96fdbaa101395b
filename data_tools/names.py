"""File names as text: for seeds and manifests (``printable``) and for a terminal or log (``shown``)."""

from __future__ import annotations

import os
import unicodedata


def printable(name: str) -> str:
    """A file name as text that can be printed and hashed: bytes that are not UTF-8 (kept by Python as lone
    surrogates) become backslash escapes; a UTF-8 name is returned unchanged."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


# right-to-left marks, embeddings, overrides and isolates: they reorder the text shown around a name
BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def shown(text: object) -> str:
    """Text, usually holding a file name, as a terminal or log line can show it: ``printable``, and control
    characters (an escape sequence, a newline or line separator in a name, a bidi override) as backslash
    escapes, so a name cannot recolour the terminal, split a one-line-per-file log or reorder a line."""
    return "".join(f"\\u{ord(c):04x}" if c in BIDI_CONTROLS or unicodedata.category(c) in ("Zl", "Zp")
                   else repr(c)[1:-1] if unicodedata.category(c) == "Cc" else c for c in printable(str(text)))
