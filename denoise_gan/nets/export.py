"""Exporting a generator for use outside this package: ONNX, a self-describing model folder, or safetensors.

* ``onnx``: one input ``image`` and one output ``denoised``, both float32 Nx3xHxW RGB in [0, 1], with dynamic
  batch, height and width. The graph reflect-pads any height and width to the network's stride and crops
  back, so it takes every image size, and clips to [0, 1]. A level-aware model is exported blind at
  strength 1 (its level estimator is inside the graph). The descriptive metadata is in the model's
  ``metadata_props``.
* ``folder``: ``model.safetensors`` (the same file ``denoise --checkpoint`` loads), ``config.json`` and a
  ``README.md`` model card with a YAML header, as model hubs lay them out.
* ``safetensors``: one generator file; the way a run checkpoint (``step_N.pt``) becomes inference weights.

The source is a generator file (or a shipped model's name), a run folder (its ``G.safetensors``) or a run
checkpoint, which is loaded with ``weights_only`` (never unpickling code).
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as nnf
from torch import nn

from data_tools.images import atomic_write_bytes
from denoise_gan.config import GeneratorConfig, TrainConfig, from_dict, to_dict
from denoise_gan.errors import UserError, WeightsError
from denoise_gan.extras import require
from denoise_gan.nets.registry import build_generator
from denoise_gan.nets.weights import (
    PATH_KEYS,
    check_state,
    describe,
    load_checkpoint,
    load_generator,
    load_state,
    read_generator_file,
    resolve_weights,
    save_generator,
)

FORMATS = ("onnx", "folder", "safetensors")
OPSET = 17  # pixel_unshuffle/pixel_shuffle (DepthToSpace/SpaceToDepth) and bilinear Resize export from 17 on
CARD_FIELDS = ("license", "noise_family", "input", "training_data")


@dataclass
class Exportable:
    """A generator with its config and descriptive metadata, ready to write in any format."""

    net: nn.Module
    config: GeneratorConfig
    meta: dict[str, Any]
    source: Path


def load_exportable(source: str | Path) -> Exportable:
    """The generator behind a weight file, shipped model name, run folder or run checkpoint."""
    path = Path(source)
    if path.is_dir():
        weights = path / "G.safetensors"
        if not weights.is_file():
            raise UserError(f"{path}: a run folder holds G.safetensors once it has saved; this one has none")
        path = weights
    elif path.suffix in (".pt", ".pth", ".ckpt"):
        return _from_run_checkpoint(path)
    else:
        path = resolve_weights(source)
    net, cfg, meta = load_generator(path)
    return Exportable(net, cfg, describe(cfg, _without_relative_paths(meta)), path)


def _from_run_checkpoint(path: Path) -> Exportable:
    """G of a `train` or `refine` checkpoint; G's config comes from the checkpoint (train) or from the run
    folder's G.safetensors (refine, whose checkpoint holds only the refinement's config)."""
    state = load_checkpoint(path)
    kind = state.get("kind") if isinstance(state, dict) else None
    if kind not in ("cyclegan", "refine"):
        raise WeightsError(f"{path}: not a denoise-gan run checkpoint (no 'kind' of train or refine)")
    try:
        tensors = state["nets"]["G"] if kind == "cyclegan" else state["g"]
    except (KeyError, TypeError):
        raise WeightsError(f"{path}: a {kind} checkpoint without G's weights") from None
    run_weights = path.parent.parent / "G.safetensors"
    meta: dict[str, Any] = {}
    if run_weights.is_file():
        _, cfg, meta = read_generator_file(run_weights)
    elif kind == "cyclegan":
        try:
            cfg = from_dict(TrainConfig, state["config"]).model.g
        except (KeyError, ValueError, TypeError) as exc:
            raise WeightsError(f"{path}: bad run config in checkpoint ({exc})") from None
    else:
        raise WeightsError(f"{path}: a refine checkpoint needs its run folder's G.safetensors for G's config "
                           f"(looked for {run_weights})")
    with torch.device("meta"):
        skeleton = build_generator(cfg)
    check_state(skeleton, tensors, str(path))  # shapes checked before anything is allocated
    net = build_generator(cfg)
    load_state(net, tensors, str(path))
    meta = {**_without_relative_paths(meta), "step": state.get("step"), "role": "G noisy->clean",
            "exported_from": str(path.resolve())}
    return Exportable(net.eval(), cfg, describe(cfg, meta), path)


def _without_relative_paths(meta: dict[str, Any]) -> dict[str, Any]:
    """Older files recorded some folders relative to where training ran; that place is unknown here."""
    return {k: v for k, v in meta.items()
            if not (k in PATH_KEYS and isinstance(v, str) and not Path(v).is_absolute())}


# ---- ONNX ---------------------------------------------------------------------------------------

class OnnxGraph(nn.Module):
    """What the exported graph computes: pad to the stride (reflect), the net (blind), crop, clip to [0, 1]."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.stride = max(1, int(getattr(net, "stride", 1)))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2], image.shape[-1]
        pad_h = (self.stride - h % self.stride) % self.stride
        pad_w = (self.stride - w % self.stride) % self.stride
        padded = nnf.pad(image, (0, pad_w, 0, pad_h), mode="reflect")
        return self.net(padded)[..., :h, :w].clamp(0.0, 1.0)


