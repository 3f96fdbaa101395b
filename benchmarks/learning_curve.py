"""Learning curve: held-out PSNR against training steps, for `refine` runs of different lengths and sizes.

Each run folder is one point: its minutes are summed from its log.csv (steps / logged it/s, so they are the
steps' own time on the machine that ran them), its size and whether it was supervised (`refine --noise`) come
from its config.json. All runs are scored in one `denoise-gan benchmark` per clean folder, blind, on the
same noisy inputs; a mean leaves out photos a run returns bit for bit (infinite PSNR), as the README does.
A supervised run (true noise, true level maps) beside an unpaired one of the same size and length separates
what F's imperfect noise costs from what compute costs. Minutes are wall time: a run that shared the CPU
counts its waiting too, so compare steps where runs did not have the machine alone.

    python benchmarks/learning_curve.py w32_1x w32_2x w32_4x w48_1x sup_w32_1x \\
        --clean heldout --clean indep --noise gaussian:sigma=25 \\
        --noise "camera:peak=40,read=2+jpeg:quality=90" -o curve

Writes curve.json, curve.md (a table) and curve.png (one panel per noise).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunPoint:
    name: str
    minutes: float
    steps: int
    width: int
    supervised: bool

    @property
    def series(self) -> str:
        return f"width {self.width}, " + ("supervised (true pairs)" if self.supervised else "unpaired (F's pairs)")


def read_run(folder: Path) -> RunPoint:
    config = json.loads((folder / "config.json").read_text())
    seconds, previous = 0.0, 0
    with (folder / "log.csv").open() as fh:
        for row in csv.DictReader(fh):
            step, rate = int(row["step"]), float(row["it_s"] or 0)
            if rate > 0:
                seconds += (step - previous) / rate
            previous = step
    generator = config.get("generator") or {}
    return RunPoint(folder.name, seconds / 60, int(config["steps"]), int(generator.get("width", 0)),
                    bool(config.get("noise")))


def score(runs: list[Path], clean: Path, noises: list[str], out: Path,
          threads: int = 0) -> dict[tuple[str, str], float]:
    """Mean PSNR per (run, noise) from one benchmark of every run's G on ``clean``."""
    bench = out / f"bench-{clean.name}"
    command = [sys.executable, "-m", "denoise_gan", "benchmark", "--clean", str(clean), "-o", str(bench),
               "--methods", "model", "--resume", "--threads", str(threads)]
    for run in runs:
        command += ["-c", str(run / "G.safetensors")]
    for noise in noises:
        command += ["--noise", noise]
    subprocess.run(command, check=True)
    data = json.loads((bench / "results.json").read_text())
    by_stem = {f"{run.name}/G": run.name for run in runs}
    values: dict[tuple[str, str], list[float]] = {}
    for row in data["rows"]:  # a photo returned bit for bit (infinite PSNR) is left out, as in the README
        if row["psnr"] is not None and math.isfinite(row["psnr"]):
            values.setdefault((by_stem.get(row["method"], row["method"]), row["noise"]), []).append(row["psnr"])
    return {key: sum(v) / len(v) for key, v in values.items()}


def plot(points: list[RunPoint], scores: dict[str, dict[tuple[str, str], float]], noises: list[str],
         path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(noises), figsize=(5.5 * len(noises), 4.2), squeeze=False)
    for ax, noise in zip(axes[0], noises):
        for series in sorted({p.series for p in points}):
            mine = sorted((p for p in points if p.series == series), key=lambda p: p.steps)
            for clean, table in scores.items():
                ax.plot([p.steps for p in mine], [table[(p.name, noise)] for p in mine], marker="o",
                        linestyle="--" if "supervised" in series else "-", label=f"{series}, {clean}")
        ax.set_title(noise, fontsize=9)
        ax.set_xlabel("refinement steps (wall minutes, which other jobs inflate, are in the table)", fontsize=8)
        ax.set_ylabel("mean PSNR, dB (blind)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="refine run folders")
    parser.add_argument("--clean", action="append", type=Path, required=True, help="held-out clean folder")
    parser.add_argument("--noise", action="append", required=True, help="noise spec (repeatable)")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for the benchmark (0: all)")
    args = parser.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    points = [read_run(r) for r in args.runs]
    scores = {clean.name: score(args.runs, clean, args.noise, args.output, args.threads) for clean in args.clean}
    lines = ["| run | size | pairs | steps | minutes | " + " | ".join(
        f"{noise} ({clean})" for clean in scores for noise in args.noise) + " |",
        "| --- " * (5 + len(scores) * len(args.noise)) + "|"]
    for p in points:
        cells = [f"{scores[clean][(p.name, noise)]:.2f}" for clean in scores for noise in args.noise]
        lines.append(f"| {p.name} | width {p.width} | {'true' if p.supervised else 'F'} | {p.steps} | "
                     f"{p.minutes:.1f} | " + " | ".join(cells) + " |")
    (args.output / "curve.md").write_text("\n".join(lines) + "\n")
    psnr = {clean: {f"{run}|{noise}": v for (run, noise), v in table.items()} for clean, table in scores.items()}
    (args.output / "curve.json").write_text(json.dumps({"points": [asdict(p) for p in points], "psnr": psnr},
                                                       indent=2) + "\n")
    plot(points, scores, args.noise, args.output / "curve.png")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
