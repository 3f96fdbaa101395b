"""A value a caller gave, as a one-line refusal shows it.

Python will not write an int of more than 4300 digits as text (``str`` and ``repr`` raise ValueError), and
``math.isfinite`` raises OverflowError for one past a float's range, so a refusal of ``seed=10**5000`` would
itself fail with a traceback. Every refusal that quotes a number or a caller's object goes through here.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

_DIGITS_PER_BIT = math.log10(2)
_LONGEST_SHOWN_BITS = 64  # past this an integer is named by its size: nobody reads 20 digits in an error line


def finite_number(value: float) -> bool:
    """Whether a real number is finite, for an int of any size (one past a float's range is out of every range
    an option has)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def shown_number(value: Any) -> str:
    """A number as a message shows it: a float in ``:g`` form, a huge int by its size."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) \
            and abs(int(value)).bit_length() > _LONGEST_SHOWN_BITS:
        sign = "a negative" if value < 0 else "an"
        return f"{sign} integer of about {round(abs(int(value)).bit_length() * _DIGITS_PER_BIT)} digits"
    return str(value)


def shown_repr(value: Any, limit: int = 60) -> str:
    """``repr`` cut to ``limit`` characters (an ellipsis says it was), safe for any int."""
    text = shown_number(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"
