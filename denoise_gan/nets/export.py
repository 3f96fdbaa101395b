"""Exporting a generator for use outside this package: ONNX, a self-describing model folder, or safetensors.

* ``onnx``: the interface ``graph_contract`` states: ``image`` float32 NxCxHxW in [0, 1] with dynamic batch,
  height and width, and for a level-aware model ``strength``, ``sigma`` and ``level_profile`` (its level
  estimator is inside the graph, and again alone in its metadata for the tiler's first pass); output
  ``denoised``. The graph reflect-pads any height and width (down to 1 px) to the network's
  stride exactly as the tiling engine does, crops back and clips to [0, 1]. What the graph is, and the
  sha256 of the weights it was made from, are in the model's ``metadata_props``; the ONNX Runtime engine
  reads them.
* ``folder``: ``model.safetensors`` (the same file ``denoise --checkpoint`` loads), ``config.json`` and a
  ``README.md`` model card with a YAML header, as model hubs lay them out.
* ``safetensors``: one generator file; the way a run checkpoint (``step_N.pt``) becomes inference weights.

The source is a generator file (or a shipped model's name), a run folder (its ``G.safetensors``) or a run
checkpoint, which is loaded with ``weights_only`` (never unpickling code).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import math
import threading
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from data_tools import json_text
from data_tools.atomic_files import atomic_write_bytes, atomic_write_text, built_aside, write_error
from data_tools.file_digest import file_sha256
from data_tools.folder_lock import holding_folder
from data_tools.library_output import quiet_warnings
from data_tools.names import refuse_empty_paths
from data_tools.paths import real_path
from data_tools.temp_files import remove_stale_parts
from denoise_gan.config import GeneratorConfig, TrainConfig
from denoise_gan.config_json import from_dict, to_dict
from denoise_gan.errors import UserError, WeightsError, typed_line
from denoise_gan.extras import require
from denoise_gan.nets import graph_contract as gc
from denoise_gan.nets.contract import DenoiserContract, denoiser_contract
from denoise_gan.nets.export_target import check_target, export_format, export_source
from denoise_gan.nets.generator_names import LEVEL_MAX_BOUNDS
from denoise_gan.nets.graph_digest import content_digest
from denoise_gan.nets.level import scaled_level
from denoise_gan.nets.model_card import CARD_FIELDS, model_card
from denoise_gan.nets.profile_bins import PROFILE_BINS, own_profiles
from denoise_gan.nets.registry import build_generator
from denoise_gan.nets.run_folder import RunFolder, graph_beside
from denoise_gan.nets.shipped import resolve_weights
from denoise_gan.nets.small_images import smallest_side
from denoise_gan.nets.weight_header import CHECKPOINT_SUFFIXES, read_weight_bytes, refuse_noise_model, weights_digest
from denoise_gan.nets.weights import (
    CALIBRATION_KEY,
    LEVEL_MAX_KEY,
    LEVEL_SCALE_KEY,
    PATH_KEYS,
    check_state,
    describe,
    generator_bytes,
    load_checkpoint,
    load_denoiser,
    read_generator_config,
    save_generator,
)

EXPORTING = threading.Lock()  # torch's ONNX exporter keeps its state for the whole process: one at a time
OPSET = 17  # pixel_unshuffle/pixel_shuffle (DepthToSpace/SpaceToDepth) and bilinear Resize export from 17 on
# a model folder's files are moved over an earlier export's one by one: config.json first (it marks the folder as
# an export, which `--overwrite` then mends), the weights, then the graph that records their digest, so a kill
# between two moves leaves a pair the engine calls stale, never a mix it runs silently; the card last
FOLDER_MOVE_ORDER = ("config.json", "model.safetensors", "model.onnx", "README.md")


@dataclass
class Exportable:
    """A generator with its config and descriptive metadata, ready to write in any format."""

    net: nn.Module
    config: GeneratorConfig
    meta: dict[str, Any]
    source: Path
    data: bytes | None = None  # the weight file's bytes the net was loaded from: what the graph records is of them

    @property
    def contract(self) -> DenoiserContract:
        return denoiser_contract(self.net)

    @functools.cached_property
    def source_sha256(self) -> str:
        """The weight file's sha256 (a graph records it, so the engine can tell a stale graph); for a run
        checkpoint, that of the file its safetensors export writes (the same bytes for the same weights)."""
        if self.data is not None:  # not the file again: a run saving meanwhile would name other weights
            return hashlib.sha256(self.data).hexdigest()
        if self.source.suffix == ".safetensors":
            return file_sha256(self.source)
        return hashlib.sha256(generator_bytes(self.net, self.config, self.meta)).hexdigest()

    @functools.cached_property
    def source_digest(self) -> str:
        """The weight file's content digest (``weights_digest``), which a re-saved copy of it shares."""
        if self.source.suffix == ".safetensors":
            return weights_digest(self.source, self.data)
        return self.source_sha256  # the export's bytes are canonical already: their sha256 is their digest


