"""Config fields that carry their command-line flag, help and bounds.

An option is declared once, on its config field: the CLI generates the `train`, `refine` and `adapt` options from
these fields (``cli/config_options.py``), and a config checks its own bounds in ``__post_init__``, whoever built
it: the command line, the Python API or a resumed run's config.json.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from data_tools.shown_values import finite_number, shown_number, shown_repr
from denoise_gan.command_line import command_line_running
from denoise_gan.errors import ConfigError


@dataclass(frozen=True)
class Option:
    """What the command line shows for a field, and the values it may take."""

    help: str
    flag: str = ""  # default: --field-name
    cli: bool = True  # False: resolved by the program (never an option)
    at_least: float | None = None
    at_most: float | None = None
    below: float | None = None  # strictly
    positive: bool = False  # a finite number above 0
    choices: tuple[str, ...] = ()
    level_only: bool = False  # only a level-aware G uses it ("Level-aware G: ..." in its help)


@dataclass(frozen=True)
class Nested:
    """How a nested config's fields appear among its parent's options: ``--f-width`` for F's width."""

    prefix: str = ""  # flag prefix, e.g. "f-"
    name: str = ""  # what {net} in a help text reads as: "G's", "F's (the noise model's)"; unnamed, "Its"
    flags: Mapping[str, str] = field(default_factory=dict)  # field -> flag, where the prefixed name is not it
    helps: Mapping[str, str] = field(default_factory=dict)  # field -> help, where the field's own is not right
    shared: tuple[str, ...] = ()  # fields set by the parent-level option of the same name (--channels)


def opt(default: Any = dataclasses.MISSING, help: str = "", **rules: Any) -> Any:
    """A config field with its option: ``steps: int = opt(2000, "Total steps.", at_least=1)``."""
    return field(default=default, metadata={"option": Option(help, **rules)})


def nested(factory: Callable[[], Any], **how: Any) -> Any:
    """A nested config field whose fields are options of the parent's command (see ``Nested``)."""
    return field(default_factory=factory, metadata={"nested": Nested(**how)})


def option_of(f: dataclasses.Field) -> Option | None:
    return f.metadata.get("option")


def nested_of(f: dataclasses.Field) -> Nested | None:
    return f.metadata.get("nested")


def flag_of(f: dataclasses.Field, prefix: str = "") -> str:
    rule = option_of(f)
    flag = rule.flag if rule is not None and rule.flag else "--" + f.name.replace("_", "-")
    return "--" + prefix + flag.split("/")[0].removeprefix("--")


def require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


MAX_STEP_PIXELS = 2**24  # 16.8 M pixels a step (64 x 512^2): far past what fits in memory for any G here


def require_step_size(batch_size: int, patch_size: int, option: str = "--batch-size") -> None:
    """A batch that cannot fit in memory is refused before any data loads, not met as an allocator traceback or
    a data-loader worker killed mid-run."""
    pixels = batch_size * patch_size**2
    require(pixels <= MAX_STEP_PIXELS,
            f"{option} {batch_size} with --patch-size {patch_size} is {pixels / 1e6:.0f} M pixels a step, over the "
            f"{MAX_STEP_PIXELS / 1e6:.1f} M allowed (memory would run out first); lower one of them")


def check_field(name: str, rule: Option, value: Any) -> None:
    """One field against its declared bounds; the message names the option and the value given."""
    if rule.choices:
        require(value in rule.choices, f"{name} must be one of {', '.join(rule.choices)}, not {value!r}")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    finite = finite_number(value)
    if rule.positive:
        require(finite and value > 0, f"{name} must be a positive number, not {shown_number(value)}")
    lo, hi, below = rule.at_least, rule.at_most, rule.below
    if lo is not None and hi is not None:
        require(finite and lo <= value <= hi,
                f"{name} must be between {shown_number(lo)} and {shown_number(hi)}, not {shown_number(value)}")
    elif lo is not None and below is not None:
        require(finite and lo <= value < below, f"{name} must be in [{shown_number(lo)}, {shown_number(below)}), not "
                                                f"{shown_number(value)}")
    elif lo is not None:
        wanted = "0 or more" if lo == 0 else f"at least {shown_number(lo)}"
        require(finite and value >= lo, f"{name} must be {wanted}, not {shown_number(value)}")
    elif hi is not None:
        require(finite and value <= hi, f"{name} must be at most {shown_number(hi)}, not {shown_number(value)}")


