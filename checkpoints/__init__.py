"""Shipped generator weights (safetensors) and their model cards; installed as denoise_gan.checkpoints."""
