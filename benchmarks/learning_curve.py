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

from script_args import noise_spec, run_script

from data_tools.file_digest import file_sha256
from data_tools.images import collect_images
from denoise_gan.evaluation.benchmark.methods import model_row_names
from denoise_gan.nets.weight_header import read_metadata
from denoise_gan.training.input_record import recorded_photos_sha256


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


def read_run(folder: Path, name: str) -> RunPoint:
    """``name``: the run's row in the benchmark (``model_row_names``: unique, where folder names may repeat). Its
    steps are those its G was saved at (a run stopped early is plotted where it stopped, not at its target)."""
    config = json.loads((folder / "config.json").read_text())
    seconds, previous = 0.0, 0
    with (folder / "log.csv").open() as fh:
        for row in csv.DictReader(fh):
            step, rate = int(row["step"]), float(row["it_s"] or 0)
            if rate > 0:
                seconds += (step - previous) / rate
            previous = step
    generator = config.get("generator") or {}
    saved_at = json.loads(read_metadata(folder / "G.safetensors").get("meta", "{}")).get("step", config["steps"])
    return RunPoint(name, seconds / 60, int(saved_at), int(generator.get("width", 0)), bool(config.get("noise")))


def refuse_training_photos(runs: list[Path], clean: Path) -> None:
    """A curve scored on a run's own training photos would pass for a held-out one: each run's inputs.json records
    its photos' sha256, which no photo of ``clean`` may share."""
    trained = {sha: run for run in runs for sha in recorded_photos_sha256(run)}
    for photo in collect_images(clean, recursive=True):
        if (run := trained.get(file_sha256(photo))) is not None:
            raise SystemExit(f"error: --clean {clean}: {photo.name} is a training photo of {run}; give photos "
                             "no run trained on")


def score(runs: list[Path], names: list[str], clean: Path, noises: list[str], out: Path,
          threads: int = 0) -> dict[tuple[str, str], float]:
    """Mean PSNR per (run's row name, noise) from one benchmark of every run's G on ``clean``; a benchmark folder
    left from an earlier call is resumed (its rows kept)."""
    bench = out / f"bench-{clean.name}"
    command = [sys.executable, "-m", "denoise_gan", "benchmark", "--clean", str(clean), "-o", str(bench),
               "--methods", "model", "--threads", str(threads)]
    command += ["--resume"] if (bench / "results.json").is_file() else []
    for run in runs:
        command += ["-c", str(run / "G.safetensors")]
    for noise in noises:
        command += ["--noise", noise]
    if subprocess.run(command).returncode != 0:
        raise SystemExit(f"error: the benchmark of the runs on {clean} failed (its message is above)")
    data = json.loads((bench / "results.json").read_text())
    values: dict[tuple[str, str], list[float]] = {(name, noise): [] for name in names for noise in noises}
    for row in data["rows"]:  # a photo returned bit for bit (infinite PSNR) is left out, as in the README
        if row["method"] in names and row["psnr"] is not None and math.isfinite(row["psnr"]):
            values[(row["method"], row["noise"])].append(row["psnr"])
    return {key: sum(v) / len(v) if v else math.nan for key, v in values.items()}


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
    parser.add_argument("--noise", action="append", type=noise_spec, required=True, help="noise spec (repeatable)")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for the benchmark (0: all)")
    args = parser.parse_args()
    for run in args.runs:  # said before any folder is made or benchmark starts
        if not (run / "G.safetensors").is_file():
            parser.error(f"{run}: not a refine run folder (no G.safetensors in it)")
    names = model_row_names([run / "G.safetensors" for run in args.runs])
    for clean in args.clean:
        refuse_training_photos(args.runs, clean)
    args.output.mkdir(parents=True, exist_ok=True)
    points = [read_run(run, name) for run, name in zip(args.runs, names)]
    scores = {clean.name: score(args.runs, names, clean, args.noise, args.output, args.threads)
              for clean in args.clean}
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
    run_script(main)
