"""One set of rules for every command's options: help text everywhere, defaults shown, --seed 0 by default,
--threads where torch runs, every CycleGAN hyper-parameter of the config reachable from `train`, and the
defaults of the shipped recipe."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from pathlib import Path

import pytest
import torch
import typer.main

from data_tools.images import write_image
from data_tools.samples import load_sample
from denoise_gan.cli import app
from denoise_gan.config import (
    AdaptConfig,
    ConfigError,
    DiscriminatorConfig,
    GeneratorConfig,
    ModelConfig,
    RefineConfig,
    TrainConfig,
)
from denoise_gan.config_fields import option_of
from denoise_gan.config_json import to_dict
from denoise_gan.errors import UserError
from denoise_gan.inference.api import Denoiser
from denoise_gan.runtime import set_threads, usable_cpus
from helpers import cli, one_line_error, runner

COMMANDS = typer.main.get_command(app).commands


def options(command: str) -> dict[str, object]:
    return {p.name: p for p in COMMANDS[command].params if p.param_type_name == "option" and p.name != "help"}


def test_every_option_has_help_and_shows_a_default_it_has() -> None:
    for name in COMMANDS:
        for opt in options(name).values():
            assert opt.help and opt.help.strip(), (name, opt.opts)
            if opt.default is not None and not opt.required:
                assert opt.show_default is not False, (name, opt.opts)


def test_steps_shows_a_new_runs_default_and_refine_output_reads_cleanly() -> None:
    assert options("train")["steps"].show_default == "2000"
    assert options("refine")["steps"].show_default == "4000"
    result = runner.invoke(app, ["refine", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    line = next(ln for ln in result.output.splitlines() if "--output" in ln)
    assert "Folder for the refined G" in line and "RUN_DIR/refine" in line


def test_seed_defaults_to_0_in_every_command() -> None:
    seeded = {name: options(name)["seed"] for name in COMMANDS if "seed" in options(name)}
    assert {"synth", "train", "refine", "benchmark", "demo"} <= set(seeded)
    assert all(opt.default == 0 and not opt.required for opt in seeded.values()), seeded


@pytest.mark.parametrize("command", ["synth", "benchmark", "calibrate", "demo", "noise-fit", "train", "refine"])
def test_seed_has_one_range_in_every_command(command: str) -> None:
    """Every seeded generator takes 0 .. 2**32-1; synth, benchmark and calibrate took any integer."""
    before = ["RUN_DIR"] if command == "refine" else []
    for bad in ("-1", str(2**32)):
        result = runner.invoke(app, [command, *before, "--seed", bad])
        assert result.exit_code == 2 and "--seed" in result.output, (command, bad, result.output)
        assert "4294967295" in result.output or "greater than or equal to 0" in result.output, result.output


def test_synth_without_seed_is_seed_0(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_image(src / "a.png", load_sample("coffee")[:32, :32])
    assert cli("synth", src, "-o", tmp_path / "a", "--noise", "gaussian:sigma=10").exit_code == 0
    assert cli("synth", src, "-o", tmp_path / "b", "--noise", "gaussian:sigma=10", "--seed", "0").exit_code == 0
    assert (tmp_path / "a" / "noisy" / "a.png").read_bytes() == (tmp_path / "b" / "noisy" / "a.png").read_bytes()


def test_threads_is_an_option_where_torch_runs() -> None:
    for name in ("train", "refine", "adapt", "denoise", "benchmark", "demo", "synth"):
        opt = options(name)["threads"]
        assert opt.default == 0 and "--threads" in opt.opts, name


def test_set_threads_sets_torchs_intra_op_threads() -> None:
    before = torch.get_num_threads()
    try:
        assert set_threads(0) == before  # 0: torch's default, untouched
        if usable_cpus() >= 2:  # a CI job pinned to one CPU refuses 2
            assert set_threads(2) == 2 == torch.get_num_threads()
        assert set_threads(1) == 1 == torch.get_num_threads()
        with pytest.raises(UserError, match="--threads"):
            set_threads(-1)
        with pytest.raises(UserError, match="at most"):  # more threads than CPUs only wait for each other
            set_threads((os.cpu_count() or 1) + 1)
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="no CPU affinity on this system")
def test_threads_are_capped_by_the_cpus_this_process_may_use(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pinned to 2 of 64 CPUs (taskset, a cpuset), --threads 32 was taken: it counted the machine's CPUs."""
    from denoise_gan.runtime import check_threads

    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert check_threads(2) == 2
    with pytest.raises(UserError, match="--threads 3: this process may use 2 CPU"):
        check_threads(3)


