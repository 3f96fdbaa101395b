"""A config as JSON and back: configs come back from checkpoints, weight files and graphs, which are untrusted, so
reading one refuses anything its dataclass does not declare."""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any, TypeVar

from data_tools import json_text
from denoise_gan.config_fields import optional_dataclass

T = TypeVar("T")


def json_object(text: object) -> dict[str, Any]:
    """A JSON object from a stored string (weight-file and graph metadata): anything else, or nesting too deep
    for the parser, is a ValueError or TypeError the caller turns into its one-line error."""
    if not isinstance(text, str):
        raise TypeError(f"expected a JSON string, got {type(text).__name__}")
    value = json_text.loads(text)
    if not isinstance(value, dict):
        raise TypeError(f"expected a JSON object, got {type(value).__name__}")
    return value


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def from_dict(cls: type[T], data: dict, where: str = "") -> T:
    """Rebuild a (nested) frozen config; unknown keys are an error so a typo never passes silently, and so is a
    value of the wrong type, which the config's own check refuses (configs come back from checkpoints and weight
    files, which are untrusted). ``where``: the section's path in the file (``model.``), for the messages."""
    section = where.rstrip(".")
    if not isinstance(data, dict):
        raise ValueError(f"{section or cls.__name__} must be a mapping, not {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s){f' in {section}' if section else ''}: "
                         f"{', '.join(sorted(map(str, unknown)))}" + _nested_hint(hints, unknown, where))
    kwargs = {}
    for key, value in data.items():
        ftype = optional_dataclass(hints[key]) if value is not None else hints[key]
        kwargs[key] = from_dict(ftype, value, f"{where}{key}.") if dataclasses.is_dataclass(ftype) else value
    return cls(**kwargs)  # each config checks its fields' types and ranges itself (config_fields), in its flags' words


def _nested_hint(hints: dict[str, Any], unknown: set, where: str = "") -> str:
    """Where a field given in the wrong section lives (``batch_size`` is ``data.batch_size``, ``width`` in
    ``model`` is ``model.g.width``, as a run's config.json holds it)."""
    homes = [f"{key} is {where}{name}.{key}" for key in sorted(map(str, unknown)) for name, hint in hints.items()
             if dataclasses.is_dataclass(section := optional_dataclass(hint))
             and key in {f.name for f in dataclasses.fields(section)}]
    return f" ({'; '.join(homes)}, as a run's config.json holds it)" if homes else ""


def to_json(cfg: Any) -> str:
    return json.dumps(to_dict(cfg), indent=2, sort_keys=True)
