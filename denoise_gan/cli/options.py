"""Option aliases shared by several commands, so one option reads the same everywhere.

Each alias is an ``Annotated`` type: a command declares ``device: Device = "auto"`` and gets the flag, its
help and its parsing. Defaults stay with the command (``train`` and ``refine`` differ in some).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from denoise_gan.errors import UserError

# ---- where and how it runs (train, refine, denoise, benchmark, demo) ------------------------------
Device = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]
Precision = Annotated[str, typer.Option("--precision", help="auto (bf16 on CUDA, fp32 on CPU), fp32, fp16 or "
                                                            "bf16 (training: no fp16).")]
Seed = Annotated[int, typer.Option("--seed", help="Run seed.")]

# ---- tiled inference (denoise, benchmark) ---------------------------------------------------------
Tile = Annotated[str, typer.Option("--tile", help="Tile size in pixels, 0 for the whole image, or auto.")]
Overlap = Annotated[int, typer.Option("--overlap", help="Pixels shared by neighbouring tiles.")]
TileBatch = Annotated[int, typer.Option("--batch-size", help="Tiles per forward pass.")]
Strength = Annotated[float, typer.Option("--strength", help="Scale the model's estimated noise level: below 1 keeps "
                                         "more detail, above 1 smooths more (level-aware models).")]
Sigma = Annotated[float | None, typer.Option("--sigma", help="Assume this noise σ (0-255 scale) everywhere "
                                             "instead of estimating it (level-aware models).")]

# ---- training runs (train, refine) ----------------------------------------------------------------
Steps = Annotated[int | None, typer.Option("--steps", help="Total steps (on resume: the new total).")]
PatchSize = Annotated[int, typer.Option("--patch-size")]
BatchSize = Annotated[int, typer.Option("--batch-size")]
LearningRate = Annotated[float, typer.Option("--lr")]
GrayFraction = Annotated[float, typer.Option("--gray-fraction")]
LogEvery = Annotated[int, typer.Option("--log-every")]
SaveEvery = Annotated[int, typer.Option("--save-every")]
Val = Annotated[Path | None, typer.Option("--val", help="Paired held-out set made by `synth`.")]
ValEvery = Annotated[int, typer.Option("--val-every", help="0 = with --save-every.")]
Workers = Annotated[int, typer.Option("--workers", help="Data-loading worker processes.")]


MIN_TILE = 32  # smallest --tile accepted: below it tiles are mostly overlap and border, and quality drops


def parse_tile(text: str | int | None) -> int | None:
    """``auto`` (None), ``0`` (whole image) or a positive size, from the command line."""
    if text is None or isinstance(text, int):
        return text
    value = text.strip().lower()
    if value == "auto":
        return None
    if not value.isdigit():
        raise UserError(f"--tile must be a size in pixels, 0 (whole image) or auto, not {text!r}")
    size = int(value)
    if 0 < size < MIN_TILE:  # the network's own borders and the stride would dominate (a 1 px tile runs as 8 px)
        raise UserError(f"--tile {size} is too small; use at least {MIN_TILE}, 0 (whole image) or auto")
    return size
