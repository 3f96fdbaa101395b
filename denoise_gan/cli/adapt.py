"""`adapt`: teach a model the noise of your own photos (unpaired), within a time budget.

Nothing heavy is imported at module level: `denoise-gan --help` and argument errors answer at once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from denoise_gan.cli.app import console
from denoise_gan.cli.options import Device, PatchSize, Precision, SaveEvery, Seed, Threads, Workers
from denoise_gan.cli.train import given_options, resume_refuses_options
from denoise_gan.errors import UserError


def adapt_command(
    ctx: typer.Context,
    noisy: Annotated[Path | None, typer.Option("--noisy", help="Folder of your noisy photos (5 or more, one camera; "
                                                               "never resized).")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Output folder (new or empty).")] = None,
    clean: Annotated[Path | None, typer.Option("--clean", help="Folder of clean photos, unrelated to --noisy "
                                               "(default: the clean photos bundled with scikit-image).")] = None,
    minutes: Annotated[float, typer.Option("--minutes", help="Wall-clock budget for both phases, loading and "
                                           "timing included.")] = 20.0,
    steps: Annotated[int | None, typer.Option("--steps", help="Total steps of both phases instead of "
                                              "--minutes.")] = None,
    start: Annotated[str, typer.Option("--from", help="What to start from: a shipped model's name, or a folder "
                                       "with G.safetensors and F.safetensors (a train run, an adapt output).")]
    = "default",
    noise_share: Annotated[float, typer.Option("--noise-share", help="Share of the budget for learning the "
                                               "noise (F); the rest refines the denoiser G.")] = 0.4,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue the adaptation in this "
                                                "folder.")] = None,
    patch_size: PatchSize = 64,
    seed: Seed = 0,
    save_every: SaveEvery = 100,
    workers: Workers = 0,
    device: Device = "auto",
    precision: Precision = "auto",
    threads: Threads = 0,
) -> None:
    """Learn the noise of your own noisy photos (no clean twin needed) and a denoiser for it."""
    began = time.monotonic()  # the --minutes budget starts here: loading torch and the models counts against it
    from denoise_gan.config import AdaptConfig
    from denoise_gan.runtime import set_threads
    from denoise_gan.training.adapt import adapt, phases_line

    if resume is not None:
        resume_refuses_options(ctx, ("resume", "threads"))
        set_threads(threads)
        out = adapt(None, resume, resume=True, console=console, began=began)
    else:
        if noisy is None or output is None:
            raise UserError("a new adaptation needs --noisy DIR and -o OUT (or --resume OUT)")
        if steps is not None and given_options(ctx, ("minutes",)):
            raise UserError(f"give --minutes (a time budget) or --steps (a step count), not both: --steps {steps} "
                            f"would ignore --minutes {minutes:g}")
        for folder in (noisy, clean):
            if folder is not None and not folder.is_dir():
                raise UserError(f"{folder}: not a folder")
        cfg = AdaptConfig(noisy_dir=str(noisy.resolve()), clean_dir=str(clean.resolve()) if clean else "",
                          start=start if not Path(start).is_dir() else str(Path(start).resolve()),
                          minutes=minutes, steps=steps or 0, noise_share=noise_share, patch_size=patch_size,
                          seed=seed, save_every=save_every, workers=workers, device=device, precision=precision)
        set_threads(threads)
        out = adapt(cfg, output, console=console, began=began)
    console.print(f"noise fit in {out.parent / 'noise_fit.md'} (.png), before/after in "
                  f"{out.parent / 'before_after.png'}; denoise with `denoise-gan denoise -c {out}`")
    console.print(f"[green]done[/]: {out} ({phases_line(out.parent)})")  # what each phase planned and did
