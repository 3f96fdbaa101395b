"""Benchmark: the model against classical denoisers on the same held-out noisy inputs, by the protocol.

Every method gets the same integer noisy image (synthesised once per image and noise condition, clipped and
rounded to the file's dtype, or read from a paired set made by ``synth``) and one σ for the classical
methods, so the rows differ only by the method. Scores are ``metrics.psnr``/``metrics.ssim`` on the method's
output rounded to the dtype, exactly as ``evaluate`` scores files.

σ is estimated blind from the noisy image (``skimage.restoration.estimate_sigma``), as a user without ground
truth would have to; ``oracle_sigma`` gives the classical methods the true σ instead, which is how papers
report them. The noise seeds follow ``synth`` (``image_seed(seed, name)``), so
``denoise-gan synth --noise SPEC --seed N`` writes byte-identical noisy inputs for inspection, and every
noise level of one run shares the same underlying noise pattern (less variance between levels).

Results are saved after every row, keyed by (image, noise, method) with a fingerprint of the input pixels and
the method's settings, so ``resume`` redoes only what is missing or stale.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import skimage
from rich.console import Group, RenderableType
from rich.table import Table
from skimage.restoration import denoise_nl_means, denoise_tv_chambolle, denoise_wavelet, estimate_sigma

from data_tools.images import ImageReadError, atomic_write_bytes, list_images, read_image
from data_tools.noise import NoiseSpec, image_seed, parse_noise_spec, split_alpha, to_dtype
from data_tools.synth import MANIFEST_NAME, tool_version
from denoise_gan import report
from denoise_gan.errors import UserError
from denoise_gan.metrics import PROTOCOL, psnr, ssim
from denoise_gan.tiling import InferConfig, TiledDenoiser

FORMAT = "denoise-gan-benchmark/1"
RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"
REPORT_HTML = report.REPORT_HTML

Progress = Callable[[int, int, str], None]  # (steps done, steps total, what is running)
DenoiseFn = Callable[[np.ndarray, float], np.ndarray]

# Parameter rules, on the 0-255 σ scale. The factors were chosen on training-pool samples (rocket,
# motorcycle, retina, coins, clock, brick; 160 px crops; σ = 15/25/50), never on the held-out images.
NLM_H_GRAY = 1.0  # OpenCV gray NLM: h = σ (0.8σ is better only at σ = 50)
NLM_H_COLOUR = 0.6  # OpenCV colour NLM works in its 8-bit Lab, where RGB noise of σ is weaker: h = hColor = 0.6σ
SKIMAGE_NLM_H = 0.6  # skimage's documented rule for fast_mode with sigma given; beat 0.8σ from σ = 25 up
TV_WEIGHT = 1.0  # Chambolle weight = σ on the [0, 1] scale; best or within 0.4 dB of 0.5-3x at σ 15-50

METHOD_NAMES = ("noisy", "model", "bm3d", "nlm", "skimage-nlm", "wavelet", "tv")
DEFAULT_METHODS = "model,bm3d,nlm,wavelet,tv"


@dataclass(frozen=True)
class Method:
    """One benchmark row: ``run(noisy, sigma)`` takes the integer noisy image and σ on the 0-255 scale and
    returns the denoised image with the same shape and dtype. ``rule`` says how its settings follow from σ;
    it is written into the results and, with the name, fingerprints the row for ``resume``. A ``baseline``
    (the noisy input) runs no algorithm, so it is scored but not timed."""

    name: str
    run: DenoiseFn
    uses_sigma: bool
    rule: str
    baseline: bool = False

    @property
    def identity(self) -> str:
        return f"{self.name}|{self.rule}"


# ---- classical methods ---------------------------------------------------------------------------

def _peak(dtype: np.dtype) -> float:
    return float(np.iinfo(dtype).max)


def _to_unit(colour: np.ndarray) -> np.ndarray:
    return colour.astype(np.float64) / _peak(colour.dtype)


def _from_unit(x: np.ndarray, like: np.ndarray) -> np.ndarray:
    """A float [0, 1] result back to the input's shape and dtype, rounded and clipped like a file."""
    return to_dtype(np.reshape(x, like.shape) * _peak(like.dtype), like.dtype)


