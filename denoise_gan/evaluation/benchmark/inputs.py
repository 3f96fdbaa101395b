"""The benchmark's inputs: the plan (which images, which noise, which methods), the noisy pixels every
method shares, and σ, blind or oracle.

Every method gets the same integer noisy image (synthesised once per image and noise condition, clipped and
rounded to the file's dtype, or read from a paired set: one ``synth`` made, or the user's own clean/ and noisy/
pairs). The noise seeds follow ``synth`` (``image_seed(seed, name)``), so ``denoise-gan synth --noise SPEC
--seed N`` writes byte-identical noisy inputs for inspection. σ is estimated blind from the noisy image
(``skimage.restoration.estimate_sigma``), as a user without ground truth would have to; ``oracle_sigma`` gives
the classical methods the true σ instead, which is how papers report them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from data_tools import json_text
from data_tools.folder_scan import not_a_folder
from data_tools.images import colour_channels, read_image, split_alpha
from data_tools.noise import NoiseSpec, NoiseSpecError, image_seed, parse_noise_spec
from data_tools.noise_source import is_spec_record
from data_tools.output_folders import refuse_output_inside_inputs, refuse_output_read_as_a_set
from data_tools.paths import real_path
from data_tools.set_halves import halves_of, holds_both_halves
from data_tools.synth import MANIFEST_NAME
from data_tools.synth_folder import refuse_incomplete_half, refuse_incomplete_set, refuse_synth_sets_inside
from denoise_gan.errors import UserError
from denoise_gan.evaluation.benchmark.methods import DEFAULT_METHODS, installed_methods, parse_methods
from denoise_gan.evaluation.method_names import REAL_PAIRS
from denoise_gan.evaluation.pairing import by_stem, keyed, paired_files
from denoise_gan.inference.engine_choice import check_engine
from denoise_gan.inference.infer_config import InferConfig, check_strength
from denoise_gan.runtime import check_device_name

ORACLE_MODELS = ("gaussian", "correlated")  # additive noise whose per-pixel σ is the `sigma` parameter exactly


def oracle_sigma(stages: Sequence[dict[str, Any]], clean: np.ndarray, noisy: np.ndarray) -> float:
    """The σ actually drawn for this image: the `sigma` of a lone Gaussian or correlated stage (for `correlated`
    noise the per-pixel σ, which a blind estimate reads far lower), and for any other chain (a camera, Poisson,
    Gaussian then JPEG, ...) the std of the true residual noisy - clean on the 0-255 scale (what "σ tuned to the
    truth" means for noise no single σ describes; a JPEG'd Gaussian's σ is no longer the noise left in the file)."""
    lone = stages[0] if len(stages) == 1 else None  # a source of one's own may name no model: the residual's
    try:  # a manifest's record: a hand-edited one fails this input with a ValueError, as a bad image does
        sigma = float(lone["sigma"]) if isinstance(lone, dict) and lone.get("model") in ORACLE_MODELS else None
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ValueError(f"its recorded noise stage is unreadable ({type(exc).__name__}: {exc})") from None
    if sigma is not None:
        if not 0 <= sigma <= 255:
            raise ValueError(f"the recorded σ {sigma:g} is outside 0..255")
        return sigma
    scale = 255.0 / float(np.iinfo(clean.dtype).max)
    residual = colour_channels(noisy).astype(np.float64) - colour_channels(clean).astype(np.float64)
    return float(residual.std() * scale)


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
        per_image = image_seed(seed, source.image)  # as synth seeds it
        noisy, stages = source.spec.apply(clean, per_image)
        return Pair(clean, noisy, per_image, stages)
    assert source.noisy_path is not None
    noisy = read_image(source.noisy_path).pixels
    if noisy.shape != clean.shape and colour_channels(noisy).shape == colour_channels(clean).shape:
        clean, noisy = _without_alpha(clean), _without_alpha(noisy)  # alpha in one only: never scored, as evaluate
    if noisy.dtype != clean.dtype or noisy.shape != clean.shape:
        raise ValueError(f"noisy file {source.noisy_path} is {noisy.shape} {noisy.dtype}, "
                         f"its clean file {clean.shape} {clean.dtype}")
    return Pair(clean, noisy, source.image_seed, list(source.stages) if source.stages is not None else None)


def _without_alpha(pixels: np.ndarray) -> np.ndarray:
    """The image as read, its alpha channel dropped (gray+alpha becomes HxW gray, as a gray file is read)."""
    colour = split_alpha(pixels)[0]
    return colour[..., 0] if colour.ndim == 3 and colour.shape[2] == 1 else colour


def _clean_sources(clean_dir: Path, out_dir: Path) -> list[tuple[str, Path]]:
    if not clean_dir.is_dir():
        raise UserError(f"{clean_dir}: {not_a_folder(clean_dir)}")
    if real_path(out_dir) == real_path(clean_dir):
        raise UserError(f"{out_dir}: the output folder must not be the --clean folder")
    # its crops and plots would be read as clean photos by the next benchmark or calibration of this folder
    refuse_output_inside_inputs(out_dir, {"--clean": clean_dir})
    refuse_synth_sets_inside(clean_dir, UserError)
    refuse_incomplete_half(clean_dir, UserError, "--clean ")  # a set's clean/ a synth is writing, or cut short
    # named as evaluate names them: a name two photos share (a.png, a.jpg) is taken whole
    return list(keyed(by_stem(clean_dir), {})[0].items())


def _plain_json(value: Any) -> bool:
    """Whether strict JSON holds ``value`` (no NaN or Infinity, which a manifest's parser reads as numbers)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def _synth_set_sources(set_dir: Path) -> tuple[str, NoiseSpec | None, list[Source], tuple[str, ...]]:
    """The pairs of a paired set made by ``synth``, labelled with the noise spec its manifest records (or the
    learned noise model or the source of your own it names, which have no spec: such a set is benchmarked
    blind); or, in a folder without a manifest, the user's own clean/ and noisy/ pairs."""
    if not set_dir.is_dir():
        raise UserError(f"{set_dir}: {not_a_folder(set_dir)}")
    manifest_path = set_dir / MANIFEST_NAME
    if not manifest_path.is_file():
        if holds_both_halves(set_dir):
            return (*_real_pair_sources(set_dir), ())
        raise UserError(f"{set_dir}: neither a paired set made by `denoise-gan synth` (no {MANIFEST_NAME}) nor a "
                        "folder of your own pairs (clean/ and noisy/, matched by name)")
    try:
        manifest = json_text.loads(manifest_path.read_text())
        noise = manifest["noise"]
        entries = list(manifest["images"])
        if not isinstance(noise, str):
            raise TypeError(f"its noise is {noise!r:.40}, not a noise's text")
    except KeyError as exc:
        raise UserError(f"{manifest_path}: not a synth manifest (it has no {exc.args[0]!r} field)") from None
    except (OSError, ValueError, TypeError) as exc:
        raise UserError(f"{manifest_path}: not a readable synth manifest ({exc})") from None
    refuse_incomplete_set(manifest, set_dir, UserError)
    if manifest.get("mode") != "paired":
        raise UserError(f"{set_dir}: an unpaired set has no clean/noisy pairs; make one with `denoise-gan synth` "
                        "without --unpaired")
    try:
        spec = parse_noise_spec(noise) if is_spec_record(manifest) else None
    except NoiseSpecError as exc:  # the spec is the manifest's, not one the user gave on this command line
        raise UserError(f"{manifest_path}: its noise {noise!r:.60} is not a noise spec ({exc}); a hand-edited "
                        "manifest? run its synth command again") from None
    label = noise if spec is None else str(spec)
    sources, skipped = [], 0
    for entry in entries:
        if not isinstance(entry, dict) or not entry.get("clean") or not entry.get("noisy"):
            skipped += 1  # (synth writes none such into a paired set: said, as the means cover fewer pairs)
            continue
        stages, seed = entry.get("stages"), entry.get("image_seed")
        if not isinstance(entry.get("name"), str) or not entry["name"] or \
                stages is not None and not (isinstance(stages, list) and _plain_json(stages)) or \
                seed is not None and type(seed) is not int:  # (results.json records both, and holds no NaN)
            raise UserError(f"{manifest_path}: its entry for {entry['noisy']!r:.80} has no name or no list of stages "
                            "(of finite numbers), or no whole image_seed (a hand-edited manifest?); run its synth "
                            "command again")
        sources.append(Source(image=entry["name"], noise=label,
                              clean_path=_inside(set_dir, entry["clean"], manifest_path),
                              noisy_path=_inside(set_dir, entry["noisy"], manifest_path),
                              image_seed=entry.get("image_seed"),
                              stages=tuple(stages) if stages is not None else None))
    if not sources:
        raise UserError(f"{set_dir}: the manifest lists no clean/noisy pairs")
    names = [source.image for source in sources]
    if len(set(names)) != len(names):  # one row per name: a second pair would overwrite the first's score
        twice = next(n for n in names if names.count(n) > 1)
        raise UserError(f"{manifest_path}: lists {twice!r} twice (a hand-merged manifest?); each pair needs its "
                        "own name")
    notes = (f"{manifest_path}: {skipped} entry(ies) name no clean/noisy pair and are left out (a hand-edited "
             "manifest?)",) if skipped else ()
    return label, spec, sources, notes


def _real_pair_sources(set_dir: Path) -> tuple[str, None, list[Source]]:
    """Pairs the user made (real photos: a tripod's long and short exposures, say), matched by relative name as
    `evaluate` matches them; no spec and no σ is known, so every method runs blind on them."""
    label = f"{REAL_PAIRS}{real_path(set_dir).name}"  # however the folder is spelt: a resume's rows match
    pairs = paired_files(*halves_of(set_dir), "noisy twin")
    if not pairs:
        raise UserError(f"{set_dir}: its clean/ holds no images")
    return label, None, [Source(image=name, noise=label, clean_path=clean, noisy_path=noisy)
                         for name, clean, noisy in pairs]


def _inside(set_dir: Path, relative: object, manifest_path: Path) -> Path:
    """A file a manifest names, which must be a relative path inside its set: a crafted manifest cannot make
    the benchmark read ``../`` or absolute paths."""
    text = str(relative)
    path = Path(text)
    if path.is_absolute() or ".." in path.parts or not real_path(set_dir / path).is_relative_to(real_path(set_dir)):
        raise UserError(f"{manifest_path}: names {text!r}, outside its set; entries must be relative paths "
                        "inside the set folder")
    return set_dir / path


# ---- the plan -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BenchmarkConfig:
    """What to compare on what; validated by ``plan`` so bad arguments fail before any work."""

    methods: tuple[str, ...] | None = None  # None: the default methods (those whose packages are installed)
    clean_dir: Path | None = None
    noises: tuple[str, ...] = ()  # specs to synthesise from clean_dir
    noisy_sets: tuple[Path, ...] = ()  # or paired sets made by synth
    checkpoints: tuple[str, ...] = ()  # paths or shipped names; empty = the shipped default
    seed: int = 0
    oracle_sigma: bool = False
    resume: bool = False
    infer: InferConfig = field(default_factory=InferConfig)
    model_strengths: tuple[float, ...] = ()  # level-aware models: one row per strength (none: the plain row)
    model_sigma: bool = False  # level-aware models: also a row fed the classical methods' σ
    engine: str = "auto"  # the models' runtime: auto, onnxruntime or torch
    threads: int = 0  # CPU threads of the models' runtime (0: its default)


@dataclass(frozen=True)
class Plan:
    methods: tuple[str, ...]
    conditions: tuple[str, ...]  # noise labels in run order
    sources: tuple[Source, ...]
    notes: tuple[str, ...] = ()  # default methods left out (a package missing), manifest entries left out


ROW_LEVEL = ("strength", "sigma")  # a model row's own level (--model-strength, --model-sigma), not a run setting
_KEYED = ("tile", "overlap", "precision", *ROW_LEVEL, "ensemble", "batch_size", "device")  # inference_key's own


def infer_record(infer: InferConfig) -> dict[str, Any]:
    """Every inference setting of a run, read off InferConfig's fields: a setting added there is recorded in
    results.json, keys a model row (``inference_key``) and is named when it changes nothing, with no list here to
    extend."""
    return {f.name: getattr(infer, f.name) for f in dataclasses.fields(infer) if f.name not in ROW_LEVEL}


def inference_key(infer: InferConfig, engine: str, threads: int) -> str:
    """What a model row's output depends on, and then what its time does too: a row made with other settings
    (--threads, --batch-size and --device included) is made again, not reused. A field beyond the first ones is
    added as ``|name=value`` where it is not at its default, so the keys stored before it came stay the same."""
    added = "".join(f"|{f.name}={getattr(infer, f.name)}" for f in dataclasses.fields(infer)
                    if f.name not in _KEYED and getattr(infer, f.name) != f.default)
    return (f"tile={infer.tile}|overlap={infer.overlap}|precision={infer.precision}|"
            f"strength={infer.strength}|sigma={infer.sigma}|engine={engine}"
            + ("|ensemble" if infer.ensemble else "") + added
            + f"|threads={threads}|batch_size={infer.batch_size}|device={infer.device}")


def _unused_model_options(cfg: BenchmarkConfig, methods: tuple[str, ...]) -> list[str]:
    """A note naming the model's inference options given to a run without the model: they change nothing (and
    results.json records them all the same)."""
    plain = infer_record(type(cfg.infer)())
    given = [f"--{name.replace('_', '-')}" for name, value in infer_record(cfg.infer).items() if value != plain[name]]
    given += ["--engine"] if cfg.engine != "auto" else []
    if not given or "model" in methods:
        return []
    return [f"{', '.join(given)} set how the model runs, and 'model' is not in --methods: they change nothing here"]


def plan(cfg: BenchmarkConfig, out_dir: Path) -> Plan:
    """Check every argument and list the inputs; raises UserError (or NoiseSpecError) with one line."""
    methods, left_out = installed_methods(parse_methods(",".join(cfg.methods or DEFAULT_METHODS.split(","))),
                                          asked=cfg.methods is not None)
    check_device_name(cfg.infer.device)  # checked whichever methods run: results.json records both
    check_engine(cfg.engine)
    for strength in cfg.model_strengths:  # the range `denoise --strength` takes
        check_strength(strength, "--model-strength")
    model_only = [name for name, given in (("--checkpoint", cfg.checkpoints), ("--model-strength", cfg.model_strengths),
                                           ("--model-sigma", cfg.model_sigma)) if given]
    if model_only and "model" not in methods:
        raise UserError(f"{', '.join(model_only)} given but 'model' is not in --methods")
    left_out = [*left_out, *_unused_model_options(cfg, methods)]
    if cfg.noisy_sets and (cfg.noises or cfg.clean_dir is not None):
        raise UserError("--noisy sets hold their own clean/ and noise; give either --noisy SET... or "
                        "--clean DIR with --noise SPEC...")
    specs: dict[str, NoiseSpec | None] = {}
    sources: list[Source] = []
    if cfg.noisy_sets:
        for set_dir in cfg.noisy_sets:
            refuse_output_read_as_a_set(out_dir, set_dir, f"the --noisy set {set_dir}", UserError)
            refuse_output_inside_inputs(out_dir, {f"--noisy {set_dir}'s {half.name}/": half
                                                  for half in halves_of(set_dir)},
                                        why="its crops would be read as the set's images by the next command")
            label, spec, set_sources, set_notes = _synth_set_sources(Path(set_dir))
            left_out = [*left_out, *set_notes]
            if label in specs:
                raise UserError(f"{set_dir}: another --noisy set has the same noise ({label}); "
                                "benchmark them in separate runs")
            specs[label] = spec
            sources += set_sources
    else:
        if cfg.clean_dir is None or not cfg.noises:
            raise UserError("give --clean DIR with one or more --noise SPEC, or --noisy SET (a paired set made by "
                            "`denoise-gan synth`, or a folder with your own clean/ and noisy/ pairs)")
        for text in cfg.noises:
            spec = parse_noise_spec(text)
            specs.setdefault(str(spec), spec)
        named = _clean_sources(Path(cfg.clean_dir), out_dir)
        # image-major, so each clean file is decoded once for all its noise conditions
        sources = [Source(name, label, path, spec=spec) for name, path in named for label, spec in specs.items()]
    if cfg.oracle_sigma:
        # a synthetic set's clean file is the truth its noise was drawn onto, whatever drew it (a spec, a learned
        # or a custom source), so its residual has a std; your own pairs' clean shot holds noise of its own
        for label in (label for label in specs if label.startswith(REAL_PAIRS)):
            raise UserError(f"--oracle-sigma needs the true σ of every image, and {label!r} has none (real pairs "
                            "record no σ); drop --oracle-sigma to estimate σ blind")
        for source in sources:  # a spec's set without its draws: a mixture's part, or its σ, is not known
            if source.spec is None and not source.stages and specs[source.noise] is not None:
                raise UserError(f"{source.noisy_path}: its manifest entry records no noise stages, so "
                                "--oracle-sigma has no true σ for it")
    return Plan(methods, tuple(specs), tuple(sources), tuple(left_out))
