"""The Python API's errors in its own words. The checks it shares with the command line name their options as
flags (``use --tile 128 or more``); a caller of ``Denoiser`` reads them as its keywords (``tile=128``), and the
command line, which runs through the same API, keeps its flags (``denoise_gan.command_line``)."""

from __future__ import annotations

import functools
import inspect
import os
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ParamSpec, TypeVar

from data_tools.paths import home_expanded
from denoise_gan.command_line import command_line_running
from denoise_gan.errors import DenoiseGanError

P = ParamSpec("P")
R = TypeVar("R")

SETTINGS = frozenset({"device", "tile", "overlap", "batch_size", "precision", "ensemble",  # Denoiser's keywords
                      "level_per_tile"})
_OUTPUT_OPTIONS = {"skip-existing", "overwrite", "recursive", "suffix", "quality", "ext"}  # denoise_files' own
# the command's options that are the API's keywords: Denoiser's, from_pretrained's, a call's level and
# OutputOptions', so a keyword added to SETTINGS is reworded with no list here to extend (longest first)
_FLAGS = sorted({*(n.replace("_", "-") for n in SETTINGS), "engine", "threads", "strength", "sigma", *_OUTPUT_OPTIONS},
                key=lambda flag: (-len(flag), flag))
_OPTION = re.compile(rf"(?<![\w.\-])--({'|'.join(_FLAGS)})\b(?!\.\w)"  # not a file's
                     r"(?: (\d[\d.]*|'[^']*'|(?:auto|cpu|cuda(?::\d+)?|fp32|fp16|bf16|torch|onnxruntime"
                     r"|same|png|jpe?g|tiff?|webp|bmp)\b))?")
_OUTPUT = re.compile(r"(?<![\w.\-])-o(?![\w\-/\\])")  # also at a sentence's end ("choose another -o"), not a folder's
# flags without a value: keywords set True
_SWITCHES = {"skip-existing", "overwrite", "recursive", "ensemble", "level-per-tile"}


def python_terms(text: str, keep: Iterable[str] = ()) -> str:
    """``--tile 128`` as ``tile=128``, ``--skip-existing`` as ``OutputOptions(skip_existing=True)``, ``-o`` as
    ``out_dir``; the texts in ``keep`` (the paths a caller gave, which a message quotes) as they are, whatever
    they hold."""
    if command_line_running():  # its messages keep their flags
        return text
    # only a path the rewording would change needs keeping ("." or "tile" kept would shield the message's own words)
    kept = sorted({k for k in keep if k and k in text and _keywords(k) != k}, key=len, reverse=True)
    pieces = re.split(f"({'|'.join(map(re.escape, kept))})", text) if kept else [text]
    out, quoted = [], False  # a command quoted in backticks (`denoise-gan export ... --overwrite`) stays as it is
    for i, piece in enumerate(pieces):
        if i % 2:  # a kept path
            out.append(piece)
            continue
        parts = piece.split("`")
        out.append("`".join(part if (j % 2 == 0) == quoted else _keywords(part) for j, part in enumerate(parts)))
        quoted ^= len(parts) % 2 == 0
    return "".join(out)


def _keywords(text: str) -> str:
    return _OUTPUT.sub("out_dir", _OPTION.sub(_keyword, text.replace(" a --suffix", " --suffix")))


def _keyword(flag: re.Match[str]) -> str:
    """One flag as the keyword that sets it: ``OutputOptions(skip_existing=True)`` for denoise_files' options
    (its own keywords would be a TypeError), ``tile=128`` for the rest."""
    name, value = flag[1], flag[2]
    if value and name == "ext":
        value = repr(value)
    keyword = name.replace("-", "_") + (f"={value}" if value else "=True" if name in _SWITCHES else "")
    if name not in _OUTPUT_OPTIONS:
        return keyword
    return f"OutputOptions({keyword})" if "=" in keyword else f"OutputOptions's {keyword}"


@contextmanager
def in_python_terms(keep: Iterable[str] = ()) -> Iterator[None]:
    """An error raised inside, reworded (the same exception, its class and traceback kept); ``keep`` as in
    ``python_terms``."""
    try:
        yield
    except DenoiseGanError as exc:
        if exc.args and isinstance(exc.args[0], str):
            exc.args = (python_terms(exc.args[0], keep), *exc.args[1:])
        raise


def given_paths(values: Iterable[object]) -> set[str]:
    """The texts a message may quote for the paths among a call's arguments (as given, and as ``Path`` prints
    them), one level into lists and tuples (``denoise_files``' inputs)."""
    found: set[str] = set()
    for value in values:
        for item in value if isinstance(value, list | tuple) else (value,):
            if isinstance(item, str | os.PathLike) and not isinstance(item, bytes):
                text = os.fspath(item)
                if isinstance(text, str) and text:  # as given, as Path prints it, and with its ~ put in
                    found.update((text, str(Path(text)), str(Path(home_expanded(text)))))
    return found


PATH_PARAMETERS = frozenset({"name_or_path", "inputs", "out_dir"})  # what the API's worded methods take as paths


def worded(method: Callable[P, R]) -> Callable[P, R]:
    """A public method of the API whose errors are reworded (``in_python_terms``), the paths it was given kept
    (its parameters in PATH_PARAMETERS: a keyword's value, such as ``"bf16"``, is reworded with its flag)."""
    signature = inspect.signature(method)

    @functools.wraps(method)
    def reworded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            given = signature.bind_partial(*args, **kwargs).arguments
        except TypeError:  # the call itself raises its TypeError below
            given = {}
        with in_python_terms(given_paths(v for k, v in given.items() if k in PATH_PARAMETERS)):
            return method(*args, **kwargs)

    return reworded