def _on_colour(core: Callable[[np.ndarray, float], np.ndarray]) -> DenoiseFn:
    """Run ``core`` on the HxWxC colour channels (C = 1 or 3) only: alpha is passed through, as the model does,
    and σ <= 0 means there is nothing to remove (several libraries divide by σ)."""

    @functools.wraps(core)
    def run(noisy: np.ndarray, sigma: float) -> np.ndarray:
        hwc = noisy[..., None] if noisy.ndim == 2 else noisy
        colour, alpha = split_alpha(hwc)
        out = core(np.ascontiguousarray(colour), sigma) if sigma > 0 else colour.copy()
        if alpha is not None:
            out = np.concatenate([out, alpha], axis=-1)
        return out.reshape(noisy.shape)

    return run


def _noisy(noisy: np.ndarray, sigma: float) -> np.ndarray:
    del sigma
    return noisy.copy()


def _bm3d(colour: np.ndarray, sigma: float) -> np.ndarray:
    import bm3d  # imported on use: it is slow to import and only this method needs it

    z = _to_unit(colour)
    out = bm3d.bm3d_rgb(z, sigma / 255.0) if colour.shape[2] == 3 else bm3d.bm3d(z[..., 0], sigma / 255.0)
    return _from_unit(out, colour)


def _nlm(colour: np.ndarray, sigma: float) -> np.ndarray:
    # OpenCV's colour NLM takes 8-bit input only: a 16-bit image goes through a rounded 8-bit copy
    u8 = colour if colour.dtype == np.uint8 else to_dtype(colour / 257.0, np.uint8)
    if colour.shape[2] == 3:
        h = NLM_H_COLOUR * sigma
        bgr = np.ascontiguousarray(u8[..., ::-1])  # its Lab conversion expects BGR
        out = cv2.fastNlMeansDenoisingColored(bgr, None, h, h, 7, 21)[..., ::-1]
    else:
        out = cv2.fastNlMeansDenoising(np.ascontiguousarray(u8[..., 0]), None, NLM_H_GRAY * sigma, 7, 21)
    out = np.reshape(out, colour.shape)
    return out if colour.dtype == np.uint8 else out.astype(np.uint16) * np.uint16(257)


def _skimage_nlm(colour: np.ndarray, sigma: float) -> np.ndarray:
    s = sigma / 255.0
    rgb = colour.shape[2] == 3
    z = _to_unit(colour)
    out = denoise_nl_means(z if rgb else z[..., 0], h=SKIMAGE_NLM_H * s, sigma=s, fast_mode=True, patch_size=5,
                           patch_distance=6, channel_axis=-1 if rgb else None)
    return _from_unit(out, colour)


def _wavelet(colour: np.ndarray, sigma: float) -> np.ndarray:
    rgb = colour.shape[2] == 3
    z = _to_unit(colour)
    out = denoise_wavelet(z if rgb else z[..., 0], sigma=sigma / 255.0, wavelet="db1", mode="soft",
                          method="BayesShrink", rescale_sigma=True, convert2ycbcr=rgb,
                          channel_axis=-1 if rgb else None)
    return _from_unit(out, colour)


def _tv(colour: np.ndarray, sigma: float) -> np.ndarray:
    rgb = colour.shape[2] == 3
    z = _to_unit(colour)
    out = denoise_tv_chambolle(z if rgb else z[..., 0], weight=TV_WEIGHT * sigma / 255.0,
                               channel_axis=-1 if rgb else None)
    return _from_unit(out, colour)


def _bm3d_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("bm3d")
    except metadata.PackageNotFoundError:
        return "not installed"


