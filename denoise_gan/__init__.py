"""denoise-gan: a CycleGAN denoiser trained from unpaired clean and noisy image sets.

The Python entry point is ``Denoiser``::

    from denoise_gan import Denoiser

    den = Denoiser.from_pretrained("default")
    out = den(image)

It is imported on first use, so ``import denoise_gan`` (and the CLI's start-up) does not load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Denoiser", "__version__"]

if TYPE_CHECKING:
    from denoise_gan.inference.api import Denoiser


def __getattr__(name: str) -> Any:
    if name == "Denoiser":
        from denoise_gan.inference.api import Denoiser

        return Denoiser
    raise AttributeError(f"module 'denoise_gan' has no attribute {name!r}")