_WRONG = object()


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _typed(value: Any, wanted: Any) -> Any:
    """``value`` as the declared type (a NumPy number as the Python one; an int where a float belongs as a float),
    or _WRONG."""
    if isinstance(wanted, types.UnionType):
        return next((v for t in typing.get_args(wanted) if (v := _typed(value, t)) is not _WRONG), _WRONG)
    if wanted is type(None):
        return None if value is None else _WRONG
    if wanted is bool:
        return bool(value) if _is_bool(value) else _WRONG
    if _is_bool(value):
        return _WRONG  # True is an int to Python, never a count or a size here
    if wanted is int:
        return int(value) if isinstance(value, numbers.Integral) else _WRONG
    if wanted is float:
        if not isinstance(value, numbers.Real):
            return _WRONG
        try:
            return float(value)
        except OverflowError:  # an int past float's range: infinite, as its bounds check then says
            return math.inf if value > 0 else -math.inf
    return value if isinstance(value, wanted) else _WRONG


def _is_bool(value: Any) -> bool:
    """A Python or NumPy bool, told without importing NumPy (this module loads without it)."""
    return isinstance(value, bool) or type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_")


def _described(wanted: Any) -> str:
    names = {int: "a whole number", float: "a number", str: "text", bool: "True or False", type(None): "None"}
    if isinstance(wanted, types.UnionType):
        return " or ".join(_described(t) for t in typing.get_args(wanted))
    return names.get(wanted, f"a {getattr(wanted, '__name__', wanted)}")


def check_types(cfg: Any) -> None:
    """Each field holds its declared type, so a config built in Python with a wrong one (width=16.5, a str for a
    nested config) is one line here, not a foreign error deep in a run; a NumPy number becomes the Python one
    (config.json holds it)."""
    hints = _field_types(type(cfg))
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        fixed = _typed(value, hints[f.name])
        if fixed is _WRONG:
            raise ConfigError(f"{said_name(f)} must be {_described(hints[f.name])}, not {shown_repr(value)}")
        if fixed is not value and not (type(fixed) is type(value) and fixed == value):
            object.__setattr__(cfg, f.name, fixed)  # (frozen: this is its construction)


def check_fields(cfg: Any) -> None:
    """Every declared field of a config against its type and bounds (called by each config's
    ``__post_init__``)."""
    check_types(cfg)
    for f in dataclasses.fields(cfg):
        rule = option_of(f)
        if rule is not None:
            check_field(said_name(f), rule, getattr(cfg, f.name))


def said_name(f: dataclasses.Field | str, cfg: Any = None) -> str:
    """A field (or ``cfg``'s field of that name) as a message names it: its flag on the command line, its
    keyword in Python."""
    if isinstance(f, str):
        f = next(field for field in dataclasses.fields(cfg) if field.name == f)
    rule = option_of(f)
    return flag_of(f) if rule is not None and rule.cli and command_line_running() else f.name


def optional_dataclass(ftype: Any) -> Any:
    """The dataclass of an ``X | None`` hint (a nested config that may be absent), else the hint itself."""
    args = [a for a in typing.get_args(ftype) if a is not type(None)]
    if type(None) in typing.get_args(ftype) and len(args) == 1 and dataclasses.is_dataclass(args[0]):
        return args[0]
    return ftype


def level_only_options(cfg: Any) -> list[str]:
    """The options of a refine or adapt config set away from their defaults that only a level-aware G uses
    (declared ``level_only``): with a blind G they would be ignored without a word."""
    return [flag_of(f) for f in dataclasses.fields(cfg) if (rule := option_of(f)) is not None
            and rule.level_only and getattr(cfg, f.name) != f.default]


def level_only_refusal(level_only: list[str], whose: str) -> str:
    """The line refusing ``level_only_options`` given for a blind G (``whose``: "this refinement's G (unet)")."""
    many = len(level_only) > 1
    return (f"{', '.join(level_only)} {'apply' if many else 'applies'} to a level-aware G only, and {whose} is "
            f"blind: drop {'them' if many else 'it'}")
