"""A photo cut into tiles is denoised with one level profile read from all its tiles, not one per tile.

Contract: a blind level-aware model's tiles of one photo are all conditioned on the profile of that photo's
cells (``profile_bins.photo_profile``, the graph's own rule in NumPy); a fixed σ, a photo of one tile, or a
graph exported before this, profiles each tile on its own, as before; both engines agree.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch

from data_tools.images import read_image, write_image
from data_tools.noise import parse_noise_spec
from denoise_gan import Denoiser
from denoise_gan.errors import UserError, WeightsError
from denoise_gan.inference.infer_config import InferConfig
from denoise_gan.inference.tiling import TiledDenoiser
from denoise_gan.inference.torch_engine import TorchBackend
from denoise_gan.nets import graph_contract as gc
from denoise_gan.nets.export import export_model, load_exportable, onnx_bytes
from denoise_gan.nets.level_profile import brightness_profile
from denoise_gan.nets.profile_bins import MIN_CELLS, PROFILE_BINS, THIN_BIN, photo_profile
from denoise_gan.nets.shipped import shipped_dir
from denoise_gan.nets.weights import load_denoiser, save_generator
from helpers import TINY_LEVEL, cli, random_level_net


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def test_the_photo_profile_is_the_graphs_rule_over_all_the_tiles_cells() -> None:
    """Each tile given the NumPy profile of all tiles' cells gets the map the graph's rule gives those cells laid
    side by side as one image, bit for bit; all negative, a tile is profiled on its own as before."""
    generator = torch.Generator().manual_seed(5)
    cells = torch.rand(3, 3, 12, 20, generator=generator)
    brightness = torch.rand(3, 3, 12, 20, generator=generator) ** 2
    brightness[0, :, :2] = 1.0  # exactly full brightness: the top bin's
    profile = photo_profile(cells.numpy(), brightness.numpy())
    assert profile.shape == (3, PROFILE_BINS) and profile.dtype == np.float32
    n, c, h, w = cells.shape
    side_by_side = brightness_profile(*(t.permute(1, 2, 0, 3).reshape(1, c, h, n * w) for t in (cells, brightness)))
    shared = brightness_profile(cells, brightness, torch.from_numpy(profile).expand(n, c, PROFILE_BINS))
    assert torch.equal(shared, side_by_side.reshape(c, h, n, w).permute(2, 0, 1, 3))
    own = brightness_profile(cells, brightness, torch.full((n, c, PROFILE_BINS), THIN_BIN))
    assert torch.equal(own, brightness_profile(cells, brightness))


def test_a_bin_with_too_few_cells_is_marked_thin() -> None:
    brightness = np.full((1, 1, 4, 4), 0.3, np.float32)
    brightness[..., 0, :MIN_CELLS - 1 - 4] = 0.9  # fewer than MIN_CELLS cells in the top bins' neighbour
    cells = np.linspace(0.0, 0.2, 16, dtype=np.float32).reshape(1, 1, 4, 4)
    profile = photo_profile(cells, brightness)
    in_bin = np.sort(cells[brightness == np.float32(0.3)])
    assert profile[0, int(0.3 * PROFILE_BINS)] == in_bin[(len(in_bin) - 1) // 2]
    assert (profile[0, np.arange(PROFILE_BINS) != int(0.3 * PROFILE_BINS)] == THIN_BIN).all()


class Spy(TorchBackend):
    """The torch backend, recording what the tiler asks of it."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__(net, "cpu", "fp32")
        self.read: list[tuple[np.ndarray, np.ndarray]] = []
        self.given: list[np.ndarray | None] = []

    def cells(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        got = super().cells(batch)
        self.read.append(got)
        return got

    def run(self, batch: np.ndarray, strength: float, sigma: float | None,
            profile: np.ndarray | None = None) -> np.ndarray:
        self.given.append(None if profile is None else profile.copy())
        return super().run(batch, strength, sigma, profile)


def test_every_tile_of_a_photo_gets_its_photos_profile_and_a_one_tile_image_its_own() -> None:
    spy = Spy(random_level_net())
    den = TiledDenoiser(spy, InferConfig(tile=128, overlap=16, batch_size=4))
    large = np.random.default_rng(0).integers(0, 256, (200, 300, 3), np.uint8)
    small = np.random.default_rng(1).integers(0, 256, (90, 100, 3), np.uint8)
    den.denoise_many([large, small])
    expected = photo_profile(np.concatenate([c for c, _ in spy.read]), np.concatenate([b for _, b in spy.read]))
    assert sum(len(c) for c, _ in spy.read) == 6  # the large photo's 2x3 tiles alone are read first
    items = np.concatenate([p for p in spy.given if p is not None])
    assert len(items) == 7  # all seven tiles went with profiles: six of the photo's, one "its own"
    assert sum((item == expected).all() for item in items) == 6
    assert sum((item == THIN_BIN).all() for item in items) == 1
    spy.read.clear(), spy.given.clear()
    den(large, sigma=20)  # a fixed level: no profile to read
    assert not spy.read and spy.given == [None, None]


def test_the_shared_profile_denoises_the_photo_not_each_tile_on_its_own() -> None:
    """The tiles' output is what G gives each tile with the photo's map: the same net run tile by tile with the
    profile given by hand."""
    net = load_denoiser(shipped_dir() / "default.safetensors")[0].eval()
    image = skimage.data.coffee()[150:278, 100:356].copy()  # clean: the cup's rim and the saucer's texture
    got = TiledDenoiser(TorchBackend(net, "cpu", "fp32"), InferConfig(tile=128, overlap=0))(image)
    tiles = torch.from_numpy(image).permute(2, 0, 1).float().div(255).reshape(3, 128, 2, 128).permute(2, 0, 1, 3)
    with torch.no_grad():
        cells, brightness = net.estimator.cells_and_brightness(tiles)
        profile = torch.from_numpy(photo_profile(cells.numpy(), brightness.numpy())).expand(2, 3, PROFILE_BINS)
        by_hand = net(tiles, profile=profile).clamp(0, 1)
        each_own = net(tiles).clamp(0, 1)
    whole = lambda t: (t.permute(1, 2, 0, 3).reshape(3, 128, 256).permute(1, 2, 0) * 255).round().byte().numpy()  # noqa: E731
    assert np.abs(got.astype(int) - whole(by_hand)).max() <= 1
    assert np.abs(whole(by_hand).astype(int) - whole(each_own)).max() > 5  # (the test tells the two apart)


@pytest.mark.parametrize("engine", ["onnxruntime", "torch"])
def test_a_clean_photo_cut_into_tiles_comes_back_as_whole(engine: str) -> None:
    """The coffee cup, clean, at 256-px tiles: each tile read its own part's texture as noise (41.0 dB; 46.8
    whole); its photo's profile keeps it near the whole photo's result (46.1)."""
    clean = skimage.data.coffee()
    tiled = Denoiser.from_pretrained("default", engine=engine, device="cpu", tile=256)(clean)
    assert psnr(tiled, clean) >= 45.0


def test_a_graph_exported_before_the_shared_profile_runs_each_tile_on_its_own(tmp_path: Path) -> None:
    """As an earlier export left it (no level_profile input, no estimator graph): beside its weights torch runs
    them instead; alone it runs as it did, per tile, and says so."""
    weights = tmp_path / "G.safetensors"
    save_generator(weights, random_level_net(), TINY_LEVEL)
    model = load_exportable(weights)
    model.net.photo_profile = False
    (tmp_path / "G.onnx").write_bytes(onnx_bytes(model))
    beside = Denoiser.from_pretrained(weights, device="cpu")
    assert beside.engine_name == "torch" and any(gc.PREDATES_PHOTO_PROFILE in note for note in beside.notes)
    alone = Denoiser.from_pretrained(tmp_path / "G.onnx", device="cpu", tile=128)
    assert any("reads its own noise level" in note for note in alone.notes)
    image = parse_noise_spec("gaussian:sigma=20").apply(skimage.data.chelsea()[:200, :300], 0)[0]
    per_tile = TiledDenoiser(TorchBackend(model.net, "cpu", "fp32"), InferConfig(tile=128))(image)
    assert psnr(alone(image), per_tile) >= 50


def test_a_damaged_estimator_graph_is_one_line(tmp_path: Path) -> None:
    import onnx

    weights = tmp_path / "G.safetensors"
    save_generator(weights, random_level_net(), TINY_LEVEL)
    export_model(weights, tmp_path / "G.onnx", "onnx")
    graph = onnx.load(str(tmp_path / "G.onnx"))
    for prop in graph.metadata_props:
        if prop.key == gc.ESTIMATOR_KEY:
            prop.value = "bm90IGEgZ3JhcGg="  # base64 of "not a graph"
    onnx.save(graph, str(tmp_path / "G.onnx"))
    with pytest.raises(WeightsError, match=f"its {gc.ESTIMATOR_KEY} is not a loadable graph") as caught:
        Denoiser.from_pretrained(tmp_path / "G.onnx", device="cpu")
    assert "\n" not in str(caught.value)


def test_level_per_tile_gives_each_tile_its_own_profile_again() -> None:
    spy = Spy(random_level_net())
    large = np.random.default_rng(0).integers(0, 256, (200, 300, 3), np.uint8)
    TiledDenoiser(spy, InferConfig(tile=128, level_per_tile=True))(large)
    assert not spy.read and spy.given == [None, None]  # six tiles in two batches, each profiled on its own
    with pytest.raises(UserError, match="level_per_tile must be True or False"):
        InferConfig(level_per_tile="yes")


def test_a_composite_of_two_noise_levels_is_followed_per_tile_on_request(tmp_path: Path) -> None:
    """A photo clean on the left and noisy on the right at the same brightness: one profile per photo smooths
    the clean half as the average says; `--level-per-tile` at a small tile gives it back nearly as it was."""
    clean = skimage.data.chelsea()[:256, :384]
    noisy = clean.copy()
    noisy[:, 192:] = parse_noise_spec("gaussian:sigma=25").apply(clean, 0)[0][:, 192:]
    write_image(tmp_path / "in" / "cat.png", noisy)
    for flag, out in (((), "photo"), (("--level-per-tile",), "tile")):
        result = cli("denoise", tmp_path / "in", "-o", tmp_path / out, "--tile", "128", *flag)
        assert result.exit_code == 0, result.output
    left = {out: psnr(read_image(tmp_path / out / "cat.png").pixels[:, :160], clean[:, :160])
            for out in ("photo", "tile")}
    assert left["tile"] >= left["photo"] + 3, left


def test_a_benchmark_row_says_how_the_level_was_profiled(tmp_path: Path) -> None:
    """So a row stored before a photo's tiles shared one profile (or with the other setting) is made again."""
    from denoise_gan.evaluation.benchmark.methods import load_models

    for per_tile, word in ((False, "photo"), (True, "tile")):
        (model,) = load_models([], InferConfig(device="cpu", level_per_tile=per_tile))
        assert f"one profile per {word}" in model.method.rule


def test_an_estimator_graph_giving_other_shapes_is_one_line(tmp_path: Path) -> None:
    """An unchecked graph (no digest) whose estimator gives cells and brightness of different shapes: the profile
    would be NumPy's traceback; it is the graph's one-line error."""
    import base64

    import onnx
    from onnx import TensorProto, helper

    weights = tmp_path / "G.safetensors"
    save_generator(weights, random_level_net(), TINY_LEVEL)
    export_model(weights, tmp_path / "G.onnx", "onnx")
    image = helper.make_tensor_value_info(gc.IMAGE, TensorProto.FLOAT, ["n", 3, "h", "w"])
    outputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in (gc.CELLS, gc.BRIGHTNESS)]
    nodes = [helper.make_node("Identity", [gc.IMAGE], [gc.CELLS]),
             helper.make_node("ReduceMean", [gc.IMAGE], [gc.BRIGHTNESS], axes=[1], keepdims=1)]
    odd = helper.make_model(helper.make_graph(nodes, "odd", [image], outputs),
                            opset_imports=[helper.make_opsetid("", 17)])
    graph = onnx.load(str(tmp_path / "G.onnx"))
    kept = [p for p in graph.metadata_props if p.key not in (gc.ESTIMATOR_KEY, gc.GRAPH_DIGEST_KEY)]
    del graph.metadata_props[:]
    graph.metadata_props.extend(kept)
    onnx.helper.set_model_props(graph, {**{p.key: p.value for p in kept},
                                        gc.ESTIMATOR_KEY: base64.b64encode(odd.SerializeToString()).decode()})
    onnx.save(graph, str(tmp_path / "G.onnx"))
    den = Denoiser.from_pretrained(tmp_path / "G.onnx", device="cpu", tile=128)
    with pytest.raises(WeightsError, match="returned cells of shape .* and brightness of shape") as caught:
        den(np.zeros((200, 300, 3), np.uint8))
    assert "\n" not in str(caught.value)


