"""A graph's output on another scale is refused: the exported graph clips its output to [0, 1], and a graph whose
values reach 255 (a model made for 0-255 pixels) was clipped into a black and white image, written with exit 0."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from denoise_gan import Denoiser
from denoise_gan.errors import WeightsError
from denoise_gan.nets import graph_contract as gc


def _scaling_graph(path: Path, factor: float) -> None:
    """A blind denoise-gan graph whose output is its input times ``factor``."""
    onnx = pytest.importorskip("onnx")
    helper, value = onnx.helper, onnx.helper.make_tensor_value_info
    scale = onnx.numpy_helper.from_array(np.array(factor, np.float32), "scale")
    graph = helper.make_graph([helper.make_node("Mul", [gc.IMAGE, "scale"], [gc.OUTPUT])], "g",
                              [value(gc.IMAGE, onnx.TensorProto.FLOAT, ["n", 3, "h", "w"])],
                              [value(gc.OUTPUT, onnx.TensorProto.FLOAT, ["n", 3, "h", "w"])], initializer=[scale])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    helper.set_model_props(model, {gc.FORMAT_KEY: gc.GRAPH_FORMAT, gc.CONFIG_KEY: json.dumps({"arch": "unet"}),
                                   gc.LEVEL_AWARE_KEY: "false", gc.STRIDE_KEY: "1", gc.CHANNELS_KEY: "3"})
    path.write_bytes(model.SerializeToString())


def test_a_graph_whose_output_is_on_another_scale_fails_in_one_line(tmp_path: Path) -> None:
    _scaling_graph(tmp_path / "scale255.onnx", 255.0)
    den = Denoiser.from_pretrained(tmp_path / "scale255.onnx", engine="onnxruntime", device="cpu")
    image = np.random.default_rng(0).integers(1, 255, (40, 40, 3), dtype=np.uint8)
    with pytest.raises(WeightsError, match=r"scale255.onnx: the graph returned values from \S+ to \S+; a "
                                           r"denoiser's output is in \[0, 1\]$"):
        den(image)


def test_a_graph_within_the_range_runs(tmp_path: Path) -> None:
    _scaling_graph(tmp_path / "same.onnx", 1.0)
    den = Denoiser.from_pretrained(tmp_path / "same.onnx", engine="onnxruntime", device="cpu")
    image = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    np.testing.assert_array_equal(den(image), image)
