"""How a training step runs on this machine: fp32, bf16 autocast with channels_last, or torch.compile.

The fastest differs between CPUs (measured with ``benchmarks/train_speed.py``): with AVX-512 BF16, bf16 autocast
+ channels_last made the refinement step 1.6x faster and torch.compile 0.9x; on an AVX2-only CPU bf16 is
emulated and 6.5x slower while torch.compile is 1.45x faster. So ``--precision auto`` on the CPU times the
trainer's own step in each mode the machine can run and keeps the fastest. The trial steps run on a copy of the
trainer with the random state restored afterwards, so they change nothing in the run. Short runs (tests, smoke
runs) are not worth the trial: they take fp32, as does any run under torchrun, whose ranks must agree.
"""

from __future__ import annotations

import copy
import itertools
import logging
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from data_tools.library_output import quiet_warnings
from denoise_gan.runtime import World, autocast_dtype, precision_name, training_precision
from denoise_gan.training.schedule import rng_state, set_rng_state

MEASURE_FROM_STEPS = 1000  # fewer steps left than this: not worth a trial of a minute or two
TRIAL_WARMUP, TRIAL_STEPS = 2, 3


@dataclass(frozen=True)
class StepMode:
    precision: str = "fp32"  # "fp32" or "bf16" autocast (training refuses fp16; "fp16" only in older checkpoints)
    channels_last: bool = False
    compiled: bool = False

    @property
    def label(self) -> str:
        parts = ["fp32" if self.precision == "fp32" else f"{self.precision} autocast"]
        return " + ".join(parts + ["channels_last"] * self.channels_last + ["torch.compile"] * self.compiled)


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux reports them (empty elsewhere: no bf16 trial is offered there)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return frozenset(line.partition(":")[2].split())


def compiler_present() -> bool:
    """torch.compile on the CPU writes and builds C++: it needs a compiler (Linux is where it is supported)."""
    return sys.platform.startswith("linux") and any(shutil.which(c) for c in ("g++", "c++", "clang++"))


def candidate_modes(device: torch.device, precision: str) -> tuple[StepMode, ...]:
    """The modes worth timing: one when the user chose a precision, or on CUDA (channels_last, in bf16 where the
    GPU computes in it natively, fp32 otherwise)."""
    amp = training_precision(precision, device)  # validates the name; auto on a GPU without bf16 is fp32
    if device.type == "cuda":
        return (StepMode(precision_name(amp), channels_last=True),)
    if precision != "auto":
        return (StepMode("fp32") if amp is None else StepMode("bf16", channels_last=True),)
    modes = [StepMode()]
    if cpu_flags() & {"avx512_bf16", "amx_bf16"}:
        modes.append(StepMode("bf16", channels_last=True))
    if compiler_present():
        modes.append(StepMode(compiled=True))
    return tuple(modes)


def apply_mode(trainer: Any, mode: StepMode) -> None:
    """Set the trainer's autocast dtype and convert (or compile in place) the modules its step calls; compiling in
    place keeps parameter names, so checkpoints and weight files are the same in every mode."""
    trainer.amp_dtype = autocast_dtype(mode.precision)
    for module in trainer.step_modules():
        if mode.channels_last:
            module.to(memory_format=torch.channels_last)
        if mode.compiled:
            module.compile()
    trainer.step_mode = mode


def seconds_per_step(trainer: Any, mode: StepMode, batch: dict[str, torch.Tensor]) -> float:
    """A copy of the trainer in ``mode``, timed over a few steps on one batch; the run's random state is kept."""
    saved = rng_state()
    quiet = logging.getLogger("torch.utils.cpp_extension")  # the compiler's "no CUDA runtime" note on CPU hosts
    level = quiet.level
    try:
        quiet.setLevel(logging.ERROR)
        with quiet_warnings():  # the copied scheduler's "step() overridden": an artefact of the copy
            trial = copy.deepcopy(trainer)
            apply_mode(trial, mode)
            for i in range(TRIAL_WARMUP):
                trial.step(i, batch)
            start = time.perf_counter()
            for i in range(TRIAL_STEPS):
                trial.step(TRIAL_WARMUP + i, batch)
            return (time.perf_counter() - start) / TRIAL_STEPS
    finally:
        set_rng_state(saved)
        quiet.setLevel(level)


def worth_measuring(steps_left: int, world: World, deadline: float | None) -> bool:
    """A trial pays on a long single-process run; a run against a deadline (adapt) keeps its time for steps."""
    return steps_left >= MEASURE_FROM_STEPS and world.size == 1 and deadline is None


def mode_record(mode: StepMode, device_type: str | None = None) -> dict[str, Any]:
    """The mode as a checkpoint holds it, with the kind of device it was chosen on, so a resumed run takes the
    same one there and chooses again on another."""
    return {**asdict(mode), **({"device": device_type} if device_type else {})}


