"""What a noise fit makes of the models it compares: the candidates under test, the rows of its table and
the report."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from data_tools.noise import parse_noise_spec
from data_tools.noise_source import NoiseSource
from data_tools.paths import real_path


@dataclass(frozen=True)
class Candidate:
    """A noise model under test: its row label, kind (model, spec, baseline) and the source that draws it."""

    label: str
    kind: str
    source: NoiseSource


@dataclass
class FitRow:
    """One row of the table: its figures (``values``, what the JSON holds) and what the picture draws: the
    histograms per brightness band (``hist``) and a crop (a residual, or in blind mode a noisy crop)."""

    label: str
    kind: str  # reference, model, spec, baseline (paired); reference, clean, model, spec (blind)
    values: dict[str, Any]
    hist: np.ndarray
    crop: np.ndarray


@dataclass
class NoiseFitReport:
    """The table (rows), the settings that reproduce it, and what the picture draws."""

    mode: str  # paired or blind
    rows: list[FitRow]
    settings: dict[str, Any]
    how: str
    picture: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "settings": self.settings, "how": self.how,
                "rows": [{"label": r.label, "kind": r.kind, **_jsonable(r.values)} for r in self.rows]}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def load_candidates(models: Sequence[str] = (), specs: Sequence[str] = (), device: str = "cpu") -> list[Candidate]:
    """Learned models (weight files, folders, shipped names) and parametric specs, as rows to compare; one given
    twice (the same name, or specs written differently that mean the same) is one row, as in `benchmark`."""
    out: list[Candidate] = []
    if models:
        from denoise_gan.inference.noise_model import NoiseModel

        loaded = {}  # by file: `--model default --model default-F` name one file
        for m in dict.fromkeys(models):
            model = NoiseModel.from_pretrained(m, device=device)
            loaded.setdefault((real_path(model.weights) if model.weights else m, model.sha256), (m, model))
        out += [Candidate(f"model {m}", "model", model) for m, model in loaded.values()]
    parsed = {str(spec): spec for spec in map(parse_noise_spec, specs)}
    out += [Candidate(f"spec {label}", "spec", spec) for label, spec in parsed.items()]
    return out


def recorded(source: NoiseSource) -> dict[str, Any]:
    """What a report's settings record of a candidate's source (as a synth manifest records it)."""
    from data_tools.noise_source import source_record

    return source_record(source)
