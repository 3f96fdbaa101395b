"""Nothing is lost: SIGKILL / Ctrl-C of real `train` and `refine` processes at a random moment, then resume
completes the work; a crashing data-loader worker is a clear error, not a hang.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from rich.console import Console

from data_tools.atomic_files import atomic_write_bytes
from denoise_gan.errors import UserError
from denoise_gan.interrupts import interrupt_exit_code
from denoise_gan.nets.run_folder import list_checkpoints
from denoise_gan.nets.weights import load_generator, prune_checkpoints
from denoise_gan.runtime import World
from denoise_gan.training.batches import batch_iterator
from denoise_gan.training.loop import Cadence, run_loop
from helpers import (
    CHILD_ENV,
    TINY_TRAIN_FLAGS,
    assert_latest_checkpoint_loads,
    assert_log_is_whole,
    checkpoints_saved,
    cli,
    interrupt_at_random,
    launch,
    output_of,
    pace,
    signal_group,
    wait_until,
)

pytestmark = pytest.mark.usefixtures("losses_png_unrendered")  # trains; never looks at that picture


torch.set_num_threads(1)  # the suite shares two cores with a training job
# steps of the runs killed at a random moment: the delay is bounded by 3 saves' measured pace after step 6, and
# the saves left (9 of 2 steps each) keep the kill inside the loop even where later steps run 2-3x faster
LONG = 24


class RaisesInWorker(torch.utils.data.Dataset):
    """A dataset whose worker raises an ordinary exception (not a RuntimeError): it comes back under its own type."""

    def __len__(self) -> int:
        return 1000

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        raise ValueError("expected non-negative integer")


def test_an_exception_in_a_data_loader_worker_is_one_line_not_a_traceback_and_hang() -> None:
    with alarm(60), pytest.raises(UserError, match="data-loading worker failed: Caught ValueError"):
        next(batch_iterator(RaisesInWorker(), batch_size=2, start=0, steps=4, world=World(), workers=1, seed=0))
    # and the process that met it still exits: its persistent worker must not be left for exit to wait on
    script = ("import torch\n"
              "from denoise_gan.errors import UserError\n"
              "from denoise_gan.runtime import World\n"
              "from denoise_gan.training.batches import batch_iterator\n"
              "class Raises(torch.utils.data.Dataset):\n"
              "    def __len__(self): return 100\n"
              "    def __getitem__(self, i): raise ValueError('bad')\n"
              "try:\n"
              "    next(batch_iterator(Raises(), 2, 0, 4, World(), 1, 0))\n"
              "except UserError as exc:\n"
              "    print('one line:', exc)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "one line: a data-loading worker failed" in done.stdout, done.stderr


def test_the_step_plan_is_computed_as_drawn_not_held_for_every_step() -> None:
    from denoise_gan.training.batches import StepIndices

    for world, start, steps, batch in ((World(), 0, 5, 4), (World(rank=1, size=3, local_rank=1), 3, 7, 2)):
        plan = StepIndices(start, steps, world, batch)
        assert list(plan) == [(s * world.size + world.rank) * batch + b for s in range(start, steps)
                              for b in range(batch)]
        assert len(plan) == (steps - start) * batch
    huge = StepIndices(0, 10_000_000, World(), 16)  # the most steps a run may ask for: no list of 160 M numbers
    assert len(huge) == 160_000_000 and next(iter(huge)) == 0


@pytest.mark.slow  # real processes, seconds each; runs by default, deselect with -m 'not slow'
def test_sigkill_during_train_loses_nothing_and_resume_finishes(clean_dir: Path, tmp_path: Path) -> None:
    run, logs = tmp_path / "run", tmp_path / "logs"
    proc = launch(["train", "--clean", clean_dir, "--noise", "gaussian:sigma=25", "-o", run, "--steps", str(LONG),
                   *TINY_TRAIN_FLAGS], logs)
    per_save = pace(checkpoints_saved(run), proc, logs, after=2)
    delay = interrupt_at_random(proc, signal.SIGKILL, 0.6 * 5 * per_save, logs)  # 5 of 8 saves to go
    step = assert_latest_checkpoint_loads(run, "cyclegan")
    assert step < LONG, delay
    resumed = cli("train", "--resume", run)
    assert resumed.exit_code == 0, (delay, resumed.output, repr(resumed.exception))
    assert f"resuming at step {step}" in resumed.stdout
    assert assert_latest_checkpoint_loads(run, "cyclegan") == LONG
    assert_log_is_whole(run, LONG, 2)
    assert load_generator(run / "G.safetensors")[2]["step"] == LONG
    assert not list((run / "checkpoints").glob(".*.part")), "a save cut short leaves no temp file after resume"


@pytest.mark.slow  # real processes, seconds each; runs by default, deselect with -m 'not slow'
def test_ctrl_c_during_train_saves_the_step_and_says_resume(clean_dir: Path, tmp_path: Path) -> None:
    """SIGTERM takes the same path (tested in-process below, at every moment that matters)."""
    run, logs = tmp_path / "run", tmp_path / "logs"
    proc = launch(["train", "--clean", clean_dir, "--noise", "gaussian:sigma=25", "-o", run, "--steps", str(LONG),
                   *TINY_TRAIN_FLAGS], logs)
    per_save = pace(checkpoints_saved(run), proc, logs, after=2)
    delay = interrupt_at_random(proc, signal.SIGINT, 0.6 * 5 * per_save, logs)
    text = output_of(logs)
    assert proc.returncode == 130, (delay, text[-3000:])
    assert "Traceback" not in text, text[-3000:]
    said = re.search(r"interrupted at step (\d+); checkpoint saved, continue with --resume", text)
    assert said, text[-3000:]
    assert text.count("interrupted") == 1, text[-3000:]  # said once, by the loop that knows the step
    assert assert_latest_checkpoint_loads(run, "cyclegan") == int(said.group(1))
    resumed = cli("train", "--resume", run)
    assert resumed.exit_code == 0, resumed.output
    assert_log_is_whole(run, LONG, 2)


def _signal_self(sig: int) -> None:
    """Deliver `sig` to this process, but only while the run loop's handler is installed: the default
    handlers would end the test session."""
    assert signal.getsignal(sig) not in (signal.default_int_handler, signal.SIG_DFL), "no handler installed"
    os.kill(os.getpid(), sig)


class _SignallingTrainer:
    """A trainer that receives signals at chosen moments: {step index: [signals]} during that step, and
    ("save", step) during the save of that step."""

    log_fields = ("loss",)

    def __init__(self, during: dict[object, list[int]]) -> None:
        self.during, self.saved = during, []

    def step(self, step: int, batch: object) -> dict[str, float]:
        for sig in self.during.get(step, []):
            _signal_self(sig)
        return {"loss": 1.0}

    def lr(self) -> float:
        return 0.1

    def state(self, step: int) -> dict:
        for sig in self.during.get(("save", step), []):
            _signal_self(sig)
        self.saved.append(step)
        return {"kind": "test", "step": step}

    def export(self, run_dir: Path, step: int) -> None:
        pass

    def validate(self, run_dir: Path, step: int) -> dict[str, float]:
        return {}


def _batches(signal_on_first: int | None = None, then_fail: bool = False) -> Iterator[dict]:
    """Endless batches; optionally a signal while the first is fetched, and the loader dying with it (as its
    workers do on a terminal's Ctrl-C)."""
    if signal_on_first is not None:
        _signal_self(signal_on_first)
        if then_fail:
            raise RuntimeError("DataLoader worker (pid 123) exited unexpectedly")
    while True:
        yield {}


INT, TERM = signal.SIGINT, signal.SIGTERM


@pytest.mark.parametrize("start, during, first, fail, saved, says", [
    # (periodic saves every 2 steps) the step in progress finishes, then its checkpoint is saved
    pytest.param(0, {2: [INT]}, None, False, [2, 3], "interrupted at step 3; checkpoint saved, continue with --resume",
                 id="sigint-mid-step"),
    pytest.param(0, {2: [TERM]}, None, False, [2, 3], "interrupted at step 3; checkpoint saved, continue with --resume",
                 id="sigterm-mid-step"),
    pytest.param(4, {}, INT, False, [5], "interrupted at step 5; checkpoint saved, continue with --resume",
                 id="sigint-while-fetching-after-resume"),
    # a signal during a periodic save: that save completes and is not repeated
    pytest.param(0, {("save", 2): [INT]}, None, False, [2], "interrupted at step 2; checkpoint saved",
                 id="sigint-during-save"),
    # Ctrl-C also killed the loader's workers: still a clean stop at the last finished step
    pytest.param(0, {}, INT, True, [], "interrupted before the first step; nothing saved",
                 id="sigint-kills-loader-before-first-step"),
    # a second Ctrl-C stops at once, mid-step, and saves nothing half-done
    pytest.param(0, {3: [INT, INT]}, None, False, [2],
                 "stopped at step 3 by a second interrupt, at once, without saving", id="second-sigint"),
    # two in the step after a save stop at once: the saved checkpoint is the step before
    pytest.param(0, {2: [INT, INT]}, None, False, [2], "stopped at step 2 by a second interrupt, at once, without "
                 "saving; --resume continues from the last checkpoint (step 2)", id="second-right-after-a-save"),
    # one during a save waits for it (raised inside, it could land in a garbage collector's callback and be lost)
    pytest.param(0, {("save", 2): [INT, INT]}, None, False, [2], "stopped at step 2 by a second interrupt, once its "
                 "checkpoint was saved; --resume continues from the last checkpoint (step 2)", id="second-during-save"),
])
def test_interrupts_stop_at_a_step_boundary_and_say_what_was_saved(tmp_path: Path, start: int, during: dict,
                                                                    first: int | None, fail: bool, saved: list[int],
                                                                    says: str) -> None:
    trainer = _SignallingTrainer(during)
    console = Console(file=io.StringIO(), width=300)
    (tmp_path / "checkpoints").mkdir()
    handlers = {sig: signal.getsignal(sig) for sig in (INT, TERM)}
    with pytest.raises(KeyboardInterrupt):
        run_loop(trainer, _batches(first, fail), start, Cadence(10, 1, 2, 0, 3), tmp_path, World(), console)
    assert trainer.saved == saved
    assert [s for s, _ in list_checkpoints(tmp_path / "checkpoints")] == saved
    printed = console.file.getvalue()
    assert says in printed, printed
    if not saved and start == 0:
        assert "checkpoint saved" not in printed
    assert {sig: signal.getsignal(sig) for sig in (INT, TERM)} == handlers  # restored


def test_an_interrupt_during_the_last_step_ends_a_finished_run_as_finished(tmp_path: Path) -> None:
    """The step in progress finishes before the loop looks at the signal: if it was the last, the run is complete,
    so it ends as one (its last checkpoint saved, no "interrupted ... --resume" line, no interrupt raised)."""
    trainer = _SignallingTrainer({9: [TERM]})
    console = Console(file=io.StringIO(), width=300)
    (tmp_path / "checkpoints").mkdir()
    try:
        assert run_loop(trainer, _batches(), 0, Cadence(10, 1, 2, 0, 3), tmp_path, World(), console) == 10
    except KeyboardInterrupt:  # (caught here: one reaching pytest would stop the whole session)
        pytest.fail("a run whose last step completed was reported as interrupted")
    assert list_checkpoints(tmp_path / "checkpoints")[-1][0] == 10
    assert "interrupted" not in console.file.getvalue()


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on Windows")
@pytest.mark.parametrize("ignored", [False, True], ids=["sighup-mid-step", "sighup-under-nohup"])
def test_a_hangup_stops_at_a_step_boundary_as_a_sigterm_does_unless_ignored(tmp_path: Path, ignored: bool) -> None:
    """An ssh session that dropped killed the run mid-step, losing the steps since its last save; under nohup, as
    asked, the run goes on."""
    console = Console(file=io.StringIO(), width=300)
    (tmp_path / "checkpoints").mkdir()
    trainer = _SignallingTrainer({2: [signal.SIGHUP]})
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN if ignored else signal.SIG_DFL)
    try:
        if ignored:  # (delivered ignored: _signal_self's check passes, and nothing happens)
            assert run_loop(trainer, _batches(), 0, Cadence(10, 1, 2, 0, 3), tmp_path, World(), console) == 10
        else:
            with pytest.raises(KeyboardInterrupt):
                run_loop(trainer, _batches(), 0, Cadence(10, 1, 2, 0, 3), tmp_path, World(), console)
        assert signal.getsignal(signal.SIGHUP) == (signal.SIG_IGN if ignored else signal.SIG_DFL)  # restored
    finally:
        signal.signal(signal.SIGHUP, previous)
    printed = console.file.getvalue()
    if ignored:
        assert "interrupted" not in printed and trainer.saved == [2, 4, 6, 8, 10], printed
        return
    assert trainer.saved == [2, 3] and "interrupted at step 3; checkpoint saved, continue with --resume" in printed
    assert interrupt_exit_code() == 129


