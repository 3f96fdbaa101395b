"""What a run shows and leaves besides its weights: the progress line (live within 80 columns on a terminal,
plain periodic lines otherwise), config.json with absolute paths (resume from anywhere), losses.png's axes,
the labelled validation grids and their index page, TensorBoard events."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from rich.console import Console

from data_tools.images import read_image, write_image
from denoise_gan.errors import UserError
from denoise_gan.nets.run_folder import list_checkpoints
from denoise_gan.runtime import World
from denoise_gan.training.cyclegan import train
from denoise_gan.training.loop import Cadence, reporting, run_loop
from denoise_gan.training.run_report import RunLog, RunProgress, log_figure
from denoise_gan.training.validation import grid_steps
from helpers import TINY_TRAIN_FLAGS, cli, one_line_error, read_log, tiny_train_config

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class FakeTrainer:
    """The trainer protocol with arithmetic steps: what run_loop does with a run, without any network."""

    log_fields = ("g_adv", "cycle_clean", "a_loss_with_a_long_name", "d_clean", "f_sigma")
    progress_fields = ("g_adv", "cycle_clean", "a_loss_with_a_long_name", "f_sigma")

    def __init__(self) -> None:
        self.validated: list[int] = []

    def step(self, step: int, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        return {"g_adv": 0.5 / (step + 1), "cycle_clean": 0.123456, "a_loss_with_a_long_name": 1234.5678,
                "d_clean": 0.25, "f_sigma": 20.0 + step}

    def lr(self) -> float:
        return 2e-4

    def state(self, step: int) -> dict[str, Any]:
        return {"kind": "fake", "step": step}

    def export(self, run_dir: Path, step: int) -> None:
        pass

    def validate(self, run_dir: Path, step: int) -> dict[str, float]:
        self.validated.append(step)
        return {"psnr": 27.0 + step / 100, "ssim": 0.8, "input_psnr": 20.5}

    def load(self, state: dict[str, Any], where: str) -> None:
        pass

    def describe(self) -> str:
        return "fake"


def batches() -> Any:
    while True:
        yield {}


def run_fake(tmp_path: Path, console: Console, steps: int = 6, start: int = 0) -> FakeTrainer:
    trainer = FakeTrainer()
    run_loop(trainer, batches(), start, Cadence(steps, log_every=2, save_every=3, val_every=3, keep=2),
             tmp_path / "run", World(), console)
    return trainer


def test_piped_output_gets_a_plain_line_per_logged_step(tmp_path: Path) -> None:
    out = io.StringIO()
    run_fake(tmp_path, Console(file=out, force_terminal=False, width=80))
    lines = out.getvalue().splitlines()
    assert "\x1b" not in out.getvalue() and "\r" not in out.getvalue()  # no cursor moves, no colours
    progress = [ln for ln in lines if ln.startswith("step ")]
    assert [ln.split()[1] for ln in progress] == ["2/6", "3/6", "4/6", "6/6"]  # every log row and validation
    assert all("ETA" in ln and ("it/s" in ln or "s/it" in ln) and "g_adv" in ln for ln in progress)  # s/it: slow
    assert "val" not in progress[0] and "val 27.03 dB" in progress[1]
    assert "val 27.03 dB" in progress[2]  # the last validation's PSNR stays until the next one
    assert "val 27.06 dB" in progress[3] and "100%" in progress[3]
    assert lines[lines.index(progress[1]) + 1] == "checkpoint saved at step 3: --resume goes on from there"
    assert sum(ln.startswith("checkpoint saved") for ln in lines) == 1  # (the last step's save ends the run)


def test_terminal_line_fits_80_columns_and_keeps_the_validation_psnr(tmp_path: Path) -> None:
    out = io.StringIO()
    run_fake(tmp_path, Console(file=out, force_terminal=True, width=80, color_system=None))
    text = ANSI.sub("", out.getvalue())
    frames = [f for f in re.split(r"[\r\n]", text) if f.strip()]
    assert frames, out.getvalue()
    assert all(len(f) <= 80 for f in frames), [f for f in frames if len(f) > 80]
    last = [f for f in frames if "6/6" in f][-1]
    assert "val 27.06 dB" in last and "100%" in last and "g_adv" in last
    assert not any(f.startswith(("step ", "checkpoint saved")) for f in frames)  # no plain lines on a terminal


def test_resumed_loop_shows_the_last_validation_before_its_first_new_one(tmp_path: Path) -> None:
    run_fake(tmp_path, Console(file=io.StringIO(), force_terminal=False), steps=6)
    out = io.StringIO()
    run_fake(tmp_path, Console(file=out, force_terminal=False), steps=10, start=6)
    first = next(ln for ln in out.getvalue().splitlines() if ln.startswith("step 8/10"))
    assert "val 27.06 dB" in first


def test_losses_png_keeps_noise_levels_off_the_loss_axis_and_draws_the_noisy_baseline(tmp_path: Path) -> None:
    run_fake(tmp_path, Console(file=io.StringIO(), force_terminal=False))
    rows = RunLog(tmp_path / "run" / "log.csv", FakeTrainer.log_fields).rows()
    assert rows[-1]["val_input_psnr"] == "20.5"
    fig = log_figure(rows, FakeTrainer.log_fields)
    losses, levels, val = fig.axes
    assert losses.get_yscale() == "log" and "f_sigma" not in [ln.get_label() for ln in losses.get_lines()]
    assert [ln.get_label() for ln in levels.get_lines()] == ["f_sigma: σ of F's noise"]
    assert levels.get_yscale() == "linear" and levels.get_title() == "noise level"
    labels = [ln.get_label() for ln in val.get_lines()]
    assert labels[0] == "G(noisy)" and labels[1].startswith("noisy input (20.50 dB)")
    baseline = val.get_lines()[1]
    assert set(baseline.get_ydata()) == {20.5}
    assert (tmp_path / "run" / "losses.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_loss_at_zero_throughout_is_named_so_where_the_log_axis_cannot_draw_it() -> None:
    rows = [{"step": str(s), "g_adv": "0.5", "f_stats": "0"} for s in (1, 2, 3)]
    losses = log_figure(rows, ("g_adv", "f_stats")).axes[0]
    assert losses.get_yscale() == "log"
    assert [ln.get_label() for ln in losses.get_lines()] == ["g_adv", "f_stats (0 at every step)"]


def test_refines_level_is_drawn_as_an_error_not_as_a_noise_level() -> None:
    """refine logs the estimator's mean error as `level`; losses.png called it a noise level, so a falling error
    read as falling noise."""
    rows = [{"step": str(s), "loss": "0.1", "level": str(7 - s)} for s in (1, 2, 3)]
    levels = log_figure(rows, ("loss", "level")).axes[1]
    assert levels.get_title() == "level error"
    assert [ln.get_label() for ln in levels.get_lines()] == ["level: mean error of the estimated level"]



def test_losses_of_zero_are_drawn_on_a_linear_axis_without_a_warning() -> None:
    """A log axis of values that are all 0 made matplotlib warn on stderr ("cannot be log-scaled")."""
    import warnings

    rows = [{"step": str(step), "g_adv": "0", "cycle_clean": "0"} for step in (1, 2)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = log_figure(rows, ("g_adv", "cycle_clean"))
    assert fig.axes[0].get_yscale() == "linear"


def test_a_log_of_one_step_draws_its_points() -> None:
    """A run's first losses.png (one logged step) showed empty panels under a legend naming every curve."""
    fig = log_figure([{"step": "1", "g_adv": "0.5", "cycle_clean": "0.2"}], ("g_adv", "cycle_clean"))
    assert [line.get_marker() for line in fig.axes[0].get_lines()] == ["o", "s"]  # a point each, shaped apart
    assert fig.axes[0].get_ylabel() == "loss (log scale)"
    many = log_figure([{"step": str(s), "g_adv": "0.5", "cycle_clean": "0.2"} for s in (1, 2, 3)],
                      ("g_adv", "cycle_clean"))
    assert all(line.get_marker() in (None, "None", "") for line in many.axes[0].get_lines())  # lines, as before


