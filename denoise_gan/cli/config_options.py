"""Command-line options generated from a config's fields, and the config built back from their values.

A field declares its flag, help and bounds once (``config_fields.opt``); ``config_command`` adds one option per
field to a command, with the field's default, and hands the command the values given. ``build_config`` turns
them into the config, whose ``__post_init__`` checks them as it checks a config from the Python API or a
resumed run. Nested configs (the model's G, F and discriminators, the data) appear flattened, their flags
prefixed as the parent field declares (``--f-width``).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import keyword
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from data_tools import json_text
from denoise_gan.cli.options import lowered
from denoise_gan.config_fields import ConfigError, Nested, flag_of, nested_of, option_of, optional_dataclass
from denoise_gan.errors import UserError, first_line
from denoise_gan.nets.generator_names import denoisers_help

STEPS = "steps"  # None on the command line: a new run's default, or on --resume the run's own total


@dataclass(frozen=True)
class ConfigOption:
    name: str  # the parameter's name: the field's, prefixed as its flag is (f_width)
    paths: tuple[tuple[str, ...], ...]  # the config fields it sets (--channels sets G's, F's and D's)
    flag: str  # as typer takes it: "--spectral-norm/--no-spectral-norm"
    help: str
    kind: Any
    default: Any
    choices: tuple[str, ...] = ()  # a word from a list: read in any case (--precision FP32)


def _leaf_options(cls: type, base: Any, path: tuple[str, ...], how: Nested) -> Iterator[ConfigOption]:
    hints = typing.get_type_hints(cls)
    inherited = {f.name for parent in cls.__mro__[1:] if dataclasses.is_dataclass(parent)
                 for f in dataclasses.fields(parent)}
    for f in sorted(dataclasses.fields(cls), key=lambda f: f.name in inherited):  # a base's (RunFields) last
        inner = nested_of(f)
        value = getattr(base, f.name)
        if inner is not None:
            kind = optional_dataclass(hints[f.name])
            yield from _leaf_options(kind, value if value is not None else kind(), (*path, f.name), inner)
            continue
        rule = option_of(f)
        if rule is None or not rule.cli:
            continue
        if f.name in how.shared:
            yield ConfigOption(f.name, ((*path, f.name),), "", "", None, None)  # joined to the parent's option
            continue
        flag = how.flags.get(f.name) or (rule.flag if rule.flag and not how.prefix else flag_of(f, how.prefix))
        text = how.helps.get(f.name, rule.help).format(net=how.name or "Its", generators=denoisers_help())
        name = flag.split("/")[0].removeprefix("--").replace("-", "_")
        first = text.split(maxsplit=1)[0].strip(",.;:") if text else ""
        as_value = first in (*(rule.choices or ()), str(value))  # "auto, cpu or cuda": starts with a value
        shown_help = text if as_value else text[:1].upper() + text[1:]
        yield ConfigOption(f.name if keyword.iskeyword(name) else name, ((*path, f.name),), flag,
                           shown_help, hints[f.name], value, rule.choices)


def config_options(cls: type, base: Any = None, hidden: bool = False) -> list[ConfigOption]:
    """One option per field the command line may set, defaults from ``base`` (default: ``cls()``); with
    ``hidden``, also the shared fields no parent-level option sets (refine's channels: the command fills it)."""
    merged: dict[str, ConfigOption] = {}
    for o in _leaf_options(cls, base if base is not None else cls(), (), Nested()):
        if o.name in merged:  # a shared field: one more path for the option of that name
            merged[o.name] = dataclasses.replace(merged[o.name], paths=(*merged[o.name].paths, *o.paths))
        else:
            merged[o.name] = o
    return [o for o in merged.values() if hidden or o.flag]


def _parameter(o: ConfigOption) -> inspect.Parameter:
    if o.name == STEPS:
        # adapt's 0 stands for "by --minutes", no value a user may give: not shown as a default
        info = typer.Option(o.flag, help=o.help, show_default=str(o.default) if o.default else False)
        return inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                 annotation=Annotated[int | None, info])
    if o.default == "":  # a folder or spec that is not given: None on the command line, "" in the config
        info = typer.Option(o.flag, help=o.help, show_default=False)
        return inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                 annotation=Annotated[str | None, info])
    return inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=o.default,
                             annotation=Annotated[o.kind, typer.Option(o.flag, help=o.help,
                                                                       callback=lowered if o.choices else None)])