class _DivergingTrainer(_SignallingTrainer):
    """Its loss turns NaN at one step, as a learning rate far too high makes it."""

    def __init__(self, at: int, value: float = float("nan")) -> None:
        super().__init__({})
        self.at, self.value = at, value

    def step(self, step: int, batch: object) -> dict[str, float]:
        return {"loss": self.value if step + 1 >= self.at else 1.0}


def _kept_after_divergence(trainer: _SignallingTrainer, run_dir: Path, message: str) -> list[int]:
    """Run the loop (10 steps, a checkpoint every 2) to the divergence ``message``; the steps of the checkpoints
    it kept."""
    (run_dir / "checkpoints").mkdir()
    with pytest.raises(UserError, match=message):
        run_loop(trainer, _batches(), 0, Cadence(10, 1, 2, 0, 3), run_dir, World(), Console(file=io.StringIO()))
    return [s for s, _ in list_checkpoints(run_dir / "checkpoints")]


def test_a_diverged_run_stops_with_one_line_and_saves_nothing_after_its_last_good_checkpoint(tmp_path: Path) -> None:
    trainer = _DivergingTrainer(at=5)
    kept = _kept_after_divergence(trainer, tmp_path, r"^training diverged at step 5 \(loss = nan\); checkpoints "
                                                     r"up to step 4 are kept, none after; lower the learning rate "
                                                     r"\(--lr\)")
    assert trainer.saved == [2, 4] and kept == [2, 4]


