"""`adapt`: teach a model the noise of your own photos (unpaired), within a time budget.

Nothing heavy is imported at module level: `denoise-gan --help` and argument errors answer at once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from denoise_gan.cli.config_options import build_config, config_command
from denoise_gan.cli.given import given_options, resume_device, resume_refuses_options
from denoise_gan.cli.options import Threads
from denoise_gan.cli.say import console, say_other_formats
from denoise_gan.config import AdaptConfig
from denoise_gan.errors import UserError


@config_command(AdaptConfig)
def adapt_command(
    ctx: typer.Context,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Output folder (new or empty).")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue the adaptation in this "
                                                "folder (--device and --threads may change).")] = None,
    threads: Threads = 0,
    *,
    options: dict[str, Any],
) -> None:
    """Learn the noise of your own noisy photos (no clean twin needed) and a denoiser for it (needs torch: the
    \\[train] extra)."""
    began = time.monotonic()  # the --minutes budget starts here: loading torch and the models counts against it
    from denoise_gan.runtime import check_device_name, set_threads
    from denoise_gan.training.new_run_inputs import check_adapt_folders, require_run_folder

    if resume is not None:
        resume_refuses_options(ctx, ("resume", "threads", "device"))
        device = resume_device(ctx, options)
        require_run_folder(resume)  # before torch loads
        from denoise_gan.training.adapt import adapt
        from denoise_gan.training.adapt_phases import said_complete

        if said_complete(resume, console):  # nothing trained: no "done" lines
            return
        set_threads(threads)
        out = adapt(None, resume, resume=True, console=console, began=began, device=device)
    else:
        if not options["noisy"] or output is None:
            raise UserError("a new adaptation needs --noisy DIR and -o OUT (or --resume OUT)")
        if options["steps"] == 0:  # (0 in a config means "by --minutes"; typed, it would start a 20-minute run)
            raise UserError("--steps must be at least 2 (one per phase); leave it out to train for --minutes")
        if options["steps"] is not None and given_options(ctx, ("minutes",)):
            raise UserError(f"give --minutes (a time budget) or --steps (a step count), not both: --steps "
                            f"{options['steps']} would ignore --minutes {options['minutes']:g}")
        cfg = build_config(AdaptConfig, options)
        check_adapt_folders(cfg)  # before torch is imported: adapt() checks the same for Python callers
        check_device_name(cfg.device)
        say_other_formats(cfg.noisy_dir, cfg.clean_dir or None)
        from denoise_gan.training.adapt import adapt

        set_threads(threads)
        out = adapt(cfg, output, console=console, began=began, start_named=bool(given_options(ctx, ("start",))))
    from data_tools.names import shell_word
    from denoise_gan.training.adapt_phases import phases_line

    console.print(f"noise fit in {out.parent / 'noise_fit.md'} (.png), before/after in "
                  f"{out.parent / 'before_after.png'}; denoise your photos with `denoise-gan denoise PHOTOS -o OUT "
                  f"-c {shell_word(out)}`", markup=False, highlight=False, soft_wrap=True)
    console.print(f"[green]done[/]: {escape(str(out))} ({phases_line(out.parent)})",  # what each phase did
                  highlight=False, soft_wrap=True)
