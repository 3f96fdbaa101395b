"""The torch runtime behind the tiling engine: a generator on its device, in its precision.

Used for CUDA inference, for training's validation and for any weights without an ONNX graph. Device and
precision come from ``runtime`` (bf16 autocast on CUDA, fp32 on the CPU). A half-precision batch that
yields NaN/Inf is redone in fp32; CUDA out-of-memory becomes the engine's ``OutOfMemory`` so the tiler can
halve the tile and retry.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from denoise_gan.errors import UserError, is_out_of_memory
from denoise_gan.inference.backend import CPU_TILE, MAX_AUTO_TILE, MIN_TILE, OutOfMemory
from denoise_gan.nets.contract import denoiser_contract
from denoise_gan.nets.generators import NoiseGenerator
from denoise_gan.runtime import (
    autocast,
    one_thread_in_forked_children,
    precision_name,
    resolve_device,
    resolve_precision,
)

PROBE_SIDE = 256  # side of the tile measured to pick the CUDA tile from free memory


@torch.inference_mode()
def forward_checked(net: nn.Module, x: torch.Tensor, amp_dtype: torch.dtype | None,
                    **conditioning: object) -> tuple[torch.Tensor, bool]:
    """The net's fp32 output for a batch, and whether half precision had to be redone in fp32.

    fp16 overflows to Inf/NaN on some images (users see black tiles); such a batch is rerun in fp32.
    A non-finite fp32 output means broken weights and is an error, never a silently black file.
    """
    if amp_dtype is not None:
        with autocast(x.device, amp_dtype):
            y = _one_tensor(net(x, **conditioning), net)
        if bool(torch.isfinite(y).all()):
            return y.float(), False
    with autocast(x.device, None):  # fp32 even inside a caller's own autocast
        y = _one_tensor(net(x, **conditioning), net).float()
    if not bool(torch.isfinite(y).all()):
        raise UserError("the model produced NaN/Inf values in fp32 (broken or incompatible weights)")
    return y, amp_dtype is not None


def _one_tensor(y: object, net: nn.Module) -> torch.Tensor:
    """A denoiser returns the denoised batch itself; a tuple (output, extras) is a module of another kind."""
    if not isinstance(y, torch.Tensor):
        raise UserError(f"{type(net).__name__} returned a {type(y).__name__}; a denoiser must return one tensor, "
                        "the denoised batch")
    return y


_MODES = threading.Lock()  # guards _EVAL_CALLS (module-level: a backend is pickled into pool workers)
_EVAL_CALLS: weakref.WeakKeyDictionary[nn.Module, tuple[int, list[tuple[nn.Module, bool]]]] = \
    weakref.WeakKeyDictionary()


@contextmanager
def eval_section(net: nn.Module) -> Iterator[None]:
    """Run ``net`` in eval mode and put each module's mode back after, as the caller left it.

    A caller's net.train() between calls ran the net in training mode, its BatchNorm statistics updated by the
    denoising; a BatchNorm frozen inside stays frozen. Calls from several threads share one section: the first
    saves the modes and the last puts them back, where each saved and restored its own and one thread's restore
    ran another's forward in training mode, leaving the net in eval mode at the end."""
    with _MODES:
        calls, modes = _EVAL_CALLS.get(net, (0, []))
        if calls == 0:
            modes = [(module, module.training) for module in net.modules()]
            net.eval()
        _EVAL_CALLS[net] = (calls + 1, modes)
    try:
        yield
    finally:
        with _MODES:
            calls, modes = _EVAL_CALLS.pop(net)
            if calls > 1:
                _EVAL_CALLS[net] = (calls - 1, modes)
            else:
                for module, training in modes:
                    module.training = training


class TorchBackend:
    """A torch generator for ``TiledDenoiser``: NCHW float32 [0, 1] NumPy batches in and out (the output
    clipped to [0, 1] before blending, as the ONNX graph clips it, so the two runtimes agree).

    The network is moved to the device in place, in channels_last and eval mode (callers that train it
    restore train mode themselves).
    """

    name = "torch"
    content_checked = True  # it runs the loaded weights themselves

    def __init__(self, net: nn.Module, device: str = "auto", precision: str = "auto") -> None:
        if not isinstance(net, nn.Module):
            raise UserError(f"expected a torch generator (an nn.Module) or a backend, got {type(net).__name__}")
        if isinstance(net, NoiseGenerator):  # by its architecture, whatever a file said of it
            raise UserError(f"{type(net).__name__} is a noise model (clean->noisy), not a denoiser")
        self.device = resolve_device(device)
        self.amp_dtype = resolve_precision(precision, self.device)
        one_thread_in_forked_children()  # a multiprocessing pool's forked workers run it too
        # float32 weights, whatever the module was cast to (net.half()): precision is autocast's (``precision``)
        self.net = net.to(self.device, dtype=torch.float32, memory_format=torch.channels_last).eval()
        contract = denoiser_contract(net)
        self.channels = contract.channels
        self.stride = contract.stride
        self.level_aware = contract.level_aware
        self.min_tile = max(MIN_TILE, contract.min_tile)
        self.level_max = contract.level_max
        self.photo_profile = contract.photo_profile
        self.instance_norm = contract.instance_norm
        self.fp32_redos = 0
        self.notes: list[str] = []

    @property
    def where(self) -> str:
        return f"{self.device} (torch, {precision_name(self.amp_dtype)})"

    def auto_tile(self, batch_size: int) -> int:
        if self.device.type != "cuda":
            return CPU_TILE
        try:
            return cuda_tile_from_free_memory(self.net, self.device, self.amp_dtype, self.channels, self.stride,
                                              batch_size)
        except torch.cuda.OutOfMemoryError:  # a nearly full GPU: start small, halving handles the rest
            torch.cuda.empty_cache()
            return 4 * max(MIN_TILE, self.min_tile)

    def cells(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The estimator's cells and brightness of a batch, in fp32 (a photo's profile is a median of them)."""
        x = self._tensor(batch)
        with self._out_of_memory(), eval_section(self.net), torch.inference_mode(), autocast(x.device, None):
            cells, brightness = self.net.estimator.cells_and_brightness(x)
        return cells.float().cpu().numpy(), brightness.float().cpu().numpy()

    def run(self, batch: np.ndarray, strength: float, sigma: float | None,
            profile: np.ndarray | None = None) -> np.ndarray:
        conditioning: dict[str, object] = {"strength": strength, "sigma": sigma} if self.level_aware else {}
        x = self._tensor(batch)
        if profile is not None:
            conditioning["profile"] = torch.from_numpy(profile).to(self.device)
        with self._out_of_memory(), eval_section(self.net):
            y, redone = forward_checked(self.net, x, self.amp_dtype, **conditioning)
        if tuple(y.shape) != tuple(x.shape):  # a user's module: the tiler would blend the wrong pixels
            raise UserError(f"the network returned shape {tuple(y.shape)} for input {tuple(x.shape)}; a denoiser "
                            "must return its input's shape")
        if redone:
            self.fp32_redos += 1
            if self.fp32_redos == 1:
                self.notes.append(f"{precision_name(self.amp_dtype)} gave NaN/Inf on some tiles; "
                                  "those were redone in fp32")
        return y.clamp(0.0, 1.0).cpu().numpy()  # as the exported graph does: gray's channel mean, blending

    def _tensor(self, batch: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(batch).to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)

    @contextmanager
    def _out_of_memory(self) -> Iterator[None]:
        """Running out of device (or host) memory becomes the engine's ``OutOfMemory``: it retries smaller."""
        try:
            yield
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            raise OutOfMemory from None
        except (RuntimeError, MemoryError) as exc:
            if not is_out_of_memory(exc):
                raise
            raise OutOfMemory from None


@torch.inference_mode()
def cuda_tile_from_free_memory(net: nn.Module, device: torch.device, amp_dtype: torch.dtype | None,
                               channels: int, stride: int, batch_size: int) -> int:
    """The largest tile whose batch fits in half the free GPU memory, from one measured probe tile.

    Activation memory grows with the tile area, so the peak of a PROBE_SIDE^2 forward scales to any side;
    half the free memory leaves room for cuDNN workspaces, fragmentation and other processes.
    """
    free, _ = torch.cuda.mem_get_info(device)
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    probe = torch.rand(1, channels, PROBE_SIDE, PROBE_SIDE, device=device,  # the caller's CUDA stream left alone
                       generator=torch.Generator(device).manual_seed(0)).contiguous(memory_format=torch.channels_last)
    with autocast(device, amp_dtype):
        net(probe)
    torch.cuda.synchronize(device)
    per_pixel = max(1.0, (torch.cuda.max_memory_allocated(device) - base) / PROBE_SIDE**2)
    del probe
    torch.cuda.empty_cache()
    side = int(math.sqrt(0.5 * free / (batch_size * per_pixel)))
    return int(min(MAX_AUTO_TILE, max(MIN_TILE, side // stride * stride)))
