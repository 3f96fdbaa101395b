"""Data commands: `synth` (a reproducible synthetic clean/noisy set) and `samples` (the bundled photos)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from data_tools.names import shown
from denoise_gan.cli.options import Threads, seed_option
from denoise_gan.cli.render import progress_callback
from denoise_gan.cli.say import console, err_console, say_other_formats, say_warning
from denoise_gan.errors import UserError
from denoise_gan.warning_line import say_cautions_on

if TYPE_CHECKING:  # the library loads inside the command, so --help stays fast
    from data_tools.synth import SynthSummary


def synth_command(
    clean_dir: Annotated[Path, typer.Argument(help="Folder of clean images (searched recursively).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder: clean/, noisy/, manifest.json.")],
    noise: Annotated[str | None, typer.Option("--noise", help="Noise spec, e.g. 'gaussian:sigma=25' or "
                                              "'gaussian:sigma=5-50+jpeg:quality=60-95'.", show_default=False)] \
        = None,
    noise_model: Annotated[str | None, typer.Option("--noise-model", help="Instead of --noise: a learned noise "
                                                    "model F (an F .safetensors file, a train/adapt output folder "
                                                    "or a shipped name such as default-F), run on the CPU.",
                                                    show_default=False)] = None,
    seed: Annotated[int, seed_option("Run seed; each image's seed derives from it and its name.")] = 0,
    unpaired: Annotated[bool, typer.Option("--unpaired", help="Clean and noisy from two disjoint halves "
                                           "of the inputs.")] = False,
    crop: Annotated[int | None, typer.Option("--crop", min=1, help="Center-crop to NxN (smaller: skipped).")] = None,
    max_size: Annotated[int | None, typer.Option("--max-size", min=1, help="Downscale clean images so the "
                                                 "longest side is at most N (before noise).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the set in a non-empty output folder: "
                                            "images in its clean/ and noisy/ that the new set does not list are "
                                            "removed; other files there are kept, and named.")] = False,
    threads: Threads = 0,
) -> None:
    """Build a synthetic paired (or unpaired) clean/noisy set with a reproducible manifest.

    The noise is a spec (--noise) or a learned noise model (--noise-model); the manifest records either, with
    each image's seed (and a model file's sha256), and the same seed gives byte-identical files.
    """
    from data_tools.noise_source import NoiseSource
    from data_tools.synth import synth
    from denoise_gan.runtime import check_threads

    if (noise is None) == (noise_model is None):
        raise UserError("give exactly one of --noise SPEC and --noise-model SRC" if noise is None else
                        "--noise and --noise-model are exclusive: give one of them")
    check_threads(threads)  # checked as every command checks it, though only a learned model runs threads
    spec: NoiseSource
    if noise is not None:
        from data_tools.noise import parse_noise_spec

        spec = parse_noise_spec(noise)
    else:
        from denoise_gan.inference.noise_model import NoiseModel

        spec = NoiseModel.from_pretrained(noise_model, device="cpu", threads=threads)
        for note in spec.notes:
            say_warning(note)
    with progress_callback(err_console, "synth") as report:
        summary = synth(clean_dir, output, spec, seed, unpaired=unpaired, crop=crop, max_size=max_size,
                        progress=report, overwrite=overwrite)
    _report_synth(summary, f"{'unpaired' if unpaired else 'paired'}, noise {spec}, seed {seed}")
    say_other_formats(clean_dir)
    if not _say_what_failed(summary, crop):
        raise typer.Exit(1)


def _say_what_failed(summary: SynthSummary, crop: int | None) -> bool:
    """Whether the run succeeded; where not, why, in red: outputs not written, inputs failed, or no photo as large
    as the crop (photos under it are left out, as the option says, and are no failure while others are taken)."""
    if summary.unwritten:
        left = "the set is marked incomplete; make room and run the same command to finish it" if summary.written \
            else "no set was made (the folder is as it was)"
        err_console.print(f"[bold red]{summary.unwritten} output(s) could not be written: {left}[/]",
                          highlight=False, soft_wrap=True)
    if not summary.written and summary.skipped and not summary.failures:
        shrunk = " after --max-size; give a larger --max-size or" if summary.shrunk else ";"
        err_console.print(f"[bold red]every photo is smaller than the {crop}x{crop} crop{shrunk} lower --crop[/]",
                          highlight=False)
        return False
    if len(summary.failures) > summary.unwritten:
        err_console.print(f"[bold red]{len(summary.failures) - summary.unwritten} input(s) failed[/]",
                          highlight=False)
    return not summary.failures


def _report_synth(summary: SynthSummary, settings: str) -> None:
    """Each source failed or left out, what an --overwrite left beside the set, and what was written."""
    for path, reason in summary.failures:
        err_console.print(f"[red]skipped[/] {escape(shown(f'{path}: {reason}'))}", highlight=False, soft_wrap=True)
    for path, reason in summary.skipped:  # smaller than --crop: left out as the option says, not a failure
        err_console.print(f"[yellow]left out[/] {escape(shown(f'{path}: {reason}'))}", highlight=False,
                          soft_wrap=True)
    listed = summary.manifest.is_file() and summary.written and not summary.unwritten  # a finished set's manifest
    say_cautions_on(err_console, summary.cautions, f"{summary.manifest}, as each image's caution" if listed else "")
    if summary.linked:
        from data_tools.folder_scan import linked_note

        say_warning(linked_note(summary.linked, "give one as the source to use its photos",
                                "linked folder(s) of photos"))
    if summary.removed:
        say_warning(f"--overwrite removed {len(summary.removed)} image(s) under {summary.out_dir} that no set's "
                    f"manifest listed: {', '.join(summary.removed[:3])}{', ...' if len(summary.removed) > 3 else ''}")
    if summary.kept:
        say_warning(f"{summary.out_dir} still holds {', '.join(summary.kept)} from before; --overwrite replaced "
                    "only the set (clean/, noisy/, manifest.json), so any predictions there were made for the "
                    "earlier set's noise")
    if not summary.written and summary.manifest.is_file():
        console.print(f"wrote no image; {summary.out_dir} is left as it was", markup=False, highlight=False,
                      soft_wrap=True)
    elif summary.manifest.is_file():
        console.print(f"wrote {summary.written} image(s) to {summary.out_dir} ({settings}); manifest "
                      f"{summary.manifest}", markup=False, highlight=False, soft_wrap=True)
    else:
        console.print(f"wrote no image; no set was made in {summary.out_dir}", markup=False, highlight=False,
                      soft_wrap=True)


def samples_command(
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder to write the PNG files into.")],
    names: Annotated[str | None, typer.Option("--names", help="Comma-separated sample names (of --set, when it is "
                                              "given).")] = None,
    subset: Annotated[str | None, typer.Option("--set", help="held-out (never used to train the shipped model), "
                                                      "train (its skimage.data training images), all, photos "
                                                      "(clean photos from Debian's wallpaper packages, fetched "
                                                      "with apt-get) or pool (photos + train: the shipped "
                                                      "model's whole training pool).",
                                        show_default="held-out; with --names, all")] = None,
    debs: Annotated[Path | None, typer.Option("--debs", help="For --set photos/pool without apt-get: a folder "
                                              "holding the wallpaper packages' .deb files.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Write into a non-empty folder, replacing "
                                            "files of the same names.")] = False,
) -> None:
    """Write clean sample images, e.g. to try synth/denoise/evaluate, or to rebuild the training pool.

    The folder must be new or empty, or hold only files of this very set (then they are written again, the
    same bytes), or --overwrite is given."""
    from data_tools.sample_sets import POOLS, write_sample_set

    subset = subset.strip().lower() if subset else subset  # --set HELD-OUT, as every word option is read
    building = subset in POOLS and names is None
    with progress_callback(err_console, subset) if building else contextlib.nullcontext() as report:
        written = write_sample_set(output, subset, names, debs, overwrite, report)
    if written.pool:
        console.print(f"wrote {len(written.paths)} image(s) and sources.json (source, author, licence) to {output}",
                      highlight=False, markup=False, soft_wrap=True)
        return
    for path in written.paths:
        console.print(f"wrote {path}", highlight=False, markup=False, soft_wrap=True)

