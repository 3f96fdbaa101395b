"""The benchmark run: every method on every (image, noise) input, scored by the protocol, saved as rows come
(every few seconds, and when the run stops), then the CSV and the HTML report.

Scores are ``metrics.psnr``/``metrics.ssim`` on the method's output rounded to the dtype, exactly as
``evaluate`` scores files. A broken input or a method that fails on one image is recorded in ``failures``
and the rest still run.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

import numpy as np

from data_tools.atomic_files import atomic_write_text
from data_tools.errors import DenoiseGanError
from data_tools.folder_lock import holding_folder, reading_folder, refuse_held
from data_tools.images import ImageReadError
from data_tools.output_folders import prepare_output_dir
from data_tools.synth_folder import reading_set_half
from data_tools.temp_files import is_temp_file, remove_stale_parts
from denoise_gan.errors import UserError
from denoise_gan.evaluation import report, report_crops
from denoise_gan.evaluation.benchmark.inputs import (
    BenchmarkConfig,
    Pair,
    Plan,
    Source,
    _CleanCache,
    inference_key,
    load_pair,
    oracle_sigma,
    pixels_fingerprint,
    plan,
)
from denoise_gan.evaluation.benchmark.methods import CLASSICAL, LoadedModel, Method, load_models
from denoise_gan.evaluation.benchmark.results import (
    RESULTS_CSV,
    RESULTS_JSON,
    BenchmarkResult,
    _header,
    _previous_rows,
    _summary,
    csv_text,
    row_fingerprint,
)
from denoise_gan.evaluation.metrics import json_float, psnr, ssim
from denoise_gan.evaluation.noise_sigma import estimate_noise_sigma
from denoise_gan.progress_bar import ProgressFn

SAVE_GAP_S = 2.0  # results.json is rewritten at most this often, or every ten saves' time where it is large


class _Run:
    """The state of one benchmark run: rows by key (reused ones included), saved as rows come."""

    def __init__(self, cfg: BenchmarkConfig, the_plan: Plan, methods: list[Method], out_dir: Path,
                 data: dict[str, Any], previous: dict[tuple[str, str, str], dict[str, Any]],
                 progress: ProgressFn | None) -> None:
        self.cfg, self.plan, self.methods, self.out_dir = cfg, the_plan, methods, out_dir
        self.result = BenchmarkResult(out_dir, data)
        self.progress = progress
        keys = [(s.image, s.noise, m.name) for s in the_plan.sources for m in methods]
        self.order = {key: i for i, key in enumerate(keys)}
        self.rows = {k: r for k, r in previous.items() if k in self.order}
        # rows this run does not ask for (other images, noises or methods) cost minutes each: kept in
        # results.json under other_rows, for a later --resume that asks for them again, and not reported
        self.other_rows = [r for k, r in previous.items() if k not in self.order]
        if self.other_rows:
            self.result.notes.append(f"{len(self.other_rows)} stored row(s) outside this run (other images, noises "
                                     "or methods) are kept in results.json (other_rows) but not reported")
        self.inference = inference_key(cfg.infer, cfg.engine, cfg.threads)
        self.torch_timing = f"threads={cfg.threads}"  # a classical method in torch (FFDNet) runs on those threads
        self.total, self.done, self.stale = len(keys), 0, 0
        self.warmed: set[str] = set()
        self.shown: Counter[str] = Counter()  # per noise, the images with rows so far: the report's crops are theirs
        self.checked: set[tuple[str, str, str]] = set()  # rows this run reused or made: a stored row not yet
        # checked against this run's inputs and settings is not reported (an interrupt would mix two runs)
        self.saved_at: float | None = None
        self.save_seconds = 0.0

    @property
    def data(self) -> dict[str, Any]:
        return self.result.data

    def save(self) -> None:
        """results.json as far as this run got; the CSV and the report of the run before are removed at the first
        save, and written anew at the end, so the three never describe two runs."""
        started = time.monotonic()
        checked = [r for k, r in self.rows.items() if k in self.checked]
        self.data["rows"] = sorted(checked, key=lambda r: self.order[(r["image"], r["noise"], r["method"])])
        self.data["summary"] = _summary(self.data["rows"], self.plan.conditions, [m.name for m in self.methods])
        self.data["other_rows"] = self.other_rows + [r for k, r in self.rows.items() if k not in self.checked]
        text = json.dumps(self.data, indent=2, allow_nan=False) + "\n"
        atomic_write_text(self.out_dir / RESULTS_JSON, text)
        for stale in (RESULTS_CSV, report.REPORT_HTML):
            (self.out_dir / stale).unlink(missing_ok=True)
        self.save_seconds = time.monotonic() - started
        self.saved_at = time.monotonic()

    def save_now_and_then(self) -> None:
        """``save`` after a row, unless the last was moments ago: each save rewrites every row, so saving after
        each made a run of thousands of images quadratic (a 1,000-image run spent most of its time there). A
        kill loses at most those moments' rows, which ``--resume`` computes again; a Ctrl-C loses none."""
        if self.saved_at is None or time.monotonic() - self.saved_at >= max(SAVE_GAP_S, self.save_seconds * 10):
            self.save()

    def step(self, count: int, what: str) -> None:
        self.done += count
        if self.progress:
            self.progress(self.done, self.total, what)

    def run_source(self, source: Source, cache: _CleanCache) -> None:
        label = f"{source.image} [{source.noise}]"
        try:
            pair = load_pair(source, self.cfg.seed, cache)
        except (ImageReadError, ValueError, OSError) as exc:
            self.fail_source(source, exc, label)
            return
        input_sha = pixels_fingerprint(pair.noisy)
        try:
            estimate = estimate_noise_sigma(pair.noisy, flat_as_zero=True)
            sigma = oracle_sigma(pair.stages or (), pair.clean, pair.noisy) if self.cfg.oracle_sigma else estimate
        except ValueError as exc:  # too small to score, or a set's recorded σ unreadable: fails alone
            self.fail_source(source, exc, label)
            return
        self.data["inputs"].append({"image": source.image, "noise": source.noise, "image_seed": pair.image_seed,
                                    "stages": pair.stages, "sigma_estimate": estimate, "sigma_used": sigma,
                                    "shape": list(pair.noisy.shape), "dtype": str(pair.noisy.dtype),
                                    "noisy_sha256": input_sha})
        # both images: a paired set's clean file is read, not the source of its noisy one, and a spec may draw the
        # same noisy image from another clean photo (salt-pepper:amount=1): edited, either's rows are stale
        pair_sha = f"{input_sha}+{pixels_fingerprint(pair.clean)}"
        # crops only of the images the report shows: written for all, they took half a 300-image run (two fsyncs
        # each) and hundreds of megabytes for a thousand, never shown
        shown = self.shown[source.noise] < report_crops.MAX_CROP_IMAGES
        window = report_crops.crop_window(pair.clean) if shown else None
        fingerprints = {m.name: self.fingerprint(m, pair_sha, sigma) for m in self.methods}
        reusable = {m.name: self.reusable(source, m.name, fingerprints[m.name], window) for m in self.methods}
        if window is not None and not (all(reusable.values())
                                       and report_crops.has_crop(self.out_dir, source.noise, source.image, "clean")):
            report_crops.save_crop(self.out_dir, source.noise, source.image, "clean", pair.clean, window)
        for method in self.methods:
            key = (source.image, source.noise, method.name)
            used = sigma if method.uses_sigma else None
            fingerprint, old = fingerprints[method.name], self.rows.get(key)
            if reusable[method.name]:
                self.checked.add(key)
                self.result.reused += 1
                self.step(1, label)
                continue
            if self.progress:
                self.progress(self.done, self.total, f"{method.name}: {label}")
            self.warm_up(method, pair.noisy)
            row = _run_row(method, pair, used, fingerprint, source, self.out_dir, window, self.data)
            # a stale row is replaced only now: a run stopped while its new one was made keeps it in other_rows
            self.checked.add(key)
            if old is not None:
                self.stale += 1
            self.rows.pop(key, None)
            if row is not None:
                self.rows[key] = row
                self.result.computed += 1
            self.save_now_and_then()
            self.step(1, label)
        if any((source.image, source.noise, m.name) in self.rows for m in self.methods):  # the report shows it
            self.shown[source.noise] += 1

    def fingerprint(self, method: Method, pair_sha: str, sigma: float) -> str:
        """What a row's result depends on: its input pair, the σ it is given, and for a model its inference."""
        return row_fingerprint(pair_sha, method, sigma if method.uses_sigma else None,
                               self.inference if method.name not in CLASSICAL
                               else self.torch_timing if "torch" in method.needs else "")

    def reusable(self, source: Source, method: str, fingerprint: str, window: tuple[int, ...] | None) -> bool:
        """Whether a stored row stands: made from the same inputs and settings, with its crop where one is shown."""
        old = self.rows.get((source.image, source.noise, method))
        return (old is not None and old.get("fingerprint") == fingerprint
                and (window is None or report_crops.has_crop(self.out_dir, source.noise, source.image, method)))

    def fail_source(self, source: Source, exc: BaseException, label: str) -> None:
        """An input that cannot be used: one failure for all its rows, the rest of the run goes on."""
        self.data["failures"].append({"image": source.image, "noise": source.noise, "method": None,
                                      "reason": _one_line(exc)})
        for m in self.methods:
            self.rows.pop((source.image, source.noise, m.name), None)
        self.save_now_and_then()
        self.step(len(self.methods), label)

    def warm_up(self, method: Method, noisy: np.ndarray) -> None:
        """One untimed call on a small corner of the first input of each kind (channels, dtype: gray and colour
        take different code paths), so one-off set-up (imports, thread pools, caches) is not charged to the
        first image's time. Models are warmed up when loaded."""
        kind = f"{method.name}|{noisy.shape[2:]}|{noisy.dtype.str}"
        if kind in self.warmed or method.baseline or not method.uses_sigma:
            return
        self.warmed.add(kind)
        try:
            method.run(np.ascontiguousarray(noisy[:32, :32]), 10.0)
        except Exception:  # noqa: BLE001 - a real failure shows up, with its reason, in the timed call
            pass


