"""Which runtime runs a model: ONNX Runtime on the CPU where the model has a current graph, torch otherwise.

A shipped model or a run's ``G.safetensors`` carries its graph beside it (``default.onnx``, ``G.onnx``),
recording the sha256 of the weights it was made from; a graph that no longer matches its weights is never
used silently. ``auto`` asks for torch only when a GPU may be present (an NVIDIA driver is installed), so a
CPU-only start never pays for importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from data_tools.file_digest import file_sha256
from data_tools.folder_lock import held_by_another_process
from data_tools.names import shell_word
from data_tools.shown_values import shown_repr
from denoise_gan.config_json import to_dict
from denoise_gan.errors import UserError, WeightsError
from denoise_gan.extras import export_note, extra_install, installed
from denoise_gan.inference.backend import Backend
from denoise_gan.nets import graph_contract as gc
from denoise_gan.nets.run_folder import graph_beside
from denoise_gan.nets.run_state import unfinished_note
from denoise_gan.nets.shipped import resolve_weights, shadowed_note
from denoise_gan.nets.weight_header import read_generator_header, refuse_noise_model, weights_digest
from denoise_gan.runtime import (
    check_device_name,
    check_precision,
    check_threads,
    cuda_may_be_present,
    no_gpu_text,
    refuse_half_on_cpu,
)

ENGINES = ("auto", "onnxruntime", "torch")


def check_engine(engine: Any) -> str:
    """An engine's name in any case, as the command line reads it; one message for an unknown one (a denoiser's
    or a noise model's)."""
    engine = engine.strip().lower() if isinstance(engine, str) else engine
    if engine not in ENGINES:
        raise UserError(f"unknown engine {shown_repr(engine)}; choose one of {', '.join(ENGINES)}")
    return engine


TRAIN_EXTRA = extra_install("train")
GRAPH_ALONE = "give the model's .safetensors with --engine torch"  # how torch runs a model given as a graph alone


@dataclass(frozen=True)
class LoadedBackend:
    """A backend ready to run, with the generator's config (as a dict) and descriptive metadata."""

    backend: Backend
    weights: Path  # the weight file asked for (a graph's own path only when a graph was given)
    config: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def wants_cuda(device: str) -> bool:
    """Whether ``device`` means a GPU: asked for by name, or ``auto`` with a working CUDA torch."""
    text = check_device_name(device)  # a typo (cuda:abc) is said as one, never sent to install torch for CUDA
    if text.startswith("cuda"):
        return True
    if text != "auto" or not cuda_may_be_present() or not installed("torch"):
        return False
    import torch

    return bool(torch.cuda.is_available())


def load_backend(name_or_path: str | Path | None, engine: str = "auto", device: str = "auto", precision: str = "auto",
                 threads: int = 0) -> LoadedBackend:
    """The model behind a name, file or folder on the engine asked for (see the module's docstring); its notes
    say when a run folder's G is not the run's last (the run is training now, or stopped partway), and when a
    shipped model's name was taken as the file or folder of that name here."""
    loaded = _load_backend(name_or_path, engine, device, precision, threads)
    for note in (shadowed_note(name_or_path), unfinished_note(loaded.weights)):
        if note:
            loaded.backend.notes.append(note)
    return loaded


def _refuse_broken_weights(path: Path) -> None:
    """The weights' own error (NaN values, wrong shapes, a tensor too many), where torch can load them to see."""
    if installed("torch"):
        from denoise_gan.nets.weights import load_generator

        load_generator(path)


def _load_backend(name_or_path: str | Path | None, engine: str, device: str, precision: str,
                  threads: int) -> LoadedBackend:
    engine = check_engine(engine)
    precision = precision.strip().lower() if isinstance(precision, str) else precision  # any case, as engine
    check_precision(precision)
    check_threads(threads)
    path = resolve_weights(name_or_path)
    if path.suffix.lower() == ".onnx":
        if engine == "torch":
            raise UserError(f"{path}: an ONNX graph runs on onnxruntime; give its .safetensors for --engine torch")
        return _onnx(path, device, precision, threads, GRAPH_ALONE)
    # what the header says first (no torch): a noise model is refused as one, never sent to install torch
    refuse_noise_model(path, *read_generator_header(path))
    graph = graph_beside(path)
    if engine == "torch":
        return _torch(path, device, precision, threads)
    if engine == "onnxruntime":
        if not graph.is_file():
            _refuse_broken_weights(path)  # before advising an export that would fail on them
            raise UserError(f"{path}: has no ONNX graph beside it ({graph.name}); make one with `denoise-gan "
                            f"export {shell_word(path)} -o {shell_word(graph)}`{export_note()} or use --engine torch")
        loaded = _onnx(graph, device, precision, threads)
        if why := _staleness(loaded, path):
            raise _stale(loaded, path, why)
        return replace(loaded, weights=path)
    cuda = wants_cuda(device)
    stale = ""
    if not cuda and graph.is_file() and installed("onnxruntime") and precision in ("auto", "fp32"):
        loaded, stale = _graph_for_auto(path, graph, device, precision, threads)
        if loaded is not None:
            return loaded
    if not installed("torch"):
        if not cuda:  # torch would refuse half precision here too: never send the user to install it for that
            refuse_half_on_cpu(precision)
        raise UserError(f"{path}: running it {'on CUDA ' if cuda else ''}needs torch "
                        f"({TRAIN_EXTRA}){'' if graph.is_file() else ', or an ONNX graph beside it'}")
    loaded = _torch(path, device, precision, threads)
    if stale:  # said, so a user who expects the light engine learns why it was not used
        loaded.backend.notes.append(stale)
    return loaded


