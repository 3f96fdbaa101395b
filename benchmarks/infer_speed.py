"""Inference speed and memory of the denoiser, beside BM3D and OpenCV NLM on the same image.

Prints, on the CPU: megapixels/s whole-image vs tiled (with the photo's one level profile, and with one per
tile); peak resident memory for a 24 MP image (tiled, in a
fresh subprocess, so the figure is that image's alone) and for a 2 MP image in one pass; BM3D and OpenCV
fastNlMeansDenoising per channel on a 512x512 image with their speed ratios and PSNR. On CUDA (when present):
fp32/bf16/fp16 and batch sizes. The default run takes a few minutes on 2 cores.

Quality figures here use Gaussian noise sigma=25 (0-255), clipped and rounded to uint8, PSNR on RGB with
data_range 255, no border crop; with a random (untrained) model they only show the pipeline runs.

    python benchmarks/infer_speed.py [--checkpoint PATH|NAME] [--threads N] [--big-mp 24] [--no-bm3d]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import skimage.data
import torch
from script_args import positive_float, positive_int, run_script, thread_count
from torch import nn

from denoise_gan.config import GeneratorConfig
from denoise_gan.evaluation.benchmark.methods import CLASSICAL
from denoise_gan.evaluation.metrics import psnr
from denoise_gan.evaluation.noise_sigma import estimate_noise_sigma
from denoise_gan.extras import installed
from denoise_gan.inference.infer_config import InferConfig
from denoise_gan.inference.tiling import CPU_TILE, TiledDenoiser
from denoise_gan.nets.registry import build_generator, count_parameters
from denoise_gan.nets.shipped import resolve_weights
from denoise_gan.nets.weights import WeightsError, load_generator

SIGMA = 25.0


def load_model(checkpoint: str | None) -> tuple[nn.Module, str]:
    """The named/shipped generator, or a random default U-Net (same cost) when none is shipped yet."""
    try:
        net, cfg, _ = load_generator(resolve_weights(checkpoint))
        return net, f"{checkpoint or 'default'} ({cfg})"
    except WeightsError as exc:
        if checkpoint:
            raise
        torch.manual_seed(0)
        return build_generator(GeneratorConfig()).eval(), f"random GeneratorConfig() U-Net (no shipped model: {exc})"


def noisy_image(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(clean, noisy) uint8 RGB: the astronaut tiled to size, Gaussian sigma=25 clipped and rounded."""
    base = skimage.data.astronaut()
    reps = (math.ceil(height / base.shape[0]), math.ceil(width / base.shape[1]), 1)
    clean = np.ascontiguousarray(np.tile(base, reps)[:height, :width])
    rng = np.random.default_rng(seed)
    noisy = clean + rng.standard_normal(clean.shape, dtype=np.float32) * SIGMA
    return clean, np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def best_time(fn: Callable[[], object], repeats: int) -> float:
    return best_time_and_result(fn, repeats)[0]


def best_time_and_result(fn: Callable[[], object], repeats: int) -> tuple[float, Any]:
    """The best of ``repeats`` timed calls, and what the last returned."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times), result


def rss_mib() -> float:
    """Current resident memory of this process (VmRSS), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure_memory_child(checkpoint: str | None, height: int, width: int, tile: int) -> None:
    """Runs in a fresh process: prints baseline and peak RSS of denoising one image of this size."""
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    net, _ = load_model(checkpoint)
    den = TiledDenoiser(net, InferConfig(tile=tile, device="cpu"))
    den(np.zeros((64, 64, 3), np.uint8))  # allocator and kernels warmed, so the baseline includes them
    baseline = rss_mib()
    img = np.random.default_rng(0).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    start = time.perf_counter()
    den(img)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"baseline_mib": baseline, "peak_mib": peak, "seconds": seconds}))


