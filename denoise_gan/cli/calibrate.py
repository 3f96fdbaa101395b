"""`calibrate`: fit the factor on a level-aware model's estimated noise level on clean photos, and write a
calibrated copy of the weights."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from denoise_gan.cli.options import Engine, Threads, seed_option
from denoise_gan.cli.render import calibration_table, progress_callback
from denoise_gan.cli.say import console, err_console, print_whole, say_warning


def calibrate_command(
    clean: Annotated[Path, typer.Option("--clean", help="Folder of clean photos to fit on (recursive); not the "
                                        "photos you will evaluate on.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="New or empty folder for G.safetensors (the "
                                         "calibrated copy), G.onnx and fit/ (the benchmark of every factor).")],
    checkpoint: Annotated[str | None, typer.Option("--checkpoint", "-c", help="Weights file, folder or shipped "
                                                   "model name.", show_default="default")] = None,
    noise: Annotated[list[str] | None, typer.Option("--noise", help="Noise spec to fit on; repeatable. One factor "
                                                    "serves them all (default: Gaussian σ 5, 15, 25, 50, Poisson "
                                                    "peak 30, camera peak 40 + JPEG 90).", show_default=False)]
    = None,
    scale: Annotated[list[float] | None, typer.Option("--scale", help="Factor to try; repeatable (default: 0.8 "
                                                      "to 1.3 in steps of 0.05; each, times the model's stored "
                                                      "factor, within 0.25..4).", show_default=False)] = None,
    seed: Annotated[int, seed_option("Seed of the synthesised noise, as in `synth`.")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted calibration in -o: reuse the "
                                         "finished rows of its fit/, compute the rest.")] = False,
    engine: Engine = "auto",
    threads: Threads = 0,
) -> None:
    """Calibrate a level-aware model's noise estimator: benchmark it blind at several factors on its estimated
    level, and write a copy of the weights that applies the best factor (`denoise -c OUT` then uses it; needs
    torch: the \\[train] extra)."""
    from data_tools.folder_scan import require_folders

    require_folders(str(clean))  # before the library, and torch with it, loads
    from denoise_gan.evaluation.calibrate import DEFAULT_NOISES, DEFAULT_SCALES, CalibrateConfig, calibrate
    from denoise_gan.runtime import set_threads

    set_threads(threads)
    cfg = CalibrateConfig(clean_dir=clean, checkpoint=checkpoint, noises=tuple(noise or DEFAULT_NOISES),
                          scales=tuple(scale or DEFAULT_SCALES), seed=seed, engine=engine.lower(), threads=threads,
                          resume=resume)
    with progress_callback(err_console, "calibrate") as report:
        result = calibrate(cfg, output, progress=report)
    print_whole(calibration_table(result, console.width))
    if result.reused:
        console.print(f"{result.reused} benchmark row(s) reused from {output / 'fit'}", markup=False, highlight=False,
                      soft_wrap=True)
    edge = result.at_the_edge()
    if edge:
        say_warning(f"the best factor, {result.best:g}, is the {edge} one tried: one past it may do better; "
                    "try --scale values beyond it")
    graph = f" and {result.graph}" if result.graph else ""
    console.print(f"factor {result.best:g} (stored level_scale {result.level_scale:g}); wrote {result.weights}"
                  f"{graph}", markup=False, highlight=False, soft_wrap=True)
