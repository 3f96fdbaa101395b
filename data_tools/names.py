"""File names as text: for seeds and manifests (``printable``) and for a terminal or log (``shown``)."""

from __future__ import annotations

import os
import unicodedata


def printable(name: str) -> str:
    """A file name as text that can be printed and hashed: bytes that are not UTF-8 (kept by Python as lone
    surrogates) become backslash escapes; a UTF-8 name is returned unchanged."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def shown(text: object) -> str:
    """Text, usually holding a file name, as a terminal or log line can show it: ``printable``, and control
    characters (an escape sequence, a newline in a name) as backslash escapes, so a name cannot recolour the
    terminal or split a one-line-per-file log."""
    return "".join(c if unicodedata.category(c) != "Cc" else repr(c)[1:-1] for c in printable(str(text)))
