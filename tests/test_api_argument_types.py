"""The Python helpers take their documented argument types and refuse others in one line of the package's own
error, not a TypeError or AttributeError from deep inside pathlib or str methods."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from data_tools.images import write_image
from data_tools.noise import NoiseSpecError, parse_noise_spec
from denoise_gan import Denoiser
from denoise_gan.errors import DenoiseGanError
from denoise_gan.evaluation.metrics import evaluate_folders
from denoise_gan.nets.export import export_model


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    write_image(tmp_path / "in" / "a.png", np.zeros((16, 16, 3), np.uint8))
    return tmp_path / "in"


def test_paths_that_are_not_paths_are_one_line(folder: Path, tmp_path: Path) -> None:
    den = Denoiser.from_pretrained("default")
    calls = {
        "inputs must be a path or paths (str or Path), not bytes": lambda: den.denoise_files(
            str(folder / "a.png").encode(), tmp_path / "out"),  # it was iterated: "not int (47)"
        "the output path must be a str or Path, not NoneType": lambda: export_model("default", None),
        "the model to export must be a str or Path, not NoneType": lambda: export_model(None, tmp_path / "f.onnx"),
        "the folder path must be a str or Path, not NoneType": lambda: evaluate_folders(None, folder),
        "the prediction suffix must be text": lambda: evaluate_folders(folder, folder, pred_suffix=None),
    }
    for needle, call in calls.items():
        with pytest.raises(DenoiseGanError) as caught:
            call()
        assert needle in str(caught.value)


@pytest.mark.parametrize("spec", [123, b"gaussian:sigma=5", ["gaussian:sigma=5"]])
def test_a_noise_spec_that_is_not_text_is_one_line(spec: object) -> None:
    with pytest.raises(NoiseSpecError, match="a noise spec is text"):
        parse_noise_spec(spec)


def test_the_export_format_is_taken_in_any_case_as_the_command_takes_it(tmp_path: Path) -> None:
    assert export_model("default", tmp_path / "m.onnx", fmt="ONNX").is_file()


def test_a_folder_whose_one_graph_has_an_upper_case_suffix_loads(tmp_path: Path) -> None:
    """M.ONNX loaded when named, but its folder was "a folder without model.safetensors or G.safetensors"."""
    shutil.copy(Path(__file__).resolve().parents[1] / "checkpoints" / "default.onnx", tmp_path / "M.ONNX")
    den = Denoiser.from_pretrained(tmp_path)
    assert den.engine_name == "onnxruntime"
    image = (np.random.default_rng(0).random((24, 24, 3)) * 255).astype(np.uint8)
    np.testing.assert_array_equal(den(image), Denoiser.from_pretrained(tmp_path / "M.ONNX")(image))


def test_a_strength_or_sigma_of_any_number_type_is_one_setting() -> None:
    """`strength=1` and `strength=1.0` were two settings to a resumed benchmark (its row key is text), so rows
    made with one were computed again with the other; NumPy numbers are taken the same way."""
    from denoise_gan.inference.infer_config import InferConfig

    given = [InferConfig(strength=1, sigma=5), InferConfig(strength=1.0, sigma=np.float32(5.0)),
             InferConfig(strength=np.int64(1), sigma=np.int16(5))]
    assert {(f"{c.strength}", f"{c.sigma}") for c in given} == {("1.0", "5.0")}
    assert all(type(c.strength) is float and type(c.sigma) is float for c in given)


HUGE = 10**5000  # past the 4300 digits Python writes as text, and past a float's range


def _huge_number_calls(tmp_path: Path) -> dict[str, object]:
    from denoise_gan import NoiseModel, OutputOptions
    from denoise_gan.config import TrainConfig
    from denoise_gan.inference.infer_config import InferConfig

    den = Denoiser.from_pretrained("default")
    image = np.zeros((32, 32, 3), np.uint8)
    return {
        "model name": lambda: Denoiser.from_pretrained(HUGE),
        "threads": lambda: Denoiser.from_pretrained(threads=HUGE),
        "negative threads": lambda: Denoiser.from_pretrained(threads=-HUGE),
        "tile": lambda: Denoiser.from_pretrained(tile=-HUGE),
        "overlap": lambda: Denoiser.from_pretrained(overlap=-HUGE),
        "batch size": lambda: Denoiser.from_pretrained(batch_size=-HUGE),
        "ensemble": lambda: Denoiser.from_pretrained(ensemble=HUGE),
        "precision": lambda: Denoiser.from_pretrained(precision=HUGE),
        "device": lambda: Denoiser.from_pretrained(device=HUGE),
        "engine": lambda: Denoiser.from_pretrained(engine=HUGE),
        "strength": lambda: den(image, strength=HUGE),
        "sigma": lambda: den(image, sigma=-HUGE),
        "config strength": lambda: InferConfig(strength=10**400),  # within str's limit, past float's
        "config sigma": lambda: InferConfig(sigma=HUGE),
        "out_dir": lambda: den.denoise_files(tmp_path / "a.png", HUGE),
        "quality": lambda: OutputOptions(quality=HUGE),
        "suffix": lambda: OutputOptions(suffix=HUGE),
        "noise model name": lambda: NoiseModel.from_pretrained(HUGE),
        "noise model seed": lambda: NoiseModel.from_pretrained().apply(image, seed=HUGE),
        "training steps": lambda: TrainConfig(steps=HUGE),
        "training lr": lambda: TrainConfig(lr=HUGE),
    }


def test_a_huge_integer_anywhere_is_refused_in_one_line(tmp_path: Path) -> None:
    """``math.isfinite(10**400)`` raised OverflowError, and the refusal of an int past 4300 digits failed itself
    (str() of it raises ValueError): each was a traceback where a one-line refusal belonged."""
    for what, call in _huge_number_calls(tmp_path).items():
        try:
            call()
        except DenoiseGanError as refused:
            message = str(refused)
        except Exception as other:  # noqa: BLE001 - named in the failure
            pytest.fail(f"{what}: {type(other).__name__}: {other}")
        else:
            pytest.fail(f"{what}: accepted")
        assert "\n" not in message and len(message) < 300, what


def test_a_torch_device_is_taken_as_its_name() -> None:
    torch = pytest.importorskip("torch")
    den = Denoiser.from_pretrained("default", device=torch.device("cpu"))
    assert den(np.zeros((32, 32, 3), np.uint8)).shape == (32, 32, 3)


def test_a_huge_number_as_text_is_read_or_refused_in_one_short_line() -> None:
    """``--tile`` of 5,000 digits was a traceback (int() of text past 4300 digits raises); a noise spec's
    refusal quoted all 5,000."""
    from denoise_gan.inference.infer_config import tile_size

    assert tile_size("9" * 5000) >= 2**63  # a huge tile: the whole image, as tile=10**400 is
    assert tile_size("0064") == 64
    with pytest.raises(NoiseSpecError) as caught:
        parse_noise_spec("gaussian:sigma=" + "9" * 5000)
    assert len(str(caught.value)) < 400 and "…" in str(caught.value)
