"""Inference: the tiled engine that runs a generator over any image, the files around it (read, name, write,
summary), and the Python entry point, ``Denoiser``."""
