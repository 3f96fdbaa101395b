"""Where and how a run computes: the device, precision and torchrun checks, each a one-line UserError."""

from __future__ import annotations

import pytest
import torch

from denoise_gan.errors import UserError
from denoise_gan.runtime import resolve_device, training_precision, world_from_env


def _gpus(monkeypatch: pytest.MonkeyPatch, count: int, bf16: bool) -> None:
    """A machine with `count` GPUs, none needed to ask (torch only reports what the driver says)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *_, **__: bf16)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "Tesla T4" if not bf16 else "H100")


def test_a_device_is_read_in_any_case() -> None:
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device("Auto").type in ("cpu", "cuda")


def test_a_gpu_index_past_the_last_gpu_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _gpus(monkeypatch, 1, bf16=True)  # one GPU, cuda:0
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


def test_auto_precision_on_a_gpu_is_bf16_where_it_has_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """bf16 needs no loss scaling and keeps fp32's range; fp16 only where the GPU has no bf16, and asking for
    bf16 there is refused rather than run as fp16."""
    from denoise_gan.runtime import resolve_precision

    cuda = torch.device("cuda", 0)
    _gpus(monkeypatch, 1, bf16=True)
    assert (resolve_precision("auto", cuda), resolve_precision("bf16", cuda)) == (torch.bfloat16, torch.bfloat16)
    assert resolve_precision("fp32", cuda) is None and resolve_precision("fp16", cuda) == torch.float16
    _gpus(monkeypatch, 1, bf16=False)
    assert resolve_precision("auto", cuda) == torch.float16
    with pytest.raises(UserError, match=r"this GPU \(Tesla T4\) has no bf16; use --precision fp16"):
        resolve_precision("bf16", cuda)


def test_each_torchrun_rank_takes_its_nodes_own_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rank 5 of 8 on two 4-GPU nodes is local rank 1: cuda:1, not cuda:5; a launcher that sets no LOCAL_RANK
    (one node) gives each rank the GPU of its rank."""
    from denoise_gan.runtime import World, rank_device

    _gpus(monkeypatch, 4, bf16=True)
    assert rank_device("cuda", World(rank=5, size=8, local_rank=1)) == torch.device("cuda", 1)
    assert rank_device("cpu", World(rank=5, size=8, local_rank=1)) == torch.device("cpu")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert world_from_env().local_rank == 1


@pytest.mark.parametrize("hidden", ["", "-1"])
def test_no_visible_gpu_means_no_cuda_without_importing_torch(monkeypatch: pytest.MonkeyPatch, hidden: str) -> None:
    from types import SimpleNamespace

    from denoise_gan import runtime

    monkeypatch.setattr(runtime.sys, "platform", "linux")
    monkeypatch.setattr(runtime, "Path", lambda *_: SimpleNamespace(exists=lambda: True))  # a driver installed
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert runtime.cuda_may_be_present() is True
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
    assert runtime.cuda_may_be_present() is False


def _thread_counts(probe: str) -> list[int]:
    """What a fresh process (torch's default: 2 threads) prints after ``probe``, as numbers."""
    import subprocess
    import sys

    from helpers import CHILD_ENV

    done = subprocess.run([sys.executable, "-c", "import torch\nfrom denoise_gan.runtime import set_threads\n" + probe],
                          env={**CHILD_ENV, "OMP_NUM_THREADS": "2"}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return list(map(int, done.stdout.split()))


def test_threads_0_is_torchs_default_again_after_another_count() -> None:
    """A Denoiser loaded with threads=1, then one with threads=0 ("the runtime's default"), ran on one thread."""
    assert _thread_counts("before = torch.get_num_threads()\nset_threads(1)\n"
                          "print(before, set_threads(0), torch.get_num_threads())") == [2, 2, 2]


def test_threads_0_keeps_a_count_the_host_set_itself() -> None:
    """After a load with threads=1, a host's own torch.set_num_threads(3) was undone by the next default load."""
    assert _thread_counts("set_threads(1)\ntorch.set_num_threads(3)\n"
                          "print(set_threads(0), set_threads(None), torch.get_num_threads())") == [3, 3, 3]
