"""Options the training commands cannot honour together are refused in one line, never silently dropped; `adapt`
takes --threads as train and refine do."""

from __future__ import annotations

from pathlib import Path

import pytest

from denoise_gan.errors import UserError
from helpers import cli, one_line_error

pytestmark = pytest.mark.usefixtures("losses_png_unrendered")  # trains; never looks at that picture


@pytest.mark.parametrize("clash", [["--generator", "unet"], ["--width", "8"], ["--depth", "1"], ["--blocks", "3"],
                                   ["--fresh"]])
def test_refine_init_refuses_options_that_describe_another_g(finished_run: Path, tmp_path: Path,
                                                             clash: list[str]) -> None:
    line = one_line_error(cli("refine", finished_run, "-o", tmp_path / "out", "--init", "default", *clash,
                              "--device", "cpu"), "--init", clash[0])
    assert not (tmp_path / "out").exists(), line  # refused before anything is written


@pytest.mark.parametrize("same", ["same", "SAME"])  # any case: "SAME" was "unknown --generator 'same'"
def test_refine_generator_same_refuses_a_new_gs_shape(finished_run: Path, tmp_path: Path, same: str) -> None:
    one_line_error(cli("refine", finished_run, "-o", tmp_path / "out", "--generator", same, "--width", "8",
                       "--device", "cpu"), "--generator same", "--width")


@pytest.mark.parametrize("given", [["--estimator-noise", "camra:peak=30", "--estimator-noise-fraction", "0.3"],
                                   ["--estimator-noise", "camera:peak=30"]])
def test_refine_refuses_a_bad_estimator_noise_before_writing(finished_run: Path, tmp_path: Path,
                                                             given: list[str]) -> None:
    line = one_line_error(cli("refine", finished_run, "-o", tmp_path / "out", "--init", "default",
                              "--estimator-only", *given, "--device", "cpu"), "estimator-noise")
    assert not (tmp_path / "out").exists(), line


@pytest.mark.parametrize("new_g", [["--generator", "level"]])  # (with --fresh: refused as a no-op, first)
def test_refine_estimator_only_on_a_new_g_is_refused(finished_run: Path, tmp_path: Path, new_g: list[str]) -> None:
    """It would freeze an untrained denoiser and ship a G that returns every photo as it came."""
    line = one_line_error(cli("refine", finished_run, "-o", tmp_path / "out", *new_g, "--estimator-only",
                              "--device", "cpu"), "--estimator-only", "new G", "--init")
    assert not (tmp_path / "out").exists(), line


@pytest.mark.parametrize("deep, named", [(["--d-layers", "5"], "is too small for the discriminators (--d-layers 5)"),
                                         # F's stride (2**6) does not divide the patch: said as a multiple
                                         (["--f-depth", "6", "--patch-size", "32"],
                                          "must be a multiple of 64 (F's stride, 2 to the power of --f-depth)"),
                                         # instance norm on a 1x1 map: a ValueError, not a shape error
                                         (["--no-spectral-norm", "--d-layers", "4", "--patch-size", "32"],
                                          "is too small for the discriminators (--d-layers 4)")])
def test_train_refuses_a_network_too_deep_for_its_patch_before_writing(tmp_path: Path, deep: list[str],
                                                                       named: str) -> None:
    (tmp_path / "clean").mkdir()
    line = one_line_error(cli("train", "--clean", tmp_path / "clean", "--noise", "gaussian:sigma=25", "-o",
                              tmp_path / "out", *deep, "--device", "cpu"), named)
    assert not (tmp_path / "out").exists(), line


def test_refine_refuses_a_g_too_deep_for_its_patch_before_writing(finished_run: Path, tmp_path: Path) -> None:
    line = one_line_error(cli("refine", finished_run, "-o", tmp_path / "out", "--generator", "level", "--depth", "6",
                              "--patch-size", "32", "--device", "cpu"),
                          "--patch-size must be a multiple of 128 (the new G's stride), not 32")
    assert not (tmp_path / "out").exists(), line


def test_adapt_refuses_a_start_g_too_deep_for_its_patch_before_writing(tmp_path: Path) -> None:
    from denoise_gan.config import GeneratorConfig
    from helpers import save_adapt_start

    (tmp_path / "start").mkdir()
    save_adapt_start(tmp_path / "start", g=GeneratorConfig(arch="unet", width=4, depth=6, blocks=1))
    (tmp_path / "noisy").mkdir()
    line = one_line_error(cli("adapt", "--noisy", tmp_path / "noisy", "--from", tmp_path / "start", "-o",
                              tmp_path / "out", "--patch-size", "32", "--steps", "4", "--device", "cpu"),
                          "--patch-size 32 is too small for --from", "'s G")
    assert not (tmp_path / "out").exists(), line


