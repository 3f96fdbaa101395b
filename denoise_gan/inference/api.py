"""The Python entry point: ``Denoiser``, one object that loads a model and denoises arrays and tensors.

    from denoise_gan import Denoiser

    den = Denoiser.from_pretrained("default")   # a shipped model's name or a .safetensors path
    out = den(image)                            # blind; den(image, strength=0.5) smooths less

``image`` is a NumPy array (uint8, uint16, or float in [0, 1]; HxW, HxWx1, HxWx3, HxWx4) or a torch tensor
(CxHxW or NxCxHxW, float in [0, 1] or uint8); the result has the input's type, shape, dtype and range.
Alpha is passed through untouched, gray stays gray. Tiling, device, precision and the fp32 redo of a
half-precision NaN are the engine's (``TiledDenoiser``); ``denoise-gan denoise`` runs the same object.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch
from torch import nn

from denoise_gan.config import GeneratorConfig
from denoise_gan.errors import UserError
from denoise_gan.inference.tiling import InferConfig, TiledDenoiser
from denoise_gan.nets.weights import DEFAULT_MODEL, load_denoiser, resolve_weights

if TYPE_CHECKING:
    from rich.console import Console

    from denoise_gan.inference.files import OutputOptions, Summary

Image = TypeVar("Image", np.ndarray, torch.Tensor)

FLOAT_LEVELS = 65535  # float images pass through the engine at 16-bit precision (steps of 1.5e-5)


class Denoiser:
    """A generator with its inference settings; call it on images.

    ``device`` is auto, cpu, cuda or cuda:N; ``tile`` the largest tile side in pixels, 0 for the whole
    image in one pass, or "auto"; ``overlap`` the pixels neighbouring tiles share; ``batch_size`` tiles per
    forward pass; ``precision`` auto (bf16 on CUDA, fp32 on the CPU), fp32, fp16 or bf16. The network is
    placed on the device at the first call.
    """

    def __init__(self, net: nn.Module, *, device: str = "auto", tile: int | str | None = "auto", overlap: int = 32,
                 batch_size: int = 4, precision: str = "auto", config: GeneratorConfig | None = None,
                 meta: dict[str, Any] | None = None, weights: Path | None = None) -> None:
        self.net = net
        self.config = config  # the generator's config, when loaded from a weight file
        self.meta = dict(meta or {})  # the weight file's descriptive metadata
        self.weights = weights  # the weight file it came from, if any
        self.settings = InferConfig(tile=_tile(tile), overlap=overlap, batch_size=batch_size, device=device,
                                    precision=precision)  # validated here: a bad option fails at construction
        self._engines: dict[tuple[float, float | None], TiledDenoiser] = {}

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path = DEFAULT_MODEL, **settings: Any) -> Denoiser:
        """A shipped model by name (``"default"``) or a generator ``.safetensors`` file; ``settings`` are the
        constructor's keywords. A missing, unsafe or mismatched file is a one-line ``WeightsError``."""
        path = resolve_weights(name_or_path)
        net, cfg, meta = load_denoiser(path)
        return cls(net, config=cfg, meta=meta, weights=path, **settings)

    @property
    def level_aware(self) -> bool:
        """Whether the model takes a noise level (``strength``/``sigma``); a blind model refuses both."""
        return bool(getattr(self.net, "level_aware", False))

    @property
    def notes(self) -> list[str]:
        """What the user should know about past calls (tile shrunk after out-of-memory, fp32 redos)."""
        return list(dict.fromkeys(note for engine in self._engines.values() for note in engine.notes))

    def engine(self, strength: float = 1.0, sigma: float | None = None) -> TiledDenoiser:
        """The tiled engine for one noise setting, built once and kept (it holds the resolved tile)."""
        key = (float(strength), None if sigma is None else float(sigma))
        if key not in self._engines:
            cfg = InferConfig(**{**self.settings.__dict__, "strength": key[0], "sigma": key[1]})
            self._engines[key] = TiledDenoiser(self.net, cfg)
        return self._engines[key]

    def __call__(self, image: Image, strength: float = 1.0, sigma: float | None = None) -> Image:
        """The denoised image, with the input's type, shape, dtype (and device, for a tensor).

        ``strength`` scales the model's estimated noise level (below 1 keeps more detail, above 1 smooths
        more); ``sigma`` fixes a uniform noise σ on the 0-255 scale instead. Both need a level-aware model.
        """
        engine = self.engine(strength, sigma)
        if isinstance(image, torch.Tensor):
            return _denoise_tensor(engine, image)
        if isinstance(image, np.ndarray):
            return _denoise_array(engine, image)
        raise UserError(f"expected a NumPy array or a torch tensor, got {type(image).__name__}")

    def denoise_files(self, inputs: Sequence[Path | str], out_dir: Path | str, options: OutputOptions | None = None,
                      *, strength: float = 1.0, sigma: float | None = None, console: Console | None = None) -> Summary:
        """Files and folders into ``out_dir`` (the ``denoise`` command); see ``inference.files.denoise_files``.

        Under torchrun each process loads the weights onto its own GPU, so this needs a Denoiser made by
        ``from_pretrained`` (it knows its weight file).
        """
        from denoise_gan.inference.files import OutputOptions, denoise_files

        if self.weights is None:
            raise UserError("denoise_files needs a Denoiser made by Denoiser.from_pretrained (a weight file)")
        cfg = InferConfig(**{**self.settings.__dict__, "strength": strength, "sigma": sigma})
        return denoise_files(inputs, out_dir, self.weights, options or OutputOptions(), cfg, console=console)

    def __repr__(self) -> str:
        source = self.weights.name if self.weights else type(self.net).__name__
        arch = f" arch={self.config.arch}" if self.config else ""
        return f"Denoiser({source}{arch} level_aware={self.level_aware} device={self.settings.device})"