def test_an_infinite_loss_is_a_divergence_too(tmp_path: Path) -> None:
    trainer = _DivergingTrainer(at=5, value=float("inf"))
    kept = _kept_after_divergence(trainer, tmp_path, r"^training diverged at step 5 \(loss = inf\)")
    assert trainer.saved == [2, 4] and kept == [2, 4]


class _NaNWeightsTrainer(_SignallingTrainer):
    """Its update at one step makes the weights NaN, while that step's losses (computed before it) are numbers."""

    def __init__(self, at: int) -> None:
        super().__init__({})
        self.at, self.weight = at, torch.ones(3)

    def step(self, step: int, batch: object) -> dict[str, float]:
        if step + 1 >= self.at:
            self.weight = self.weight * float("nan")
        return {"loss": 1.0}

    def state(self, step: int) -> dict:
        return {**super().state(step), "nets": {"G": {"w": self.weight}}}


def test_weights_an_update_made_nan_are_never_saved(tmp_path: Path) -> None:
    """The checkpoint the divergence message called kept held nothing but NaN, and was exported as G."""
    kept = _kept_after_divergence(_NaNWeightsTrainer(at=4), tmp_path, r"^training diverged by step 4 \(its weights "
                                  r"are no longer finite numbers\); checkpoints up to step 2 are kept")
    assert kept == [2]


