"""The learning-rate schedule, and the optimiser, schedule and RNG state a checkpoint carries, shared by the
trainers."""

from __future__ import annotations

from numbers import Real
from typing import Any

import torch


def linear_decay(total: int, decay_from: float) -> Any:
    """Constant lr, then linear to zero over the last (1 - decay_from) of the steps."""
    start = int(total * decay_from)

    def factor(step: int) -> float:
        return 1.0 if step < start else max(0.0, (total - step) / max(1, total - start))

    return factor


def rng_state() -> dict[str, Any]:
    """Torch's RNG (F's noise draws); data and the pool have their own seeded generators."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_optimizer(opt: torch.optim.Optimizer, saved: dict[str, Any]) -> None:
    """``opt.load_state_dict``, then a ValueError (a one-line checkpoint error where resumes catch it) unless the
    state fits: torch takes moments of another shape, or a learning rate that is text, and fails only at the first
    step, with a traceback."""
    fresh = [dict(group) for group in opt.param_groups]
    opt.load_state_dict(saved)
    for before, group in zip(fresh, opt.param_groups, strict=True):
        for key, value in before.items():
            if key != "params" and not _same_kind(value, group.get(key, value)):
                raise ValueError(f"optimiser setting {key} is {group[key]!r:.40}")
        for param in group["params"]:
            for name, value in opt.state.get(param, {}).items():
                if not isinstance(value, torch.Tensor) or (value.dim() and value.shape != param.shape):
                    raise ValueError(f"optimiser state {name} does not fit a weight of shape {tuple(param.shape)}")


def load_scheduler(sched: torch.optim.lr_scheduler.LambdaLR, saved: dict[str, Any]) -> None:
    """``sched.load_state_dict``, then a ValueError unless its step and base rates are numbers, one per group; then
    the optimiser's rates from this run's schedule, since a resume with another ``--steps`` changes the schedule
    (the next step ran at the old one's rate: at 0 when it extended a finished run). Load the optimiser first."""
    sched.load_state_dict(saved)
    rates = sched.base_lrs
    if not isinstance(sched.last_epoch, int) or not isinstance(rates, list) \
            or len(rates) != len(sched.optimizer.param_groups) or not all(_same_kind(1.0, r) for r in rates):
        raise ValueError("its learning-rate schedule is not a step and one rate per optimiser group")
    for group, base, factor in zip(sched.optimizer.param_groups, rates, sched.lr_lambdas, strict=True):
        group["lr"] = base * factor(sched.last_epoch)  # the saved rate was the old total's, if --steps changed it
    sched._last_lr = [group["lr"] for group in sched.optimizer.param_groups]


def _same_kind(fresh: object, loaded: object) -> bool:
    """A number stays a (finite) number, a tuple of numbers one of the same length; other settings are not checked
    (they differ between torch versions)."""
    if isinstance(fresh, Real) and not isinstance(fresh, bool):
        return isinstance(loaded, Real) and not isinstance(loaded, bool) and abs(float(loaded)) < float("inf")
    if isinstance(fresh, tuple):
        return isinstance(loaded, tuple) and len(loaded) == len(fresh) \
            and all(_same_kind(a, b) for a, b in zip(fresh, loaded, strict=True))
    return True
