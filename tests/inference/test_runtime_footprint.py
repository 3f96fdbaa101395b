"""What running the shipped model leaves on the machine besides its outputs: nothing in the user's home or the
temp folder, and no usage events queued for upload (ONNX Runtime's telemetry, on by default in its Linux wheels)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import CHILD_ENV

pytest.importorskip("onnxruntime")

DENOISE_ONCE = """
import numpy as np
from denoise_gan import Denoiser
den = Denoiser.from_pretrained("default", engine="onnxruntime")
print(den(np.zeros((32, 32, 3), np.uint8)).shape)
"""


def test_onnx_runtime_keeps_no_telemetry_in_home_or_temp(tmp_path: Path) -> None:
    """A denoise on ONNX Runtime wrote ~/.cache/Microsoft/DeveloperTools/.onnxruntime (a device id and a queue of
    events for Microsoft's collector, which it looked up) and a `.ses` file in the temp folder."""
    home, temp = tmp_path / "home", tmp_path / "temp"
    home.mkdir()
    temp.mkdir()
    env = {k: v for k, v in CHILD_ENV.items() if k != "ORT_DISABLE_TELEMETRY"}
    env.update(HOME=str(home), TMPDIR=str(temp), XDG_CACHE_HOME=str(home / ".cache"))
    done = subprocess.run([sys.executable, "-c", DENOISE_ONCE], env=env, capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    left = sorted(os.path.relpath(p, tmp_path) for p in tmp_path.rglob("*") if not p.is_dir())
    assert left == [], left


def test_the_test_suite_keeps_no_onnx_runtime_telemetry_either(tmp_path: Path) -> None:
    """A test module that imports onnxruntime itself (at collection, before any of the package's require())
    wrote the telemetry's device id and event queue into the developer's ~/.cache/Microsoft."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in CHILD_ENV.items() if k != "ORT_DISABLE_TELEMETRY"}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"))
    test = Path(__file__).parents[1] / "nets" / "test_export.py"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
                           str(test.parents[2]), f"{test}::test_onnx_carries_the_descriptive_metadata"],
                          env=env, capture_output=True, text=True, cwd=test.parents[2], timeout=300)
    assert done.returncode == 0, done.stdout[-2000:]
    assert sorted(os.path.relpath(p, home) for p in home.rglob("*") if not p.is_dir()) == []
