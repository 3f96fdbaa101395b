"""Tiled inference: the tile / batch / blend engine that runs a generator over images of any size.

An image of any size is denoised as equal-size tiles that overlap, so memory is bounded by the tile, not the
image. Tiles are at most ``tile`` pixels a side, shrunk to the size that covers the image with the fewest of
them (so the overlap costs ~15 %, not up to 2.25x). Tiles start on multiples of the network's stride (so the
U-Net's down-sampling grid is the same as on the whole image) and are blended with raised-cosine ramps over
the overlap, normalised by the accumulated weight, so no seam is left. The image is reflect-padded to the
stride virtually (by index maps, never a padded copy), and only one batch of tiles exists at a time: the image
costs its uint8/uint16 pixels plus a float32 output and weight buffer.

The network runs behind a ``Backend``: torch (``torch_engine``: CUDA, training's validation, any weights) or
ONNX Runtime (``onnx_engine``: the light CPU engine). Both see NCHW float32 batches in [0, 1], so tiling,
blending, channels, alpha and bit depth are one code path whatever runs the network. This module imports
neither: it works where torch is not installed. On out-of-memory the tile is halved and the image retried.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from data_tools.channels import channels_first_hint, has_alpha
from data_tools.images import split_alpha, to_dtype
from denoise_gan.errors import UserError
from denoise_gan.extras import installed
from denoise_gan.inference.backend import (  # noqa: F401 (CPU_TILE is read from here too)
    CPU_TILE,
    MIN_TILE,
    Backend,
    OutOfMemory,
    check_conditioning,
)
from denoise_gan.inference.ensemble import ensembled
from denoise_gan.inference.infer_config import InferConfig
from denoise_gan.inference.photo_levels import batch_profiles, read_photo_profile, shares_profile, tile_input
from denoise_gan.inference.tile_grid import TileGrid, plan_grid, reflect_index, round_up, tile_side
from denoise_gan.inference.transparent_fill import fill_behind_transparency
from denoise_gan.nets.small_images import smallest_side

Progress = Callable[[int, int], None]  # (tiles done, tiles total)

FINISH_ROWS = 256  # rows converted to the output dtype at a time, so no full-size float temporaries


# ---- the network behind the engine --------------------------------------------------------------

def as_backend(model: Any, cfg: InferConfig) -> Backend:
    """A backend as given, or a torch module wrapped in one (torch imported only then)."""
    if hasattr(model, "run") and hasattr(model, "auto_tile"):
        return model
    if isinstance(model, (str, os.PathLike)):  # the easy slip: Denoiser("default")
        raise UserError(f"Denoiser takes a loaded network; load a name or file with "
                        f"Denoiser.from_pretrained({str(model)!r})")
    if not installed("torch"):  # then it is no torch module either: said, not torch's ModuleNotFoundError
        raise UserError(f"Denoiser takes a loaded network, not a {type(model).__name__}; load a model with "
                        "Denoiser.from_pretrained(...)")
    from denoise_gan.inference.torch_engine import TorchBackend

    return TorchBackend(model, cfg.device, cfg.precision)


def _channel_mode(net_channels: int, image_channels: int) -> str:
    """How image channels map to the net: same, gray copied to colour, or colour planes one by one (a gray image
    stored as RGB becomes "neutral" in ``TiledDenoiser._canvas``)."""
    if net_channels == image_channels:
        return "same"
    if image_channels == 1:
        return "gray_to_colour"
    if net_channels == 1:
        return "per_channel"
    alpha = " (an image's 4th channel is read as alpha and passed through)" \
        if image_channels == 3 and net_channels == 4 else ""
    raise UserError(f"the model takes {net_channels} channels; cannot denoise a {image_channels}-channel "
                    f"image{alpha}")


def _neutral(pixels: np.ndarray) -> bool:
    """Whether a colour image is gray stored as RGB (R = G = B everywhere, as a scanned or converted black-and-white
    photo often is, or within one 8-bit level of it, as a lossy WebP or a Lab TIFF decodes one): it is denoised as
    gray is, the channels' mean correction given to all three, so it stays as gray as it came (the colour net
    turned those one-level differences into colour speckle of 12 levels)."""
    level = int(np.iinfo(pixels.dtype).max) // 255
    for top in range(0, pixels.shape[0], 64):  # a band at a time: a colour photo is told by its first band
        band = pixels[top:top + 64, :, :3].astype(np.int32)
        if int(np.abs(band - band[..., 1:2]).max()) > level:
            return False
    return True


def _items_per_tile(mode: str, image_channels: int) -> int:
    return image_channels if mode == "per_channel" else 1


class _Canvas:
    """One image in flight: its colour pixels, grid, index maps and float32 output and weight buffers."""

    def __init__(self, pixels: np.ndarray, grid: TileGrid, mode: str) -> None:
        self.pixels = pixels
        self.colour, self.alpha = split_alpha(pixels)
        self.grid = grid
        self.mode = mode
        self.rows = reflect_index(grid.ys[-1] + grid.tile_h, grid.height)
        self.cols = reflect_index(grid.xs[-1] + grid.tile_w, grid.width)
        self.out = np.zeros((grid.height, grid.width, self.colour.shape[2]), np.float32)
        self.weight = np.zeros((grid.height, grid.width), np.float32)
        self.profile: np.ndarray | None = None  # its photo's level profile, where its tiles share one

    def crop(self, y: int, x: int) -> np.ndarray:
        """The tile's source pixels (th, tw, C) in the file's dtype; padding read through the index maps."""
        rows = self.rows[y:y + self.grid.tile_h]
        cols = self.cols[x:x + self.grid.tile_w]
        return self.colour[np.ix_(rows, cols)]

    def add(self, y: int, x: int, tile_out: np.ndarray, weight: np.ndarray) -> None:
        """Accumulate a tile's weighted output; the part in the bottom/right padding is dropped."""
        h = min(self.grid.tile_h, self.grid.height - y)
        w = min(self.grid.tile_w, self.grid.width - x)
        if h <= 0 or w <= 0:
            return
        wt = weight[:h, :w]
        self.out[y:y + h, x:x + w] += tile_out[:h, :w] * wt[..., None]
        self.weight[y:y + h, x:x + w] += wt

    def finish(self, rounded: bool = True) -> np.ndarray:
        """Normalise by the accumulated weight, clip into the input dtype's range and put alpha back; rounded
        into that dtype, or float32 in its units for a caller that averages passes and rounds once."""
        dtype = self.pixels.dtype
        scale = np.float32(np.iinfo(dtype).max)
        result = np.empty(self.pixels.shape, dtype if rounded else np.float32)
        channels = self.colour.shape[2]
        for r0 in range(0, self.grid.height, FINISH_ROWS):
            r1 = r0 + FINISH_ROWS
            block = self.out[r0:r1] * (scale / self.weight[r0:r1, :, None])
            result[r0:r1, :, :channels] = to_dtype(block, dtype) if rounded else np.clip(block, 0, scale)
        if self.alpha is not None:
            result[..., channels:] = self.alpha
        return result


