"""A noise model F's scale and shift maps on ONNX Runtime (its U-Net, most of its work; the seeded draws stay in
torch). The graph is made in memory from the loaded network, under a lock: torch's exporter keeps its state for the
whole process."""

from __future__ import annotations

from typing import TYPE_CHECKING

from data_tools.library_output import quiet_warnings
from denoise_gan.runtime import autocast

if TYPE_CHECKING:
    import torch
    from torch import nn


def _maps_module(net: nn.Module) -> nn.Module:
    """The module ONNX export traces: F's ``scale_and_shift``."""
    from torch import nn

    class Maps(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.net.scale_and_shift(x)

    return Maps().eval()


class OnnxScaleShift:
    """F's scale and shift maps on ONNX Runtime: the graph is made in memory from the loaded network (a fraction
    of a second) and run with torch's thread count."""

    def __init__(self, net: nn.Module) -> None:
        import io

        import torch

        from denoise_gan.inference.onnx_engine import open_session
        from denoise_gan.nets.export import EXPORTING, OPSET

        if torch.get_default_dtype() != torch.float32:  # the graph's constants would be of it, which ORT refuses;
            # setting it back for the export would change it under the caller's other threads
            raise RuntimeError(f"torch's default dtype is {torch.get_default_dtype()}, and the graph is made in "
                               "float32")
        buf = io.BytesIO()
        example = torch.rand(1, int(net.in_channels), 2 * int(net.stride), 2 * int(net.stride), dtype=torch.float32,
                             generator=torch.Generator().manual_seed(0))  # the caller's random stream left alone
        dynamic = {"x": {0: "n", 2: "h", 3: "w"}, "scale": {0: "n", 2: "h", 3: "w"}, "shift": {0: "n", 2: "h", 3: "w"}}
        # the exporter's state is the process's: two threads exporting at once failed all but one; its warnings are
        # notes about its own future
        with EXPORTING, quiet_warnings(), torch.no_grad(), autocast(torch.device("cpu"), None):
            torch.onnx.export(_maps_module(net.cpu()), (example,), buf, dynamo=False, opset_version=OPSET,
                              input_names=["x"], output_names=["scale", "shift"], dynamic_axes=dynamic)
        self.session = open_session(buf.getvalue(), ["CPUExecutionProvider"], torch.get_num_threads())

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        from denoise_gan.inference.onnx_engine import run_session

        scale, shift = run_session(self.session, None, {"x": x.detach().cpu().contiguous().numpy()})
        return torch.from_numpy(scale), torch.from_numpy(shift)