def load_exportable(source: str | Path) -> Exportable:
    """The generator behind a weight file, shipped model name, run folder or run checkpoint."""
    path = Path(source)
    if path.suffix in CHECKPOINT_SUFFIXES and not path.is_dir():
        return _from_run_checkpoint(path)
    path = resolve_weights(source)
    data = read_weight_bytes(path)  # read once: the graph records the sha256 of the weights it holds
    net, cfg, meta = load_denoiser(path, data=data)  # an exported F would be a "denoiser" that adds noise
    return Exportable(net, cfg, describe(cfg, _without_relative_paths(meta)), path, data)


def _from_run_checkpoint(path: Path) -> Exportable:
    """G of a `train`, `refine` or `adapt` checkpoint; G's config comes from the checkpoint (train) or from the
    run's G.safetensors (refine, whose checkpoint holds only the refinement's config; adapt, whose refine phase
    runs in OUT/refine and writes OUT/G.safetensors)."""
    state = load_checkpoint(path)
    kind = state.get("kind") if isinstance(state, dict) else None
    if kind == "adapt-noise":
        raise WeightsError(f"{path}: an adapt noise-phase checkpoint holds the noise model F, not a denoiser; "
                           "export a checkpoint of its refine/ phase, or the adapt folder's G.safetensors")
    if kind not in ("cyclegan", "refine"):
        found = f"its kind is {str(kind)[:40]!r}, not 'cyclegan' or 'refine'" if kind else "it records no kind"
        raise WeightsError(f"{path}: not a checkpoint of `denoise-gan train` or `refine` ({found})")
    try:
        tensors = state["nets"]["G"] if kind == "cyclegan" else state["g"]
    except (KeyError, TypeError):
        raise WeightsError(f"{path}: a {kind} checkpoint without G's weights") from None
    run_dir = path.parent.parent
    run_weights = RunFolder(run_dir).g
    if not run_weights.is_file() and run_dir.name == "refine":  # adapt's refine phase: OUT/refine/checkpoints
        run_weights = RunFolder(run_dir.parent).g
    meta: dict[str, Any] = {}
    if run_weights.is_file():
        cfg, meta = read_generator_config(run_weights)  # only G's config and metadata: the tensors are the checkpoint's
    elif kind == "cyclegan":
        try:
            cfg = from_dict(TrainConfig, state["config"]).model.g
        except (KeyError, ValueError, TypeError) as exc:
            raise WeightsError(f"{path}: bad run config in checkpoint ({exc})") from None
    else:
        raise WeightsError(f"{path}: a refine checkpoint needs its run folder's G.safetensors for G's config "
                           f"(looked for {run_weights})")
    refuse_noise_model(path, cfg, meta)
    with torch.device("meta"):
        skeleton = build_generator(cfg)
    check_state(skeleton, tensors, str(path))  # shapes checked before anything is allocated
    net = build_generator(cfg)
    net.load_state_dict(tensors)  # checked against the skeleton above
    cap = state.get("level_max")  # a refine checkpoint's: the levels trained on by its step
    if denoiser_contract(net).level_aware and isinstance(cap, (int, float)) and not isinstance(cap, bool) \
            and math.isfinite(cap):
        net.level_max = float(min(max(cap, LEVEL_MAX_BOUNDS[0]), LEVEL_MAX_BOUNDS[1]))
    # a calibration belongs to the run's weight file, not to this checkpoint's tensors (the net runs uncalibrated)
    meta = {**{k: v for k, v in _without_relative_paths(meta).items()
               if k not in (LEVEL_SCALE_KEY, CALIBRATION_KEY, LEVEL_MAX_KEY)},
            "step": state.get("step"), "role": "G noisy->clean", "exported_from": str(real_path(path))}
    return Exportable(net.eval(), cfg, describe(cfg, meta), path)


