"""The two runtimes behind the tiler agree, and the engine choice takes the light one where it can.

Contract: for the shipped default and for a blind U-Net, ONNX Runtime and torch give the same image within
50 dB PSNR, whole and tiled, at strength 1, another strength and a fixed σ.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import skimage.data

from data_tools.file_digest import file_sha256
from data_tools.images import write_image
from data_tools.noise import parse_noise_spec
from denoise_gan import Denoiser
from denoise_gan.errors import UserError, WeightsError
from denoise_gan.nets.export import export_model
from denoise_gan.nets.generator_names import LEVEL_MAX
from denoise_gan.nets.shipped import shipped_dir
from denoise_gan.nets.weight_header import weights_digest
from denoise_gan.nets.weights import save_generator
from helpers import TINY_LEVEL, cli, noise_image, one_line_error, random_level_net, reordered_metadata


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    clean = skimage.data.chelsea()[:200, :260]
    return parse_noise_spec("gaussian:sigma=25").apply(clean, 0)[0]


@pytest.fixture(scope="module")
def unet_with_graph(weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A blind U-Net file with its graph beside it, as training leaves them."""
    folder = tmp_path_factory.mktemp("unet")
    path = folder / "G.safetensors"
    shutil.copy(weights, path)
    export_model(path, folder / "G.onnx", "onnx")
    return path


def test_the_shipped_graph_is_current_and_the_default_engine_on_the_cpu() -> None:
    graph = shipped_dir() / "default.onnx"
    den = Denoiser.from_pretrained("default", device="cpu")
    assert den.engine_name == "onnxruntime" and den.level_aware
    assert den.backend.info.source_sha256 == file_sha256(shipped_dir() / "default.safetensors"), \
        f"{graph} is stale: rerun the export line of checkpoints/reproduce.sh"
    assert den.backend.info.source_digest == weights_digest(shipped_dir() / "default.safetensors"), \
        f"{graph} records no content digest: a re-saved copy of the default would call it stale; re-export it"
    assert den.config is not None and den.config.arch == "level"


@pytest.mark.parametrize("engine", ["onnxruntime", "torch"])
def test_a_small_image_is_read_as_an_image_not_as_its_border(engine: str) -> None:
    """The estimator read the zero border of its convolutions around an image of 40 px or less as noise: a flat
    16x16 colour came back with a pattern of up to 14 levels, a clean 16x16 crop at 35-41 dB and a noisy one barely
    denoised. A small image is now mirrored out to the model's smallest tile first."""
    den = Denoiser.from_pretrained("default", engine=engine, device="cpu")
    for h, w in ((1, 1), (8, 8), (16, 16), (32, 32), (7, 200)):
        flat = np.full((h, w, 3), (250, 250, 10), np.uint8)
        assert np.array_equal(den(flat), flat), (h, w)
    crop = skimage.data.chelsea()[20:36, 20:36]  # before: 43.1 dB clean, +5.4 dB at σ 25; now as it was, +14.4
    assert psnr(den(crop), crop) >= 60
    noisy = parse_noise_spec("gaussian:sigma=25").apply(crop, 0)[0]
    assert psnr(den(noisy), crop) >= psnr(noisy, crop) + 10


@pytest.mark.parametrize("tile", [0, 128])
def test_default_model_engines_agree(photo: np.ndarray, tile: int) -> None:
    ort = Denoiser.from_pretrained("default", engine="onnxruntime", device="cpu", tile=tile)
    pt = Denoiser.from_pretrained("default", engine="torch", device="cpu", tile=tile)
    for strength, sigma in ((1.0, None), (0.5, None), (1.0, 15.0), (10.0, None), (1.0, 255.0)):
        a, b = ort(photo, strength=strength, sigma=sigma), pt(photo, strength=strength, sigma=sigma)
        assert psnr(a, b) >= 50, (tile, strength, sigma, psnr(a, b))
    assert psnr(ort(photo), photo) < 40  # it denoised: not a trivial identity


def test_a_level_far_above_training_runs_at_the_highest_the_model_knows(photo: np.ndarray, tmp_path: Path) -> None:
    """σ 255 (or an estimate times 10) darkened a σ 25 photo by 52 grey levels: G extrapolated. A run asked for
    more says so in its own notes (not in a later run's)."""
    from data_tools.images import write_image

    write_image(tmp_path / "in" / "p.png", photo)
    for engine in ("onnxruntime", "torch"):
        den = Denoiser.from_pretrained("default", engine=engine, device="cpu")
        capped = den(photo, sigma=255.0)
        np.testing.assert_array_equal(capped, den(photo, sigma=LEVEL_MAX))
        assert not np.array_equal(capped, den(photo, sigma=LEVEL_MAX - 10))  # below the cap, the level counts
        assert abs(float(den(photo, strength=10.0).mean()) - float(photo.mean())) < 10  # was 52 grey levels
        high = den.denoise_files([tmp_path / "in"], tmp_path / engine / "high", sigma=85.0, strength=2.0)
        assert f"σ 170 is above the highest noise level this model knows; it runs as σ {LEVEL_MAX:g}" in high.notes
        low = den.denoise_files([tmp_path / "in"], tmp_path / engine / "low", sigma=25.0)
        assert not any("highest noise level" in note for note in low.notes)
        # a direct call's notes are the Denoiser's, once each (the image is all the call returns), until the next
        den(photo, sigma=255.0)
        den(photo, sigma=255.0)
        assert den.notes.count(f"σ 255 is above the highest noise level this model knows; it runs as σ "
                               f"{LEVEL_MAX:g}") == 1
        den(photo, sigma=25.0)  # a call under the cap: the earlier call's note no longer stands
        assert not any("highest noise level" in note for note in den.notes)
        assert not any("highest" in note for note in Denoiser.from_pretrained("default", engine=engine).notes)


def test_training_conditions_on_the_map_uncapped() -> None:
    """The cap is for denoising: a level-aware G trained blind (its own estimate) learns from the map it made."""
    import torch

    net = random_level_net()
    noisy = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        net.train()
        assert not torch.equal(net(noisy, sigma=255.0), net(noisy, sigma=LEVEL_MAX))
        net.eval()
        assert torch.equal(net(noisy, sigma=255.0), net(noisy, sigma=LEVEL_MAX))


