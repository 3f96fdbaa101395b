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


@pytest.mark.parametrize("failure", ["ImportError('libtorch_cuda.so: cannot open shared object file')",
                                     "OSError('libcudnn.so.9: cannot open shared object file')"])
def test_a_torch_that_is_installed_but_does_not_load_is_one_line_in_every_command(tmp_path: Path,
                                                                                  failure: str) -> None:
    """A torch whose CUDA libraries are missing ended train, export and the rest in a Python traceback (only a
    torch that is not installed at all was one line)."""
    import os
    import subprocess
    import sys

    import numpy as np

    from data_tools.images import write_image

    _package(tmp_path, "torch", f"raise {failure}\n")
    write_image(tmp_path / "clean" / "a.png", np.full((64, 64, 3), 90, np.uint8))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    for args in (["train", "--clean", tmp_path / "clean", "--noise", "gaussian:sigma=5", "-o", tmp_path / "run"],
                 ["export", "default", "-o", tmp_path / "g.onnx"]):
        run = subprocess.run([sys.executable, "-m", "denoise_gan", *map(str, args)], capture_output=True, text=True,
                             env=env, timeout=300)
        lines = run.stderr.strip().splitlines()
        assert run.returncode == 2 and len(lines) == 1, run.stderr
        assert "the 'torch' package is installed but does not import (" in lines[0] and "cannot open" in lines[0]
    # the classical methods need no torch: they ran with it absent, and stopped at a broken one (--threads' setter)
    run = subprocess.run([sys.executable, "-m", "denoise_gan", "benchmark", "--clean", str(tmp_path / "clean"),
                          "--noise", "gaussian:sigma=5", "--methods", "tv", "-o", str(tmp_path / "bench")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0 and (tmp_path / "bench" / "results.json").is_file(), run.stderr


def test_an_error_raised_under_a_torch_call_is_not_blamed_on_torch() -> None:
    """A forward pass (or a DataLoader worker) that fails runs under torch's frames; only an error raised while a
    package's module body runs (its import) is the package's."""
    import torch

    from denoise_gan.extras import broken_package

    class Failing(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise OSError("Too many open files")

    with pytest.raises(OSError) as raised:
        Failing()(torch.zeros(1))
    assert broken_package(raised.value) is None