def _without_relative_paths(meta: dict[str, Any]) -> dict[str, Any]:
    """Older files recorded some folders relative to where training ran; that place is unknown here."""
    return {k: v for k, v in meta.items()
            if not (k in PATH_KEYS and isinstance(v, str) and not Path(v).is_absolute())}


# ---- ONNX ---------------------------------------------------------------------------------------

def reflect_index(length: torch.Tensor, stride: int, min_side: int = 1) -> torch.Tensor:
    """Source rows (or columns) of a length padded up to the stride, and to at least ``min_side`` rounded up
    to it: mirrored without repeating the edge, and all 0 for a length of 1 (the tiling engine's
    ``reflect_index`` and ``plan_grid``'s sides, as graph ops with a dynamic length)."""
    padded = (length + stride - 1) // stride * stride
    if min_side > stride:  # (only then: every other graph stays node for node as it was)
        padded = torch.clamp(padded, min=(min_side + stride - 1) // stride * stride)
    period = torch.clamp(2 * length - 2, min=1)
    pos = torch.arange(padded) % period
    return torch.where(pos < length, pos, period - pos)


class OnnxGraph(nn.Module):
    """What the exported graph computes: pad to the stride (reflect), the net, crop, clip to [0, 1]. A small
    image is padded further, as the tiler pads it (``small_images.smallest_side``): an InstanceNorm net's sides to
    two strides, a level-aware net's to its smallest tile. And as in the tiler, an InstanceNorm net gives back an
    image flat in every channel (a 1x1 one too) as it is: InstanceNorm of a constant is round-off divided by its
    epsilon."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        contract = denoiser_contract(net)
        self.stride = contract.stride
        self.instance_norm = contract.instance_norm
        self.min_side = smallest_side(self.stride, instance_norm=contract.instance_norm,
                                      level_aware=contract.level_aware, min_tile=contract.min_tile)
        self.level_aware = contract.level_aware
        self.photo_profile = contract.photo_profile
        self.level_max = contract.level_max

    def padded(self, image: torch.Tensor) -> torch.Tensor:
        rows, cols = (reflect_index(torch.as_tensor(side), self.stride, self.min_side) for side in image.shape[-2:])
        return image.index_select(2, rows).index_select(3, cols)

    def forward(self, image: torch.Tensor, strength: torch.Tensor | None = None, sigma: torch.Tensor | None = None,
                level_profile: torch.Tensor | None = None) -> torch.Tensor:
        h, w = image.shape[-2], image.shape[-1]
        padded = self.padded(image)
        if self.level_aware and strength is not None and sigma is not None:
            fixed = (sigma / 255.0).reshape(1, 1, 1, 1).expand_as(padded)
            estimated = self.net.estimate(padded, level_profile)
            level = torch.where(sigma.reshape(1, 1, 1, 1) >= 0, fixed, estimated)
            out = self.net.denoiser(padded, scaled_level(level, strength.reshape(1, 1, 1, 1), self.level_max))
        else:
            out = self.net(padded)
        if self.instance_norm:
            flat = (padded.amax(dim=(2, 3)) == padded.amin(dim=(2, 3))).all(dim=1).reshape(-1, 1, 1, 1)
            out = torch.where(flat, padded, out)
        return out[..., :h, :w].clamp(0.0, 1.0)


class CellsGraph(nn.Module):
    """The estimator's part alone (``OnnxGraph``'s pad, then the cells and brightness a photo's profile is made
    of): the small second graph a photo-profile graph carries, so the tiler's first pass skips G."""

    def __init__(self, graph: OnnxGraph) -> None:
        super().__init__()
        self.graph = graph

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.graph.net.estimator.cells_and_brightness(self.graph.padded(image))


