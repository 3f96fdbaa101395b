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


def test_the_source_release_holds_the_tests_benchmarks_and_the_cards_files() -> None:
    """The sdist held only tests/test_*.py (no conftest.py, helpers.py or subfolders: 56 of the tests collected),
    no benchmarks/, and neither the recipe nor the learning curve the model card names; the wheel lacked the two."""
    lines = [line.split() for line in (ROOT / "MANIFEST.in").read_text().splitlines() if line and line[0] != "#"]
    assert ["graft", "tests"] in lines and ["graft", "benchmarks"] in lines
    included = {name for words in lines if words[0] == "include" for name in words[1:]}
    card = (ROOT / "checkpoints" / "README.md").read_text()
    for name in ("reproduce.sh", "learning_curve.png"):
        assert f"checkpoints/{name}" in included and (ROOT / "checkpoints" / name).is_file() and name in card
        assert f"*{Path(name).suffix}" in config()["package-data"]["denoise_gan.checkpoints"]
