"""Batches for a run: each torchrun rank takes its own slice of the global sample indices, and a resumed
run sees exactly the batches an uninterrupted one would have."""

from __future__ import annotations

import multiprocessing
import signal
import sys
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from denoise_gan.errors import UserError, first_line
from denoise_gan.interrupts import HANGUP
from denoise_gan.runtime import World


def batch_iterator(dataset: Dataset, batch_size: int, start: int, steps: int, world: World,
                   workers: int, seed: int) -> Iterator[dict[str, torch.Tensor]]:
    """Batches for steps start..steps-1; each rank takes its own slice of the global sample indices."""
    indices = StepIndices(start, steps, world, batch_size)
    # a private generator: the loader's worker seeds must not consume the global RNG, or a resumed run
    # would draw different noise for F than an uninterrupted one
    loader = DataLoader(dataset, batch_size=batch_size, sampler=indices, num_workers=workers,
                        multiprocessing_context=worker_start_method() if workers > 0 else None,
                        persistent_workers=workers > 0, timeout=300 if workers > 0 else 0,
                        pin_memory=torch.cuda.is_available(), generator=torch.Generator().manual_seed(seed),
                        worker_init_fn=_leave_stopping_to_the_main_process if workers > 0 else None)
    batches = iter(loader)
    try:
        yield from batches
    except Exception as exc:  # a worker's error comes back as its own type, "Caught X in DataLoader worker"
        # the traceback keeps this frame, and with it the persistent workers, alive: stop them now, or the
        # process waits for them at exit after its one-line error
        shutdown = getattr(batches, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()
        if "DataLoader worker" in str(exc):
            raise UserError(f"a data-loading worker failed: {first_line(exc, None)}") from None
        raise


def worker_start_method() -> str | None:
    """fork on Linux, as Python up to 3.13 chose there: a forked worker shares the decoded photos with the main
    process, where forkserver (3.14's choice) gives each worker its own copy of every photo. Elsewhere, the
    platform's own (fork is unsafe on macOS)."""
    return "fork" if sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods() else None


class StepIndices:
    """The global sample indices of steps start..steps-1 for one rank, computed as they are drawn: a list of
    them would hold steps x batch numbers in memory before the first step."""

    def __init__(self, start: int, steps: int, world: World, batch_size: int) -> None:
        self.start, self.steps, self.world, self.batch_size = start, steps, world, batch_size

    def __len__(self) -> int:
        return max(0, self.steps - self.start) * self.batch_size

    def __iter__(self) -> Iterator[int]:
        for step in range(self.start, self.steps):
            first = (step * self.world.size + self.world.rank) * self.batch_size
            yield from range(first, first + self.batch_size)


def _leave_stopping_to_the_main_process(worker_id: int) -> None:
    """Workers ignore Ctrl-C, SIGTERM and SIGHUP: a terminal (its Ctrl-C, or its hang-up when the ssh session drops)
    or `kill` of the whole group signals them too, and a worker that died mid-step would crash the main process
    before it could finish the step and save. The main process shuts its workers down when it stops; they also
    exit when it dies."""
    for sig in (signal.SIGINT, signal.SIGTERM, *HANGUP):
        signal.signal(sig, signal.SIG_IGN)
