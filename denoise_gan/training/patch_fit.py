"""Networks too deep for the patches they would train on, refused before a run starts.

A discriminator with many layers, or a generator deep enough that its coarsest level is under one pixel, fails
inside its first step with a shape error from deep in torch, after the data has loaded (and, for `adapt`, after
a whole phase). Each network is built and run once on the meta device instead: shapes only, no memory and no
arithmetic, so the check costs milliseconds and names the option to change. A layer whose output is empty is
refused too: on older torch (2.4) the meta device gives a kernel larger than its input an empty output where
the CPU raises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn

from denoise_gan.errors import UserError, first_line


def _refuse_empty(_module: nn.Module, _inputs: object, out: object) -> None:
    """A forward hook: a layer whose output has no pixels is one the patch is too small for."""
    if isinstance(out, torch.Tensor) and out.dim() >= 3 and 0 in out.shape[2:]:
        size = " x ".join(str(n) for n in out.shape[2:])
        raise ValueError(f"a layer would output {size} pixels")


def refuse_too_deep(networks: Mapping[str, Callable[[], nn.Module]], channels: int, patch_size: int) -> None:
    """``networks``: each network's name as the user sets it (``"F (--f-depth 6)"``) and how to build it. Each is
    run in training mode (as a step runs it) on a batch of two ``patch_size`` crops."""
    for name, build in networks.items():
        with torch.device("meta"):
            net = build().train()
            for module in net.modules():
                module.register_forward_hook(_refuse_empty)
            try:
                net(torch.empty(2, channels, patch_size, patch_size))
            except (RuntimeError, ValueError) as exc:
                reason = first_line(exc, 140)
                raise UserError(f"--patch-size {patch_size} is too small for {name} ({reason}); use a larger "
                                "--patch-size or a shallower network") from None
