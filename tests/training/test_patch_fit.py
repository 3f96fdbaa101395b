"""The check that refuses a network too deep for its patch, on any torch: a layer that empties the patch counts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from denoise_gan.errors import UserError
from denoise_gan.training.patch_fit import refuse_too_deep


class _CropTo(nn.Module):
    """Keeps the rows from ``start`` on: past the patch's height, an empty output without an error (as the meta
    device of older torch gives a kernel larger than its input)."""

    def __init__(self, start: int) -> None:
        super().__init__()
        self.start = start

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, self.start:, :]


def test_a_layer_whose_output_is_empty_is_refused_by_name() -> None:
    with pytest.raises(UserError, match=r"--patch-size 32 is too small for N \(a layer would output 0 x 32 pixels\)"):
        refuse_too_deep({"N": lambda: nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), _CropTo(40))}, 3, 32)


def test_a_network_that_fits_its_patch_passes() -> None:
    refuse_too_deep({"N": lambda: nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), _CropTo(8))}, 3, 32)
