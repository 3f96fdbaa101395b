"""File names as text: for manifests and reports (``printable``), for a terminal or log (``shown``) and in a
command to paste (``shell_word``); the empty name, which is no path at all (``refuse_empty_paths``); and a name
suffix that would make one a path."""

from __future__ import annotations

import os
import re
import shlex
import sys
import unicodedata

from data_tools.errors import DataError
from data_tools.shown_values import shown_repr


def printable(name: str) -> str:
    """A file name as text that can be printed and hashed: bytes that are not UTF-8 (kept by Python as lone
    surrogates) become backslash escapes; a UTF-8 name is returned unchanged. A name the file system's encoding
    cannot hold (Python on an ASCII locale, a name from JSON) is taken as UTF-8: this text is a message's."""
    try:
        raw = os.fsencode(name)
    except UnicodeEncodeError:
        raw = name.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "backslashreplace")


# invisible, but part of how text is written: the joiners build emoji sequences and Persian or Indic words
JOINERS = frozenset("\u200c\u200d")
# a subdivision flag (Scotland's, Wales'): the black flag, 2-6 tag letters or digits, the cancel tag; tag
# letters anywhere else are invisible text
FLAG = re.compile("\U0001f3f4[\U000e0030-\U000e0039\U000e0061-\U000e007a]{2,6}\U000e007f")


def shell_word(path: object) -> str:
    """A path inside a command a message tells the user to run: quoted where a shell would split or expand it
    (a space, $, quotes), so the command runs as written when pasted."""
    return shlex.quote(printable(str(path)))


def _escaped(c: str) -> str:
    category = unicodedata.category(c)
    if category == "Cc":
        return repr(c)[1:-1]
    if category in ("Zl", "Zp") or category == "Cf" and c not in JOINERS:
        return f"\\U{ord(c):08x}" if ord(c) > 0xFFFF else f"\\u{ord(c):04x}"
    return c


def shown(text: object) -> str:
    """Text, usually holding a file name, as a terminal or log line can show it: ``printable``, and control and
    invisible format characters (an escape sequence, a newline or line separator, a bidi override, a zero-width
    space, tag letters outside a flag) as backslash escapes, so a name cannot recolour the terminal, split a
    one-line-per-file log, reorder a line or pass for another name."""
    text, out, at = printable(str(text)), [], 0
    for flag in FLAG.finditer(text):
        out += [_escaped(c) for c in text[at:flag.start()]] + [flag.group()]
        at = flag.end()
    return "".join(out + [_escaped(c) for c in text[at:]])


def warn(message: str) -> None:
    """A warning line on stderr, apart from results on stdout, its file names ``shown``: the default of the
    library's ``warn`` callbacks (a command passes its own, coloured, console's)."""
    print(f"warning: {shown(message)}", file=sys.stderr)


SUFFIX_RULE = "a suffix holds no path separator and is not '.' or '..'"  # what a name suffix must be, as said


def makes_a_path(suffix: str) -> bool:
    """Whether a name suffix would make a path of the name it is added to (a separator, or '.' or '..' alone),
    where it must stay part of one file's name: ``SUFFIX_RULE``."""
    return any(sep in suffix for sep in ("/", "\\")) or suffix in (".", "..")


def says_folder(out: object) -> bool:
    """Whether an output name given as text ends in a separator (``-o shots.png/``): "a folder", as it says to
    the shell, though a Path would drop the slash."""
    return isinstance(out, str) and out.endswith(("/", os.sep))


def refuse_empty_paths(*paths: object, what: str = "folder path", error: type[Exception] = DataError) -> None:
    """"" is a variable or field left unset, never a request for the current folder, which a Path of "" is: a run
    would read or write wherever it was started. None (or bytes, a number) is no path either: it was a TypeError
    from deep inside pathlib."""
    if "" in paths:
        raise error(f"an empty {what}; give '.' for the current folder")
    for path in paths:
        if not isinstance(path, str | os.PathLike) or isinstance(os.fspath(path), bytes):
            raise error(f"the {what} must be a str or Path, not {type(path).__name__} ({shown_repr(path)})")