def _graph_for_auto(path: Path, graph: Path, device: str, precision: str,
                    threads: int) -> tuple[LoadedBackend | None, str]:
    """``auto``'s ONNX Runtime try: the graph beside the weights when it stands for them, else None and the note
    saying why torch runs them instead (raised where there is no torch to fall back on)."""
    try:
        loaded = _onnx(graph, device, precision, threads)
    except WeightsError as exc:  # a damaged graph beside good weights: they run on torch, where it is
        if not installed("torch"):
            raise
        return None, f"{exc}; ran {path.name} on torch instead"
    why = _staleness(loaded, path)
    if not why and (loaded.backend.content_checked or not installed("torch")):
        return replace(loaded, weights=path), ""  # (one that cannot be checked has its engine's note)
    if why and not installed("torch"):
        raise _stale(loaded, path, why)  # and no torch to fall back on
    if why and held_by_another_process(path.parent):  # a run training there now rewrites its graph as it ends:
        return None, ""  # no "remake it" into the folder it writes (its own note says it is training)
    # an altered copy of the graph would pass for the weights' own: torch runs the weights themselves
    return None, (f"{str(_stale(loaded, path, why))}; ran on torch instead" if why else
                  f"{loaded.backend.path} {gc.UNCHECKED_GRAPH}; ran {path.name} on torch instead")


def _staleness(loaded: LoadedBackend, weights: Path) -> str:
    """Why the graph does not stand for these weights today, or "" when it does: it must be made from these
    very weights (it records their sha256) by today's code (a level-aware graph exported before the
    brightness-profiled map, or before a photo's tiles shared one profile, would denoise differently from torch;
    one made before the map's cap differs only above it, so it runs, with a note)."""
    info = loaded.backend.info
    if not info.source_sha256 and not info.source_digest:  # exported from a run checkpoint, not a weight file
        return f"records no weight file it was made from, so it cannot be matched to {weights.name} " \
            "(unmatched graph)"
    if info.source_sha256 != file_sha256(weights) and not (info.source_digest and
                                                          info.source_digest == weights_digest(weights)):
        return f"was made from other weights than {weights.name} (stale graph)"
    # (one made before the cap only notes it)
    if info.predates_level_profile:
        return f"{gc.PREDATES_LEVEL_PROFILE} (stale graph)"
    # one from before a photo's tiles shared a profile runs each tile on its own (as --level-per-tile does), with its
    # note: stale only where torch can run the weights instead, never refused where it is all an install has
    return f"{gc.PREDATES_PHOTO_PROFILE} (stale graph)" if info.predates_photo_profile and installed("torch") else ""


def _stale(loaded: LoadedBackend, weights: Path, why: str) -> WeightsError:
    return WeightsError(f"{loaded.backend.path}: {why}; remake it with `denoise-gan export {shell_word(weights)} "
                        f"-o {shell_word(loaded.backend.path)} --overwrite`{export_note()}")


def _onnx(graph: Path, device: str, precision: str, threads: int,
          torch_way: str = "use --engine torch") -> LoadedBackend:
    from denoise_gan.inference.onnx_engine import OnnxBackend

    if precision not in ("auto", "fp32"):
        if not wants_cuda(device):  # torch would refuse half precision here too: say what runs
            refuse_half_on_cpu(precision)
        if not cuda_may_be_present():  # --device cuda with no GPU at all: torch would refuse that too
            raise UserError(no_gpu_text(device))
        raise UserError(f"the onnxruntime engine runs fp32; {torch_way} for --precision {precision}")
    backend = OnnxBackend(graph, device, threads, torch_way)
    return LoadedBackend(backend, graph, backend.info.config, backend.info.meta)


def _torch(weights: Path, device: str, precision: str, threads: int) -> LoadedBackend:
    if not installed("torch"):
        raise UserError(f"the torch engine needs torch: {TRAIN_EXTRA}")
    from denoise_gan.inference.torch_engine import TorchBackend
    from denoise_gan.nets.weights import load_denoiser
    from denoise_gan.runtime import set_threads

    set_threads(threads)
    net, cfg, meta = load_denoiser(weights)
    return LoadedBackend(TorchBackend(net, device, precision), weights, to_dict(cfg), meta)
