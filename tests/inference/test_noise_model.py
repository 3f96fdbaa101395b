"""NoiseModel: F as one object beside Denoiser, with Denoiser's input conventions, seeded, any size, tiled exactly."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from denoise_gan import NoiseModel as LazyNoiseModel
from denoise_gan.config import GeneratorConfig
from denoise_gan.errors import UserError, WeightsError
from denoise_gan.inference.noise_model import NoiseModel, receptive_radius
from denoise_gan.inference.noise_model_files import resolve_noise_model
from denoise_gan.nets.registry import build_generator
from denoise_gan.nets.weights import save_generator
from helpers import ORT_NO_MEMORY, TORCH_NO_MEMORY

CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"  # the shipped weights, from any working folder

TINY_F = GeneratorConfig(arch="noise", width=4, depth=1, blocks=1)
DEEP_F = GeneratorConfig(arch="colour-noise", width=4, depth=2, blocks=2)


def _save(path: Path, cfg: GeneratorConfig, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    net = build_generator(cfg)
    with torch.no_grad():  # a trained-looking F: a non-zero output layer, so the noise depends on the image
        net.backbone.tail.weight.normal_(0, 0.05)
        net.kernel.add_(torch.rand_like(net.kernel) * 0.3)
    save_generator(path, net, cfg, {"role": "F clean->noisy"})
    return path


@pytest.fixture(scope="module")
def tiny_f(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save(tmp_path_factory.mktemp("f") / "F.safetensors", TINY_F)


@pytest.fixture(scope="module")
def model(tiny_f: Path) -> NoiseModel:
    return NoiseModel.from_pretrained(tiny_f)


def _image(h: int, w: int, c: int | None = 3, dtype: type = np.uint8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    peak = np.iinfo(dtype).max
    img = rng.integers(peak // 5, peak - peak // 5, (h, w, c or 1), dtype=np.int64).astype(dtype)
    return img[..., 0] if c is None else img


def test_package_exports_it_lazily(tiny_f: Path) -> None:
    assert LazyNoiseModel is NoiseModel


def test_sources_file_folder_and_shipped_name(tiny_f: Path) -> None:
    assert resolve_noise_model(tiny_f) == tiny_f
    assert resolve_noise_model(tiny_f.parent) == tiny_f  # a train/adapt output folder: its F.safetensors
    assert resolve_noise_model("default-F").name == "default-F.safetensors"
    assert resolve_noise_model("default").name == "default-F.safetensors"  # the default model's F
    shipped = NoiseModel.from_pretrained("default-F")
    assert shipped.config.arch in ("noise", "colour-noise") and shipped.sha256 and len(shipped.sha256) == 64


@pytest.mark.parametrize("where, needle", [
    ("missing.safetensors", "no such weight file"),
    ("no-such-name", "no-such-name: no such file or folder, and no shipped noise model of that name"),
    ("step_0000004.pt", "a run checkpoint; give its run folder"),  # export would make its G, no noise model
    ("", "an empty noise model name"),  # not read as the default, as Denoiser.from_pretrained("") is not
])
def test_bad_sources_are_one_line_weights_errors(tmp_path: Path, where: str, needle: str) -> None:
    with pytest.raises(WeightsError, match=needle) as info:
        NoiseModel.from_pretrained(tmp_path / where if where.endswith(("safetensors", ".pt")) else where)
    assert isinstance(info.value, WeightsError)
    assert "\n" not in str(info.value)


def test_an_adapt_checkpoint_is_refused_naming_the_folder_that_works(tmp_path: Path, tiny_f: Path) -> None:
    """adapt keeps its noise phase's checkpoints in RUN/noise/checkpoints/: "give its run folder" sent users to
    RUN/noise, which holds no F.safetensors and was refused in turn."""
    import shutil

    run = tmp_path / "ad"
    (run / "noise" / "checkpoints").mkdir(parents=True)
    shutil.copy(tiny_f, run / "F.safetensors")
    checkpoint = run / "noise" / "checkpoints" / "step_0000012.pt"
    checkpoint.write_bytes(b"x")
    with pytest.raises(WeightsError, match=f"give its run folder, {run}"):
        NoiseModel.from_pretrained(checkpoint)
    assert NoiseModel.from_pretrained(run).sha256


def test_folder_without_f_and_a_denoiser_are_refused(tmp_path: Path, weights: Path) -> None:
    with pytest.raises(WeightsError, match="a folder without F.safetensors"):
        NoiseModel.from_pretrained(tmp_path)
    with pytest.raises(WeightsError, match="is a denoiser .*not a noise model"):
        NoiseModel.from_pretrained(weights)  # the tiny U-Net G: refused by its architecture
    with pytest.raises(WeightsError, match="is a denoiser"):
        NoiseModel.from_pretrained(str(CHECKPOINTS / "default.safetensors"))


def test_the_constructor_refuses_a_module_that_is_not_a_noise_model() -> None:
    """NoiseModel(G) was taken and failed at the first image with an AttributeError from inside its sampling."""
    from denoise_gan.nets.weights import load_generator

    for net in (load_generator(CHECKPOINTS / "default.safetensors")[0], torch.nn.Conv2d(3, 3, 3)):
        with pytest.raises(UserError, match=f"expected a noise model F .*got {type(net).__name__}"):
            NoiseModel(net)
    f = load_generator(CHECKPOINTS / "default-F.safetensors")[0]
    assert NoiseModel(torch.compile(f), engine="torch").net is not None  # a compiled F is still an F (lazily)
    with pytest.raises(UserError, match="noise needs an HxW or HxWxC image"):  # the model's refusals: UserError
        NoiseModel(f).apply(np.zeros((4, 4, 5), np.uint8), 0)


@pytest.mark.parametrize("shape, dtype", [
    ((20, 28), np.uint8), ((20, 28, 1), np.uint8), ((20, 28, 3), np.uint8), ((21, 27, 3), np.uint16),
    ((20, 28, 4), np.uint8), ((19, 29, 2), np.uint16), ((1, 1, 3), np.uint8), ((1, 7), np.uint16),
])
def test_integer_images_keep_shape_dtype_and_alpha(model: NoiseModel, shape: tuple[int, ...], dtype: type) -> None:
    image = _image(shape[0], shape[1], shape[2] if len(shape) == 3 else None, dtype)
    noisy = model(image, seed=1)
    assert noisy.shape == image.shape and noisy.dtype == image.dtype
    if len(shape) == 3 and shape[2] in (2, 4):
        assert np.array_equal(noisy[..., -1], image[..., -1])
    if image.size > 10:
        assert not np.array_equal(noisy, image)


def test_an_integer_image_gets_f_s_draw_rounded_not_truncated(model: NoiseModel) -> None:
    """A file holds the nearest level: truncating would darken every learned-noise set by half a level."""
    for image in (_image(20, 28), _image(21, 27, dtype=np.uint16)):
        peak = np.float32(np.iinfo(image.dtype).max)
        drawn = model.sample(image.astype(np.float32) / peak, 3)[0] * peak
        assert np.array_equal(model(image, seed=3), np.clip(np.rint(drawn), 0, peak).astype(image.dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_images_in_float_out_within_range(model: NoiseModel, dtype: type) -> None:
    image = (_image(16, 24) / 255.0).astype(dtype)
    noisy = model(image, seed=2)
    assert noisy.dtype == dtype and noisy.shape == image.shape
    assert noisy.min() >= 0.0 and noisy.max() <= 1.0 and not np.allclose(noisy, image)
    big_endian = _image(16, 24, dtype=np.uint16).astype(">u2")
    assert model(big_endian, seed=2).dtype == np.dtype(">u2")


@pytest.mark.parametrize("bad, needle", [
    (np.zeros((8, 8, 3), np.int32), "uint8, uint16 or float"),
    (np.full((8, 8), np.nan), "NaN or Inf"),
    (np.zeros((0, 8, 3), np.uint8), "an image with pixels"),
    (np.zeros((8, 8, 5), np.uint8), "HxWxC"),
    ([[1, 2], [3, 4]], "NumPy array"),
])
def test_bad_input_is_a_one_line_user_error(model: NoiseModel, bad: object, needle: str) -> None:
    with pytest.raises(UserError, match=needle) as info:
        model(bad, seed=0)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("seed", [-1, 2**64, 1.5, True, "3"])
def test_bad_seed_is_a_user_error(model: NoiseModel, seed: object) -> None:
    with pytest.raises(UserError, match="seed"):
        model(_image(8, 8), seed=seed)


def test_a_seed_past_32_bits_is_refused_not_drawn_as_its_low_bits(model: NoiseModel) -> None:
    """seed=2**32 was taken as a seed of its own and drew seed 0's noise (F's generator keeps 32 bits)."""
    for seed in (2**32, -1, 5.0):  # one range said, whatever the seed's fault
        with pytest.raises(UserError, match=r"seed must be a whole number from 0 to 2\*\*32 - 1 .*low 32 bits.*, not "
                                            f"{seed!r}$"):
            model(_image(8, 8), seed=seed)
    assert np.array_equal(model(_image(8, 8), seed=np.uint32(7)), model(_image(8, 8), seed=7))


def test_seeded_reproducible_and_seeds_differ(tiny_f: Path, model: NoiseModel) -> None:
    image = _image(24, 32)
    again = NoiseModel.from_pretrained(tiny_f)
    assert np.array_equal(model(image, seed=5), again(image, seed=5))
    assert not np.array_equal(model(image, seed=5), model(image, seed=6))
    assert np.array_equal(model(image, seed=2**32 - 1), model(image, seed=2**32 - 1))


def test_gray_gets_the_same_noise_in_every_channel(model: NoiseModel) -> None:
    gray = _image(24, 20, None)
    rgb = np.repeat(gray[..., None], 3, axis=2)
    out = model(rgb, seed=3)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 0], out[..., 2])
    assert np.array_equal(model(gray, seed=3), out[..., 0])


def test_a_gray_only_noise_model_runs_colour_planes_one_by_one(tmp_path: Path) -> None:
    path = _save(tmp_path / "gray_f.safetensors", GeneratorConfig(arch="noise", channels=1, width=4, depth=1))
    f = NoiseModel.from_pretrained(path)
    image = _image(16, 20, 3)
    out = f(image, seed=1)
    assert out.shape == image.shape and not np.array_equal(out[..., 0] - image[..., 0], out[..., 1] - image[..., 1])


@pytest.mark.parametrize("cfg", [TINY_F, DEEP_F])
def test_tiles_match_one_whole_image_pass(tmp_path: Path, cfg: GeneratorConfig) -> None:
    path = _save(tmp_path / "f.safetensors", cfg, seed=3)
    whole = NoiseModel.from_pretrained(path, tile=0)
    tiled = NoiseModel.from_pretrained(path, tile=32)
    assert tiled.margin >= receptive_radius(tiled.net, cfg)
    image = _image(61, 75, 3, np.uint16, seed=4)  # odd sides: the last tile ends in the stride padding
    planes = image.astype(np.float32) / 65535
    a, level_a, v_a = whole.sample(planes, 9)
    b, level_b, v_b = tiled.sample(planes, 9)
    assert v_a == v_b
    assert np.abs(a - b).max() < 1e-5 and np.abs(level_a - level_b).max() < 1e-5
    # float rounding (another conv size) may flip the 16-bit rounding of a rare pixel, by one level at most
    diff = np.abs(whole(image, seed=9).astype(np.int64) - tiled(image, seed=9))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01


def test_a_noise_models_tile_follows_the_denoisers_rule(tmp_path: Path) -> None:
    """NoiseModel(tile=8) was taken (its margins then 40 times the work of its cores), where Denoiser refuses
    it, and tile="auto" was refused, where Denoiser takes it."""
    path = _save(tmp_path / "f.safetensors", TINY_F, seed=3)
    with pytest.raises(UserError, match="^tile 8 is too small; use at least 32, 0 "):  # not the denoiser's 128
        NoiseModel.from_pretrained(path, tile=8)
    with pytest.raises(UserError, match=r"^tile must be a size in pixels \(at least 32\), 0 \(whole image\) or auto, "
                                        "not -5"):
        NoiseModel.from_pretrained(path, tile=-5)
    from denoise_gan import Denoiser

    with pytest.raises(UserError, match=r"^tile must be a size .*default model needs 128.*, not -5"):
        Denoiser.from_pretrained("default", tile=-5)
    assert NoiseModel.from_pretrained(path, tile="auto").tile == NoiseModel.from_pretrained(path).tile > 0


def test_a_neutral_tile_of_a_colour_photo_gets_the_photos_colour_noise(tmp_path: Path) -> None:
    """F's gray rule (a gray photo gets the same noise in every channel) was decided per tile: a tile inside a
    white border or a gray half of a colour photo got gray noise, one pass colour noise (seams, 123 levels off)."""
    path = _save(tmp_path / "f.safetensors", TINY_F, seed=3)
    colour = _image(48, 40, 3, np.uint8, seed=4)
    image = np.concatenate([np.repeat(colour[..., 1:2], 3, axis=2), colour], axis=1)  # left half R=G=B
    whole = NoiseModel.from_pretrained(path, tile=0)(image, seed=7)
    tiled = NoiseModel.from_pretrained(path, tile=32)(image, seed=7)
    assert np.abs(whole.astype(np.int64) - tiled).max() <= 1
    left = tiled[:, :40].astype(np.int64)
    assert (left[..., 0] != left[..., 1]).mean() > 0.5  # colour noise on the neutral half too


def test_a_net_given_without_its_config_gets_the_margin_of_its_own_depth_and_blocks() -> None:
    """A margin guessed from the stride (and two blocks) left a six-block F's tiles 19 grey levels off."""
    cfg = GeneratorConfig(arch="noise", channels=3, width=4, depth=3, blocks=6)
    net = build_generator(cfg)
    bare = SimpleNamespace(stride=net.stride, kernel=net.kernel)  # no backbone: the config's depth and blocks
    assert receptive_radius(net, None) == receptive_radius(bare, cfg) > receptive_radius(bare, None)
    assert NoiseModel(net, tile=32).margin == NoiseModel(net, config=cfg, tile=32).margin


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
def test_an_np_matrix_comes_back_a_plain_array(model: NoiseModel) -> None:
    """numpy corrupted memory indexing a 3-D np.matrix: the process aborted."""
    gray = _image(16, 16, 1)[..., 0]
    out = model(np.matrix(gray), seed=1)
    assert type(out) is np.ndarray and np.array_equal(out, model(gray, seed=1))


