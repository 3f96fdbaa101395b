"""A run resumes on another device: one started on a GPU goes on on the CPU (`--resume RUN --device cpu`), with
its compute mode chosen again there, since the one it recorded was timed on the GPU."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from denoise_gan.errors import UserError
from denoise_gan.nets.run_folder import list_checkpoints
from denoise_gan.nets.weights import load_checkpoint, save_checkpoint
from denoise_gan.training import step_mode
from denoise_gan.training.step_mode import StepMode, choose_step_mode, mode_record, recorded_device
from helpers import cli, one_line_error, tiny_train_config

pytestmark = pytest.mark.usefixtures("losses_png_unrendered")  # trains; never looks at that picture


GPU_MODE = {"precision": "bf16", "channels_last": True, "compiled": False, "device": "cuda"}


def as_if_trained_on_a_gpu(run: Path) -> None:
    """Every checkpoint of ``run`` says it trained on cuda in bf16 + channels_last, as a GPU run's do."""
    for _, path in list_checkpoints(run / "checkpoints"):
        state = load_checkpoint(path)
        state["config"]["device"], state["step_mode"] = "cuda", dict(GPU_MODE)
        save_checkpoint(path, state)


def newest_state(run: Path) -> dict:
    return load_checkpoint(list_checkpoints(run / "checkpoints")[-1][1])