def onnx_bytes(model: Exportable) -> bytes:
    """The ONNX graph of the model (see ``OnnxGraph``), its descriptive metadata attached."""
    onnx = require("onnx", "export --format onnx")
    if model.config.channels != 3:
        raise UserError(f"ONNX export takes RGB models; this one has {model.config.channels} channel(s)")
    graph = OnnxGraph(model.net.float().eval())
    example = torch.rand(1, 3, 2 * graph.stride + 3, 2 * graph.stride + 5)
    buf = io.BytesIO()
    dims = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        # the TorchScript-based exporter: offline, no extra packages, and it handles the dynamic pad; torch
        # calls it legacy and warns on every export
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, (example,), buf, dynamo=False, opset_version=OPSET, input_names=["image"],
                          output_names=["denoised"], dynamic_axes={"image": dims, "denoised": dims})
    proto = onnx.load_from_string(buf.getvalue())
    proto.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 3  # the crop hides that it is the input's 3
    info = {**metadata_strings(model), "config": json.dumps(to_dict(model.config)),
            "usage": "blind denoising at strength 1; input and output float32 Nx3xHxW RGB in [0,1], any H and W"}
    onnx.helper.set_model_props(proto, info)
    proto.doc_string = f"denoise-gan generator ({model.config.arch}), noisy RGB in, denoised RGB out"
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def metadata_strings(model: Exportable) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in model.meta.items() if v is not None}


# ---- model folder -------------------------------------------------------------------------------

def write_folder(model: Exportable, out: Path) -> None:
    """config.json, model.safetensors and README.md (YAML header, then the card) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    save_generator(out / "model.safetensors", model.net, model.config, model.meta)
    config = {"library": "denoise-gan", "format": "denoise-gan-generator/1", "generator": to_dict(model.config),
              **{k: model.meta[k] for k in CARD_FIELDS},
              "level_aware": bool(getattr(model.net, "level_aware", False)),
              "stride": int(getattr(model.net, "stride", 1))}
    atomic_write_bytes(out / "config.json", (json.dumps(config, indent=2) + "\n").encode())
    atomic_write_bytes(out / "README.md", model_card(model).encode())


def _yaml(value: Any) -> str:
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a valid YAML scalar


def model_card(model: Exportable) -> str:
    meta, cfg = model.meta, model.config
    level = bool(getattr(model.net, "level_aware", False))
    params = sum(p.numel() for p in model.net.parameters())
    header = "\n".join([
        "---",
        f"license: {str(meta['license']).lower()}",
        "library_name: denoise-gan",
        "pipeline_tag: image-to-image",
        "tags: [image-denoising, cyclegan, unpaired]",
        f"training_data: {_yaml(meta['training_data'])}",
        f"noise_family: {_yaml(meta['noise_family'])}",
        f"input: {_yaml(meta['input'])}",
        "---",
    ])
    usage = ("den(image, strength=0.5)  # level-aware: scale the estimated noise level (or sigma=25)" if level
             else "den(image)  # blind: no noise level to set")
    facts = {k: v for k, v in meta.items() if k not in CARD_FIELDS and v is not None}
    lines = [
        header, "",
        f"# denoise-gan generator: {cfg.arch}", "",
        f"A {'level-aware' if level else 'blind'} image denoiser ({params / 1e6:.2f} M parameters) made with "
        "denoise-gan (unpaired CycleGAN denoising).", "",
        f"- **input**: {meta['input']}; output the same shape and range",
        f"- **noise family**: {meta['noise_family']}",
        f"- **training data**: {meta['training_data']}",
        f"- **licence of the weights**: {meta['license']}",
        f"- **architecture**: `{json.dumps(to_dict(cfg))}`", "",
        "```python",
        "from denoise_gan import Denoiser",
        "",
        'den = Denoiser.from_pretrained("model.safetensors")',
        usage,
        "```", "",
        "Or `denoise-gan denoise photos/ -o out/ --checkpoint model.safetensors`.",
    ]
    if facts:
        lines += ["", "## Recorded with the weights", ""]
        lines += [f"- {k}: {v}" for k, v in sorted(facts.items())]
    return "\n".join(lines) + "\n"


# ---- one entry point ----------------------------------------------------------------------------

def export_model(source: str | Path, out: Path | str, fmt: str = "onnx", overwrite: bool = False) -> Path:
    """Write ``source``'s generator to ``out`` in ``fmt`` (onnx, folder or safetensors); returns ``out``."""
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    out = Path(out)
    if out.exists() and not overwrite and (out.is_file() or any(out.iterdir())):
        raise UserError(f"{out} exists; choose another -o or pass --overwrite")
    if fmt == "onnx":
        require("onnx", "export --format onnx")
    model = load_exportable(source)
    if fmt == "onnx":
        atomic_write_bytes(out, onnx_bytes(model))
    elif fmt == "folder":
        write_folder(model, out)
    else:
        save_generator(out, model.net, model.config, model.meta)
    return out
