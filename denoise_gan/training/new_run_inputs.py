"""A training or adaptation run's inputs, and the folder a resume continues, checked before torch is imported:
the commands' argument errors answer at once, and the library checks the same way for Python callers."""

from __future__ import annotations

from pathlib import Path

from data_tools.folder_scan import not_a_folder, require_folders
from data_tools.training_folders import refuse_shared_files, refuse_val_from_training
from denoise_gan.command_line import command_line_running
from denoise_gan.config import AdaptConfig, TrainConfig
from denoise_gan.errors import UserError
from denoise_gan.nets.run_folder import RunFolder
from denoise_gan.nets.weight_header import architecture_text, read_generator_header


def check_train_folders(cfg: TrainConfig) -> None:
    """A new run's photos: clean ones, and noisy ones or a noise spec, in folders that exist ("" is never the
    current directory: from Python it is a field left unset)."""
    data = cfg.data
    cli = command_line_running()  # the options as the caller gave them
    if not data.clean_dir:
        raise UserError("a new run needs a folder of clean photos (" + ("--clean DIR" if cli else
                                                                       "DataConfig.clean_dir") + ")")
    if bool(data.noisy_dir) == bool(data.noise):
        raise UserError("give exactly one of " + ("--noisy DIR or --noise SPEC" if cli else
                                                  "DataConfig.noisy_dir or DataConfig.noise"))
    require_folders(data.clean_dir, data.noisy_dir)
    if cfg.val_dir:
        refuse_val_from_training(cfg.val_dir, {"--clean": data.clean_dir, "--noisy": data.noisy_dir})


def check_adapt_folders(cfg: AdaptConfig) -> None:
    """"" is never the current directory (from Python it is a field left unset); clean_dir's means the bundled
    clean photos."""
    if not cfg.noisy_dir:
        raise UserError("a new adaptation needs a folder of noisy photos (--noisy DIR, AdaptConfig.noisy_dir)")
    require_folders(cfg.noisy_dir, cfg.clean_dir)
    if cfg.clean_dir:  # a photo in both (a link): F would learn its noise from a photo D is shown as clean
        refuse_shared_files(cfg.clean_dir, cfg.noisy_dir)


def load_source_config(run_dir: Path) -> TrainConfig:
    """The CycleGAN run's config (its data split and G's architecture)."""
    run = RunFolder(run_dir)
    if not run.path.is_dir():
        raise UserError(f"{run_dir}: {not_a_folder(run.path)} (give a `denoise-gan train` run folder)")
    if not run.config.is_file() or not run.g.is_file():
        raise UserError(f"{run_dir}: not a finished `denoise-gan train` run (needs config.json and G.safetensors)")
    cfg = run.read_config(TrainConfig, what="train")
    held = read_generator_header(run.g)[0]
    if held != cfg.model.g:  # (an edited config.json): refine would fine-tune one G and write it as the other
        raise UserError(f"{run.config}: its G ({architecture_text(cfg.model.g)}) is not the one {run.g.name} holds "
                        f"({architecture_text(held)}); the run's files disagree: restore its config.json")
    return cfg


def require_run_folder(run_dir: Path) -> None:
    """--resume needs the run's folder: nothing there, or a file of that name, is said as such."""
    if not run_dir.is_dir():
        why = " (a run's folder holds its checkpoints)" if run_dir.exists() else ""
        raise UserError(f"{run_dir}: {not_a_folder(run_dir)}{why}; nothing to resume")
