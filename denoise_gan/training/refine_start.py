"""What a refinement starts from, checked before its output folder is made: the train run it refines, the G it
starts (a new one, the run's own, or ``--init`` weights), and the options that only a level-aware G uses; each
refusal is one line."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from data_tools.paths import real_path
from denoise_gan.config import GeneratorConfig, RefineConfig, TrainConfig
from denoise_gan.config_fields import level_only_options, level_only_refusal
from denoise_gan.errors import UserError
from denoise_gan.nets.contract import denoiser_contract
from denoise_gan.nets.registry import build_generator, check_role
from denoise_gan.nets.shipped import resolve_weights
from denoise_gan.nets.weight_header import architecture_text
from denoise_gan.nets.weights import load_denoiser
from denoise_gan.training.patch_fit import refuse_too_deep


def starts_new_g(cfg: RefineConfig, source_g: GeneratorConfig) -> bool:
    """Whether a refinement without --init builds a new G (rather than fine-tuning the run's): a synthetic
    noise instead of F, --fresh, or another architecture than the run's G."""
    return bool(cfg.noise or cfg.fresh or (cfg.generator or source_g) != source_g)


def start_weights(init: str, wanted: GeneratorConfig | None) -> tuple[nn.Module, GeneratorConfig]:
    """G from ``--init`` weights, which must be a denoiser of the architecture asked for (if one was); without
    their calibration, which was fitted to the estimator this run goes on training."""
    g, g_cfg, _ = load_denoiser(resolve_weights(init), calibrated=False)
    if wanted is not None and wanted != g_cfg:
        raise UserError(f"--init {init}: its generator ({architecture_text(g_cfg)}) is not the one asked for; drop "
                        "--generator/--width/... or match them")
    return g, g_cfg


def check_refine(cfg: RefineConfig, out_dir: Path) -> None:
    """The config's own errors as one line, before the output folder is made: G must be a denoiser, the output
    is not the train run it refines, and nothing shapes F's draws where --noise replaces them."""
    if cfg.generator is not None:
        check_role(cfg.generator, noise_model=False, option="--generator", also=("same",))
    if real_path(out_dir) == real_path(cfg.run_dir):
        raise UserError(f"-o {out_dir} is the train run itself; refine writes its own folder (by default "
                        f"{Path(cfg.run_dir) / 'refine'})")
    f_only = [flag for flag, used in (("--faint-fraction", cfg.faint_fraction > 0),
                                      ("--correlated-fraction", cfg.correlated_fraction > 0),
                                      ("--white-fraction", cfg.white_fraction > 0),
                                      ("--no-quantize", not cfg.quantize)) if used]
    if cfg.noise and f_only:  # (a new run's: a stored config from before this check still resumes)
        raise UserError(f"{', '.join(f_only)}: F's draws only, and with --noise the pairs are the spec's (F draws "
                        "none); leave it out with --noise")


def check_start(cfg: RefineConfig, source: TrainConfig, new: bool = True) -> None:
    """One-line errors before anything is written: the G the refinement starts from must fit the run's F
    and, for the estimator's options, have an estimator (a trained one for --estimator-only)."""
    if cfg.generator is not None and cfg.generator.channels != source.model.g.channels:
        raise UserError(f"--channels {cfg.generator.channels} does not match the run's "
                        f"{source.model.g.channels}-channel F")
    start_g, g_cfg = None, cfg.generator or source.model.g
    if cfg.init:
        start_g, g_cfg = start_weights(cfg.init, cfg.generator)
        if g_cfg.channels != source.model.g.channels:
            raise UserError(f"--init {cfg.init}: a {g_cfg.channels}-channel G does not match the run's "
                            f"{source.model.g.channels}-channel F")
    level_only = level_only_options(cfg) if new else []  # a stored run keeps what it was started with
    if level_only:
        g = start_g if start_g is not None else build_generator(g_cfg)
        if not denoiser_contract(g).level_aware:  # they were ignored without a word
            other = ("--init a level-aware G's weights" if cfg.init  # (--generator may not change --init's)
                     else "refine a level-aware G (--generator level, refine's default)")
            raise UserError(level_only_refusal(level_only, f"this refinement's G ({g_cfg.arch})") + f", or {other}")
    refuse_too_deep({f"G (--depth {g_cfg.depth})": lambda: build_generator(g_cfg)}, g_cfg.channels, cfg.patch_size)
    if cfg.estimator_only and start_g is None and starts_new_g(cfg, source.model.g):
        raise UserError("--estimator-only trains the level estimator of a trained G, and this refinement starts a "
                        "new G whose denoiser would stay untrained; give --init G.safetensors (a trained "
                        "level-aware G), or refine a run whose own G is level-aware")
