"""A learned noise model (F, clean -> noisy) as one object, beside ``Denoiser``: seeded synthetic noise.

    from denoise_gan import NoiseModel

    f = NoiseModel.from_pretrained("default-F")   # a shipped name, an F .safetensors file or a run/adapt folder
    noisy = f(clean, seed=1)                      # same type, shape and dtype as clean

``clean`` is a NumPy array, uint8, uint16 or float in [0, 1] (float goes through at 16-bit precision), HxW,
HxWx1, HxWx3 or HxWx4, or a PIL image (``inference.pixels``); alpha is passed through, gray gets gray noise (the
same in every channel, as F draws it for a gray photo copied to colour). The result is clipped and rounded to
the input's dtype, as a file holds it.

Reproducible: the per-image level v and the Gaussian field z are drawn from a CPU ``torch.Generator`` seeded by
``seed``, so a seed gives the same bytes on every run (on the same device and engine). That generator keeps a seed's
low 32 bits: kept, since a 64-bit draw would change every set and figure made so far (see the README). The image is
reflect-padded to the network's stride and cropped back; a large image runs in tiles whose margins cover the
network's receptive field (each tile sees the same z and v, so the result matches one pass to float rounding).
On the CPU, F's deterministic part (its U-Net: the scale and shift maps, nearly all the work) runs on ONNX
Runtime when it is installed (``engine="auto"``), measured about twice as fast as torch there; the draws and
the noise's composition stay F's own torch code. It is also a
``data_tools.noise_source.NoiseSource``: ``apply(pixels, seed)`` returns the noisy image and what was drawn, and
``manifest()`` records the weight file and its sha256, so ``synth --noise-model`` writes a reproducible set.
"""

from __future__ import annotations

import hashlib
import math
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from data_tools.checks import noise_image, whole_number
from data_tools.file_digest import file_sha256
from data_tools.images import split_alpha, to_dtype
from data_tools.noise_source import LEARNED_PREFIX
from data_tools.paths import real_path
from denoise_gan.config import GeneratorConfig
from denoise_gan.config_json import to_dict
from denoise_gan.errors import UserError, WeightsError, first_line, is_out_of_memory, typed_line
from denoise_gan.extras import installed, require
from denoise_gan.inference.api_words import worded
from denoise_gan.inference.engine_choice import check_engine
from denoise_gan.inference.infer_config import tile_size
from denoise_gan.inference.noise_model_files import refuse_denoiser, resolve_noise_model, shipped_noise_model
from denoise_gan.inference.noise_model_onnx import OnnxScaleShift
from denoise_gan.inference.pixels import is_pil_image, plain_image, through_file_dtype, through_pil
from denoise_gan.inference.tile_grid import reflect_index, round_up
from denoise_gan.nets.run_state import unfinished_note
from denoise_gan.nets.shipped import (
    shadowed_note,
)
from denoise_gan.nets.weight_header import looks_like_pickle, not_safetensors, read_weight_bytes
from denoise_gan.runtime import autocast

if TYPE_CHECKING:
    import torch
    from torch import nn

CALL_SEED_BITS = 32  # torch's CPU generator keeps a seed's low 32 bits
TILE = 1024  # the largest side F sees in one pass; beyond it, tiles (memory stays bounded)


