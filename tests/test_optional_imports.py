"""An optional package that is missing, installed but broken, or whose import a Ctrl-C cut short: three different
things, each said as what it is (a broken one was sent to be installed again; an interrupted one, too)."""

from __future__ import annotations

from pathlib import Path

import pytest

from denoise_gan.errors import UserError
from denoise_gan.extras import require


def _package(root: Path, name: str, body: str) -> None:
    (root / name).mkdir()
    (root / name / "__init__.py").write_text(body)


def test_a_missing_package_names_what_installs_it() -> None:
    with pytest.raises(UserError, match="needs the 'no_such_package_here' package: pip install no_such_package"):
        require("no_such_package_here", "the test")


def test_an_installed_package_that_fails_to_import_is_said_broken(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _package(tmp_path, "broken_pkg_for_test", "import a_dependency_that_is_gone\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UserError) as refused:
        require("broken_pkg_for_test", "the test")
    said = str(refused.value)
    assert "is installed but does not import" in said and "a_dependency_that_is_gone" in said, said
    assert "pip install" not in said


def test_an_import_cut_short_by_ctrl_c_is_an_interrupt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # as a compiled module reports it: its initialisation failed, with the interrupt as the cause
    _package(tmp_path, "interrupted_pkg_for_test",
             "try:\n    raise KeyboardInterrupt\nexcept KeyboardInterrupt as exc:\n"
             "    raise ImportError('initialization failed') from exc\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        require("interrupted_pkg_for_test", "the test")
    # or with the interrupt as its context only (an ImportError raised while handling it)
    _package(tmp_path, "implicitly_interrupted_pkg_for_test",
             "try:\n    raise KeyboardInterrupt\nexcept KeyboardInterrupt:\n"
             "    raise ImportError('initialization failed')\n")
    with pytest.raises(KeyboardInterrupt):
        require("implicitly_interrupted_pkg_for_test", "the test")
