"""The `denoise-gan` command: parse, call one library function, print. No logic lives here."""

from __future__ import annotations

import dataclasses
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from denoise_gan import __version__

app = typer.Typer(
    name="denoise-gan",
    help="Unpaired image denoising with CycleGAN: denoise photo folders, synthesise noisy sets, "
         "train, evaluate and benchmark.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=False)
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(fn: F) -> F:
    """Expected failures (bad input, bad files, bad options) become one red line and exit code 2."""
    from data_tools.images import ImageReadError
    from data_tools.noise import NoiseSpecError
    from denoise_gan.errors import UserError
    from denoise_gan.weights import WeightsError

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (UserError, ImageReadError, NoiseSpecError, WeightsError, FileNotFoundError) as exc:
            err_console.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        console.print(f"denoise-gan {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Unpaired image denoising with CycleGAN."""


def run() -> None:  # pragma: no cover - console entry point alias
    sys.exit(app())


# ---- data and evaluation commands ------------------------------------------------------------------


def _progress_bar() -> Any:
    """A rich progress bar on stderr, so stdout stays clean for the result."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    TextColumn("{task.fields[name]}"), console=err_console, transient=True,
                    disable=not err_console.is_terminal)  # no stray blank line in logs/pipes


@app.command("synth")
@friendly_errors
def synth_command(
    clean_dir: Annotated[Path, typer.Argument(help="Folder of clean images (searched recursively).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder: clean/, noisy/, manifest.json.")],
    noise: Annotated[str, typer.Option("--noise", help="Noise spec, e.g. 'gaussian:sigma=25' or "
                                       "'gaussian:sigma=5-50+jpeg:quality=60-95'.")],
    seed: Annotated[int, typer.Option("--seed", help="Run seed; each image's seed derives from it and its name.")],
    unpaired: Annotated[bool, typer.Option("--unpaired", help="Clean and noisy from two disjoint halves "
                                           "of the inputs.")] = False,
    crop: Annotated[int | None, typer.Option("--crop", min=1, help="Center-crop every image to NxN.")] = None,
    max_size: Annotated[int | None, typer.Option("--max-size", min=1, help="Downscale clean images so the "
                                                 "longest side is at most N (before noise).")] = None,
) -> None:
    """Build a synthetic paired (or unpaired) clean/noisy set with a reproducible manifest."""
    from data_tools.noise import parse_noise_spec
    from data_tools.synth import SynthError, synth
    from denoise_gan.errors import UserError

    spec = parse_noise_spec(noise)
    with _progress_bar() as bar:
        task = bar.add_task("synth", total=None, name="")

        def report(done: int, total: int, name: str) -> None:
            bar.update(task, completed=done, total=total, name=name)

        try:
            summary = synth(clean_dir, output, spec, seed, unpaired=unpaired, crop=crop, max_size=max_size,
                            progress=report)
        except SynthError as exc:
            raise UserError(str(exc)) from None
    for path, reason in summary.failures:
        err_console.print(f"[red]skipped[/] {path}: {reason}", highlight=False, soft_wrap=True)
    console.print(f"wrote {summary.written} image(s) to {summary.out_dir} ({'unpaired' if unpaired else 'paired'}, "
                  f"noise {spec}, seed {seed}); manifest {summary.manifest}", highlight=False, soft_wrap=True)
    if summary.failures:
        err_console.print(f"[bold red]{len(summary.failures)} input(s) failed[/]", highlight=False)
        raise typer.Exit(1)


@app.command("evaluate")
@friendly_errors
def evaluate_command(
    clean: Annotated[Path, typer.Option("--clean", help="Folder of clean reference images.")],
    pred: Annotated[Path, typer.Option("--pred", help="Folder of predictions, same relative names.")],
    json_path: Annotated[Path | None, typer.Option("--json", help="Write results JSON here.")] = None,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="Write per-image CSV here.")] = None,
    y_channel: Annotated[bool, typer.Option("--y-channel", help="Also score the BT.601 Y channel "
                                            "(labelled psnr_y/ssim_y).")] = False,
    pred_suffix: Annotated[str, typer.Option("--pred-suffix", help="Suffix the predictions' names carry, "
                                             "e.g. '_denoised'.")] = "",
) -> None:
    """PSNR/SSIM of predictions against clean images, by the protocol in the results JSON."""
    from rich.table import Table

    from denoise_gan.metrics import evaluate_folders, write_results_csv, write_results_json

    with _progress_bar() as bar:
        task = bar.add_task("evaluate", total=None, name="")
        result = evaluate_folders(clean, pred, y_channel=y_channel, pred_suffix=pred_suffix,
                                  progress=lambda d, t, n: bar.update(task, completed=d, total=t, name=n))
    table = Table(title=f"{pred} vs {clean}")
    table.add_column("image")
    labels = {"psnr": "PSNR (dB)", "ssim": "SSIM", "psnr_y": "PSNR-Y (dB)", "ssim_y": "SSIM-Y"}
    for key in result.keys:
        table.add_column(labels[key], justify="right")

    def fmt(key: str, value: float) -> str:
        return f"{value:.2f}" if key.startswith("psnr") else f"{value:.4f}"

    for row in result.images:
        table.add_row(row.name, *(fmt(k, getattr(row, k)) for k in result.keys))
    table.add_section()
    table.add_row("[bold]mean[/]", *(f"[bold]{fmt(k, v)}[/]" for k, v in result.mean.items()))
    console.print(table)
    if json_path is not None:
        write_results_json(result, json_path)
        console.print(f"wrote {json_path}", highlight=False)
    if csv_path is not None:
        write_results_csv(result, csv_path)
        console.print(f"wrote {csv_path}", highlight=False)


@app.command("samples")
@friendly_errors
def samples_command(
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder to write the PNG files into.")],
    names: Annotated[str | None, typer.Option("--names", help="Comma-separated sample names (overrides --set).")] = None,
    subset: Annotated[str, typer.Option("--set", help="held-out (never used to train the shipped model), "
                                                      "train (its training pool) or all.")] = "held-out",
) -> None:
    """Write the bundled clean sample images (no download), e.g. to try synth/denoise/evaluate."""
    from data_tools.samples import SAMPLES, SETS, write_samples
    from denoise_gan.errors import UserError

    if subset not in SETS:
        raise UserError(f"unknown --set {subset!r}; choose one of {', '.join(SETS)}")
    chosen = [n.strip() for n in names.split(",") if n.strip()] if names else list(SETS[subset])
    unknown = [n for n in chosen if n not in SAMPLES]
    if unknown or not chosen:
        raise UserError(f"unknown sample name(s) {', '.join(unknown) or '(none given)'}; "
                        f"available: {', '.join(SAMPLES)}")
    for path in write_samples(output, chosen):
        console.print(f"wrote {path}", highlight=False)


# ---- train ---------------------------------------------------------------------------------------

@app.command("train")
@friendly_errors
def train_command(
    clean: Annotated[Path | None, typer.Option("--clean", help="Folder of clean images (searched recursively).")] = None,
    noisy: Annotated[Path | None, typer.Option("--noisy", help="Folder of noisy images, independent of --clean.")] = None,
    noise: Annotated[str, typer.Option("--noise", help="Instead of --noisy: synthesise the noisy domain from "
                                                       "a disjoint half of --clean with this noise spec.")] = "",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Run folder (new), or the run to resume.")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue the run in this folder.")] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="Total steps (on resume: the new total).")] = None,
    patch_size: Annotated[int, typer.Option("--patch-size")] = 64,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 8,
    generator: Annotated[str, typer.Option("--generator", help="G's architecture: unet (light) or resnet (reference).")] = "unet",
    width: Annotated[int, typer.Option("--width", help="G's base width.")] = 16,
    depth: Annotated[int, typer.Option("--depth", help="U-Net levels.")] = 3,
    blocks: Annotated[int, typer.Option("--blocks", help="Residual blocks per U-Net level (ResNet: total).")] = 1,
    channels: Annotated[int, typer.Option("--channels", help="3 (colour; gray images are copied) or 1.")] = 3,
    d_width: Annotated[int, typer.Option("--d-width", help="Discriminator width.")] = 32,
    d_layers: Annotated[int, typer.Option("--d-layers", help="Discriminator depth (3 = 70x70 PatchGAN).")] = 3,
    spectral_norm: Annotated[bool, typer.Option("--spectral-norm", help="Spectral norm in the discriminators.")] = False,
    lr: Annotated[float, typer.Option("--lr")] = 2e-4,
    lambda_cycle: Annotated[float, typer.Option("--lambda-cycle")] = 10.0,
    lambda_identity: Annotated[float, typer.Option("--lambda-identity", help="Times --lambda-cycle; 0 = off.")] = 0.5,
    pool_size: Annotated[int, typer.Option("--pool-size")] = 50,
    gray_fraction: Annotated[float, typer.Option("--gray-fraction")] = 0.25,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    log_every: Annotated[int, typer.Option("--log-every")] = 10,
    save_every: Annotated[int, typer.Option("--save-every")] = 500,
    val: Annotated[Path | None, typer.Option("--val", help="Paired held-out set made by `synth`.")] = None,
    val_every: Annotated[int, typer.Option("--val-every", help="0 = with --save-every.")] = 0,
    workers: Annotated[int, typer.Option("--workers", help="Data-loading worker processes.")] = 1,
    device: Annotated[str, typer.Option("--device", help="auto|cpu|cuda|cuda:N")] = "auto",
    precision: Annotated[str, typer.Option("--precision", help="auto|fp32|bf16|fp16")] = "auto",
) -> None:
    """Train G (noisy->clean) and F (clean->noisy) from unpaired clean and noisy folders."""
    from denoise_gan.config import DataConfig, DiscriminatorConfig, GeneratorConfig, ModelConfig, TrainConfig
    from denoise_gan.errors import UserError
    from denoise_gan.train import train

    if resume is not None:
        train(None, resume, resume=True, steps=steps, console=console)
        return
    if output is None or clean is None:
        raise UserError("a new run needs --clean DIR and -o RUN_DIR (or --resume RUN_DIR)")
    if (noisy is None) == (not noise):
        raise UserError("give exactly one of --noisy DIR or --noise SPEC")
    if noise:
        from data_tools.noise import parse_noise_spec

        parse_noise_spec(noise)
    for folder in (clean, noisy):
        if folder is not None and not folder.is_dir():
            raise UserError(f"{folder}: not a folder")
    model = ModelConfig(g=GeneratorConfig(arch=generator, channels=channels, width=width, depth=depth, blocks=blocks),
                        f=dataclasses.replace(ModelConfig().f, channels=channels),
                        d=DiscriminatorConfig(channels=channels, width=d_width, layers=d_layers,
                                              spectral_norm=spectral_norm))
    data = DataConfig(clean_dir=str(clean), noisy_dir=str(noisy or ""), noise=noise, patch_size=patch_size,
                      batch_size=batch_size, gray_fraction=gray_fraction, workers=workers)
    cfg = TrainConfig(model=model, data=data, steps=steps or 2000, lr=lr, lambda_cycle=lambda_cycle,
                      lambda_identity=lambda_identity, pool_size=pool_size, seed=seed, log_every=log_every,
                      save_every=save_every, val_dir=str(val or ""), val_every=val_every, device=device,
                      precision=precision)
    out = train(cfg, output, console=console)
    console.print(f"[green]done[/]: G weights in {out}")


# ---- denoise -------------------------------------------------------------------------------------


@app.command("denoise")
@friendly_errors
def denoise_command(
    inputs: Annotated[list[Path], typer.Argument(help="Image files and/or folders.", show_default=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder (created if missing).")],
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Search folders recursively and "
                                            "mirror their tree under the output folder.")] = False,
    suffix: Annotated[str, typer.Option("--suffix", help="Added to each output's file stem.")] = "",
    ext: Annotated[str, typer.Option("--ext", help="Output format: same, png, jpg, tif or webp.")] = "same",
    quality: Annotated[int, typer.Option("--quality", help="JPEG/WebP quality, 1-100.")] = 95,
    skip_existing: Annotated[bool, typer.Option("--skip-existing", help="Leave outputs that already exist.")]
    = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace outputs that already exist "
                                            "(without either flag an existing output is an error).")] = False,
    checkpoint: Annotated[str | None, typer.Option("--checkpoint", "-c", help="Generator weights: a .safetensors "
                                                   "path or a shipped model name (default: the shipped "
                                                   "'default').")] = None,
    tile: Annotated[str, typer.Option("--tile", help="Tile size in pixels, 0 for the whole image, or auto.")]
    = "auto",
    overlap: Annotated[int, typer.Option("--overlap", help="Pixels shared by neighbouring tiles.")] = 32,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")] = "auto",
    precision: Annotated[str, typer.Option("--precision", help="auto (bf16 on CUDA, fp32 on CPU), fp32, "
                                           "fp16 or bf16.")] = "auto",
    batch_size: Annotated[int, typer.Option("--batch-size", help="Tiles per forward pass.")] = 4,
) -> None:
    """Denoise image files and folders with a trained generator (tiled, any size, 8/16-bit, alpha kept).

    Exit code 0 when every file succeeded, 1 when any failed (the others are still written), 2 for bad arguments.
    """
    from denoise_gan.denoise import OutputOptions, denoise_files, parse_tile, summary_renderable
    from denoise_gan.tiling import InferConfig

    options = OutputOptions(suffix=suffix, ext=ext, quality=quality, recursive=recursive,
                            skip_existing=skip_existing, overwrite=overwrite)
    infer = InferConfig(tile=parse_tile(tile), overlap=overlap, batch_size=batch_size, device=device,
                        precision=precision)
    summary = denoise_files(inputs, output, checkpoint, options, infer, console=err_console)
    if summary.rank == 0:
        console.print(summary_renderable(summary))
    if summary.failed:
        raise typer.Exit(1)


# ---- refine --------------------------------------------------------------------------------------

@app.command("refine")
@friendly_errors
def refine_command(
    run_dir: Annotated[Path, typer.Argument(help="A `denoise-gan train` run folder (its G, F and clean images).")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Refinement folder [default: RUN_DIR/refine].")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the refinement in the output folder.")] = False,
    steps: Annotated[int | None, typer.Option("--steps", help="Total steps (on resume: the new total).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 16,
    patch_size: Annotated[int, typer.Option("--patch-size")] = 64,
    lr: Annotated[float, typer.Option("--lr")] = 2e-4,
    loss: Annotated[str, typer.Option("--loss", help="l1 or l2.")] = "l1",
    fresh: Annotated[bool, typer.Option("--fresh", help="Train a newly initialised G instead of fine-tuning.")] = False,
    noise: Annotated[str, typer.Option("--noise", help="Supervised upper bound: pairs from this synthetic spec "
                                                       "instead of F (G starts fresh). For comparison only.")] = "",
    gray_fraction: Annotated[float, typer.Option("--gray-fraction")] = 0.25,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    log_every: Annotated[int, typer.Option("--log-every")] = 20,
    save_every: Annotated[int, typer.Option("--save-every")] = 500,
    val: Annotated[Path | None, typer.Option("--val", help="Paired held-out set made by `synth`.")] = None,
    val_every: Annotated[int, typer.Option("--val-every", help="0 = with --save-every.")] = 0,
    workers: Annotated[int, typer.Option("--workers")] = 1,
    device: Annotated[str, typer.Option("--device", help="auto|cpu|cuda|cuda:N")] = "auto",
    precision: Annotated[str, typer.Option("--precision", help="auto|fp32|bf16|fp16")] = "auto",
) -> None:
    """Fine-tune G on pseudo-pairs (F(clean), clean): where an unpaired denoiser's quality comes from."""
    from data_tools.noise import parse_noise_spec
    from denoise_gan.config import RefineConfig
    from denoise_gan.refine import refine

    out = output or run_dir / "refine"
    if resume:
        refine(None, out, resume=True, steps=steps, console=console)
        return
    if noise:
        parse_noise_spec(noise)
    cfg = RefineConfig(run_dir=str(run_dir), noise=noise, fresh=fresh or bool(noise), steps=steps or 4000, lr=lr,
                       patch_size=patch_size, batch_size=batch_size, gray_fraction=gray_fraction, loss=loss,
                       seed=seed, log_every=log_every, save_every=save_every, val_dir=str(val or ""),
                       val_every=val_every, device=device, precision=precision, workers=workers)
    result = refine(cfg, out, console=console)
    console.print(f"[green]done[/]: refined G weights in {result}")


# ---- benchmark -----------------------------------------------------------------------------------


@app.command("benchmark")
@friendly_errors
def benchmark_command(
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for results.json, results.csv, "
                                         "report.html, crops/ and plots/.")],
    clean: Annotated[Path | None, typer.Option("--clean", help="Folder of clean held-out images (recursive); "
                                               "noisy inputs are synthesised from them with --noise.")] = None,
    noise: Annotated[list[str] | None, typer.Option("--noise", help="Noise spec to synthesise, e.g. "
                                                    "'gaussian:sigma=25'; repeat for several conditions.")] = None,
    noisy: Annotated[list[Path] | None, typer.Option("--noisy", help="Instead of --clean/--noise: a paired set "
                                                     "made by `synth` (clean/, noisy/, manifest.json); "
                                                     "repeatable.")] = None,
    methods: Annotated[str, typer.Option("--methods", help="Comma-separated: model, bm3d, nlm, skimage-nlm, "
                                         "wavelet, tv (noisy is always included).")] = "model,bm3d,nlm,wavelet,tv",
    checkpoint: Annotated[list[str] | None, typer.Option("--checkpoint", "-c", help="Generator weights for "
                                                         "'model' (path or shipped name); repeat to compare "
                                                         "several, one row each (default: shipped 'default').")]
    = None,
    seed: Annotated[int, typer.Option("--seed", help="Run seed; each image's noise seed derives from it and its "
                                      "name, as in `synth`.")] = 0,
    oracle_sigma: Annotated[bool, typer.Option("--oracle-sigma", help="Give classical methods the true σ "
                                               "(plain Gaussian specs only) instead of a blind estimate.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the benchmark in -o: reuse finished rows, "
                                         "compute the missing ones.")] = False,
    tile: Annotated[str, typer.Option("--tile", help="Model tile size in pixels, 0 for the whole image, or auto.")]
    = "auto",
    overlap: Annotated[int, typer.Option("--overlap", help="Pixels shared by neighbouring tiles.")] = 32,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")] = "auto",
    precision: Annotated[str, typer.Option("--precision", help="auto, fp32, fp16 or bf16.")] = "auto",
    batch_size: Annotated[int, typer.Option("--batch-size", help="Tiles per forward pass.")] = 4,
) -> None:
    """Compare the model with classical denoisers (BM3D, NLM, wavelet, TV) on the same noisy inputs."""
    from denoise_gan.benchmark import BenchmarkConfig, run_benchmark, summary_renderable
    from denoise_gan.denoise import parse_tile
    from denoise_gan.tiling import InferConfig

    infer = InferConfig(tile=parse_tile(tile), overlap=overlap, batch_size=batch_size, device=device,
                        precision=precision)
    cfg = BenchmarkConfig(methods=tuple(methods.split(",")), clean_dir=clean, noises=tuple(noise or ()),
                          noisy_sets=tuple(noisy or ()), checkpoints=tuple(checkpoint or ()), seed=seed,
                          oracle_sigma=oracle_sigma, resume=resume, infer=infer)
    with _progress_bar() as bar:
        task = bar.add_task("benchmark", total=None, name="")
        result = run_benchmark(cfg, output, progress=lambda d, t, n: bar.update(task, completed=d, total=t, name=n))
    console.print(summary_renderable(result))
    console.print(f"wrote {output / 'results.json'}, {output / 'results.csv'} and {output / 'report.html'}",
                  highlight=False, soft_wrap=True)
    if result.failed:
        raise typer.Exit(1)