@pytest.fixture
def gpu_run(finished_run: Path, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    as_if_trained_on_a_gpu(run)
    return run


@pytest.mark.skipif(torch.cuda.is_available(), reason="the run's own device is there")
def test_a_gpu_run_without_a_gpu_says_how_to_go_on(gpu_run: Path) -> None:
    one_line_error(cli("train", "--resume", gpu_run, "--steps", "3"), "no CUDA GPU", "--device cpu")


def test_a_gpu_run_goes_on_on_the_cpu(gpu_run: Path) -> None:
    result = cli("train", "--resume", gpu_run, "--device", "CPU", "--steps", "4")
    assert result.exit_code == 0, result.output
    assert "trained in bf16 autocast + channels_last on cuda; on cpu it is chosen again" in result.output
    state = newest_state(gpu_run)
    assert state["step"] == 4 and state["config"]["device"] == "cpu"
    assert recorded_device(state) == "cpu"
    assert json.loads((gpu_run / "config.json").read_text())["device"] == "cpu"
    again = cli("train", "--resume", gpu_run, "--steps", "5")  # the run's own device is the CPU now
    assert again.exit_code == 0, again.output
    assert "the run's own" in again.output


def test_a_refinement_resumes_on_another_device(finished_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "ref"
    flags = ("--steps", "2", "--batch-size", "2", "--patch-size", "32", "--workers", "0", "--width", "4")
    assert cli("refine", finished_run, "-o", out, "--device", "cpu", *flags).exit_code == 0
    as_if_trained_on_a_gpu(out)
    result = cli("refine", finished_run, "-o", out, "--resume", "--device", "cpu", "--steps", "3")
    assert result.exit_code == 0, result.output
    assert "on cpu it is chosen again" in result.output
    assert newest_state(out)["step"] == 3 and newest_state(out)["config"]["device"] == "cpu"


def test_a_bad_device_on_a_resume_is_one_line_and_the_run_is_untouched(gpu_run: Path) -> None:
    before = sorted(p.name for p in (gpu_run / "checkpoints").iterdir())
    one_line_error(cli("train", "--resume", gpu_run, "--device", "gpu"), "unknown device 'gpu'")
    assert sorted(p.name for p in (gpu_run / "checkpoints").iterdir()) == before


def test_a_new_run_takes_its_device_from_its_config(clean_dir: Path, tmp_path: Path) -> None:
    """From Python, ``device=`` is for a resume; a new run given one was ambiguous with its config's."""
    from denoise_gan.training.cyclegan import train

    with pytest.raises(UserError, match="a new run's device is its config's"):
        train(tiny_train_config(clean_dir), tmp_path / "new", device="cpu")
    assert not (tmp_path / "new").exists()


def test_the_recorded_mode_is_kept_only_on_the_device_it_was_timed_on(monkeypatch: pytest.MonkeyPatch) -> None:
    bf16 = StepMode("bf16", channels_last=True)
    monkeypatch.setattr(step_mode, "candidate_modes", lambda *_: (StepMode(), bf16))

    class Trainer:
        amp_dtype = None

        def step_modules(self) -> list:
            return []

    cpu = torch.device("cpu")
    for resumed_on, kept in (("cpu", True), (None, True), ("cuda", False)):  # None: a record from before
        trainer, said = Trainer(), []
        choose_step_mode(trainer, iter([]), cpu, "auto", False, said.append, resumed=bf16, resumed_on=resumed_on)
        assert (trainer.step_mode == bf16) is kept, (resumed_on, said)
        assert trainer.step_device == "cpu"
    assert mode_record(bf16, "cuda") == GPU_MODE and recorded_device({"step_mode": mode_record(bf16)}) is None


def test_an_adaptation_started_on_a_gpu_goes_on_on_the_cpu(clean_dir: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Its request (config.json) and its noise phase's checkpoint say cuda; `--device cpu` goes on on the CPU and
    writes the request back, so a plain `--resume` later goes on there too."""
    import os
    import signal

    from denoise_gan.config import AdaptConfig
    from denoise_gan.training import adapt as adapt_module
    from denoise_gan.training.adapt import adapt
    from helpers import save_adapt_start, write_camera_photos

    cfg = AdaptConfig(noisy_dir=str(write_camera_photos(tmp_path / "noisy", 48, 60)), clean_dir=str(clean_dir),
                      start=str(save_adapt_start(tmp_path / "start")), steps=6, patch_size=32, batch_size=2,
                      refine_batch_size=2, save_every=1, log_every=1, device="cpu", workers=0)
    original = adapt_module.NoiseFitTrainer.step

    def interrupting(self: object, step: int, batch: dict) -> dict:
        if step == 0:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: the loop finishes this step, saves it and stops
        return original(self, step, batch)

    monkeypatch.setattr(adapt_module.NoiseFitTrainer, "step", interrupting)
    with pytest.raises(KeyboardInterrupt):
        adapt(cfg, tmp_path / "out")
    monkeypatch.setattr(adapt_module.NoiseFitTrainer, "step", original)
    request = tmp_path / "out" / "config.json"
    request.write_text(json.dumps({**json.loads(request.read_text()), "device": "cuda"}))
    as_if_trained_on_a_gpu(tmp_path / "out" / "noise")
    if not torch.cuda.is_available():
        one_line_error(cli("adapt", "--resume", tmp_path / "out"), "no CUDA GPU", "--device cpu")
        one_line_error(cli("adapt", "--resume", tmp_path / "out", "--device", "cuda:7"), "no CUDA GPU")
        assert json.loads(request.read_text())["device"] == "cuda"  # a device refused is not written
    result = cli("adapt", "--resume", tmp_path / "out", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "on cpu it is chosen again" in result.output
    assert json.loads(request.read_text())["device"] == "cpu"
    assert newest_state(tmp_path / "out" / "noise")["config"]["device"] == "cpu"
    assert newest_state(tmp_path / "out" / "refine")["config"]["device"] == "cpu"


def test_a_finished_gpu_run_resumed_on_the_cpu_records_it(gpu_run: Path) -> None:
    """Nothing to train, but the device is recorded in its checkpoint as in config.json: a later plain `--resume`
    (an extension) goes on on the CPU, where it was sent back to the absent GPU."""
    step = newest_state(gpu_run)["step"]
    result = cli("train", "--resume", gpu_run, "--device", "cpu")
    assert result.exit_code == 0 and f"already at step {step}" in result.output, result.output
    assert newest_state(gpu_run)["config"]["device"] == "cpu"
    extended = cli("train", "--resume", gpu_run, "--steps", str(step + 1))
    assert extended.exit_code == 0, extended.output
    assert newest_state(gpu_run)["step"] == step + 1


def test_the_python_api_takes_a_device_name_in_any_case(gpu_run: Path) -> None:
    from denoise_gan.training.cyclegan import train

    train(None, gpu_run, resume=True, steps=newest_state(gpu_run)["step"] + 1, device=" CPU")
    assert newest_state(gpu_run)["config"]["device"] == "cpu"


def test_a_record_from_before_devices_were_named_falls_back_on_the_runs_device() -> None:
    """A GPU run checkpointed by an earlier release kept its GPU-chosen mode on the CPU."""
    mode = {"precision": "bf16", "channels_last": True, "compiled": False}
    for asked, kind in (("cuda", "cuda"), ("cuda:1", "cuda"), ("cpu", "cpu"), ("auto", None)):
        assert recorded_device({"step_mode": mode, "config": {"device": asked}}) == kind, asked
    assert recorded_device({"step_mode": {**mode, "device": "cpu"}, "config": {"device": "cuda"}}) == "cpu"
    assert recorded_device(None) is None and recorded_device({"step": 3}) is None


def test_a_new_adaptation_takes_its_device_from_its_config(clean_dir: Path, tmp_path: Path) -> None:
    from denoise_gan.config import AdaptConfig
    from denoise_gan.training.adapt import adapt

    cfg = AdaptConfig(noisy_dir=str(tmp_path / "noisy"), clean_dir=str(clean_dir), steps=6, device="cpu")
    with pytest.raises(UserError, match="a new run's device is its config's"):
        adapt(cfg, tmp_path / "new", device="cpu")
    assert not (tmp_path / "new").exists()
