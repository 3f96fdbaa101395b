"""The CycleGAN losses: LSGAN adversarial, L1 cycle consistency, L1 identity."""

from __future__ import annotations

import torch
import torch.nn.functional as nnf


def lsgan(scores: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN loss: push scores to 1 for real, 0 for fake (Mao et al.)."""
    target = torch.ones_like(scores) if real else torch.zeros_like(scores)
    return nnf.mse_loss(scores.float(), target.float())


def discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Halved, as the reference, so D learns at half the rate of G."""
    return 0.5 * (lsgan(real_scores, True) + lsgan(fake_scores, False))


def cycle(reconstructed: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    return nnf.l1_loss(reconstructed.float(), original.float())


identity = cycle  # same L1, a different pair of tensors: G(clean) vs clean, F(noisy) vs noisy
