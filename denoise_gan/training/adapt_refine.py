"""adapt's second phase: G fine-tuned on pseudo-pairs from the adapted F, as `refine` does, written to
OUT/G.safetensors with what it was adapted to."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from data_tools.paths import real_path
from denoise_gan.config import AdaptConfig, RefineConfig, RunFields
from denoise_gan.nets.run_folder import RunFolder
from denoise_gan.nets.weights import save_generator
from denoise_gan.runtime import World
from denoise_gan.training.adapt_noise import training_data_text
from denoise_gan.training.refine import RefineTrainer, SourceModel


class AdaptRefiner(RefineTrainer):
    """`refine`'s trainer on the adapted F, starting from OUT/G.safetensors; it writes OUT/G.safetensors."""

    diverged_advice = ("the denoiser phase's --refine-lr is too high: lower it and start a new adaptation in another "
                       "folder (this one keeps the noise phase, and --resume keeps the rate that diverged)")

    def __init__(self, cfg: RefineConfig, source: SourceModel, adapt_cfg: AdaptConfig, out_dir: Path,
                 device: torch.device, world: World) -> None:
        super().__init__(cfg, source, device, world)
        self.adapt_cfg, self.out_dir = adapt_cfg, out_dir

    def export(self, run_dir: Path, step: int) -> None:
        self.settle_level_max()
        save_generator(RunFolder(self.out_dir).g, self.g, self.g_cfg,
                       {"step": step, "role": "G noisy->clean", "trained_by": "denoise-gan adapt (pseudo-pairs "
                        "from the adapted F)", "source_run": str(self.out_dir),
                        "noise_family": f"the photos in {real_path(self.adapt_cfg.noisy_dir)}",
                        "training_data": training_data_text(self.adapt_cfg)})


def refine_config(cfg: AdaptConfig, out_dir: Path) -> RefineConfig:
    return RefineConfig(run_dir=str(out_dir), generator=None, fresh=False, clean_fraction=cfg.clean_fraction,
                        lambda_level=cfg.lambda_level, steps=cfg.refine_steps, lr=cfg.refine_lr,
                        decay_from=cfg.decay_from, patch_size=cfg.patch_size, batch_size=cfg.refine_batch_size,
                        gray_fraction=cfg.gray_fraction, workers=cfg.workers,
                        **{f.name: getattr(cfg, f.name) for f in dataclasses.fields(RunFields)})