CLASSICAL: dict[str, Method] = {
    m.name: m
    for m in [
        Method("noisy", _noisy, False, "the noisy input itself (the baseline every method should beat); not timed",
               baseline=True),
        Method("bm3d", _on_colour(_bm3d), True,
               f"bm3d {_bm3d_version()} profile 'np': bm3d_rgb (opponent colour space) on RGB, bm3d on gray; "
               "[0, 1] floats, sigma_psd = σ/255"),
        Method("nlm", _on_colour(_nlm), True,
               f"OpenCV {cv2.__version__} fastNlMeansDenoising(Colored), 7x7 patches, 21x21 search; "
               f"h = {NLM_H_GRAY:g}σ on gray, h = hColor = {NLM_H_COLOUR:g}σ on colour (OpenCV's 8-bit Lab "
               "shrinks RGB noise); 16-bit images via a rounded 8-bit copy"),
        Method("skimage-nlm", _on_colour(_skimage_nlm), True,
               f"skimage {skimage.__version__} denoise_nl_means fast_mode, 5x5 patches, distance 6, "
               f"h = {SKIMAGE_NLM_H:g}σ, sigma = σ (skimage's rule for the fast mode with σ given)"),
        Method("wavelet", _on_colour(_wavelet), True,
               f"skimage {skimage.__version__} denoise_wavelet BayesShrink, soft, db1, sigma = σ; "
               "colour in YCbCr (σ converted by skimage)"),
        Method("tv", _on_colour(_tv), True,
               f"skimage {skimage.__version__} denoise_tv_chambolle, weight = {TV_WEIGHT:g}σ/255"),
    ]
}


def valid_methods_text() -> str:
    return ", ".join(METHOD_NAMES)


def parse_methods(text: str) -> tuple[str, ...]:
    """Comma-separated method names, deduplicated, ``noisy`` first (it is always reported)."""
    names = [n.strip().lower() for n in (text or "").split(",") if n.strip()]
    unknown = [n for n in names if n not in METHOD_NAMES]
    if unknown:
        raise UserError(f"unknown method(s) {', '.join(map(repr, unknown))}; valid: {valid_methods_text()}")
    if not names:
        raise UserError(f"no methods given; valid: {valid_methods_text()}")
    return tuple(dict.fromkeys(["noisy", *names]))


# ---- σ -------------------------------------------------------------------------------------------

def estimate_noise_sigma(noisy: np.ndarray) -> float:
    """Blind σ on the 0-255 scale (whatever the bit depth), from the colour channels, averaged over them."""
    hwc = noisy[..., None] if noisy.ndim == 2 else noisy
    colour = split_alpha(hwc)[0]
    value = estimate_sigma(_to_unit(colour), channel_axis=-1, average_sigmas=True)
    return float(value) * 255.0


def oracle_problem(spec: NoiseSpec) -> str | None:
    """Why a spec has no single true σ per image (None when it has: one Gaussian stage, fixed or ranged)."""
    if len(spec.chains) != 1:
        return "a mixture draws a different noise model per image"
    chain = spec.chains[0]
    if len(chain) != 1 or chain[0].model != "gaussian":
        return "only a plain Gaussian spec like gaussian:sigma=25 has one"
    return None


def oracle_sigma(stages: Sequence[dict[str, Any]]) -> float:
    """The σ actually drawn for this image by its single Gaussian stage (checked up front by oracle_problem)."""
    return float(stages[0]["sigma"])


# ---- inputs --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    """One (image, noise) input: a clean file and a spec to apply, or a clean/noisy pair made by ``synth``."""

    image: str
    noise: str
    clean_path: Path
    spec: NoiseSpec | None = None
    noisy_path: Path | None = None
    image_seed: int | None = None
    stages: tuple[dict[str, Any], ...] | None = None


@dataclass(frozen=True)
class Pair:
    clean: np.ndarray
    noisy: np.ndarray
    image_seed: int | None
    stages: list[dict[str, Any]] | None


def pixels_fingerprint(pixels: np.ndarray) -> str:
    """sha256 of dtype, shape and pixels: the same input gives the same hash on any machine."""
    digest = hashlib.sha256(f"{pixels.dtype.str}{pixels.shape}".encode())
    digest.update(np.ascontiguousarray(pixels).tobytes())
    return digest.hexdigest()


