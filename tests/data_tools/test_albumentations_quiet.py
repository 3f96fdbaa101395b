"""Importing the training data modules asks no registry for albumentations' version and prints nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_importing_the_datasets_prints_no_update_check() -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_ALBUMENTATIONS_UPDATE"}
    # an unreachable proxy: the check, were it made, fails at once and says so
    env.update(https_proxy="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9",
               PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    done = subprocess.run([sys.executable, "-c", "import data_tools.datasets, data_tools.noise_transform"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr
