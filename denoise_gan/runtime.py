"""Where and how tensors run: device, precision, CPU threads, autocast, and this process's place under torchrun.

Shared by training and inference, so ``--device``, ``--precision`` and ``--threads`` mean the same in every
command.
torch is imported inside the functions that use it, so the ONNX Runtime engine (and ``--help``) can use
this module where torch is not installed.
Precision for inference: ``auto`` is bf16 autocast on CUDA (fp16 on GPUs without native bf16) and fp32 on the
CPU; half precision is refused on the CPU (slow there, and the cause of the "black image" reports). Training
never takes fp16 (``auto`` is fp32 on a GPU without native bf16) and may run bf16 on the CPU, where ``auto``
times its step (``training.step_mode``).
"""

from __future__ import annotations

import contextlib
import numbers
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from data_tools.shown_values import shown_number, shown_repr
from denoise_gan.config import PRECISIONS
from denoise_gan.errors import UserError

if TYPE_CHECKING:
    import torch


# ---- device and precision ------------------------------------------------------------------------

def check_device_name(name: str) -> str:
    """A device's name in any case, lower-cased: auto, cpu, cuda or cuda:N. Its form is checked without torch
    (benchmark's classic methods and the ONNX engine need none); whether that GPU exists is resolve_device's."""
    if isinstance(name, str) and not name.strip():  # `--device "$DEV"` with DEV unset: never taken as auto
        raise UserError(f"an empty device name {shown_repr(name)} (an unset variable?); use auto, cpu, cuda or cuda:N")
    text = (name or "auto").strip().lower()
    index = text.partition(":")[2] if text.startswith("cuda:") else None
    if text not in ("auto", "cpu", "cuda") and not (index and index.isascii() and index.isdigit()):
        raise UserError(f"unknown device {shown_repr(name)}; use auto, cpu, cuda or cuda:N")
    return text


def no_gpu_text(name: str) -> str:
    return f"device {name!r} asked for, but no CUDA GPU is available (use --device cpu)"


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for an absent GPU is a one-line error, not a traceback."""
    import torch

    text = check_device_name(name)
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise UserError(no_gpu_text(name))
    index_text = text.partition(":")[2]
    index = int(index_text) if index_text else torch.cuda.current_device()
    if index >= torch.cuda.device_count():
        raise UserError(f"device {name!r} asked for, but only {torch.cuda.device_count()} GPU(s) exist")
    return torch.device("cuda", index)


def refuse_half_on_cpu(name: str) -> None:
    """Half precision for inference on the CPU is refused in one line (torch not needed to say so)."""
    if name in ("fp16", "bf16"):
        raise UserError(f"precision {name} needs a CUDA GPU; on the CPU only fp32 runs (use --precision auto or fp32)")


def check_precision(name: str) -> None:
    """A precision's name is one of PRECISIONS: the one message for it from every entry point."""
    if name not in PRECISIONS:
        raise UserError(f"unknown precision {shown_repr(name)}; choose one of {', '.join(PRECISIONS)}")


def resolve_precision(name: str, device: torch.device, advice: str = "use --precision fp16",
                      ) -> torch.dtype | None:
    """The autocast dtype, or None for plain fp32. Half precision on the CPU is refused (error, not fallback),
    so a user who asked for it learns it does not exist there instead of getting a silent fp32 run. ``auto``
    takes bf16 where the GPU computes in it, fp16 elsewhere; bf16 asked for by name runs where torch can emulate
    it too, and a GPU that cannot is refused with ``advice``."""
    import torch

    check_precision(name)
    if device.type != "cuda":
        refuse_half_on_cpu(name)
        return None
    if name == "fp32":
        return None
    if name == "fp16":
        return torch.float16
    if name == "bf16":
        if not torch.cuda.is_bf16_supported():
            raise UserError(f"this GPU ({torch.cuda.get_device_name(device)}) has no bf16; {advice}")
        return torch.bfloat16
    return torch.bfloat16 if native_bf16(device) else torch.float16


def native_bf16(device: torch.device) -> bool:
    """Whether this GPU computes in bf16 itself (NVIDIA: compute capability 8.0 and up). torch's own check says
    yes to any GPU that can store a bf16 tensor, a T4 or V100 too, where bf16 is emulated, slowly, and cuDNN
    has no bf16 convolutions; and it asks about the current GPU, not the one given."""
    import torch

    try:
        major = torch.cuda.get_device_capability(device)[0]
    except Exception:  # no answer (a stub in a test): torch's own check
        return bool(torch.cuda.is_bf16_supported())
    return bool(torch.cuda.is_bf16_supported()) and (bool(torch.version.hip) or major >= 8)


def training_precision(name: str, device: torch.device) -> torch.dtype | None:
    """bf16 autocast on CUDA by default, fp32 on a GPU without native bf16; fp16 would need loss scaling (its small
    gradients flush to zero without it), so it is refused, and ``auto`` never takes it. bf16 by name runs
    emulated where the GPU lacks it (as runs started there before ``auto`` changed did). On the CPU bf16 may be
    asked for (it pays on CPUs with AVX-512 BF16 or AMX), and ``auto`` is fp32 here: the trainer then times
    its step to pick a faster mode (``training.step_mode``)."""
    import torch

    if name == "fp16":
        raise UserError("training supports --precision auto, bf16 or fp32 (fp16 needs loss scaling)")
    if device.type != "cuda" and name in PRECISIONS:
        return torch.bfloat16 if name == "bf16" else None
    if name == "auto" and not native_bf16(device):  # where inference would take fp16
        return None
    return resolve_precision(name, device, advice="train with --precision fp32")


def _autocast_dtypes() -> dict[str, torch.dtype | None]:
    import torch

    return {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


def autocast_dtype(name: str) -> torch.dtype | None:
    """The autocast dtype a precision name stands for (None: plain fp32), with no device check."""
    return _autocast_dtypes()[name]


def precision_name(amp_dtype: torch.dtype | None) -> str:
    return {dtype: name for name, dtype in _autocast_dtypes().items()}[amp_dtype]


def autocast(device: torch.device, amp_dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Autocast to the half dtype; for fp32 autocast turned off, so a caller's own (a training loop that denoises
    or draws noise under ``torch.autocast``) does not reach in and change the pixels (autocast rejects float32 as
    a CUDA target)."""
    import torch

    if amp_dtype is None:
        return torch.autocast(device_type=device.type, enabled=False) if device.type in ("cpu", "cuda") \
            else contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=amp_dtype)


def cuda_may_be_present() -> bool:
    """Whether an NVIDIA driver is installed, asked without importing torch (seconds) or any GPU library.

    ``auto`` engine choice needs this at every start: with no driver the answer is the CPU at once; with
    one, torch is asked whether CUDA really works.
    """
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    if sys.platform.startswith("linux"):
        return Path("/proc/driver/nvidia/version").exists()
    if sys.platform == "win32":
        return (Path(os.environ.get("SystemRoot", r"C:\Windows")) / "System32" / "nvcuda.dll").exists()
    return False  # macOS has no CUDA


# ---- CPU threads ---------------------------------------------------------------------------------

def check_threads(n: int | None) -> int:
    """``--threads`` as a count both runtimes can use: 0 (or None) for their default, else at most one per CPU
    this process may use. More threads than CPUs only wait for each other (1000 made a one-second photo take a
    minute), so that is refused rather than run."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral | None) or (n is not None and n < 0):
        raise UserError("--threads must be a whole number of threads, 0 for the runtime's default, not "
                        + shown_repr(n))
    n = None if n is None else int(n)  # a NumPy integer as a plain one
    cpus = usable_cpus()
    if n is not None and n > cpus:
        raise UserError(f"--threads {shown_number(n)}: this process may use {cpus} CPU(s); give at most {cpus}, "
                        "or 0 for the runtime's default")
    return n or 0


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity: ``taskset``, a cpuset), not the machine's count, which let
    a process pinned to 2 CPUs take 32 threads that only waited for each other. A CPU quota (Docker's
    ``--cpus``) is not an affinity and is not seen."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def set_threads(n: int | None) -> int:
    """Use ``n`` threads inside each torch operator (intra-op; ``--threads``); 0 or None keeps torch's default
    (one per core), or the count a host process set itself. Returns the number in force (0 where torch is not
    loaded yet and keeps its default). On a loaded machine one thread can beat two: threads that wait for a busy
    core stall the operator that needs them all. Without torch (or with one that does not import) there is
    nothing to set."""
    global _TORCH_DEFAULT_THREADS, _TORCH_THREADS_SET
    n = check_threads(n)  # a NumPy integer as a plain one: torch takes no other
    if not n and "torch" not in sys.modules:  # torch's default is what it will have: importing it now (seconds)
        return n                              # only delayed the answer to a bad argument, and the ONNX-only runs
    try:
        import torch
    except (ImportError, OSError):  # absent, or installed but broken (its CUDA libraries missing): a command that
        return n                    # needs torch says so when it imports it; one that does not runs on
    if _TORCH_DEFAULT_THREADS is None:
        _TORCH_DEFAULT_THREADS = torch.get_num_threads()
    # 0 is the default again after an earlier call set another number (it kept that one), unless the host process
    # has set a count of its own since: that one is its choice, not ours to undo
    if n or torch.get_num_threads() == _TORCH_THREADS_SET:
        torch.set_num_threads(n or _TORCH_DEFAULT_THREADS)
        _TORCH_THREADS_SET = torch.get_num_threads()
    return torch.get_num_threads()


_TORCH_DEFAULT_THREADS: int | None = None  # torch's own count, as the first call found it
_TORCH_THREADS_SET: int | None = None  # the count the last call set (another now is the host's own)


class _ForkHook:
    registered = False


def one_thread_in_forked_children() -> None:
    """A process forked after torch ran its CPU thread pool hangs at the pool's next use (GNU OpenMP is not
    fork-safe), and `fork` is a `multiprocessing` pool's default start on Linux: from now on a forked child runs
    torch on one thread, as torch's own DataLoader workers do. Called by what runs torch for a user (a torch
    ``Denoiser``, a ``NoiseModel``); a ``subprocess`` child is a new program and is not touched."""
    if not _ForkHook.registered and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_one_torch_thread)
        _ForkHook.registered = True


def _one_torch_thread() -> None:
    """In the child: one thread, and one as its default too, so a model the worker loads itself (a pool's
    ``initializer``; ``threads=0`` restores the default) does not take the parent's count back."""
    global _TORCH_DEFAULT_THREADS, _TORCH_THREADS_SET
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
        _TORCH_DEFAULT_THREADS = _TORCH_THREADS_SET = 1

# ---- torchrun ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class World:
    """This process's place among torchrun's; a plain launch is rank 0 of 1."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def world_from_env() -> World:
    """This process's place from torchrun's RANK/WORLD_SIZE/LOCAL_RANK; a plain launch is rank 0 of 1."""
    try:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as exc:
        raise UserError(f"bad torchrun environment (RANK/WORLD_SIZE/LOCAL_RANK): {exc}") from None
    if size < 1 or not 0 <= rank < size:
        raise UserError(f"bad torchrun environment: RANK={rank} WORLD_SIZE={size}")
    return World(rank, size, local)


def rank_device(name: str, world: World) -> torch.device:
    """The device this rank runs on: ``name`` resolved, and on CUDA under torchrun (more than one rank) the
    rank's own GPU, ``cuda:LOCAL_RANK``. The CPU stays the CPU. Used by training and inference alike."""
    import torch

    device = resolve_device(name)
    if device.type == "cuda" and world.size > 1:
        device = torch.device("cuda", world.local_rank)
    return device