class _CleanCache:
    """Holds the last clean image read, so an image is decoded once for all its noise conditions."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.pixels: np.ndarray | None = None

    def read(self, path: Path) -> np.ndarray:
        if path != self.path or self.pixels is None:
            self.path, self.pixels = None, None  # a failed read must not leave the previous image cached
            self.pixels = read_image(path).pixels
            self.path = path
        return self.pixels


def load_pair(source: Source, seed: int, cache: _CleanCache) -> Pair:
    """The clean and noisy pixels of a source; raises ImageReadError/ValueError for a broken input."""
    clean = cache.read(source.clean_path)
    if source.spec is not None:
        per_image = image_seed(seed, source.image)
        noisy, stages = source.spec.apply(clean, per_image)
        return Pair(clean, noisy, per_image, stages)
    assert source.noisy_path is not None
    noisy = read_image(source.noisy_path).pixels
    if noisy.dtype != clean.dtype or noisy.shape != clean.shape:
        raise ValueError(f"noisy file {source.noisy_path} is {noisy.shape} {noisy.dtype}, "
                         f"its clean file {clean.shape} {clean.dtype}")
    return Pair(clean, noisy, source.image_seed, list(source.stages) if source.stages is not None else None)


def _clean_sources(clean_dir: Path, out_dir: Path) -> list[tuple[str, Path]]:
    if not clean_dir.is_dir():
        raise UserError(f"{clean_dir}: not a folder")
    if out_dir.resolve() == clean_dir.resolve():
        raise UserError(f"{out_dir}: the output folder must not be the --clean folder")
    out_resolved = out_dir.resolve()
    # an output folder inside the clean folder must not feed its own crops back in as test images
    paths = [p for p in list_images(clean_dir, recursive=True) if not p.resolve().is_relative_to(out_resolved)]
    if not paths:
        raise UserError(f"{clean_dir}: no image files found")
    named: dict[str, Path] = {}
    for path in paths:
        name = path.relative_to(clean_dir).with_suffix("").as_posix()
        if name in named:
            raise UserError(f"{path} and {named[name]} have the same name; rename one of them")
        named[name] = path
    return list(named.items())


def _synth_set_sources(set_dir: Path) -> tuple[str, NoiseSpec, list[Source]]:
    """The pairs of a paired set made by ``synth``, labelled with the noise spec its manifest records."""
    if not set_dir.is_dir():
        raise UserError(f"{set_dir}: not a folder")
    manifest_path = set_dir / MANIFEST_NAME
    if not manifest_path.is_file():
        raise UserError(f"{set_dir}: no {MANIFEST_NAME}; --noisy takes a paired set made by `denoise-gan synth`")
    try:
        manifest = json.loads(manifest_path.read_text())
        noise = str(manifest["noise"])
        entries = list(manifest["images"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{manifest_path}: not a readable synth manifest ({exc})") from None
    if manifest.get("mode") != "paired":
        raise UserError(f"{set_dir}: an unpaired set has no clean/noisy pairs; make one with `denoise-gan synth` "
                        "without --unpaired")
    spec = parse_noise_spec(noise)
    label = str(spec)
    sources = []
    for entry in entries:
        if not entry.get("clean") or not entry.get("noisy"):
            continue
        stages = entry.get("stages")
        sources.append(Source(image=str(entry["name"]), noise=label, clean_path=set_dir / entry["clean"],
                              noisy_path=set_dir / entry["noisy"], image_seed=entry.get("image_seed"),
                              stages=tuple(stages) if stages is not None else None))
    if not sources:
        raise UserError(f"{set_dir}: the manifest lists no clean/noisy pairs")
    return label, spec, sources


# ---- the run -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BenchmarkConfig:
    """What to compare on what; validated by ``plan`` so bad arguments fail before any work."""

    methods: tuple[str, ...] = tuple(DEFAULT_METHODS.split(","))
    clean_dir: Path | None = None
    noises: tuple[str, ...] = ()  # specs to synthesise from clean_dir
    noisy_sets: tuple[Path, ...] = ()  # or paired sets made by synth
    checkpoints: tuple[str, ...] = ()  # paths or shipped names; empty = the shipped default
    seed: int = 0
    oracle_sigma: bool = False
    resume: bool = False
    infer: InferConfig = field(default_factory=InferConfig)


@dataclass(frozen=True)
class Plan:
    methods: tuple[str, ...]
    conditions: tuple[str, ...]  # noise labels in run order
    sources: tuple[Source, ...]


def plan(cfg: BenchmarkConfig, out_dir: Path) -> Plan:
    """Check every argument and list the inputs; raises UserError (or NoiseSpecError) with one line."""
    methods = parse_methods(",".join(cfg.methods))
    if cfg.checkpoints and "model" not in methods:
        raise UserError("--checkpoint given but 'model' is not in --methods")
    if cfg.noisy_sets and (cfg.noises or cfg.clean_dir is not None):
        raise UserError("--noisy sets hold their own clean/ and noise; give either --noisy SET... or "
                        "--clean DIR with --noise SPEC...")
    specs: dict[str, NoiseSpec] = {}
    sources: list[Source] = []
    if cfg.noisy_sets:
        for set_dir in cfg.noisy_sets:
            label, spec, set_sources = _synth_set_sources(Path(set_dir))
            if label in specs:
                raise UserError(f"{set_dir}: another --noisy set has the same noise ({label}); "
                                "benchmark them in separate runs")
            specs[label] = spec
            sources += set_sources
    else:
        if cfg.clean_dir is None or not cfg.noises:
            raise UserError("give --clean DIR with one or more --noise SPEC, or --noisy SET (a paired set made by "
                            "`denoise-gan synth`)")
        for text in cfg.noises:
            spec = parse_noise_spec(text)
            specs.setdefault(str(spec), spec)
        named = _clean_sources(Path(cfg.clean_dir), out_dir)
        # image-major, so each clean file is decoded once for all its noise conditions
        sources = [Source(name, label, path, spec=spec) for name, path in named for label, spec in specs.items()]
    if cfg.oracle_sigma:
        for label, spec in specs.items():
            problem = oracle_problem(spec)
            if problem:
                raise UserError(f"--oracle-sigma needs the true σ of every image, and {label!r} has none "
                                f"({problem}); drop --oracle-sigma to estimate σ blind")
        for source in sources:
            if source.spec is None and not source.stages:
                raise UserError(f"{source.noisy_path}: its manifest entry records no noise stages, so "
                                "--oracle-sigma has no true σ for it")
    return Plan(methods, tuple(specs), tuple(sources))


@dataclass(frozen=True)
class LoadedModel:
    """A generator ready to run, with what the report says about it (load time is not per-image time)."""

    method: Method
    checkpoint: str
    sha256: str
    load_seconds: float
    config: dict[str, Any] = field(hash=False)
    denoiser: TiledDenoiser | None = field(default=None, hash=False, compare=False)  # its notes go in the report


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _model_names(paths: Sequence[Path]) -> list[str]:
    """Row names from checkpoint stems; parent folders are added where stems collide (run1/G, run2/G)."""
    names = [p.stem for p in paths]
    for depth in (1, 2):
        clashes = {n for n in names if names.count(n) > 1}
        names = [("/".join(p.with_suffix("").parts[-1 - depth:]) if n in clashes else n)
                 for n, p in zip(names, paths)]
    names = [f"model:{n}" if n in METHOD_NAMES else n for n in names]
    if len(set(names)) != len(names):
        raise UserError("two --checkpoint files give the same row name; rename one of them")
    return names


def load_models(checkpoints: Sequence[str], infer: InferConfig) -> list[LoadedModel]:
    """Load each generator and run one small untimed warm-up pass (first-call set-up is not per-image cost)."""
    from denoise_gan.config import to_dict
    from denoise_gan.weights import WeightsError, load_generator, resolve_weights

    try:
        paths = [resolve_weights(c) for c in (checkpoints or [None])]
    except WeightsError as exc:
        if checkpoints:
            raise
        raise UserError(f"{exc}; pass --checkpoint PATH, or drop 'model' from --methods") from None
    if len(set(p.resolve() for p in paths)) != len(paths):
        raise UserError("the same checkpoint is given twice")
    models = []
    for path, name in zip(paths, _model_names(paths)):
        start = time.perf_counter()
        net, gen_cfg, _ = load_generator(path)
        denoiser = TiledDenoiser(net, infer)
        denoiser(np.zeros((32, 32, gen_cfg.channels), np.uint8))
        seconds = time.perf_counter() - start
        sha = _file_sha256(path)

        def run(noisy: np.ndarray, sigma: float, _denoiser: TiledDenoiser = denoiser) -> np.ndarray:
            del sigma  # the model is blind
            return _denoiser(noisy)

        rule = (f"generator {path.name} (sha256 {sha[:12]}, {gen_cfg.arch} width {gen_cfg.width}), tiled inference "
                f"on {denoiser.device}; blind (no σ)")
        models.append(LoadedModel(Method(name, run, False, rule), str(path), sha, seconds, to_dict(gen_cfg),
                                  denoiser))
    return models


def row_fingerprint(input_sha: str, method: Method, sigma: float | None) -> str:
    """What a row's result depends on: the input pixels, the method and its settings, and σ if it uses one."""
    text = f"{input_sha}|{method.identity}|{'' if sigma is None else repr(round(sigma, 6))}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _json_float(value: float | None) -> float | None:
    """JSON has no Infinity: an identical pair's PSNR is written as null, as in the protocol."""
    return None if value is None or not math.isfinite(value) else float(value)


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


