"""The benchmark scripts' shared argument types and ending.

A user reruns these scripts from the README to check its figures; a mistyped number, noise spec, checkpoint or
folder must end as the CLI's commands end (one `error:` line, exit 2), not in a traceback after minutes of work.
The argument types refuse a bad value before any work starts; ``run_script`` turns the package's own errors (and
a missing file) into that line, while a bug still shows its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from data_tools.checks import whole_number
from data_tools.errors import DenoiseGanError
from data_tools.noise import parse_noise_spec
from denoise_gan.errors import first_line
from denoise_gan.runtime import check_threads, usable_cpus


def positive_int(text: str) -> int:
    """A count that must be at least 1 (repeats, steps, draws): 0 would time or average nothing."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is below 1")
    return value


def positive_float(text: str) -> float:
    """A size that must be above 0 (megapixels): an image of 0 pixels measures nothing."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not above 0")
    return value


def seed(text: str) -> int:
    """A seed as the package takes one (0 to 2**64 - 1), refused before the model loads and the table starts."""
    return _whole(text, lambda value: whole_number(value, "the seed"))


def thread_count(text: str) -> int:
    """CPU threads as ``--threads`` takes them: at most the CPUs this process may use, 0 for all of them."""
    return _whole(text, lambda value: check_threads(value) or usable_cpus())


def _whole(text: str, check: Callable[[int], int]) -> int:
    """A whole number as the package's ``check`` takes it; its refusal, or a word that is no number, one line."""
    try:
        return check(int(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(first_line(exc, None) if isinstance(exc, DenoiseGanError)
                                         else f"{text!r} is not a whole number") from None


def noise_spec(text: str) -> str:
    """A noise spec, checked as ``synth --noise`` checks it; kept as text for the script's own parse and labels."""
    try:
        parse_noise_spec(text)
    except DenoiseGanError as exc:
        raise argparse.ArgumentTypeError(first_line(exc, None)) from None
    return text


def run_script(main: Callable[[], None]) -> None:
    """Run a script's ``main``; the package's errors and a missing or unreadable file end in one line, exit 2."""
    try:
        main()
    except (DenoiseGanError, OSError) as exc:
        print(f"error: {first_line(exc, None)}", file=sys.stderr)
        sys.exit(2)
