"""`denoise`: image files and folders through a trained generator, tiled, any size, 8/16-bit, alpha kept."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from denoise_gan.cli.options import (
    Device,
    Engine,
    Ensemble,
    LevelPerTile,
    Overlap,
    Precision,
    Sigma,
    Strength,
    Threads,
    Tile,
    TileBatch,
    parse_tile,
)
from denoise_gan.cli.render import denoise_summary
from denoise_gan.cli.say import err_console, print_whole, say_note


def denoise_command(
    inputs: Annotated[list[Path], typer.Argument(help="Image files and/or folders.", show_default=False)],
    output: Annotated[str, typer.Option("-o", "--output", help="Output folder (created if missing); for a single "
                                        "input file, an output file name such as cat_dn.png also works (a "
                                        "trailing / keeps it a folder).", metavar="<path>", show_default=False)],
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Search folders recursively and "
                                            "mirror their tree under the output folder.")] = False,
    suffix: Annotated[str, typer.Option("--suffix", help="Added to each output's file stem.")] = "",
    ext: Annotated[str, typer.Option("--ext", help="Output format: same, png, jpg, tif, webp or bmp.")] = "same",
    quality: Annotated[int | None, typer.Option("--quality", help="JPEG/WebP quality, 1-100, default 95 (a "
                                                "JPEG at 90 or more keeps full colour resolution, 4:4:4; below, "
                                                "4:2:0).", show_default=False)] = None,
    skip_existing: Annotated[bool, typer.Option("--skip-existing", help="Leave outputs that already exist.")]
    = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace outputs that already exist "
                                            "(without either flag an existing output is an error).")] = False,
    checkpoint: Annotated[str | None, typer.Option("--checkpoint", "-c", help="Generator weights: a .safetensors "
                                                   "or .onnx path, a folder holding one, or a shipped model "
                                                   "name (default: the shipped 'default').")] = None,
    tile: Tile = "auto",
    overlap: Overlap = 32,
    device: Device = "auto",
    precision: Precision = "auto",
    batch_size: TileBatch = 4,
    strength: Strength = 1.0,
    sigma: Sigma = None,
    threads: Threads = 0,
    engine: Engine = "auto",
    ensemble: Ensemble = False,
    level_per_tile: LevelPerTile = False,
) -> None:
    """Denoise image files and folders with a trained generator (tiled, any size, 8/16-bit, alpha kept).

    Exit code 0 when every file succeeded, 1 when any failed (the others are still written), 2 for bad arguments.
    """
    from denoise_gan.inference.api import Denoiser
    from denoise_gan.inference.file_plan import OutputOptions

    options = OutputOptions(suffix=suffix, ext=ext, quality=quality, recursive=recursive,
                            skip_existing=skip_existing, overwrite=overwrite)
    denoiser = Denoiser.from_pretrained(checkpoint, engine=engine.lower(), threads=threads,
                                        tile=parse_tile(tile), overlap=overlap, batch_size=batch_size,
                                        device=device, precision=precision, ensemble=ensemble,
                                        level_per_tile=level_per_tile)
    summary = denoiser.denoise_files(inputs, output, options, strength=strength, sigma=sigma, console=err_console,
                                     shard=True)
    if summary.rank == 0:
        print_whole(denoise_summary(summary))
        for note in summary.notes:
            say_note(note)
    if summary.failed:
        raise typer.Exit(1)