def _previous_rows(path: Path, resume: bool) -> dict[tuple[str, str, str], dict[str, Any]]:
    if not path.exists():
        return {}
    if not resume:
        raise UserError(f"{path} already exists; pass --resume to continue that benchmark, or choose another -o")
    try:
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {FORMAT!r}")
        return {(r["image"], r["noise"], r["method"]): r for r in data["rows"]}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"{path}: cannot resume from it ({exc}); move it away or choose another -o") from None


def protocol_dict(oracle: bool) -> dict[str, Any]:
    """The metrics protocol plus what this benchmark adds: how inputs, σ and timings were made."""
    return {
        **PROTOCOL,
        "skimage_version": skimage.__version__,
        "pairing": "each noisy input is made from, or paired by a synth manifest with, the clean image of the "
                   "same name; every method is scored against that clean image",
        "noise": "synthesised per image with data_tools.noise from the clean file, per-image seed "
                 "image_seed(seed, image) as `denoise-gan synth --seed` uses (so synth writes the identical "
                 "noisy file), clipped and rounded to the file's dtype; or read from a paired synth set",
        "sigma": ("oracle: the σ drawn for the image by its Gaussian noise stage" if oracle else
                  "blind: skimage.restoration.estimate_sigma(noisy in [0, 1], channel_axis=-1, "
                  "average_sigmas=True) x 255, colour channels only")
                 + "; on the 0-255 scale for any bit depth; only classical methods use it",
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
            seconds = sum(r["seconds"] for r in mine)
            mp = sum(r["megapixels"] for r in mine)
            out.append({"noise": noise, "method": method, "images": len(mine),
                        "psnr": _json_float(float(np.mean(psnrs))),
                        "ssim": float(np.mean([r["ssim"] for r in mine])),
                        "seconds": seconds / len(mine),
                        "mp_per_s": _json_float(mp / seconds) if seconds > 0 else None})
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
            "clean_dir": None if cfg.clean_dir is None else str(cfg.clean_dir),
            "noisy_sets": [str(p) for p in cfg.noisy_sets],
            "noises": list(the_plan.conditions),
            "methods": [m.name for m in methods],
            "seed": cfg.seed,
            "oracle_sigma": cfg.oracle_sigma,
            "infer": {"tile": cfg.infer.tile, "overlap": cfg.infer.overlap, "batch_size": cfg.infer.batch_size,
                      "device": cfg.infer.device, "precision": cfg.infer.precision},
        },
        "methods": [{"name": m.name, "rule": m.rule, "uses_sigma": m.uses_sigma} for m in methods],
        "models": [{"method": m.method.name, "checkpoint": m.checkpoint, "sha256": m.sha256,
                    "load_seconds": m.load_seconds, "config": m.config} for m in models],
        "inputs": [],
        "rows": [],
        "failures": [],
        "summary": [],
    }