def recorded_mode(state: dict[str, Any] | None) -> StepMode | None:
    """The mode a checkpoint's run trained in (None for a checkpoint written before modes were recorded)."""
    record = state.get("step_mode") if isinstance(state, dict) else None
    if not isinstance(record, dict):
        return None
    try:
        return StepMode(str(record["precision"]), bool(record["channels_last"]), bool(record["compiled"]))
    except KeyError:
        return None


def recorded_device(state: dict[str, Any] | None) -> str | None:
    """The kind of device ("cpu", "cuda") the recorded mode was chosen on; for a checkpoint written before the
    record named it, the device its config asked for (None for ``auto``, which may have been either)."""
    record = state.get("step_mode") if isinstance(state, dict) else None
    device = record.get("device") if isinstance(record, dict) else None
    if isinstance(device, str):
        return device
    config = state.get("config") if isinstance(state, dict) else None
    asked = str(config.get("device") or "").strip().lower() if isinstance(config, dict) else ""
    return "cuda" if asked.startswith("cuda") else "cpu" if asked == "cpu" else None


def _not_offered(resumed: StepMode, precision: str) -> str:
    """Why a resumed run's mode is not among the candidates: not always the machine."""
    if resumed.precision == "fp16":  # a run whose auto once took fp16 on a GPU without bf16
        return "which training no longer uses (it trains in fp32 or bf16)"
    if precision != "auto":  # one candidate then, that precision's
        return f"which --precision {precision} leaves out"
    return "which this machine cannot run"


def choose_step_mode(trainer: Any, batches: Iterator[dict[str, torch.Tensor]], device: torch.device,
                     precision: str, measure: bool, say: Callable[[str], None],
                     resumed: StepMode | None = None,
                     resumed_on: str | None = None) -> Iterator[dict[str, torch.Tensor]]:
    """Put the trainer in its fastest mode and return the batches unchanged (the batch used for timing is put
    back at their front). Without ``measure`` the first candidate (fp32 on the CPU) is taken. A resumed run
    keeps the mode it trained in where this machine offers it: a step in another mode rounds differently, so
    the run would not go on as it would have uninterrupted (it chose again from the steps left, and fewer
    than a trial's worth went on in fp32 after torch.compile). A run resumed on another kind of device
    (``resumed_on``, a GPU run going on on the CPU) chooses again: the mode was timed on the other one."""
    modes = candidate_modes(device, precision)
    trainer.step_device = device.type  # recorded beside the mode in every checkpoint
    if resumed is not None and resumed_on not in (None, device.type):
        say(f"compute mode: the run trained in {resumed.label} on {resumed_on}; on {device.type} it is chosen again")
        resumed = None
    if resumed is not None and resumed in modes:
        apply_mode(trainer, resumed)
        say(f"compute mode: {resumed.label} (the run's own, as it trained before the resume)")
        return batches
    if resumed is not None:
        say(f"compute mode: the run trained in {resumed.label}, {_not_offered(resumed, precision)}; it goes on "
            "in another, so not exactly as it would have")
    if len(modes) == 1 or not measure:
        apply_mode(trainer, modes[0])
        why = (f"--precision {precision}" if precision != "auto" else "the only mode to try here" if len(modes) == 1
               else f"not timed: a trial pays only on a run of {MEASURE_FROM_STEPS} steps or more, "
                    "outside adapt's timed budget and torchrun")
        say(f"compute mode: {modes[0].label} ({why})")
        return batches
    first = next(batches)
    timings: dict[StepMode, float] = {}
    for mode in modes:
        try:
            timings[mode] = seconds_per_step(trainer, mode, first)
        except Exception as exc:  # a mode this machine cannot run (a compiler error, an op without bf16)
            say(f"compute mode {mode.label}: not usable here ({type(exc).__name__})")
    best = min(timings, key=timings.__getitem__) if timings else modes[0]
    apply_mode(trainer, best)
    say("compute mode: " + best.label + " (measured " +
        ", ".join(f"{m.label} {s:.3f} s" for m, s in timings.items()) + " per step)")
    return _PutBack(first, batches)


class _PutBack:
    """The batches with the one the trial used put back in front; ``close`` still reaches the data loader, whose
    workers would otherwise keep the process from exiting."""

    def __init__(self, first: dict[str, torch.Tensor], rest: Iterator[dict[str, torch.Tensor]]) -> None:
        self.chain, self.rest = itertools.chain([first], rest), rest

    def __iter__(self) -> _PutBack:
        return self

    def __next__(self) -> dict[str, torch.Tensor]:
        return next(self.chain)

    def close(self) -> None:
        close = getattr(self.rest, "close", None)
        if close is not None:
            close()
