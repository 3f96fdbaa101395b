"""denoise-gan: a CycleGAN denoiser trained from unpaired clean and noisy image sets."""

__version__ = "0.1.0"
