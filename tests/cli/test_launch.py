"""The console script: a Ctrl-C while the CLI is still starting (importing commands, building their options)
ends in one line and exit 130; it was a 40-line KeyboardInterrupt traceback."""

from __future__ import annotations

import sys
import tomllib
import types
from pathlib import Path

import pytest

from denoise_gan.launch import main


def test_the_console_script_is_the_launcher() -> None:
    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["denoise-gan"] == "denoise_gan.launch:main"


def test_a_ctrl_c_while_starting_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    def interrupted_while_building(**_: object) -> None:
        raise KeyboardInterrupt

    fake = types.ModuleType("denoise_gan.cli")
    fake.app = interrupted_while_building  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "denoise_gan.cli", fake)
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 130
    assert capsys.readouterr().err == "interrupted\n"