def test_weights_gone_nan_at_a_validation_step_say_the_run_diverged(tmp_path: Path) -> None:
    """Validation between checkpoints ran the NaN network and failed with the engine's "the model produced NaN"
    (or logged NaN scores); the weights are checked first, so the user reads that the run diverged."""
    class Validated(_NaNWeightsTrainer):
        validated: list[int] = []

        def validate(self, run_dir: Path, step: int) -> dict[str, float]:
            self.validated.append(step)
            return {}

    trainer = Validated(at=3)
    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(UserError, match=r"^training diverged by step 3 \(its weights are no longer finite"):
        run_loop(trainer, _batches(), 0, Cadence(10, 1, 100, 3, 3), tmp_path, World(), Console(file=io.StringIO()))
    assert trainer.validated == []


def test_train_whose_losses_overflow_is_refused_and_leaves_no_folder(clean_dir: Path, tmp_path: Path) -> None:
    result = cli("train", "--clean", clean_dir, "--noise", "gaussian:sigma=25", "-o", tmp_path / "run",
                 *TINY_TRAIN_FLAGS, "--steps", "4", "--lambda-cycle", "1e308")
    assert result.exit_code == 2 and "training diverged at step" in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()


@pytest.mark.slow  # real processes, seconds each; runs by default, deselect with -m 'not slow'
def test_sigkill_during_refine_then_resume_finishes(finished_run: Path, tmp_path: Path) -> None:
    out, logs = tmp_path / "refined", tmp_path / "logs"
    proc = launch(["refine", finished_run, "-o", out, "--steps", str(LONG), "--batch-size", "2", "--patch-size", "32",
                   "--save-every", "2", "--log-every", "2", "--workers", "0", "--device", "cpu"], logs)
    per_save = pace(checkpoints_saved(out), proc, logs, after=2)
    delay = interrupt_at_random(proc, signal.SIGKILL, 0.6 * 5 * per_save, logs)
    step = assert_latest_checkpoint_loads(out, "refine")
    assert step < LONG, delay
    resumed = cli("refine", finished_run, "-o", out, "--resume")
    assert resumed.exit_code == 0, (delay, resumed.output, repr(resumed.exception))
    assert assert_latest_checkpoint_loads(out, "refine") == LONG
    assert_log_is_whole(out, LONG, 2)
    assert load_generator(out / "G.safetensors")[2]["step"] == LONG