# ---- demo ----------------------------------------------------------------------------------------

@app.command("demo")
@friendly_errors
def demo_command(
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the noisy | denoised | clean strips.")],
    noise: Annotated[str, typer.Option("--noise", help="Noise spec added to the bundled photos.")] = "gaussian:sigma=25",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    checkpoint: Annotated[str | None, typer.Option("--checkpoint", help="Weights file or shipped model name.")] = None,
    device: Annotated[str, typer.Option("--device", help="auto|cpu|cuda|cuda:N")] = "auto",
) -> None:
    """Denoise bundled held-out photos with seeded noise and print PSNR/SSIM before and after."""
    from rich.table import Table

    from denoise_gan.demo import run_demo
    from denoise_gan.tiling import InferConfig

    rows = run_demo(output, noise=noise, seed=seed, checkpoint=checkpoint, infer=InferConfig(device=device))
    table = Table(title=f"demo: {noise}, seed {seed} (held-out images, PSNR dB on RGB / SSIM)")
    for column in ("image", "noisy PSNR", "noisy SSIM", "denoised PSNR", "denoised SSIM", "seconds"):
        table.add_column(column, justify="left" if column == "image" else "right")
    for r in rows:
        table.add_row(r.name, f"{r.noisy_psnr:.2f}", f"{r.noisy_ssim:.4f}", f"{r.psnr:.2f}", f"{r.ssim:.4f}",
                      f"{r.seconds:.2f}")
    mean = lambda attr: sum(getattr(r, attr) for r in rows) / len(rows)  # noqa: E731
    table.add_row("[bold]mean", f"{mean('noisy_psnr'):.2f}", f"{mean('noisy_ssim'):.4f}", f"[bold]{mean('psnr'):.2f}",
                  f"[bold]{mean('ssim'):.4f}", f"{mean('seconds'):.2f}")
    console.print(table)
    console.print(f"side-by-side images (noisy | denoised | clean) in {output}")
