"""Validation during a run: G's PSNR/SSIM on a paired held-out set (made by `synth`) and a sample grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from data_tools.datasets import fit_channels, to_tensor
from data_tools.images import center_crop, to_dtype, write_image
from denoise_gan.evaluation.metrics import paired_files, psnr, read_pair, ssim
from denoise_gan.inference.tiling import InferConfig, denoise_array

VAL_SIDE = 256  # centre crops keep validation to seconds on a CPU


class Validator:
    def __init__(self, folder: Path, device: torch.device, side: int = VAL_SIDE) -> None:
        pairs = paired_files(folder / "clean", folder / "noisy", role="noisy partner")
        self.pairs = [(name, *(center_crop(p, side, allow_smaller=True) for p in read_pair(c, n)))
                      for name, c, n in pairs]
        self.infer = InferConfig(tile=0, device=str(device), precision="fp32")
        self.device = device

    def run(self, g: nn.Module, run_dir: Path, step: int, noise_model: nn.Module | None = None) -> dict[str, float]:
        """Mean PSNR/SSIM of G over the set; writes val_grid.png (noisy | G(noisy) | clean [| F(clean)])."""
        was_training = g.training
        g.eval()
        scores, rows = [], []
        try:
            for _, clean, noisy in self.pairs:
                pred = denoise_array(g, noisy, self.infer)
                scores.append((psnr(clean, pred), ssim(clean, pred)))
                row = [noisy, pred, clean]
                if noise_model is not None:
                    row.append(self._synthesise(noise_model, clean))
                rows.append(np.concatenate([fit_channels(a[..., :3] if a.shape[2] > 2 else a[..., :1], 3)
                                            for a in row], axis=1))
        finally:
            g.train(was_training)
        width = max(r.shape[1] for r in rows)
        grid = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows], axis=0)
        write_image(run_dir / "val_grid.png", grid if grid.dtype == np.uint8 else to_dtype(grid / 257.0, np.uint8))
        return {"psnr": float(np.mean([s[0] for s in scores])), "ssim": float(np.mean([s[1] for s in scores]))}

    @torch.inference_mode()
    def _synthesise(self, f: nn.Module, clean: np.ndarray) -> np.ndarray:
        """One draw of F(clean), stored as a file would be (clipped, rounded)."""
        was_training = f.training
        f.eval()
        channels = f.channels if hasattr(f, "channels") else 3
        x = to_tensor(fit_channels(clean[..., :3] if clean.shape[2] > 2 else clean[..., :1], channels))
        out = f(x[None].to(self.device))[0].clamp(0, 1).cpu().numpy().transpose(1, 2, 0)
        f.train(was_training)
        return to_dtype(out * np.iinfo(clean.dtype).max, clean.dtype)


class LazyValidator:
    """The validation step both trainers share: the set is read on the first validation, so a run
    without ``--val`` (or one that has not reached a validation step yet) never reads it."""

    def __init__(self, folder: str, device: torch.device) -> None:
        self.folder, self.device = folder, device
        self.validator: Validator | None = None

    def __call__(self, g: nn.Module, run_dir: Path, step: int,
                 noise_model: nn.Module | None = None) -> dict[str, float]:
        if self.validator is None:
            self.validator = Validator(Path(self.folder), self.device)
        return self.validator.run(g, run_dir, step, noise_model=noise_model)
