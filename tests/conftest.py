"""Fixtures shared by the test modules: a tiny saved generator, a folder of small clean photos and a
finished two-step CycleGAN run. Module-scoped, so each module builds its own; a module that needs other
contents defines a fixture of the same name. Plain helpers are in helpers.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from data_tools.images import write_image
from data_tools.samples import load_sample
from denoise_gan.extras import set_import_environment
from denoise_gan.nets.registry import build_generator
from denoise_gan.nets.weights import save_generator
from denoise_gan.training.cyclegan import train
from helpers import TINY_G, tiny_train_config

set_import_environment()  # test modules import onnxruntime themselves (test_export, importorskip), before
# any require() could set its telemetry off


def pytest_configure(config: pytest.Config) -> None:
    """The interrupt tests send Ctrl-C to the test process (and a script's stand-ins to its shell). A runner that
    starts pytest with SIGINT ignored (a background job of a shell without job control) would swallow them, and
    the children would inherit the ignore, which bash cannot trap: SIGINT is given back its usual handler."""
    import signal

    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _no_interrupt_carried_over(monkeypatch: pytest.MonkeyPatch) -> None:
    """An interrupt a test delivers (a handler called in-process) is recorded process-wide, and the CLI reads it:
    each test starts, and leaves the next, with none seen."""
    from denoise_gan import interrupts

    monkeypatch.setattr(interrupts._Seen, "count", 0)
    monkeypatch.setattr(interrupts._Seen, "signum", 0)


@pytest.fixture(autouse=True)
def _a_capable_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests that draw on a terminal (force_terminal) expect bars: rich reads TERM from the environment, and a
    dumb one (Emacs' shell, some CI runners) draws none. The dumb case has tests of its own, with their own TERM.
    Tests that read what the CLI printed expect rich's default width, 80, whatever COLUMNS the shell exports."""
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLUMNS", "80")  # rich's width off a terminal: an exported one (Emacs, a wide pytest run)
    monkeypatch.delenv("LINES", raising=False)  # laid the tables out otherwise; the tests read them at 80
    import importlib

    say = importlib.import_module("denoise_gan.cli.say")  # its consoles were made at import and kept the COLUMNS
    for console in (say.console, say.err_console):  # and LINES exported then: they read the environment's again
        monkeypatch.setattr(console, "_width", None)
        monkeypatch.setattr(console, "_height", None)


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random colour U-Net saved the way `train` saves G."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_generator(path, build_generator(TINY_G), TINY_G)
    return path


@pytest.fixture(scope="module")
def clean_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clean")
    for name in ("astronaut", "coffee", "camera", "chelsea"):
        write_image(folder / f"{name}.png", load_sample(name)[100:164, 100:164])
    return folder



@pytest.fixture(scope="module")
def finished_run(clean_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2-step CycleGAN run (G, F, config.json, checkpoint): what `refine` starts from."""
    run = tmp_path_factory.mktemp("finished") / "run"
    with pytest.MonkeyPatch.context() as monkeypatch:  # (no test reads its losses.png)
        leave_losses_png_unrendered(monkeypatch)
        train(tiny_train_config(clean_dir), run)
    return run


def _one_pixel_png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (1, 1), "white").save(buf, format="PNG")
    return buf.getvalue()


def leave_losses_png_unrendered(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run draws losses.png at every checkpoint save, and rendering it (about a second) was most of a tiny
    run's time: its figure is still built from the log (rows read, panels laid out) and a file still written in
    its place, a 1x1 PNG. For runs no test looks at that picture of; test_run_output draws it for real."""
    from denoise_gan.training import run_report

    png = _one_pixel_png()
    monkeypatch.setattr(run_report, "figure_png", lambda fig, dpi, tight=False: png)


@pytest.fixture
def losses_png_unrendered(monkeypatch: pytest.MonkeyPatch) -> None:
    """For modules whose tests train but never look at losses.png: see leave_losses_png_unrendered."""
    leave_losses_png_unrendered(monkeypatch)
