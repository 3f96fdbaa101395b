"""An option given twice is refused, where the parser would keep the last value without a word.

``synth --noise A --noise B`` made only B's set, and ``denoise --sigma 10 ... --sigma 25`` denoised at 25: a
user who meant two noises, or who edited one end of a long command line, could not tell. Options that take
several values (``--methods``) and a flag given twice in the same form stay as they are; a flag given in both
its forms (``--ema --no-ema``) contradicts itself and is refused too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def repeated_option(params: Sequence[Any], args: Sequence[str]) -> str | None:
    """What to tell the user when ``args`` give a single-valued option twice; None when none is."""
    names: dict[str, Any] = {}
    for param in params:
        if getattr(param, "param_type_name", "") == "option" and not param.multiple and not param.count:
            names.update({name: param for name in (*param.opts, *param.secondary_opts)})
    seen: dict[str, tuple[str, str | None]] = {}  # param name -> (the name it was first given as, its value)
    i = 0
    while i < len(args):
        word, i = args[i], i + 1
        if word == "--":
            break
        name, value = _split(word, names)
        if name is None:
            continue
        param = names[name]
        if not param.is_flag and value is None:
            value = " ".join(args[i:i + param.nargs])
            i += param.nargs
        first = seen.get(param.name)
        if first is None:
            seen[param.name] = (name, value)
        elif not (param.is_flag and first[0] == name):
            return _message(first, (name, value))
    return None


def _split(word: str, names: dict[str, Any]) -> tuple[str | None, str | None]:
    """An option's name and its attached value (``--seed=3``, ``-o``-style ``-oout``), or (None, None)."""
    if word in names:
        return word, None
    if word.startswith("--") and "=" in word:
        name = word.split("=", 1)[0]
        return (name, word.split("=", 1)[1]) if name in names else (None, None)
    if len(word) > 2 and word[0] == "-" and word[1] != "-" and word[:2] in names and not names[word[:2]].is_flag:
        return word[:2], word[2:]
    return None, None


def _message(first: tuple[str, str | None], again: tuple[str, str | None]) -> str:
    (name1, value1), (name2, value2) = first, again
    if value1 is None or value2 is None:  # a flag in both of its forms
        return f"{name1} and {name2} both given; give one"
    hint = "; to draw one of several noises per image, join them with '|'" if name1 == "--noise" else ""
    return f"{name1} given twice ({value1!r}, then {value2!r}); give it once{hint}"