def memory_in_subprocess(checkpoint: str | None, height: int, width: int, tile: int, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--_child", f"{height}x{width}x{tile}"]
    if checkpoint:
        cmd += ["--checkpoint", checkpoint]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "BENCH_THREADS": str(threads)})
    if out.returncode != 0:  # its own error, not only "returned non-zero exit status"
        said = (out.stderr.strip().splitlines() or ["no message"])[-1]
        raise SystemExit(f"error: the memory test of a {height}x{width} image failed: {said}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def cpu_speed(net: nn.Module, size: int, repeats: int) -> None:
    _, noisy = noisy_image(size, size)
    mp = size * size / 1e6
    runs = (("whole image (--tile 0)", 0, False), (f"tiled (--tile {CPU_TILE}, overlap 32)", None, False),
            ("tiled, --level-per-tile", None, True))  # the second less the third: the photo profile's first pass
    for label, tile, per_tile in runs:
        den = TiledDenoiser(net, InferConfig(tile=tile, device="cpu", level_per_tile=per_tile))
        den(noisy[:64, :64])
        seconds = best_time(lambda den=den: den(noisy), repeats)
        print(f"  {label:<36} {size}x{size}: {seconds:6.2f} s  {mp / seconds:6.3f} MP/s")


def memory_report(checkpoint: str | None, big_mp: float, threads: int) -> None:
    width = int(round(math.sqrt(big_mp * 1e6 * 3 / 2) / 8) * 8)  # 3:2 like a camera
    height = int(round(width * 2 / 3 / 8) * 8)
    cases = ((f"tiled {width}x{height} ({height * width / 1e6:.1f} MP)", (height, width, CPU_TILE)),
             ("whole image 1632x1224 (2.0 MP)", (1224, 1632, 0)))
    for label, (h, w, tile) in cases:
        stats = memory_in_subprocess(checkpoint, h, w, tile, threads)
        print(f"  {label:<36} peak RSS {stats['peak_mib']:7.0f} MiB (baseline after import and warm-up "
              f"{stats['baseline_mib']:.0f} MiB, +{stats['peak_mib'] - stats['baseline_mib']:.0f} MiB); "
              f"{stats['seconds']:.1f} s, {h * w / 1e6 / stats['seconds']:.3f} MP/s")


def classical_comparison(net: nn.Module, size: int, with_bm3d: bool) -> None:
    """The model beside the `benchmark` command's own BM3D and NLM (same settings, same blind σ)."""
    clean, noisy = noisy_image(size, size, seed=1)
    mp = size * size / 1e6
    sigma = estimate_noise_sigma(noisy)
    print(f"  {size}x{size}, Gaussian sigma={SIGMA:g}, estimated sigma={sigma:.1f}; "
          f"noisy PSNR {psnr(clean, noisy):.2f} dB")
    den = TiledDenoiser(net, InferConfig(device="cpu"))
    den(noisy[:64, :64])
    out = den(noisy)
    rows: list[tuple[str, float, np.ndarray]] = [("denoise-gan (tiled, fp32)", best_time(lambda: den(noisy), 2), out)]
    for name in ("nlm", "bm3d") if with_bm3d else ("nlm",):
        method = CLASSICAL[name]
        method.run(np.ascontiguousarray(noisy[:32, :32]), sigma)  # untimed, as the model's: imports, set-up
        seconds, result = best_time_and_result(lambda method=method: method.run(noisy, sigma), 2)  # as the model's
        rows.append((f"{name} ({method.rule.split(';')[0]})", seconds, result))
    ours = rows[0][1]
    for label, seconds, result in rows:
        ratio = "" if label.startswith("denoise-gan") else f"  time ratio {seconds / ours:5.1f}x denoise-gan's"
        score = psnr(clean, result)
        print(f"  {label[:60]:<60} {seconds:7.2f} s {mp / seconds:7.3f} MP/s  PSNR {score:5.2f} dB{ratio}")


def cuda_report(net: nn.Module, size: int) -> None:
    _, noisy = noisy_image(size, size)
    mp = size * size / 1e6
    print(f"CUDA ({torch.cuda.get_device_name()}), {size}x{size}:")
    for precision in ("fp32", "bf16", "fp16"):
        for batch in (1, 4, 16):
            den = TiledDenoiser(net, InferConfig(device="cuda", precision=precision, batch_size=batch))
            den(noisy)
            seconds = best_time(lambda den=den: den(noisy), 3)
            print(f"  {precision} batch {batch:>2} tile {den.tile}: {mp / seconds:8.2f} MP/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="weights path or shipped name (default: shipped)")
    parser.add_argument("--threads", type=thread_count, default="0", help="CPU threads for torch (0: all)")
    parser.add_argument("--size", type=positive_int, default=1024, help="side of the speed-test image")
    parser.add_argument("--big-mp", type=positive_float, default=24.0, help="megapixels of the memory-test image")
    parser.add_argument("--repeats", type=positive_int, default=2)
    parser.add_argument("--no-bm3d", action="store_true", help="skip BM3D (the slowest part)")
    parser.add_argument("--_child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child:
        h, w, tile = map(int, args._child.split("x"))
        measure_memory_child(args.checkpoint, h, w, tile)
        return
    if not args.no_bm3d and not installed("bm3d"):  # said now, not after minutes of the other measurements
        raise SystemExit("error: BM3D's row needs the bm3d package (pip install -e '.[bench]'), or pass --no-bm3d")
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    net, description = load_model(args.checkpoint)
    print(f"model: {description}; {count_parameters(net) / 1e6:.3f} M parameters")
    print(f"CPU: {args.threads} thread(s) of {os.cpu_count()} cores, torch {torch.__version__}")
    cpu_speed(net, args.size, args.repeats)
    memory_report(args.checkpoint, args.big_mp, args.threads)
    print("classical methods, same image, same run:")
    classical_comparison(net, 512, not args.no_bm3d)
    if torch.cuda.is_available():
        cuda_report(net, 2048)


if __name__ == "__main__":
    run_script(main)