def test_a_graph_from_before_the_shared_profile_still_runs_its_weights_on_the_base_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Beside its weights on an install without torch, such a graph was refused as stale, its advice (export) needing
    the torch the user lacks, though it ran the day before; it runs each tile on its own profile, as it did, and says
    so."""
    from denoise_gan.inference import engine_choice

    weights = tmp_path / "G.safetensors"
    save_generator(weights, random_level_net(), TINY_LEVEL)
    model = load_exportable(weights)
    model.net.photo_profile = False
    (tmp_path / "G.onnx").write_bytes(onnx_bytes(model))
    monkeypatch.setattr(engine_choice, "installed", lambda module: module != "torch")  # the base install
    den = Denoiser.from_pretrained(weights, device="cpu", tile=128)
    assert den.engine_name == "onnxruntime" and any("reads its own noise level" in note for note in den.notes)
    asked = Denoiser.from_pretrained(weights, engine="onnxruntime", device="cpu")  # not refused when asked for by name
    assert any("reads its own noise level" in note for note in asked.notes)
    image = parse_noise_spec("gaussian:sigma=20").apply(skimage.data.chelsea()[:200, :300], 0)[0]
    per_tile = TiledDenoiser(TorchBackend(model.net, "cpu", "fp32"), InferConfig(tile=128))(image)
    assert psnr(den(image), per_tile) >= 50


def test_level_per_tile_where_it_changes_nothing_is_said() -> None:
    """With --sigma, --tile 0 or a model without a shared profile (a blind U-Net) the flag is taken and said to
    change nothing, in the API's words from Python."""
    from denoise_gan.nets.registry import build_generator
    from helpers import TINY_G

    image = np.random.default_rng(0).integers(0, 256, (200, 300, 3), np.uint8)
    fixed = Denoiser.from_pretrained("default", device="cpu", level_per_tile=True)
    fixed(image, sigma=10)
    assert any("level_per_tile=True changes nothing with sigma" in note for note in fixed.notes), fixed.notes
    fixed(image)
    assert not any("changes nothing" in note for note in fixed.notes)  # a blind call: it did its work
    whole = Denoiser.from_pretrained("default", device="cpu", tile=0, level_per_tile=True)
    assert any("changes nothing with tile=0" in note for note in whole.notes), whole.notes
    blind = Denoiser(build_generator(TINY_G), device="cpu", level_per_tile=True)
    assert any("it shares no level profile" in note for note in blind.notes), blind.notes
