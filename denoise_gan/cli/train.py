"""Training commands: `train` (the unpaired CycleGAN) and `refine` (G fine-tuned on pseudo-pairs from F).

Nothing heavy is imported at module level (no torch, networks, training or runtime): `denoise-gan --help` and
argument errors answer at once; each command imports what it runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from denoise_gan.cli.config_options import build_config, config_command, read_config_file
from denoise_gan.cli.given import given_names, given_options, resume_device, resume_refuses_options, them
from denoise_gan.cli.options import TensorBoard, Threads
from denoise_gan.cli.say import console, say_other_formats
from denoise_gan.config import RefineConfig, TrainConfig
from denoise_gan.errors import UserError

# options a resumed run honours besides --steps: they change where and how it runs and reports, not what it
# computes (--device moves a run started on a GPU to the CPU, or to another GPU)
RESUMABLE = ("steps", "device", "threads", "tensorboard")


def val_halves(val_dir: str) -> tuple[Path, ...]:
    """The folders a --val set's pairs are read from (none without one)."""
    from data_tools.set_halves import halves_of

    return halves_of(val_dir) if val_dir else ()


def refine_refuses_clashes(ctx: typer.Context, init: str | None, generator: str) -> None:
    """--init continues a G with its own architecture, and --generator same fine-tunes the run's own G: options
    that describe a new G cannot be honoured then, so they are refused rather than silently ignored."""
    if init:
        clash = given_options(ctx, ("generator", "width", "depth", "blocks", "fresh"))
        if clash:
            raise UserError(f"--init {init} continues that G with its own architecture and weights; "
                            f"{', '.join(clash)} cannot change them: drop {them(clash)}, or drop --init to train a "
                            "new G")
    elif generator == "same":
        if given_options(ctx, ("noise",)):
            raise UserError("--noise trains a fresh G on true pairs (a supervised comparison), and --generator same "
                            "fine-tunes the run's own G: drop one of them")
        clash = given_options(ctx, ("width", "depth", "blocks"))
        if clash:
            raise UserError(f"--generator same fine-tunes the run's own G; {', '.join(clash)} "
                            f"{'describe' if len(clash) > 1 else 'describes'} a new G: drop {them(clash)}, or name "
                            "the new G's architecture with --generator")
    elif given_options(ctx, ("fresh",)):  # it did nothing: a G of another architecture starts new anyway
        raise UserError(f"--generator {generator} trains a new G, newly initialised already; --fresh starts the run's "
                        "own G afresh with --generator same: drop --fresh, or add --generator same")


@config_command(TrainConfig)
def train_command(
    ctx: typer.Context,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Run folder (new or empty).")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue the run in this folder, with its "
                                                "stored config (--steps, --device, --threads and --tensorboard "
                                                "may change).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Start from this config file (JSON, as a run's "
                                                "config.json holds it); options given beside it override it.",
                                                show_default=False)] = None,
    threads: Threads = 0,
    tensorboard: TensorBoard = False,
    *,
    options: dict[str, Any],
) -> None:
    """Train G (noisy->clean) and F (clean->noisy) from unpaired clean and noisy folders (needs torch: the
    \\[train] extra)."""
    if resume is not None:
        resume_refuses_options(ctx, ("resume", *RESUMABLE))
        from denoise_gan.training.new_run_inputs import require_run_folder

        device = resume_device(ctx, options)
        require_run_folder(resume)  # before torch loads
        from denoise_gan.training.cyclegan import train

        _run_to_end(lambda: train(None, resume, resume=True, steps=options["steps"], console=console, device=device),
                    threads, tensorboard, "G weights")
        return
    base = read_config_file(TrainConfig, config) if config is not None else None
    given = options if config is None else {k: options[k] for k in given_names(ctx, options)}
    if isinstance((base or {}).get("data"), dict) and ("noise" in given) != ("noisy" in given):  # the other way
        base["data"].update({"noisy_dir": ""} if "noise" in given else {"noise": ""})  # to noise, given, wins
    cfg = build_config(TrainConfig, given, base, source=config)
    check_train_inputs(cfg, output)
    say_other_formats(cfg.data.clean_dir or None, cfg.data.noisy_dir or None,
                      *val_halves(cfg.val_dir))
    from denoise_gan.training.cyclegan import train  # torch and albumentations: after the options' own checks

    _run_to_end(lambda: train(cfg, output, console=console), threads, tensorboard, "G weights")


