"""Inference: the tiled engine that runs a generator over any image, and the files around it (read, name, write, summary)."""
