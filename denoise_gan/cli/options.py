"""Option aliases shared by several commands, so one option reads the same everywhere.

Each alias is an ``Annotated`` type: a command declares ``device: Device = "auto"`` and gets the flag, its
help and its parsing. Defaults stay with the command (``train`` and ``refine`` differ in some).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from typer.models import OptionInfo

from denoise_gan.errors import UserError

# ---- where and how it runs (train, refine, denoise, benchmark, demo) ------------------------------
Device = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]
Precision = Annotated[str, typer.Option("--precision", help="auto (bf16 on CUDA, fp32 on CPU), fp32, fp16 or "
                                                            "bf16 (training: no fp16).")]
Seed = Annotated[int, typer.Option("--seed", help="Run seed: the same seed gives the same result.")]
Threads = Annotated[int, typer.Option("--threads", min=0, help="CPU threads inside each torch operator; 0 = "
                                      "torch's default (one per core). On a busy machine 1 can be faster.")]

# ---- tiled inference (denoise, benchmark) ---------------------------------------------------------
Tile = Annotated[str, typer.Option("--tile", help="Tile size in pixels, 0 for the whole image, or auto.")]
Overlap = Annotated[int, typer.Option("--overlap", help="Pixels shared by neighbouring tiles.")]
TileBatch = Annotated[int, typer.Option("--batch-size", help="Tiles per forward pass.")]
Strength = Annotated[float, typer.Option("--strength", help="Scale the model's estimated noise level: below 1 keeps "
                                         "more detail, above 1 smooths more (level-aware models).")]
Sigma = Annotated[float | None, typer.Option("--sigma", help="Assume this noise σ (0-255 scale) everywhere "
                                             "instead of estimating it (level-aware models).", show_default=False)]

# ---- training runs (train, refine, adapt) ---------------------------------------------------------


def steps_option(new_run: int) -> OptionInfo:
    """``--steps``: a new run's length (default ``new_run``), or on ``--resume`` the new total (default: the
    run's own). Use as ``steps: Annotated[int | None, steps_option(2000)] = None``."""
    return typer.Option("--steps", help="Total steps; with --resume the new total (default there: the run's "
                                        "own).", show_default=str(new_run))


Steps = Annotated[int | None, typer.Option("--steps", help="Total steps (on resume: the new total).")]  # prefer
# steps_option(N), which shows a new run's default
PatchSize = Annotated[int, typer.Option("--patch-size", help="Side of the random training crops, in pixels.")]
BatchSize = Annotated[int, typer.Option("--batch-size", help="Patches per step.")]
LearningRate = Annotated[float, typer.Option("--lr", help="Adam learning rate, constant for the first "
                                             "--decay-from share of the steps, then decaying linearly to 0.")]
DecayFrom = Annotated[float, typer.Option("--decay-from", help="Share of the steps at a constant learning rate "
                                          "before the linear decay.")]
GrayFraction = Annotated[float, typer.Option("--gray-fraction", help="Share of patches turned gray, so gray "
                                             "photos are handled natively.")]
LogEvery = Annotated[int, typer.Option("--log-every", help="Steps between log.csv rows (and, when the output is not "
                                       "a terminal, progress lines).")]
SaveEvery = Annotated[int, typer.Option("--save-every", help="Steps between checkpoints and weight exports.")]
KeepCheckpoints = Annotated[int, typer.Option("--keep-checkpoints", help="Checkpoints kept (the newest).")]
Val = Annotated[Path | None, typer.Option("--val", help="Paired held-out set made by `synth`: PSNR/SSIM and a "
                                          "labelled grid per validation (default: none).", show_default=False)]
ValEvery = Annotated[int, typer.Option("--val-every", help="Steps between validations; 0 = with --save-every.")]
Workers = Annotated[int, typer.Option("--workers", help="Data-loading worker processes.")]
TensorBoard = Annotated[bool, typer.Option("--tensorboard", help="Also log to RUN_DIR/tensorboard for TensorBoard "
                                           "(needs the tensorboard extra).")]


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
