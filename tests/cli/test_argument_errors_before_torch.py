"""An argument error of a training, export, calibrate or noise-fit command is one line at once: the folder or
weights it names are checked before torch is imported (4-9 s of a 2-core machine spent to say a path is wrong)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import CHILD_ENV

# runs the CLI in-process, then reports its exit code, stderr and whether torch got loaded
PROBE = """
import contextlib, io, json, sys
from denoise_gan.cli import app
err = io.StringIO()
with contextlib.redirect_stderr(err):
    try:
        app(sys.argv[1:], prog_name="denoise-gan")
        code = 0
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "err": err.getvalue(), "torch": "torch" in sys.modules}))
"""


def _run(args: list[str], cwd: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, env=CHILD_ENV, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize(("args", "words"), [
    (["train", "--resume", "missing"], "missing: no such folder; nothing to resume"),
    (["adapt", "--resume", "missing"], "missing: no such folder; nothing to resume"),
    (["refine", "missing"], "missing: no such folder (give a `denoise-gan train` run folder)"),
    (["refine", "empty"], "empty: not a finished `denoise-gan train` run"),
    (["refine", "empty", "--resume", "-o", "missing"], "missing: no such folder; nothing to resume"),
    (["export", "missing", "-o", "out.onnx"], "missing: no such file or folder, and no shipped model"),
    (["export", "missing.pt", "-o", "out.onnx"], "missing.pt: no such checkpoint file"),
    (["export", "default", "-o", "taken.onnx"], "taken.onnx exists; choose another -o or pass --overwrite"),
    (["calibrate", "--clean", "missing", "-o", "out"], "missing: no such folder"),
    (["calibrate", "--clean", "taken.onnx", "-o", "out"], "taken.onnx: not a folder"),
    (["noise-fit", "--noisy", "missing", "-o", "out"], "missing: no such folder"),
    (["noise-fit", "--noisy", "empty", "--clean-photos", "missing", "-o", "out"], "missing: no such folder"),
    (["noise-fit", "--noisy", "empty", "--clean", "missing", "-o", "out"], "missing: no such folder"),
])
def test_a_wrong_path_is_one_line_before_torch_loads(tmp_path: Path, args: list[str], words: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "taken.onnx").write_bytes(b"mine")
    result = _run(args, tmp_path)
    assert result["code"] == 2, result
    lines = result["err"].strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {words}"), result["err"]
    assert not result["torch"], f"{args} imported torch before refusing its argument"
    assert (tmp_path / "taken.onnx").read_bytes() == b"mine"
