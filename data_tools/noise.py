"""Seeded, composable synthetic noise models and the text spec grammar every command shares.

A spec is one or more stages joined by ``+`` and applied left to right, each ``model:key=value,...``. A value
is a number or a range ``lo-hi`` sampled uniformly per image, e.g. ``gaussian:sigma=5-50+jpeg:quality=60-95``.
Alternatives joined by ``|`` form a mixture: each image gets one of them, drawn with equal probability
(``gaussian:sigma=5-50 | poisson:peak=10-100``). Intensities (σ) are on the 0–255 scale whatever the file's bit
depth, so one spec means the same visual noise on 8-bit and 16-bit images.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from data_tools.camera import camera_noise, camera_variance
from data_tools.checks import noise_image, whole_number
from data_tools.errors import DataError
from data_tools.image_encode import JPEG_MAX_SIDE
from data_tools.images import split_alpha, to_dtype
from data_tools.shown_values import shown_repr


class NoiseSpecError(DataError):
    """A spec that does not parse; the message is one line and lists what is valid."""


@dataclass(frozen=True)
class ParamRange:
    """A parameter that is either fixed (lo == hi) or drawn uniformly per image."""

    lo: float
    hi: float

    def draw(self, rng: np.random.Generator) -> float:
        return self.lo if self.lo == self.hi else float(rng.uniform(self.lo, self.hi))

    def __str__(self) -> str:
        return _fmt(self.lo) if self.lo == self.hi else f"{_fmt(self.lo)}-{_fmt(self.hi)}"


def _fmt(value: float) -> str:
    """The shortest text that parses back to exactly this value, without an exponent (whose '-' would read as a
    range): a spec printed into a manifest must reproduce the same noise when parsed again."""
    if float(value).is_integer():
        return str(int(value))
    return np.format_float_positional(float(value), trim="-")


# ---- the models: each takes a float image on the 0–255 scale and returns one ---------------------

def _gaussian(img: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    return img + rng.standard_normal(img.shape, dtype=np.float32) * np.float32(sigma)


def _poisson(img: np.ndarray, rng: np.random.Generator, peak: float) -> np.ndarray:
    # peak = expected photon count at full white: lower peak, darker scene, stronger shot noise.
    lam = np.clip(img, 0, None) * (peak / 255.0)
    return (rng.poisson(lam).astype(np.float32) * np.float32(255.0 / peak))


def _poisson_gaussian(img: np.ndarray, rng: np.random.Generator, peak: float, sigma: float) -> np.ndarray:
    return _gaussian(_poisson(img, rng, peak), rng, sigma)


def _speckle(img: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    # multiplicative: sigma is the relative standard deviation (0.1 = 10 % of the intensity)
    return img * (1.0 + rng.standard_normal(img.shape, dtype=np.float32) * np.float32(sigma))


def _salt_pepper(img: np.ndarray, rng: np.random.Generator, amount: float, salt: float) -> np.ndarray:
    out = img.copy()
    hit = rng.random(img.shape[:2]) < amount
    white = rng.random(img.shape[:2]) < salt
    out[hit & white] = 255.0
    out[hit & ~white] = 0.0
    return out




def _jpeg(img: np.ndarray, rng: np.random.Generator, quality: float) -> np.ndarray:
    del rng  # deterministic given the quality
    if max(img.shape[:2]) > JPEG_MAX_SIDE:
        raise DataError(f"{img.shape[1]}x{img.shape[0]} is too large for the jpeg noise stage (at most "
                         f"{JPEG_MAX_SIDE} px a side, libjpeg's limit)")
    u8 = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", _to_bgr(u8), [cv2.IMWRITE_JPEG_QUALITY, int(round(quality))])
    if not ok:  # pragma: no cover - OpenCV encodes every uint8 array within its side limit
        raise RuntimeError("JPEG encoding failed")
    decoded = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return _from_bgr(decoded, img.shape).astype(np.float32)


def _correlated(img: np.ndarray, rng: np.random.Generator, sigma: float, scale: float) -> np.ndarray:
    # White noise blurred by a Gaussian of std `scale` px, rescaled so each pixel's σ stays `sigma`:
    # what demosaicing or in-camera denoising leaves behind. The blur's reflected border reuses samples, so
    # pixels near an edge (all of them on a small image or at a large scale) get more variance than the middle:
    # each pixel is divided by its own σ, computed from the kernel, not by one measured gain.
    white = rng.standard_normal(img.shape, dtype=np.float32)
    blurred = cv2.GaussianBlur(white, (0, 0), sigmaX=scale, borderType=cv2.BORDER_REFLECT)
    blurred = blurred.reshape(img.shape)
    h, w = img.shape[:2]
    spread = np.sqrt(np.outer(_blur_power(h, scale), _blur_power(w, scale))).astype(np.float32)
    return img + blurred / spread.reshape(h, w, *([1] * (img.ndim - 2))) * np.float32(sigma)


def _gaussian_kernel(scale: float) -> np.ndarray:
    """The 1-D kernel cv2.GaussianBlur uses on float32 images for ``ksize=(0, 0)`` (it spans ±4 σ)."""
    return cv2.getGaussianKernel(int(round(scale * 8 + 1)) | 1, scale, cv2.CV_32F)[:, 0].astype(np.float64)


def _reflect(index: np.ndarray, n: int) -> np.ndarray:
    """OpenCV's BORDER_REFLECT (fedcba|abcdefgh|hgfedcb), repeated for offsets past the far side."""
    if n == 1:
        return np.zeros_like(index)
    folded = np.mod(index, 2 * n)
    return np.where(folded < n, folded, 2 * n - 1 - folded)


