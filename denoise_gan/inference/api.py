"""The Python entry point: ``Denoiser``, one object that loads a model and denoises arrays and tensors.

    from denoise_gan import Denoiser

    den = Denoiser.from_pretrained("default")   # a shipped model's name or a .safetensors path
    out = den(image)                            # blind; den(image, strength=0.5) smooths less

``image`` is a NumPy array (uint8, uint16, or float in [0, 1]; HxW, HxWx1, HxWx3, HxWx4), a torch tensor
(CxHxW or NxCxHxW, float in [0, 1] or uint8) or a PIL image (``inference.pixels``); the result has the input's
type, shape, dtype and range.
Alpha is passed through (a float one clipped to [0, 1]), gray stays gray. Tiling, device, precision and the
fp32 redo of a half-precision NaN are the engine's (``TiledDenoiser``); ``denoise-gan denoise`` runs the same
object.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from data_tools.channels import has_alpha
from data_tools.paths import home_expanded
from data_tools.shown_values import shown_repr
from denoise_gan.config import GeneratorConfig
from denoise_gan.config_json import from_dict
from denoise_gan.errors import UserError
from denoise_gan.inference.api_words import SETTINGS, given_paths, python_terms, worded
from denoise_gan.inference.engine_choice import load_backend
from denoise_gan.inference.infer_config import InferConfig
from denoise_gan.inference.pixels import (
    FLOAT_LEVELS,
    float_to_uint16,
    is_pil_image,
    refuse_masked,
    through_file_dtype,
    through_pil,
)
from denoise_gan.inference.tiling import Backend, TiledDenoiser

if TYPE_CHECKING:
    import torch
    from rich.console import Console

    from denoise_gan.inference.file_plan import OutputOptions
    from denoise_gan.inference.files import Summary


class Denoiser:
    """A model on an engine with its inference settings; call it on images.

    ``model`` is a torch generator (moved to the device and put in eval mode in place) or a backend
    (``OnnxBackend``, ``TorchBackend``). ``device`` is auto, cpu,
    cuda or cuda:N; ``tile`` the largest tile side in pixels, 0 for the whole image in one pass, or "auto";
    ``overlap`` the pixels neighbouring tiles share; ``batch_size`` tiles per forward pass; ``precision``
    auto (bf16 on CUDA, fp16 on a GPU without native bf16, fp32 on the CPU), fp32, fp16 or bf16 (torch only);
    ``ensemble`` averages the eight flips and quarter turns of each image (eight times the work);
    ``level_per_tile`` reads a level-aware model's blind noise level per tile, not once per photo.
    """

    @worded
    def __init__(self, model: Any, *, device: str = "auto", tile: int | str | None = "auto", overlap: int = 32,
                 batch_size: int = 4, precision: str = "auto", ensemble: bool = False, level_per_tile: bool = False,
                 config: GeneratorConfig | None = None,
                 meta: dict[str, Any] | None = None, weights: str | os.PathLike[str] | None = None) -> None:
        if config is not None and not isinstance(config, GeneratorConfig):
            raise UserError(f"config must be a GeneratorConfig (or None), not {type(config).__name__}")
        if meta is not None and not isinstance(meta, Mapping):
            raise UserError(f"meta must be a dict of the weight file's metadata (or None), not {type(meta).__name__}")
        if weights is not None and not isinstance(weights, str | os.PathLike):
            raise UserError(f"weights must be the path of the weight file (or None), not {type(weights).__name__}")
        self.config = config  # the generator's config, when loaded from a weight file
        self.meta = dict(meta or {})  # the weight file's descriptive metadata
        # the weight file it came from, absolute: a host that changes its working folder reloads the same file
        self.weights = None if weights is None else Path(home_expanded(weights)).absolute()
        self.settings = InferConfig(tile=tile, overlap=overlap, batch_size=batch_size, device=device,
                                    precision=precision, ensemble=ensemble,
                                    level_per_tile=level_per_tile)  # validated: fails at construction
        self._engine = TiledDenoiser(model, self.settings)
        # the last call's level note (not denoise_files'), each thread's own: one per distinct σ grew without end in
        # a server taking users' σ, a capped call's note outlived it, and a thread read another's call's
        self._last_call = threading.local()

    @classmethod
    @worded
    def from_pretrained(cls, name_or_path: str | Path | None = None, *, engine: str = "auto", threads: int = 0,
                        **settings: Any) -> Denoiser:
        """A shipped model by name (``"default"``; None, the shipped default whatever the working folder holds), a
        generator ``.safetensors`` file, its ``.onnx`` graph or a folder holding one (an exported model folder, a
        run's output); ``settings`` are the constructor's keywords. ``engine`` is auto (ONNX Runtime on the CPU
        where the model has a current graph, torch on CUDA or otherwise), onnxruntime or torch; ``threads`` the CPU
        threads (0: the runtime's default; torch's is a setting of the whole process). A missing, unsafe or
        mismatched file is a one-line ``WeightsError``."""
        unknown = sorted(set(settings) - SETTINGS)
        if unknown:  # before the model loads, and one line (a TypeError after it, with config= or meta= too)
            raise UserError(f"unknown setting(s) {', '.join(map(repr, unknown))}; from_pretrained takes engine, "
                            f"threads and {', '.join(sorted(SETTINGS))}")
        device, precision = (_text_setting(settings, name) for name in ("device", "precision"))
        loaded = load_backend(name_or_path, engine, device, precision, threads)
        config = from_dict(GeneratorConfig, loaded.config) if loaded.config else None
        return cls(loaded.backend, config=config, meta=loaded.meta, weights=loaded.weights, **settings)

    @property
    def backend(self) -> Backend:
        return self._engine.backend

    @property
    def engine_name(self) -> str:
        """The runtime behind this denoiser: ``onnxruntime`` or ``torch``."""
        return self.backend.name

    @property
    def net(self) -> Any:
        """The torch module (torch engine only; an ONNX graph has none)."""
        return getattr(self.backend, "net", None)

    @property
    def level_aware(self) -> bool:
        """Whether the model takes a noise level (``strength``/``sigma``); a blind model refuses both."""
        return self.backend.level_aware

    @property
    def notes(self) -> list[str]:
        """What the user should know about past calls (tile shrunk after out-of-memory, fp32 redos, a σ above the
        model's range run at its highest), in the words of the caller: keywords from Python, flags from the command."""
        return [python_terms(note) for note in (*self._engine.notes, *self._call_notes)]

    @property
    def _call_notes(self) -> dict[str, None]:
        return getattr(self._last_call, "notes", {})

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_last_call": None}  # a thread's notes stay with it (and a local cannot pickle)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _last_call=threading.local())

    @property
    def engine(self) -> TiledDenoiser:
        """The tiling engine (it holds the resolved tile)."""
        return self._engine

    @worded
    def __call__(self, image: Any, strength: float = 1.0, sigma: float | None = None) -> Any:
        """The denoised image, with the input's type, shape, dtype (and device, for a tensor).

        ``image``: a NumPy array (uint8, uint16 or float in [0, 1]; HxW or HxWxC, C 1-4, RGB order: OpenCV's BGR
        converted first), a torch tensor (CxHxW or NxCxHxW, float in [0, 1] or uint8) or a PIL image (L, LA, RGB,
        RGBA, I;16): said here for a notebook's ``help(den)``, which shows no README (the details are there).
        ``strength`` scales the model's estimated noise level (below 1 keeps more detail, above 1 smooths
        more); ``sigma`` fixes a uniform noise σ on the 0-255 scale instead. Both need a level-aware model.
        """
        strength, sigma = _number(strength, "strength"), None if sigma is None else _number(sigma, "sigma")
        self._engine.check_level(strength, sigma)  # before any conversion work
        self._last_call.notes = dict.fromkeys(self._engine.level_notes(strength, sigma))  # this call's: none clears it
        if _is_tensor(image):
            return _denoise_tensor(self._engine, image, strength, sigma)
        if is_pil_image(image):
            return through_pil(image, lambda pixels: self(pixels, strength, sigma))
        refuse_masked(image)
        if isinstance(image, np.ndarray):  # a subclass (np.matrix keeps 2-D under indexing) as a plain array
            from data_tools.image_decode import narrow_range_note

            if note := narrow_range_note(np.asarray(image)):  # 8 or 12-bit values in uint16: said, as for a file
                self._call_notes[note] = None
            return _denoise_array(self._engine, np.asarray(image), strength, sigma)
        hint = ("; a file is denoised by den.denoise_files(path, out_dir), or read first (Image.open(path))"
                if isinstance(image, str | os.PathLike) else "")
        raise UserError(f"expected a NumPy array, a PIL image or a torch tensor, got {type(image).__name__}{hint}")

    @worded
    def denoise_files(self, inputs: Iterable[Path | str] | Path | str, out_dir: Path | str,
                      options: OutputOptions | None = None, *, strength: float = 1.0, sigma: float | None = None,
                      console: Console | None = None, shard: bool = False) -> Summary:
        """Files and folders into ``out_dir`` (the ``denoise`` command); see ``inference.files.denoise_files``.

        ``console``: a rich ``Console`` (``rich.get_console()`` in a notebook) shows a line per file, or bars on a
        terminal; None, the default, runs silently, and the returned summary alone says which files failed.

        ``shard``: under torchrun, share the files among the launch's processes, each on its own GPU (the weights
        are loaded again there, on torch), as the command does. Off by default: a script that calls this from one
        of its ranks (``if rank == 0``) wrote that rank's share of the files, then waited for the others.
        """
        from denoise_gan.inference.file_plan import OutputOptions
        from denoise_gan.inference.files import denoise_files
        from denoise_gan.runtime import World, world_from_env

        try:
            launch = world_from_env()
        except UserError:  # a malformed WORLD_SIZE matters only to a call asked to share the files out
            if shard:
                raise
            launch = World()
        world = launch if shard else World()
        engine = self._engine
        if world.size > 1:
            if self.weights is None:
                raise UserError("under torchrun, denoise_files needs a Denoiser made by Denoiser.from_pretrained")
            from denoise_gan.runtime import rank_device

            device = str(rank_device(self.settings.device, world))
            rank_model = load_backend(self.weights, "torch", device, self.settings.precision, 0).backend
            engine = TiledDenoiser(rank_model, replace(self.settings, device=device))
        summary = denoise_files(inputs, out_dir, engine, options or OutputOptions(), strength=strength, sigma=sigma,
                                console=console, world=world)
        if launch.size > 1 and not shard:  # before, such a call shared the files out by itself
            summary = replace(summary, notes=(*summary.notes, f"this process is one of a torchrun launch's "
                                              f"{launch.size} and denoised every file; shard=True shares them out"))
        keep = given_paths((out_dir, *(p for r in summary.results for p in (r.source, r.output))))
        return replace(summary, notes=tuple(python_terms(n, keep) for n in summary.notes),  # the command: its words
                       results=tuple(replace(r, message=python_terms(r.message, keep)) for r in summary.results))

    def __repr__(self) -> str:
        source = self.weights.name if self.weights else type(self.backend).__name__
        arch = f" arch={self.config.arch}" if self.config else ""
        # where it runs as resolved: "device=auto" left a notebook's reader asking whether it had the GPU
        return f"Denoiser({source}{arch} level_aware={self.level_aware} on {self._engine.where})"


def _number(value: Any, name: str) -> float:
    """A real number for strength/sigma; text such as '0.5' is a user error, not a silent conversion."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise UserError(f"{name} must be a number, not {shown_repr(value)}")
    try:
        return float(value)
    except OverflowError:  # an int past float's range
        raise UserError(f"{name} is too large to be a number the model can use") from None


def _is_tensor(image: Any) -> bool:
    """A torch tensor, asked without importing torch (if torch was never imported, it cannot be one; while another
    thread imports it, ``sys.modules`` holds it before it defines ``Tensor``, and no tensor exists yet either)."""
    tensor_class = getattr(sys.modules.get("torch"), "Tensor", None)
    return tensor_class is not None and isinstance(image, tensor_class)


def _text_setting(settings: dict[str, Any], name: str) -> str:
    """A device or precision setting as the loader takes it: text, or a ``torch.device`` as its name (``str()`` of
    anything else let a huge int raise ValueError)."""
    value = settings.get(name, "auto")
    if type(value).__module__ == "torch" and type(value).__name__ == "device":
        return str(value)
    if not isinstance(value, str):
        raise UserError(f"{name} must be text (such as \"auto\"), not {shown_repr(value)}")
    return value


def _denoise_array(engine: TiledDenoiser, image: np.ndarray, strength: float, sigma: float | None) -> np.ndarray:
    return through_file_dtype(image, lambda pixels: engine(pixels, strength=strength, sigma=sigma))


def _float_tensor_to_uint16(image: torch.Tensor) -> np.ndarray:
    """A float tensor in [0, 1] as uint16 (see ``pixels.float_to_uint16``)."""
    return float_to_uint16(image.detach().float().cpu().numpy(), integers="a uint8 tensor")


def _denoise_tensor(engine: TiledDenoiser, image: torch.Tensor, strength: float,
                    sigma: float | None) -> torch.Tensor:
    """CxHxW or NxCxHxW (or HxW) tensors, float in [0, 1] or uint8; same dtype and device back."""
    import torch

    if image.ndim not in (2, 3, 4):
        raise UserError(f"expected an HxW, CxHxW or NxCxHxW tensor, got shape {tuple(image.shape)}")
    if image.device.type == "meta":
        raise UserError("the tensor is on the 'meta' device (it has a shape but no values)")
    if image.layout != torch.strided:
        raise UserError(f"expected a dense tensor, got layout {image.layout}: pass .to_dense()")
    if image.numel() == 0:
        raise UserError(f"the tensor is empty (shape {tuple(image.shape)})")
    if image.ndim >= 3 and image.shape[-3] not in (1, 2, 3, 4):
        order = "2, 0, 1" if image.ndim == 3 else "0, 3, 1, 2"
        hint = f"; it looks HxWxC: pass .permute({order})" if image.shape[-1] in (1, 2, 3, 4) else ""
        raise UserError(f"a tensor is channels-first (CxHxW or NxCxHxW, 1-4 channels), got shape "
                        f"{tuple(image.shape)}{hint}")
    if image.dtype == torch.uint8:
        batch = image.detach().cpu().numpy()
        scale = 1.0
    elif image.dtype.is_floating_point:
        batch = _float_tensor_to_uint16(image)
        scale = float(FLOAT_LEVELS)
    else:
        raise UserError(f"expected a float tensor in [0, 1] or a uint8 tensor, got {image.dtype}")
    if image.ndim == 2:
        out = engine(batch, strength=strength, sigma=sigma)
    else:
        planes = batch[None] if image.ndim == 3 else batch
        outs = engine.denoise_many([np.ascontiguousarray(p.transpose(1, 2, 0)) for p in planes],
                                   strength=strength, sigma=sigma)
        out = np.stack([o.transpose(2, 0, 1) for o in outs])
        out = out[0] if image.ndim == 3 else out
    result = torch.from_numpy(np.ascontiguousarray(out))
    result = result.to(torch.float32).div_(scale) if image.dtype.is_floating_point else result
    result = result.to(device=image.device, dtype=image.dtype)
    if image.ndim >= 3 and has_alpha(image.shape[-3]):  # alpha passes through, not rounded to 16 bits; a float
        alpha = image.detach()[..., -1, :, :]  # one is clipped to [0, 1] as colour is
        result[..., -1, :, :] = alpha.clamp(0, 1) if image.dtype.is_floating_point else alpha
    return result