def _traced(module: nn.Module, example: tuple[torch.Tensor, ...], inputs: list[str], outputs: list[str]) -> bytes:
    """``module`` as ONNX bytes, batch, height and width dynamic (the cells' too)."""
    dims = {0: "batch", 2: "height", 3: "width"}
    cells = {0: "batch", 2: "cell_rows", 3: "cell_columns"}
    axes = {gc.IMAGE: dims, **{name: dims if name == gc.OUTPUT else cells for name in outputs}}
    if gc.LEVEL_PROFILE in inputs:
        axes[gc.LEVEL_PROFILE] = {0: "batch"}
    buf = io.BytesIO()
    try:
        with EXPORTING, quiet_warnings():
            # the TorchScript-based exporter: offline, no extra packages, and it handles the dynamic pad; torch
            # calls it legacy and warns on every export (torch.export specialises the pad to the example's size)
            torch.onnx.export(module, example, buf, dynamo=False, opset_version=OPSET, input_names=inputs,
                              output_names=outputs, dynamic_axes=axes)
    except Exception as exc:  # noqa: BLE001 - a torch without that exporter (deprecated): one line, not a traceback
        raise UserError(f"torch {torch.__version__} made no ONNX graph ({typed_line(exc)})") from None
    return buf.getvalue()


def onnx_bytes(model: Exportable) -> bytes:
    """The ONNX graph of the model (see ``OnnxGraph``), with what it is in its metadata (``graph_contract``)."""
    onnx = require("onnx", "export --format onnx")
    graph = OnnxGraph(model.net.float().eval())
    channels = model.config.channels
    example = (torch.rand(1, channels, 2 * graph.stride + 3, 2 * graph.stride + 5),)
    names = [gc.IMAGE]
    estimator: dict[str, str] = {}
    if graph.level_aware:
        example += (torch.ones(1), torch.full((1,), gc.ESTIMATE))
        names += [gc.STRENGTH, gc.SIGMA]
    if graph.photo_profile:
        example += (torch.from_numpy(own_profiles(1, channels)),)
        names += [gc.LEVEL_PROFILE]
        cells = _traced(CellsGraph(graph), example[:1], [gc.IMAGE], [gc.CELLS, gc.BRIGHTNESS])
        estimator = {gc.ESTIMATOR_KEY: base64.b64encode(cells).decode("ascii")}
    proto = onnx.load_from_string(_traced(graph, example, names, [gc.OUTPUT]))
    if graph.photo_profile:  # its default, all "own": a caller who feeds the three inputs runs it as before
        proto.graph.initializer.append(onnx.numpy_helper.from_array(own_profiles(1, channels), gc.LEVEL_PROFILE))
    proto.graph.output[0].type.tensor_type.shape.dim[1].dim_value = channels  # the crop hides it is the input's
    info = {**metadata_strings(model), **graph_metadata(model, graph), **estimator}
    onnx.helper.set_model_props(proto, info)
    kind = "level-aware" if graph.level_aware else "blind"
    proto.doc_string = f"denoise-gan {kind} denoiser ({model.config.arch}): noisy image in, denoised image out"
    onnx.checker.check_model(proto)
    onnx.helper.set_model_props(proto, {**info, gc.GRAPH_DIGEST_KEY: content_digest(proto.SerializeToString())})
    return proto.SerializeToString()  # the same bytes and one metadata entry more, which the digest leaves out


def graph_metadata(model: Exportable, graph: OnnxGraph) -> dict[str, str]:
    """The keys the ONNX Runtime engine reads (``graph_contract``), as the strings ONNX metadata holds."""
    usage = ("image float32 NxCxHxW in [0,1], any H and W; strength float32 [1] scales the estimated noise "
             "level; sigma float32 [1] fixes a uniform sigma on the 0-255 scale, or -1 to estimate it"
             if graph.level_aware else "image float32 NxCxHxW in [0,1], any H and W; blind")
    if graph.photo_profile:
        usage += (f"; optional level_profile float32 [N,C,{PROFILE_BINS}] gives each tile its photo's level bins "
                  f"(the {gc.ESTIMATOR_KEY} graph reads them), -1 (the default) for its own")
    return {gc.FORMAT_KEY: gc.GRAPH_FORMAT, gc.CONFIG_KEY: json.dumps(to_dict(model.config)),
            gc.META_KEY: json.dumps(model.meta, sort_keys=True),
            gc.LEVEL_AWARE_KEY: "true" if graph.level_aware else "false", gc.STRIDE_KEY: str(graph.stride),
            gc.MIN_TILE_KEY: str(model.contract.min_tile),
            gc.CHANNELS_KEY: str(model.config.channels), gc.SOURCE_KEY: model.source_sha256,
            gc.SOURCE_DIGEST_KEY: model.source_digest,
            **({gc.LEVEL_MAP_KEY: gc.LEVEL_MAP, gc.LEVEL_MAX_KEY: f"{graph.level_max:g}"} if graph.level_aware else {}),
            "usage": usage}