def test_eight_losses_differ_in_more_than_colour() -> None:
    """Eight losses in eight tab10 colours on solid lines: green and red, orange and green, blue and purple read
    alike to a reader with red-green colour blindness; each curve has dashes or marks of its own."""
    fields = ("g_adv", "f_adv", "f_stats", "cycle_clean", "cycle_noisy", "idt", "d_clean", "d_noisy")
    for steps in (1, 2, 49):  # one or two logged steps are drawn as points: each curve's of its own shape
        rows = [{"step": str(s), **{f: str(0.1 * (i + 1) + 0.001 * s) for i, f in enumerate(fields)}}
                for s in range(1, steps + 1)]
        lines = log_figure(rows, fields).axes[0].get_lines()
        assert len(lines) == 8 and len({(line.get_linestyle(), line.get_marker()) for line in lines}) == 8, steps
        assert steps > 2 or len({line.get_marker() for line in lines}) == 8, steps


def test_a_long_runs_curves_are_running_means_over_their_raw_rows_drawn_faint() -> None:
    """After hundreds of logged rows a swinging loss (F's noise statistics, its sigma) was a band whose trend the
    eye could not follow."""
    rows = [{"step": str(10 * s), "g_adv": str(1.0 if s % 2 else 0.5), "f_sigma": "20"} for s in range(1, 101)]
    fig = log_figure(rows, ("g_adv", "f_sigma"))
    losses, levels = fig.axes
    trend, raw = losses.get_lines()
    assert trend.get_label() == "g_adv" and raw.get_label() == "_raw" and raw.get_alpha() == 0.25
    assert raw.get_color() == trend.get_color() and list(raw.get_ydata()) == [1.0, 0.5] * 50
    assert list(trend.get_ydata())[:2] == [1.0, 0.75] and set(trend.get_ydata()[4:]) == {0.75}  # 4 rows a window
    assert [t.get_text() for t in losses.get_legend().get_texts()] == ["g_adv"]
    assert [ln.get_label() for ln in levels.get_lines()] == ["f_sigma: σ of F's noise", "_raw"]
    assert fig.get_suptitle() == "curves: running means of 4 logged rows; faint beneath: each row"
    short = log_figure(rows[:49], ("g_adv",))
    assert len(short.axes[0].get_lines()) == 1 and not short.get_suptitle()  # a short log: its rows as they are


