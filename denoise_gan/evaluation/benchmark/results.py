"""The benchmark's results: results.json (saved as rows come, so a run resumes), results.csv, the
protocol they were measured by, and the per-(noise, method) summary.

Rows are keyed by (image, noise, method) with a fingerprint of the input pixels and the method's settings,
so ``resume`` redoes only what is missing or stale. PSNR of identical images is infinite and written as null.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import skimage

from data_tools import json_text
from data_tools.paths import real_path
from data_tools.versions import tool_version
from denoise_gan.errors import UserError
from denoise_gan.evaluation import report
from denoise_gan.evaluation.benchmark.inputs import BenchmarkConfig, Plan, infer_record
from denoise_gan.evaluation.benchmark.methods import ENSEMBLE_MARK, STRENGTH_MARK, LoadedModel, Method
from denoise_gan.evaluation.metrics import PROTOCOL, csv_image_name, json_float

FORMAT = "denoise-gan-benchmark/1"
RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"
REPORT_HTML = report.REPORT_HTML


def row_fingerprint(input_sha: str, method: Method, sigma: float | None, inference: str = "") -> str:
    """What a row's result depends on: the input pixels (a paired set's clean ones too, which are read rather
    than the source of the noisy ones), the method and its settings, σ if it uses one, and
    for a model the inference settings that change its output (tile, overlap, precision, level) or its time
    (threads, tile batch, device), and for a method in torch the threads."""
    text = f"{input_sha}|{method.identity}|{'' if sigma is None else repr(round(sigma, 6))}|{inference}"
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]


@dataclass
class BenchmarkResult:
    """Everything results.json holds, plus where the files went; ``failed`` decides the exit code."""

    out_dir: Path
    data: dict[str, Any]
    reused: int = 0
    computed: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.data["rows"]

    @property
    def failures(self) -> list[dict[str, Any]]:
        return self.data["failures"]

    @property
    def failed(self) -> int:
        return len(self.failures)


def _previous_rows(path: Path, cfg: BenchmarkConfig) -> dict[tuple[str, str, str], dict[str, Any]]:
    if not path.exists():
        return {}
    if not cfg.resume:
        raise UserError(f"{path} already exists; pass --resume to continue that benchmark, or choose another -o")
    try:
        data = json_text.loads(path.read_text())
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {FORMAT!r}")
        # rows of conditions an earlier run asked for and a later one did not are kept, not reported
        rows = list(data["rows"]) + list(data.get("other_rows", []))
        stored = data.get("config") if isinstance(data.get("config"), dict) else {}
        rows = _ensemble_rows_named(rows, data, stored)
        previous = {(r["image"], r["noise"], r["method"]): r for r in rows if _well_formed(r)}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        why = f"no {exc} entry" if isinstance(exc, KeyError) else str(exc)  # a KeyError says only 'rows'
        raise UserError(f"{path}: cannot resume from it ({why}); move it away or choose another -o") from None
    _refuse_other_inputs(stored, cfg, path.parent)
    return previous


def _ensemble_rows_named(rows: list[Any], data: dict[str, Any], stored: dict[str, Any]) -> list[Any]:
    """Rows an x8 self-ensemble made before its rows were named ``NAME@x8`` (``ENSEMBLE_MARK``), named as now, so
    a resume reuses them instead of computing every model row again as another method's."""
    infer = stored.get("infer") if isinstance(stored.get("infer"), dict) else {}
    models = {m.get("method") for m in data.get("models", []) if isinstance(m, dict)}
    if infer.get("ensemble") is not True or not models:
        return rows

    def now(method: str) -> str:
        if method not in models or ENSEMBLE_MARK in method:
            return method
        for mark in (STRENGTH_MARK, "@sigma"):
            if mark in method:
                name, _, rest = method.rpartition(mark)
                return f"{name}{ENSEMBLE_MARK}{mark}{rest}"
        return f"{method}{ENSEMBLE_MARK}"

    return [{**r, "method": now(r["method"])} if isinstance(r, dict) and isinstance(r.get("method"), str) else r
            for r in rows]


