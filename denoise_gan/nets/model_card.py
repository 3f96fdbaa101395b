"""The model card of an exported folder (its README.md), written from the weight file's metadata."""

from __future__ import annotations

import json
from typing import Any

from data_tools import json_text
from denoise_gan.config import GeneratorConfig
from denoise_gan.config_json import to_dict
from denoise_gan.extras import extra_command
from denoise_gan.nets import graph_contract as gc

CARD_FIELDS = ("license", "noise_family", "input", "training_data")


def _yaml(value: Any) -> str:
    return json_text.dumps(str(value))  # a JSON string is a valid YAML scalar


def model_card(meta: dict[str, Any], cfg: GeneratorConfig, level: bool, params: int, with_graph: bool = True) -> str:
    """The README.md of an exported folder: a YAML header that model hubs index, then what the weights are, how
    to run them (with denoise-gan, or ONNX Runtime alone) and what was recorded with them. ``level``: whether the
    net is level-aware; ``params``: its parameter count."""
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
        "Or `denoise-gan denoise photos/ -o out/ --checkpoint model.safetensors`.", "",
        "`model.onnx` is the same network for ONNX Runtime, which denoise-gan's base install (`pip install .` in "
        "a copy of its repository; no torch) runs; it records the sha256 of `model.safetensors`, so keep the two "
        "together." if with_graph
        else "This folder has no ONNX graph, so running it needs torch (denoise-gan's `train` extra: "
        f"`{extra_command('train')}` in a copy of its repository); `denoise-gan export model.safetensors -o "
        "model.onnx` adds the graph the base install runs.",
    ]
    if with_graph:  # what ONNX Runtime alone must feed it: the inputs a level-aware graph needs beside the image
        lines += ["", f"In ONNX Runtime alone, `model.onnx` takes `{gc.IMAGE}` ({meta['input']}; any height and width)"
                  + (f", `{gc.STRENGTH}` (float32, shape [1]: the factor on the estimated noise level, 1 as "
                     f"trained) and `{gc.SIGMA}` (float32, shape [1]: {gc.ESTIMATE:g} to estimate the level, or a "
                     "fixed σ on the 0-255 scale; optionally `level_profile`, which a tiling caller fills from the "
                     "graph's estimator, as its metadata's `usage` says)" if level else "")
                  + f", and returns `{gc.OUTPUT}`, the denoised image of the same shape and range."]
    if facts:
        lines += ["", "## Recorded with the weights", ""]
        lines += [f"- {k}: {v}" for k, v in sorted(facts.items())]
    return "\n".join(lines) + "\n"