def test_refine_into_a_used_folder_names_its_own_resume(finished_run: Path, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "stray").write_text("")
    line = one_line_error(cli("refine", finished_run, "-o", tmp_path / "out", "--device", "cpu"), "not empty",
                          "add --resume")
    assert "RUN_DIR" not in line  # refine's --resume is a flag; `--resume RUN_DIR` read RUN_DIR as the run


def test_a_resume_refuses_a_switch_by_the_name_typed(finished_run: Path) -> None:
    """`refine RUN --resume --no-quantize` was refused as "--quantize cannot change it"."""
    for typed in ("--no-quantize", "--quantize"):
        one_line_error(cli("refine", finished_run, "--resume", typed), f"; {typed} cannot change it")


def test_train_names_the_option_of_a_bad_noise_spec_before_writing(tmp_path: Path) -> None:
    (tmp_path / "clean").mkdir()
    line = one_line_error(cli("train", "--clean", tmp_path / "clean", "--noise", "gausian:sigma=25", "-o",
                              tmp_path / "out", "--device", "cpu"), "--noise: ", "gausian")
    assert not (tmp_path / "out").exists(), line


@pytest.mark.parametrize("command", [["train", "--clean", "{d}", "--noise", "gaussian:sigma=25"],
                                     ["adapt", "--noisy", "{d}"]])
def test_a_batch_that_cannot_fit_in_memory_is_refused_before_writing(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "data").mkdir()
    args = [a.format(d=tmp_path / "data") for a in command]
    one_line_error(cli(*args, "-o", tmp_path / "out", "--batch-size", "100000", "--device", "cpu"),
                   "--batch-size 100000 with --patch-size 64", "lower one of them")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, needle", [
    (["--generator", "colour-noise"], "--generator colour-noise: this needs a denoiser"),
    (["--noise-model", "level"], "--noise-model level: this needs a noise model"),
    (["--seed", "-1"], "--seed must be between 0 and 4294967295"),
    (["--seed", "99999999999999999999"], "--seed must be between 0 and 4294967295"),
    (["--steps", "99999999999"], "--steps must be between 1 and 10000000"),
    (["--width", "100000"], "--width must be between 1 and 4096"),
])
def test_train_refuses_what_would_fail_late_before_writing(tmp_path: Path, args: list[str], needle: str) -> None:
    (tmp_path / "clean").mkdir()
    one_line_error(cli("train", "--clean", tmp_path / "clean", "--noise", "gaussian:sigma=25", "-o", tmp_path / "out",
                       "--device", "cpu", *args), needle)
    assert not (tmp_path / "out").exists()


def test_refine_refuses_a_noise_model_as_g_before_writing(finished_run: Path, tmp_path: Path) -> None:
    one_line_error(cli("refine", finished_run, "-o", tmp_path / "r", "--generator", "noise"), "this needs a denoiser")
    assert not (tmp_path / "r").exists()


def test_a_run_folder_inside_its_image_folders_is_refused(finished_run: Path, clean_dir: Path, tmp_path: Path) -> None:
    one_line_error(cli("train", "--clean", clean_dir, "--noise", "gaussian:sigma=25", "-o", clean_dir / "run",
                       "--device", "cpu"), "is inside --clean", "choose an output folder outside it")
    one_line_error(cli("refine", finished_run, "-o", clean_dir / "refined"), "is inside the run's --clean")
    one_line_error(cli("refine", finished_run, "-o", finished_run), "is the train run itself")  # not "--resume"
    assert not (clean_dir / "run").exists() and not (clean_dir / "refined").exists()


def test_a_refinement_inside_the_runs_noisy_folder_is_refused(clean_dir: Path, tmp_path: Path) -> None:
    """refine never reads the run's --noisy, so an -o inside it was taken: its losses.png was then read as a noisy
    photo by the run's next `train --resume`."""
    from dataclasses import replace

    from data_tools.images import write_image
    from denoise_gan.training.cyclegan import train
    from helpers import noise_image, tiny_train_config

    noisy = tmp_path / "noisy"
    for i in range(2):
        write_image(noisy / f"{i}.png", noise_image(40, 40, seed=i))
    cfg = tiny_train_config(clean_dir)
    train(replace(cfg, data=replace(cfg.data, noise="", noisy_dir=str(noisy))), tmp_path / "run")
    one_line_error(cli("refine", tmp_path / "run", "-o", noisy / "refined"), "is inside the run's --noisy")
    assert sorted(p.name for p in noisy.iterdir()) == ["0.png", "1.png"]


