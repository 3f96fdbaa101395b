"""The Python API: ``Denoiser`` on every supported image type, the same pixels as the engine, level settings
routed to level-aware models and refused by blind ones, and the README's example run as written."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from denoise_gan import Denoiser, OutputOptions
from denoise_gan.errors import UserError, WeightsError
from denoise_gan.inference.infer_config import InferConfig
from denoise_gan.inference.tiling import denoise_array
from denoise_gan.nets.weights import load_generator, save_generator
from helpers import TINY_LEVEL, noise_image, random_level_net

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def level_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("level") / "level.safetensors"
    save_generator(path, random_level_net(), TINY_LEVEL)
    return path


@pytest.fixture(scope="module", params=["unet", "level"])
def model(request: pytest.FixtureRequest, weights: Path, level_weights: Path) -> Path:
    return weights if request.param == "unet" else level_weights


def test_uint_arrays_match_the_engine(model: Path) -> None:
    net = load_generator(model)[0]
    tile = getattr(net, "min_tile", 32)  # the level-aware net refuses smaller tiles
    den = Denoiser.from_pretrained(model, device="cpu", tile=tile, engine="torch")
    for image in (noise_image(140, 150), noise_image(40, 50, 1)[..., 0], noise_image(133, 145, 4, np.uint16)):
        out = den(image)
        assert out.shape == image.shape and out.dtype == image.dtype
        np.testing.assert_array_equal(out, denoise_array(net, image, InferConfig(tile=tile, device="cpu")))


def test_a_gray_photo_stored_as_rgb_comes_back_gray(level_weights: Path) -> None:
    """R = G = B in (a black-and-white photo saved as RGB): denoised as the gray photo is, the same in all three
    channels (the colour net gave the channels up to 15 levels apart); in one batch with a colour photo too."""
    den = Denoiser.from_pretrained(level_weights, device="cpu", tile=0, engine="torch")
    gray = noise_image(70, 90, 1)[..., 0]
    out = den(np.dstack([gray] * 3))
    np.testing.assert_array_equal(out, np.dstack([den(gray)] * 3))
    colour = noise_image(70, 90, 3, seed=5)
    both = den(torch.from_numpy(np.stack([np.dstack([gray] * 3), colour])).permute(0, 3, 1, 2).contiguous())
    np.testing.assert_array_equal(both[0].permute(1, 2, 0).numpy(), out)
    np.testing.assert_array_equal(both[1].permute(1, 2, 0).numpy(), den(colour))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_float_arrays_keep_type_and_range(weights: Path, dtype: type) -> None:
    den = Denoiser.from_pretrained(weights, device="cpu")
    image16 = noise_image(24, 40, 3, np.uint16)
    image = (image16 / 65535.0).astype(dtype)
    out = den(image)
    assert out.dtype == dtype and out.shape == image.shape and 0 <= out.min() and out.max() <= 1
    expected = den(image16) / 65535.0
    np.testing.assert_allclose(out.astype(np.float64), expected, atol=2e-3 if dtype == np.float16 else 1e-6)
    gray = den(image[..., 0])
    assert gray.shape == image.shape[:2] and gray.dtype == dtype


def test_float_out_of_range_is_clipped_and_nan_refused(weights: Path) -> None:
    den = Denoiser.from_pretrained(weights, device="cpu")
    image = np.linspace(-0.5, 1.5, 24 * 24 * 3, dtype=np.float32).reshape(24, 24, 3)
    np.testing.assert_array_equal(den(image), den(np.clip(image, 0, 1)))
    image[0, 0, 0] = np.nan
    with pytest.raises(UserError, match="NaN"):
        den(image)
    photo = noise_image(24, 24).astype(np.float32)  # 0-255 floats: clipped, they came back mostly white
    with pytest.raises(UserError, match=r"spans 0\.\.255.*divide a 0-255 image by 255\) or pass uint8/uint16$"):
        den(photo)
    with pytest.raises(UserError, match="spans -1"):
        den(photo / 127.5 - 1.0)  # a -1..1 tensor's scale
    with pytest.raises(UserError, match="spans .* or pass a uint8 tensor$"):  # not uint16, which a tensor is refused as
        den(torch.from_numpy(photo).permute(2, 0, 1))


@pytest.mark.parametrize("channels", [2, 4])
def test_a_float_images_alpha_comes_back_exactly(weights: Path, channels: int) -> None:
    den = Denoiser.from_pretrained(weights, device="cpu")
    image = np.random.default_rng(0).random((24, 24, channels))  # float64: finer than 16 bits
    np.testing.assert_array_equal(den(image)[..., -1], image[..., -1])
    tensor = torch.from_numpy(image).permute(2, 0, 1)
    assert torch.equal(den(tensor)[-1], tensor[-1]) and torch.equal(den(tensor[None])[:, -1], tensor[None, -1])
    image[..., -1] = np.linspace(-0.5, 1.5, 24 * 24).reshape(24, 24)  # out of range: clipped, as colour is
    np.testing.assert_array_equal(den(image)[..., -1], np.clip(image[..., -1], 0, 1))
    tensor = torch.from_numpy(image).permute(2, 0, 1)
    assert torch.equal(den(tensor)[-1], tensor[-1].clamp(0, 1))


def test_tensors_keep_type_shape_and_match_arrays(model: Path) -> None:
    den = Denoiser.from_pretrained(model, device="cpu")
    image = noise_image(24, 40)
    as_float = torch.from_numpy(image).permute(2, 0, 1).float() / 255
    out = den(as_float)
    assert out.dtype == torch.float32 and out.shape == as_float.shape
    np.testing.assert_allclose(out.permute(1, 2, 0).numpy() * 255, den(image).astype(np.float32), atol=0.51)
    batch = torch.stack([as_float, as_float.flip(-1)])
    outs = den(batch)
    assert outs.shape == batch.shape
    torch.testing.assert_close(outs[0], out, atol=2e-5, rtol=0)  # batched convolutions round differently
    as_uint8 = torch.from_numpy(image).permute(2, 0, 1)
    out8 = den(as_uint8)
    assert out8.dtype == torch.uint8
    np.testing.assert_array_equal(out8.permute(1, 2, 0).numpy(), den(image))
    gray = den(as_float[0])
    assert gray.shape == as_float.shape[1:]


def test_a_channels_last_tensor_is_refused_with_the_permute_that_fixes_it(weights: Path) -> None:
    den = Denoiser.from_pretrained(weights, device="cpu")
    hwc = torch.from_numpy(noise_image(24, 40)).float() / 255  # 24x40x3, as an array would be
    with pytest.raises(UserError, match=re.escape("got shape (24, 40, 3); it looks HxWxC: pass .permute(2, 0, 1)")):
        den(hwc)
    with pytest.raises(UserError, match=re.escape("pass .permute(0, 3, 1, 2)")):
        den(hwc[None])
    assert den(hwc.permute(2, 0, 1)).shape == (3, 24, 40)


def test_denoise_files_takes_one_path_as_well_as_a_list(weights: Path, tmp_path: Path) -> None:
    from data_tools.images import write_image

    write_image(tmp_path / "in" / "a.png", noise_image(24, 24))
    den = Denoiser.from_pretrained(weights, device="cpu")
    summary = den.denoise_files(str(tmp_path / "in"), tmp_path / "out")
    assert (tmp_path / "out" / "a.png").is_file() and summary.count("done") == 1


def test_level_settings_reach_a_level_aware_model(level_weights: Path) -> None:
    den = Denoiser.from_pretrained(level_weights, device="cpu")
    assert den.level_aware
    image = noise_image(128, 136)  # no side under the smallest tile, which a smaller image is padded to
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    net = load_generator(level_weights)[0]
    for kwargs in ({}, {"strength": 0.5}, {"sigma": 30.0}):
        with torch.no_grad():
            expected = net(x, **kwargs)[0].permute(1, 2, 0).numpy() * 255
        np.testing.assert_allclose(den(image, **kwargs).astype(np.float32), np.clip(expected, 0, 255), atol=0.51)
    assert not np.array_equal(den(image, strength=0.0), den(image, sigma=50.0))
    with pytest.raises(UserError, match="strength"):
        den(image, strength=-1)


def test_a_blind_model_refuses_level_settings(weights: Path) -> None:
    den = Denoiser.from_pretrained(weights, device="cpu")
    assert not den.level_aware
    with pytest.raises(UserError, match="blind"):
        den(noise_image(16, 16), strength=0.5)
    with pytest.raises(UserError, match="blind"):
        den(noise_image(16, 16), sigma=10)


def test_bad_inputs_are_one_line_errors(weights: Path, tmp_path: Path) -> None:
    den = Denoiser.from_pretrained(weights, device="cpu")
    for bad in ([[1, 2]], np.zeros((4, 4, 5), np.uint8), np.zeros((4, 4), np.int32), torch.zeros(4, dtype=torch.int64)):
        with pytest.raises(UserError):
            den(bad)
    # a 0-d float array was "expected a uint8 or uint16 image array, got uint16"; a sparse tensor a TypeError
    for bad, needle in ((np.array(0.5), "got shape ()"), (torch.rand(3, 8, 8).to_sparse(), "pass .to_dense()")):
        with pytest.raises(UserError) as caught:
            den(bad)
        assert needle in str(caught.value)
    with pytest.raises(UserError, match="tile"):
        Denoiser.from_pretrained(weights, tile="big")
    with pytest.raises(WeightsError, match="no such weight file"):
        Denoiser.from_pretrained(tmp_path / "missing.safetensors")
    os.mkfifo(tmp_path / "pipe.safetensors")  # there, but no file: it was "no such weight file"
    with pytest.raises(WeightsError, match="not a regular file"):
        Denoiser.from_pretrained(tmp_path / "pipe.safetensors")
    with pytest.raises(WeightsError, match="no shipped model"):
        Denoiser.from_pretrained("nonexistent")


@pytest.mark.parametrize(("settings", "needle"), [
    ({"overlap": 1.5}, "overlap must be a whole number"), ({"overlap": float("nan")}, "overlap must be"),
    ({"overlap": "32"}, "overlap must be"), ({"batch_size": "4"}, "^batch_size must be"),
    ({"batch_size": 2.5}, "^batch_size must be"), ({"tile": True}, "tile must be"),
    ({"ensemble": "no"}, "ensemble must be True or False"), ({"overlap": -8}, "overlap must be >= 0, not -8"),
    ({"batch_size": 0}, "^batch_size must be >= 1, not 0"),
])
def test_wrongly_typed_settings_are_refused_at_construction(weights: Path, settings: dict, needle: str) -> None:
    """They passed, then failed in the first call as a plain TypeError (or, "no", turned the ensemble on)."""
    with pytest.raises(UserError, match=needle):
        Denoiser.from_pretrained(weights, device="cpu", **settings)


def test_numpy_integers_are_taken_as_sizes(weights: Path) -> None:
    den = Denoiser.from_pretrained(weights, device="cpu", tile=np.int64(64), overlap=np.int32(8),
                                   batch_size=np.uint8(2), ensemble=np.bool_(False))
    assert (den.settings.tile, den.settings.overlap, den.settings.batch_size) == (64, 8, 2)
    assert type(den.settings.overlap) is int and den(np.zeros((70, 70, 3), np.uint8)).shape == (70, 70, 3)


def test_shipped_default_loads_and_has_metadata() -> None:
    den = Denoiser.from_pretrained()
    assert den.config is not None and den.weights is not None and den.weights.name == "default.safetensors"
    assert "default.safetensors" in repr(den)


def readme_python_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, "the README's Python API section has no python example"
    return blocks[0]


def test_readme_example_runs_as_written() -> None:
    namespace: dict[str, object] = {}
    exec(compile(readme_python_example(), "README.md (Python API)", "exec"), namespace)
    assert any(isinstance(v, Denoiser) for v in namespace.values())


def test_from_pretrained_refuses_a_noise_model(tmp_path: Path) -> None:
    """The Python entry point refuses F (it would add noise), as `denoise -c F.safetensors` does."""
    from denoise_gan.config import GeneratorConfig
    from denoise_gan.errors import WeightsError
    from denoise_gan.nets.registry import build_generator
    from denoise_gan.nets.weights import save_generator

    cfg = GeneratorConfig(arch="noise", width=4, depth=1)
    save_generator(tmp_path / "F.safetensors", build_generator(cfg), cfg, {"role": "F clean->noisy"})
    with pytest.raises(WeightsError, match="noise model"):
        Denoiser.from_pretrained(tmp_path / "F.safetensors")


def test_the_constructor_refuses_a_name_and_a_noise_model_in_one_line() -> None:
    """Denoiser("default") was an AttributeError traceback; Denoiser(F) returned noisier images, though the
    README says a noise model is refused by its architecture."""
    with pytest.raises(UserError, match=re.escape("Denoiser.from_pretrained('default')")):
        Denoiser("default")
    with pytest.raises(UserError, match="Denoiser.from_pretrained"):
        Denoiser(Path("checkpoints/default.safetensors"))
    with pytest.raises(UserError, match="got int"):
        Denoiser(3)
    from denoise_gan.nets.shipped import shipped_part

    noise_model = load_generator(shipped_part("default", "F"))[0]
    with pytest.raises(UserError, match="is a noise model"):
        Denoiser(noise_model, device="cpu")


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # numpy's note that np.matrix is discouraged
def test_an_array_subclass_is_denoised_as_a_plain_array() -> None:
    """np.matrix (2-D under any indexing) was a broadcast ValueError traceback."""
    den = Denoiser(random_level_net(), device="cpu", tile=0)
    gray = noise_image(24, 24)[..., 0]
    out = den(np.asmatrix(gray))
    assert type(out) is np.ndarray and out.shape == gray.shape
    np.testing.assert_array_equal(out, den(gray))


def test_denoise_files_takes_any_iterable_and_refuses_wrong_types_in_one_line(tmp_path: Path) -> None:
    """A generator of inputs was TypeError "no len()"; OutputOptions(quality="90") a TypeError deep inside."""
    from data_tools.images import write_image
    from denoise_gan.inference.file_plan import OutputOptions

    write_image(tmp_path / "in" / "a.png", noise_image(16, 16))
    den = Denoiser(random_level_net(), device="cpu", tile=0)
    summary = den.denoise_files((p for p in [tmp_path / "in" / "a.png"]), tmp_path / "out")
    assert [r.status for r in summary.results] == ["done"]
    with pytest.raises(UserError, match="out_dir must be a path"):
        den.denoise_files([tmp_path / "in"], None)
    for inputs in ([b"a.png"], [tmp_path / "in", 5]):  # were TypeErrors from deep inside the planning
        with pytest.raises(UserError, match="inputs must be paths"):
            den.denoise_files(inputs, tmp_path / "out2")
    for inputs in (None, 5):  # were TypeErrors: not iterable
        with pytest.raises(UserError, match=f"inputs must be a path or paths .*not {type(inputs).__name__}"):
            den.denoise_files(inputs, tmp_path / "out2")
    with pytest.raises(UserError, match="options must be an OutputOptions, not dict"):  # was an AttributeError
        den.denoise_files([tmp_path / "in"], tmp_path / "out2", {"ext": "png"})
    for bad in ({"quality": "90"}, {"ext": None}, {"suffix": 1}, {"quality": 50.5}, {"overwrite": "yes"}):
        with pytest.raises(UserError, match="OutputOptions"):
            OutputOptions(**bad)
    quality = OutputOptions(quality=np.int64(90)).quality  # a NumPy integer is a whole number too
    assert quality == 90 and type(quality) is int


def test_a_users_module_that_changes_the_shape_is_refused_in_one_line() -> None:
    """A bare Conv2d's tuple stride was read as the network's (TypeError); a module returning one channel for RGB
    was silently copied to all three, and one returning a smaller image failed in a numpy broadcast."""
    from torch import nn

    image = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    assert Denoiser(nn.Conv2d(3, 3, 3, padding=1))(image).shape == image.shape
    for module in (nn.Conv2d(3, 1, 3, padding=1), nn.Conv2d(3, 3, 3)):
        with pytest.raises(UserError, match="a denoiser must return its input's shape"):
            Denoiser(module)(image)


def test_a_users_half_or_double_module_denoises_as_its_float_twin_and_a_tuple_output_is_one_line() -> None:
    """net.half() (a common try at saving memory) failed at the first image with torch's dtype RuntimeError."""
    import copy

    import torch
    from torch import nn

    image = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    torch.manual_seed(0)
    net = nn.Conv2d(3, 3, 3, padding=1)
    expected = Denoiser(copy.deepcopy(net))(image)
    np.testing.assert_array_equal(Denoiser(copy.deepcopy(net).double())(image), expected)
    half = Denoiser(copy.deepcopy(net).half())(image)  # its weights rounded to fp16, then run in fp32
    assert np.abs(half.astype(int) - expected).max() <= 1

    class WithExtras(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            y = self.conv(x)
            return y, y.mean()

    with pytest.raises(UserError, match="WithExtras returned a tuple; a denoiser must return one tensor"):
        Denoiser(WithExtras())(image)


def test_from_pretrained_refuses_an_unknown_setting_before_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    """tiles=128 (or config=...) raised a plain TypeError after the model had loaded."""
    import inspect

    from denoise_gan.inference import api

    loaded = []
    monkeypatch.setattr(api, "load_backend", lambda *a, **k: loaded.append(a))
    with pytest.raises(UserError, match="unknown setting.*'tiles'"):
        Denoiser.from_pretrained("default", tiles=128)
    assert not loaded
    keywords = {p.name for p in inspect.signature(Denoiser).parameters.values() if p.kind is p.KEYWORD_ONLY}
    assert api.SETTINGS == keywords - {"config", "meta", "weights"}  # every inference keyword, and only those
    # every field of InferConfig but a call's level (strength, sigma: keywords of each call) is one of them: a field
    # added to InferConfig alone was recorded by the benchmark and reachable from no keyword or option
    assert api.SETTINGS == {f.name for f in dataclasses.fields(InferConfig)} - {"strength", "sigma"}


def test_an_array_is_denoised_while_another_thread_is_still_importing_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """``sys.modules`` holds torch from the start of its import, before it defines ``Tensor``: an ONNX Runtime
    call made then (a server that loads a torch model in another thread) raised AttributeError."""
    import sys
    import types

    den = Denoiser.from_pretrained("default", engine="onnxruntime", device="cpu")
    image = noise_image(40, 40)
    expected = den(image)
    monkeypatch.setitem(sys.modules, "torch", types.ModuleType("torch"))  # half made: no Tensor yet
    assert np.array_equal(den(image), expected)


def test_denoise_files_denoises_every_file_unless_asked_to_shard(weights: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A script launched by torchrun that calls it from one rank (``if rank == 0``) got that rank's share of the
    files, then waited for ranks that never came (here, with no rendezvous address, it refused instead)."""
    from data_tools.images import write_image

    for i in range(4):
        write_image(tmp_path / "in" / f"a{i}.png", noise_image(24, 24, seed=i))
    for var, value in (("WORLD_SIZE", "2"), ("RANK", "0"), ("LOCAL_RANK", "0")):
        monkeypatch.setenv(var, value)
    summary = Denoiser.from_pretrained(weights, device="cpu").denoise_files(tmp_path / "in", tmp_path / "out")
    assert summary.count("done") == 4 and len(list((tmp_path / "out").iterdir())) == 4
    assert any("one of a torchrun launch's 2 and denoised every file; shard=True" in n for n in summary.notes)
    with pytest.raises(UserError, match="MASTER_ADDR is not set"):  # the command's sharding, asked for
        Denoiser.from_pretrained(weights, device="cpu").denoise_files(tmp_path / "in", tmp_path / "o2", shard=True)


def test_a_callers_autocast_does_not_reach_the_torch_engine(level_weights: Path) -> None:
    """Inside a training loop's bf16 autocast, an fp32 torch engine ran in bf16: a third of the pixels changed."""
    den = Denoiser.from_pretrained(level_weights, engine="torch", device="cpu")
    image = noise_image(64, 64)
    expected = den(image)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert np.array_equal(den(image), expected)


def test_no_model_named_means_the_shipped_default_whatever_the_working_folder_holds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `default` folder (or file) where the program ran stood in for the shipped model: `from_pretrained()` and
    `denoise` without -c failed on it, or loaded whatever weights it held."""
    from typer.testing import CliRunner

    from data_tools.images import write_image
    from denoise_gan import NoiseModel
    from denoise_gan.cli.app import app

    (tmp_path / "default").mkdir()
    (tmp_path / "default-F").write_bytes(b"not weights")
    write_image(tmp_path / "a.png", noise_image(40, 40))
    monkeypatch.chdir(tmp_path)
    assert Denoiser.from_pretrained().level_aware
    assert NoiseModel.from_pretrained()(noise_image(24, 24), seed=1).shape == (24, 24, 3)
    result = CliRunner().invoke(app, ["denoise", "a.png", "-o", "out"])
    assert result.exit_code == 0 and (tmp_path / "out" / "a.png").is_file(), result.output
    with pytest.raises(WeightsError, match="default: a folder without"):  # named, it is the folder
        Denoiser.from_pretrained("default")


def test_a_wrapped_net_put_back_in_training_mode_is_still_run_for_inference() -> None:
    """README: call `net.train()` before training it further; a validation call made then ran the net in training
    mode (other pixels, its BatchNorm statistics updated by the denoising). Its mode is kept as the caller set it."""
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.Conv2d(8, 3, 3, padding=1))
    den = Denoiser(net, device="cpu", tile=0)
    image = noise_image(32, 32)
    expected = den(image)
    net.train()
    stats = net[1].running_mean.clone()
    assert np.array_equal(den(image), expected)
    assert torch.equal(net[1].running_mean, stats) and net.training
    net[1].eval()  # a BatchNorm the caller froze inside a net in training stays frozen (a reset by net.train(True))
    den(image)
    assert net.training and not net[1].training and net[0].training


def test_calls_from_two_threads_leave_a_training_net_as_the_caller_left_it() -> None:
    """Each call saved the modes and put them back: the call entering second saved the eval mode the first had
    set, so the first's restore ran the second's BatchNorm in training mode (its statistics updated by the
    denoising) and the second's left the net in eval mode."""
    import threading
    import time

    from torch import nn

    class Overlap(nn.Module):  # both calls inside the net at once; the one that entered second leaves last
        def __init__(self) -> None:
            super().__init__()
            self.entered, self.both = 0, threading.Barrier(2)
            self.lock = threading.Lock()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            with self.lock:
                self.entered += 1
                second = self.entered % 2 == 0
            self.both.wait(timeout=30)
            if second:
                time.sleep(0.3)
            return x

    torch.manual_seed(0)
    net = nn.Sequential(Overlap(), nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.Conv2d(8, 3, 3, padding=1))
    den = Denoiser(net, device="cpu", tile=0)
    image = noise_image(32, 32)
    net.train()
    stats = net[2].running_mean.clone()
    outputs: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: outputs.append(den(image))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outputs) == 2 and np.array_equal(outputs[0], outputs[1])
    assert torch.equal(net[2].running_mean, stats) and net.training and net[2].training


def test_a_long_lived_denoisers_notes_stay_bounded(level_weights: Path) -> None:
    """A server passing users' σ kept one note per distinct σ above the cap, for ever."""
    den = Denoiser.from_pretrained(level_weights, device="cpu")
    image = noise_image(16, 16)
    for sigma in range(101, 131):
        den(image, sigma=float(sigma))
    assert len(den.notes) == 1 and "σ 130 is above" in den.notes[0], den.notes


def test_each_threads_notes_are_of_its_own_last_call(level_weights: Path) -> None:
    """A server's threads share one Denoiser: a plain call in another thread cleared the σ-cap note of this one's
    call, which then read no note (or another thread's)."""
    import pickle
    import threading

    den = Denoiser.from_pretrained(level_weights, device="cpu")
    image = noise_image(16, 16)
    den(image, sigma=150.0)
    theirs: list[list[str]] = []
    other = threading.Thread(target=lambda: theirs.append((den(image), den.notes)[1]))
    other.start()
    other.join()
    assert theirs == [[]] and len(den.notes) == 1 and "σ 150 is above" in den.notes[0], den.notes
    assert pickle.loads(pickle.dumps(den)).notes == []  # a copy in a pool's worker: its own calls' notes


def test_a_uint16_array_of_narrow_values_is_noted_as_a_file_of_them_is(weights: Path) -> None:
    """8-bit values in a uint16 array came back unchanged without a word (a blind model sees almost no noise on
    the 16-bit scale); a file holding them is cautioned. A full-range array, and the next call, have no note."""
    den = Denoiser.from_pretrained(weights, device="cpu")
    narrow = noise_image(16, 16).astype(np.uint16)
    den(narrow)
    assert any("16-bit samples all at most" in note for note in den.notes), den.notes
    den(narrow * 257)
    assert not any("16-bit samples" in note for note in den.notes), den.notes


def test_a_denoisers_notes_name_its_keywords_not_the_commands_flags(weights: Path) -> None:
    """Denoiser(overlap=150) was told of `--overlap 150`, a flag it has no use for; denoise_files' notes were
    already reworded."""
    den = Denoiser.from_pretrained(weights, device="cpu", tile=256, overlap=150)
    den(noise_image(300, 300))
    assert any(note.startswith("an overlap of 150 px is more than half a 256 px tile") for note in den.notes), den.notes
    assert not any("--" in note for note in den.notes), den.notes


def test_an_unsharded_denoise_files_ignores_a_malformed_world_size(weights: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """torchrun's variables matter only to a call asked to share the files out."""
    from data_tools.images import write_image

    write_image(tmp_path / "in" / "a.png", noise_image(24, 24))
    monkeypatch.setenv("WORLD_SIZE", "")
    den = Denoiser.from_pretrained(weights, device="cpu")
    assert den.denoise_files(tmp_path / "in", tmp_path / "out").count("done") == 1
    with pytest.raises(UserError):
        den.denoise_files(tmp_path / "in", tmp_path / "o2", shard=True)


def test_the_apis_errors_name_its_keywords_and_the_commands_keep_their_flags(tmp_path: Path) -> None:
    """Python callers were told to `use --tile 128` and `--skip-existing or --overwrite`; the command line, which
    runs through the same checks, still names its flags."""
    from typer.testing import CliRunner

    from data_tools.images import write_image
    from denoise_gan.cli.app import app

    with pytest.raises(UserError, match=r"use tile=128 or more, 0 or auto$"):
        Denoiser.from_pretrained("default", tile=64)
    with pytest.raises(UserError, match=r"^threads must be"):
        Denoiser.from_pretrained("default", threads=-1)
    from denoise_gan import NoiseModel

    for bad, said in (({"threads": -1}, r"^threads must be"),
                      ({"threads": 10_000}, r"^threads=10000: this process may use")):
        with pytest.raises(UserError, match=said):  # NoiseModel's too ("--threads 10000: this process may use ...")
            NoiseModel.from_pretrained("default-F", **bad)
    write_image(tmp_path / "in" / "a.png", noise_image(24, 24))
    den = Denoiser.from_pretrained("default")
    den.denoise_files(tmp_path / "in", tmp_path / "out")
    again = den.denoise_files(tmp_path / "in", tmp_path / "out")
    assert again.results[0].message == ("output exists (use OutputOptions(skip_existing=True) or "
                                        "OutputOptions(overwrite=True))")  # `skip_existing=True` was a TypeError
    assert den.denoise_files(tmp_path / "in", tmp_path / "out", OutputOptions(skip_existing=True)).count("skipped") == 1
    with pytest.raises(UserError, match="choose another out_dir or OutputOptions's suffix"):
        den.denoise_files(tmp_path / "in", tmp_path / "in")
    for given, said in (({"quality": 0}, "OutputOptions.quality must be 1-100"),  # the fields, where the
                        ({"ext": "gif"}, "unknown OutputOptions.ext 'gif'"),  # command's flags were named
                        ({"skip_existing": True, "overwrite": True}, "OutputOptions.skip_existing and "
                                                                     "OutputOptions.overwrite contradict")):
        with pytest.raises(UserError, match=f"^{re.escape(said)}"):
            OutputOptions(**given)
    from denoise_gan.inference.api_words import python_terms

    assert python_terms("--suffix '_dn' is taken") == "OutputOptions(suffix='_dn') is taken"  # a quoted value
    with pytest.raises(UserError) as refused:  # a flag that ends the sentence is the keyword too
        Denoiser.from_pretrained("default").denoise_files(tmp_path / "in" / "a.png", tmp_path / "in" / "a.png",
                                                          OutputOptions(overwrite=True))
    assert str(refused.value).endswith("would overwrite the input file; choose another out_dir")
    result = CliRunner().invoke(app, ["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "o2"), "--tile", "64"])
    assert result.exit_code == 2 and "use --tile 128 or more" in result.output, result.output
    result = CliRunner().invoke(app, ["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "out")])
    assert "use --skip-existing or --overwrite" in result.output, result.output


def test_every_keyword_of_the_api_that_is_a_flag_of_the_command_is_reworded() -> None:
    """The flags reworded for Python callers were a hand list beside Denoiser's keywords: a setting added to
    Denoiser (and to SETTINGS, which a test holds to its signature) kept its --flag in the API's messages."""
    import dataclasses
    import inspect

    from denoise_gan.inference.api_words import python_terms

    keywords = {p.name for method in (Denoiser, Denoiser.from_pretrained, Denoiser.__call__)
                for p in inspect.signature(method).parameters.values() if p.kind is not p.VAR_KEYWORD}
    keywords |= {f.name for f in dataclasses.fields(OutputOptions)}
    flags = keywords - {"self", "model", "name_or_path", "image", "config", "meta", "weights"}
    assert {"engine", "threads", "strength", "sigma", "tile", "skip_existing"} <= flags
    left = [f"--{k.replace('_', '-')}" for k in sorted(flags) if "--" in python_terms(f"use --{k.replace('_', '-')}")]
    assert not left, f"flags an API message would keep: {left}"


def test_the_paths_an_api_error_quotes_are_not_reworded(tmp_path: Path) -> None:
    """Rewording the command's flags as keywords reached into the paths a message quotes: a missing
    `w/--overwrite.png` was said to be `w/OutputOptions(overwrite=True).png`, `x -o/a.png` `x out_dir/a.png`."""
    from denoise_gan.inference.api_words import python_terms

    den = Denoiser.from_pretrained("default")
    for name in ("--overwrite.png", "x -o/a.png", "--tile 64.png"):
        missing = tmp_path / "w" / name
        with pytest.raises(UserError) as refused:
            den.denoise_files(missing, tmp_path / "out")
        assert str(refused.value).startswith(f"{missing}: no such file"), str(refused.value)
        with pytest.raises(UserError) as refused:
            den.denoise_files([str(missing)], tmp_path / "out")
        assert str(refused.value).startswith(f"{missing}: no such file"), str(refused.value)
    with pytest.raises(WeightsError) as refused:
        Denoiser.from_pretrained(str(tmp_path / "--tile 64.safetensors"))
    assert f"{tmp_path}/--tile 64.safetensors: no such weight file" in str(refused.value)
    from data_tools.images import write_image

    write_image(tmp_path / "in" / "--overwrite.png", noise_image(24, 24))
    den.denoise_files(tmp_path / "in", tmp_path / "out -o")
    again = den.denoise_files(tmp_path / "in", tmp_path / "out -o")
    assert again.results[0].output == str(tmp_path / "out -o" / "--overwrite.png")
    assert "OutputOptions(overwrite=True)" in again.results[0].message  # the message's own flags still are
    assert python_terms("a/--tile 64 and --tile 64", ["a/--tile 64"]) == "a/--tile 64 and tile=64"
    assert python_terms("so --strength/--sigma cannot apply") == "so strength/sigma cannot apply"  # no path there
    assert python_terms("in/--overwrite.png and x -o/a.png: use --overwrite.") == \
        "in/--overwrite.png and x -o/a.png: use OutputOptions(overwrite=True)."  # files found in a folder given
    said = "in/--tile.png: missing; 0: cannot"
    assert python_terms(said, ["in/--tile.png", "0"]) == said
    assert python_terms("out: use --tile 128", ["tile", "."]) == "out: use tile=128"  # not paths a flag is in
    assert python_terms("`x /a/--tile.st --overwrite` then --overwrite", ["/a/--tile.st"]) == \
        "`x /a/--tile.st --overwrite` then OutputOptions(overwrite=True)"


def test_a_denoisers_provenance_keywords_are_checked_where_given(tmp_path: Path) -> None:
    """A str weights path, a dict config or a list meta were stored and broke repr() later (an AttributeError in
    a notebook's echo), or the constructor with a TypeError of dict()'s."""
    net = torch.nn.Conv2d(3, 3, 3, padding=1)
    for given, said in (({"config": {"arch": "level"}}, "config must be a GeneratorConfig (or None), not dict"),
                        ({"meta": [1, 2]}, "meta must be a dict of the weight file's metadata (or None), not list"),
                        ({"meta": "abc"}, "meta must be a dict"),
                        ({"weights": 3}, "weights must be the path of the weight file (or None), not int")):
        with pytest.raises(UserError, match=f"^{re.escape(said)}"):
            Denoiser(net, **given)
    den = Denoiser(net, weights=str(tmp_path / "x.safetensors"), meta={"a": "b"})
    assert den.weights == tmp_path / "x.safetensors" and "Denoiser(x.safetensors" in repr(den)


def test_a_home_relative_path_is_the_home_folder_and_a_name_of_another_type_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """denoise_files("photo.png", "~/dn_out") wrote into a folder named `~` where the script ran (a later
    `rm -rf ~` is the known disaster); from_pretrained(b"m.onnx") or (5) said "no such weight file"."""
    from data_tools.images import write_image
    from denoise_gan import NoiseModel
    from denoise_gan.nets.shipped import shipped_dir

    home, work = tmp_path / "home", tmp_path / "work"
    (home / "models").mkdir(parents=True)
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    write_image(home / "a.png", noise_image(24, 24))
    (home / "models" / "default.safetensors").write_bytes((shipped_dir() / "default.safetensors").read_bytes())
    den = Denoiser.from_pretrained("~/models/default.safetensors")
    assert den.weights == home / "models" / "default.safetensors"
    assert den.denoise_files("~/a.png", "~/dn_out").count("done") == 1
    assert (home / "dn_out" / "a.png").is_file() and not (work / "~").exists()
    write_image(work / "~a.png", noise_image(24, 24))  # a file's name that starts with ~, not a user's home
    assert den.denoise_files("~a.png", "out").count("done") == 1 and (work / "out" / "~a.png").is_file()
    assert Denoiser(den.net, weights="~/models/default.safetensors").weights == home / "models" / "default.safetensors"
    for bad in (b"default.onnx", 5, ["default"]):
        for load in (Denoiser.from_pretrained, NoiseModel.from_pretrained):
            with pytest.raises(WeightsError, match=f"is named by a str or a Path .*, not {type(bad).__name__}"):
                load(bad)


def test_a_four_channel_models_refusal_of_an_rgba_image_says_its_4th_channel_is_alpha() -> None:
    """It said "cannot denoise a 3-channel image" of the 4-channel array the user passed."""
    den = Denoiser(torch.nn.Conv2d(4, 4, 3, padding=1))
    with pytest.raises(UserError, match=r"^the model takes 4 channels; cannot denoise a 3-channel image \(an image's "
                                        r"4th channel is read as alpha and passed through\)$"):
        den(np.zeros((40, 40, 4), np.uint8))


def test_a_channels_first_array_is_told_how_to_turn_it() -> None:
    """The tensor path said `pass .permute(...)`; a CxHxW NumPy array got no hint."""
    from denoise_gan import NoiseModel

    chw = np.zeros((3, 40, 50), np.uint8)
    with pytest.raises(UserError, match=r"got shape \(3, 40, 50\); it looks CxHxW: pass \.transpose\(1, 2, 0\)$"):
        Denoiser.from_pretrained("default")(chw)
    with pytest.raises(UserError, match=r"got shape \(3, 40, 50\); it looks CxHxW: pass \.transpose\(1, 2, 0\)$"):
        NoiseModel.from_pretrained("default-F")(chw)
    batch = r"it looks like a batch: an array is one image, so pass each \(array\[i\]{}\)$"
    with pytest.raises(UserError, match=batch.format(r"\.transpose\(1, 2, 0\)")):
        Denoiser.from_pretrained("default")(chw[None])
    with pytest.raises(UserError, match=batch.format("")):
        NoiseModel.from_pretrained("default-F")(np.zeros((2, 40, 50, 3), np.uint8))


def test_output_options_take_a_numpy_bool_as_denoisers_ensemble_does() -> None:
    """`OutputOptions(overwrite=np.True_)` was refused where `Denoiser(..., ensemble=np.True_)` is taken."""
    options = OutputOptions(overwrite=np.True_, recursive=np.False_)
    assert options.overwrite is True and options.recursive is False
    with pytest.raises(UserError, match="OutputOptions.overwrite must be bool, not 1"):
        OutputOptions(overwrite=1)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "I;16", "I"])
def test_a_pil_image_comes_back_a_pil_image_of_its_mode_with_its_info(level_weights: Path, mode: str) -> None:
    """A notebook opens a photo with PIL: "expected a NumPy array or a torch tensor, got Image". It is denoised as
    its array, and comes back in its mode with its ICC profile and resolution, to be saved as the photo it was
    (a 16-bit gray PNG opens as I;16, or as 32-bit I in older Pillows)."""
    from PIL import Image

    den = Denoiser.from_pretrained(level_weights, engine="torch")
    deep = mode in ("I;16", "I")
    pixels = noise_image(24, 32, dtype=np.uint16 if deep else np.uint8)
    photo = Image.fromarray(pixels[..., 0].astype(np.int32) if mode == "I" else pixels[..., 0] if deep else pixels)
    photo = photo if deep else photo.convert(mode)
    photo.info.update(icc_profile=b"profile", dpi=(300, 300))
    out = den(photo, strength=0.5)
    assert isinstance(out, Image.Image) and out.mode == photo.mode and out.size == photo.size
    assert out.info == {"icc_profile": b"profile", "dpi": (300, 300)}
    as_array = np.asarray(photo).astype(np.uint16) if mode == "I" else np.asarray(photo)
    np.testing.assert_array_equal(np.asarray(out), den(as_array, strength=0.5))


@pytest.mark.parametrize("mode", ["L", "RGB", "I;16"])
def test_a_pil_images_transparent_key_colour_is_alpha_as_in_the_file_call(level_weights: Path, tmp_path: Path,
                                                                          mode: str) -> None:
    """A gray or RGB PNG with a tRNS key colour opens as L/RGB/I;16 with info["transparency"]: its transparent
    background was denoised as black pixels and saved keyed again, so a fringe of it came back opaque (denoise_files
    reads the key as alpha). Now it is denoised with that alpha and keyed again in its mode."""
    from PIL import Image

    pixels = noise_image(32, 48, dtype=np.uint16 if mode == "I;16" else np.uint8)
    pixels[:, :24] = 0
    pixels = pixels if mode == "RGB" else np.ascontiguousarray(pixels[..., 0])
    key = (0, 0, 0) if mode == "RGB" else 0
    Image.fromarray(pixels).save(tmp_path / "keyed.png", transparency=key)
    photo = Image.open(tmp_path / "keyed.png")
    assert photo.mode == mode and photo.info["transparency"] == key
    den = Denoiser.from_pretrained(level_weights, engine="torch")
    out = den(photo)
    assert out.mode == mode and out.info["transparency"] == key
    out.save(tmp_path / "out.png")
    saved = np.asarray(Image.open(tmp_path / "out.png")).reshape(32, 48, -1)
    colour = pixels.reshape(32, 48, -1)
    hidden = (colour == 0).all(axis=-1)
    np.testing.assert_array_equal((saved == 0).all(axis=-1), hidden)  # transparent exactly where it was
    alpha = np.where(hidden, 0, np.iinfo(pixels.dtype).max).astype(pixels.dtype)[..., None]
    np.testing.assert_array_equal(saved[~hidden], den(np.concatenate([colour, alpha], axis=-1))[~hidden][:, :-1])


def test_a_pil_image_no_array_holds_as_pixels_is_refused_in_one_line(level_weights: Path) -> None:
    from PIL import Image

    den = Denoiser.from_pretrained(level_weights, engine="torch")
    for image, mode in ((Image.new("P", (8, 8)), "'P'"), (Image.new("CMYK", (8, 8)), "'CMYK'"),
                        (Image.fromarray(np.full((8, 8), -5, np.int32)), "'I'")):
        with pytest.raises(UserError, match=f"a PIL image in mode {mode}: convert it to one of L, LA, RGB, RGBA"):
            den(image)


def test_a_path_given_as_the_image_is_pointed_to_the_file_call(level_weights: Path, tmp_path: Path) -> None:
    """den("photo.jpg") said only "expected a NumPy array or a torch tensor, got str"."""
    den = Denoiser.from_pretrained(level_weights, engine="torch")
    for path in ("photo.jpg", tmp_path / "photo.jpg"):
        with pytest.raises(UserError, match=r"got (str|PosixPath); a file is denoised by den.denoise_files\(path, "
                                            r"out_dir\), or read first \(Image.open\(path\)\)"):
            den(path)


def test_help_in_a_notebook_says_what_the_calls_take_and_how_files_show_progress() -> None:
    """help(den) showed "The denoised image, with the input's type" and nothing of which types: PIL images, the
    RGB order an OpenCV array is not in, and that denoise_files says nothing without a console were README-only."""
    import inspect

    from denoise_gan import NoiseModel

    for call in (Denoiser.__call__, NoiseModel.__call__):
        doc = inspect.getdoc(call) or ""
        assert "PIL image" in doc and "RGB order" in doc and "uint16" in doc, call
    assert "rich.get_console()" in (inspect.getdoc(Denoiser.denoise_files) or "")


def test_the_repr_says_the_device_and_precision_it_resolved(level_weights: Path) -> None:
    """A notebook shows repr(den): "device=auto" did not say whether the model ran on the GPU, nor in what."""
    den = Denoiser.from_pretrained(level_weights, engine="torch", device="auto")
    assert repr(den).endswith("level_aware=True on cpu (torch, fp32))") or "on cuda" in repr(den)
    assert "device=auto" not in repr(den)


def test_a_summary_shows_counts_and_failures_not_every_files_result(level_weights: Path, tmp_path: Path) -> None:
    """A notebook cell ending in den.denoise_files(folder, out) showed the dataclass's repr: about 170 characters a
    file, every file's result on one line (a 1000-photo folder: a screenful per few files)."""
    from PIL import Image

    photos = tmp_path / "in"
    photos.mkdir()
    for i in range(5):
        Image.fromarray(noise_image(16, 16, seed=i)).save(photos / f"p{i}.png")
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nxx")
    summary = Denoiser.from_pretrained(level_weights, engine="torch").denoise_files(photos, tmp_path / "out")
    said = repr(summary)
    assert said.startswith("Summary(6 file(s): 5 done, 0 skipped, 1 failed (broken.png: not a readable image file)")
    assert "p0.png" not in said and len(said) < 200


def test_the_module_docs_name_every_kind_of_image_the_calls_take() -> None:
    """The api and noise_model module docs listed arrays and tensors after PIL images were taken too."""
    from denoise_gan.inference import api, noise_model

    for module in (api, noise_model):
        assert "PIL image" in " ".join((module.__doc__ or "").split()), module.__name__
