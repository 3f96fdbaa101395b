"""denoise-gan: a CycleGAN denoiser trained from unpaired clean and noisy image sets.

The Python entry points are ``Denoiser`` (noisy -> clean) and ``NoiseModel`` (a learned noise model F,
clean -> noisy, seeded); ``OutputOptions`` are ``Denoiser.denoise_files``' output settings::

    from denoise_gan import Denoiser, NoiseModel

    den = Denoiser.from_pretrained("default")
    out = den(image)
    noisy = NoiseModel.from_pretrained("default-F")(image, seed=1)

They are imported on first use, so ``import denoise_gan`` (and the CLI's start-up) does not load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Denoiser", "NoiseModel", "OutputOptions", "__version__"]

if TYPE_CHECKING:
    from denoise_gan.inference.api import Denoiser
    from denoise_gan.inference.file_plan import OutputOptions
    from denoise_gan.inference.noise_model import NoiseModel


def __getattr__(name: str) -> Any:
    if name == "Denoiser":
        from denoise_gan.inference.api import Denoiser

        return Denoiser
    if name == "NoiseModel":
        from denoise_gan.inference.noise_model import NoiseModel

        return NoiseModel
    if name == "OutputOptions":  # how Denoiser.denoise_files names, places and keeps its outputs
        from denoise_gan.inference.file_plan import OutputOptions

        return OutputOptions
    raise AttributeError(f"module 'denoise_gan' has no attribute {name!r}")
