"""Where and how a run computes: the device, precision and torchrun checks, each a one-line UserError."""

from __future__ import annotations

import pytest
import torch

from denoise_gan.errors import UserError
from denoise_gan.runtime import resolve_device, training_precision, world_from_env


def test_a_device_is_read_in_any_case() -> None:
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device("Auto").type in ("cpu", "cuda")


def test_a_gpu_index_past_the_last_gpu_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # one GPU, cuda:0 (none needed to ask)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(UserError, match="only 1 GPU"):
        resolve_device("cuda:1")


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_training_refuses_fp16_on_every_device(device: str) -> None:
    with pytest.raises(UserError, match="fp16 needs loss scaling"):
        training_precision("fp16", torch.device(device))


@pytest.mark.parametrize(("rank", "size"), [("2", "2"), ("-1", "2"), ("0", "0")])
def test_a_torchrun_environment_out_of_range_is_refused(monkeypatch: pytest.MonkeyPatch, rank: str,
                                                        size: str) -> None:
    monkeypatch.setenv("RANK", rank)
    monkeypatch.setenv("WORLD_SIZE", size)
    with pytest.raises(UserError, match="bad torchrun environment"):
        world_from_env()
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert (world_from_env().rank, world_from_env().size) == (1, 2)
