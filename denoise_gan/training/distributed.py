"""Data-parallel helpers for runs launched under torchrun; a plain launch is world size 1.

Gradients are averaged by hand (one flat all-reduce per network) rather than through DDP wrappers,
because the CycleGAN step runs F twice and backpropagates two losses; the arithmetic is DDP's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from data_tools.atomic_files import FolderBusyError
from data_tools.folder_lock import holding_folder
from data_tools.temp_files import is_temp_file
from denoise_gan.runtime import World, world_from_env


def init_world(device_type: str) -> World:
    """Join the torchrun process group when WORLD_SIZE > 1 (gloo on CPU, nccl on CUDA)."""
    world = world_from_env()
    if world.size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return world


def average_gradients(net: nn.Module, world: World) -> None:
    if world.size <= 1:
        return
    params = [p for p in net.parameters() if p.grad is not None]
    if not params:
        return
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat)
    flat /= world.size
    offset = 0
    for p in params:
        n = p.grad.numel()
        p.grad.copy_(flat[offset:offset + n].view_as(p.grad))
        offset += n


def broadcast_parameters(net: nn.Module, world: World) -> None:
    """Start every rank from rank 0's weights."""
    if world.size > 1:
        for tensor in list(net.parameters()) + list(net.buffers()):
            dist.broadcast(tensor.data, src=0)


def barrier(world: World) -> None:
    if world.size > 1:
        dist.barrier()


def shutdown(world: World) -> None:
    if world.size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def holding_run_folder(run_dir: Path, what: str = "run", new: bool = False) -> AbstractContextManager[None]:
    """The run folder's lock, held by the main process only (under torchrun the other ranks write nothing). A
    ``new`` run's folder, checked empty before the lock, must still be so once it holds it: a second run given
    the same folder waits out a short first one, which may have filled it meanwhile."""
    if not world_from_env().is_main:
        return nullcontext()
    return _holding_new(run_dir, what) if new else holding_folder(run_dir, what)


@contextmanager
def _holding_new(run_dir: Path, what: str) -> Iterator[None]:
    with holding_folder(run_dir, what):
        if any(not is_temp_file(p.name) for p in run_dir.iterdir()):
            raise FolderBusyError(f"{run_dir}: another {what} wrote into this folder while this one started; choose "
                            "another -o")
        yield
