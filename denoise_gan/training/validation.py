"""Validation during a run: G's PSNR/SSIM on a paired held-out set (made by `synth`) and labelled sample grids.

Every validation writes ``val/step_N.png`` (columns named, step and scores in its title, each row's PSNR before
and after G), copies it to ``val_grid.png`` and rewrites ``val/index.html``, a page of all of them, newest first.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from data_tools.atomic_files import atomic_write_bytes, atomic_write_text
from data_tools.datasets import fit_channels, to_tensor
from data_tools.image_encode import encode_image
from data_tools.images import center_crop, to_dtype
from data_tools.names import shown
from data_tools.paths import real_path
from data_tools.png_chunks import png_with_chunks
from data_tools.set_halves import halves_of
from data_tools.temp_files import remove_stale_parts
from denoise_gan.evaluation.metrics import finite_mean, psnr, ssim
from denoise_gan.evaluation.pairing import paired_files, read_pair
from denoise_gan.evaluation.pictures import labelled_grid
from denoise_gan.inference.infer_config import InferConfig
from denoise_gan.inference.tile_grid import reflect_index, round_up
from denoise_gan.inference.tiling import denoise_array

VAL_SIDE = 256  # centre crops keep validation to seconds on a CPU
GRIDS_DIR = "val"
GRID_NAME = re.compile(r"step_(\d+)\.png")
SCORES_KEY = "Description"  # the PNG text a grid carries its scores in, read back as the page's alt text


class Validator:
    def __init__(self, folder: Path, device: torch.device, side: int = VAL_SIDE) -> None:
        pairs = paired_files(*halves_of(folder), role="noisy partner")
        self.pairs, self.side, self.cropped = [], side, False
        for name, c, n in pairs:
            clean, noisy = read_pair(c, n)
            self.cropped |= max(clean.shape[:2]) > side  # scores of crops: the grid says so, not a whole-image score
            self.pairs.append((name, *(center_crop(p, side, allow_smaller=True) for p in (clean, noisy))))
        self.infer = InferConfig(tile=0, device=str(device), precision="fp32")
        self.device = device

    def run(self, g: nn.Module, run_dir: Path, step: int, noise_model: nn.Module | None = None) -> dict[str, float]:
        """Mean PSNR/SSIM of G over the set and of the noisy inputs as they are (``input_psnr``, the baseline);
        writes the labelled grid (noisy | G(noisy) | clean [| F(clean)]) for this step."""
        # the training's random state left as it was (F's draws took from it, so --val changed the model
        # trained), and F's draws here a function of the step alone
        cuda = [torch.device(self.device).index or 0] if torch.device(self.device).type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(step)
            return self._score(g, run_dir, step, noise_model)

    def _score(self, g: nn.Module, run_dir: Path, step: int, noise_model: nn.Module | None) -> dict[str, float]:
        was_training = g.training
        layouts = [(p, p.stride()) for p in g.parameters()]  # the engine puts G in channels_last in place
        g.eval()
        scores, rows, captions = [], [], []
        try:
            for name, clean, noisy in self.pairs:
                pred = denoise_array(g, noisy, self.infer)
                scores.append((psnr(clean, pred), ssim(clean, pred), psnr(clean, noisy)))
                row = [noisy, pred, clean]
                if noise_model is not None:
                    row.append(self._synthesise(noise_model, clean))
                rows.append(row)  # labelled_grid shows each as 8-bit RGB
                captions.append(f"{name}: noisy {scores[-1][2]:.2f} dB -> G {scores[-1][0]:.2f} dB")
        finally:
            g.train(was_training)
            _restore_layouts(layouts)
        result = {"psnr": finite_mean(s[0] for s in scores), "ssim": finite_mean(s[1] for s in scores),
                  "input_psnr": finite_mean(s[2] for s in scores)}
        columns = ["noisy", "G(noisy)", "clean"] + (["F(clean)"] if noise_model is not None else [])
        title = (f"step {step}   G: PSNR {result['psnr']:.2f} dB, SSIM {result['ssim']:.4f}   "
                 f"noisy input: {result['input_psnr']:.2f} dB" + (f"   (centre {self.side} px crops)" if self.cropped
                                                                   else ""))
        said = "; ".join(f"{shown(name)} {n:.2f} to {g:.2f} dB" for (name, *_), (g, _, n) in zip(self.pairs, scores))
        alt = (f"validation grid at step {step}: G PSNR {result['psnr']:.2f} dB, SSIM {result['ssim']:.4f}; "
               f"noisy input {result['input_psnr']:.2f} dB" + (f" (centre {self.side} px crops)" if self.cropped
                                                              else "") + f"; per image, noisy to G: {said}")
        write_grid(run_dir, step, labelled_grid(rows, columns, captions, title), alt)
        return result

    @torch.inference_mode()
    def _synthesise(self, f: nn.Module, clean: np.ndarray) -> np.ndarray:
        """One draw of F(clean), stored as a file would be (clipped, rounded)."""
        was_training = f.training
        f.eval()
        try:  # F back in its mode whatever happens, as run() restores G
            channels = f.channels if hasattr(f, "channels") else 3
            x = to_tensor(fit_channels(clean[..., :3] if clean.shape[2] > 2 else clean[..., :1], channels))
            h, w = x.shape[1:]
            stride = int(getattr(f, "stride", 1))  # a crop under VAL_SIDE keeps its size: padded to F's stride here
            x = x[:, reflect_index(round_up(h, stride), h)][:, :, reflect_index(round_up(w, stride), w)]
            out = f(x[None].to(self.device))[0, :, :h, :w].clamp(0, 1).cpu().numpy().transpose(1, 2, 0)
        finally:
            f.train(was_training)
        return to_dtype(out * np.iinfo(clean.dtype).max, clean.dtype)


def _restore_layouts(layouts: list[tuple[nn.Parameter, tuple[int, ...]]]) -> None:
    """Each parameter back in the memory layout it trained in: a G left in channels_last after a validation
    takes slightly different steps, so a run resumed from a checkpoint (whose G loads in the standard layout)
    was not the run it continues."""
    with torch.no_grad():
        for param, stride in layouts:
            if param.stride() != stride:
                param.data = torch.empty_strided(param.shape, stride, dtype=param.dtype,
                                                 device=param.device).copy_(param.data)


def write_grid(run_dir: Path, step: int, grid: np.ndarray, scores: str = "") -> None:
    """val/step_N.png and val_grid.png (the latest), then val/index.html. ``scores`` (what the grid shows, in
    words) goes into the PNG, so the page, rebuilt from the files, gives each grid its scores as alt text."""
    png = png_with_chunks(encode_image(grid, ".png"), None, text={SCORES_KEY: scores} if scores else None)
    atomic_write_bytes(Path(run_dir) / GRIDS_DIR / f"step_{step:07d}.png", png)
    atomic_write_bytes(Path(run_dir) / "val_grid.png", png)
    write_index(Path(run_dir))


def grid_steps(run_dir: Path) -> list[tuple[int, Path]]:
    """(step, path) of the kept grids, oldest first."""
    folder = Path(run_dir) / GRIDS_DIR
    found = [(int(m.group(1)), p) for p in folder.glob("step_*.png") if (m := GRID_NAME.fullmatch(p.name))]
    return sorted(found)


def write_index(run_dir: Path) -> None:
    """val/index.html: every kept grid, newest first (a self-contained page: inline CSS, relative images)."""
    grids = grid_steps(run_dir)
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             f"<title>validation: {html.escape(real_path(run_dir).name)}</title>",
             "<style>body{font-family:system-ui,sans-serif;margin:20px} img{max-width:100%;border:1px solid #ccc}"
             "h2{margin:24px 0 6px;font-size:16px}</style></head><body>",
             f"<h1>validation grids ({len(grids)})</h1>",
             "<p>Columns: noisy input, G(noisy), clean reference and, where the run has a noise model F, one draw "
             f"of F(clean), of each image's centre {VAL_SIDE}x{VAL_SIDE} px (so validation takes seconds). Each row's "
             "caption holds its PSNR (over the image's channels, gray or RGB), each grid's title the mean PSNR and "
             "SSIM; the curves are in ../losses.png. The grids are the step_N.png files beside this page: move or "
             "send the val folder whole.</p>"]
    for step, path in reversed(grids):
        parts.append(f"<h2 id='step-{step}'>step {step}</h2><img src='{html.escape(path.name)}' "
                     f"alt='{html.escape(grid_scores(path) or f'validation grid at step {step}')}'>")
    parts.append("</body></html>\n")
    atomic_write_text(Path(run_dir) / GRIDS_DIR / "index.html", "\n".join(parts))


def grid_scores(path: Path) -> str | None:
    """The scores a grid was written with, in words; None for one written before grids carried them, or one
    that cannot be read."""
    try:
        with Image.open(path) as image:
            said = image.info.get(SCORES_KEY)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return str(said) if isinstance(said, str) else None


def drop_grids_after(run_dir: Path, step: int) -> None:
    """Remove grids of steps past ``step`` (a resumed run redoes them), and a killed writer's half-written grid or
    page, then rewrite the index."""
    remove_stale_parts(Path(run_dir) / GRIDS_DIR)
    grids = grid_steps(run_dir)
    stale = [p for s, p in grids if s > step]
    for path in stale:
        path.unlink(missing_ok=True)
    if stale:
        write_index(Path(run_dir))


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
