"""What `pip install .` ships: every package folder of the source tree, and the shipped weights and graph."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_folder_is_installed() -> None:
    listed = set(config()["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for top in ("denoise_gan", "data_tools")
             for p in (ROOT / top).rglob("__init__.py")}
    assert found <= listed, f"missing from pyproject.toml's packages: {sorted(found - listed)}"


def test_the_shipped_weights_and_graph_are_package_data() -> None:
    patterns = config()["package-data"]["denoise_gan.checkpoints"]
    shipped = {p.suffix for p in (ROOT / "checkpoints").iterdir() if p.suffix in (".safetensors", ".onnx")}
    assert {f"*{suffix}" for suffix in shipped} <= set(patterns)
