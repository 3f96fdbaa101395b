"""`adapt --minutes` reads each file of its start model from disk once: the role check, the planning probe, both
phases and the reports all use that read (they read G and F six and eight times before)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from denoise_gan.config import AdaptConfig
from denoise_gan.errors import UserError
from denoise_gan.training import adapt as adapt_module
from denoise_gan.training import adapt_phases, adapt_plan
from helpers import save_adapt_start, write_camera_photos

pytestmark = pytest.mark.usefixtures("losses_png_unrendered")  # trains; never looks at that picture


_opened: list[Counter[str] | None] = [None]  # the files opened for reading while a count is on, by name


def _audit(event: str, args: tuple[Any, ...]) -> None:
    counter = _opened[0]
    if counter is not None and event == "open" and isinstance(args[0], (str, Path)):
        mode = args[1] if isinstance(args[1], str) else "r"
        if "r" in mode or "+" in mode:
            counter[str(Path(args[0]).resolve())] += 1


sys.addaudithook(_audit)  # every open (io.open, os.open) raises the "open" audit event; it cannot be removed, so
# it counts only while _opened holds a Counter


def test_a_minutes_plan_reads_each_start_file_once(clean_dir: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    start = save_adapt_start(tmp_path / "start").resolve()
    noisy = write_camera_photos(tmp_path / "noisy", 48, 60)
    monkeypatch.setattr(adapt_plan, "REPORT_SECONDS", 1.0)
    monkeypatch.setattr(adapt_plan, "MIN_PHASE_STEPS", 1)  # any plan will do: the reads are what is counted
    cfg = AdaptConfig(noisy_dir=str(noisy), clean_dir=str(clean_dir), start=str(start), steps=0, minutes=0.2,
                      patch_size=32, batch_size=2, refine_batch_size=2, save_every=1000, log_every=1000,
                      device="cpu", workers=0)
    _opened[0] = counter = Counter()
    try:
        adapt_module.adapt(cfg, tmp_path / "out")
    except UserError as exc:  # a loaded machine can starve the short second phase; the reads are made by then
        assert "before the --minutes deadline" in str(exc), exc
    finally:
        _opened[0] = None
    stored = adapt_phases.phase_results(tmp_path / "out")
    assert all(r.planned >= 1 for r in stored) and stored[0].completed >= 1  # planned by timing; F trained
    reads = {name: counter[str(start / name)] for name in ("G.safetensors", "F.safetensors", "D_noisy.safetensors")}
    assert reads == {"G.safetensors": 1, "F.safetensors": 1, "D_noisy.safetensors": 1}
