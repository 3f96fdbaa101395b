"""checkpoints/reproduce.sh run again in its folder goes on where it stopped: each training stage that saved a
checkpoint resumes (on the DEVICE of the rerun), the calibration and the tables from their stored rows, and a
finished calibration is not run again. The commands are stand-ins that record their arguments: the recipe
itself takes hours; what is tested is the script's choice of command."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path
from shlex import quote

import pytest

ROOT = Path(__file__).resolve().parents[1]

# stands in for `denoise-gan`: records its arguments and leaves what the real command leaves in its folder; the
# stage named by STOP_AT stops (as Ctrl-C does) once it has saved a checkpoint or stored its rows
STAND_IN = r"""#!/usr/bin/env bash
echo "denoise-gan $*" >> "$CALLS"
cmd=$1; shift
out=""; prev=""
for a in "$@"; do
    if [ "$prev" = "-o" ] || { [ "$prev" = "--resume" ] && [ "$cmd" = train ]; }; then out=$a; fi
    prev=$a
done
if [ "$out" = "${CTRL_C_AT:-}" ]; then kill -INT "$PPID"; exit 0; fi  # a Ctrl-C it took as its work ended
case $cmd in
    samples) mkdir -p "$out"; for i in 1 2 3 4; do : > "$out/p$i.png"; done ;;
    train|refine) mkdir -p "$out/checkpoints"; : > "$out/checkpoints/step_0000250.pt"
        [ "$out" = "${STOP_AT:-}" ] && exit 130; : > "$out/G.safetensors" ;;
    calibrate) mkdir -p "$out/fit"; [ "$out" = "${STOP_AT:-}" ] && exit 130; : > "$out/G.safetensors"
        [ "$out/G.safetensors" = "${STOP_AT:-}" ] && exit 137; : > "$out/G.onnx" ;;
    benchmark) mkdir -p "$out"; : > "$out/results.json"; [ "$out" = "${STOP_AT:-}" ] && exit 130 ;;
esac
exit 0
"""
PYTHON_STAND_IN = "#!/usr/bin/env bash\necho \"python $*\" >> \"$CALLS\"\n"


@pytest.fixture
def script(tmp_path: Path) -> Path:
    """The script in a copy of its folder (it writes the rebuilt weights beside itself), with stand-ins first on
    PATH."""
    (tmp_path / "checkpoints").mkdir()
    shutil.copy(ROOT / "checkpoints" / "reproduce.sh", tmp_path / "checkpoints")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("denoise-gan", STAND_IN), ("python", PYTHON_STAND_IN)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(stat.S_IRWXU)
    (tmp_path / "work").mkdir()
    (tmp_path / "benchmarks").mkdir()  # the clone's scripts it calls (the python stand-in runs none of them)
    for name in ("noise_model_fit.py", "independent_photos.py"):
        (tmp_path / "benchmarks" / name).touch()
    return tmp_path / "checkpoints" / "reproduce.sh"


def run(script: Path, device: str, stop_at: str = "", ctrl_c_at: str = "", **recipe: str) -> tuple[int, list[str], str]:
    """The script's exit code, the commands it ran (each as its arguments) and what it said on stderr."""
    calls = script.parents[1] / "calls.txt"
    calls.unlink(missing_ok=True)
    env = {**os.environ, "PATH": f"{script.parents[1] / 'bin'}:{os.environ['PATH']}", "CALLS": str(calls),
           "DEVICE": device, "STOP_AT": stop_at, "CTRL_C_AT": ctrl_c_at, **recipe}
    done = subprocess.run(["bash", str(script)], cwd=script.parents[1] / "work", env=env, capture_output=True,
                          text=True, timeout=60)
    return done.returncode, calls.read_text().splitlines() if calls.exists() else [], done.stderr


def training(calls: list[str]) -> list[str]:
    return [c for c in calls if c.split()[1] in ("train", "refine")]


def test_a_rebuild_stopped_on_a_gpu_goes_on_on_the_cpu(script: Path) -> None:
    code, calls, _ = run(script, "cuda", stop_at="faint")
    assert code != 0
    first = training(calls)
    assert len(first) == 3 and all(c.endswith("--device cuda") for c in first)
    assert first[0].startswith("denoise-gan train --clean pool --noise") and "--spectral-norm" in first[0]
    assert "-o cyclegan --steps 2500" in first[0]

    code, calls, _ = run(script, "cpu")
    assert code == 0, calls
    assert "denoise-gan samples --set pool -o pool" not in calls  # stage 1 trained on it: kept, not fetched again
    again = training(calls)
    assert again[:3] == ["denoise-gan train --resume cyclegan --steps 2500 --device cpu",
                         "denoise-gan refine cyclegan -o refined --resume --steps 8800 --device cpu",
                         "denoise-gan refine cyclegan -o faint --resume --steps 1500 --device cpu"]
    assert again[3].startswith("denoise-gan refine cyclegan -o clean --init faint/G.safetensors")
    assert all("--resume" not in c and c.endswith("--device cpu") for c in again[3:]) and len(again) == 6
    assert any(c.startswith("denoise-gan calibrate") and "--resume" not in c for c in calls)
    assert (script.parent / "default.safetensors").is_file()  # the rebuilt weights, beside the script