def test_the_level_it_reports_is_the_noise_it_adds(model: NoiseModel) -> None:
    image = np.full((96, 96, 3), 128, np.uint8)
    noisy, stages = model.apply(image, 4)
    added = noisy.astype(np.float64) - image
    assert stages[0]["model"] == "noise-model"
    # the shift d(x) is bounded by 10 levels and constant on a flat image: the std is the random part
    assert added.std() == pytest.approx(stages[0]["sigma_mean"], rel=0.15)
    ramp = np.repeat(np.tile(np.linspace(0, 255, 96), (96, 1)).astype(np.uint8)[..., None], 3, axis=2)
    level = model.sample(ramp.astype(np.float32) / 255.0, 4)[1] * 255.0  # σ per pixel: it varies with brightness
    assert level.max() > 1.02 * level.mean()
    assert model.apply(ramp, 4)[1][0]["sigma_mean"] == pytest.approx(float(level.mean()), rel=1e-4)  # the mean


def test_the_level_quantile_is_drawn_over_its_whole_range(model: NoiseModel) -> None:
    """v picks each image's level from the learned mixture: drawn short of 1, the noisiest images never come."""
    image = np.full((8, 8, 3), 128, np.uint8)
    drawn = np.array([model.apply(image, seed)[1][0]["v"] for seed in range(120)])
    assert drawn.min() < 0.1 and drawn.max() > 0.9 and 0.4 < drawn.mean() < 0.6