def test_a_running_mean_draws_nothing_past_a_curves_last_logged_row() -> None:
    """A column left empty from some row on (a hand edit, a log written by another version) went on as a flat
    line of its last window's mean to the end of the plot, values that were never logged."""
    rows = [{"step": str(s), "g_adv": str(1.0 if s % 2 else 0.5) if s <= 60 else "", "cycle_clean": "0.1"}
            for s in range(1, 101)]
    trend = log_figure(rows, ("g_adv", "cycle_clean")).axes[0].get_lines()[0]
    assert trend.get_label() == "g_adv"
    drawn = np.asarray(trend.get_ydata(), dtype=float)
    assert np.isfinite(drawn[:60]).all() and np.isnan(drawn[60:]).all()


# ---- whole runs ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def val_set(clean_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("val") / "set"
    result = cli("synth", clean_dir, "-o", out, "--noise", "gaussian:sigma=25")
    assert result.exit_code == 0, result.output
    return out


def test_validating_changes_nothing_the_run_trains(clean_dir: Path, val_set: Path, tmp_path: Path) -> None:
    """F's draws for the grid took from the training's random state: the same seed with --val trained another
    model (the losses differed from the first validation on), and its grid's F column changed with the run."""
    from safetensors.torch import load_file

    train(tiny_train_config(clean_dir, steps=4, save_every=2), tmp_path / "plain")
    train(tiny_train_config(clean_dir, steps=4, save_every=2, val_dir=str(val_set), val_every=1), tmp_path / "val")
    for name in ("G", "F"):
        plain, validated = (load_file(tmp_path / run / f"{name}.safetensors") for run in ("plain", "val"))
        assert all(torch.equal(plain[k], validated[k]) for k in plain), name


