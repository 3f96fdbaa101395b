"""RunFolder: a run folder's file names, its config reader's one-line errors and an adapt phase's finished marker;
and the module stays light (no torch, no image libraries), as the inference layer needs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from denoise_gan.config import AdaptConfig, TrainConfig
from denoise_gan.errors import UserError
from denoise_gan.nets.run_folder import CKPT_PATTERN, RunFolder


def test_the_file_names(tmp_path: Path) -> None:
    run = RunFolder(tmp_path)
    assert (run.g, run.f, run.d_clean, run.d_noisy) == tuple(tmp_path / n for n in (
        "G.safetensors", "F.safetensors", "D_clean.safetensors", "D_noisy.safetensors"))
    assert (run.config, run.finished, run.checkpoints) == (tmp_path / "config.json", tmp_path / "finished.json",
                                                           tmp_path / "checkpoints")
    assert run.onnx == tmp_path / "G.onnx"  # the graph beside G, where `denoise` looks for it
    assert run.checkpoint(12) == tmp_path / "checkpoints" / "step_0000012.pt"
    assert CKPT_PATTERN.match(run.checkpoint(12).name)  # the name list_checkpoints reads back
    assert run.phase("refine").g == tmp_path / "refine" / "G.safetensors"
    assert RunFolder(str(tmp_path)) == run and isinstance(RunFolder(str(tmp_path)).path, Path)


def test_a_config_round_trips_as_a_dict_or_typed(tmp_path: Path) -> None:
    run = RunFolder(tmp_path)
    cfg = TrainConfig(steps=7)
    run.write_config(cfg)
    assert run.read_config(TrainConfig) == cfg
    assert run.read_config()["steps"] == 7


def _one_line(exc: pytest.ExceptionInfo[UserError]) -> str:
    message = str(exc.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_a_missing_config_is_a_one_line_error_naming_the_folder(tmp_path: Path) -> None:
    with pytest.raises(UserError) as caught:
        RunFolder(tmp_path).read_config(TrainConfig)
    assert _one_line(caught) == f"{tmp_path}: no config.json"
    with pytest.raises(UserError, match="no adaptation to resume") as caught:
        RunFolder(tmp_path).read_config(AdaptConfig, missing="no adaptation to resume (no config.json)")
    assert _one_line(caught).startswith(f"{tmp_path}: ")


@pytest.mark.parametrize(("text", "why"), [('{"steps": ', "Expecting value"),  # cut short by a crash
                                           ("[1, 2]", "a JSON list, not an object"),
                                           ('{"stepz": 3}', "unknown TrainConfig field(s): stepz")])
def test_a_corrupt_config_is_a_one_line_error_naming_the_file(tmp_path: Path, text: str, why: str) -> None:
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(UserError) as caught:
        RunFolder(tmp_path).read_config(TrainConfig)
    message = _one_line(caught)
    assert message.startswith(f"{tmp_path / 'config.json'}: unreadable run config (") and why in message
    with pytest.raises(UserError, match="unreadable adapt config"):
        RunFolder(tmp_path).read_config(AdaptConfig, what="adapt")


def test_a_field_given_at_the_top_level_is_told_where_it_lives(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"batch_size": 2}')  # adapt's own field; a train run's data.batch_size
    with pytest.raises(UserError) as caught:
        RunFolder(tmp_path).read_config(TrainConfig)
    assert "unknown TrainConfig field(s): batch_size (batch_size is data.batch_size, as a run's" in _one_line(caught)


def test_another_commands_folder_is_named_as_such(tmp_path: Path) -> None:
    """`adapt --resume` on a train run said "unknown AdaptConfig field(s): beta1, ..."."""
    RunFolder(tmp_path).write_config(TrainConfig())
    assert RunFolder(tmp_path).read_config(TrainConfig, what="train") == TrainConfig()
    with pytest.raises(UserError) as caught:
        RunFolder(tmp_path).read_config(AdaptConfig, what="adapt")
    assert _one_line(caught) == f"{tmp_path}: written by `denoise-gan train`, not by `denoise-gan adapt` " \
        f"(`denoise-gan train --resume {tmp_path}` goes on with it)"
    (tmp_path / "config.json").write_text('{"start": "default", "noisy_dir": "n", "stepz": 3}')
    with pytest.raises(UserError, match="unreadable adapt config .*stepz"):  # its own kind, damaged
        RunFolder(tmp_path).read_config(AdaptConfig, what="adapt")
    with pytest.raises(UserError, match="written by `denoise-gan adapt`, not by `denoise-gan train`"):
        RunFolder(tmp_path).read_config(TrainConfig, what="train")


def test_the_finished_marker(tmp_path: Path) -> None:
    phase = RunFolder(tmp_path).phase("noise")
    assert phase.read_finished() is None
    phase.path.mkdir()
    phase.write_finished(57, 300, "deadline")
    assert json.loads(phase.finished.read_text()) == {"step": 57, "steps": 300, "stopped_by": "deadline"}
    assert phase.read_finished() == {"step": 57, "steps": 300, "stopped_by": "deadline"}
    phase.clear_finished()
    assert phase.read_finished() is None and not phase.finished.exists()
    phase.clear_finished()  # nothing to clear: no error
    phase.finished.write_text('{"stopped_by": "steps"}')
    with pytest.raises(UserError, match=r"finished.json: unreadable finished marker \(its step and steps are None"):
        phase.read_finished()


@pytest.mark.parametrize(("marker", "why"), [
    ({"step": 2, "steps": 2}, "stopped by None"),  # adapt --resume: a KeyError traceback
    ({"step": True, "steps": 2, "stopped_by": "steps"}, "True and 2"),  # read "1/2 steps", and complete
    ({"step": -7, "steps": 2, "stopped_by": "steps"}, "-7 and 2"),  # "noise model -7/2 steps", and complete
    ({"step": 2, "steps": 2, "stopped_by": 5}, "stopped by 5"),  # "2/2 steps (5)", and run again
])
def test_an_edited_finished_marker_is_unreadable_not_taken(tmp_path: Path, marker: dict, why: str) -> None:
    phase = RunFolder(tmp_path).phase("noise")
    phase.path.mkdir()
    phase.finished.write_text(json.dumps(marker))
    with pytest.raises(UserError, match="unreadable finished marker") as refused:
        phase.read_finished()
    assert why in str(refused.value)


def test_the_module_imports_no_torch_and_no_image_library() -> None:
    probe = ("import sys\nimport denoise_gan.nets.run_folder, denoise_gan.nets.weight_header\n"
             "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert not set(out.stdout.split()) & {"torch", "cv2", "PIL", "numpy", "safetensors"}


def test_a_refinement_folder_given_to_another_command_names_the_refine_command_that_goes_on(tmp_path: Path) -> None:
    """The advice `denoise-gan refine --resume REF` read REF as the train run and looked for REF/refine."""
    from denoise_gan.config import RefineConfig

    RunFolder(tmp_path / "ref").write_config(RefineConfig(run_dir=str(tmp_path / "my run")))
    with pytest.raises(UserError) as caught:
        RunFolder(tmp_path / "ref").read_config(AdaptConfig, what="adapt")
    assert _one_line(caught).endswith(f"(`denoise-gan refine '{tmp_path / 'my run'}' -o {tmp_path / 'ref'} --resume` "
                                      "goes on with it)")