def test_more_threads_than_cpus_is_refused_by_every_engine_before_loading(tmp_path: Path) -> None:
    too_many = (os.cpu_count() or 1) + 1
    for engine in ("onnxruntime", "torch"):
        with pytest.raises(UserError, match=f"threads={too_many}: this process may use"):
            Denoiser.from_pretrained("default", engine=engine, threads=too_many)
        with pytest.raises(UserError, match="^threads must be"):  # the API's keyword, not the flag
            Denoiser.from_pretrained("default", engine=engine, threads=-1)
    write_image(tmp_path / "in" / "a.png", load_sample("coffee")[:40, :40])
    one_line_error(cli("denoise", tmp_path / "in", "-o", tmp_path / "out", "--threads", str(too_many)), "at most")
    assert not (tmp_path / "out").exists()


def test_denoise_threads_reaches_torch(weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    monkeypatch.setattr("denoise_gan.runtime.set_threads", lambda n: seen.append(n) or n)
    write_image(tmp_path / "in" / "a.png", load_sample("coffee")[:40, :40])
    result = cli("denoise", tmp_path / "in", "-o", tmp_path / "out", "-c", weights, "--threads", "1",
                 "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert seen == [1]
    refused = cli("denoise", tmp_path / "in", "-o", tmp_path / "o2", "-c", weights, "--threads", "-1")
    assert refused.exit_code == 2 and "--threads" in refused.output


def _leaves(cls: type, prefix: str = "") -> list[str]:
    out = []
    for f in dataclasses.fields(cls):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default):
            out += _leaves(type(default), f"{prefix}{f.name}.")
        else:
            out.append(prefix + f.name)
    return out


# what each command sets itself rather than by an option of the same field
FILLED_BY_COMMAND = {"refine": {"run_dir": "RUN_DIR argument", "generator.channels": "the run's channels"}}
COMMAND_LEVEL = {"output", "resume", "threads", "tensorboard", "config", "help", "run_dir"}


def _field_flags(command: str) -> dict[str, str]:
    """config field path -> the flag that sets it, read off the command's generated options."""
    generated = COMMANDS[command].callback.config_options
    flags = {".".join(path): o.flag.split("/")[0] for o in generated for path in o.paths}
    assert all(o.name in {p.name for p in COMMANDS[command].params} for o in generated)
    return flags


@pytest.mark.parametrize(("command", "cls"), [("train", TrainConfig), ("refine", RefineConfig),
                                              ("adapt", AdaptConfig)])
def test_every_config_field_is_an_option_and_every_option_a_field(command: str, cls: type) -> None:
    flags, filled = _field_flags(command), FILLED_BY_COMMAND.get(command, {})
    internal = {f.name for f in dataclasses.fields(cls) if (o := option_of(f)) is not None and not o.cli}
    missing = [leaf for leaf in _leaves(cls) if leaf not in flags and leaf not in filled and leaf not in internal]
    assert not missing, missing
    generated = {o.name for o in COMMANDS[command].callback.config_options}
    strays = [p.name for p in COMMANDS[command].params if p.name not in generated | COMMAND_LEVEL]
    assert not strays, strays  # an option that sets no config field must be a run-time one (threads, output...)
    shown = {flag for p in COMMANDS[command].params for flag in p.opts}
    assert set(flags.values()) <= shown


def test_an_option_is_checked_by_its_config_whoever_builds_it(finished_run: Path, clean_dir: Path,
                                                              tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="^clean_fraction must"):
        RefineConfig(clean_fraction=1.0)  # the Python API gets the CLI's one-line message, naming its keyword
    one_line_error(cli("refine", finished_run, "-o", tmp_path / "r", "--clean-fraction", "1"), "--clean-fraction")
    one_line_error(cli("adapt", "--noisy", clean_dir, "-o", tmp_path / "a", "--refine-lr", "0"), "--refine-lr")
    cfg = json.loads((finished_run / "config.json").read_text())
    cfg["steps"] = 0
    (tmp_path / "bad.json").write_text(json.dumps(cfg))
    one_line_error(cli("train", "--config", tmp_path / "bad.json", "-o", tmp_path / "t"), "--steps",
                   "in --config")
    # a bad value the command line replaces is no error ("options given beside the file override it")
    result = cli("train", "--config", tmp_path / "bad.json", "-o", tmp_path / "t", "--steps", "1", "--device", "cpu")
    assert result.exit_code == 0, result.output
    cfg["data"] = 5
    (tmp_path / "worse.json").write_text(json.dumps(cfg))
    one_line_error(cli("train", "--config", tmp_path / "worse.json", "-o", tmp_path / "w", "--noise",
                       "gaussian:sigma=5"), "worse.json")


@pytest.mark.parametrize(("build", "needle"), [
    (lambda: GeneratorConfig(width=16.5), "width must be a whole number, not 16.5"),
    (lambda: GeneratorConfig(width="16"), "width must be a whole number, not '16'"),
    (lambda: TrainConfig(steps=5.0), "steps must be a whole number"),
    (lambda: TrainConfig(seed=True), "seed must be a whole number, not True"),
    (lambda: TrainConfig(model="x"), "model must be a ModelConfig, not 'x'"),
    (lambda: AdaptConfig(noisy_dir=Path("photos")), "noisy_dir must be text"),
    (lambda: RefineConfig(lr="fast"), "lr must be a number"),
    # unbounded before: 100000 layers hung building the discriminator, a std of 1e308 "diverged" blaming --lr
    (lambda: TrainConfig(model=ModelConfig(d=DiscriminatorConfig(layers=100000))), "layers must be between 1 and 8"),
    (lambda: TrainConfig(init_std=1e308), "init_std must be at most 1"),
    (lambda: AdaptConfig(noise_share=0.0), "between 0 and 1 (both excluded"),
])
def test_a_config_built_in_python_with_a_wrong_type_is_one_line(build: object, needle: str) -> None:
    """width=16.5 failed inside torch ("out_channels must be divisible by groups"), "16" as a string-formatting
    TypeError, model="x" as an AttributeError in __post_init__; steps=5.0 and seed=True were taken."""
    with pytest.raises(ConfigError, match=re.escape(needle)):
        build()


def test_numpy_numbers_in_a_config_become_python_ones() -> None:
    """config.json holds them: a NumPy integer cannot be written there."""
    import numpy as np

    cfg = TrainConfig(steps=np.int64(7), lr=np.float32(0.5), model=ModelConfig(g=GeneratorConfig(width=np.int32(8))))
    assert (type(cfg.steps), type(cfg.lr), type(cfg.model.g.width)) == (int, float, int)
    assert json.loads(json.dumps(to_dict(cfg)))["steps"] == 7
    assert type(RefineConfig(lr=1).lr) is float  # an int where a number belongs is that number
    assert GeneratorConfig(arch=" UNet ").arch == "unet"  # --generator UNET was refused, --loss L1 read


def test_train_config_reads_a_runs_config_json_and_options_override_it(finished_run: Path,
                                                                        tmp_path: Path) -> None:
    stored = json.loads((finished_run / "config.json").read_text())
    result = cli("train", "--config", finished_run / "config.json", "-o", tmp_path / "again", "--steps", "3",
                 "--lr", "0.001", "--device", "cpu")
    assert result.exit_code == 0, result.output
    again = json.loads((tmp_path / "again" / "config.json").read_text())
    assert again == {**stored, "steps": 3, "lr": 0.001}
    (tmp_path / "part.json").write_text('{"data": {"clean_dir": "nowhere"}, "stepz": 3}')
    one_line_error(cli("train", "--config", tmp_path / "part.json", "-o", tmp_path / "x"), "stepz")


def test_noise_or_noisy_beside_a_config_replaces_the_configs_noisy_domain(finished_run: Path, clean_dir: Path,
                                                                           tmp_path: Path) -> None:
    """They are the two ways to a noisy domain: one given beside a config that has the other replaces it."""
    stored = json.loads((finished_run / "config.json").read_text())
    assert stored["data"]["noise"] and not stored["data"]["noisy_dir"]
    shutil.copytree(clean_dir, tmp_path / "noisy")
    result = cli("train", "--config", finished_run / "config.json", "-o", tmp_path / "real", "--steps", "1",
                 "--noisy", tmp_path / "noisy", "--device", "cpu")
    assert result.exit_code == 0, result.output
    real = json.loads((tmp_path / "real" / "config.json").read_text())["data"]
    assert (real["noise"], real["noisy_dir"]) == ("", str(tmp_path / "noisy"))
    result = cli("train", "--config", tmp_path / "real" / "config.json", "-o", tmp_path / "synthetic", "--steps",
                 "1", "--noise", "gaussian:sigma=10", "--device", "cpu")
    assert result.exit_code == 0, result.output
    synthetic = json.loads((tmp_path / "synthetic" / "config.json").read_text())["data"]
    assert (synthetic["noise"], synthetic["noisy_dir"]) == ("gaussian:sigma=10", "")


def test_cli_defaults_are_the_shipped_recipe(clean_dir: Path, tmp_path: Path) -> None:
    """Spectral norm in the discriminators, as checkpoints/reproduce.sh trains the shipped model."""
    assert options("train")["spectral_norm"].default is True
    result = cli("train", "--clean", clean_dir, "--noise", "gaussian:sigma=25", "-o", tmp_path / "run", "--steps",
                 "1", "--generator", "unet", "--width", "4", "--depth", "1", "--d-width", "8", "--d-layers", "2",
                 "--patch-size", "32", "--batch-size", "2", "--workers", "0", "--device", "cpu")
    assert result.exit_code == 0, result.output
    import json

    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model"]["d"]["spectral_norm"] is True
    assert config["model"]["f"] == {**config["model"]["f"], "width": 8, "depth": 2, "blocks": 1}
    off = cli("train", "--clean", clean_dir, "--noise", "gaussian:sigma=25", "-o", tmp_path / "off", "--steps",
              "1", "--no-spectral-norm", "--generator", "unet", "--width", "4", "--depth", "1", "--d-width", "8",
              "--d-layers", "2", "--patch-size", "32", "--batch-size", "2", "--workers", "0", "--device", "cpu")
    assert off.exit_code == 0, off.output
    assert json.loads((tmp_path / "off" / "config.json").read_text())["model"]["d"]["spectral_norm"] is False


def test_resume_accepts_threads_and_tensorboard_but_not_the_config(finished_run: Path) -> None:
    one_line_error(cli("train", "--resume", finished_run, "--beta1", "0.9"), "--beta1")
    result = cli("train", "--resume", finished_run, "--threads", "1")
    assert result.exit_code == 0, result.output  # already at its last step: nothing to do, and no refusal


def test_a_precision_is_read_in_any_case_as_devices_are(tmp_path: Path) -> None:
    """--device CPU was taken and --precision FP32 refused; train's FP16 gets training's own fp16 refusal."""
    for name in ("a", "b"):
        write_image(tmp_path / "clean" / f"{name}.png", load_sample("camera")[:64, :64])
    one_line_error(cli("train", "--clean", tmp_path / "clean", "--noise", "gaussian:sigma=25", "-o", tmp_path / "r",
                       "--device", "cpu", "--precision", "FP16"), "training supports --precision auto, bf16 or fp32")
    write_image(tmp_path / "a.png", load_sample("camera")[:64, :64])
    result = cli("denoise", tmp_path / "a.png", "-o", tmp_path / "a_dn.png", "--precision", " FP32")
    assert result.exit_code == 0, result.output


def test_a_config_file_with_part_of_a_section_keeps_the_rest_of_its_defaults(tmp_path: Path) -> None:
    """`{"data": {"patch_size": 64}}` set the patch and left every other data field at its default; merged flat,
    the section lost them (no noise spec, no batch size)."""
    from denoise_gan.cli.config_options import read_config_file
    from denoise_gan.config import TrainConfig
    from denoise_gan.config_json import to_dict

    (tmp_path / "part.json").write_text('{"data": {"patch_size": 64}, "steps": 7}')
    merged = read_config_file(TrainConfig, tmp_path / "part.json")
    expected = to_dict(TrainConfig())
    expected["data"]["patch_size"], expected["steps"] = 64, 7
    assert merged == expected


def test_a_config_file_saved_with_a_bom_and_words_in_capitals_reads_as_the_command_line_does(tmp_path: Path) -> None:
    """A UTF-8 BOM (Notepad's) was refused in Python's words, and "FP32" in a file was refused where --precision
    FP32 is taken."""
    from denoise_gan.cli.config_options import build_config, read_config_file
    from denoise_gan.config import TrainConfig

    (tmp_path / "c.json").write_bytes(b'\xef\xbb\xbf{"precision": "FP32", "noise_statistics": " Compact", "steps": 7}')
    cfg = build_config(TrainConfig, {}, read_config_file(TrainConfig, tmp_path / "c.json"), tmp_path / "c.json")
    assert (cfg.precision, cfg.noise_statistics, cfg.steps) == ("fp32", "compact", 7)
