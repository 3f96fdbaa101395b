"""`--help`, `--version` and argument errors answer at once: the CLI modules import nothing heavy at module
level (no torch, SciPy, scikit-image, matplotlib, OpenCV, ONNX Runtime); the library loads inside a command."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIGHT = ["denoise_gan.cli.evaluate", "denoise_gan.cli.data", "denoise_gan.cli.render", "denoise_gan.cli.options",
         "denoise_gan.evaluation.method_names", "denoise_gan.progress_bar"]
HEAVY = ("torch", "scipy", "skimage", "matplotlib", "cv2", "onnxruntime", "onnx", "PIL", "albumentations")

# imports these modules without the package's __init__ (which registers every command, some not yet light),
# then lists the heavy top-level packages that got loaded
PROBE = """
import importlib, sys, types
import denoise_gan
pkg = types.ModuleType("denoise_gan.cli")
pkg.__path__ = [denoise_gan.__path__[0] + "/cli"]
sys.modules["denoise_gan.cli"] = pkg
for name in sys.argv[1:]:
    importlib.import_module(name)
print(" ".join(sorted({m.split(".")[0] for m in sys.modules})))
"""


def test_cli_modules_load_no_heavy_library() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE, *LIGHT], capture_output=True, text=True, cwd=ROOT,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    loaded = set(out.stdout.split())
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


@pytest.mark.parametrize("module", LIGHT)
def test_module_level_imports_stay_within_the_cli_and_light_modules(module: str) -> None:
    """The same rule read from the source, so a heavy import is named even when it is cached elsewhere."""
    path = ROOT / (module.replace(".", "/") + ".py")
    light = ("denoise_gan.cli.", "denoise_gan.errors", "denoise_gan.evaluation.method_names", "data_tools.names",
             "denoise_gan.progress_bar", "denoise_gan.warning_line")  # the last two: rich and data_tools.names
    wrong = []
    for node in ast.parse(path.read_text()).body:  # module level only: imports inside functions are on use
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in HEAVY or (top in ("data_tools", "denoise_gan") and not name.startswith(light)):
                wrong.append(name)
    assert not wrong, wrong


def test_help_and_version_of_the_whole_cli_load_no_heavy_library() -> None:
    """The whole command line as a user starts it (every command registered), not only the modules above."""
    probe = ("import sys\nfrom denoise_gan.cli import app\n"
             "try:\n    app(['--version'])\nexcept SystemExit:\n    pass\n"
             "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    loaded = set(out.stdout.split())
    assert "denoise-gan" in out.stdout and not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_the_seed_option_and_the_config_take_the_same_seeds() -> None:
    """The option module writes the bound out to stay light; the two copies must not drift."""
    from denoise_gan.cli.options import MAX_SEED as OPTION_MAX
    from denoise_gan.config import MAX_SEED

    assert OPTION_MAX == MAX_SEED


@pytest.mark.parametrize("args", [["benchmark", "-o", "b", "--clean", "nonexist", "--noise", "gaussian:sigma=5"],
                                  ["noise-fit", "-o", "n", "--clean", "c", "--noisy", "n", "--spec", "bogus"],
                                  ["train", "--clean", "c", "--noise", "gaussian:sigma=5", "-o", "r", "--device",
                                   "gpu"],
                                  ["adapt", "--noisy", "n", "--clean", "c", "-o", "a", "--device", "gpu"]])
def test_an_argument_error_is_said_before_torch_loads(args: list[str], tmp_path: Path) -> None:
    """Setting the default thread count imported torch (seconds) before a missing folder or a bad spec was said,
    and training commands checked a device's name with torch."""
    for folder in ("c", "n"):
        (tmp_path / folder).mkdir()
    probe = ("import sys\nfrom denoise_gan.cli import app\n"
             f"try:\n    app({args!r})\nexcept SystemExit:\n    pass\n"
             "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "error:" in out.stderr and out.stdout.strip().endswith("False"), (out.stdout, out.stderr)