def test_both_engines_draw_the_same_noise(tiny_f: Path) -> None:
    """ONNX Runtime runs F's U-Net on the CPU (auto); the draws and F's composition stay torch's, so the two
    engines agree to float rounding: a rare pixel one level apart."""
    image = _image(40, 56, 3, seed=7)
    ort = NoiseModel.from_pretrained(tiny_f, engine="onnxruntime")
    plain = NoiseModel.from_pretrained(tiny_f, engine="torch")
    assert (ort.engine, plain.engine) == ("onnxruntime", "torch")
    assert NoiseModel.from_pretrained(tiny_f).engine == "onnxruntime"  # auto, on the CPU with onnxruntime
    diff = np.abs(ort(image, seed=3).astype(np.int64) - plain(image, seed=3))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01
    assert ort.manifest()["engine"] == "onnxruntime"
    assert "scale_and_shift" not in vars(ort.net)  # shadowed only during a call
    with pytest.raises(UserError, match="unknown engine"):
        NoiseModel.from_pretrained(tiny_f, engine="tensorrt")


def test_a_model_pickles_and_draws_the_same_after(model: NoiseModel) -> None:
    """A DataLoader worker started by spawn gets a pickled copy (of the SyntheticNoise transform holding it)."""
    import pickle

    image = _image(24, 24)
    copy = pickle.loads(pickle.dumps(model))
    assert copy.engine == model.engine and np.array_equal(copy(image, seed=8), model(image, seed=8))