@functools.lru_cache(maxsize=64)
def _blur_power(n: int, scale: float) -> np.ndarray:
    """Per position along a side of ``n`` px, the variance unit white noise has after the 1-D blur with
    reflected borders: the sum of squared weights, where a sample the border reflects counts once with its
    weights added."""
    kernel = _gaussian_kernel(scale)
    radius = len(kernel) // 2
    power = np.full(n, np.sum(kernel**2))
    offsets = np.arange(-radius, radius + 1)
    for i in sorted(set(range(min(radius, n))) | set(range(max(n - radius, 0), n))):
        _, source = np.unique(_reflect(i + offsets, n), return_inverse=True)
        power[i] = np.sum(np.bincount(source, weights=kernel) ** 2)
    return power


def _to_bgr(u8: np.ndarray) -> np.ndarray:
    if u8.ndim == 3 and u8.shape[2] == 3:
        return u8[..., ::-1]
    return u8[..., 0] if u8.ndim == 3 else u8


def _from_bgr(decoded: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if decoded.ndim == 3:
        decoded = decoded[..., ::-1]
    return decoded.reshape(shape)


# ---- the per-pixel variance each model adds (0-255 scale), for level maps ----------------------------

def _gaussian_var(x: np.ndarray, sigma: float, **_: float) -> np.ndarray:
    return np.full_like(x, sigma**2)


def _poisson_var(x: np.ndarray, peak: float, **_: float) -> np.ndarray:
    return np.clip(x, 0, None) * (255.0 / peak)


def _poisson_gaussian_var(x: np.ndarray, peak: float, sigma: float, **_: float) -> np.ndarray:
    return _poisson_var(x, peak) + sigma**2


def _speckle_var(x: np.ndarray, sigma: float, **_: float) -> np.ndarray:
    return (x * sigma) ** 2


def _salt_pepper_var(x: np.ndarray, amount: float, salt: float = 0.5, **_: float) -> np.ndarray:
    return amount * (salt * (255.0 - x) ** 2 + (1 - salt) * x**2)


def _no_random_var(x: np.ndarray, **_: float) -> np.ndarray:
    """JPEG: its error is deterministic given the image, so it adds no random noise to the level."""
    return np.zeros_like(x)


@dataclass(frozen=True)
class SpecModel:
    """One model of the spec grammar (its parameters, limits, draw and variance); the learned noise model is
    ``denoise_gan.NoiseModel``, a different thing. What each model means is said once, in the README's noise
    table (a test holds it to MODELS); a wrong spec's error lists the models with their parameters."""

    name: str
    params: tuple[str, ...]
    defaults: dict[str, float]
    limits: dict[str, tuple[float, float]]
    fn: Callable[..., np.ndarray]
    variance: Callable[..., np.ndarray] = _no_random_var  # per-pixel σ² it adds, given the clean image (0-255)
    whole: tuple[str, ...] = ()  # parameters its encoder takes as whole numbers: refused otherwise, drawn as such
    clipped_input: bool = False  # an encoder that only sees a valid image: the stages before it are clipped to 0-255


MODELS: dict[str, SpecModel] = {
    m.name: m
    for m in [
        SpecModel("gaussian", ("sigma",), {}, {"sigma": (0, 255)}, _gaussian, _gaussian_var),
        SpecModel("poisson", ("peak",), {}, {"peak": (0.01, 1e6)}, _poisson, _poisson_var),
        SpecModel("poisson-gaussian", ("peak", "sigma"), {}, {"peak": (0.01, 1e6), "sigma": (0, 255)},
                   _poisson_gaussian, _poisson_gaussian_var),
        SpecModel("speckle", ("sigma",), {}, {"sigma": (0, 10)}, _speckle, _speckle_var),
        SpecModel("salt-pepper", ("amount", "salt"), {"salt": 0.5}, {"amount": (0, 1), "salt": (0, 1)},
                   _salt_pepper, _salt_pepper_var),
        SpecModel("jpeg", ("quality",), {}, {"quality": (1, 100)}, _jpeg, whole=("quality",), clipped_input=True),
        SpecModel("correlated", ("sigma", "scale"), {"scale": 1.0}, {"sigma": (0, 255), "scale": (0.3, 20)},
                   _correlated, _gaussian_var),
        SpecModel("camera", ("peak", "read"), {"read": 2.0}, {"peak": (1, 1e6), "read": (0, 1000)}, camera_noise,
                   camera_variance),
    ]
}


def valid_models_text() -> str:
    return "; ".join(
        f"{m.name}:" + ",".join(f"{p}={_fmt(m.defaults[p])}" if p in m.defaults else f"{p}=N" for p in m.params)
        for m in MODELS.values()
    )


@dataclass(frozen=True)
class NoiseStage:
    model: str
    params: dict[str, ParamRange] = field(hash=False)

    def __str__(self) -> str:
        return f"{self.model}:" + ",".join(f"{k}={v}" for k, v in self.params.items())


def _drawn(value: ParamRange, rng: np.random.Generator, whole: bool) -> float:
    """A parameter drawn as the model uses it: a ``whole`` one (a JPEG quality) is a whole number to the
    encoder, so a range of qualities draws each whole number in it equally often (rounding a real draw would
    give its two ends half a share each), and the manifest records the whole number the encoder used. (The
    recorded stages name the values drawn; it is the run's spec with the image's seed that makes the file again:
    with the same seed a fixed spec draws no parameters, so its noise comes from another point of the random
    stream.)"""
    if whole:
        return int(value.lo) if value.lo == value.hi else int(rng.integers(int(value.lo), int(value.hi) + 1))
    return value.draw(rng)


@dataclass(frozen=True)
class NoiseSpec:
    """A parsed spec: call ``apply`` with an image and a seed.

    ``chains`` are alternatives (``|`` in the text), one drawn per image with equal probability; each
    chain is stages (``+``) applied left to right. A plain spec is one chain.
    """

    chains: tuple[tuple[NoiseStage, ...], ...]

    def __str__(self) -> str:
        return " | ".join("+".join(str(s) for s in chain) for chain in self.chains)

    def draw(self, rng: np.random.Generator) -> tuple[tuple[NoiseStage, ...], list[dict[str, float]]]:
        chain = self.chains[int(rng.integers(len(self.chains)))] if len(self.chains) > 1 else self.chains[0]
        return chain, [{k: _drawn(r, rng, k in MODELS[s.model].whole) for k, r in s.params.items()} for s in chain]

    def apply(self, image: np.ndarray, seed: int) -> tuple[np.ndarray, list[dict]]:
        """Noisy copy of a uint8/uint16 image (HxW or HxWxC), same dtype, clipped and rounded.

        Returns the image and the parameters drawn for each stage, for the manifest. An alpha channel
        (the 4th of RGBA, the 2nd of gray+alpha) is passed through untouched.
        """
        pixels = noise_image(image)
        rng = np.random.default_rng(whole_number(seed, "seed"))
        chain, drawn = self.draw(rng)
        scale = 255.0 / float(np.iinfo(pixels.dtype).max)
        color, alpha = split_alpha(pixels)
        x = _run_chain(chain, color.astype(np.float32) * np.float32(scale), rng, drawn)
        out = to_dtype(x / np.float32(scale), pixels.dtype)
        if alpha is not None:
            out = np.concatenate([out, alpha], axis=-1)
        return out.astype(image.dtype, copy=False), [{"model": s.model, **p} for s, p in zip(chain, drawn)]


def _run_chain(chain: tuple[NoiseStage, ...], x: np.ndarray, rng: np.random.Generator,
               drawn: list[dict[str, float]]) -> np.ndarray:
    for i, (stage, params) in enumerate(zip(chain, drawn)):
        model = MODELS[stage.model]
        if model.clipped_input and i > 0:
            x = np.clip(x, 0, 255)  # an encoder (JPEG's) only ever sees a valid image
        x = model.fn(x, rng, **params)
    return x


def parse_noise_spec(text: str) -> NoiseSpec:
    """Parse ``model:key=value,...[+model:...][ | ...]``; raise NoiseSpecError with a one-line message."""
    if text is not None and not isinstance(text, str):
        raise NoiseSpecError(f"a noise spec is text such as 'gaussian:sigma=25', not {type(text).__name__}")
    text = (text or "").strip()
    if not text:
        raise NoiseSpecError(f"empty noise spec; valid models: {valid_models_text()}")
    shown = shown_repr(text, SHOWN_SPEC)  # once: a long spec's every alternative would repeat its repr
    return NoiseSpec(tuple(_parse_chain(alt, shown) for alt in text.split("|")))


SHOWN_SPEC = 120  # characters of a spec an error quotes: a pasted file's worth would fill the terminal


def _parse_chain(chain_text: str, text: str) -> tuple[NoiseStage, ...]:
    """One alternative's stages; ``text`` is the whole spec as a refusal quotes it."""
    stages = []
    signs = re.sub(r"(?<=[=-])\s+(?=\+)", "", chain_text)  # "sigma= +5", "5 -  +50": spaces before a sign
    for part in re.split(r"(?<![0-9.][eE])(?<![=-])\+", signs):  # a + after 2.5e, = or - is a sign
        part = part.strip()
        name, _, arg_text = part.partition(":")
        name = name.strip().lower()
        if (model := MODELS.get(name)) is None:
            what = (f"unknown noise model {shown_repr(name)}" if part
                    else "an empty stage (a '+' or '|' with no model beside it)")
            raise NoiseSpecError(f"{what} in {text}; valid models: {valid_models_text()}")
        values: dict[str, ParamRange] = {}
        for item in filter(None, (a.strip() for a in arg_text.split(","))):
            key, eq, raw = item.partition("=")
            key = key.strip().lower()
            if not eq and key in model.params:  # "gaussian:sigma" was told that gaussian takes sigma
                raise NoiseSpecError(f"{name}: {key} has no value in {text}; write {key}=VALUE (valid models: "
                                     f"{valid_models_text()})")
            if not eq or key not in model.params:
                raise NoiseSpecError(
                    f"bad parameter {shown_repr(item)} for {name}; it takes {', '.join(model.params)}"
                    f" (valid models: {valid_models_text()})")
            if key in values:
                raise NoiseSpecError(f"{name}: {key} is given twice in {text}; give each parameter once"
                                     f" (valid models: {valid_models_text()})")
            values[key] = _parse_range(raw.strip(), key, name, model.limits[key], key in model.whole)
        for key in model.params:
            if key not in values:
                if key not in model.defaults:
                    raise NoiseSpecError(f"{name} needs {key}=..., e.g. {name}:" + ",".join(
                        f"{p}=N" for p in model.params) + f" (valid models: {valid_models_text()})")
                values[key] = ParamRange(model.defaults[key], model.defaults[key])
        stages.append(NoiseStage(name, {k: values[k] for k in model.params}))
    return tuple(stages)


def _parse_range(raw: str, key: str, model: str, limits: tuple[float, float], whole: bool) -> ParamRange:
    # a number (1e-1 and 5e+2 included; no parameter accepts a negative one), or two joined by '-'; each
    # run of digits matches one way only (`\d+\.?\d*` split a long one every way: minutes to refuse 2,000 digits)
    number = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|nan)"
    match = re.fullmatch(rf"\s*({number})\s*(?:-\s*({number})\s*)?", raw, flags=re.IGNORECASE | re.ASCII)
    if match is None:
        raise NoiseSpecError(f"{model}: {key}={shown_repr(raw)} is not a number or a range like 5-50"
                             f" (valid models: {valid_models_text()})")
    lo = float(match.group(1))
    hi = float(match.group(2)) if match.group(2) is not None else lo
    if not all(math.isfinite(v) for v in (lo, hi)) or lo > hi:
        raise NoiseSpecError(f"{model}: {key}={shown_repr(raw)} must be finite with low <= high"
                             f" (valid models: {valid_models_text()})")
    if lo < limits[0] or hi > limits[1]:
        raise NoiseSpecError(f"{model}: {key}={shown_repr(raw)} is outside {_fmt(limits[0])}..{_fmt(limits[1])}"
                             f" (valid models: {valid_models_text()})")
    if whole and not (lo.is_integer() and hi.is_integer()):  # an encoder setting: whole numbers only
        raise NoiseSpecError(f"{model}: {key}={shown_repr(raw)} must be a whole number (or a range of them)"
                             f" (valid models: {valid_models_text()})")
    return ParamRange(lo, hi)


def image_seed(seed: int, name: str) -> int:
    """A per-image seed from the run seed and the file's name: independent of order and of other files. The
    name's bytes are hashed (a name that is not UTF-8 keeps its own bytes), so no two names share a seed."""
    try:
        raw = name.encode("utf-8", "surrogateescape")  # os.fsencode's bytes for a file name
    except UnicodeEncodeError:  # a surrogate no file name holds
        raw = name.encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(f"{seed}:".encode() + raw).digest()
    return int.from_bytes(digest[:8], "little") >> 1
