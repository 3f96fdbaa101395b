"""Training commands: `train` (the unpaired CycleGAN) and `refine` (G fine-tuned on pseudo-pairs from F).

Nothing heavy is imported at module level (no torch, networks, training or runtime): `denoise-gan --help` and
argument errors answer at once; each command imports what it runs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from denoise_gan.cli.app import console
from denoise_gan.cli.options import (
    BatchSize,
    DecayFrom,
    Device,
    GrayFraction,
    KeepCheckpoints,
    LearningRate,
    LogEvery,
    PatchSize,
    Precision,
    SaveEvery,
    Seed,
    TensorBoard,
    Threads,
    Val,
    ValEvery,
    Workers,
    steps_option,
)
from denoise_gan.errors import UserError
from denoise_gan.nets.generator_names import generators_help

# options a resumed run honours besides --steps: they change how it runs and reports, not what it computes
RESUMABLE = ("steps", "threads", "tensorboard")

# The generators by name with their one-line help, for --generator's help without importing torch. A copy of
# denoise_gan.nets.registry.GENERATORS' names and help, in its order; tests/training/test_cli_startup.py
# asserts the two are equal, so the registry stays the one source and this copy cannot drift from it.
def given_options(ctx: typer.Context, names: tuple[str, ...] | None = None,
                  but: tuple[str, ...] = ()) -> list[str]:
    """The flags (``--width``) of the options among ``names`` (default: all) that the user gave, not defaulted:
    what a command must refuse when it cannot honour them."""
    def from_user(name: str) -> bool:  # by name: typer may ship its own copy of click's ParameterSource
        source = ctx.get_parameter_source(name)
        return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT", "PROMPT")

    return [p.opts[0] if p.opts[0].startswith("-") else str(p.name) for p in ctx.command.params
            if p.name and (names is None or p.name in names) and p.name not in but and from_user(p.name)]


def resume_refuses_options(ctx: typer.Context, allowed: tuple[str, ...]) -> None:
    """A resumed run continues with its stored config: any other option given on the command line cannot be
    honoured, so it is refused rather than silently ignored."""
    given = given_options(ctx, but=allowed)
    if given:
        raise UserError(f"--resume continues the run with its stored config (see its config.json); "
                        f"{', '.join(given)} cannot change it: drop them, or start a new run in another folder")


def refine_refuses_clashes(ctx: typer.Context, init: str | None, generator: str) -> None:
    """--init continues a G with its own architecture, and --generator same fine-tunes the run's own G: options
    that describe a new G cannot be honoured then, so they are refused rather than silently ignored."""
    if init:
        clash = given_options(ctx, ("generator", "width", "depth", "blocks", "fresh"))
        if clash:
            raise UserError(f"--init {init} continues that G with its own architecture and weights; "
                            f"{', '.join(clash)} cannot change them: drop them, or drop --init to train a new G")
    elif generator == "same":
        clash = given_options(ctx, ("width", "depth", "blocks"))
        if clash:
            raise UserError(f"--generator same fine-tunes the run's own G; {', '.join(clash)} describe a new G: "
                            "drop them, or name the new G's architecture with --generator")


def train_command(
    ctx: typer.Context,
    clean: Annotated[Path | None, typer.Option("--clean", help="Folder of clean images (searched "
                                                               "recursively).")] = None,
    noisy: Annotated[Path | None, typer.Option("--noisy", help="Folder of noisy images, independent of "
                                                               "--clean.")] = None,
    noise: Annotated[str, typer.Option("--noise", help="Instead of --noisy: synthesise the noisy domain from "
                                                       "a disjoint half of --clean with this noise spec.")] = "",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Run folder (new or empty).")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue the run in this folder, with its "
                                                "stored config.")] = None,
    steps: Annotated[int | None, steps_option(2000)] = None,
    patch_size: PatchSize = 64,
    batch_size: BatchSize = 8,
    generator: Annotated[str, typer.Option("--generator", help=f"G's architecture: {generators_help()}.")] = "unet",
    width: Annotated[int, typer.Option("--width", help="G's base width.")] = 16,
    depth: Annotated[int, typer.Option("--depth", help="U-Net levels.")] = 3,
    blocks: Annotated[int, typer.Option("--blocks", help="Residual blocks per U-Net level (ResNet: total).")] = 1,
    channels: Annotated[int, typer.Option("--channels", help="3 (colour; gray images are copied) or 1.")] = 3,
    noise_model: Annotated[str, typer.Option("--noise-model", help="F's architecture: noise (independent "
                                             "channels) or colour-noise (noise correlated across channels, as "
                                             "demosaiced camera noise and JPEG'd noise are).")] = "noise",
    d_width: Annotated[int, typer.Option("--d-width", help="Discriminator width.")] = 32,
    d_layers: Annotated[int, typer.Option("--d-layers", help="Discriminator depth (3 = 70x70 PatchGAN).")] = 3,
    spectral_norm: Annotated[bool, typer.Option("--spectral-norm/--no-spectral-norm", help="Spectral norm in the "
                                                "discriminators (the shipped recipe).")] = True,
    f_width: Annotated[int, typer.Option("--f-width", help="F's (the noise model's) base width.")] = 8,
    f_depth: Annotated[int, typer.Option("--f-depth", help="F's levels.")] = 2,
    f_blocks: Annotated[int, typer.Option("--f-blocks", help="F's residual blocks per level.")] = 1,
    lr: LearningRate = 2e-4,
    decay_from: DecayFrom = 0.5,
    beta1: Annotated[float, typer.Option("--beta1", help="Adam's β1.")] = 0.5,
    beta2: Annotated[float, typer.Option("--beta2", help="Adam's β2.")] = 0.999,
    init_std: Annotated[float, typer.Option("--init-std", help="Std of the N(0, std) weight initialisation.")] = 0.02,
    lambda_cycle: Annotated[float, typer.Option("--lambda-cycle", help="Weight of the L1 cycle-consistency "
                                                "losses (both ways).")] = 10.0,
    lambda_identity: Annotated[float, typer.Option("--lambda-identity", help="Times --lambda-cycle; 0 = off.")] = 0.5,
    lambda_stats: Annotated[float, typer.Option("--lambda-stats", help="Weight of F's noise-statistics matching "
                                                "(level distribution, correlation); 0 = adversarial only.")] = 1.0,
    pool_size: Annotated[int, typer.Option("--pool-size", help="Generated images in the discriminators' history "
                                           "pool; 0 = none.")] = 50,
    gray_fraction: GrayFraction = 0.25,
    seed: Seed = 0,
    log_every: LogEvery = 10,
    save_every: SaveEvery = 500,
    keep_checkpoints: KeepCheckpoints = 3,
    val: Val = None,
    val_every: ValEvery = 0,
    workers: Workers = 1,
    device: Device = "auto",
    precision: Precision = "auto",
    threads: Threads = 0,
    tensorboard: TensorBoard = False,
) -> None:
    """Train G (noisy->clean) and F (clean->noisy) from unpaired clean and noisy folders."""
    from denoise_gan.config import DataConfig, DiscriminatorConfig, GeneratorConfig, ModelConfig, TrainConfig
    from denoise_gan.runtime import set_threads
    from denoise_gan.training.cyclegan import train
    from denoise_gan.training.loop import reporting

    if resume is not None:
        resume_refuses_options(ctx, ("resume", *RESUMABLE))
        set_threads(threads)
        with reporting(tensorboard=tensorboard):
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
                        f=dataclasses.replace(ModelConfig().f, arch=noise_model, channels=channels,
                                              width=f_width, depth=f_depth, blocks=f_blocks),
                        d=DiscriminatorConfig(channels=channels, width=d_width, layers=d_layers,
                                              spectral_norm=spectral_norm))
    data = DataConfig(clean_dir=str(clean), noisy_dir=str(noisy or ""), noise=noise, patch_size=patch_size,
                      batch_size=batch_size, gray_fraction=gray_fraction, workers=workers)
    cfg = TrainConfig(model=model, data=data, steps=2000 if steps is None else steps, decay_from=decay_from, lr=lr,
                      beta1=beta1, beta2=beta2, lambda_cycle=lambda_cycle,
                      lambda_identity=lambda_identity, lambda_stats=lambda_stats, pool_size=pool_size,
                      init_std=init_std, seed=seed, log_every=log_every, save_every=save_every,
                      keep_checkpoints=keep_checkpoints, val_dir=str(val or ""), val_every=val_every, device=device,
                      precision=precision)
    set_threads(threads)
    with reporting(tensorboard=tensorboard):
        out = train(cfg, output, console=console)
    console.print(f"[green]done[/]: G weights in {out}")


def refine_command(
    ctx: typer.Context,
    run_dir: Annotated[Path, typer.Argument(help="A `denoise-gan train` run folder (its G, F and clean images).")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Folder for the refined G, new or empty.",
                                                show_default="RUN_DIR/refine")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the refinement in the output folder, with "
                                         "its stored config.")] = False,
    steps: Annotated[int | None, steps_option(4000)] = None,
    batch_size: BatchSize = 16,
    patch_size: PatchSize = 64,
    lr: LearningRate = 2e-4,
    decay_from: DecayFrom = 0.5,
    loss: Annotated[str, typer.Option("--loss", help="l1 or l2.")] = "l1",
    generator: Annotated[str, typer.Option("--generator", help="What to train: 'same' fine-tunes the run's own G; "
                                           f"or a new one: {generators_help()}.")] = "level",
    width: Annotated[int, typer.Option("--width", help="The new G's base width.")] = 32,
    depth: Annotated[int, typer.Option("--depth", help="The new G's levels below its input resolution.")] = 2,
    blocks: Annotated[int, typer.Option("--blocks", help="The new G's residual blocks per level.")] = 2,
    clean_fraction: Annotated[float, typer.Option("--clean-fraction", help="Level-aware G: share of samples "
                                                  "left clean with a zero level map.")] = 0.1,
    clean_jpeg_fraction: Annotated[float, typer.Option(
        "--clean-jpeg-fraction", help="Level-aware G: share of the clean samples JPEG-compressed first (quality "
        "70-95), so block edges are not read as noise.")] = 0.0,
    lambda_level: Annotated[float, typer.Option("--lambda-level", help="Level-aware G: weight of the level "
                                                "estimator's loss.")] = 1.0,
    fresh: Annotated[bool, typer.Option("--fresh", help="Train a newly initialised G instead of fine-tuning.")] = False,
    init: Annotated[str | None, typer.Option("--init", help="Start G from these weights (a path, or a shipped name "
                                             "such as 'default'), with their architecture: continue a model with "
                                             "new settings.")] = None,
    faint_fraction: Annotated[float, typer.Option("--faint-fraction", help="Share of F's draws whose noise (and "
                                                  "level map) is scaled down by a random factor, so G and its "
                                                  "estimator learn faint noise too.")] = 0.0,
    noise: Annotated[str, typer.Option("--noise", help="Supervised upper bound: pairs from this synthetic spec "
                                                       "instead of F (G starts fresh). For comparison only.")] = "",
    quantize: Annotated[bool, typer.Option("--quantize/--no-quantize", help="Clip and round F's output to 8 bits, "
                                           "as the files G will meet, before G sees it.")] = True,
    gray_fraction: GrayFraction = 0.25,
    seed: Seed = 0,
    log_every: LogEvery = 20,
    save_every: SaveEvery = 500,
    keep_checkpoints: KeepCheckpoints = 3,
    val: Val = None,
    val_every: ValEvery = 0,
    workers: Workers = 1,
    device: Device = "auto",
    precision: Precision = "auto",
    threads: Threads = 0,
    tensorboard: TensorBoard = False,
) -> None:
    """Train G on pseudo-pairs (F(clean), clean), by default a level-aware G that also learns F's level maps:
    where an unpaired denoiser's quality comes from."""
    from data_tools.noise import parse_noise_spec
    from denoise_gan.config import GeneratorConfig, RefineConfig
    from denoise_gan.runtime import set_threads
    from denoise_gan.training.loop import reporting
    from denoise_gan.training.refine import refine

    out = output or run_dir / "refine"
    if resume:
        resume_refuses_options(ctx, ("run_dir", "output", "resume", *RESUMABLE))
        set_threads(threads)
        with reporting(tensorboard=tensorboard):
            refine(None, out, resume=True, steps=steps, console=console)
        return
    refine_refuses_clashes(ctx, init, generator)
    if noise:
        parse_noise_spec(noise)
    chosen = None if generator == "same" or init else GeneratorConfig(arch=generator, channels=_run_channels(run_dir),
                                                               width=width, depth=depth, blocks=blocks)
    cfg = RefineConfig(run_dir=str(run_dir), noise=noise, generator=chosen, fresh=fresh or bool(noise), init=init or "",
                       clean_fraction=clean_fraction, clean_jpeg_fraction=clean_jpeg_fraction,
                       faint_fraction=faint_fraction, lambda_level=lambda_level,
                       steps=4000 if steps is None else steps, lr=lr, decay_from=decay_from,
                       patch_size=patch_size, batch_size=batch_size, gray_fraction=gray_fraction, loss=loss,
                       quantize=quantize, seed=seed, log_every=log_every, save_every=save_every,
                       keep_checkpoints=keep_checkpoints, val_dir=str(val or ""), val_every=val_every, device=device,
                       precision=precision, workers=workers)
    set_threads(threads)
    with reporting(tensorboard=tensorboard):
        result = refine(cfg, out, console=console)
    console.print(f"[green]done[/]: refined G weights in {result}")


def _run_channels(run_dir: Path) -> int:
    """The channel count of a CycleGAN run (a new G must match its F); 3 when the run cannot be read, so the
    library reports what is wrong with the run folder."""
    from denoise_gan.training.refine import load_source_config

    try:
        return load_source_config(run_dir).model.g.channels
    except UserError:
        return 3
