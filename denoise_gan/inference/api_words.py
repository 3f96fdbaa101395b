"""The Python API's errors in its own words. The checks it shares with the command line name their options as
flags (``use --tile 128 or more``); a caller of ``Denoiser`` reads them as its keywords (``tile=128``), and the
command line, which runs through the same API, keeps its flags (``denoise_gan.command_line``)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from denoise_gan.command_line import command_line_running
from denoise_gan.errors import DenoiseGanError

P = ParamSpec("P")
R = TypeVar("R")

# the command's options that are the API's keywords (denoise_files' OutputOptions among them), and their values
_OPTION = re.compile(r"(?<![\w.\-])--(tile|overlap|batch-size|threads|precision|device|engine|ensemble|strength|sigma"
                     r"|skip-existing|overwrite|recursive|suffix|quality|ext)\b"
                     r"(?: (\d[\d.]*|auto|cpu|cuda(?::\d+)?|fp32|fp16|bf16|torch|onnxruntime|'[^']*'))?")
_OUTPUT = re.compile(r"(?<![\w.\-])-o(?= )")
_SWITCHES = {"skip-existing", "overwrite", "recursive", "ensemble"}  # flags without a value: keywords set True


def python_terms(text: str) -> str:
    """``--tile 128`` as ``tile=128``, ``--skip-existing`` as ``skip_existing``, ``-o`` as ``out_dir``."""
    if command_line_running():  # its messages keep their flags
        return text
    parts = text.split("`")  # a command quoted in backticks (`denoise-gan export ... --overwrite`) stays as it is
    return "`".join(part if i % 2 else _keywords(part) for i, part in enumerate(parts))


def _keywords(text: str) -> str:
    text = _OPTION.sub(lambda m: m[1].replace("-", "_") + (f"={m[2]}" if m[2] else "=True" if m[1] in _SWITCHES
                                                               else ""), text)
    return _OUTPUT.sub("out_dir", text)


@contextmanager
def in_python_terms() -> Iterator[None]:
    """An error raised inside, reworded (the same exception, its class and traceback kept)."""
    try:
        yield
    except DenoiseGanError as exc:
        if exc.args and isinstance(exc.args[0], str):
            exc.args = (python_terms(exc.args[0]), *exc.args[1:])
        raise


def worded(method: Callable[P, R]) -> Callable[P, R]:
    """A public method of the API whose errors are reworded (``in_python_terms``)."""
    @functools.wraps(method)
    def reworded(*args: P.args, **kwargs: P.kwargs) -> R:
        with in_python_terms():
            return method(*args, **kwargs)

    return reworded