def test_a_save_cut_short_leaves_only_a_hidden_temp_that_resume_ignores_and_removes(tmp_path: Path) -> None:
    """SIGKILL between writing a checkpoint's temp file and renaming it: simulated exactly in a forked child
    that dies at the rename. The previous checkpoint is still the latest, and the temp is cleaned up later."""
    folder = tmp_path / "checkpoints"
    atomic_write_bytes(folder / "step_0000002.pt", b"old")
    pid = os.fork()
    if pid == 0:  # the child: die hard where a crash hurts most
        os.replace = lambda *a, **k: os._exit(9)  # type: ignore[assignment]
        atomic_write_bytes(folder / "step_0000004.pt", b"new checkpoint bytes")
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 9
    leftovers = [p.name for p in folder.iterdir() if p.name != "step_0000002.pt"]
    assert len(leftovers) == 1 and re.fullmatch(r"\.step_0000004\.pt\..+\.part", leftovers[0]), leftovers
    assert [s for s, _ in list_checkpoints(folder)] == [2]
    prune_checkpoints(folder, keep=3)  # what every later save runs
    assert sorted(p.name for p in folder.iterdir()) == ["step_0000002.pt"]


class DiesInWorker(torch.utils.data.Dataset):
    """A dataset whose worker process dies hard (as on a segfault or the OOM killer), not with an exception."""

    def __len__(self) -> int:
        return 1000

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if torch.utils.data.get_worker_info() is not None:
            os._exit(3)
        return {"clean": torch.zeros(3, 8, 8)}


