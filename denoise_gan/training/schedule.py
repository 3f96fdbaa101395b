"""The learning-rate schedule and the RNG state a checkpoint carries, shared by both trainers."""

from __future__ import annotations

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
