"""Start-up and throughput of the two inference engines, side by side in one run, as ratios.

    python benchmarks/engine_speed.py [--repeats 5] [--side 1024] [--checkpoint default]

Measures, on this machine, with the full install (both engines present):
* ``python -c "import torch"`` (the floor of any torch-based start),
* ``denoise-gan --help``,
* ``denoise-gan denoise one.png -o out`` on a 512x512 photo, process start to file written, with the
  default engine choice (ONNX Runtime on the CPU) and with ``--engine torch``,
* throughput (MP/s) of each engine on one whole side x side image in this process, runs alternating
  between the engines so both see the same machine load.
Medians of ``--repeats`` runs. Prints a table; nothing is written outside a temporary folder.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from script_args import positive_int, run_script

from data_tools.images import write_image
from data_tools.noise import parse_noise_spec
from data_tools.samples import load_sample


def cli_command() -> list[str]:
    script = shutil.which("denoise-gan")
    return [script] if script else [sys.executable, "-m", "denoise_gan"]


def wall(cmd: list[str], repeats: int) -> float:
    """Median wall time of a command, in seconds; a failing command stops the benchmark."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr}")
    return statistics.median(times)


def noisy_photo(side: int) -> np.ndarray:
    photo = load_sample("astronaut")  # 512x512 RGB; tiled up for larger sides
    reps = side // photo.shape[0] + 1
    big = np.ascontiguousarray(np.tile(photo, (reps, reps, 1))[:side, :side])
    return parse_noise_spec("gaussian:sigma=25").apply(big, 0)[0]


def throughput(checkpoint: str | None, side: int, repeats: int) -> dict[str, float]:
    """MP/s of each engine on one whole image, alternating runs (one untimed warm-up each)."""
    from denoise_gan import Denoiser

    image = noisy_photo(side)
    engines = {name: Denoiser.from_pretrained(checkpoint, engine=name, device="cpu", tile=0)
               for name in ("onnxruntime", "torch")}
    for den in engines.values():
        den(image[:256, :256])
    times: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(repeats):
        for name, den in engines.items():
            start = time.perf_counter()
            den(image)
            times[name].append(time.perf_counter() - start)
    return {name: side * side / 1e6 / statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=positive_int, default=5)
    parser.add_argument("--side", type=positive_int, default=1024, help="side of the throughput image")
    parser.add_argument("--checkpoint", default=None,
                        help="weights (an ONNX graph beside them) or shipped name (default: the shipped default)")
    args = parser.parse_args()
    cli = cli_command()
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "photo.png"
        write_image(photo, noisy_photo(512))
        out = Path(tmp) / "out"
        torch_import = wall([sys.executable, "-c", "import torch"], args.repeats)
        help_time = wall([*cli, "--help"], args.repeats)
        model = [] if args.checkpoint is None else ["-c", args.checkpoint]
        denoise = [*cli, "denoise", str(photo), "-o", str(out), "--overwrite", *model]
        denoise_ort = wall(denoise, args.repeats)
        denoise_torch = wall([*denoise, "--engine", "torch"], args.repeats)
    rates = throughput(args.checkpoint, args.side, args.repeats)
    print(f"median of {args.repeats} runs; {sys.platform}, python {sys.version.split()[0]}")
    print(f"| measurement | seconds | ratio to `import torch` ({torch_import:.2f} s) |")
    print("| --- | --- | --- |")
    print(f"| `python -c \"import torch\"` | {torch_import:.2f} | 1.00 |")
    print(f"| `denoise-gan --help` | {help_time:.2f} | {help_time / torch_import:.2f} |")
    print(f"| `denoise-gan denoise` 512x512, engine auto (onnxruntime) | {denoise_ort:.2f} | "
          f"{denoise_ort / torch_import:.2f} |")
    print(f"| `denoise-gan denoise` 512x512, `--engine torch` | {denoise_torch:.2f} | "
          f"{denoise_torch / torch_import:.2f} |")
    print()
    print(f"| engine | MP/s on a whole {args.side}x{args.side} image |")
    print("| --- | --- |")
    for name, rate in rates.items():
        print(f"| {name} | {rate:.2f} |")
    print(f"onnxruntime / torch: {rates['onnxruntime'] / rates['torch']:.2f}x")


if __name__ == "__main__":
    run_script(main)