def _refuse_other_inputs(stored: dict[str, Any], cfg: BenchmarkConfig, out_dir: Path) -> None:
    """A --resume continues the benchmark it finds: other photos or another seed would replace its rows, which
    only a new -o may do."""
    def moved_or_same(was: Any, now: Path | None) -> bool:
        """The stored folder is the one given, or gone (moved: its rows are checked image by image)."""
        return was is None and now is None or isinstance(was, str) and (
            not Path(was).exists() or now is not None and real_path(was) == real_path(now))

    given = []
    if not moved_or_same(stored.get("clean_dir"), cfg.clean_dir):
        given.append(("--clean", stored.get("clean_dir"), cfg.clean_dir))
    was_sets = stored.get("noisy_sets") if isinstance(stored.get("noisy_sets"), list) else []
    now_sets = sorted(cfg.noisy_sets, key=lambda p: str(real_path(p)))  # (in any order: rows are known by name)
    was_sorted = sorted(was_sets, key=lambda p: str(real_path(p)) if isinstance(p, str) else "")
    if len(was_sets) != len(now_sets) or not all(moved_or_same(w, n) for w, n in zip(was_sorted, now_sets)):
        given.append(("--noisy", ", ".join(map(str, was_sets)) or None, ", ".join(map(str, cfg.noisy_sets)) or None))
    if cfg.clean_dir is not None and stored.get("seed") not in (None, cfg.seed):
        stored_seed = stored.get("seed")  # a hand-edited "0" is no seed 0: shown quoted, not as the same number
        given.append(("--seed", stored_seed if isinstance(stored_seed, int) else repr(stored_seed), cfg.seed))
    if given:
        said = "; ".join(f"{flag} {'(none)' if now is None else now} where it has {'(none)' if was is None else was}"
                         for flag, was, now in given)
        raise UserError(f"{out_dir}: --resume continues the benchmark stored there, and this run's {said}: its rows "
                        "would be replaced; give the same, or choose another -o")


def _is_number(value: Any, nullable: bool = False) -> bool:
    if value is None:
        return nullable
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _well_formed(row: Any) -> bool:
    """A stored row fit to reuse: the fields the summary and report read, of their types (a row edited by hand
    into a string or NaN is computed again, not a traceback when the run saves)."""
    if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in ("image", "noise", "method")):
        return False
    if not {"psnr", "mp_per_s", "sigma_used"} <= row.keys():  # null is a stored value; a missing key is none
        return False
    return (_is_number(row.get("psnr"), nullable=True) and _is_number(row.get("ssim"))
            and _is_number(row.get("seconds")) and _is_number(row.get("megapixels"))
            and _is_number(row.get("mp_per_s"), nullable=True) and _is_number(row.get("sigma_used"), nullable=True)
            and isinstance(row.get("fingerprint"), str))


def protocol_dict(oracle: bool) -> dict[str, Any]:
    """The metrics protocol plus what this benchmark adds: how inputs, σ and timings were made."""
    return {
        **PROTOCOL,
        "skimage_version": skimage.__version__,
        "pairing": "each noisy input is made from, or paired by a synth manifest with, the clean image of the "
                   "same name, or in a folder of the user's own pairs (clean/, noisy/) matched to it by relative "
                   "name; every method is scored against that clean image",
        "noise": "synthesised per image with data_tools.noise from the clean file, per-image seed "
                 "image_seed(seed, image) as `denoise-gan synth --seed` uses (so synth writes the identical "
                 "noisy file), clipped and rounded to the file's dtype; or read from a paired synth set, or "
                 "from the user's own pairs (noise pairs:FOLDER, its σ unknown); "
                 "inputs[].noisy_sha256 is the sha256 of the noisy pixels (dtype, shape, then the bytes of the "
                 "HxWxC array), not of a file: the same input has it however it was stored",
        "sigma": ("oracle: the σ of the image's lone Gaussian or correlated noise stage (its parameter, as drawn), "
                  "or for any other noise (camera, Poisson, Gaussian then JPEG, a learned or custom noise source, ...) "
                  "the std of the residual noisy - clean" if oracle else
                  "blind: skimage.restoration.estimate_sigma(noisy in [0, 1], channel_axis=-1, "
                  "average_sigmas=True) x 255, colour channels only")
                 + "; on the 0-255 scale for any bit depth; the classical methods that take a σ use it, and a "
                   "model's @sigma row with --model-sigma",
        "timing": "wall-clock seconds of one method call on one image (conversions included); the model's "
                  "includes tiling, transfer and forward passes, while loading it and one warm-up pass are "
                  "reported once per model as load_seconds; each classical method is first called once, untimed, "
                  "on a 32x32 corner per image kind (channels, dtype), so one-off set-up is not charged to the "
                  "first image; the noisy baseline is not timed (0 s); mp_per_s = megapixels / seconds",
    }


