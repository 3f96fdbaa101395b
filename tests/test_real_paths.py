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


def test_a_path_holding_a_nul_read_back_from_a_record_is_one_line(tmp_path: Path) -> None:
    """A NUL in a set's recorded source folder (an edited manifest; none can be typed) was realpath's bare
    "embedded null byte" traceback from synth, train --val and benchmark --resume."""
    import json

    from data_tools.images import write_image
    from data_tools.synth import synth
    from helpers import cli, noise_image, one_line_error

    for i in range(2):
        write_image(tmp_path / "photos" / f"p{i}.png", noise_image(24, 24, seed=i))
    synth(tmp_path / "photos", tmp_path / "set", "gaussian:sigma=5", 0)
    manifest = json.loads((tmp_path / "set" / "manifest.json").read_text())
    manifest["source_dir"] = "/tmp/a\u0000b"
    (tmp_path / "set" / "manifest.json").write_text(json.dumps(manifest))
    one_line_error(cli("synth", tmp_path / "photos", "-o", tmp_path / "set", "--noise", "gaussian:sigma=5"),
                   "a path holding a NUL character")