def metadata_strings(model: Exportable) -> dict[str, str]:
    """The weight file's metadata as ONNX's UTF-8 strings (a folder name that is not UTF-8 kept as escapes)."""
    return {k: json_text.escaped_surrogates(v) if isinstance(v, str) else json.dumps(v)
            for k, v in model.meta.items() if v is not None}


# ---- model folder -------------------------------------------------------------------------------

def write_folder(model: Exportable, out: Path, overwrite: bool = True) -> None:
    """config.json, model.safetensors, its ONNX graph model.onnx (so the folder runs on the install without
    torch; left out where the exporter's extra is missing, and the card then says torch is needed) and
    README.md (YAML header, then the card) in ``out``; built aside and moved into place once all are made, so a
    failed or killed export (a full disk, Ctrl-C) leaves no new folder, and an earlier export's files whole."""
    # an existing folder is held while its files are replaced one by one: two exports into it at once left one
    # model's weights beside the other's card (a new folder is renamed into place whole)
    with holding_folder(out, "export") if out.is_dir() else nullcontext(), \
            built_aside(out, overwrite, first=FOLDER_MOVE_ORDER) as folder:  # without overwrite, never over another's
        weights = folder / "model.safetensors"
        save_generator(weights, model.net, model.config, model.meta)
        graph = write_graph_beside(weights)  # made from the file just written, so it records that file's sha256
        config = {"library": "denoise-gan", "format": "denoise-gan-generator/1",
                  "generator": to_dict(model.config), **{k: model.meta[k] for k in CARD_FIELDS},
                  "level_aware": model.contract.level_aware, "stride": model.contract.stride,
                  # what changes its output beyond the architecture: the calibration and the level cap
                  **({"level_scale": model.net.level_scale, "level_max": model.net.level_max}
                     if model.contract.level_aware else {})}
        atomic_write_text(folder / "config.json", json.dumps(config, indent=2) + "\n")
        params = sum(p.numel() for p in model.net.parameters())
        card = model_card(model.meta, model.config, model.contract.level_aware, params, with_graph=graph is not None)
        atomic_write_text(folder / "README.md", card)
    if graph is None:
        graph_beside(out / weights.name).unlink(missing_ok=True)  # an earlier export's graph, of other weights


# ---- one entry point ----------------------------------------------------------------------------

def export_model(source: str | Path, out: Path | str, fmt: str | None = None, overwrite: bool = False) -> Path:
    """Write ``source``'s generator to ``out`` in ``fmt`` (onnx, folder or safetensors; None: from ``out``'s
    suffix); returns ``out``. The source is never written over, whatever ``overwrite`` says."""
    refuse_empty_paths(source, what="model to export", error=UserError)
    refuse_empty_paths(out, what="output path", error=UserError)
    fmt = export_format(out, fmt)
    out = Path(out)
    check_target(out, fmt, overwrite, export_source(source))
    if fmt == "onnx":
        require("onnx", "export --format onnx")
    model = load_exportable(source)
    try:
        if fmt != "folder":  # a killed export's temp file of this target (a live one's is kept, others' too)
            remove_stale_parts(out.parent, named=out.name)
        if fmt == "onnx":  # without overwrite, a file that appeared since the check is kept (another export's)
            atomic_write_bytes(out, onnx_bytes(model), overwrite)
        elif fmt == "folder":
            write_folder(model, out, overwrite)
        else:
            save_generator(out, model.net, model.config, model.meta, overwrite)
    except OSError as exc:
        raise write_error(out, exc) from None
    return out


def write_graph_beside(weights: Path) -> Path | None:
    """The ONNX graph beside a generator file (``G.safetensors`` -> ``G.onnx``), so the light engine can run
    it; None (nothing written) where the exporter's extra is not installed."""
    try:
        require("onnx", "the ONNX graph")
    except UserError:
        return None
    return export_model(weights, graph_beside(weights), "onnx", overwrite=True)
