"""A run folder's G or F is said to be of "this moment" when its run is training now or stopped partway: by the
denoiser's notes, `synth --noise-model` and `export`; a finished run, an adapt phase ended by its deadline and
any file outside a run say nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from data_tools.folder_lock import holding_folder
from data_tools.images import write_image
from denoise_gan import Denoiser
from denoise_gan.config import AdaptConfig, RefineConfig, TrainConfig
from denoise_gan.nets.run_folder import RunFolder
from denoise_gan.nets.run_state import unfinished_note
from helpers import cli, save_adapt_start


def _train_run(folder: Path, steps: int, reached: int) -> RunFolder:
    run = RunFolder(folder)
    save_adapt_start(folder)  # real G and F files (and a D_noisy, which a train run also keeps)
    run.write_config(TrainConfig(steps=steps))
    run.checkpoints.mkdir()
    run.checkpoint(reached).write_bytes(b"")  # only its name is read
    return run


def test_a_train_run_stopped_partway_is_named_with_the_command_that_finishes_it(tmp_path: Path) -> None:
    run = _train_run(tmp_path / "run", steps=4, reached=2)
    note = unfinished_note(run.f)
    assert "stopped at step 2 of 4" in note and f"denoise-gan train --resume {run.path}" in note, note
    assert "F.safetensors" in note and "G.safetensors" in unfinished_note(run.g)
    assert unfinished_note(_train_run(tmp_path / "done", steps=4, reached=4).g) == ""


def test_the_command_a_note_gives_runs_as_pasted_where_a_folder_name_holds_a_space(tmp_path: Path) -> None:
    """The shell split `train --resume /my runs/run` into two arguments."""
    import shlex

    run = _train_run(tmp_path / "my runs" / "run", steps=4, reached=2)
    command = unfinished_note(run.g).split("`")[-2]
    assert shlex.split(command) == ["denoise-gan", "train", "--resume", str(run.path)], command


def test_a_refinement_stopped_partway_names_refines_own_resume(tmp_path: Path) -> None:
    """`refine --resume` takes the train run as its argument (and -o for a folder of its own): the note said
    `refine --resume FOLDER`, which fails."""
    train_run = _train_run(tmp_path / "run", steps=4, reached=4)
    mine = tmp_path / "mine"
    for folder, command in ((train_run.path / "refine", f"denoise-gan refine {train_run.path} --resume"),
                            (mine, f"denoise-gan refine {train_run.path} -o {mine} --resume")):
        run = RunFolder(folder)
        save_adapt_start(folder)
        run.write_config(RefineConfig(run_dir=str(train_run.path), steps=6))
        run.checkpoints.mkdir()
        run.checkpoint(3).write_bytes(b"")
        assert f"stopped at step 3 of 6; G.safetensors is its network of this moment (`{command}`" in \
            unfinished_note(run.g)


def test_a_run_training_now_is_named(tmp_path: Path) -> None:
    run = _train_run(tmp_path / "run", steps=4, reached=4)  # its steps reached, and yet another process holds it
    with holding_folder(run.path):
        assert "is training in this folder now" in unfinished_note(run.g)
    assert unfinished_note(run.g) == ""


def test_an_adaptation_is_judged_by_the_phase_that_writes_the_file(tmp_path: Path) -> None:
    out = RunFolder(save_adapt_start(tmp_path / "adapt"))
    out.write_config(AdaptConfig(noisy_dir=str(tmp_path), steps=4))
    noise, refine = out.phase("noise"), out.phase("refine")
    noise.checkpoints.mkdir(parents=True)
    noise.checkpoint(1).write_bytes(b"")
    assert "partway through the noise model phase" in unfinished_note(out.f)
    assert f"adapt --resume {out.path}" in unfinished_note(out.f)
    assert "before its denoiser phase began; G.safetensors is still the start model's" in unfinished_note(out.g)
    noise.write_finished(1, 2, "deadline")  # ended by the budget: that is the adaptation's F
    assert unfinished_note(out.f) == ""
    with holding_folder(out.path):  # the refine phase running: F no longer changes
        assert unfinished_note(out.f) == ""
    refine.path.mkdir()
    with holding_folder(refine.path):
        assert "an adaptation is training" in unfinished_note(out.g)


def test_files_outside_a_run_say_nothing(tmp_path: Path) -> None:
    save_adapt_start(tmp_path)
    assert unfinished_note(tmp_path / "G.safetensors") == ""  # no config.json
    (tmp_path / "config.json").write_text("{not json")
    assert unfinished_note(tmp_path / "G.safetensors") == ""  # loading, not this note, says what is wrong there
    (tmp_path / "config.json").write_text(json.dumps({"steps": 9}))  # no command's config
    assert unfinished_note(tmp_path / "G.safetensors") == ""
    assert unfinished_note(tmp_path / "D_noisy.safetensors") == ""


def test_the_denoiser_synth_and_export_say_it(tmp_path: Path) -> None:
    run = _train_run(tmp_path / "run", steps=4, reached=2)
    assert any("stopped at step 2 of 4" in n for n in Denoiser.from_pretrained(run.path, engine="torch").notes)
    assert "stopped at step 2 of 4" in unfinished_note(run.path / "G.onnx")  # the graph of that G
    clean = tmp_path / "clean"
    write_image(clean / "a.png", np.full((24, 24, 3), 128, np.uint8))
    result = cli("synth", clean, "-o", tmp_path / "set", "--noise-model", run.path)
    assert result.exit_code == 0 and "stopped at step 2 of 4" in " ".join(result.stderr.split()), result.stderr
    result = cli("export", run.path, "-o", tmp_path / "g.safetensors")
    assert result.exit_code == 0 and "stopped at step 2 of 4" in " ".join(result.stderr.split()), result.stderr
    result = cli("noise-fit", "--noisy", tmp_path / "set" / "noisy", "--clean", tmp_path / "set" / "clean", "--model",
                 run.path, "-o", tmp_path / "fit")
    assert "stopped at step 2 of 4" in " ".join(result.stderr.split()), result.stderr


@pytest.mark.parametrize("name", ["default", "default-F"])
def test_shipped_models_say_nothing(name: str) -> None:
    from denoise_gan.nets.shipped import shipped_dir

    assert unfinished_note(shipped_dir() / f"{name}.safetensors") == ""


def test_demo_says_what_denoise_says_of_a_run_stopped_partway(tmp_path: Path) -> None:
    """`demo -c RUN` printed its scores without a word where `denoise -c RUN` noted that G was not finished."""
    out = RunFolder(save_adapt_start(tmp_path / "adapt"))
    out.write_config(AdaptConfig(noisy_dir=str(tmp_path), steps=4))
    out.phase("noise").checkpoints.mkdir(parents=True)
    out.phase("noise").checkpoint(1).write_bytes(b"")
    result = cli("demo", "-o", tmp_path / "demo", "-c", out.path, "--engine", "torch")
    assert result.exit_code == 0, result.output
    assert "note:" in result.output and "still the start model's" in result.output


def test_calibrate_and_refine_init_say_it_of_the_g_they_start_from(tmp_path: Path, finished_run: Path,
                                                                   capsys: pytest.CaptureFixture[str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """`calibrate -c RUN` wrote a calibrated copy of a G stopped at step 2 of 4, and `refine --init RUN`
    continued it, without a word, where denoise, demo, synth, export and adapt --from all say so."""
    from denoise_gan.errors import DenoiseGanError
    from denoise_gan.evaluation.calibrate import CalibrateConfig, calibrate
    from denoise_gan.training import refine as refine_module

    run = _train_run(tmp_path / "run", steps=4, reached=2)
    with pytest.raises(DenoiseGanError):  # no photos: refused after the model is read
        calibrate(CalibrateConfig(clean_dir=tmp_path / "none", checkpoint=str(run.path)), tmp_path / "cal")
    assert "stopped at step 2 of 4" in " ".join(capsys.readouterr().err.split())
    monkeypatch.setattr(refine_module, "_refine", lambda *args: tmp_path / "refined")  # only the checks before it
    refine_module.refine(RefineConfig(run_dir=str(finished_run), init=str(run.path), generator=None),
                         tmp_path / "refined")
    assert "stopped at step 2 of 4" in " ".join(capsys.readouterr().err.split())