def config_command(cls: type, base: Any = None) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command one option per config field; it receives their values as ``options`` (a dict by name)."""
    generated = config_options(cls, base)

    def wrap(command: Callable[..., None]) -> Callable[..., None]:
        own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "options"]
        taken = {p.name for p in own}
        mine = [o for o in generated if o.name not in taken]

        @functools.wraps(command)
        def run(**values: Any) -> None:
            options = {o.name: values.pop(o.name) for o in mine}
            command(**values, options=options)

        params = own + [_parameter(o) for o in mine]
        run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in params}
        run.config_options = mine  # type: ignore[attr-defined]
        return run

    return wrap


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any, source: Path | None = None) -> None:
    for depth, key in enumerate(path[:-1]):
        if data.get(key) is None:
            data[key] = {}
        data = data[key]
        if not isinstance(data, dict):  # a config file's section that is no JSON object
            raise UserError(f"{source}: {'.'.join(path[:depth + 1])} must be a JSON object, not {data!r:.40}")
    data[path[-1]] = value


def build_config(cls: type, options: Mapping[str, Any], base: Any = None, source: Path | None = None,
                 **fixed: Any) -> Any:
    """The config the options describe (``fixed`` fields set by the command itself win); an option left None
    keeps the base's value. ``base`` may be a config or the dict ``read_config_file`` read from ``source``."""
    from denoise_gan.config_json import from_dict, to_dict

    data = copy.deepcopy(base) if isinstance(base, dict) else to_dict(base if base is not None else cls())
    by_name = {o.name: o for o in config_options(cls, None, hidden=True)}
    for name, value in options.items():
        if value is None:  # not given: the base's value (steps, folders, specs)
            continue
        for path in by_name[name].paths:
            _set(data, path, str(value) if isinstance(value, Path) else value, source)
    data.update(fixed)
    _lower_choices(data, by_name.values())
    try:
        return from_dict(cls, data)
    except ConfigError as exc:
        raise ConfigError(_with_prefixed_flag(cls, data, str(exc)) + _from_file(source)) from None
    except (TypeError, ValueError) as exc:  # a field of the wrong type or name, from a config file
        raise UserError(f"{source or cls.__name__}: {first_line(exc)}") from None


def _lower_choices(data: dict[str, Any], options: Iterable[ConfigOption]) -> None:
    """A word from a list is read in any case in a config file, as on the command line (``"FP32"``)."""
    for o in options:
        for path in o.paths if o.choices else ():
            section = functools.reduce(lambda d, k: d.get(k) if isinstance(d, dict) else None, path[:-1], data)
            if isinstance(section, dict) and isinstance(section.get(path[-1]), str):
                section[path[-1]] = lowered(section[path[-1]])


def _from_file(source: Path | None) -> str:
    return "" if source is None else f" (in --config {source}, or an option given beside it)"


def _with_prefixed_flag(cls: type, data: dict[str, Any], message: str) -> str:
    """A nested config checks itself and names its own flag (F's depth as --depth); on the command line that
    field is the prefixed option (--f-depth), so the message is given the flag the user typed. The nested
    configs are tried in the order the check meets them: the first that fails with this message is the one."""
    from denoise_gan.config_json import from_dict

    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        how = nested_of(f)
        if how is None or not isinstance(data.get(f.name), dict):
            continue
        kind = optional_dataclass(hints[f.name])
        try:
            from_dict(kind, data[f.name])
            continue
        except ConfigError as exc:
            if str(exc) != message:
                continue
        if not how.prefix:
            return _with_prefixed_flag(kind, data[f.name], message)
        for inner in dataclasses.fields(kind):
            own = flag_of(inner)
            if message.startswith(own + " ") and inner.name not in how.shared:
                flag = how.flags.get(inner.name) or flag_of(inner, how.prefix)
                return flag.split("/")[0] + message[len(own):]
        return message
    return message


def read_config_file(cls: type, path: Path) -> dict[str, Any]:
    """``--config run.json``: a config as `config.json` holds it, over the defaults for the fields it leaves
    out; its values are checked once the options given beside it are set (``build_config``), so a bad value
    that one of them replaces is no error."""
    from denoise_gan.config_json import to_dict

    try:
        given = json_text.loads(path.read_text(encoding="utf-8-sig"))  # as an editor on Windows saves it too
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable JSON config ({first_line(exc, 120)})") from None
    if not isinstance(given, dict):
        raise UserError(f"{path}: a config is a JSON object, not {type(given).__name__}")
    if _depth(given) > MAX_CONFIG_DEPTH:  # copying it would pass Python's recursion limit: a traceback
        raise UserError(f"{path}: nested {MAX_CONFIG_DEPTH}+ levels deep; a config's sections are at most 3 deep")
    return _merge(to_dict(cls()), given, path)


MAX_CONFIG_DEPTH = 16  # a run's config.json is 3 deep (model.g.width)


def _depth(value: Any) -> int:
    """How deeply dicts and lists nest in ``value``, looked at no further than MAX_CONFIG_DEPTH + 1 levels."""
    level, layer = 0, [value]
    while layer and level <= MAX_CONFIG_DEPTH:
        layer = [v for item in layer for v in (item.values() if isinstance(item, dict) else
                                                item if isinstance(item, list) else ())]
        level += 1
    return level if layer else level - 1


def _merge(defaults: dict[str, Any], given: dict[str, Any], source: Path, where: str = "") -> dict[str, Any]:
    out = dict(defaults)
    for key, value in given.items():
        if value is None and isinstance(defaults.get(key), dict):  # a section's null: built from the wrong defaults
            raise UserError(f"{source}: {where}{key} is null where a section belongs; leave it out for its "
                            "defaults, or give its fields")
        out[key] = _merge(defaults[key], value, source, f"{where}{key}.") if isinstance(value, dict) and isinstance(
            defaults.get(key), dict) else value
    return out
