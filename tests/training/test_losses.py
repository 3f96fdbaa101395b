"""The CycleGAN objective's numbers: LSGAN targets, the discriminator's half weight, and the cycle and identity
weights of the reference (λ = 10, identity 0.5 λ)."""

from __future__ import annotations

import pytest
import torch

from denoise_gan.config import TrainConfig
from denoise_gan.nets import losses
from denoise_gan.training.cyclegan import loss_weights


def test_lsgan_pushes_real_to_one_and_fake_to_zero() -> None:
    ones, zeros, half = torch.ones(2, 1, 4, 4), torch.zeros(2, 1, 4, 4), torch.full((2, 1, 4, 4), 0.5)
    assert losses.lsgan(ones, True).item() == 0.0 and losses.lsgan(zeros, False).item() == 0.0
    assert losses.lsgan(zeros, True).item() == 1.0 and losses.lsgan(ones, False).item() == 1.0
    assert losses.lsgan(half, True).item() == pytest.approx(0.25)


def test_the_discriminator_loss_is_halved() -> None:
    ones, zeros = torch.ones(3, 1, 4, 4), torch.zeros(3, 1, 4, 4)
    assert losses.discriminator_loss(ones, zeros).item() == 0.0  # a perfect discriminator
    assert losses.discriminator_loss(zeros, ones).item() == 1.0  # 0.5 x (1 + 1)


def test_cycle_and_identity_weights_are_the_references() -> None:
    assert loss_weights(TrainConfig()) == (10.0, 5.0)
    assert loss_weights(TrainConfig(lambda_cycle=4.0, lambda_identity=0.25)) == (4.0, 1.0)  # a share of λ
    assert loss_weights(TrainConfig(lambda_identity=0.0))[1] == 0.0
    x, y = torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.2)
    assert losses.cycle(x, y).item() == pytest.approx(0.2) and losses.identity(y, x).item() == pytest.approx(0.2)
