"""Which channel counts carry alpha, and which array shapes look channels-first: one rule each, read by every
decoder, writer, noise, metric and denoiser path."""

from __future__ import annotations


def has_alpha(channels: int) -> bool:
    """Gray+alpha (2) or RGBA (4) end in alpha; 1 and 3 channels are colour only."""
    return channels in (2, 4)


def channels_first_hint(shape: tuple[int, ...]) -> str:
    """For an image refused for its shape: the turn that makes a CxHxW array HxWxC, where it looks like one, or
    for a batch (NxCxHxW or NxHxWxC, as a torch caller holds one) that an array is one image."""
    if len(shape) == 3 and shape[0] in (1, 2, 3, 4) and shape[2] > 4:
        return "; it looks CxHxW: pass .transpose(1, 2, 0)"
    if len(shape) == 4 and (shape[1] in (1, 2, 3, 4) or shape[3] in (1, 2, 3, 4)):
        turn = ".transpose(1, 2, 0)" if shape[1] in (1, 2, 3, 4) and shape[3] > 4 else ""
        return f"; it looks like a batch: an array is one image, so pass each (array[i]{turn})"
    return ""