def test_adapt_refuses_steps_and_minutes_together(tmp_path: Path) -> None:
    (tmp_path / "noisy").mkdir()
    one_line_error(cli("adapt", "--noisy", tmp_path / "noisy", "-o", tmp_path / "out", "--steps", "6",
                       "--minutes", "3"), "--minutes", "--steps", "not both")
    assert not (tmp_path / "out").exists()


def _stop(*args: object, **kw: object) -> Path:
    raise UserError("stub adapt: stopped after the options were read")


def test_adapt_threads_reaches_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    monkeypatch.setattr("denoise_gan.runtime.set_threads", lambda n: seen.append(n) or n)
    monkeypatch.setattr("denoise_gan.training.adapt.adapt", _stop)
    (tmp_path / "noisy").mkdir()
    one_line_error(cli("adapt", "--noisy", tmp_path / "noisy", "-o", tmp_path / "out", "--threads", "2"), "stub")
    (tmp_path / "out").mkdir()  # the stub made none, and a resume's folder is checked before torch loads
    one_line_error(cli("adapt", "--resume", tmp_path / "out", "--threads", "3"), "stub")  # a resume may change it
    assert seen == [2, 3]


def test_train_and_refine_threads_and_tensorboard_reach_the_run(tmp_path: Path, finished_run: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """New or resumed, `train` and `refine` set the threads asked and keep --tensorboard."""
    from denoise_gan.training import loop

    threads: list[int] = []
    boards: list[bool] = []
    monkeypatch.setattr("denoise_gan.runtime.set_threads", lambda n: threads.append(n) or n)
    monkeypatch.setattr(loop, "reporting", lambda tensorboard: boards.append(tensorboard) or _stopping())
    (tmp_path / "clean").mkdir()
    cli("train", "--clean", tmp_path / "clean", "--noise", "gaussian:sigma=25", "-o", tmp_path / "out", "--threads",
        "2", "--tensorboard")
    for stubbed in ("out", "r"):  # the stubs made none, and a resume's folder is checked before torch loads
        (tmp_path / stubbed).mkdir(exist_ok=True)
    cli("train", "--resume", tmp_path / "out", "--threads", "3", "--tensorboard")
    cli("refine", finished_run, "-o", tmp_path / "r", "--threads", "1")
    cli("refine", finished_run, "-o", tmp_path / "r", "--resume", "--threads", "2", "--tensorboard")
    assert threads == [2, 3, 1, 2] and boards == [True, True, False, True]


def _stopping() -> object:
    from contextlib import contextmanager

    @contextmanager
    def stop() -> object:
        raise UserError("stub run: stopped after the options were read")
        yield

    return stop()


def test_refine_on_synthetic_noise_trains_a_fresh_g_with_the_runs_channels(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`refine RUN --noise SPEC` learns a known noise from scratch (F's G would carry F's noise family); a new G
    has the run's channels, so a gray run refines without a --channels it never gave."""
    from dataclasses import replace

    from denoise_gan.config import TrainConfig
    from denoise_gan.training import new_run_inputs
    from denoise_gan.training import refine as refine_module

    seen: list[object] = []
    monkeypatch.setattr(refine_module, "refine", lambda cfg, *a, **kw: seen.append(cfg) or _stop())
    model = TrainConfig().model
    gray = replace(model, g=replace(model.g, channels=1), f=replace(model.f, channels=1),
                   d=replace(model.d, channels=1))
    monkeypatch.setattr(new_run_inputs, "load_source_config", lambda run: TrainConfig(model=gray))
    (tmp_path / "run").mkdir()
    cli("refine", tmp_path / "run", "-o", tmp_path / "r", "--noise", "gaussian:sigma=25")
    assert seen and seen[0].fresh and seen[0].generator.channels == 1


def test_a_mistyped_folder_is_named_as_missing(tmp_path: Path) -> None:
    """train/adapt --resume, refine and -c of a mistyped path said "no checkpoint to resume from", "not a
    finished run", "no adaptation to resume" or "no shipped model named ...", not that the path is not there."""
    missing = tmp_path / "nosuch"
    one_line_error(cli("train", "--resume", missing), f"{missing}: no such folder")
    one_line_error(cli("refine", missing, "--steps", "3"), f"{missing}: no such folder")
    one_line_error(cli("adapt", "--resume", missing), f"{missing}: no such folder")
    (tmp_path / "afile").write_text("x")  # it said "no such folder" of a file that is there
    for command in ("train", "adapt"):
        one_line_error(cli(command, "--resume", tmp_path / "afile"), "afile: not a folder")
    from data_tools.images import write_image
    from helpers import noise_image

    write_image(tmp_path / "in" / "a.png", noise_image(16, 16))
    one_line_error(cli("denoise", tmp_path / "in", "-o", tmp_path / "out", "-c", "my_camer"),
                   "my_camer: no such file or folder, and no shipped model of that name")


def test_config_values_out_of_range_are_refused() -> None:
    """An infinite weight trained to NaN at its first step; a noise share of 1 left no steps to refine G; a clean
    folder inside the noisy one put the same photos in both domains."""
    import math

    from denoise_gan.config import AdaptConfig, DataConfig, TrainConfig, refuse_overlapping
    from denoise_gan.config_fields import ConfigError

    for field in ("lambda_cycle", "lambda_identity"):
        with pytest.raises(ConfigError, match=field.replace("_", "[-_]")):
            TrainConfig(**{field: math.inf})
    for share in (0.0, 1.0):
        with pytest.raises(ConfigError, match="^noise_share must be between 0 and 1"):
            AdaptConfig(noise_share=share)
    assert AdaptConfig(noise_share=0.99).noise_share == 0.99
    for clean, noisy in (("photos/clean", "photos"), ("photos", "photos/noisy")):
        with pytest.raises(ConfigError, match="is inside"):
            refuse_overlapping(clean, noisy)
    refuse_overlapping("photos/clean", "photos/noisy")  # siblings are independent
    assert DataConfig(clean_dir="photos/clean", noisy_dir="photos/noisy").noisy_dir == "photos/noisy"


def test_configs_are_frozen_and_refine_patches_are_multiples_of_8() -> None:
    """A config changed after its checks (a width past the cap, a G too deep for its patch) would skip them."""
    import dataclasses

    from denoise_gan.config import GeneratorConfig, RefineConfig, TrainConfig
    from denoise_gan.config_fields import ConfigError

    with pytest.raises(dataclasses.FrozenInstanceError):
        GeneratorConfig().width = 100_000  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainConfig().model.g.depth = 6  # type: ignore[misc]
    assert hash(GeneratorConfig()) == hash(GeneratorConfig())
    with pytest.raises(ConfigError, match="multiple of 8"):
        RefineConfig(patch_size=36)


@pytest.mark.parametrize(("steps", "share", "split"), [(2, 0.9, (1, 1)), (2, 0.1, (1, 1)), (10, 0.4, (4, 6)),
                                                   (10, 0.38, (4, 6))])  # 3.8 noise steps round to 4
def test_adapt_steps_leave_each_phase_at_least_one(steps: int, share: float, split: tuple[int, int]) -> None:
    import io
    from pathlib import Path

    from rich.console import Console

    from denoise_gan.config import AdaptConfig
    from denoise_gan.training.adapt_plan import plan_phases

    cfg, _ = plan_phases(AdaptConfig(steps=steps, noise_share=share), None, None, Path("."), 0.0,  # type: ignore[arg-type]
                         Console(file=io.StringIO()))
    assert (cfg.noise_steps, cfg.refine_steps) == split


def test_noise_and_noisy_together_are_refused_in_the_callers_own_words(tmp_path: Path) -> None:
    """The command's error named the Python fields too: (DataConfig.noisy_dir or noise)."""
    from denoise_gan.config import DataConfig, TrainConfig
    from denoise_gan.training.new_run_inputs import check_train_folders

    (tmp_path / "c").mkdir()
    (tmp_path / "n").mkdir()
    said = one_line_error(cli("train", "--clean", tmp_path / "c", "--noisy", tmp_path / "n", "--noise",
                              "gaussian:sigma=5", "-o", tmp_path / "run"), "give exactly one of --noisy DIR or --noise")
    assert "DataConfig" not in said
    both = TrainConfig(data=DataConfig(clean_dir=str(tmp_path / "c"), noisy_dir=str(tmp_path / "n"),
                                       noise="gaussian:sigma=5"))
    with pytest.raises(UserError, match="give exactly one of DataConfig.noisy_dir or DataConfig.noise$"):
        check_train_folders(both)


def test_adapt_help_shows_no_default_for_steps_it_would_refuse() -> None:
    """--steps showed [default: (0)], a value adapt refuses: 0 stands for "by --minutes"."""
    import re

    from typer.testing import CliRunner

    from denoise_gan.cli import app

    text = CliRunner().invoke(app, ["adapt", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"}).output
    steps = next(line for line in text.splitlines() if re.search(r"--steps\b", line))
    assert "instead of --minutes" in steps and "default" not in steps, steps


def test_a_new_run_without_an_output_folder_is_one_line(clean_dir: Path) -> None:
    one_line_error(cli("train", "--clean", clean_dir, "--noise", "gaussian:sigma=25", "--device", "cpu"),
                   "a new run needs -o RUN_DIR (or --resume RUN_DIR)")