def test_numpy_integers_and_any_case_are_taken_as_denoiser_takes_them() -> None:
    """threads=np.int64(1), NoiseModel(tile=np.int64(...)) and engine="ONNXRUNTIME" were refused, where the
    Denoiser's settings took them."""
    from denoise_gan.runtime import check_threads

    assert check_threads(np.int64(1)) == 1 and type(check_threads(np.int64(1))) is int
    model = NoiseModel.from_pretrained("default-F", tile=np.int64(512), engine="ONNXRUNTIME", threads=np.int64(1))
    assert model.tile == 512 and type(model.tile) is int and model.engine == "onnxruntime"


@pytest.mark.parametrize("engine", ["onnxruntime", "torch"])
def test_the_cpu_running_out_of_memory_is_a_memory_error(tiny_f: Path, engine: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a `ulimit -v`, ONNX Runtime's failed allocation (or torch's) ended `synth --noise-model` in a traceback
    after the runtime's own log line; it is now a MemoryError, which the CLI says in one line (a smaller tile would
    change the bytes a seed gives, so there is no retry)."""
    f = NoiseModel.from_pretrained(tiny_f, engine=engine)
    reason = ORT_NO_MEMORY if engine == "onnxruntime" else TORCH_NO_MEMORY

    def no_room(*_: object, **__: object) -> None:
        raise RuntimeError(reason)

    if engine == "onnxruntime":
        assert f._scale_shift.session.get_session_options().log_severity_level == 4  # its log stays quiet
        monkeypatch.setattr(f._scale_shift, "session", SimpleNamespace(run=no_room))
    else:
        monkeypatch.setattr(f.net, "sample", no_room)
    with pytest.raises(MemoryError, match="allocate memory"):
        f(_image(24, 24), seed=1)

    def other(*_: object, **__: object) -> None:
        raise RuntimeError("a shape mismatch")

    monkeypatch.setattr(*((f._scale_shift, "session", SimpleNamespace(run=other)) if engine == "onnxruntime"
                          else (f.net, "sample", other)))
    with pytest.raises(RuntimeError, match="shape mismatch"):  # any other failure stays itself
        f(_image(24, 24), seed=1)

    def gpu_full(*_: object, **__: object) -> None:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB")

    monkeypatch.setattr(*((f._scale_shift, "session", SimpleNamespace(run=gpu_full)) if engine == "onnxruntime"
                          else (f.net, "sample", gpu_full)))
    with pytest.raises(torch.cuda.OutOfMemoryError):  # the GPU's, as torch names it, for a caller that catches it
        f(_image(24, 24), seed=1)


@pytest.mark.parametrize("engine", ["onnxruntime", "torch"])
def test_a_callers_autocast_or_default_dtype_leaves_the_noise_of_a_seed_alone(tiny_f: Path, engine: str) -> None:
    """A training loop draws noise under its own bf16 autocast, a notebook sets float64 as torch's default: the
    same seed gave other noise (3-7 % of the pixels under autocast, 94 % under float64), and a model loaded under
    float64 failed on every call."""
    image = _image(48, 40)
    expected = NoiseModel.from_pretrained(tiny_f, engine=engine)(image, seed=7)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert np.array_equal(NoiseModel.from_pretrained(tiny_f, engine=engine)(image, seed=7), expected)
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:  # the ONNX graph is made in float32, and torch's default is not set back for it (other threads'): torch
        auto = NoiseModel.from_pretrained(tiny_f, engine="auto" if engine == "onnxruntime" else engine)
        assert np.array_equal(auto(image, seed=7), expected)
        assert torch.get_default_dtype() == torch.float64
        if engine == "onnxruntime":
            assert auto.engine == "torch"
            with pytest.raises(UserError, match="default dtype is torch.float64.*use engine torch"):
                NoiseModel.from_pretrained(tiny_f, engine=engine)
    finally:
        torch.set_default_dtype(before)


def test_noise_models_made_in_several_threads_at_once_all_get_their_engine(tiny_f: Path) -> None:
    """torch's ONNX exporter keeps its state for the whole process: of four noise models made at once, three
    failed on the onnxruntime engine (or fell back to torch without a word under auto)."""
    import threading

    engines: list[str] = []

    def make() -> None:
        engines.append(NoiseModel.from_pretrained(tiny_f, engine="onnxruntime").engine)

    threads = [threading.Thread(target=make) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert engines == ["onnxruntime"] * 4


def test_the_recorded_sha256_is_of_the_weights_loaded_not_of_the_file_now(tmp_path: Path) -> None:
    """The digest was read from the file when first asked for, so a run replacing F.safetensors after the load
    put the new file's sha256 in a set's manifest beside noise drawn by the old weights."""
    path = _save(tmp_path / "F.safetensors", TINY_F, seed=0)
    loaded = NoiseModel.from_pretrained(path)
    first = hashlib.sha256(path.read_bytes()).hexdigest()
    _save(path, TINY_F, seed=1)  # the file replaced after the load
    assert hashlib.sha256(path.read_bytes()).hexdigest() != first
    assert loaded.sha256 == first and loaded.manifest()["sha256"] == first and first[:16] in str(loaded)


def test_sample_takes_floats_in_0_1_only(model: NoiseModel) -> None:
    """A uint8 image given to sample() came back as noise of −634..819 around it, without a word."""
    image = _image(16, 16)
    for bad, said in ((image, "sample takes a float image in \\[0, 1\\], not uint8"),
                      (image.astype(np.float32), "holds values outside it"),
                      (np.full((16, 16, 3), np.nan, np.float32), "outside it \\(or NaN/Inf\\)")):
        with pytest.raises(UserError, match=said):
            model.sample(bad, 1)
    noisy, level, _ = model.sample(image.astype(np.float32) / 255, 1)
    assert noisy.shape == level.shape == image.shape


def test_a_masked_array_is_refused_not_its_mask_dropped(model: NoiseModel) -> None:
    from denoise_gan import Denoiser

    image = np.ma.masked_array(_image(16, 16), mask=np.zeros((16, 16, 3), bool))
    for call in (model, Denoiser.from_pretrained("default")):
        with pytest.raises(UserError, match="a masked array: its mask would be ignored .*image.filled\\(value\\)"):
            call(image)


def test_a_model_loaded_by_a_relative_path_names_its_file_after_the_host_changes_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The path was kept as given and resolved when a manifest was written: after a host's chdir the set's record
    named a file that did not exist (or another one of the same name)."""
    from denoise_gan import Denoiser
    from denoise_gan.nets.shipped import resolve_weights

    (tmp_path / "sub").mkdir()
    (tmp_path / "F.safetensors").write_bytes(resolve_weights("default-F").read_bytes())
    (tmp_path / "G.safetensors").write_bytes(resolve_weights("default").read_bytes())
    monkeypatch.chdir(tmp_path)
    model = NoiseModel.from_pretrained("F.safetensors")
    den = Denoiser.from_pretrained("G.safetensors")
    monkeypatch.chdir(tmp_path / "sub")
    assert model.manifest()["file"] == str(tmp_path / "F.safetensors")
    assert model.sha256 == hashlib.sha256((tmp_path / "F.safetensors").read_bytes()).hexdigest()
    assert den.weights == tmp_path / "G.safetensors"