def test_a_model_trained_past_the_default_cap_is_capped_at_its_own(tmp_path: Path) -> None:
    """Its weight file records its cap (refine writes it); torch, its exported graph and the run's note use it,
    and a file claiming an implausible cap is refused in one line."""
    from denoise_gan.nets.weights import LEVEL_MAX_KEY, read_generator_config

    net = random_level_net()
    net.level_max = 150.0
    weights = tmp_path / "G.safetensors"
    save_generator(weights, net, TINY_LEVEL)
    assert read_generator_config(weights)[1][LEVEL_MAX_KEY] == 150.0
    export_model(weights, tmp_path / "G.onnx", "onnx")
    from data_tools.images import write_image

    image = noise_image(32, 32)
    write_image(tmp_path / "in" / "a.png", image)
    for engine in ("torch", "onnxruntime"):
        den = Denoiser.from_pretrained(weights, engine=engine, device="cpu")
        assert not np.array_equal(den(image, sigma=150.0), den(image, sigma=LEVEL_MAX))  # past 100, it counts
        np.testing.assert_array_equal(den(image, sigma=200.0), den(image, sigma=150.0))
        run = den.denoise_files([tmp_path / "in"], tmp_path / engine, sigma=200.0)
        assert "σ 200 is above the highest noise level this model knows; it runs as σ 150" in run.notes
    bad = random_level_net()
    bad.level_max = 1e9
    save_generator(tmp_path / "bad.safetensors", bad, TINY_LEVEL)
    with pytest.raises(WeightsError, match="implausible level_max"):
        Denoiser.from_pretrained(tmp_path / "bad.safetensors", engine="torch", device="cpu")


@pytest.mark.parametrize("tile", [0, 64])
def test_blind_unet_engines_agree(unet_with_graph: Path, tile: int) -> None:
    image = noise_image(150, 170, seed=3)
    ort = Denoiser.from_pretrained(unet_with_graph, engine="onnxruntime", device="cpu", tile=tile, overlap=16)
    pt = Denoiser.from_pretrained(unet_with_graph, engine="torch", device="cpu", tile=tile, overlap=16)
    assert not ort.level_aware and ort.engine_name == "onnxruntime" and pt.engine_name == "torch"
    for img in (image, image[..., 0], noise_image(40, 33, seed=4, dtype=np.uint16)):
        assert psnr(ort(img), pt(img)) >= 50
    with pytest.raises(UserError, match="blind"):
        ort(image, strength=0.5)


def test_a_resnet_graph_pads_a_tiny_image_as_torch_does(tmp_path: Path) -> None:
    """InstanceNorm cannot normalise the single pixel a side of 4 px or less leaves: both engines pad it further."""
    from denoise_gan.config import GeneratorConfig
    from denoise_gan.nets.registry import build_generator

    cfg = GeneratorConfig(arch="resnet", width=4, depth=2, blocks=1)
    path = tmp_path / "G.safetensors"
    save_generator(path, build_generator(cfg), cfg)
    export_model(path, tmp_path / "G.onnx", "onnx")
    ort = Denoiser.from_pretrained(path, engine="onnxruntime", device="cpu")
    pt = Denoiser.from_pretrained(path, engine="torch", device="cpu")
    for h, w in ((2, 70), (33, 3), (1, 40), (7, 9)):
        img = noise_image(h, w, seed=h + w)
        assert psnr(ort(img), pt(img)) >= 50, (h, w, psnr(ort(img), pt(img)))
    # the graph run on its own (as the README's export section shows) pads as the tiler does: it padded to one
    # stride only, and a 1x1 to 4x4 image came back flat gray whatever its pixels
    import onnxruntime

    session = onnxruntime.InferenceSession(str(tmp_path / "G.onnx"), providers=["CPUExecutionProvider"])
    for h, w in ((1, 1), (3, 3), (4, 4), (4, 9)):
        img = noise_image(h, w, seed=h * w)
        x = img.transpose(2, 0, 1)[None].astype(np.float32) / 255
        direct = session.run(["denoised"], {"image": x})[0][0].transpose(1, 2, 0)
        assert np.abs(direct * 255 - pt(img)).max() <= 1, (h, w)


def test_a_flat_tile_comes_back_flat_from_an_instance_norm_model(tmp_path: Path) -> None:
    """InstanceNorm of a constant is round-off divided by its epsilon: a clipped sky came back as texture, up to
    223 levels apart between the engines."""
    from denoise_gan.config import GeneratorConfig
    from denoise_gan.nets.registry import build_generator

    cfg = GeneratorConfig(arch="resnet", width=4, depth=2, blocks=1)
    path = tmp_path / "G.safetensors"
    save_generator(path, build_generator(cfg), cfg)
    export_model(path, tmp_path / "G.onnx", "onnx")
    clipped = noise_image(96, 96, seed=1)
    clipped[:64] = (255, 40, 0)  # a flat colour over two thirds: every 32 px tile there is flat
    for tile in (0, 32):
        ort = Denoiser.from_pretrained(path, engine="onnxruntime", device="cpu", tile=tile, overlap=8)
        pt = Denoiser.from_pretrained(path, engine="torch", device="cpu", tile=tile, overlap=8)
        for img in (np.full((40, 40, 3), 200, np.uint8), np.full((1, 1, 3), 7, np.uint8), clipped):
            assert np.abs(ort(img).astype(int) - pt(img)).max() <= 1, (tile, img.shape)
        assert np.array_equal(pt(np.full((40, 40, 3), 200, np.uint8)), np.full((40, 40, 3), 200, np.uint8))
    assert np.array_equal(pt(clipped)[:32], clipped[:32])  # tiles wholly in the flat part, blended