def _tile(tile: int | str | None) -> int | None:
    if tile is None or (isinstance(tile, str) and tile.strip().lower() == "auto"):
        return None
    if isinstance(tile, str) and tile.strip().isdigit():
        return int(tile)
    if isinstance(tile, int) and not isinstance(tile, bool):
        return tile
    raise UserError(f"tile must be a size in pixels, 0 (whole image) or 'auto', not {tile!r}")


def _denoise_array(engine: TiledDenoiser, image: np.ndarray) -> np.ndarray:
    """uint8/uint16 go straight through the engine; float [0, 1] goes through at 16-bit precision."""
    if image.dtype in (np.uint8, np.uint16):
        return engine(image)
    if not np.issubdtype(image.dtype, np.floating):
        raise UserError(f"expected a uint8, uint16 or float image array, got {image.dtype}")
    pixels = _float_to_uint16(image)
    return (engine(pixels).astype(np.float32) / FLOAT_LEVELS).astype(image.dtype, copy=False)


def _float_to_uint16(image: np.ndarray | torch.Tensor) -> np.ndarray:
    """A float image in [0, 1] as uint16; out-of-range values are clipped (as a file would hold them)."""
    array = image.detach().float().cpu().numpy() if isinstance(image, torch.Tensor) else image
    if array.size and not np.isfinite(array).all():
        raise UserError("the image holds NaN or Inf values")
    wide = np.clip(array, 0.0, 1.0, dtype=np.float64 if array.dtype == np.float64 else np.float32)
    return np.rint(wide * FLOAT_LEVELS).astype(np.uint16)


def _denoise_tensor(engine: TiledDenoiser, image: torch.Tensor) -> torch.Tensor:
    """CxHxW or NxCxHxW (or HxW) tensors, float in [0, 1] or uint8; same dtype and device back."""
    if image.ndim not in (2, 3, 4):
        raise UserError(f"expected an HxW, CxHxW or NxCxHxW tensor, got shape {tuple(image.shape)}")
    if image.dtype == torch.uint8:
        batch = image.detach().cpu().numpy()
        scale = 1.0
    elif image.dtype.is_floating_point:
        batch = _float_to_uint16(image)
        scale = float(FLOAT_LEVELS)
    else:
        raise UserError(f"expected a float tensor in [0, 1] or a uint8 tensor, got {image.dtype}")
    if image.ndim == 2:
        out = engine(batch)
    else:
        planes = batch[None] if image.ndim == 3 else batch
        outs = engine.denoise_many([np.ascontiguousarray(p.transpose(1, 2, 0)) for p in planes])
        out = np.stack([o.transpose(2, 0, 1) for o in outs])
        out = out[0] if image.ndim == 3 else out
    result = torch.from_numpy(np.ascontiguousarray(out))
    result = result.to(torch.float32).div_(scale) if image.dtype.is_floating_point else result
    return result.to(device=image.device, dtype=image.dtype)