def run_benchmark(cfg: BenchmarkConfig, out_dir: Path | str, progress: ProgressFn | None = None) -> BenchmarkResult:
    """Run every method on every (image, noise) input and write results.json/.csv and report.html.

    Bad arguments raise before any work; a broken input or a method that fails on one image is recorded in
    ``failures`` and the rest still run. Results are saved as rows come (``save_now_and_then``).
    """
    with ExitStack() as reading:  # the sets are read whole: `synth --overwrite` into one meanwhile is refused
        for set_dir in cfg.noisy_sets:
            reading.enter_context(reading_folder(set_dir))
        if cfg.clean_dir is not None:  # and a set whose clean/ is --clean
            reading.enter_context(reading_set_half(cfg.clean_dir))
        return _benchmark(cfg, Path(out_dir), progress)


def _benchmark(cfg: BenchmarkConfig, out_dir: Path, progress: ProgressFn | None) -> BenchmarkResult:
    the_plan = plan(cfg, out_dir)
    if cfg.resume and not out_dir.exists():  # a mistyped -o would start over in a new folder without a word
        raise UserError(f"{out_dir}: no such folder, so no benchmark to --resume; drop --resume to start one")
    refuse_held(out_dir, "benchmark")  # first: not "pass --resume", which the lock would then refuse
    _previous_rows(out_dir / RESULTS_JSON, cfg)  # a bad --resume is refused before the models load
    models = (load_models(cfg.checkpoints, cfg.infer, cfg.model_strengths, cfg.model_sigma, cfg.engine, cfg.threads)
              if "model" in the_plan.methods else [])
    # every argument is good: only now is the folder made (new or empty, or the benchmark being resumed)
    resumable = (out_dir / RESULTS_JSON).is_file()
    prepare_output_dir(out_dir, own=cfg.resume and resumable or stopped_before_first_row(out_dir),
                       hint="--resume to continue the benchmark whose results.json it holds" if resumable else
                       f"empty it (it holds no {RESULTS_JSON}: no benchmark to --resume)" if cfg.resume else
                       "empty it", written=(report_crops.CROPS_DIR, report.PLOTS_DIR))
    remove_stale_parts(out_dir / report_crops.CROPS_DIR, recursive=True)  # a killed run's, in each image's crop folder
    remove_stale_parts(out_dir / report.PLOTS_DIR)  # and beside its plots
    with holding_folder(out_dir, "benchmark"):  # a second run into it (two --resume) would lose rows
        # read again under the lock: a run that held it until now may have stored rows since the check above
        return _run_rows(cfg, the_plan, models, out_dir, _previous_rows(out_dir / RESULTS_JSON, cfg), progress)