class _Run:
    """The state of one benchmark run: rows by key (reused ones included), saved after every change."""

    def __init__(self, cfg: BenchmarkConfig, the_plan: Plan, methods: list[Method], out_dir: Path,
                 data: dict[str, Any], previous: dict[tuple[str, str, str], dict[str, Any]],
                 progress: Progress | None) -> None:
        self.cfg, self.plan, self.methods, self.out_dir = cfg, the_plan, methods, out_dir
        self.result = BenchmarkResult(out_dir, data)
        self.progress = progress
        keys = [(s.image, s.noise, m.name) for s in the_plan.sources for m in methods]
        self.order = {key: i for i, key in enumerate(keys)}
        self.rows = {k: r for k, r in previous.items() if k in self.order}
        dropped = len(previous) - len(self.rows)
        if dropped:
            self.result.notes.append(f"{dropped} stored row(s) outside this run (other images, noises or methods) "
                                     "were not carried over")
        self.total, self.done, self.stale = len(keys), 0, 0
        self.warmed: set[str] = set()

    @property
    def data(self) -> dict[str, Any]:
        return self.result.data

    def save(self) -> None:
        self.data["rows"] = sorted(self.rows.values(), key=lambda r: self.order[(r["image"], r["noise"], r["method"])])
        self.data["summary"] = _summary(self.data["rows"], self.plan.conditions, [m.name for m in self.methods])
        text = json.dumps(self.data, indent=2, allow_nan=False) + "\n"
        atomic_write_bytes(self.out_dir / RESULTS_JSON, text.encode())

    def step(self, count: int, what: str) -> None:
        self.done += count
        if self.progress:
            self.progress(self.done, self.total, what)

    def run_source(self, source: Source, cache: _CleanCache) -> None:
        label = f"{source.image} [{source.noise}]"
        try:
            pair = load_pair(source, self.cfg.seed, cache)
        except (ImageReadError, ValueError, OSError) as exc:
            self.data["failures"].append({"image": source.image, "noise": source.noise, "method": None,
                                          "reason": _one_line(exc)})
            for m in self.methods:
                self.rows.pop((source.image, source.noise, m.name), None)
            self.save()
            self.step(len(self.methods), label)
            return
        input_sha = pixels_fingerprint(pair.noisy)
        estimate = estimate_noise_sigma(pair.noisy)
        sigma = oracle_sigma(pair.stages) if self.cfg.oracle_sigma and pair.stages else estimate
        self.data["inputs"].append({"image": source.image, "noise": source.noise, "image_seed": pair.image_seed,
                                    "stages": pair.stages, "sigma_estimate": estimate, "sigma_used": sigma,
                                    "shape": list(pair.noisy.shape), "dtype": str(pair.noisy.dtype),
                                    "noisy_sha256": input_sha})
        window = report.crop_window(pair.clean)
        report.save_crop(self.out_dir, source.noise, source.image, "clean", pair.clean, window)
        for method in self.methods:
            key = (source.image, source.noise, method.name)
            used = sigma if method.uses_sigma else None
            fingerprint = row_fingerprint(input_sha, method, used)
            old = self.rows.get(key)
            if old is not None and old.get("fingerprint") == fingerprint:
                self.result.reused += 1
                self.step(1, label)
                continue
            if old is not None:
                self.stale += 1
                del self.rows[key]
            if self.progress:
                self.progress(self.done, self.total, f"{method.name}: {label}")
            self.warm_up(method, pair.noisy)
            row = _run_row(method, pair, used, fingerprint, source, self.out_dir, window, self.data)
            if row is not None:
                self.rows[key] = row
                self.result.computed += 1
            self.save()
            self.step(1, label)

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


