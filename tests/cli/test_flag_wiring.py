"""Each command's options reach the library call that uses them: a flag the CLI accepts and then drops would
run with its default while the output says otherwise."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from data_tools.images import write_image
from helpers import cli


class Called(Exception):
    """Stops a command at the library call, once its arguments are recorded."""


def _recorder(seen: dict[str, Any]):
    def record(*args: object, **kwargs: object) -> None:
        seen.update(kwargs, args=args)
        raise Called

    return record


def test_demo_passes_its_seed_noise_device_engine_and_threads(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from denoise_gan.evaluation import demo

    seen: dict[str, Any] = {}
    monkeypatch.setattr(demo, "run_demo", _recorder(seen))
    cli("demo", "-o", tmp_path / "out", "--seed", "7", "--noise", "poisson:peak=30", "--device", "cpu",
        "--engine", "torch", "--threads", "1", "-c", "mine.safetensors", "--overwrite")
    assert (seen["seed"], seen["noise"], seen["infer"].device, seen["engine"], seen["threads"]) == (
        7, "poisson:peak=30", "cpu", "torch", 1)
    assert (seen["checkpoint"], seen["overwrite"]) == ("mine.safetensors", True)


def test_benchmark_passes_its_inference_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from denoise_gan.evaluation import benchmark

    seen: dict[str, Any] = {}
    monkeypatch.setattr(benchmark, "run_benchmark", _recorder(seen))
    cli("benchmark", "--clean", tmp_path, "--noise", "gaussian:sigma=25", "-o", tmp_path / "out", "--tile", "64",
        "--overlap", "8", "--batch-size", "2", "--device", "cpu", "--seed", "5")
    cfg = seen["args"][0]
    assert (cfg.infer.tile, cfg.infer.overlap, cfg.infer.batch_size, cfg.infer.device, cfg.seed) == (
        64, 8, 2, "cpu", 5)


# every option of `denoise` but its inputs and -o: its flags with a value other than its default, and that value
DENOISE_FLAGS: dict[str, tuple[tuple[str, ...], object]] = {
    "recursive": (("--recursive",), True), "suffix": (("--suffix", "_x"), "_x"), "ext": (("--ext", "png"), "png"),
    "quality": (("--quality", "80"), 80), "skip_existing": (("--skip-existing",), True),
    "overwrite": (("--overwrite",), True), "checkpoint": (("-c", "mine.safetensors"), "mine.safetensors"),
    "tile": (("--tile", "256"), 256), "overlap": (("--overlap", "8"), 8), "device": (("--device", "cpu"), "cpu"),
    "precision": (("--precision", "fp32"), "fp32"), "batch_size": (("--batch-size", "2"), 2),
    "strength": (("--strength", "0.5"), 0.5), "sigma": (("--sigma", "10"), 10.0),
    "threads": (("--threads", "1"), 1), "engine": (("--engine", "torch"), "torch"),
    "ensemble": (("--ensemble",), True), "level_per_tile": (("--level-per-tile",), True),
}


def test_every_option_of_denoise_reaches_the_api_and_every_api_setting_has_its_option(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An option added to `denoise` (or a keyword to Denoiser) was held to nothing: declared and never passed on,
    it ran at its default while the command took it; a Denoiser keyword without its flag was the API's alone."""
    import dataclasses
    import inspect

    from denoise_gan.cli.denoise import denoise_command
    from denoise_gan.inference import api
    from denoise_gan.inference.file_plan import OutputOptions

    options = set(inspect.signature(denoise_command).parameters) - {"inputs", "output"}
    assert set(DENOISE_FLAGS) == options, "give each option of denoise a value in DENOISE_FLAGS"
    keywords = {*api.SETTINGS, "engine", "threads", "strength", "sigma", *(f.name for f in dataclasses.fields(
        OutputOptions))}
    assert keywords <= options, f"Denoiser keywords without a denoise option: {sorted(keywords - options)}"

    seen: dict[str, Any] = {}

    class Recorded:
        def denoise_files(self, inputs: object, out_dir: object, options: OutputOptions, **kwargs: object) -> None:
            seen.update(dataclasses.asdict(options), **kwargs)
            raise Called

    def from_pretrained(name: object = None, **kwargs: object) -> Recorded:
        seen.update(kwargs, checkpoint=name)
        return Recorded()

    monkeypatch.setattr(api.Denoiser, "from_pretrained", from_pretrained)
    for name, (flags, value) in DENOISE_FLAGS.items():
        seen.clear()
        cli("denoise", tmp_path / "a.png", "-o", tmp_path / "out", *flags)
        assert seen.get(name) == value, (name, seen)