def test_a_pickle_given_as_a_noise_model_is_refused_without_the_denoisers_advice(tmp_path: Path) -> None:
    """It was told to export the file as a checkpoint, which gives a train run's G (refused as a noise model
    then) or is refused for an adapt one's; nothing in it runs either way."""
    (tmp_path / "run").mkdir()
    torch.save({"a": torch.zeros(1)}, tmp_path / "run" / "F.safetensors")
    with pytest.raises(WeightsError) as refused:
        NoiseModel.from_pretrained(tmp_path / "run")
    said = str(refused.value)
    assert "pickle" in said and "refusing to load" in said and "export" not in said
    assert said.endswith("Give the run folder whose F.safetensors is its noise model")


def test_a_model_whose_noise_overflows_is_one_line_not_a_black_image(tmp_path: Path) -> None:
    """Finite weights that overflow (a diverged run's) gave an all-black image with a NumPy warning, and synth
    blamed "stages a manifest cannot record"."""
    cfg = GeneratorConfig(arch="noise", width=4, depth=1, blocks=1)
    torch.manual_seed(0)
    net = build_generator(cfg)
    with torch.no_grad():
        for tensor in net.parameters():
            tensor.fill_(1e30)
    save_generator(tmp_path / "F.safetensors", net, cfg, {"role": "F clean->noisy"})
    model = NoiseModel.from_pretrained(tmp_path / "F.safetensors")
    with pytest.raises(WeightsError, match="noise is not finite on this image"):
        model(np.full((16, 16, 3), 128, np.uint8), seed=0)