def test_auto_takes_a_current_graph_and_passes_over_a_stale_one(unet_with_graph: Path, tmp_path: Path) -> None:
    assert Denoiser.from_pretrained(unet_with_graph, device="cpu").engine_name == "onnxruntime"
    folder = tmp_path / "run"
    folder.mkdir()
    save_generator(folder / "G.safetensors", random_level_net(), TINY_LEVEL)  # new weights ...
    shutil.copy(unet_with_graph.with_suffix(".onnx"), folder / "G.onnx")  # ... beside an old graph
    passed_over = Denoiser.from_pretrained(folder, device="cpu")
    assert passed_over.engine_name == "torch"  # a folder names its G
    assert any("stale graph" in note and "ran on torch instead" in note for note in passed_over.notes)  # said
    from data_tools.folder_lock import holding_folder

    with holding_folder(folder):  # its run training now: its graph is rewritten as it ends, so no "remake it"
        training = Denoiser.from_pretrained(folder, device="cpu")  # into the folder the run writes
    assert training.engine_name == "torch" and not any("stale graph" in note for note in training.notes)
    assert Denoiser.from_pretrained(unet_with_graph, engine="ONNXRuntime", precision="FP32").engine_name == \
        "onnxruntime"  # read in any case, as the command line reads them
    with pytest.raises(WeightsError, match="stale graph"):
        Denoiser.from_pretrained(folder / "G.safetensors", engine="onnxruntime", device="cpu")
    (folder / "G.onnx").unlink()
    with pytest.raises(UserError, match="no ONNX graph beside it"):
        Denoiser.from_pretrained(folder / "G.safetensors", engine="onnxruntime")



def test_onnxruntime_asked_for_broken_weights_without_a_graph_says_what_is_wrong_with_them(tmp_path: Path) -> None:
    """NaN weights said "has no ONNX graph beside it; make one with denoise-gan export", and that export then
    failed on the NaN: the weights' own error comes first."""
    import torch

    net = random_level_net()
    with torch.no_grad():
        next(net.parameters()).view(-1)[0] = float("nan")
    save_generator(tmp_path / "G.safetensors", net, TINY_LEVEL)
    with pytest.raises(WeightsError, match="holds NaN or infinite values"):
        Denoiser.from_pretrained(tmp_path / "G.safetensors", engine="onnxruntime")


