"""Evaluation commands: `evaluate` (score a folder of predictions), `benchmark` (the model against classical
denoisers) and `demo` (the shipped model on bundled photos).

Nothing heavy is imported at module level (the library is imported inside each command), so `--help`,
`--version` and argument errors answer at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from denoise_gan.cli.given import given_options
from denoise_gan.cli.options import (
    Device,
    Engine,
    Ensemble,
    LevelPerTile,
    Overlap,
    Precision,
    Seed,
    Threads,
    Tile,
    TileBatch,
    parse_tile,
    seed_option,
)
from denoise_gan.cli.render import benchmark_summary, demo_table, evaluation_table, progress_callback
from denoise_gan.cli.say import console, err_console, print_whole, say_error, say_note, say_other_formats
from denoise_gan.errors import UserError
from denoise_gan.evaluation.method_names import DEFAULT_METHODS, methods_help
from denoise_gan.warning_line import say_cautions_on

if TYPE_CHECKING:
    from denoise_gan.evaluation.benchmark.results import BenchmarkResult


def evaluate_command(
    clean: Annotated[Path, typer.Option("--clean", help="Folder of clean reference images.")],
    pred: Annotated[Path, typer.Option("--pred", help="Folder of predictions, same relative names.")],
    json_path: Annotated[Path | None, typer.Option("--json", help="Write results JSON here (default: none).",
                                                   show_default=False)] = None,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="Write per-image CSV here (default: none).",
                                                  show_default=False)] = None,
    y_channel: Annotated[bool, typer.Option("--y-channel", help="Also score the BT.601 Y channel "
                                            "(labelled psnr_y/ssim_y).")] = False,
    pred_suffix: Annotated[str, typer.Option("--pred-suffix", help="Suffix the predictions' names carry, "
                                             "e.g. '_denoised'.")] = "",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --json or --csv file.")]
    = False,
) -> None:
    """PSNR/SSIM of predictions against clean images, by the protocol in the results JSON.

    Clean images without a prediction, predictions without a clean image, and pairs that cannot be scored
    (unreadable, mismatched, under 11 px) are listed (results JSON: missing, unpaired, failed) and the others
    scored; the exit code is then 1 (0 when every image given was paired and scored, 2 for bad arguments).
    """
    from data_tools.images import IMAGE_EXTENSIONS
    from data_tools.output_folders import prepare_output_files
    from denoise_gan.evaluation.metrics import (
        evaluate_folders,
        failed_text,
        missing_text,
        unpaired_text,
        write_results_csv,
        write_results_json,
    )

    folders = prepare_output_files({"--json": json_path, "--csv": csv_path}, overwrite=overwrite,
                                   forbidden_suffixes=IMAGE_EXTENSIONS,
                                   reads=_set_manifests({"--clean": clean, "--pred": pred}))
    made: list[Path] = []  # files this run created (not replaced): gone again if the other one is not written
    try:
        with progress_callback(err_console, "evaluate") as report:
            result = evaluate_folders(clean, pred, y_channel=y_channel, pred_suffix=pred_suffix, progress=report)
        for path, write in ((json_path, write_results_json), (csv_path, write_results_csv)):
            if path is not None:
                new = not path.exists()
                write(result, path, overwrite=overwrite)
                made += [path] if new else []
    except BaseException:
        _undo_reports(made, folders)
        raise
    if result.images:  # after the files (a full disk under stdout loses the table alone); none if every pair failed
        print_whole(evaluation_table(result, f"{pred} vs {clean}"))
    for path in (json_path, csv_path):
        if path is not None:
            console.print(f"wrote {path}", markup=False, highlight=False, soft_wrap=True)
    say_other_formats(clean, pred)
    say_cautions_on(err_console, result.cautions, f"{json_path}, under cautions" if json_path is not None else "")
    problems = [missing_text(result, pred, pred_suffix)] if result.missing else []
    problems += [failed_text(result)] if result.failed else []
    problems += [unpaired_text(result, clean)] if result.unpaired else []
    for line in problems:
        say_error(line)
    if problems:
        raise typer.Exit(1)


def benchmark_command(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for results.json, results.csv, "
                                         "report.html, crops/ and plots/.")],
    clean: Annotated[Path | None, typer.Option("--clean", help="Folder of clean held-out images (recursive); "
                                               "noisy inputs are synthesised from them with --noise.")] = None,
    noise: Annotated[list[str] | None, typer.Option("--noise", help="Noise spec to synthesise, e.g. "
                                                    "'gaussian:sigma=25'; repeat for several conditions.")] = None,
    noisy: Annotated[list[Path] | None, typer.Option("--noisy", help="Instead of --clean/--noise: a paired set "
                                                     "made by `synth` (clean/, noisy/, manifest.json), or your "
                                                     "own pairs (clean/ and noisy/, matched by name: benchmarked "
                                                     "blind); repeatable.")] = None,
    methods: Annotated[str | None, typer.Option("--methods", help=methods_help() + f" Default: {DEFAULT_METHODS}.",
                                                show_default=False)] = None,
    checkpoint: Annotated[list[str] | None, typer.Option("--checkpoint", "-c", help="Generator weights for "
                                                         "'model' (path or shipped name); repeat to compare "
                                                         "several, one row each (default: shipped 'default').")]
    = None,
    seed: Annotated[int, seed_option("Run seed; each image's noise seed derives from it and its name, as in "
                                     "`synth`.")] = 0,
    oracle_sigma: Annotated[bool, typer.Option("--oracle-sigma", help="Give classical methods the true σ "
                                               "(a plain Gaussian or correlated spec: its sigma; any other, such as "
                                               "camera, Poisson or +jpeg: the std of the true residual) instead of a "
                                               "blind estimate.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the benchmark in -o: reuse finished rows, "
                                         "compute the missing ones.")] = False,
    model_strength: Annotated[list[float] | None, typer.Option("--model-strength", help="Level-aware models: "
                                                               "one row per strength (repeatable, 0 to 10), "
                                                               "e.g. 0.75 and 1.")] = None,
    model_sigma: Annotated[bool, typer.Option("--model-sigma", help="Level-aware models: also a row fed the σ "
                                              "the classical methods get (non-blind).")] = False,
    tile: Tile = "auto",
    overlap: Overlap = 32,
    device: Device = "auto",
    precision: Precision = "auto",
    batch_size: TileBatch = 4,
    threads: Threads = 0,
    engine: Engine = "auto",
    ensemble: Ensemble = False,
    level_per_tile: LevelPerTile = False,
) -> None:
    """Compare the model with classical denoisers (see --methods) on the same noisy inputs."""
    from denoise_gan.evaluation.benchmark import BenchmarkConfig, run_benchmark
    from denoise_gan.inference.infer_config import InferConfig
    from denoise_gan.runtime import set_threads

    _refuse_seed_for_sets(ctx, noisy)
    set_threads(threads)
    infer = InferConfig(tile=parse_tile(tile), overlap=overlap, batch_size=batch_size, device=device,
                        precision=precision, ensemble=ensemble, level_per_tile=level_per_tile)
    cfg = BenchmarkConfig(methods=None if methods is None else tuple(methods.split(",")), clean_dir=clean,
                          noises=tuple(noise or ()), noisy_sets=tuple(noisy or ()), checkpoints=tuple(checkpoint or ()),
                          seed=seed, oracle_sigma=oracle_sigma, resume=resume, infer=infer,
                          model_strengths=tuple(dict.fromkeys(model_strength or ())), model_sigma=model_sigma,
                          engine=engine.lower(), threads=threads)
    with progress_callback(err_console, "benchmark") as report:
        result = run_benchmark(cfg, output, progress=report)
    _say_benchmark_written(result, output, clean, noisy or [])
    if result.failed:
        raise typer.Exit(1)


def _refuse_seed_for_sets(ctx: typer.Context, noisy: list[Path] | None) -> None:
    """--seed draws noise on --clean photos; beside --noisy sets it was recorded as none, without a word."""
    if noisy and given_options(ctx, ("seed",)):
        raise UserError("--seed draws the noise on --clean photos; a --noisy set's images carry their own (its "
                        "manifest records the seed synth drew them with): drop --seed")


def _say_benchmark_written(result: BenchmarkResult, output: Path, clean: Path | None, noisy_sets: list[Path]) -> None:
    from data_tools.set_halves import halves_of

    print_whole(benchmark_summary(result))
    for note in result.notes:
        say_note(note)
    say_other_formats(clean, *(half for folder in noisy_sets for half in halves_of(folder)))
    console.print(f"wrote {output / 'results.json'}, {output / 'results.csv'} and {output / 'report.html'}",
                  markup=False, highlight=False, soft_wrap=True)


def demo_command(
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the noisy | denoised | clean strips "
                                        "and demo.json (new, empty, or an earlier demo's).")],
    noise: Annotated[str, typer.Option("--noise", help="Noise spec added to the bundled photos.")] \
        = "gaussian:sigma=25",
    seed: Seed = 0,
    checkpoint: Annotated[str | None, typer.Option("--checkpoint", "-c", help="Weights (.safetensors or .onnx), a "
                                                   "model or run folder, or a shipped model's name.",
                                                   show_default="default")] = None,
    device: Device = "auto",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Write into a non-empty folder, replacing "
                                            "files of the same names.")] = False,
    threads: Threads = 0,
    engine: Engine = "auto",
) -> None:
    """Denoise bundled held-out photos with seeded noise and print PSNR/SSIM before and after."""
    from denoise_gan.evaluation.demo import run_demo
    from denoise_gan.inference.infer_config import InferConfig

    with progress_callback(err_console, "demo") as report:
        result = run_demo(output, noise=noise, seed=seed, checkpoint=checkpoint, infer=InferConfig(device=device),
                          overwrite=overwrite, engine=engine.lower(), threads=threads, progress=report)
    print_whole(demo_table(result.rows, noise, seed, checkpoint or "default"))
    for note in result.notes:  # as `denoise` says them of the same weights
        say_note(note)
    console.print(f"side-by-side images (noisy | denoised | clean) in {output}, the scores in {output / 'demo.json'}",
                  markup=False, highlight=False, soft_wrap=True)


def _undo_reports(files: list[Path], folders: list[Path]) -> None:
    """What a failed evaluate made, removed: the report it wrote before an interrupt or a full disk stopped the
    other (the same command then makes both again; it would refuse the first as existing), and the report folders
    it made, where still empty (a run refused for its inputs, no such folder or no pair, leaves none behind)."""
    from data_tools.output_folders import remove_made_folders

    for path in files:
        path.unlink(missing_ok=True)
    remove_made_folders(folders)


def _set_manifests(folders: dict[str, Path]) -> dict[Path, str]:
    """The manifests of the synth sets the folders are halves of, which the command reads: never a report's name."""
    from data_tools.synth_folder import MANIFEST_NAME, set_of_half

    halves = {option: set_of_half(folder) for option, folder in folders.items()}
    return {set_dir / MANIFEST_NAME: f"the manifest of the synth set that {option} is a half of"
            for option, set_dir in halves.items() if set_dir is not None}
