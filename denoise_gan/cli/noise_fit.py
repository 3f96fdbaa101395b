"""`noise-fit`: how close a noise model's noise is to real noise, with pairs (KL per brightness band, correlations,
spectra, against fitted Gaussian and Poisson-Gaussian baselines) or blind (adapt's statistics).

Nothing heavy is imported at module level (the library is imported inside the command), so `--help` answers at
once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from data_tools.paths import real_path
from denoise_gan.cli.options import Seed, Threads
from denoise_gan.cli.render import progress_callback
from denoise_gan.cli.say import console, err_console, print_whole, say_other_formats, say_warning
from denoise_gan.errors import UserError


def noise_fit_command(
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for noise_fit.json, noise_fit.md and "
                                         "noise_fit.png.")],
    noisy: Annotated[Path, typer.Option("--noisy", help="Folder of real noisy images (searched recursively).")],
    clean: Annotated[Path | None, typer.Option("--clean", help="Their clean twins, same relative names: paired "
                                               "statistics of the residual noisy - clean. Without it, blind "
                                               "statistics (no ground truth).", show_default=False)] = None,
    model: Annotated[list[str] | None, typer.Option("--model", help="A learned noise model to compare: an F "
                                                    ".safetensors file, a train/adapt output folder or a shipped "
                                                    "name (default-F); repeatable.", show_default=False)] = None,
    spec: Annotated[list[str] | None, typer.Option("--spec", help="A parametric noise spec to compare, e.g. "
                                                   "'poisson-gaussian:peak=30,sigma=3'; repeatable.",
                                                   show_default=False)] = None,
    clean_photos: Annotated[Path | None, typer.Option("--clean-photos", help="Blind mode: clean photos to draw "
                                                      "the models' noise on (default: the bundled skimage.data "
                                                      "training images).", show_default=False)] = None,
    seed: Seed = 0,
    threads: Threads = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Write into a non-empty output folder, replacing "
                                            "the report.")] = False,
) -> None:
    """Compare noise models with real noise: a table (JSON and Markdown) and a labelled picture.

    With --clean and --noisy (pairs matched by relative name, as `evaluate`): KL of the residual's histogram per
    brightness band, its std, lag-1 spatial and R-G correlations and power spectrum, for the real noise, each
    --model/--spec drawn on the same clean images (seeded as `synth`, but never with a set's own draws), and a
    Gaussian and a Poisson-Gaussian fitted to the pairs. With --noisy alone: blind statistics, as `adapt`'s
    noise_fit report (needs torch: the \\[train] extra).
    """
    _check_folders(noisy, clean, clean_photos)
    from data_tools.folder_lock import holding_folder, removed_if_left_empty
    from data_tools.output_folders import prepare_output_dir, refuse_output_inside_inputs, refuse_output_read_as_a_set
    from data_tools.synth_folder import set_of_half
    from denoise_gan.evaluation.noise_fit import blind_fit, load_candidates, paired_fit, write_report
    from denoise_gan.runtime import set_threads

    set_threads(threads)
    inputs = {"--noisy": noisy, "--clean": clean, "--clean-photos": clean_photos}
    refuse_output_inside_inputs(output, inputs)
    for option, folder in inputs.items():
        if folder is not None:
            refuse_output_read_as_a_set(output, set_of_half(folder), f"the synth set that {option} {folder} is a "
                                        "half of", UserError)
    with removed_if_left_empty(output):  # the inputs are read after the folder is made
        candidates = load_candidates(model or [], spec or [])
        for note in dict.fromkeys(n for c in candidates for n in getattr(c.source, "notes", ())):
            say_warning(note)
        with holding_folder(output, "noise fit"), progress_callback(err_console, "noise-fit") as report_progress:
            prepare_output_dir(output, overwrite=overwrite)  # checked once the lock is held: never two reports
            if clean is not None:
                report = paired_fit(clean, noisy, candidates, seed=seed, progress=report_progress)
            else:
                report = blind_fit(noisy, candidates, clean_photos, seed=seed, progress=report_progress)
            paths = write_report(report, output)
    print_whole(_summary_table(report, paired=clean is not None))
    say_other_formats(noisy, clean, clean_photos)
    for path in paths:
        console.print(f"wrote {path}", markup=False, highlight=False, soft_wrap=True)


def _check_folders(noisy: Path, clean: Path | None, clean_photos: Path | None) -> None:
    """The folder options that are missing, contradict each other, or name one folder twice, before any work
    (and before torch, which the library imports, loads)."""
    from data_tools.folder_scan import require_folders

    require_folders(clean or "", noisy, clean_photos or "")
    if clean is not None and clean_photos is not None:
        raise UserError("--clean-photos is for blind mode (--noisy alone); with --clean the models are drawn on "
                        "the clean twins")
    if clean is not None and real_path(clean) == real_path(noisy):
        raise UserError(f"--clean and --noisy are the same folder ({clean}): each photo would be its own clean twin "
                        "and the noise would read as none; give the clean twins' folder, or --noisy alone")
    if clean_photos is not None and real_path(clean_photos) == real_path(noisy):
        raise UserError(f"--clean-photos and --noisy are the same folder ({clean_photos}): the models would be drawn "
                        "on noisy photos; give photos without noise, or leave --clean-photos out for the bundled ones")


def _summary_table(report: Any, paired: bool) -> Any:
    """The report's table for the terminal (the Markdown file holds the same rows)."""
    from rich.table import Table

    from denoise_gan.evaluation.noise_fit import iter_rows, table_columns

    title = "noise fit (paired: KL of the residual per brightness band, lower is closer)" if paired \
        else "noise fit (blind: no clean twins)"
    table = Table(title=title, title_justify="left")
    table.add_column("row")
    for column in table_columns(report):
        table.add_column(column, justify="right")
    for label, cells in iter_rows(report):
        table.add_row(label, *cells)
    return table
