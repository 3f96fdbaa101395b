"""The per-machine choice of how a training step runs: trial steps on a copy change nothing in the run, the
fastest usable mode is applied, and short or deadline-bound runs skip the trial."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from denoise_gan.errors import UserError
from denoise_gan.runtime import World
from denoise_gan.training import step_mode
from denoise_gan.training.step_mode import StepMode, apply_mode, candidate_modes, choose_step_mode, worth_measuring

pytestmark = pytest.mark.usefixtures("losses_png_unrendered")  # trains; never looks at that picture


CPU = torch.device("cpu")


class TinyTrainer:
    """A real optimisation step on a small conv net, with the hooks the trial needs."""

    def __init__(self) -> None:
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-2)
        self.amp_dtype: torch.dtype | None = None
        self.steps_run = 0

    def step_modules(self) -> list[nn.Module]:
        return [self.net]

    def step(self, step: int, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        noisy = batch["clean"] + 0.1 * torch.randn_like(batch["clean"])  # draws from the global RNG, as F does
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.amp_dtype is not None):
            loss = (self.net(noisy).float() - batch["clean"]).abs().mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.steps_run += 1
        return {"loss": loss.item()}


def batches(count: int) -> list[dict[str, torch.Tensor]]:
    return [{"clean": torch.full((2, 3, 16, 16), i / count)} for i in range(count)]


def test_the_trial_leaves_weights_random_state_and_batches_as_they_were(monkeypatch) -> None:
    trainer = TinyTrainer()
    before = {k: v.clone() for k, v in trainer.net.state_dict().items()}
    monkeypatch.setattr(step_mode, "candidate_modes", lambda *_: (StepMode(), StepMode("bf16", channels_last=True)))
    torch.manual_seed(7)
    expected_draw = torch.rand(3)
    torch.manual_seed(7)
    said: list[str] = []
    data = batches(4)
    out = list(choose_step_mode(trainer, iter(data), CPU, "auto", True, said.append))
    assert torch.equal(torch.rand(3), expected_draw)
    assert all(torch.equal(v, before[k]) for k, v in trainer.net.state_dict().items())
    assert trainer.steps_run == 0
    assert [b["clean"][0, 0, 0, 0].item() for b in out] == [b["clean"][0, 0, 0, 0].item() for b in data]
    assert len(said) == 1 and said[0].startswith("compute mode: ") and "fp32" in said[0] and "bf16" in said[0]
    assert trainer.step_mode in (StepMode(), StepMode("bf16", channels_last=True))


def test_the_put_back_batches_still_close_the_data_loader(monkeypatch) -> None:
    """run_loop closes the batches to stop the loader's workers; a trial must not hide that (a run that never
    exits, its workers waiting to be joined)."""
    monkeypatch.setattr(step_mode, "candidate_modes", lambda *_: (StepMode(), StepMode("bf16", channels_last=True)))
    closed: list[bool] = []

    class Loader:
        def __init__(self) -> None:
            self.items = iter(batches(3))

        def __iter__(self) -> Loader:
            return self

        def __next__(self) -> dict[str, torch.Tensor]:
            return next(self.items)

        def close(self) -> None:
            closed.append(True)

    out = choose_step_mode(TinyTrainer(), Loader(), CPU, "auto", True, lambda _: None)
    assert len(list(out)) == 3
    out.close()
    assert closed == [True]


def test_the_faster_mode_wins_and_a_failing_one_is_skipped(monkeypatch) -> None:
    slow, fast, broken = StepMode(), StepMode("bf16", channels_last=True), StepMode(compiled=True)
    monkeypatch.setattr(step_mode, "candidate_modes", lambda *_: (slow, fast, broken))

    def timed(trainer, mode, batch):
        if mode == broken:
            raise RuntimeError("no compiler")
        return {slow: 0.2, fast: 0.1}[mode]

    monkeypatch.setattr(step_mode, "seconds_per_step", timed)
    said: list[str] = []
    trainer = TinyTrainer()
    choose_step_mode(trainer, iter(batches(2)), CPU, "auto", True, said.append)
    assert trainer.step_mode == fast and trainer.amp_dtype == torch.bfloat16
    assert trainer.net[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert any("not usable here (RuntimeError)" in s for s in said)


def test_without_a_trial_fp32_is_taken_and_no_batch_is_consumed(monkeypatch) -> None:
    monkeypatch.setattr(step_mode, "candidate_modes", lambda *_: (StepMode(), StepMode("bf16", channels_last=True)))
    trainer, data = TinyTrainer(), iter(batches(3))
    said: list[str] = []
    assert choose_step_mode(trainer, data, CPU, "auto", False, said.append) is data
    assert trainer.step_mode == StepMode() and trainer.amp_dtype is None
    assert len(said) == 1 and said[0].startswith("compute mode: fp32 (not timed")  # a log still says which ran


def test_a_chosen_precision_is_named_in_the_log() -> None:
    said: list[str] = []
    choose_step_mode(TinyTrainer(), iter(batches(1)), CPU, "fp32", True, said.append)
    assert said == ["compute mode: fp32 (--precision fp32)"]


def test_when_a_trial_is_worth_it() -> None:
    one, two = World(), World(rank=0, size=2, local_rank=0)
    assert worth_measuring(step_mode.MEASURE_FROM_STEPS, one, None)
    assert not worth_measuring(step_mode.MEASURE_FROM_STEPS - 1, one, None)  # tests, smoke runs
    assert not worth_measuring(10**6, two, None)  # ranks must agree
    assert not worth_measuring(10**6, one, deadline=123.0)  # adapt's minutes go to steps


def test_a_chosen_precision_is_the_only_candidate_and_auto_offers_what_the_cpu_has(monkeypatch) -> None:
    assert candidate_modes(CPU, "fp32") == (StepMode(),)
    assert candidate_modes(CPU, "bf16") == (StepMode("bf16", channels_last=True),)
    monkeypatch.setattr(step_mode, "cpu_flags", lambda: frozenset({"avx2"}))
    monkeypatch.setattr(step_mode, "compiler_present", lambda: False)
    assert candidate_modes(CPU, "auto") == (StepMode(),)
    monkeypatch.setattr(step_mode, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    monkeypatch.setattr(step_mode, "compiler_present", lambda: True)
    assert candidate_modes(CPU, "auto") == (StepMode(), StepMode("bf16", channels_last=True),
                                            StepMode(compiled=True))


def test_compiling_in_place_keeps_parameter_names() -> None:
    trainer = TinyTrainer()
    names = list(trainer.net.state_dict())
    apply_mode(trainer, StepMode(compiled=True))
    assert list(trainer.net.state_dict()) == names and trainer.amp_dtype is None


def test_cuda_without_native_bf16_trains_in_fp32_not_fp16(monkeypatch) -> None:
    """There is no loss scaling, and fp16 flushed most of the default G's small gradients to zero: auto took fp16
    on a GPU without bf16 (a T4, a V100), which training refuses when asked by name. torch's check says such a
    GPU has bf16 (emulated, slowly): only native bf16 counts for auto, while bf16 by name still runs emulated
    (a run started so resumes); a GPU that cannot even emulate it says to train in fp32."""
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *_, **__: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *_: (7, 5))  # a T4
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "Tesla T4")
    (mode,) = candidate_modes(torch.device("cuda"), "auto")
    assert mode == StepMode("fp32", channels_last=True)
    trainer = TinyTrainer()
    apply_mode(trainer, mode)
    assert trainer.amp_dtype is None
    assert candidate_modes(torch.device("cuda"), "bf16") == (StepMode("bf16", channels_last=True),)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *_: (8, 0))
    assert candidate_modes(torch.device("cuda"), "auto") == (StepMode("bf16", channels_last=True),)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *_, **__: False)
    with pytest.raises(UserError, match=r"Tesla T4\) has no bf16; train with --precision fp32"):
        candidate_modes(torch.device("cuda"), "bf16")


def test_a_resumed_run_keeps_the_mode_it_trained_in(monkeypatch) -> None:
    """It chose again from the steps left: a run that trained compiled went on in fp32 after a resume (fewer than
    a trial's worth left), so it did not go on as it would have uninterrupted."""
    bf16 = StepMode("bf16", channels_last=True)
    monkeypatch.setattr(step_mode, "candidate_modes", lambda *_: (StepMode(), bf16))
    trainer, data, said = TinyTrainer(), iter(batches(2)), []
    assert choose_step_mode(trainer, data, CPU, "auto", False, said.append, resumed=bf16) is data  # no trial
    assert trainer.step_mode == bf16 and said == ["compute mode: bf16 autocast + channels_last (the run's own, as "
                                                  "it trained before the resume)"]
    elsewhere, said = TinyTrainer(), []  # resumed on a machine without a compiler: said, then chosen as usual
    choose_step_mode(elsewhere, iter(batches(2)), CPU, "auto", False, said.append, resumed=StepMode(compiled=True))
    assert elsewhere.step_mode == StepMode() and "which this machine cannot run" in said[0]


def test_a_resumed_fp16_run_is_not_told_the_machine_cannot_run_it(monkeypatch) -> None:
    """A run whose auto took fp16 on a GPU without bf16 (before training left fp16), resumed: "which this machine
    cannot run", on the very GPU that ran it. Training no longer uses fp16; nor is --precision the machine."""
    said: list[str] = []
    choose_step_mode(TinyTrainer(), iter(batches(2)), CPU, "auto", False, said.append,
                     resumed=StepMode("fp16", channels_last=True))
    assert "fp16 autocast + channels_last, which training no longer uses (it trains in fp32 or bf16)" in said[0]
    said = []
    choose_step_mode(TinyTrainer(), iter(batches(2)), CPU, "fp32", False, said.append, resumed=StepMode(compiled=True))
    assert "torch.compile, which --precision fp32 leaves out" in said[0]


def test_the_mode_travels_in_the_checkpoint(monkeypatch, clean_dir, tmp_path) -> None:
    from denoise_gan.nets.run_folder import list_checkpoints
    from denoise_gan.nets.weights import load_checkpoint
    from denoise_gan.training.cyclegan import train
    from helpers import tiny_train_config

    bf16 = StepMode("bf16", channels_last=True)
    monkeypatch.setattr(step_mode, "candidate_modes", lambda *_: (bf16, StepMode()))  # a new run: bf16
    train(tiny_train_config(clean_dir, steps=2, save_every=2), tmp_path / "run")
    newest = list_checkpoints(tmp_path / "run" / "checkpoints")[-1][1]
    state = load_checkpoint(newest)
    assert step_mode.recorded_mode(state) == bf16
    monkeypatch.setattr(step_mode, "candidate_modes", lambda *_: (StepMode(), bf16))  # fp32 would come first now
    train(None, tmp_path / "run", resume=True, steps=4)
    assert step_mode.recorded_mode(load_checkpoint(list_checkpoints(tmp_path / "run" / "checkpoints")[-1][1])) == bf16
    assert step_mode.recorded_mode({"step": 2}) is None  # a checkpoint from before modes were recorded
