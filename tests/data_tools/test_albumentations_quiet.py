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


def test_the_setting_that_quiets_it_is_left_in_no_ones_environment() -> None:
    """It was set on importing data_tools, for the whole process: a program that only denoised (which never
    imports albumentations), a host application and every program either started lost the check unasked."""
    env = {k: v for k, v in os.environ.items() if k != "NO_ALBUMENTATIONS_UPDATE"}
    env.update(https_proxy="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9",
               PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    code = ("import os; import denoise_gan.inference.api; print(os.environ.get('NO_ALBUMENTATIONS_UPDATE')); "
            "import data_tools.datasets; print(os.environ.get('NO_ALBUMENTATIONS_UPDATE'))")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout.split(), done.stderr) == (0, ["None", "None"], "")
    mine = subprocess.run([sys.executable, "-c", code], env={**env, "NO_ALBUMENTATIONS_UPDATE": "1"},
                          capture_output=True, text=True, timeout=120)
    assert mine.stdout.split() == ["1", "1"], mine.stderr  # a user's own setting is kept