def _run_rows(cfg: BenchmarkConfig, the_plan: Plan, models: list[LoadedModel], out_dir: Path,
              previous: dict[tuple[str, str, str], dict[str, Any]], progress: ProgressFn | None) -> BenchmarkResult:
    methods: list[Method] = []
    for name in the_plan.methods:
        methods += [m.method for m in models] if name == "model" else [CLASSICAL[name]]
    run = _Run(cfg, the_plan, methods, out_dir, _header(cfg, the_plan, methods, models), previous, progress)
    cache = _CleanCache()
    try:
        for source in the_plan.sources:
            run.run_source(source, cache)
    except BaseException:  # a Ctrl-C, a failure: the rows made since the last save are kept for --resume
        with suppress(Exception):  # (the save itself may be what failed: the first error is the one said)
            run.save()
        raise
    run.result.notes += the_plan.notes
    if run.stale:
        run.result.notes.append(f"{run.stale} stored row(s) came from other inputs or settings (or an older "
                                "version of this tool) and were recomputed")
    run.result.notes += [_model_note(m.method.name, note) for m in models if m.denoiser for note in m.denoiser.notes]
    given = [flag for flag, on in (("--model-strength", cfg.model_strengths), ("--model-sigma", cfg.model_sigma)) if on]
    if given:  # a blind model has no level to scale or give: said, not skipped in silence
        run.result.notes += [f"{m.method.name}: a blind model (no level input), so {' and '.join(given)} "
                             f"{'do' if len(given) > 1 else 'does'} not apply to it; its one row is blind"
                             for m in models if m.denoiser and not m.denoiser.backend.level_aware]
    run.save()
    atomic_write_text(out_dir / RESULTS_CSV, csv_text(run.data))
    report.write_report(out_dir, run.data)
    return run.result


