"""F's objective, shared by the CycleGAN step and adapt's noise phase: fool D_noisy (LSGAN), match the noisy
domain's noise statistics (which the PatchGAN barely sees: amplitude, colour and spatial correlation, their
dependence on brightness), and leave a noisy photo as it is (identity). Both trainers call this one function,
so a change to how F learns noise reaches both."""

from __future__ import annotations

import torch
from torch import nn

from denoise_gan.nets import losses
from denoise_gan.nets.noise_stats import StatisticsBank, noise_statistics


def deterministic(f: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """F's output without its random part, for the identity loss: F(noisy) keeps the colours. A generator
    with a random part says how (``deterministic``); any other is deterministic already."""
    fixed = getattr(f, "deterministic", None)
    return fixed(x) if callable(fixed) else f(x)


def draw_noisy(f: nn.Module, clean: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """F's draw for a clean batch, clipped to the file's range as real photos are, and the level quantile each
    image was drawn at (None for an F without a level distribution). The quantiles are stratified over the batch,
    so every batch spans F's level range. Measured on unclipped noise, the statistics of saturated windows (real
    noise clipped away) teach F a level there that clipping then removes again."""
    if not callable(getattr(f, "log_level", None)):
        return f(clean).clamp(0.0, 1.0), None
    n = clean.shape[0]
    quantiles = (torch.randperm(n, device=clean.device) + torch.rand(n, device=clean.device)) / n
    return f(clean, v=quantiles.view(n, 1, 1, 1).to(clean.dtype)).clamp(0.0, 1.0), quantiles


def noise_model_loss(f: nn.Module, d_noisy: nn.Module, bank: StatisticsBank, fake: torch.Tensor,
                     noisy: torch.Tensor, lambda_stats: float, lambda_identity: float,
                     quantiles: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """F's loss for one batch, and its terms (``f_adv``, ``f_stats``, ``idt_f``) for the log.

    ``fake`` and ``quantiles`` are ``draw_noisy``'s; ``noisy`` real noisy patches, which also feed the statistics
    bank. A term whose weight is 0 is not computed (logged as 0)."""
    zero = torch.zeros((), device=fake.device)
    f_adv = losses.lsgan(d_noisy(fake), True)
    f_stats = zero
    if lambda_stats > 0:
        bank.add(noise_statistics(noisy), images=noisy.shape[0])
        if bank.ready():
            f_stats = bank.distance(noise_statistics(fake), quantiles)
    idt_f = losses.identity(deterministic(f, noisy), noisy) if lambda_identity > 0 else zero
    loss = f_adv + lambda_stats * f_stats + lambda_identity * idt_f
    return loss, {"f_adv": f_adv, "f_stats": f_stats, "idt_f": idt_f}
