"""How much memory a command holds per pixel of its images: the figures "What is guaranteed" quotes.

    python benchmarks/memory_per_pixel.py [--small-mp 12] [--big-mp 24] [--work DIR]

Each command runs on one image of each size (a bundled photo scaled up with INTER_CUBIC, then given seeded
Gaussian noise, so it is not flat), as its own process; its peak resident size comes from ``os.wait4``. The
slope between the two sizes, in bytes per pixel, is what the image costs beyond the loaded program.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from script_args import positive_float, run_script

from data_tools.images import write_image
from data_tools.samples import load_sample

COMMANDS = {  # name -> the command's arguments, given the folder of clean images and a work folder
    "denoise": lambda clean, work: ["denoise", clean, "-o", work / "dn"],
    "evaluate": lambda clean, work: ["evaluate", "--clean", clean, "--pred", work / "noisy"],
    "synth (gaussian)": lambda clean, work: ["synth", clean, "-o", work / "sg", "--noise", "gaussian:sigma=25"],
    "synth (camera)": lambda clean, work: ["synth", clean, "-o", work / "sc", "--noise", "camera:peak=40,read=2"],
    "noise-fit": lambda clean, work: ["noise-fit", "--clean", clean, "--noisy", work / "noisy", "-o", work / "nf"],
    "benchmark": lambda clean, work: ["benchmark", "--clean", clean, "--noise", "gaussian:sigma=25", "--methods",
                                      "model", "-o", work / "bm"],
}


def make_image(megapixels: float, seed: int) -> np.ndarray:
    """A 3:2 colour photo of about ``megapixels``, with seeded noise so no stage sees a flat image."""
    width = int(round((megapixels * 1e6 * 1.5) ** 0.5))
    height = int(round(width / 1.5))
    photo = cv2.resize(load_sample("astronaut"), (width, height), interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(seed)
    return np.clip(photo + rng.normal(0, 5, photo.shape), 0, 255).astype(np.uint8)


def peak_rss_mib(args: list[object]) -> float:
    """The peak resident size of ``denoise-gan ARGS`` as its own process, in MiB (Linux reports KiB)."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-m", "denoise_gan", *map(str, args)], stdout=subprocess.DEVNULL,
                                stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait on the pid again
        if proc.returncode != 0:  # exit 1 too: a file that failed (out of memory) is no peak
            err.seek(0)
            said = (err.read().decode(errors="replace").strip().splitlines() or ["no message"])[-1]
            raise SystemExit(f"error: denoise-gan {' '.join(map(str, args))} failed: {said}")
    return usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small-mp", type=positive_float, default=12.0)
    parser.add_argument("--big-mp", type=positive_float, default=24.0)
    parser.add_argument("--work", type=Path, default=None, help="a scratch folder (default: a temporary one)")
    args = parser.parse_args()
    if args.big_mp <= args.small_mp:  # the slope between the two sizes divides by their difference
        parser.error(f"--big-mp ({args.big_mp:g}) must be above --small-mp ({args.small_mp:g})")
    root = args.work or Path(tempfile.mkdtemp(prefix="memory_per_pixel"))
    peaks: dict[str, list[float]] = {name: [] for name in COMMANDS}
    pixels = []
    for index, mp in enumerate((args.small_mp, args.big_mp)):
        work = root / f"{mp:g}mp"
        shutil.rmtree(work, ignore_errors=True)
        image = make_image(mp, index)
        pixels.append(image.shape[0] * image.shape[1])
        write_image(work / "clean" / "photo.png", image)
        write_image(work / "noisy" / "photo.png", np.clip(image.astype(np.int16) + 3, 0, 255).astype(np.uint8))
        for name, command in COMMANDS.items():
            peaks[name].append(peak_rss_mib(command(work / "clean", work)))
            print(f"{name:18} {image.shape[1]}x{image.shape[0]}: peak {peaks[name][-1]:.0f} MiB", flush=True)
    print(f"\nbytes per pixel (the slope between {pixels[0] / 1e6:.1f} and {pixels[1] / 1e6:.1f} MP):")
    for name, (small, big) in peaks.items():
        print(f"{name:18} {(big - small) * 2**20 / (pixels[1] - pixels[0]):.0f}")
    if args.work is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    run_script(main)
