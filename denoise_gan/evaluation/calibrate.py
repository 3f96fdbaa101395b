"""Calibrate a level-aware model's estimator: fit the factor on its blind level map that denoises best.

A trained estimator can read its noise family a few per cent low or high (a last fine-tuning stage on wide
crops moved one rebuild's readings about 10 % low), and PSNR pays for a level read low more than for one read
a little high. ``strength`` corrects that per call; calibration fits one factor on clean photos under
synthetic noise, by the benchmark's own protocol, and stores it in a copy of the weight file
(``level_scale`` in its metadata), so every engine and the exported graph apply it. Fit on photos you will
not evaluate on: a factor chosen on the evaluation photos flatters them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_tools.file_digest import file_sha256
from data_tools.folder_lock import holding_folder, refuse_held
from data_tools.names import warn
from data_tools.output_folders import prepare_output_dir, refuse_output_inside_inputs
from data_tools.paths import real_path
from denoise_gan.errors import UserError
from denoise_gan.evaluation.benchmark import BenchmarkConfig, run_benchmark
from denoise_gan.evaluation.benchmark.inputs import Plan, plan
from denoise_gan.evaluation.benchmark.methods import row_strength, strength_row
from denoise_gan.evaluation.noise_sigma import too_small_to_benchmark
from denoise_gan.evaluation.report import write_report
from denoise_gan.extras import installed
from denoise_gan.nets.contract import denoiser_contract
from denoise_gan.nets.export import write_graph_beside
from denoise_gan.nets.run_folder import RunFolder, graph_beside
from denoise_gan.nets.run_state import unfinished_note
from denoise_gan.nets.shipped import resolve_weights, shadowed_note
from denoise_gan.nets.weights import CALIBRATION_KEY, LEVEL_SCALE_BOUNDS, load_denoiser, save_generator
from denoise_gan.progress_bar import ProgressFn

# the README's synthetic conditions, weak to strong, and the camera pipeline: one factor must serve them all
DEFAULT_NOISES = ("gaussian:sigma=5", "gaussian:sigma=15", "gaussian:sigma=25", "gaussian:sigma=50",
                  "poisson:peak=30", "camera:peak=40,read=2+jpeg:quality=90")
DEFAULT_SCALES = tuple(round(0.8 + 0.05 * i, 2) for i in range(11))  # 0.8 ... 1.3
FIT_DIR = "fit"  # the benchmark of every factor, inside the output folder
PSNR_CAP = 100.0  # dB; an image returned exactly (infinite PSNR) counts as this in the means, as does one above it


@dataclass(frozen=True)
class CalibrateConfig:
    """What to calibrate, on which photos and noises, over which factors."""

    clean_dir: Path
    checkpoint: str | None = None  # path or shipped name; None: the shipped default
    noises: tuple[str, ...] = DEFAULT_NOISES
    scales: tuple[float, ...] = DEFAULT_SCALES
    seed: int = 0
    engine: str = "auto"
    threads: int = 0
    resume: bool = False  # continue OUT/fit, the benchmark of an interrupted calibration


@dataclass(frozen=True)
class Calibration:
    """The fit: mean PSNR per factor (over the noises, each noise the mean over the photos), per noise, and the
    factor the new file stores (the chosen one times the source's own)."""

    source: Path
    weights: Path
    graph: Path | None
    scales: tuple[float, ...]
    noises: tuple[str, ...]
    psnr: dict[float, dict[str, float]]  # factor -> noise -> mean PSNR
    best: float
    level_scale: float
    images: int
    reused: int = 0  # benchmark rows a resumed calibration took from its fit/
    capped: int = 0  # rows whose photo came back exactly (infinite PSNR), counted as PSNR_CAP in the means

    def mean(self, scale: float) -> float:
        return _mean_over_noises(self.psnr[scale])

    def at_the_edge(self) -> str:
        """"lowest" or "highest" where the best factor is the end of the factors tried (a factor past it may
        do better), else "": also where it is the end of the factors allowed, past which none can be tried."""
        if len(self.scales) < 2 or self.best not in (self.scales[0], self.scales[-1]):
            return ""
        lo, hi = LEVEL_SCALE_BOUNDS
        lowest = self.best == self.scales[0]
        if lowest and min(self.best, self.level_scale) <= lo * 1.001 or \
                not lowest and max(self.best, self.level_scale) >= hi * 0.999:
            return ""  # "try --scale values beyond it" would be refused
        return "lowest" if lowest else "highest"


def _not_empty_hint(out_dir: Path, finished: bool) -> str:
    """What a calibration says of its folder holding other files: to use the finished calibration there, to resume
    a stopped one (its fit/ is there), or to empty a folder that holds none (--resume would find nothing)."""
    if not (out_dir / FIT_DIR).is_dir():
        return "empty it"
    return (f"use the finished calibration it holds (-c {out_dir})" if finished
            else "--resume to continue the calibration whose fit/ it holds")


def calibrate(cfg: CalibrateConfig, out_dir: Path | str,
              progress: ProgressFn | None = None) -> Calibration:
    """Benchmark the model at every factor, pick the best mean PSNR (the factor nearest 1 on a tie) and write
    OUT/G.safetensors (and OUT/G.onnx where the exporter is installed); the benchmark stays in OUT/fit."""
    out_dir = Path(out_dir)
    source = resolve_weights(cfg.checkpoint)
    if source.suffix == ".onnx":
        raise UserError(f"{source}: a graph holds no weights to calibrate; give the .safetensors file it was "
                        "exported from")
    net, g_cfg, meta = load_denoiser(source)
    for note in () if cfg.resume else (shadowed_note(cfg.checkpoint), unfinished_note(source)):
        if note:  # a folder `default` here taken for the shipped model; a G of a run still training
            warn(note)
    if not denoiser_contract(net).level_aware:
        raise UserError(f"{source}: its generator has no level estimator to calibrate (a level-aware model, "
                        "such as the shipped default, has one)")
    scales = _checked_scales(cfg.scales, net.level_scale)
    if not cfg.noises:
        raise UserError("give at least one --noise to calibrate on")
    refuse_held(out_dir, "calibration")  # first: not "--resume", which the running calibration's lock refuses
    weights = RunFolder(out_dir).g
    graph_owed = weights.exists() and not graph_beside(weights).exists() and installed("onnx")  # stopped between
    if cfg.resume and weights.exists() and not graph_owed:
        raise UserError(f"{out_dir}: this calibration has finished ({weights.name} is written); choose another -o")
    if real_path(weights) == real_path(source):  # `-c OUT -o OUT`: the calibrated file would replace its source
        raise UserError(f"-o {out_dir} would overwrite the weights being calibrated ({source}); choose another -o")
    if cfg.resume and not (out_dir / FIT_DIR).is_dir():
        raise UserError(f"{out_dir}: no calibration to resume here (no {FIT_DIR}/); drop --resume")
    bench = BenchmarkConfig(methods=("model",), clean_dir=cfg.clean_dir, noises=cfg.noises,
                            checkpoints=(str(source),), seed=cfg.seed, model_strengths=scales, engine=cfg.engine,
                            threads=cfg.threads, resume=cfg.resume)
    refuse_output_inside_inputs(out_dir, {"--clean": cfg.clean_dir})  # its crops would be read as photos
    _check_photos(plan(bench, out_dir / FIT_DIR))  # bad photos or noises fail here, before the folder is made
    prepare_output_dir(out_dir, own=cfg.resume, hint=_not_empty_hint(out_dir, weights.exists() and not graph_owed),
                       written=(FIT_DIR,))
    with holding_folder(out_dir, "calibration"):  # a second calibration into it would mix two fits
        fit = run_benchmark(bench, out_dir / FIT_DIR, progress)
        if fit.failed:
            first = fit.failures[0]
            raise UserError(f"calibration stopped: {fit.failed} benchmark row(s) failed, e.g. {first['image']} under "
                            f"{first['noise']}: {first['reason']}; fix or remove that photo and rerun with --resume "
                            f"(see {out_dir / FIT_DIR / 'results.json'})")
        conditions = tuple(fit.data["config"]["noises"])  # the labels the rows carry, in the order asked
        psnr, capped = _mean_psnr(fit.rows, scales)
        best = best_factor({k: _mean_over_noises(psnr[k]) for k in scales})
        images = len({r["image"] for r in fit.rows})
        net.level_scale = round(net.level_scale * best, 4)
        history = {"trained_by": f"{meta['trained_by']}; then denoise-gan calibrate (factor {best:g}, "
                                 f"level_scale {net.level_scale:g})"} if meta.get("trained_by") else {}
        save_generator(weights, net, g_cfg, {
            **meta, **history, CALIBRATION_KEY: {
                "source": str(real_path(source)), "source_sha256": file_sha256(source),
                "photos": str(real_path(cfg.clean_dir)), "images": images,
                "noises": list(conditions), "seed": cfg.seed, "factors": list(scales), "chosen": best,
                "criterion": "mean over the noises of the mean PSNR over the photos, blind, by the benchmark "
                             "protocol", **({"previous": meta[CALIBRATION_KEY]} if CALIBRATION_KEY in meta else {})}})
        write_report(out_dir / FIT_DIR, {**fit.data, "calibration": {  # the page names what was chosen from it
            "chosen": best, "weights": weights.name, "capped": capped, "cap": PSNR_CAP}})
        return Calibration(source, weights, write_graph_beside(weights), scales, conditions, psnr, best,
                           net.level_scale, images, fit.reused, capped)


def _check_photos(inputs: Plan) -> None:
    """Every photo read once before the work: one that cannot be benchmarked (unreadable, under the SSIM window)
    would otherwise stop the calibration only after every factor had been run on the others."""
    from data_tools.images import ImageReadError, read_image

    for path in dict.fromkeys(source.clean_path for source in inputs.sources):
        try:
            height, width = read_image(path).pixels.shape[:2]
        except ImageReadError as exc:
            raise UserError(f"{exc}; remove it from --clean to calibrate on the others") from None
        if problem := too_small_to_benchmark(height, width):
            raise UserError(f"{path}: {problem}; remove it from --clean to calibrate on the others")


TIE_DB = 0.0005  # dB: factors this close to the best tie (the table shows thousandths)


def best_factor(mean_psnr: dict[float, float]) -> float:
    """The factor with the highest mean PSNR; one within half a thousandth of a dB of it (the table shows
    thousandths) ties, and a tie goes to the one nearest 1, the estimator as it was trained, so a calibration
    that finds nothing changes nothing (a factor 0.0001 dB ahead, shown equal, won and was warned about as the
    edge of the range)."""
    top = max(mean_psnr.values())
    return min((k for k, v in mean_psnr.items() if v >= top - TIE_DB), key=lambda k: (abs(k - 1.0), -mean_psnr[k]))


def _mean_over_noises(per_noise: dict[str, float]) -> float:
    """The criterion: each noise weighs the same, whatever its PSNR range."""
    return float(np.mean(list(per_noise.values())))


def _checked_scales(scales: tuple[float, ...], current: float) -> tuple[float, ...]:
    """The factors to try, sorted and distinct as the benchmark's row names carry them (``strength_row``); each,
    and the stored factor it makes, must be within the bounds."""
    lo, hi = LEVEL_SCALE_BOUNDS
    if not scales:
        raise UserError("give at least one --scale to try")
    for k in scales:
        if not (lo <= k <= hi and lo <= k * current <= hi):  # (the default factors too, on a calibrated file)
            least = math.ceil(max(lo, lo / current) * 1000) / 1000  # rounded inwards: both ends are accepted
            usable = f"{least:g}..{math.floor(min(hi, hi / current) * 1000) / 1000:g}"
            raise UserError(f"--scale {k:g} (a factor to try): the factor and the stored factor it makes "
                            f"({current:g} × {k:g} = {k * current:g}) must both be within {lo:g}..{hi:g}; "
                            f"give --scale values within {usable}")
    return tuple(sorted({row_strength(strength_row("", k)) for k in scales}))


def _mean_psnr(rows: list[dict], scales: tuple[float, ...]) -> tuple[dict[float, dict[str, float]], int]:
    """Factor -> noise -> mean PSNR over the photos, from the benchmark's ``NAME@strength=K`` rows; and how many
    of those rows were returned exactly (infinite PSNR, counted as PSNR_CAP, as a finite PSNR above it is)."""
    by_scale: dict[float, dict[str, list[float]]] = {k: {} for k in scales}
    capped = 0
    for row in rows:
        scale = row_strength(row["method"])
        if scale is None:
            continue  # the noisy input's own row
        value = PSNR_CAP if row["psnr"] is None else min(float(row["psnr"]), PSNR_CAP)
        capped += row["psnr"] is None  # an exact return, as the caption says: a finite 101 dB is capped, not one
        by_scale[scale].setdefault(row["noise"], []).append(value)
    return {k: {noise: float(np.mean(v)) for noise, v in noises.items()} for k, noises in by_scale.items()}, capped
