"""A torch whose TorchScript-based ONNX exporter (deprecated since torch 2.9) is gone or fails: `export` says so in
one line, and a training run whose weights are saved ends with a warning, not a traceback after its work."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from denoise_gan.training.run_weights import write_graph
from helpers import cli, one_line_error


@pytest.fixture
def no_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    def export(*args: object, dynamo: bool = True, **kwargs: object) -> None:
        raise RuntimeError("The TorchScript-based ONNX exporter has been removed.\nUse dynamo=True.")

    monkeypatch.setattr(torch.onnx, "export", export)


def test_export_to_onnx_without_the_exporter_is_one_line(no_exporter: None, weights: Path, tmp_path: Path) -> None:
    result = cli("export", str(weights), "-o", str(tmp_path / "m.onnx"))
    one_line_error(result, "made no ONNX graph", "TorchScript-based ONNX exporter has been removed")
    assert not (tmp_path / "m.onnx").exists()


def test_a_runs_saved_weights_without_the_exporter_end_in_a_warning(no_exporter: None, weights: Path,
                                                                    tmp_path: Path, capsys) -> None:
    g = tmp_path / "G.safetensors"
    shutil.copyfile(weights, g)
    assert write_graph(g) == g
    assert not (tmp_path / "G.onnx").exists()
    said = capsys.readouterr().err
    assert "warning:" in said and "no G.onnx beside" in said and "runs the weights on torch" in said