def run_benchmark(cfg: BenchmarkConfig, out_dir: Path | str, progress: Progress | None = None) -> BenchmarkResult:
    """Run every method on every (image, noise) input and write results.json/.csv and report.html.

    Bad arguments raise before any work; a broken input or a method that fails on one image is recorded in
    ``failures`` and the rest still run. Results are saved after every row.
    """
    out_dir = Path(out_dir)
    the_plan = plan(cfg, out_dir)
    previous = _previous_rows(out_dir / RESULTS_JSON, cfg.resume)
    models = load_models(cfg.checkpoints, cfg.infer) if "model" in the_plan.methods else []
    methods: list[Method] = []
    for name in the_plan.methods:
        methods += [m.method for m in models] if name == "model" else [CLASSICAL[name]]
    run = _Run(cfg, the_plan, methods, out_dir, _header(cfg, the_plan, methods, models), previous, progress)
    cache = _CleanCache()
    for source in the_plan.sources:
        run.run_source(source, cache)
    if run.stale:
        run.result.notes.append(f"{run.stale} stored row(s) came from other inputs or settings and were recomputed")
    run.result.notes += [f"{m.method.name}: {note}" for m in models if m.denoiser for note in m.denoiser.notes]
    run.save()
    atomic_write_bytes(out_dir / RESULTS_CSV, csv_text(run.data).encode())
    report.write_report(out_dir, run.data)
    return run.result


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _run_row(method: Method, pair: Pair, sigma: float | None, fingerprint: str, source: Source, out_dir: Path,
             window: tuple[int, int, int, int], data: dict[str, Any]) -> dict[str, Any] | None:
    """Run, time and score one method on one input; a failure is recorded in ``data`` and gives None."""
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
                                 "reason": f"{type(exc).__name__}: {_one_line(exc)}"})
        return None
    report.save_crop(out_dir, source.noise, source.image, method.name, out, window)
    return {"image": source.image, "noise": source.noise, "method": method.name,
            "psnr": _json_float(value_psnr), "ssim": value_ssim, "seconds": seconds, "megapixels": megapixels,
            "mp_per_s": _json_float(megapixels / seconds) if seconds > 0 else None, "sigma_used": sigma,
            "fingerprint": fingerprint}