def test_synth_opens_a_noise_model_with_its_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from denoise_gan.inference import noise_model

    seen: dict[str, Any] = {}
    monkeypatch.setattr(noise_model.NoiseModel, "from_pretrained", _recorder(seen))
    cli("synth", tmp_path, "-o", tmp_path / "out", "--noise-model", "default-F", "--threads", "1")
    assert seen["args"] == ("default-F",) and seen["threads"] == 1 and seen["device"] == "cpu"


def test_evaluate_pairs_predictions_by_their_suffix(tmp_path: Path) -> None:
    image = np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    write_image(tmp_path / "clean" / "a.png", image)
    write_image(tmp_path / "pred" / "a_denoised.png", image // 2)
    result = cli("evaluate", "--clean", tmp_path / "clean", "--pred", tmp_path / "pred", "--pred-suffix",
                 "_denoised")
    assert result.exit_code == 0, result.output
    assert any(line.strip("| ").startswith("a ") for line in result.output.splitlines())


def test_synth_names_a_skipped_source_as_it_is_spelt(tmp_path: Path) -> None:
    """A corrupt `x[red].png` was reported as "x.png" (its brackets read as a colour)."""
    write_image(tmp_path / "src" / "good.png", np.zeros((16, 16, 3), np.uint8))
    (tmp_path / "src" / "x[red].png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    result = cli("synth", tmp_path / "src", "-o", tmp_path / "out", "--noise", "gaussian:sigma=5")
    assert result.exit_code == 1 and "x[red].png" in result.stderr


def test_calibrate_passes_its_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from denoise_gan.evaluation import calibrate

    seen: dict[str, Any] = {}
    monkeypatch.setattr(calibrate, "calibrate", _recorder(seen))
    cli("calibrate", "--clean", tmp_path, "-o", tmp_path / "out", "--seed", "3", "--scale", "0.9", "--scale", "1.1")
    assert seen["args"][0].seed == 3 and seen["args"][0].scales == (0.9, 1.1)


def test_export_reads_its_format_in_any_case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from denoise_gan.nets import export

    seen: dict[str, Any] = {}
    monkeypatch.setattr(export, "export_model", _recorder(seen))
    cli("export", "default", "-o", tmp_path / "g.onnx", "--format", "ONNX")
    assert seen["args"][2] == "onnx"


def test_noise_fit_refuses_an_output_inside_its_clean_photos_and_too_many_threads(tmp_path: Path) -> None:
    from helpers import one_line_error

    for folder in ("noisy", "photos"):
        write_image(tmp_path / folder / "a.png", np.zeros((40, 40, 3), np.uint8))
    one_line_error(cli("noise-fit", "--noisy", tmp_path / "noisy", "--clean-photos", tmp_path / "photos", "-o",
                       tmp_path / "photos" / "fit"), "--clean-photos")
    assert not (tmp_path / "photos" / "fit").exists()
    one_line_error(cli("noise-fit", "--noisy", tmp_path / "noisy", "-o", tmp_path / "fit", "--threads", "9999"),
                   "CPU")
    # synth with a spec runs no threads, but was the one command to take any count without a word
    one_line_error(cli("synth", tmp_path / "photos", "-o", tmp_path / "set", "--noise", "gaussian:sigma=5",
                       "--threads", "9999"), "CPU")
    assert not (tmp_path / "set").exists()


def test_a_file_gone_during_a_command_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from denoise_gan.evaluation import metrics
    from helpers import one_line_error

    def vanished(*_: object, **__: object) -> None:
        raise FileNotFoundError(2, "No such file or directory", "x.png")

    monkeypatch.setattr(metrics, "evaluate_folders", vanished)
    one_line_error(cli("evaluate", "--clean", tmp_path, "--pred", tmp_path), "x.png")


def test_denoise_opens_the_model_with_every_inference_option(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from denoise_gan.inference.api import Denoiser

    seen: dict[str, Any] = {}
    monkeypatch.setattr(Denoiser, "from_pretrained", _recorder(seen))
    write_image(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8))
    cli("denoise", tmp_path / "a.png", "-o", tmp_path / "out", "-c", "mine", "--engine", "Torch", "--threads", "1",
        "--tile", "256", "--overlap", "16", "--batch-size", "2", "--device", "cpu", "--precision", "fp32",
        "--ensemble")
    assert seen["args"] == ("mine",)
    assert {k: seen[k] for k in ("engine", "threads", "tile", "overlap", "batch_size", "device", "precision",
                                 "ensemble")} == {"engine": "torch", "threads": 1, "tile": 256, "overlap": 16,
                                                  "batch_size": 2, "device": "cpu", "precision": "fp32",
                                                  "ensemble": True}


def test_denoise_reports_each_file_on_stderr_and_only_the_summary_on_stdout(tmp_path: Path) -> None:
    """`denoise ... > summary.txt` keeps the table; the per-file lines and the device line go to the terminal."""
    write_image(tmp_path / "a.png", np.zeros((16, 16, 3), np.uint8))
    result = cli("denoise", tmp_path / "a.png", "-o", tmp_path / "out")
    assert result.exit_code == 0 and "[1/1] done:" in result.stderr and "on cpu (" in result.stderr
    assert result.stdout.lstrip().startswith("denoise summary") and "[1/1]" not in result.stdout


def test_a_log_hears_of_a_large_images_tiles_while_it_is_denoised(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Piped or logged, one large image was "denoising 1 file(s)" and then silence until it was done (a minute
    for 50 MP); now a line on its tiles every PLAIN_TILES_EVERY seconds (here every tile)."""
    from denoise_gan.inference import files

    monkeypatch.setattr(files, "PLAIN_TILES_EVERY", 0.0)
    write_image(tmp_path / "big.png", np.full((300, 300, 3), 90, np.uint8))
    result = cli("denoise", tmp_path / "big.png", "-o", tmp_path / "out.png", "--tile", "128")
    lines = [line.strip() for line in result.stderr.splitlines() if ": tile " in line]
    assert result.exit_code == 0 and lines and "[1/1] done:" in result.stderr, result.stderr
    for line in lines:  # "big.png: tile 4/9 (0 s)": tiles run in batches, and the last is the file's own line
        done, total = map(int, line.removeprefix("big.png: tile ").split(" ")[0].split("/"))
        assert 0 < done < total == 9 and line.endswith(" s)"), line
    writing = [line.strip() for line in result.stderr.splitlines() if "tiles done" in line]  # encoding: silent
    assert len(writing) == 1 and re.fullmatch(r"big\.png: 9 tiles done \(\d+ s\); writing it", writing[0]), writing


def test_a_log_under_torchrun_counts_every_file_and_says_which_are_this_processs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under torchrun rank 0's log said "denoising 3 file(s)" of 5 and named only its own: the other rank's photos
    were written with no word of them, and the summary's 5 did not match the header's 3."""
    from denoise_gan.inference import files

    for i in range(5):
        write_image(tmp_path / "in" / f"{i}.png", np.full((16, 16, 3), 90, np.uint8))
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29500")
    monkeypatch.setattr(files, "gather_summary", lambda local, world: local)  # rank 1 is not there to gather from
    result = cli("denoise", tmp_path / "in", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "denoising 5 file(s) into" in result.stderr, result.stderr
    assert "3 of them in this process (rank 0 of 2;" in " ".join(result.stderr.split())
    assert result.stderr.count("done:") == 3
