"""Which channel counts carry alpha: one rule, read by every decoder, writer and denoiser path."""

from __future__ import annotations


def has_alpha(channels: int) -> bool:
    """Gray+alpha (2) or RGBA (4) end in alpha; 1 and 3 channels are colour only."""
    return channels in (2, 4)