def _model_note(method: str, note: str) -> str:
    """A model's note under its method name, unless it already begins with the model's folder or file (a run
    folder's note names the folder: "ri: ri: its adaptation stopped partway")."""
    head = Path(note.split(": ", 1)[0])
    return note if method in (head.name, head.stem) else f"{method}: {note}"


def stopped_before_first_row(out_dir: Path) -> bool:
    """Whether ``out_dir`` holds only the crops a benchmark writes before its first row is saved (Ctrl-C there):
    nothing to resume, and nothing a new run or --resume may not write again."""
    try:
        return {p.name for p in out_dir.iterdir() if not is_temp_file(p.name)} == {report_crops.CROPS_DIR}
    except OSError:
        return False


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _run_row(method: Method, pair: Pair, sigma: float | None, fingerprint: str, source: Source, out_dir: Path,
             window: tuple[int, int, int, int] | None, data: dict[str, Any]) -> dict[str, Any] | None:
    """Run, time and score one method on one input (its crop saved where ``window`` is given, an image the
    report shows); a failure is recorded in ``data`` and gives None."""
    megapixels = pair.noisy.shape[0] * pair.noisy.shape[1] / 1e6
    try:
        start = time.perf_counter()
        out = method.run(pair.noisy, 0.0 if sigma is None else sigma)
        seconds = 0.0 if method.baseline else time.perf_counter() - start
        if not isinstance(out, np.ndarray) or out.shape != pair.noisy.shape or out.dtype != pair.noisy.dtype:
            got = f"{out.shape} {out.dtype}" if isinstance(out, np.ndarray) else type(out).__name__
            raise ValueError(f"returned {got}, expected {pair.noisy.shape} {pair.noisy.dtype}")
        value_psnr, value_ssim = psnr(pair.clean, out), ssim(pair.clean, out)
    except Exception as exc:  # one method failing on one image must not stop the benchmark
        data["failures"].append({"image": source.image, "noise": source.noise, "method": method.name,
                                 "reason": _one_line(exc) if isinstance(exc, DenoiseGanError)
                                 else f"{type(exc).__name__}: {_one_line(exc)}"})
        return None
    if window is not None:
        report_crops.save_crop(out_dir, source.noise, source.image, method.name, out, window)
    return {"image": source.image, "noise": source.noise, "method": method.name,
            "psnr": json_float(value_psnr), "ssim": value_ssim, "seconds": seconds, "megapixels": megapixels,
            "mp_per_s": json_float(megapixels / seconds) if seconds > 0 else None, "sigma_used": sigma,
            "fingerprint": fingerprint}
