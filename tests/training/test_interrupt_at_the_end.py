"""A Ctrl-C that lands in a run's last step: the run ends complete (its last checkpoint, weights and graph), and
the command still exits as interrupted, so a script running it (reproduce.sh) stops, and adapt does not go on
into its next phase. It exited 0, and the script and adapt carried on."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from denoise_gan.config import AdaptConfig
from denoise_gan.training import adapt as adapt_module
from denoise_gan.training import cyclegan
from denoise_gan.training.adapt import adapt
from helpers import cli, save_adapt_start, tiny_train_flags, write_camera_photos

pytestmark = pytest.mark.usefixtures("losses_png_unrendered")  # trains; never looks at that picture


def interrupted_at(trainer_cls: type, last: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C delivered while ``trainer_cls`` runs step ``last`` (0-based), as a terminal's would be."""
    original = trainer_cls.step

    def step(self: object, at: int, batch: dict) -> dict:
        if at == last:
            os.kill(os.getpid(), signal.SIGINT)  # the loop's handler notes it; the step goes on to its end
        return original(self, at, batch)

    monkeypatch.setattr(trainer_cls, "step", step)


def test_train_interrupted_in_its_last_step_is_complete_and_exits_as_interrupted(
        clean_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    interrupted_at(cyclegan.CycleGANTrainer, 1, monkeypatch)  # the second of two steps
    result = cli("train", *tiny_train_flags("--clean", clean_dir, "--noise", "gaussian:sigma=25", "--steps", "2"), "-o",
                 tmp_path / "run")
    assert result.exit_code == 130, result.output
    assert "interrupted as it ended; its work is complete" in result.stderr
    assert (tmp_path / "run" / "checkpoints" / "step_0000002.pt").is_file()
    assert (tmp_path / "run" / "G.safetensors").is_file() and (tmp_path / "run" / "G.onnx").is_file()
    monkeypatch.undo()
    again = cli("train", "--resume", tmp_path / "run")
    assert again.exit_code == 0 and "already at step 2 of 2" in again.output, again.output


def test_adapt_interrupted_in_its_noise_phases_last_step_does_not_start_the_denoiser_phase(
        clean_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = AdaptConfig(noisy_dir=str(write_camera_photos(tmp_path / "noisy", 48, 60)), clean_dir=str(clean_dir),
                      start=str(save_adapt_start(tmp_path / "start")), steps=6, patch_size=32, batch_size=2,
                      refine_batch_size=2, save_every=100, log_every=1, device="cpu", workers=0)
    interrupted_at(adapt_module.NoiseFitTrainer, 1, monkeypatch)  # the noise phase's second and last step (of 6)
    with pytest.raises(KeyboardInterrupt):
        adapt(cfg, tmp_path / "out")
    assert (tmp_path / "out" / "noise" / "checkpoints" / "step_0000002.pt").is_file()
    assert not (tmp_path / "out" / "refine").exists()