@dataclass
class _Batch:
    key: tuple[Any, ...] | None = None  # what its tiles share to be stacked and run as one: size, mode, dtype
    entries: list[tuple[_Canvas, int, int, np.ndarray]] = field(default_factory=list)
    crops: list[np.ndarray] = field(default_factory=list)


INSTANCE_NORM_NOTE = ("this model uses InstanceNorm, so tiles are normalised separately and may differ in tone; use "
                      "--tile 0 if the image fits in memory")


class TiledDenoiser:
    """A backend (or a torch generator, wrapped) with a resolved tile size, denoising arrays.

    Build it once and call it per image: after an out-of-memory retry the smaller tile is kept for later
    images. ``strength``/``sigma`` are per call (the config's are the defaults). ``notes`` collects what the
    user should know (tile changes, fp32 redos, InstanceNorm tiling).
    """

    def __init__(self, model: Any, cfg: InferConfig = InferConfig()) -> None:
        self.cfg = cfg
        self.backend = as_backend(model, cfg)
        check_conditioning(self.backend.level_aware, cfg.strength, cfg.sigma)
        self.channels = self.backend.channels
        self.stride = self.backend.stride
        self.batch_size = cfg.batch_size
        floor = max(MIN_TILE, self.backend.min_tile)
        if cfg.tile is not None and 0 < cfg.tile < floor:
            raise UserError(f"this model needs tiles of at least {floor} px (its noise estimate looks that far); "
                            f"use --tile {floor} or more, 0 or auto")
        self.min_tile = floor
        self.tile = cfg.tile if cfg.tile is not None else max(floor, self.backend.auto_tile(cfg.batch_size))
        self._notes: list[str] = []
        self._tiling_notes: list[str] = []  # said once an image is split: of one tile, they would not be true
        if self.tile:  # what plan_grid makes of the tile and overlap asked for, said rather than done silently
            side = tile_side(self.tile, self.stride)
            if side != self.tile and cfg.tile is not None:
                self._tiling_notes.append(f"tiles are whole multiples of this model's stride ({self.stride} px): "
                                          f"--tile {self.tile} runs as {side}")
            if cfg.overlap == 0:  # each tile's own level map meets the next one's edge to edge
                self._tiling_notes.append("an overlap of 0 px: tile edges are not blended and may show as seams")
            if cfg.overlap > side // 2:  # (the default overlap too: "--overlap 32" named a flag never given)
                self._tiling_notes.append(f"an overlap of {cfg.overlap} px is more than half a {side} px tile: "
                                          "it runs as half of each tile")
        self._notes += _unused_level_per_tile(cfg, self.backend)

    @property
    def notes(self) -> list[str]:
        return list(dict.fromkeys(self._notes + self.backend.notes))

    @property
    def where(self) -> str:
        return self.backend.where

    def __call__(self, pixels: np.ndarray, progress: Progress | None = None, *, strength: float | None = None,
                 sigma: float | None = None) -> np.ndarray:
        return self.denoise_many([pixels], progress, strength=strength, sigma=sigma)[0]

    def denoise_many(self, images: Sequence[np.ndarray], progress: Progress | None = None, *,
                     strength: float | None = None, sigma: float | None = None) -> list[np.ndarray]:
        """Denoise several images with their tiles sharing batches (all of them are held in memory).

        ``strength``/``sigma`` default to the config's; a call that gives either sets both."""
        if strength is None and sigma is None:
            strength, sigma = self.cfg.strength, self.cfg.sigma
        strength = 1.0 if strength is None else strength
        self.check_level(strength, sigma)
        images = [_as_hwc(img) for img in images]
        filled = [fill_behind_transparency(img) for img, _ in images]
        while True:
            try:
                pixels = [img for img, _ in filled]
                outputs = (ensembled(lambda batch, report: self._run(batch, report, strength, sigma, rounded=False),
                                     pixels, progress) if self.cfg.ensemble
                           else self._run(pixels, progress, strength, sigma))
                outputs = [out if hidden is None else hidden.put_back(out) for out, (_, hidden) in zip(outputs, filled)]
                return [out[..., 0] if flat else out for out, (_, flat) in zip(outputs, images)]
            except OutOfMemory:
                # the largest side of any image: a small first one left the tile at "0" (whole images)
                self._shrink_after_oom(max((img.shape[:2] for img, _ in images), key=max, default=(0, 0)))

    def check_level(self, strength: float, sigma: float | None) -> None:
        """The config's range checks on a per-call level, and a blind model's refusal of any."""
        InferConfig(strength=strength, sigma=sigma)
        check_conditioning(self.backend.level_aware, strength, sigma)

    def level_notes(self, strength: float, sigma: float | None) -> list[str]:
        """What a run at this level should say (the notes of the call that asked for it, not the engine's)."""
        cap = self.backend.level_max
        notes = ["--level-per-tile changes nothing with --sigma: a fixed level is read from no tile"] \
            if sigma is not None and self.cfg.level_per_tile and self.backend.level_aware else []
        if sigma is None or sigma * strength <= cap:
            return notes
        return notes + [f"σ {sigma * strength:g} is above the highest noise level this model knows; it runs as σ "
                        f"{cap:g}"]

    def _shrink_after_oom(self, shape: tuple[int, int]) -> None:
        """Halve the tile (then the batch) so the retry fits; give up with a clear error at the floor."""
        current = self.tile or round_up(max(shape), self.stride)
        smaller = max(self.min_tile, current // 2 // self.stride * self.stride)
        if smaller < current:
            self._notes.append(f"out of memory with a {current}px tile; retried with {smaller}px")
            self.tile = smaller
        elif self.batch_size > 1:
            self._notes.append(f"out of memory with batch size {self.batch_size}; retried with "
                               f"{self.batch_size // 2}")
            self.batch_size //= 2
        else:
            on_gpu = self.backend.where.startswith("cuda")
            raise UserError(f"out of {'GPU ' if on_gpu else ''}memory even with a {current}px tile and batch size 1; "
                            + ("free the GPU or use --device cpu" if on_gpu else "free memory"))

    def _run(self, images: list[np.ndarray], progress: Progress | None, strength: float,
             sigma: float | None, rounded: bool = True) -> list[np.ndarray]:
        canvases = [self._canvas(img) for img in images]
        total = sum(c.grid.count for c in canvases)
        done = 0
        if progress:
            progress(0, total)
        for canvas in canvases:  # the first pass: each photo's level profile, from the estimator alone
            if not self.cfg.level_per_tile and shares_profile(self.backend, canvas.mode, canvas.grid.count, sigma):
                tiles = (canvas.crop(y, x) for y, x, _ in canvas.grid.tiles())
                canvas.profile = read_photo_profile(self.backend, tiles, canvas.mode, self.batch_size)
        batch = _Batch()
        for canvas in canvases:
            per_batch = max(1, self.batch_size // _items_per_tile(canvas.mode, canvas.colour.shape[2]))
            key = ((canvas.grid.tile_h, canvas.grid.tile_w), canvas.mode, canvas.colour.dtype)
            for y, x, weight in canvas.grid.tiles():
                if batch.entries and (batch.key != key or len(batch.entries) >= per_batch):
                    done += self._flush(batch, strength, sigma)
                    if progress:
                        progress(done, total)
                    batch = _Batch()
                batch.key = key
                batch.entries.append((canvas, y, x, weight))
                batch.crops.append(canvas.crop(y, x))
        if batch.entries:
            done += self._flush(batch, strength, sigma)
            if progress:
                progress(done, total)
        return [c.finish(rounded) for c in canvases]

    def _canvas(self, pixels: np.ndarray) -> _Canvas:
        colour_channels = pixels.shape[2] - (1 if has_alpha(pixels.shape[2]) else 0)
        mode = _channel_mode(self.channels, colour_channels)
        if mode == "same" and colour_channels == 3 and _neutral(pixels):
            mode = "neutral"
        least = smallest_side(self.stride, instance_norm=self.backend.instance_norm,
                              level_aware=self.backend.level_aware, min_tile=self.backend.min_tile)
        grid = plan_grid(pixels.shape[0], pixels.shape[1], self.tile, self.cfg.overlap, self.stride,
                         min_side=least, min_tile=self.min_tile)
        if len(grid.ys) * len(grid.xs) > 1:  # said only of an image it split, and once
            said = self._tiling_notes + ([INSTANCE_NORM_NOTE] if self.backend.instance_norm else [])
            self._notes += [note for note in said if note not in self._notes]
        return _Canvas(pixels, grid, mode)

    def _flush(self, batch: _Batch, strength: float, sigma: float | None) -> int:
        """Run one batch of same-size tiles (possibly from several images) and accumulate the outputs."""
        mode = batch.entries[0][0].mode
        profiles = batch_profiles([canvas.profile for canvas, *_ in batch.entries], self.channels)
        outputs = self._forward(np.stack(batch.crops), mode, strength, sigma, profiles)
        for (canvas, y, x, weight), tile_out in zip(batch.entries, outputs):
            canvas.add(y, x, tile_out, weight)
        return len(batch.entries)

    def _forward(self, crops: np.ndarray, mode: str, strength: float, sigma: float | None,
                 profiles: np.ndarray | None = None) -> np.ndarray:
        """(n, th, tw, C) file-dtype tiles -> (n, th, tw, C) float32 outputs in [0, 1] units."""
        n, h, w, c = crops.shape
        x = tile_input(crops, mode, self.channels)
        y = self.backend.run(x, strength, sigma) if profiles is None else \
            self.backend.run(x, strength, sigma, profiles)
        if self.backend.instance_norm:  # InstanceNorm of a flat tile divides round-off by its epsilon: garbage, a
            # different one per engine (a clipped sky, a white page); a flat tile has no noise, so it comes back
            flat = np.ptp(x.reshape(len(x), x.shape[1], -1), axis=2).max(axis=1) == 0
            y[flat] = x[flat]
        if mode == "gray_to_colour":
            y = y.mean(axis=1, keepdims=True)
        elif mode == "neutral":  # each pixel's own channel offsets kept (none where R = G = B: exactly gray)
            gray = y.mean(axis=1, keepdims=True)
            equal = (x == x[:, 1:2]).all(axis=1, keepdims=True)
            y = np.repeat(gray, c, axis=1) if equal.all() else \
                gray + np.where(equal, np.float32(0), x - x.mean(axis=1, keepdims=True))
        elif mode == "per_channel":
            y = y.reshape(n, c, h, w)
        return y.transpose(0, 2, 3, 1)


def _unused_level_per_tile(cfg: InferConfig, backend: Backend) -> list[str]:
    """--level-per-tile where it changes nothing is said, as an unused --quality is (a per-call --sigma is said by
    ``level_notes``)."""
    if not cfg.level_per_tile:
        return []
    if not getattr(backend, "photo_profile", False):
        return ["--level-per-tile changes nothing with this model: it shares no level profile between tiles"]
    return ["--level-per-tile changes nothing with --tile 0: the whole image is one tile"] if cfg.tile == 0 else []


def _as_hwc(pixels: np.ndarray) -> tuple[np.ndarray, bool]:
    """The image as HxWxC and whether it came in as HxW (so it goes back the same way)."""
    if not isinstance(pixels, np.ndarray) or pixels.dtype not in (np.uint8, np.uint16):
        kind = pixels.dtype if isinstance(pixels, np.ndarray) else type(pixels).__name__
        raise UserError(f"expected a uint8 or uint16 image array, got {kind}")
    if pixels.ndim == 2:
        pixels = pixels[..., None]
        flat = True
    else:
        flat = False
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 2, 3, 4) or min(pixels.shape[:2]) < 1:
        raise UserError(f"expected an HxW or HxWxC image of at least 1x1 pixel with 1-4 channels, "
                        f"got shape {pixels.shape[:-1] if flat else pixels.shape}{channels_first_hint(pixels.shape)}")
    return pixels, flat


def denoise_array(model: Any, pixels: np.ndarray, cfg: InferConfig = InferConfig()) -> np.ndarray:
    """Denoise one HxW(xC) uint8/uint16 image; same shape and dtype back, alpha untouched.

    ``model`` is a backend or a torch generator (moved to the device in place, channels_last, eval mode).
    Build a TiledDenoiser instead to keep the resolved tile across many images.
    """
    return TiledDenoiser(model, cfg)(pixels)