@contextmanager
def alarm(seconds: int) -> Iterator[None]:
    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"no result within {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_crashing_data_loader_worker_is_a_clear_error_not_a_hang() -> None:
    start = time.monotonic()
    with alarm(60), pytest.raises(UserError, match="data-loading worker failed") as info:
        next(batch_iterator(DiesInWorker(), batch_size=2, start=0, steps=4, world=World(), workers=1, seed=0))
    assert time.monotonic() - start < 30
    assert "\n" not in str(info.value)


@pytest.mark.slow  # real processes, seconds each; runs by default, deselect with -m 'not slow'
def test_signal_to_the_whole_process_group_with_loader_workers_saves_and_resumes(clean_dir: Path,
                                                                                 tmp_path: Path) -> None:
    """A terminal's Ctrl-C (or `kill` of the group) reaches the data-loading workers too. They leave stopping to
    the main process, which finishes its step and saves, instead of dying mid-step and crashing it."""
    run, logs = tmp_path / "run", tmp_path / "logs"
    flags = [f if f != "0" or TINY_TRAIN_FLAGS[i - 1] != "--workers" else "1" for i, f in enumerate(TINY_TRAIN_FLAGS)]
    assert flags[flags.index("--workers") + 1] == "1"
    logs.mkdir()
    with (logs / "stdout").open("w") as out, (logs / "stderr").open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "denoise_gan", "train", "--clean", str(clean_dir), "--noise",
                                 "gaussian:sigma=25", "-o", str(run), "--steps", "400", *flags],
                                env=CHILD_ENV, stdout=out, stderr=err, start_new_session=True)
    wait_until(lambda: checkpoints_saved(run)() >= 2, proc, logs)
    signal_group(proc, signal.SIGTERM, lambda: output_of(logs))
    text = output_of(logs)
    assert proc.returncode == 143, text[-3000:]  # SIGTERM's code, as the shell gives it
    assert "Traceback" not in text, text[-3000:]
    said = re.search(r"interrupted at step (\d+); checkpoint saved", text)
    assert said, text[-3000:]
    assert assert_latest_checkpoint_loads(run, "cyclegan") == int(said.group(1))


class _SignalDispositions(torch.utils.data.Dataset):
    """Samples that say whether the worker drawing them ignores SIGINT, SIGTERM and SIGHUP."""

    def __len__(self) -> int:
        return 100

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        return {"ignored": torch.tensor([signal.getsignal(sig) == signal.SIG_IGN for sig in sigs])}


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on Windows")
def test_data_loading_workers_ignore_a_hangup_as_they_ignore_a_ctrl_c_and_a_sigterm() -> None:
    """A hang-up reaches the whole process group: a worker it killed left the step to a dying loader."""
    batches = batch_iterator(_SignalDispositions(), batch_size=2, start=0, steps=4, world=World(), workers=1, seed=0)
    with alarm(60):
        ignored = next(batches)["ignored"]
    batches.close()  # type: ignore[attr-defined]
    assert ignored.tolist() == [[True, True, True]] * 2