def _summary(rows: list[dict[str, Any]], conditions: Sequence[str], methods: Sequence[str]) -> list[dict[str, Any]]:
    """Mean PSNR/SSIM/seconds per (noise, method) over the images that method finished."""
    out = []
    for noise in conditions:
        for method in methods:
            mine = [r for r in rows if r["noise"] == noise and r["method"] == method]
            if not mine:
                continue
            psnrs = [math.inf if r["psnr"] is None else r["psnr"] for r in mine]
            finite = [p for p in psnrs if math.isfinite(p)]
            seconds = sum(r["seconds"] for r in mine)
            mp = sum(r["megapixels"] for r in mine)
            out.append({"noise": noise, "method": method, "images": len(mine),
                        "psnr": json_float(float(np.mean(psnrs))),
                        "identical_pairs": len(psnrs) - len(finite),  # as `evaluate`: the PSNR mean over the
                        "psnr_finite": float(np.mean(finite)) if finite else None,  # others, SSIM over all
                        "ssim": float(np.mean([r["ssim"] for r in mine])),
                        "seconds": seconds / len(mine),
                        "mp_per_s": json_float(mp / seconds) if seconds > 0 else None})
    return out


def _header(cfg: BenchmarkConfig, the_plan: Plan, methods: Sequence[Method],
            models: Sequence[LoadedModel]) -> dict[str, Any]:
    """Everything results.json holds except the per-input parts, which the run fills in."""
    return {
        "format": FORMAT,
        "tool": "denoise-gan",
        "version": tool_version(),
        "protocol": protocol_dict(cfg.oracle_sigma),
        "config": {
            # absolute (links kept), so a --resume from another folder compares the folder, not its spelling
            "clean_dir": None if cfg.clean_dir is None else os.path.abspath(cfg.clean_dir),
            "noisy_sets": [os.path.abspath(p) for p in cfg.noisy_sets],
            "noises": list(the_plan.conditions),
            "methods": [m.name for m in methods],
            "seed": cfg.seed if cfg.clean_dir is not None else None,  # a --noisy set's files carry their own
            "oracle_sigma": cfg.oracle_sigma,
            "infer": {**infer_record(cfg.infer), "engine": cfg.engine, "threads": cfg.threads},
        },
        "methods": [{"name": m.name, "rule": m.rule, "uses_sigma": m.uses_sigma} for m in methods],
        "models": [{"method": m.method.name, "checkpoint": m.checkpoint, "sha256": m.sha256,
                    "load_seconds": m.load_seconds, "config": m.config} for m in models],
        "inputs": [],
        "rows": [],
        "failures": [],
        "summary": [],
    }


def csv_text(data: dict[str, Any]) -> str:
    """The rows as CSV, one per (image, noise, method); identical images score psnr ``inf``, and names are written
    as in `evaluate`'s CSV, so one reader takes both files; a model's name (its file's) is guarded the same way
    against a spreadsheet reading it as a formula."""
    buf = io.StringIO()
    writer = csv.writer(buf)  # RFC 4180's \r\n line ends: with \n alone, a name holding \r went unquoted
    fields = ["image", "noise", "method", "psnr", "ssim", "seconds", "mp_per_s", "sigma_used"]
    writer.writerow(fields)
    for r in data["rows"]:
        writer.writerow([csv_image_name(r["image"]), r["noise"], csv_image_name(r["method"]),
                         f"{math.inf if r['psnr'] is None else r['psnr']:.6f}", f"{r['ssim']:.6f}",
                         f"{r['seconds']:.6f}", "" if r["mp_per_s"] is None else f"{r['mp_per_s']:.6f}",
                         "" if r["sigma_used"] is None else f"{r['sigma_used']:.6f}"])
    return buf.getvalue()