def test_validation_keeps_a_labelled_grid_per_step_and_an_index(clean_dir: Path, val_set: Path,
                                                                  tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(tiny_train_config(clean_dir, steps=4, save_every=2, val_dir=str(val_set)), run)
    assert [s for s, _ in grid_steps(run)] == [2, 4]
    latest = read_image(run / "val_grid.png").pixels
    assert np.array_equal(latest, read_image(run / "val" / "step_0000004.png").pixels)
    # 4 images of 64 px, each row a caption band above it; four columns (noisy, G, clean, F) plus a title band
    assert latest.shape[1] >= 4 * 64 and latest.shape[0] > 4 * 64 + 40
    assert latest[:20].min() < 100 and latest[:20].max() == 255  # the title band holds dark text on white
    page = (run / "val" / "index.html").read_text()
    assert page.index("step_0000004.png") < page.index("step_0000002.png")  # newest first
    assert not re.search(r"(href|src)=['\"]?(https?:)?//", page)
    rows = read_log(run)
    assert all(float(r["val_input_psnr"]) == pytest.approx(20.5, abs=1.0) for r in rows if r["val_psnr"])


def test_validation_draws_f_on_an_image_whose_sides_are_not_multiples_of_its_stride(
        clean_dir: Path, tmp_path: Path) -> None:
    """A crop under the validation side keeps its size; F's stride-2 steps once failed on an odd side."""
    write_image(tmp_path / "odd" / "a.png", read_image(next(clean_dir.iterdir())).pixels[:45, :63])
    assert cli("synth", tmp_path / "odd", "-o", tmp_path / "val", "--noise", "gaussian:sigma=25").exit_code == 0
    run = tmp_path / "run"
    train(tiny_train_config(clean_dir, steps=2, save_every=2, val_dir=str(tmp_path / "val")), run)
    assert [s for s, _ in grid_steps(run)] == [2]


def test_resume_drops_grids_of_steps_it_redoes(clean_dir: Path, val_set: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(tiny_train_config(clean_dir, steps=4, save_every=2, val_dir=str(val_set)), run)
    list_checkpoints(run / "checkpoints")[-1][1].unlink()  # killed after step 2's checkpoint
    (run / "val" / "step_0000004.png").write_bytes(b"stale")
    train(None, run, resume=True, steps=3)  # a shorter run now: step 4 is never reached again
    assert [s for s, _ in grid_steps(run)] == [2, 3]
    assert "step_0000004" not in (run / "val" / "index.html").read_text()


def test_config_stores_absolute_paths_and_resume_works_from_another_directory(
        clean_dir: Path, val_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    (work / "data" / "clean").symlink_to(clean_dir)
    (work / "data" / "val").symlink_to(val_set)
    monkeypatch.chdir(work)
    result = cli("train", "--clean", "data/clean", "--noise", "gaussian:sigma=25", "-o", "run", "--steps", "2",
                 "--val", "data/val", *TINY_TRAIN_FLAGS)
    assert result.exit_code == 0, result.output
    config = json.loads((work / "run" / "config.json").read_text())
    assert config["data"]["clean_dir"] == str(work / "data" / "clean")  # absolute, the user's symlink kept
    assert config["val_dir"] == str(work / "data" / "val")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = cli("train", "--resume", work / "run", "--steps", "4")
    assert result.exit_code == 0, result.output
    assert [r["step"] for r in read_log(work / "run")] == ["2", "4"]
    refine = cli("refine", work / "run", "-o", "refined", "--steps", "2", "--generator", "same",
                 "--batch-size", "2", "--patch-size", "32", "--workers", "0", "--device", "cpu")
    assert refine.exit_code == 0, refine.output
    assert json.loads((elsewhere / "refined" / "config.json").read_text())["run_dir"] == str(work / "run")
    (elsewhere / "init.safetensors").write_bytes((work / "run" / "G.safetensors").read_bytes())
    refine = cli("refine", work / "run", "-o", "from_init", "--steps", "2", "--init", "init.safetensors",
                 "--batch-size", "2", "--patch-size", "32", "--workers", "0", "--device", "cpu")
    assert refine.exit_code == 0, refine.output  # --init named relative to here: resumed from another folder
    assert json.loads((elsewhere / "from_init" / "config.json").read_text())["init"] == str(elsewhere /
                                                                                            "init.safetensors")
    refine = cli("refine", work / "run", "-o", "from_folder", "--steps", "2", "--init", work / "run",
                 "--batch-size", "2", "--patch-size", "32", "--workers", "0", "--device", "cpu")
    assert refine.exit_code == 0, refine.output  # a folder is recorded as the weight file it held
    assert json.loads((elsewhere / "from_folder" / "config.json").read_text())["init"] == str(work / "run" /
                                                                                              "G.safetensors")


def test_cli_run_prints_plain_progress_lines_when_piped(clean_dir: Path, tmp_path: Path) -> None:
    result = cli("train", "--clean", clean_dir, "--noise", "gaussian:sigma=25", "-o", tmp_path / "run",
                 "--steps", "4", *TINY_TRAIN_FLAGS)
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith("step ")]
    assert [ln.split()[1] for ln in lines] == ["2/4", "4/4"] and all("ETA" in ln for ln in lines)


def test_slow_steps_show_seconds_per_step_when_piped() -> None:
    progress = RunProgress(Console(file=io.StringIO(), force_terminal=False), 10, 0, ("loss",))
    slow = progress.plain_line({"step": 1, "it_s": 0.004, "loss": 0.5})
    assert "250 s/it" in slow and "it/s" not in slow  # not "0.00 it/s"
    assert "1.47 it/s" in progress.plain_line({"step": 2, "it_s": 1.47})


def test_a_resumed_runs_plain_line_counts_from_the_run_and_times_from_the_resume(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Resumed at step 600 of 1000 and at 800 after 65 minutes: 80 % done, and the 200 steps left at this
    session's pace (200 steps in 65 min) take another 65 minutes."""
    from denoise_gan.training import run_report

    progress = RunProgress(Console(file=io.StringIO(), force_terminal=False), 1000, 600, ("loss",))
    monkeypatch.setattr(run_report.time, "perf_counter", lambda: progress.began + 3900.0)
    line = progress.plain_line({"step": 800, "it_s": 0.05})
    assert line.startswith("step 800/1000 80%  elapsed 1:05:00  ETA 1:05:00"), line
    # under adapt's deadline the run stops there whatever its steps: the ETA said 23 min one line before an 8-min
    # budget ended
    progress.deadline = run_report.time.monotonic() + 600.0
    assert "ETA 0:10:00" in progress.plain_line({"step": 800, "it_s": 0.05})  # (_clock rounds to the second)


def test_terminal_header_is_a_short_summary_within_80_columns(clean_dir: Path, tmp_path: Path) -> None:
    out = io.StringIO()
    train(tiny_train_config(clean_dir), tmp_path / "run",
          console=Console(file=out, force_terminal=True, width=80, color_system=None))
    frames = [f for f in re.split(r"[\r\n]", ANSI.sub("", out.getvalue())) if f.strip()]
    header = frames[:frames.index(next(f for f in frames if "world:" in f)) + 1]
    assert len(header) <= 5, header  # not the 45 lines of the config's JSON
    path = str(tmp_path / "run" / "config.json")  # printed whole (to copy), however long the temp folder's name
    assert all(len(f) <= 80 for f in header if path not in f), header
    assert header[0].startswith("config (new run): steps 2, G unet") and "seed 1" in "".join(header)
    assert str(tmp_path / "run" / "config.json") in "\n".join(header)  # where the whole config is
    assert not any(f.strip() in ("{", "}") for f in frames)
    words = " ".join(header).split()
    assert {"G:", "F:", "D_clean:", "D_noisy:", "device:", "world:"} <= set(words)  # none cut mid-word


def test_piped_header_keeps_the_whole_config_for_the_log(clean_dir: Path, tmp_path: Path) -> None:
    out = io.StringIO()
    train(tiny_train_config(clean_dir), tmp_path / "run", console=Console(file=out, force_terminal=False, width=80))
    text = out.getvalue()
    start = text.index("{\n")
    config = json.loads(text[start:text.index("\n}\n", start) + 2])
    assert config == json.loads((tmp_path / "run" / "config.json").read_text())
    path = str(tmp_path / "run" / "config.json")  # printed whole (to copy), however long the temp folder's name
    assert all(len(line) <= 80 for line in text[:start].splitlines() if path not in line)


# ---- TensorBoard ---------------------------------------------------------------------------------

def test_tensorboard_writes_events_beside_the_log(clean_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = cli("train", "--clean", clean_dir, "--noise", "gaussian:sigma=25", "-o", tmp_path / "run",
                 "--steps", "4", "--tensorboard", *TINY_TRAIN_FLAGS)
    assert result.exit_code == 0, result.output
    events = list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))
    assert events
    acc = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"loss/g_adv", "loss/cycle_clean", "level/f_sigma", "train/lr"} <= tags
    assert [e.step for e in acc.Scalars("loss/g_adv")] == [2, 4]
    resumed = cli("train", "--resume", tmp_path / "run", "--steps", "6", "--tensorboard")  # allowed on resume
    assert resumed.exit_code == 0, resumed.output
    assert "warning" not in resumed.stderr
    plain = cli("train", "--resume", tmp_path / "run", "--steps", "8")  # the run's curves stop at 6: said
    assert plain.exit_code == 0, plain.output
    assert "without --tensorboard this session adds none" in plain.stderr, plain.stderr


def test_tensorboard_missing_is_one_line_naming_the_extra(clean_dir: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import fails as if not installed
    line = one_line_error(cli("train", "--clean", clean_dir, "--noise", "gaussian:sigma=25", "-o",
                              tmp_path / "run", "--steps", "2", "--tensorboard", *TINY_TRAIN_FLAGS),
                          "--tensorboard", "pip install -e '.[tensorboard]'")
    assert line and not (tmp_path / "run").exists()  # refused before the run folder is made
    with pytest.raises(UserError, match=r"\[tensorboard\]"), reporting(tensorboard=True):
        pass


def test_refine_validates_every_val_every_steps_not_only_at_its_checkpoints(finished_run: Path, val_set: Path,
                                                                             tmp_path: Path) -> None:
    from denoise_gan.config import RefineConfig
    from denoise_gan.training.refine import refine

    out = tmp_path / "refined"
    refine(RefineConfig(run_dir=str(finished_run), steps=4, save_every=4, val_every=2, val_dir=str(val_set),
                        batch_size=2, patch_size=32, workers=0, device="cpu"), out)
    assert [s for s, _ in grid_steps(out)] == [2, 4]


def test_a_validation_pair_returned_exactly_does_not_make_the_mean_infinite() -> None:
    """A --val pair whose noisy image equals its clean one (σ 0 in a sweep) scores PSNR ∞: the logged mean is over
    the finite scores, as evaluate's is; only a set of such pairs is ∞."""
    from denoise_gan.training.validation import finite_mean  # the one every reported mean is taken with

    assert finite_mean([float("inf"), 20.0, 30.0]) == 25.0
    assert finite_mean([float("inf")]) == float("inf")


def test_the_validation_scores_are_means_over_every_pair_and_fs_draw_depends_on_the_step_alone(
        val_set: Path, tmp_path: Path) -> None:
    """val_psnr and val_ssim (log.csv, the grid's title, the progress line) are the means over every pair of the
    scores of G's output as the engine makes it; F's grid column is a function of the step, whatever the random
    state before (a resumed run's grids are the uninterrupted run's)."""
    from denoise_gan.config import GeneratorConfig
    from denoise_gan.evaluation.metrics import psnr, ssim
    from denoise_gan.inference.tiling import denoise_array
    from denoise_gan.nets.registry import build_generator
    from denoise_gan.training.validation import Validator
    from helpers import TINY_G

    torch.manual_seed(0)
    g = build_generator(TINY_G)
    f = build_generator(GeneratorConfig(arch="noise", width=4, depth=1))
    validator = Validator(val_set, torch.device("cpu"))
    assert len(validator.pairs) > 2
    result = validator.run(g, tmp_path / "a", 3, noise_model=f)
    outputs = [(clean, noisy, denoise_array(g, noisy, validator.infer)) for _, clean, noisy in validator.pairs]
    assert result["psnr"] == pytest.approx(np.mean([psnr(c, out) for c, _, out in outputs]), rel=1e-9)
    assert result["ssim"] == pytest.approx(np.mean([ssim(c, out) for c, _, out in outputs]), rel=1e-9)
    assert result["input_psnr"] == pytest.approx(np.mean([psnr(c, n) for c, n, _ in outputs]), rel=1e-9)
    torch.rand(7)  # another random state: the same step's grid, F's column included, is the same
    validator.run(g, tmp_path / "b", 3, noise_model=f)
    grids = [read_image(tmp_path / run / "val" / "step_0000003.png").pixels for run in ("a", "b")]
    assert np.array_equal(*grids)


def test_the_speed_logged_is_steps_over_seconds(tmp_path: Path) -> None:
    """log.csv's it_s (and the progress line's it/s) is the steps since the last row over their seconds: a
    step that takes at least 0.1 s is never logged faster than 10 it/s (a count off by one doubled it)."""
    import time

    class SlowTrainer(FakeTrainer):
        def step(self, step: int, batch: dict[str, torch.Tensor]) -> dict[str, float]:
            time.sleep(0.1)
            return super().step(step, batch)

    run_loop(SlowTrainer(), batches(), 0, Cadence(4, log_every=1, save_every=4, val_every=0, keep=1),
             tmp_path / "run", World(), Console(file=io.StringIO()))
    speeds = [float(r["it_s"]) for r in read_log(tmp_path / "run")]
    assert len(speeds) == 4 and all(0 < s <= 10.0 for s in speeds), speeds


def test_a_run_whose_checkpoints_folder_is_a_link_is_refused_on_resume(finished_run: Path, tmp_path: Path) -> None:
    """New checkpoints were written through the link, and pruning deleted the older step files where it led."""
    import shutil

    run, elsewhere = tmp_path / "run", tmp_path / "elsewhere"
    shutil.copytree(finished_run, run)
    shutil.move(run / "checkpoints", elsewhere)
    before = sorted(p.name for p in elsewhere.iterdir())
    (run / "checkpoints").symlink_to(elsewhere, target_is_directory=True)
    one_line_error(cli("train", "--resume", run, "--steps", "4"), "checkpoints: a link to", "remove the link")
    assert sorted(p.name for p in elsewhere.iterdir()) == before
    (run / "checkpoints").unlink()
    shutil.move(elsewhere, run / "checkpoints")
    (run / "notes").symlink_to(tmp_path, target_is_directory=True)  # the user's, where the run writes nothing
    assert cli("train", "--resume", run, "--steps", "4").exit_code == 0


def test_a_run_stopped_before_its_first_checkpoint_with_a_linked_checkpoints_folder_is_refused_when_redone(
        clean_dir: Path, tmp_path: Path) -> None:
    """The same command again takes such a folder over: it said another run had written into the folder."""
    import shutil

    run, mine = tmp_path / "run", tmp_path / "mine"
    train(tiny_train_config(clean_dir), run)
    for entry in run.iterdir():  # what a run stopped before its first save leaves
        if entry.name not in ("config.json", "inputs.json", "log.csv"):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    mine.mkdir()
    (run / "checkpoints").symlink_to(mine, target_is_directory=True)
    with pytest.raises(UserError, match="checkpoints: a link to .*; remove the link"):
        train(tiny_train_config(clean_dir), run)
    assert list(mine.iterdir()) == []