def test_auto_runs_torch_where_cuda_is_wanted(unet_with_graph: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # ONNX Runtime here is the CPU build: a current graph must not pull a GPU run onto the CPU
    from denoise_gan.inference import engine_choice

    picked: list[str] = []

    def torch_engine(weights: Path, device: str, *_: object) -> SimpleNamespace:
        picked.append(device)
        return SimpleNamespace(weights=weights, backend=SimpleNamespace(notes=[]))

    monkeypatch.setattr(engine_choice, "wants_cuda", lambda device: True)
    monkeypatch.setattr(engine_choice, "_torch", torch_engine)
    assert engine_choice.load_backend(unet_with_graph, device="auto").weights == unet_with_graph
    assert picked == ["auto"]


def test_engine_options_are_checked(unet_with_graph: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each refusal's advice works where it is given: on the CPU, half precision is refused as such (it said
    "use --engine torch", which then refused it too), and a graph alone is not sent to --engine torch."""
    from denoise_gan.inference import engine_choice

    with pytest.raises(UserError, match="unknown engine"):
        Denoiser.from_pretrained("default", engine="tensorrt")
    with pytest.raises(UserError, match="bf16 needs a CUDA GPU; on the CPU only fp32 runs"):
        Denoiser.from_pretrained("default", engine="onnxruntime", precision="bf16")
    monkeypatch.setattr(engine_choice, "cuda_may_be_present", lambda: False)  # no NVIDIA driver, as here
    with pytest.raises(UserError, match="no CUDA GPU is available"):  # no GPU: not sent to torch, which says so
        Denoiser.from_pretrained("default", engine="onnxruntime", device="cuda", precision="bf16")
    monkeypatch.setattr(engine_choice, "wants_cuda", lambda device: True)  # as on a machine with a GPU
    monkeypatch.setattr(engine_choice, "cuda_may_be_present", lambda: True)
    with pytest.raises(UserError, match="runs fp32; use engine=torch for precision=bf16"):
        Denoiser.from_pretrained("default", engine="onnxruntime", precision="bf16")
    with pytest.raises(UserError, match="runs fp32; give the model's .safetensors with engine=torch for"):
        Denoiser.from_pretrained(unet_with_graph.with_suffix(".onnx"), precision="fp16")
    monkeypatch.undo()
    with pytest.raises(UserError, match="give its .safetensors"):
        Denoiser.from_pretrained(unet_with_graph.with_suffix(".onnx"), engine="torch")


def test_a_graph_that_is_not_ours_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    onnx = pytest.importorskip("onnx")
    helper = onnx.helper
    node = helper.make_node("Identity", ["image"], ["denoised"])
    value = helper.make_tensor_value_info
    graph = helper.make_graph([node], "g", [value("image", onnx.TensorProto.FLOAT, [1, 3, None, None])],
                              [value("denoised", onnx.TensorProto.FLOAT, [1, 3, None, None])])
    path = tmp_path / "other.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    with pytest.raises(WeightsError, match="not a denoise-gan ONNX graph.*export`\\)?$"):
        Denoiser.from_pretrained(path)
    from denoise_gan import extras  # on the base install the re-export hint says export needs torch

    monkeypatch.setattr(extras, "installed", lambda module: module != "torch")
    with pytest.raises(WeightsError, match=r"re-export it with `denoise-gan export` \(export needs torch: pip"):
        Denoiser.from_pretrained(path, engine="onnxruntime")
    monkeypatch.undo()
    path.write_bytes(b"not a graph at all")
    with pytest.raises(WeightsError, match="not a loadable ONNX graph"):
        Denoiser.from_pretrained(path)


def test_a_finished_training_run_carries_its_graph(finished_run: Path) -> None:
    graph = finished_run / "G.onnx"
    assert graph.is_file()
    den = Denoiser.from_pretrained(finished_run, device="cpu")  # the folder: its G, run on its graph
    assert den.engine_name == "onnxruntime" and den.backend.path == graph
    torch_den = Denoiser.from_pretrained(finished_run, engine="torch", device="cpu")
    image = noise_image(40, 48, seed=5)
    assert psnr(den(image), torch_den(image)) >= 50


def test_a_graph_whose_metadata_names_other_channels_than_its_input_is_refused(tmp_path: Path) -> None:
    """denoise failed every file, and benchmark printed ONNX Runtime's traceback at its warm-up pass."""
    import onnx

    from denoise_gan.nets import graph_contract as gc

    graph = onnx.load(str(shipped_dir() / "default.onnx"))
    for prop in graph.metadata_props:
        if prop.key == gc.CHANNELS_KEY:
            prop.value = "1"
    onnx.save(graph, str(tmp_path / "c1.onnx"))
    with pytest.raises(WeightsError, match=r"shape \['batch', 3, 'height', 'width'\].*says 1 channel"):
        Denoiser.from_pretrained(tmp_path / "c1.onnx", device="cpu")


def test_a_graph_with_another_output_or_fixed_sides_is_refused_on_loading(tmp_path: Path) -> None:
    """Both loaded without a word, then failed every file in ONNX Runtime's words (a raw InvalidArgument from
    the Python API, not the one error class a caller catches)."""
    import onnx

    from denoise_gan.nets import graph_contract as gc

    graph = onnx.load(str(shipped_dir() / "default.onnx"))
    graph.graph.output[0].name = "out"
    for node in graph.graph.node:
        node.output[:] = ["out" if name == gc.OUTPUT else name for name in node.output]
    onnx.save(graph, str(tmp_path / "renamed.onnx"))
    with pytest.raises(WeightsError, match="no output named 'denoised' \\(it has 'out'\\)"):
        Denoiser.from_pretrained(tmp_path / "renamed.onnx", device="cpu")
    graph = onnx.load(str(shipped_dir() / "default.onnx"))
    image = next(i for i in graph.graph.input if i.name == gc.IMAGE)
    for dim, size in zip(image.type.tensor_type.shape.dim, (1, 3, 64, 64)):
        dim.dim_value = size
    onnx.save(graph, str(tmp_path / "fixed.onnx"))
    with pytest.raises(WeightsError, match="fixes its image's batch 1, height 64, width 64"):
        Denoiser.from_pretrained(tmp_path / "fixed.onnx", device="cpu")


def test_a_graph_whose_output_is_not_its_inputs_shape_fails_in_one_line(tmp_path: Path) -> None:
    """A foreign graph (no digest) returning one channel for three was broadcast into a gray image, exit 0, and
    others were cropped or pasted one tile over all: the output's shape was never checked."""
    import onnx
    from onnx import helper

    from denoise_gan.nets import graph_contract as gc

    graph = onnx.load(str(shipped_dir() / "default.onnx"))
    for node in graph.graph.node:
        node.output[:] = ["pre" if name == gc.OUTPUT else name for name in node.output]
    graph.graph.node.append(helper.make_node("ReduceMean", ["pre"], [gc.OUTPUT], axes=[1], keepdims=1))
    kept = [p for p in graph.metadata_props if p.key != gc.GRAPH_DIGEST_KEY]
    del graph.metadata_props[:]
    graph.metadata_props.extend(kept)
    onnx.save(graph, str(tmp_path / "gray_out.onnx"))
    den = Denoiser.from_pretrained(tmp_path / "gray_out.onnx", engine="onnxruntime", device="cpu")
    with pytest.raises(WeightsError, match=r"returned float32 of shape \(1, 1, (\d+), \1\) for a batch of shape "
                                           r"\(1, 3, \1, \1\)"):
        den(np.full((64, 64, 3), 120, np.uint8))


def test_a_graph_under_a_name_that_is_not_utf8_runs_on_onnx_runtime(tmp_path: Path) -> None:
    """ONNX Runtime refused the path ("incompatible constructor arguments"), reported as a graph it cannot load."""
    import os
    import shutil

    folder = tmp_path / os.fsdecode(b"caf\xe9")  # Latin-1 bytes, as an old archive unpacks
    folder.mkdir()
    shutil.copy(shipped_dir() / "default.onnx", folder / "m.onnx")
    den = Denoiser.from_pretrained(folder / "m.onnx", device="cpu")
    assert den.engine_name == "onnxruntime" and den(np.zeros((40, 40, 3), np.uint8)).shape == (40, 40, 3)


def test_a_graph_with_external_data_loads_and_an_unreadable_one_is_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Opened from its bytes, a graph whose weights sit in a data file beside it lost them; an unreadable graph
    is the one-line refusal, not a traceback."""
    import os

    import onnx

    graph = onnx.load(str(shipped_dir() / "default.onnx"))
    onnx.save(graph, str(tmp_path / "g.onnx"), save_as_external_data=True, location="g.onnx.data",
              size_threshold=0)
    assert (tmp_path / "g.onnx.data").stat().st_size > (tmp_path / "g.onnx").stat().st_size
    den = Denoiser.from_pretrained(tmp_path / "g.onnx", device="cpu")
    assert den(np.zeros((40, 40, 3), np.uint8)).shape == (40, 40, 3)
    folder = tmp_path / os.fsdecode(b"caf\xe9")
    folder.mkdir()
    (folder / "m.onnx").write_bytes((shipped_dir() / "default.onnx").read_bytes())

    def unreadable(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", unreadable)
    with pytest.raises(WeightsError, match="not a loadable ONNX graph .*Permission denied"):
        Denoiser.from_pretrained(folder / "m.onnx", device="cpu")


def _without(graph_path: Path, key: str) -> None:
    """The graph as an earlier version exported it: one metadata key missing, and the content digest (younger
    than every such key) too."""
    import onnx

    from denoise_gan.nets import graph_contract as gc

    graph = onnx.load(str(graph_path))
    kept = [p for p in graph.metadata_props if p.key not in (key, gc.GRAPH_DIGEST_KEY)]
    assert len(kept) == len(graph.metadata_props) - 2
    del graph.metadata_props[:]
    graph.metadata_props.extend(kept)
    onnx.save(graph, str(graph_path))


def test_a_level_aware_graph_from_before_the_brightness_profile_is_not_used_beside_its_weights(
        tmp_path: Path) -> None:
    """Same weights, older graph: it would denoise with the raw level map while torch profiles it, so auto
    passes over it, --engine onnxruntime says to re-export, and the graph run on its own says what it is."""
    from denoise_gan.nets import graph_contract as gc

    weights = tmp_path / "G.safetensors"
    save_generator(weights, random_level_net(), TINY_LEVEL)
    export_model(weights, tmp_path / "G.onnx", "onnx")
    assert Denoiser.from_pretrained(weights, device="cpu").engine_name == "onnxruntime"
    _without(tmp_path / "G.onnx", gc.LEVEL_MAP_KEY)
    assert Denoiser.from_pretrained(weights, device="cpu").engine_name == "torch"
    with pytest.raises(WeightsError, match="before the blind level map was profiled.*--overwrite"):
        Denoiser.from_pretrained(weights, engine="onnxruntime", device="cpu")
    alone = Denoiser.from_pretrained(tmp_path / "G.onnx", device="cpu")
    assert any("raw map" in note for note in alone.notes)


def test_a_graph_from_before_the_level_cap_still_runs_and_says_so(tmp_path: Path) -> None:
    """It differs from today's only above the cap, so it is used (a torch-less install could not remake it),
    with a note that a level above the cap runs uncapped there."""
    from denoise_gan.nets import graph_contract as gc

    weights = tmp_path / "G.safetensors"
    save_generator(weights, random_level_net(), TINY_LEVEL)
    export_model(weights, tmp_path / "G.onnx", "onnx")
    _without(tmp_path / "G.onnx", gc.LEVEL_MAX_KEY)  # (and the digest, which came later)
    den = Denoiser.from_pretrained(weights, engine="onnxruntime", device="cpu")
    assert den.engine_name == "onnxruntime"
    assert any("blind map above σ 100 runs uncapped; re-export" in note for note in den.notes), den.notes
    assert any(f"G.onnx {gc.UNCHECKED_GRAPH}; re-export" in note for note in den.notes), den.notes
    den = Denoiser.from_pretrained(weights, device="cpu")  # auto: a graph no digest vouches for is not run
    assert den.engine_name == "torch"                      # beside weights torch can run
    assert any(f"G.onnx {gc.UNCHECKED_GRAPH}; ran G.safetensors on torch instead" in note for note in den.notes)


def test_a_graph_from_before_the_level_cap_is_given_a_fixed_level_capped(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A fixed σ × strength above the cap runs as σ LEVEL_MAX on it too, as the run's note says (it ran uncapped,
    under that note); only a blind map, known inside the graph, stays uncapped there (the engine's note)."""
    from denoise_gan.nets import export as export_module
    from denoise_gan.nets import graph_contract as gc

    weights = tmp_path / "G.safetensors"
    save_generator(weights, random_level_net(), TINY_LEVEL)
    export_model(weights, tmp_path / "today.onnx", "onnx")
    monkeypatch.setattr(export_module, "scaled_level", lambda level, strength, _cap: level * strength)  # old graph
    export_model(weights, tmp_path / "old.onnx", "onnx")
    _without(tmp_path / "old.onnx", gc.LEVEL_MAX_KEY)
    image = noise_image(32, 32)
    today, old = (Denoiser.from_pretrained(tmp_path / name, device="cpu") for name in ("today.onnx", "old.onnx"))
    for sigma, strength in ((2 * LEVEL_MAX, 1.0), (LEVEL_MAX, 2.5)):
        assert np.array_equal(old(image, sigma=sigma, strength=strength), today(image, sigma=sigma, strength=strength))


def test_a_denoiser_on_onnx_runtime_can_be_pickled_and_copied() -> None:
    """The CPU default (ONNX Runtime) failed `pickle` and `copy.deepcopy` (its session), so a multiprocessing
    pool could not take it; the torch one could."""
    import copy
    import pickle

    den = Denoiser.from_pretrained("default", engine="onnxruntime", device="cpu")
    image = noise_image(64, 64)
    for twin in (pickle.loads(pickle.dumps(den)), copy.deepcopy(den)):
        assert twin.engine_name == "onnxruntime"
        np.testing.assert_array_equal(twin(image), den(image))


@pytest.mark.parametrize("model", ["torch_denoiser", "noise_model"])
def test_a_forked_pool_runs_a_model_torch_already_ran_in_the_parent(model: str, tmp_path: Path) -> None:
    """A `multiprocessing` pool's default (fork) workers hung for ever in torch's thread pool when the parent had
    already run a torch Denoiser or a NoiseModel (whose draws run on torch on either engine), with the parent's
    model or with one a worker loads itself (which set torch back to the parent's thread count)."""
    import os
    import subprocess
    import sys

    make = ('Denoiser.from_pretrained("default", engine="torch", device="cpu")' if model == "torch_denoiser" else
            'NoiseModel.from_pretrained("default-F")')
    (tmp_path / "pool.py").write_text(  # the parent's model sent to the workers, and one each worker loads
        "import multiprocessing, numpy as np\n"
        "from denoise_gan import Denoiser, NoiseModel\n"
        f"run = {make}\n"
        "image = (np.random.default_rng(0).random((48, 48, 3)) * 255).astype(np.uint8)\n"
        "alone = run(image)\n"
        "with multiprocessing.get_context('fork').Pool(2) as pool:\n"
        "    pooled = pool.map(run, [image, image])\n"
        "def load():\n"
        "    global own\n"
        f"    own = {make}\n"
        "def by_own(image):\n"
        "    return own(image)\n"
        "with multiprocessing.get_context('fork').Pool(1, initializer=load) as pool:\n"
        "    pooled += pool.map(by_own, [image])\n"
        # within a level: one thread against the parent's several may round a pixel the other way
        "print(len(pooled) == 3 and all(np.abs(p.astype(int) - alone).max() <= 1 for p in pooled))\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    try:
        done = subprocess.run([sys.executable, str(tmp_path / "pool.py")], env=env, capture_output=True, text=True,
                              timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("the forked pool hung")
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr


def test_a_copy_of_an_onnx_runtime_denoiser_reopens_its_graph_from_another_directory_or_says_it_is_gone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model loaded by a relative path could not be copied after a chdir (a pool's worker elsewhere), and a
    removed graph file was "not a loadable ONNX graph"."""
    import copy

    for name in ("default.safetensors", "default.onnx"):
        shutil.copy(shipped_dir() / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    den = Denoiser.from_pretrained("./default.safetensors", engine="onnxruntime", device="cpu")
    image = noise_image(32, 32)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    np.testing.assert_array_equal(copy.deepcopy(den)(image), den(image))
    (tmp_path / "default.onnx").unlink()
    with pytest.raises(WeightsError, match=r"^default\.onnx: the graph file this model was loaded from is gone"):
        copy.deepcopy(den)
    np.testing.assert_array_equal(den(image), den(image))  # the loaded one runs on: its session is in memory


def test_the_graph_runs_for_a_resaved_copy_and_for_an_explicit_fp32(tmp_path: Path) -> None:
    """A copy of the default whose writer put its metadata keys in another order (another sha256, the same
    content) still owns the graph made from the original; and --precision fp32, which the graph runs, keeps the
    light engine rather than sending the CPU run to torch."""
    from denoise_gan.inference.engine_choice import load_backend

    copy = reordered_metadata(shipped_dir() / "default.safetensors", tmp_path / "default.safetensors")
    shutil.copy(shipped_dir() / "default.onnx", tmp_path / "default.onnx")
    assert file_sha256(copy) != file_sha256(shipped_dir() / "default.safetensors")
    loaded = load_backend(copy, device="cpu")
    assert loaded.backend.name == "onnxruntime" and not loaded.backend.notes
    assert load_backend("default", device="cpu", precision="fp32").backend.name == "onnxruntime"


def test_onnx_runtime_runs_on_the_device_and_threads_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """--device cuda puts CUDA's provider first (a CPU-first list would run on the CPU without a word, and
    `where` says which); --threads reaches the session."""
    from denoise_gan.inference import onnx_engine

    with_cuda = SimpleNamespace(get_available_providers=lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert onnx_engine.providers_for("cuda", with_cuda) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert onnx_engine.providers_for("cpu", with_cuda) == ["CPUExecutionProvider"]
    cpu_only = SimpleNamespace(get_available_providers=lambda: ["CPUExecutionProvider"])
    monkeypatch.setattr(onnx_engine, "cuda_may_be_present", lambda: False)  # no GPU at all: said so, as torch would
    with pytest.raises(UserError, match="no CUDA GPU is available \\(use --device cpu\\)"):
        onnx_engine.providers_for("cuda", cpu_only)
    monkeypatch.setattr(onnx_engine, "cuda_may_be_present", lambda: True)
    with pytest.raises(UserError, match="no CUDA provider .* or use --engine torch for CUDA"):
        onnx_engine.providers_for("cuda", cpu_only)
    with pytest.raises(UserError, match="or give the model's .safetensors with --engine torch for CUDA"):
        onnx_engine.providers_for("cuda", cpu_only, "give the model's .safetensors with --engine torch")
    opened: list[tuple[list[str], int]] = []
    real = onnx_engine.open_session
    monkeypatch.setattr(onnx_engine, "open_session",
                        lambda model, providers, threads=0: opened.append((providers, threads)) or real(model,
                                                                                                     providers,
                                                                                                     threads))
    den = Denoiser.from_pretrained("default", engine="onnxruntime", device="cpu", threads=1)
    # the graph's session and its estimator graph's, both as asked
    assert opened == [(["CPUExecutionProvider"], 1)] * 2 and den.backend.where.startswith("cpu (onnxruntime")
    den.backend.providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]  # as a CUDA session reports it
    assert den.backend.where.startswith("cuda (onnxruntime")


def test_a_graph_damaged_in_its_metadata_is_one_line(unet_with_graph: Path, tmp_path: Path) -> None:
    """A byte of the graph's metadata that is not UTF-8 any more printed a UnicodeDecodeError traceback."""
    data = bytearray((unet_with_graph.parent / "G.onnx").read_bytes())
    data[-1] = 0xFF  # the metadata is serialised last: its final character, now no UTF-8 at all
    damaged = tmp_path / "damaged.onnx"
    damaged.write_bytes(bytes(data))
    write_image(tmp_path / "in" / "a.png", noise_image(40, 48))
    line = one_line_error(cli("denoise", tmp_path / "in", "-o", tmp_path / "out", "-c", damaged), "damaged.onnx")
    assert "not a loadable ONNX graph" in line and "UTF-8" in line
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_onnx_runtimes_fallback_banner_never_reaches_the_terminal(monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A damaged graph printed ONNX Runtime's four-line "EP Error ... Falling back" banner before the one-line
    error; a CUDA provider that failed fell back to the CPU with only that banner to say so. Its fallback is off
    now (the banner comes with it), and the error says why CUDA failed."""
    import onnxruntime

    from denoise_gan.inference import onnx_engine

    class Session:  # as ONNX Runtime's: the banner and a retry on the CPU only with its fallback on
        def __init__(self, model: object, options: object, providers: list[str], enable_fallback: int = 1) -> None:
            if enable_fallback:
                print("*************** EP Error ***************")
                print(f"EP Error bad bytes when using {providers}")
                print("Falling back to ['CPUExecutionProvider'] and retrying.")
                self.providers = ["CPUExecutionProvider"]
                return
            raise RuntimeError("bad bytes")

        def get_providers(self) -> list[str]:
            return self.providers

    monkeypatch.setattr(onnxruntime, "InferenceSession", Session)
    with pytest.raises(RuntimeError, match="bad bytes"):
        onnx_engine.open_session(b"graph", ["CPUExecutionProvider"])
    with pytest.raises(UserError, match=r"cannot use CUDAExecutionProvider here \(bad bytes\)"):
        onnx_engine.open_session(b"graph", ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert capsys.readouterr().out == ""


def test_opening_a_graph_leaves_sys_stdout_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every session swapped sys.stdout for a buffer while it was built: a host thread that redirected stdout
    meanwhile put the buffer back for good, and what the process printed after was lost."""
    import sys

    import onnxruntime

    from denoise_gan.inference import onnx_engine

    seen = []

    class Session:
        def __init__(self, *args: object, **kwargs: object) -> None:
            seen.append(sys.stdout)

        def get_providers(self) -> list[str]:
            return ["CPUExecutionProvider"]

    monkeypatch.setattr(onnxruntime, "InferenceSession", Session)
    onnx_engine.open_session(b"graph", ["CPUExecutionProvider"])
    assert seen == [sys.stdout]


def test_a_graph_altered_since_its_export_is_refused_and_its_weights_run_on_torch(unet_with_graph: Path,
                                                                                   tmp_path: Path) -> None:
    """One flipped byte in a graph's weights ran without a word and gave an image 41 grey levels off on average;
    beside its weights `auto` picked it all the same."""
    import onnx

    from denoise_gan.nets import graph_contract as gc
    from denoise_gan.nets.graph_digest import content_digest

    graph = unet_with_graph.parent / "G.onnx"
    data = graph.read_bytes()
    props = {p.key: p.value for p in onnx.load_from_string(data).metadata_props}
    assert props[gc.GRAPH_DIGEST_KEY] == content_digest(data)
    altered = bytearray(data)
    altered[len(data) // 2] ^= 0xFF  # inside the graph's initialisers: it still loads and runs
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(unet_with_graph, folder / "G.safetensors")
    (folder / "G.onnx").write_bytes(bytes(altered))
    with pytest.raises(WeightsError, match="the graph is not the one exported .*damaged or altered"):
        Denoiser.from_pretrained(folder / "G.onnx")
    beside = Denoiser.from_pretrained(folder / "G.safetensors", device="cpu")
    assert beside.engine_name == "torch" and any("not the one exported" in n for n in beside.notes), beside.notes
    image = noise_image(40, 48, seed=3)
    assert np.array_equal(beside(image), Denoiser.from_pretrained(unet_with_graph, engine="torch")(image))
    old = onnx.load_from_string(data)  # a graph exported before the digest: run unchecked, as before
    onnx.helper.set_model_props(old, {k: v for k, v in props.items() if k != gc.GRAPH_DIGEST_KEY})
    (tmp_path / "old.onnx").write_bytes(old.SerializeToString())
    assert Denoiser.from_pretrained(tmp_path / "old.onnx").engine_name == "onnxruntime"


def test_the_content_digest_reads_only_whole_protobuf_fields() -> None:
    from denoise_gan.nets.graph_digest import content_digest, has_external_data

    assert content_digest(b"") is not None
    assert content_digest(b"\x3a\x05ab") is None  # a field of 5 bytes with 2 left: a cut file
    assert content_digest(b"\x0b") is None  # a group (wire type 3): no ONNX field is one
    def entry(key: bytes, value: bytes) -> bytes:  # a metadata entry, ModelProto field 14
        body = b"\x0a" + bytes([len(key)]) + key + b"\x12" + bytes([len(value)]) + value
        return b"\x72" + bytes([len(body)]) + body

    stride = b"\x08\x01" + entry(b"stride", b"8")
    assert content_digest(stride + entry(b"graph_sha256", b"ab")) == content_digest(stride + entry(b"graph_sha256",
                                                                                                   b"cd"))
    assert content_digest(stride) != content_digest(b"\x08\x01" + entry(b"stride", b"9")) is not None
    assert content_digest(b"\x08\x01") != content_digest(b"\x08\x02")
    assert not has_external_data((shipped_dir() / "default.onnx").read_bytes())


@pytest.mark.parametrize("how", ["external data changed", "digest dropped"])
def test_an_altered_graph_its_digest_cannot_vouch_for_is_not_run_in_place_of_its_weights(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """Weights moved to a file beside the graph (which other tools do), or the digest entry removed, and then
    a changed byte: `auto` ran the altered graph in place of the weights, without a word (15.6 dB from torch)."""
    import shutil

    import onnx
    from onnx import numpy_helper

    from denoise_gan.inference import engine_choice
    from denoise_gan.nets import graph_contract as gc

    shutil.copy(shipped_dir() / "default.safetensors", tmp_path / "G.safetensors")
    graph = onnx.load(str(shipped_dir() / "default.onnx"))
    if how == "digest dropped":
        tensor = max((t for t in graph.graph.initializer if t.data_type == 1), key=lambda t: int(np.prod(t.dims)))
        tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor) * 3, tensor.name))
        kept = [p for p in graph.metadata_props if p.key != gc.GRAPH_DIGEST_KEY]
        del graph.metadata_props[:]
        graph.metadata_props.extend(kept)
        onnx.save(graph, str(tmp_path / "G.onnx"))
    else:
        onnx.save(graph, str(tmp_path / "G.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                  location="G.onnx.data", size_threshold=0)
        data = np.fromfile(tmp_path / "G.onnx.data", np.float32)
        data[-30000:] *= 3
        data.tofile(tmp_path / "G.onnx.data")
    den = Denoiser.from_pretrained(tmp_path / "G.safetensors", device="cpu")
    assert den.engine_name == "torch"
    assert den.notes == [f"{tmp_path / 'G.onnx'} {gc.UNCHECKED_GRAPH}; ran G.safetensors on torch instead"]
    monkeypatch.setattr(engine_choice, "installed", lambda module: module != "torch")  # the base install
    den = Denoiser.from_pretrained(tmp_path / "G.safetensors", device="cpu")
    assert den.engine_name == "onnxruntime"  # all it can run, with the note
    assert any(note.startswith(f"G.onnx {gc.UNCHECKED_GRAPH}; re-export it") for note in den.notes), den.notes


def test_a_misspelt_device_is_said_as_one_where_torch_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the base install `--device cuda:abc` was answered "running it on CUDA needs torch": a typo sent the
    user to install 4 GB; with torch the same typo was "unknown device"."""
    from denoise_gan.inference import engine_choice

    monkeypatch.setattr(engine_choice, "installed", lambda module: module != "torch")
    for device in ("cuda:abc", "gpu"):
        with pytest.raises(UserError, match=f"unknown device '{device}'; use auto, cpu, cuda or cuda:N"):
            engine_choice.load_backend("default", device=device)


def test_graphs_opened_in_several_threads_at_once_leave_stdout_as_it_was(monkeypatch: pytest.MonkeyPatch,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Keeping ONNX Runtime's banner off stdout swapped sys.stdout; two sessions opened at once put one's buffer
    back in its place, and everything printed after was lost (as did a host thread's own redirect meanwhile).
    Nothing swaps it now: the fallback that printed the banner is off."""
    import sys
    import threading
    import time

    import onnxruntime

    from denoise_gan.inference import onnx_engine

    class Session:
        def __init__(self, *args: object, enable_fallback: int = 1, **kwargs: object) -> None:
            if enable_fallback:
                print("EP Error slow when using ['CPUExecutionProvider']")
            time.sleep(0.01)

        def get_providers(self) -> list[str]:
            return ["CPUExecutionProvider"]

    monkeypatch.setattr(onnxruntime, "InferenceSession", Session)
    real = sys.stdout
    threads = [threading.Thread(target=onnx_engine.open_session, args=(b"g", ["CPUExecutionProvider"]))
               for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print("still here")
    assert sys.stdout is real and capsys.readouterr().out == "still here\n"


def test_a_graph_whose_metadata_or_file_changed_is_refused_fresh_and_unpickled(unet_with_graph: Path,
                                                                              tmp_path: Path) -> None:
    """The digest left the metadata out, so a stride flipped from 8 to 9 ran and changed the image; a pickled
    Denoiser reopened a graph damaged since without checking it."""
    import pickle

    import onnx

    from denoise_gan.nets import graph_contract as gc

    graph = onnx.load(str(unet_with_graph.parent / "G.onnx"))
    for prop in graph.metadata_props:
        if prop.key == gc.STRIDE_KEY:
            prop.value = str(int(prop.value) + 1)
    onnx.save(graph, str(tmp_path / "stride.onnx"))
    with pytest.raises(WeightsError, match="not the one exported"):
        Denoiser.from_pretrained(tmp_path / "stride.onnx")
    path = tmp_path / "g.onnx"
    shutil.copy(unet_with_graph.parent / "G.onnx", path)
    pickled = pickle.dumps(Denoiser.from_pretrained(path))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="not the one exported"):
        pickle.loads(pickled)


def test_a_graph_exported_while_its_weights_are_replaced_names_the_weights_it_holds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The weights were read, then hashed again after the graph was made: a run saving meanwhile gave a graph of
    step N's weights that named step N+1's file, and `auto` ran it in place of them, without a word."""
    from denoise_gan.nets import export as export_module

    weights = tmp_path / "G.safetensors"
    save_generator(weights, random_level_net(seed=1), TINY_LEVEL)
    first = weights.read_bytes()
    real_load = export_module.load_exportable

    def load_then_a_save_lands(source: str | Path) -> export_module.Exportable:
        model = real_load(source)
        save_generator(weights, random_level_net(seed=2), TINY_LEVEL)  # the run's next save, mid-export
        return model

    monkeypatch.setattr(export_module, "load_exportable", load_then_a_save_lands)
    export_model(weights, tmp_path / "G.onnx", "onnx")
    graph = Denoiser.from_pretrained(tmp_path / "G.onnx", device="cpu")
    assert graph.backend.info.source_sha256 == file_sha256_of(first)
    den = Denoiser.from_pretrained(weights, device="cpu")  # the newer weights: the graph is not theirs
    assert den.engine_name == "torch" and any("stale graph" in note for note in den.notes), den.notes


def file_sha256_of(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_a_graph_with_odd_metadata_or_missing_external_data_is_one_whole_line(tmp_path: Path) -> None:
    """An arch that is a list was a TypeError traceback (and `auto` did not fall back to torch); a graph whose
    external data file is missing was cut at 160 characters, before ONNX Runtime's reason."""
    import json

    import onnx

    from denoise_gan.nets import graph_contract as gc

    graph = onnx.load(str(shipped_dir() / "default.onnx"))
    props = {p.key: p.value for p in graph.metadata_props}
    props[gc.CONFIG_KEY] = json.dumps({**json.loads(props[gc.CONFIG_KEY]), "arch": ["level"]})
    onnx.helper.set_model_props(graph, props)
    onnx.save(graph, str(tmp_path / "odd.onnx"))
    with pytest.raises(WeightsError, match=r"bad denoise-gan graph metadata \(TypeError: its config's arch is list, "
                                           r"not a name\)"):
        Denoiser.from_pretrained(tmp_path / "odd.onnx", device="cpu")
    (tmp_path / "ext").mkdir()
    onnx.save(onnx.load(str(shipped_dir() / "default.onnx")), str(tmp_path / "ext" / "G.onnx"),
              save_as_external_data=True, all_tensors_to_one_file=True, location="G.onnx.data", size_threshold=0)
    (tmp_path / "ext" / "G.onnx.data").unlink()
    with pytest.raises(WeightsError) as refused:
        Denoiser.from_pretrained(tmp_path / "ext" / "G.onnx", device="cpu")
    assert "not a loadable ONNX graph" in str(refused.value) and "G.onnx.data" in str(refused.value).split(
        "not a loadable ONNX graph", 1)[1], str(refused.value)


def test_a_graph_onnx_runtime_cannot_read_is_the_graphs_fault_on_any_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the provider's failures (ONNX Runtime's fallback took ValueError, RuntimeError and EPFail) say the
    provider cannot be used; a damaged graph opened for CUDA was blamed on CUDA."""
    import onnxruntime

    from denoise_gan.inference import onnx_engine

    class InvalidProtobuf(Exception):  # onnxruntime's own type: derives from Exception alone
        pass

    class Session:
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise InvalidProtobuf("[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Failed to load model")

    monkeypatch.setattr(onnxruntime, "InferenceSession", Session)
    with pytest.raises(InvalidProtobuf):
        onnx_engine.open_session(b"graph", ["CUDAExecutionProvider", "CPUExecutionProvider"])


def test_a_gpu_provider_failing_while_it_runs_is_not_blamed_on_the_graph() -> None:
    """With ONNX Runtime's fallback off, a CUDA provider's failure in a run reached us; it was worded as a broken
    graph. (Also: open_session now takes ONNX Runtime's own error types, which derive from Exception alone.)"""
    from denoise_gan.errors import UserError
    from denoise_gan.inference import engine_choice

    class EPFail(Exception):  # noqa: N818 (onnxruntime's own name, which the engine reads)
        pass

    class Failing:
        def run(self, *args: object) -> None:
            raise EPFail("CUDA failure 999: unknown error")

    backend = engine_choice.load_backend("default", engine="onnxruntime").backend
    backend.session, backend.providers = Failing(), ["CUDAExecutionProvider", "CPUExecutionProvider"]
    with pytest.raises(UserError, match="CUDAExecutionProvider failed .CUDA failure 999.*run on the CPU"):
        backend.run(np.zeros((1, 3, 128, 128), np.float32), 1.0, None)