@pytest.mark.slow  # real processes, seconds each; runs by default, deselect with -m 'not slow'
@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on Windows")
@pytest.mark.parametrize("terminal", [False, True], ids=["to-a-log", "on-the-terminal-that-hung-up"])
def test_a_hangup_to_the_whole_process_group_saves_the_step_and_resume_finishes(clean_dir: Path, tmp_path: Path,
                                                                                terminal: bool) -> None:
    """An ssh session that drops hangs up the run and its data-loading workers: the workers ignore it, as they do
    a Ctrl-C, and the run finishes its step, saves it and exits 129; it killed them all mid-step. On the terminal
    that hung up, the progress and the line saying where it stopped fail with EIO: lost, not the save."""
    import pty

    run, logs = tmp_path / "run", tmp_path / "logs"
    flags = [f if f != "0" or TINY_TRAIN_FLAGS[i - 1] != "--workers" else "1" for i, f in enumerate(TINY_TRAIN_FLAGS)]
    logs.mkdir()
    master, slave = pty.openpty()
    previous = signal.signal(signal.SIGHUP, signal.SIG_DFL)  # the child's, whatever the test run's (nohup?)
    try:
        with (logs / "stdout").open("w") as out, (logs / "stderr").open("w") as err:
            proc = subprocess.Popen([sys.executable, "-m", "denoise_gan", "train", "--clean", str(clean_dir),
                                     "--noise", "gaussian:sigma=25", "-o", str(run), "--steps", str(LONG), *flags],
                                    env=CHILD_ENV, stdout=slave if terminal else out, stderr=slave if terminal else err,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
    finally:
        signal.signal(signal.SIGHUP, previous)
        os.close(slave)
    os.set_blocking(master, False)
    wait_until(lambda: _shown(master) and checkpoints_saved(run)() >= 2, proc, logs)
    os.close(master)  # the ssh session: gone
    signal_group(proc, signal.SIGHUP, lambda: output_of(logs))
    text = output_of(logs)
    assert proc.returncode == 129, text[-3000:]  # SIGHUP's code, as the shell gives it (1: a traceback)
    step = assert_latest_checkpoint_loads(run, "cyclegan")
    assert 4 <= step < LONG
    if not terminal:
        assert "Traceback" not in text, text[-3000:]
        said = re.search(r"interrupted at step (\d+); checkpoint saved", text)
        assert said and int(said.group(1)) == step, text[-3000:]
    resumed = cli("train", "--resume", run)
    assert resumed.exit_code == 0, resumed.output
    assert f"resuming at step {step}" in resumed.stdout
    assert assert_latest_checkpoint_loads(run, "cyclegan") == LONG
    assert_log_is_whole(run, LONG, 2)


def _shown(terminal: int) -> bool:
    """What a terminal (a non-blocking pty's side) has been sent, read and dropped, so that the command never
    waits on a full one; True, for a test's condition."""
    try:
        while os.read(terminal, 65536):
            pass
    except OSError:  # nothing more now (BlockingIOError)
        pass
    return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork is the start method on Linux only")
def test_data_workers_are_forked_so_they_share_the_photos_whatever_python_s_default() -> None:
    """Python 3.14 starts workers by forkserver on Linux, where each gets its own copy of every decoded photo (two
    workers: 2.0 GB of memory in all became 5.1); a forked worker shares them. Here forkserver is made the
    default, as 3.14 has it, and the worker is still the training process's own child."""
    script = ("import multiprocessing, os, torch\n"
              "from denoise_gan.runtime import World\n"
              "from denoise_gan.training.batches import batch_iterator\n"
              "class Parent(torch.utils.data.Dataset):\n"
              "    def __len__(self): return 100\n"
              "    def __getitem__(self, i): return {'parent': torch.tensor(os.getppid())}\n"
              "if __name__ == '__main__':\n"
              "    multiprocessing.set_start_method('forkserver')\n"
              "    batch = next(batch_iterator(Parent(), 2, 0, 4, World(), 1, 0))\n"
              "    print('forked:', int(batch['parent'][0]) == os.getpid())\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "forked: True" in done.stdout, (done.stdout, done.stderr)