class NoiseModel:
    """A noise generator F on a device; call it on clean images with a seed (see the module doc).

    ``net`` is a ``NoiseGenerator`` (``sample(x, z, v) -> (noisy, level)``, ``channels``, ``stride``); ``tile``
    the largest side one pass sees (0: always the whole image; ``"auto"``: the default), as ``Denoiser`` takes it.
    """

    def __init__(self, net: nn.Module, *, config: GeneratorConfig | None = None, meta: dict[str, Any] | None = None,
                 weights: Path | None = None, device: str = "cpu", tile: int | str = TILE,
                 engine: str = "auto") -> None:
        import torch

        from denoise_gan.nets.generators import NoiseGenerator
        from denoise_gan.runtime import one_thread_in_forked_children, resolve_device

        if not isinstance(getattr(net, "_orig_mod", net), NoiseGenerator):  # torch.compile(F) wraps an F
            # a denoiser G would fail at the first image, inside its sampling
            raise UserError(f"expected a noise model F (a NoiseGenerator: clean->noisy), got {type(net).__name__}; "
                            "NoiseModel.from_pretrained loads one from a file")
        size = tile_size(tile, denoiser=False)  # Denoiser's rule: a tile of 8 px spent 40 times the work on margins
        tile = TILE if size is None else size
        engine = check_engine(engine)
        self.config = config
        self.meta = dict(meta or {})
        # absolute: a host that changes its working folder records and hashes the same file in a set's manifest
        self.weights = None if weights is None else Path(weights).absolute()
        self.notes: list[str] = []  # what a user should know of this F (a run folder's F of a run not ended)
        self.device = resolve_device(device)
        one_thread_in_forked_children()  # its draws run on torch on either engine, in a pool's forked workers too
        self.net = net.to(self.device, dtype=torch.float32).eval()  # whatever torch's default dtype was
        self.engine = _engine(engine, self.device.type)
        if self.engine == "onnxruntime":
            try:
                self._scale_shift = OnnxScaleShift(self.net)
            except Exception as exc:  # noqa: BLE001 - auto falls back to torch; an explicit choice says why not
                if engine != "auto":
                    raise UserError(f"cannot run the noise model on ONNX Runtime ({typed_line(exc)}); use engine "
                                    "torch") \
                        from None
                self.engine = "torch"
        if self.engine == "torch" and self.device.type == "cpu":
            self.net = self.net.to(memory_format=torch.channels_last)  # measured ~25 % faster on the CPU
        self.channels = int(net.channels)
        self.stride = int(net.stride)
        self.tile = tile if tile == 0 else max(self.stride, tile // self.stride * self.stride)
        self.margin = round_up(receptive_radius(net, config) + self.stride, self.stride)

    @classmethod
    @worded
    def from_pretrained(cls, name_or_path: str | Path | None = None, *, device: str = "cpu",
                        threads: int = 0, tile: int | str = TILE, engine: str = "auto") -> NoiseModel:
        """A shipped noise model by name (``default-F``; None, that one), an F ``.safetensors`` file or a folder holding
        ``F.safetensors``. A missing or unsafe file, or a denoiser G, is a one-line ``WeightsError``.
        ``engine``: auto (ONNX Runtime for the U-Net on the CPU when installed, else torch), torch or
        onnxruntime (CPU only); ``threads`` the CPU threads (0: the runtime's default), torch's setting for the
        whole process on either engine (F's seeded draws run on torch)."""
        # one line, not an ImportError, in the words of the command line and of the API
        require("torch", "a learned noise model (synth --noise-model, noise-fit --model, NoiseModel)")
        from denoise_gan.nets.weights import load_generator
        from denoise_gan.runtime import set_threads

        set_threads(threads)
        path = resolve_noise_model(name_or_path)
        data = read_weight_bytes(path)  # read once: the sha256 a manifest records is of the weights loaded
        if looks_like_pickle(data[:8]):  # named as a noise model's (the denoiser's advice, to export it, gives a G)
            raise not_safetensors(path, data[:8], "noise model")
        net, cfg, meta = load_generator(path, data=data)
        refuse_denoiser(path, cfg, meta)
        model = cls(net, config=cfg, meta=meta, weights=path, device=device, tile=tile, engine=engine)
        model.__dict__["sha256"] = hashlib.sha256(data).hexdigest()  # fills the cached property below
        shipped = shipped_noise_model(name_or_path) if isinstance(name_or_path, str) else None
        model.notes += [note for note in (shadowed_note(name_or_path, shipped, "noise model") if shipped else "",
                                          unfinished_note(path)) if note]
        return model

    @cached_property
    def sha256(self) -> str | None:
        """The weight file's sha256 (None for a network given directly): of the bytes loaded, for a model that
        ``from_pretrained`` read, so a file replaced since (a run still writing it) is not recorded for them."""
        return file_sha256(self.weights) if self.weights is not None else None

    def __str__(self) -> str:
        source = self.weights.name if self.weights is not None else type(self.net).__name__
        digest = f" sha256:{self.sha256[:16]}" if self.sha256 else ""
        return f"{LEARNED_PREFIX}{source}{digest}"

    def __repr__(self) -> str:
        arch = f" arch={self.config.arch}" if self.config else ""
        return f"NoiseModel({self}{arch} device={self.device} engine={self.engine})"

    def manifest(self) -> dict[str, Any]:
        """What a synthetic set's manifest records of this model, so the set can be made again."""
        return {"kind": "learned", "file": str(real_path(self.weights)) if self.weights else None,
                "sha256": self.sha256, "config": to_dict(self.config) if self.config else None,
                "role": self.meta.get("role"), "device": str(self.device), "engine": self.engine,
                "draws": "per image: v = torch.rand(1) then z = torch.randn(stride-padded shape) from "
                         "torch.Generator('cpu').manual_seed(image seed)"}

    # ---- the NoiseSource protocol -----------------------------------------------------------------

    def apply(self, image: np.ndarray, seed: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Noisy copy of a uint8/uint16 image (HxW or HxWxC, alpha passed through), same dtype, clipped and
        rounded; and what was drawn: the level quantile ``v`` and the mean noise σ F used (0-255 scale)."""
        pixels = noise_image(image, UserError)
        colour, alpha = split_alpha(pixels)
        planes = colour if colour.ndim == 3 else colour[..., None]
        maxval = float(np.iinfo(pixels.dtype).max)
        noisy, level, v = self.sample(planes.astype(np.float32) / np.float32(maxval), seed)
        out = to_dtype(noisy * np.float32(maxval), pixels.dtype).reshape(colour.shape)
        if alpha is not None:
            out = np.concatenate([out, alpha], axis=-1)
        return out.astype(image.dtype, copy=False), [{"model": "noise-model", "v": v,
                                                      "sigma_mean": float(level.mean()) * 255.0}]

    # ---- the Denoiser-like call ---------------------------------------------------------------------

    @worded
    def __call__(self, image: Any, seed: int = 0) -> Any:
        """The noisy image, with the input's type, shape and dtype: ``image`` a NumPy array (uint8, uint16 or float in
        [0, 1]; HxW or HxWxC, C 1-4, RGB order) or a PIL image (L, LA, RGB, RGBA, I;16). ``seed`` runs to 2**32 - 1:
        F's generator keeps a seed's low 32 bits, so a larger one would draw a smaller one's noise unsaid."""
        seed = whole_number(seed, "seed", error=UserError, bits=CALL_SEED_BITS,
                            why=" (a learned noise model's generator keeps a seed's low 32 bits)")
        if is_pil_image(image):
            return through_pil(image, lambda pixels: self(pixels, seed))
        if not isinstance(image, np.ndarray):
            raise UserError(f"expected a NumPy array or a PIL image, got {type(image).__name__}")
        return through_file_dtype(plain_image(image), lambda pixels: self.apply(pixels, seed)[0])

    # ---- the network ----------------------------------------------------------------------------------

    def sample(self, planes: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
        """(noisy, level map, v) for an HxWxC float image in [0, 1]: noisy unclipped, level the per-pixel σ F
        used (both HxWxC float32, [0, 1] scale), v the level quantile drawn."""
        import torch

        seed = whole_number(seed, "seed", error=UserError)
        if planes.ndim != 3:
            raise UserError(f"expected an HxWxC float image, got shape {planes.shape}")
        if not np.issubdtype(planes.dtype, np.floating):
            raise UserError(f"sample takes a float image in [0, 1], not {planes.dtype}; call the model itself on a "
                            "uint8/uint16 image")
        if planes.size and not (np.isfinite(planes).all() and planes.min() >= 0.0 and planes.max() <= 1.0):
            raise UserError("sample takes a float image in [0, 1]; this one holds values outside it (or NaN/Inf)")
        h, w, c = planes.shape
        if c not in (1, 3):
            raise UserError(f"the noise model takes gray or RGB images, not {c} colour channels")
        generator = torch.Generator(device="cpu").manual_seed(seed)
        v = torch.rand((), generator=generator, dtype=torch.float32)  # the stream a seed names, any default dtype
        x = torch.from_numpy(np.ascontiguousarray(planes.transpose(2, 0, 1), dtype=np.float32))[None]  # 1, C, H, W
        gray = c == 1 and self.channels > 1
        # a gray photo stored as colour, to a gray-only F: one gray draw for every plane, as a colour F gives it
        stored_gray = c > self.channels == 1 and all(np.array_equal(planes[..., 0], planes[..., k]) for k in range(c))
        if gray:  # F's own rule: a gray photo copied to colour gets the same noise in every channel
            x = x.expand(-1, self.channels, -1, -1)
        elif stored_gray:
            x = x[:, :1]
        elif c != self.channels:  # a gray-only F on a colour image: each plane in turn, one level for all
            x = x.transpose(0, 1)  # C, 1, H, W
        hp, wp = round_up(h, self.stride), round_up(w, self.stride)
        x = x[:, :, reflect_index(hp, h)][:, :, :, reflect_index(wp, w)]
        z = torch.randn(x.shape, generator=generator, dtype=torch.float32)
        noisy, level = self._run(x, z, v.expand(x.shape[0], 1, 1, 1))
        noisy, level = noisy[:, :, :h, :w], level[:, :, :h, :w]
        if gray:
            noisy, level = noisy[:, :1], level[:, :1]
        elif stored_gray:
            noisy, level = noisy.expand(-1, c, -1, -1), level.expand(-1, c, -1, -1)
        elif c != self.channels:
            noisy, level = noisy.transpose(0, 1), level.transpose(0, 1)
        if not (torch.isfinite(noisy).all() and torch.isfinite(level).all()):  # finite weights that overflow
            raise WeightsError(f"{self.weights or type(self.net).__name__}: the noise model's noise is not finite "
                               "on this image (a diverged or damaged model)")
        return (np.ascontiguousarray(noisy[0].numpy().transpose(1, 2, 0)),
                np.ascontiguousarray(level[0].numpy().transpose(1, 2, 0)), float(v))

    def _run(self, x: torch.Tensor, z: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """F.sample over stride-padded NCHW tensors, whole or in tiles with margins (cores pasted, no blend)."""
        import torch

        n, c, hp, wp = x.shape
        noisy = torch.empty_like(x)
        level = torch.empty_like(x)
        # the photo's gray rule, not each tile's; compared plane by plane (no copy of a large photo)
        gray = torch.tensor([all(torch.equal(x[i, 0], x[i, k]) for k in range(1, c)) for i in range(n)],
                            device=self.device).view(n, 1, 1, 1)
        # channels_last on the CPU: torch's convolutions there (the noise kernel's depthwise one above all, 6x) are
        # faster; ONNX Runtime gets a plain copy of x
        fmt = torch.channels_last if self.device.type == "cpu" else torch.contiguous_format
        rows, cols = _spans(hp, self.tile, self.margin, self.stride), _spans(wp, self.tile, self.margin, self.stride)
        try:
            with torch.inference_mode(), autocast(self.device, None):  # fp32 under a caller's autocast too
                for (y0, y1, ty0, ty1), (x0, x1, tx0, tx1) in ((a, b) for a in rows for b in cols):
                    xt = x[:, :, ty0:ty1, tx0:tx1].to(self.device).contiguous(memory_format=fmt)
                    zt = z[:, :, ty0:ty1, tx0:tx1].to(self.device).contiguous(memory_format=fmt)
                    maps = self._scale_shift(xt) if self.engine == "onnxruntime" else None
                    out, lev = self.net.sample(xt, zt, v.to(self.device), maps=maps, gray=gray)
                    noisy[:, :, y0:y1, x0:x1] = out[:, :, y0 - ty0:y1 - ty0, x0 - tx0:x1 - tx0].float().cpu()
                    level[:, :, y0:y1, x0:x1] = lev[:, :, y0 - ty0:y1 - ty0, x0 - tx0:x1 - tx0].float().cpu()
        except Exception as exc:  # the CPU's memory ran out (a `ulimit -v`): a tile that fits would change
            # the bytes a seed gives, so it is the user's one-line out-of-memory error, not a retry
            if isinstance(exc, MemoryError) or not is_out_of_memory(exc):
                raise
            raise MemoryError(first_line(exc)) from None
        return noisy, level

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (a DataLoader worker started by spawn gets a copy): the ONNX Runtime session is made again."""
        state = dict(self.__dict__)
        state.pop("_scale_shift", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self.engine == "onnxruntime":
            self._scale_shift = OnnxScaleShift(self.net)


def _engine(name: str, device_type: str) -> str:
    """The engine for F's U-Net: ONNX Runtime on the CPU when installed (auto), else torch."""
    if name == "onnxruntime" and device_type != "cpu":
        raise UserError("the onnxruntime engine runs the noise model on the CPU only; use device cpu or engine torch")
    if name == "auto":
        return "onnxruntime" if device_type == "cpu" and installed("onnxruntime") else "torch"
    if name == "onnxruntime":
        require("onnxruntime", "the onnxruntime engine")
    return name


def _spans(length: int, tile: int, margin: int, stride: int) -> list[tuple[int, int, int, int]]:
    """Along one padded axis: (core start, core end, tile start, tile end) per tile. Cores split the axis into
    equal stride-multiple parts of at most ``tile``; each tile adds ``margin`` on sides that have a neighbour.
    All starts are stride multiples, so every tile downsamples on the whole image's grid."""
    if tile == 0 or length <= tile:
        return [(0, length, 0, length)]
    count = math.ceil(length / tile)
    core = round_up(math.ceil(length / count), stride)
    spans = []
    for start in range(0, length, core):
        end = min(length, start + core)
        spans.append((start, end, max(0, start - margin), min(length, end + margin)))
    return spans


def receptive_radius(net: Any, config: GeneratorConfig | None) -> int:
    """How far (pixels) a change in the input can move F's output: its U-Net's convolutions at each scale
    (3x3: one pixel of that scale, per conv), the upsampling's nearest-neighbour offset, and the noise kernel.
    An upper bound, so tiles with this margin match one whole-image pass."""
    backbone = getattr(net, "backbone", None)  # the U-Net itself says its depth and blocks, config or not
    if backbone is not None and hasattr(backbone, "downs") and hasattr(backbone, "middle"):
        depth, blocks = len(backbone.downs), len(backbone.middle)
    else:
        depth = int(getattr(config, "depth", 0) or 0) or max(0, int(round(math.log2(max(1, int(net.stride))))))
        blocks = int(getattr(config, "blocks", 0) or 0) or 2
    radius = 2  # head and tail convs, full resolution
    for level in range(depth):
        scale = 2**level
        radius += 2 * blocks * scale * 2  # encoder and decoder residual blocks (two convs each)
        radius += scale  # the stride-2 conv down
        radius += scale + 2 * scale  # the conv after the upsample, and nearest-neighbour's offset
    radius += 2 * blocks * 2**depth  # the middle blocks
    kernel = getattr(net, "kernel", None)
    radius += int(kernel.shape[-1]) // 2 if kernel is not None else 0
    return radius