# ---- printing ------------------------------------------------------------------------------------

def summary_renderable(result: BenchmarkResult) -> RenderableType:
    """One table per noise condition (best PSNR/SSIM in bold green), then model load times, failures, notes."""
    parts: list[RenderableType] = []
    sigma = "oracle σ" if result.data["config"]["oracle_sigma"] else "blind σ"
    summary = result.data["summary"]
    for noise in result.data["config"]["noises"]:
        mine = [s for s in summary if s["noise"] == noise]
        if not mine:
            continue
        table = Table(title=f"{noise} ({sigma})", title_justify="left")
        for column in ("method", "PSNR (dB)", "SSIM", "s/image", "MP/s", "images"):
            table.add_column(column, justify="left" if column == "method" else "right", no_wrap=True)
        best_psnr = max((math.inf if s["psnr"] is None else s["psnr"]) for s in mine)
        best_ssim = max(s["ssim"] for s in mine)
        for s in mine:
            value = math.inf if s["psnr"] is None else s["psnr"]
            p = "inf" if s["psnr"] is None else f"{s['psnr']:.2f}"
            q = f"{s['ssim']:.4f}"
            table.add_row(s["method"], f"[bold green]{p}[/]" if value == best_psnr else p,
                          f"[bold green]{q}[/]" if s["ssim"] == best_ssim else q, f"{s['seconds']:.3f}",
                          "-" if s["mp_per_s"] is None else f"{s['mp_per_s']:.3g}", str(s["images"]))
        parts.append(table)
    for m in result.data["models"]:
        parts.append(f"model {m['method']}: loaded in {m['load_seconds']:.2f} s (with one warm-up pass; "
                     "not in the per-image seconds)")
    for f in result.failures:
        what = f"{f['image']} [{f['noise']}]" + (f" {f['method']}" if f["method"] else "")
        parts.append(f"[red]failed[/] {what}: {f['reason']}")
    parts += [f"[yellow]note:[/] {n}" for n in result.notes]
    parts.append(f"{result.computed} row(s) computed, {result.reused} reused")
    return Group(*parts)


def csv_text(data: dict[str, Any]) -> str:
    """The rows as CSV, one per (image, noise, method); empty psnr means identical images (infinite)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    fields = ["image", "noise", "method", "psnr", "ssim", "seconds", "mp_per_s", "sigma_used"]
    writer.writerow(fields)
    for r in data["rows"]:
        writer.writerow([r["image"], r["noise"], r["method"],
                         "" if r["psnr"] is None else f"{r['psnr']:.6f}", f"{r['ssim']:.6f}",
                         f"{r['seconds']:.6f}", "" if r["mp_per_s"] is None else f"{r['mp_per_s']:.6f}",
                         "" if r["sigma_used"] is None else f"{r['sigma_used']:.6f}"])
    return buf.getvalue()

