"""An option given twice is refused, where the parser would keep the last value without a word.

``synth --noise A --noise B`` made only B's set, and ``denoise --sigma 10 ... --sigma 25`` denoised at 25: a
user who meant two noises, or who edited one end of a long command line, could not tell. Repeatable options
(``benchmark --noise``) and a flag given twice in the same form stay as they are; a flag given in both its forms
(``--quantize --no-quantize``) contradicts itself and is refused too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def repeated_option(params: Sequence[Any], args: Sequence[str]) -> str | None:
    """What to tell the user when ``args`` give a single-valued option twice; None when none is."""
    names: dict[str, Any] = {}
    for param in params:
        if getattr(param, "param_type_name", "") == "option":  # (repeatable ones too: their values are skipped)
            names.update({name: param for name in (*param.opts, *param.secondary_opts)})
    seen: dict[str, tuple[str, str | None]] = {}  # param name -> (the name it was first given as, its value)
    i = 0
    while i < len(args):
        word, i = args[i], i + 1
        if word == "--":
            break
        for name, value in _split(word, names):
            param = names[name]
            if not param.is_flag and value is None:
                if i + param.nargs > len(args):  # its value is missing: the parser says so
                    return None
                value = " ".join(args[i:i + param.nargs])
                i += param.nargs
            if param.multiple or param.count:
                continue
            first = seen.get(param.name)
            if first is None:
                seen[param.name] = (name, value)
            elif not (param.is_flag and first[0] == name):
                return _message(first, (name, value))
    return None


def _split(word: str, names: dict[str, Any]) -> list[tuple[str, str | None]]:
    """The options a word gives, each with its attached value: ``--seed=3``, ``-oout``, or a cluster of short
    flags that may end in a short option and its value (``-ro OUT``, ``-rOUT``)."""
    if word in names:
        return [(word, None)]
    if word.startswith("--"):
        name = word.split("=", 1)[0]
        return [(name, word.split("=", 1)[1])] if "=" in word and name in names else []
    found: list[tuple[str, str | None]] = []
    for at in range(1, len(word) if word.startswith("-") and len(word) > 2 else 1):
        name = "-" + word[at]
        if name not in names:
            return []  # not a cluster of this command's options (a negative number, a value)
        if not names[name].is_flag:
            return [*found, (name, word[at + 1:] or None)]
        found.append((name, None))
    return found


def _message(first: tuple[str, str | None], again: tuple[str, str | None]) -> str:
    """The refusal: the option and both values (a flag in both its forms has none)."""
    (name1, value1), (name2, value2) = first, again
    if value1 is None or value2 is None:  # a flag in both of its forms
        return f"{name1} and {name2} both given; give one"
    hint = "; to draw one of several noises per image, join them with '|'" if name1 == "--noise" else ""
    return f"{name1} given twice ({value1!r}, then {value2!r}); give it once{hint}"
