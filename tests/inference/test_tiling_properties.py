"""Properties (hypothesis) of the tiler over shapes, dtypes, channels, tiles and overlaps.
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from denoise_gan.inference.infer_config import InferConfig
from denoise_gan.inference.tiling import denoise_array
from helpers import PROPERTY, _tiny_unet, images

torch.set_num_threads(1)  # the suite shares two cores with a training job


class Identity(nn.Module):
    """Returns its input: any misplaced, mis-cropped or mis-weighted tile breaks exact equality."""

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        self.in_channels, self.stride = channels, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone()


TINY_NETS = {1: _tiny_unet(1), 3: _tiny_unet(3)}


infer_configs = st.builds(InferConfig, tile=st.sampled_from([0, 32, 33, 40, 48, 64]),
                          overlap=st.integers(0, 24), batch_size=st.integers(1, 4), device=st.just("cpu"))


@PROPERTY
@given(img=images(), cfg=infer_configs, net_channels=st.sampled_from([1, 3]))
def test_tiler_returns_same_shape_and_dtype_with_alpha_untouched(img: np.ndarray, cfg: InferConfig,
                                                                 net_channels: int) -> None:
    out = denoise_array(TINY_NETS[net_channels], img, cfg)
    assert out.shape == img.shape and out.dtype == img.dtype
    if img.ndim == 3 and img.shape[2] in (2, 4):
        np.testing.assert_array_equal(out[..., -1], img[..., -1])


@PROPERTY
@given(img=images(max_side=48), cfg=infer_configs, net_channels=st.sampled_from([1, 3]),
       stride=st.sampled_from([1, 2, 4, 8]))
def test_tiler_with_an_identity_net_gives_the_input_back_exactly(img: np.ndarray, cfg: InferConfig, net_channels: int,
                                                                 stride: int) -> None:
    out = denoise_array(Identity(net_channels, stride), img, cfg)
    np.testing.assert_array_equal(out, img)


