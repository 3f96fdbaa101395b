"""The README's module map is where a contributor looks for the one place a thing lives: a module it does not
name is one they will not find, and may write again."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _layout_block() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("  data_tools/              data in and out")
    return readme[start:readme.index("  tests/                   mirrors", start)]


def test_every_module_is_named_in_the_readme_layout() -> None:
    named = set(re.findall(r"[a-z_]+", _layout_block()))
    modules = [path for folder in ("data_tools", "denoise_gan", "benchmarks")
               for path in sorted((ROOT / folder).rglob("*.py")) if not path.name.startswith("__")]
    assert len(modules) > 100
    missing = [path.relative_to(ROOT).as_posix() for path in modules if path.stem not in named]
    assert not missing, f"modules the README's layout does not name: {missing}"