def test_a_pil_image_gets_noise_as_its_array_and_comes_back_a_pil_image(model: NoiseModel) -> None:
    """As Denoiser: a notebook's PIL photo was refused ("expected a NumPy array")."""
    from PIL import Image

    photo = Image.fromarray(_image(16, 24))
    photo.info["dpi"] = (72, 72)
    noisy = model(photo, seed=3)
    assert isinstance(noisy, Image.Image) and noisy.mode == "RGB" and noisy.info == {"dpi": (72, 72)}
    np.testing.assert_array_equal(np.asarray(noisy), model(np.asarray(photo), seed=3))


def test_a_pil_images_transparent_key_colour_gets_no_noise(model: NoiseModel, tmp_path: Path) -> None:
    """An L PNG keyed transparent at 0 got noise on its background, half of which then was no longer the key
    colour: saved, half the transparent background was visible noise."""
    from PIL import Image

    pixels = _image(16, 24)[..., 0]
    pixels[:, :12] = 0
    Image.fromarray(pixels).save(tmp_path / "keyed.png", transparency=0)
    photo = Image.open(tmp_path / "keyed.png")
    noisy = model(photo, seed=3)
    assert noisy.mode == "L" and noisy.info["transparency"] == 0
    np.testing.assert_array_equal(np.asarray(noisy)[:, :12], 0)
    assert (np.asarray(noisy)[:, 12:] != 0).all()
