"""The package's front door: the names `import denoise_gan` gives, and `python -m denoise_gan` starting where the
console script does."""

from __future__ import annotations

import os

import pytest


def test_the_package_names_its_entry_points_and_no_other() -> None:
    """A misspelt name is an AttributeError at once (a None there failed later, far from the typo), and
    `import *` gives both entry points."""
    import denoise_gan

    with pytest.raises(AttributeError, match="has no attribute 'Denoisr'"):
        denoise_gan.Denoisr  # noqa: B018
    names: dict[str, object] = {}
    exec("from denoise_gan import *", names)
    assert {"Denoiser", "NoiseModel", "__version__"} <= set(names)
    assert names["Denoiser"].__name__ == "Denoiser" and names["NoiseModel"].__name__ == "NoiseModel"


def test_python_m_runs_through_the_launcher() -> None:
    """`python -m denoise_gan` starts where the console script does (the launcher's Ctrl-C and SIGTERM handling),
    which names the program denoise-gan; the app run directly would call itself "python -m denoise_gan"."""
    import subprocess
    import sys

    for module in ("denoise_gan", "denoise_gan.launch"):  # the launcher run as a module did nothing, with exit 0
        result = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True,
                                env={**os.environ, "COLUMNS": "120"}, timeout=120)
        assert result.returncode == 0 and "Usage: denoise-gan " in result.stdout, (module, result.stdout)
