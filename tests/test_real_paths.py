"""One way to follow a user's path to where it leads: ``data_tools.paths.real_path``. ``Path.resolve`` raises on
a link loop on Python 3.11 and 3.12, which reached users as a traceback from four commands."""

from __future__ import annotations

import ast
from pathlib import Path

from data_tools.paths import real_path

ROOT = Path(__file__).resolve().parents[1]


def test_no_module_follows_a_path_but_through_real_path() -> None:
    """Neither ``Path.resolve`` nor a second spelling of ``real_path`` (``os.path.realpath``) outside it."""
    calls = []
    for package in ("denoise_gan", "data_tools"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == ROOT / "data_tools" / "paths.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                        node.func.attr in ("resolve", "realpath"):
                    calls.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not calls, calls


def test_a_link_loop_is_kept_as_named_and_links_are_followed(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("real")
    assert real_path(tmp_path / "loop") == tmp_path.resolve() / "loop"
    assert real_path(tmp_path / "link") == real_path(str(tmp_path / "real")) == (tmp_path / "real").resolve()