def test_the_calibration_and_the_tables_go_on_from_their_rows(script: Path) -> None:
    code, calls, _ = run(script, "cpu", stop_at="calibrated")
    assert code != 0 and calls[0] == "denoise-gan samples --set pool -o pool"
    code, calls, _ = run(script, "cpu", stop_at="bench-indep-clean")
    assert code != 0
    assert "denoise-gan calibrate -c camera/G.safetensors --clean poolcal -o calibrated --resume" in calls
    code, calls, _ = run(script, "cpu")
    assert code == 0
    assert not any(c.startswith("denoise-gan calibrate") for c in calls)  # finished: its weights and graph there
    benchmarks = [c for c in calls if c.startswith("denoise-gan benchmark")]
    assert len(benchmarks) == 10 and [c.endswith("--resume") for c in benchmarks] == [True] * 7 + [False] * 3
    assert all(c.startswith("denoise-gan benchmark -o bench-") for c in benchmarks)


def test_a_calibration_stopped_between_its_weights_and_their_graph_is_finished(script: Path) -> None:
    """Its weights alone do not say it finished: the rerun skipped it, and every table ran on torch, not on the
    graph (ONNX Runtime), with other timings."""
    code, _, _ = run(script, "cpu", stop_at="calibrated/G.safetensors")
    assert code != 0
    code, calls, _ = run(script, "cpu")
    assert code == 0
    assert "denoise-gan calibrate -c camera/G.safetensors --clean poolcal -o calibrated --resume" in calls


def test_a_ctrl_c_stops_the_rebuild_even_where_the_command_finished_first(script: Path) -> None:
    """A stage that takes the Ctrl-C as its last step ends is complete and (before it said so) exited 0: bash,
    waiting on it, then went on to the next stage."""
    code, calls, _ = run(script, "cpu", ctrl_c_at="faint")
    assert code == 130
    assert training(calls)[-1].startswith("denoise-gan refine cyclegan -o faint")


def test_an_installed_copy_without_the_benchmark_scripts_is_refused_before_any_work(script: Path) -> None:
    """An installed package's copy (no benchmarks/ beside it) trained stage 1 for a quarter of an hour, then failed
    on the noise-model check, and would have written the rebuilt weights over the installed ones."""
    shutil.rmtree(script.parents[1] / "benchmarks")
    code, calls, said = run(script, "cpu")
    assert code == 2 and not calls and "clone of the repository" in said


def test_the_pool_is_built_from_a_folder_of_packages_where_debs_is_set(script: Path) -> None:
    code, calls, _ = run(script, "cpu", DEBS="/some/debs")
    assert code == 0 and calls[0] == "denoise-gan samples --set pool -o pool --debs /some/debs"


def test_a_rerun_with_another_recipe_is_refused(script: Path) -> None:
    """Another REFINE_STEPS extended stage 2 and kept the stages after it, made from the old one, without a word."""
    code, _, _ = run(script, "cpu", stop_at="clean")
    assert code != 0
    code, calls, said = run(script, "cpu", REFINE_STEPS="17600")
    assert code == 2 and not calls and "began with WIDTH=48 REFINE_STEPS=8800" in said
    assert run(script, "cpu")[0] == 0


@pytest.mark.slow
def test_the_real_commands_accept_what_the_stages_give_them_new_and_resumed(tmp_path: Path, clean_dir: Path) -> None:
    """The stand-in takes any arguments: here the script's own stage functions drive the real CLI at a tiny size,
    first new, then again in the same folders with more steps (each resumes) and the same benchmark (its rows
    reused; NLM alone, the model's rows are another test's)."""
    import sys

    text = (ROOT / "checkpoints" / "reproduce.sh").read_text()
    functions = text[text.index("has_checkpoint() {"):text.index("# 1. the clean")]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "denoise-gan").write_text(f'#!/usr/bin/env bash\nexec "{sys.executable}" -m denoise_gan "$@"\n')
    (bin_dir / "denoise-gan").chmod(stat.S_IRWXU)
    tiny = "--batch-size 2 --patch-size 32 --workers 0 --save-every 2"
    (tmp_path / "stages.sh").write_text(
        "set -euo pipefail\nDEVICE=cpu\n" + functions +
        f'train_stage cyclegan "$1" --clean {quote(str(clean_dir))} --noise gaussian:sigma=25 {tiny} --width 4 '
        f'--f-width 4\nrefine_stage refined "$1" --generator level --width 4 --depth 2 --blocks 1 {tiny}\n'
        f"benchmark_into bench --clean {quote(str(clean_dir))} --methods nlm --noise gaussian:sigma=25\n")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    for steps in (2, 4):
        done = subprocess.run(["bash", "stages.sh", str(steps)], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "resuming at step 2" in done.stdout and "reused" in done.stdout, done.stdout[-3000:]
    assert all((tmp_path / run / "checkpoints" / "step_0000004.pt").is_file() for run in ("cyclegan", "refined"))