def _run_to_end(run: Callable[[], Path], threads: int, tensorboard: bool, made: str) -> None:
    """How every training command ends: its threads set, its reporting on, the run, and the line naming what it
    made."""
    from denoise_gan.runtime import set_threads
    from denoise_gan.training.loop import reporting

    set_threads(threads)
    with reporting(tensorboard=tensorboard):
        out = run()
    console.print(f"[green]done[/]: {made} in {escape(str(out))}", highlight=False, soft_wrap=True)


def check_train_inputs(cfg: TrainConfig, output: Path | None) -> None:
    """What a new run needs that its config's own checks cannot see: an output folder, a readable --noise and its
    photo folders (train() checks them too, for Python callers), before torch is imported."""
    from denoise_gan.training.new_run_inputs import check_train_folders

    if output is None:
        raise UserError("a new run needs -o RUN_DIR (or --resume RUN_DIR)")
    refuse_bad_noise_specs(("--noise", cfg.data.noise))
    check_train_folders(cfg)
    from denoise_gan.runtime import check_device_name

    check_device_name(cfg.device)  # its form: whether the GPU is there is asked once torch is loaded


def refuse_bad_noise_specs(*given: tuple[str, str | None]) -> None:
    """A bad noise spec is one line that names its option, before any output folder is made."""
    from data_tools.noise import NoiseSpecError, parse_noise_spec

    for option, spec in given:
        try:
            if spec:
                parse_noise_spec(spec)
        except NoiseSpecError as exc:
            raise UserError(f"{option}: {exc}") from None


@config_command(RefineConfig)
def refine_command(
    ctx: typer.Context,
    run_dir: Annotated[Path, typer.Argument(help="A `denoise-gan train` run folder (its G, F and clean images).")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Folder for the refined G, new or empty.",
                                                show_default="RUN_DIR/refine")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the refinement in the output folder, with "
                                         "its stored config (--steps, --device, --threads and --tensorboard may "
                                         "change).")] = False,
    threads: Threads = 0,
    tensorboard: TensorBoard = False,
    *,
    options: dict[str, Any],
) -> None:
    """Train G on pseudo-pairs (F(clean), clean), by default a level-aware G that also learns F's level maps:
    where an unpaired denoiser's quality comes from (needs torch: the \\[train] extra)."""
    out = output or run_dir / "refine"
    if resume:
        resume_refinement(ctx, run_dir, out, options, threads, tensorboard)
        return
    options["generator"] = options["generator"].strip().lower()  # any case, as the config reads it ("SAME")
    refine_refuses_clashes(ctx, options["init"], options["generator"])
    refuse_bad_noise_specs(("--noise", options["noise"]), ("--estimator-noise", options["estimator_noise"]))
    same = options["generator"] == "same" or bool(options["init"])
    from denoise_gan.training.new_run_inputs import load_source_config

    try:  # read once; a run that cannot be read is said after the options' own errors, before torch loads
        source, unreadable = load_source_config(run_dir), None
    except UserError as exc:
        source, unreadable = None, exc
    cfg = build_config(RefineConfig, {**options, "generator": "level" if same else options["generator"],
                                      "channels": source.model.g.channels if source else 3},  # a new G fits F
                       run_dir=str(run_dir), fresh=options["fresh"] or bool(options["noise"]))
    if same:
        cfg = dataclasses.replace(cfg, generator=None)
    if unreadable is not None:
        raise unreadable
    from denoise_gan.runtime import check_device_name

    check_device_name(cfg.device)
    say_other_formats(*val_halves(cfg.val_dir))

    from denoise_gan.training.refine import refine

    _run_to_end(lambda: refine(cfg, out, console=console), threads, tensorboard, "refined G weights")


def resume_refinement(ctx: typer.Context, run_dir: Path, out: Path, options: dict[str, Any], threads: int,
                      tensorboard: bool) -> None:
    """`refine RUN -o OUT --resume`: the refinement in OUT goes on with its stored config."""
    resume_refuses_options(ctx, ("run_dir", "output", "resume", *RESUMABLE))
    from denoise_gan.training.new_run_inputs import require_run_folder

    device = resume_device(ctx, options)
    require_run_folder(out)  # before torch loads
    from denoise_gan.training.refine import refine

    _run_to_end(lambda: refine(None, out, resume=True, steps=options["steps"], console=console, run_dir=run_dir,
                               device=device), threads, tensorboard, "refined G weights")
