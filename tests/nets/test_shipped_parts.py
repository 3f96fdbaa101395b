"""Discriminator weight files and the companions shipped beside a model's G (F, D_noisy, D_clean)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from denoise_gan.config import DiscriminatorConfig
from denoise_gan.errors import WeightsError
from denoise_gan.nets.discriminators import build_discriminator
from denoise_gan.nets.ship import ship_parts
from denoise_gan.nets.weights import load_discriminator, load_generator, save_discriminator

D = DiscriminatorConfig(width=8, layers=2, spectral_norm=True)


def test_discriminator_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = build_discriminator(D)
    x = torch.rand(1, 3, 32, 32)
    net.eval()
    save_discriminator(tmp_path / "d.safetensors", net, D, {"role": "D_noisy"})
    loaded, cfg, meta = load_discriminator(tmp_path / "d.safetensors")
    loaded.eval()
    assert cfg == D and meta["role"] == "D_noisy" and meta["license"] == "MIT"
    assert torch.equal(net(x), loaded(x))


def test_discriminator_files_are_checked(tmp_path: Path, weights: Path) -> None:
    with pytest.raises(WeightsError, match="without denoise-gan discriminator metadata"):
        load_discriminator(weights)  # a generator file
    torch.save(build_discriminator(D).state_dict(), tmp_path / "d.pt")
    with pytest.raises(WeightsError, match="refusing to load"):
        load_discriminator(tmp_path / "d.pt")
    save_discriminator(tmp_path / "d.safetensors", build_discriminator(D), D)
    data = bytearray((tmp_path / "d.safetensors").read_bytes())
    header_len = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + header_len])
    wide = json.dumps({**json.loads(header["__metadata__"]["config"]), "width": 16})
    text = json.dumps({**header, "__metadata__": {**header["__metadata__"], "config": wide}}).encode()
    (tmp_path / "wide.safetensors").write_bytes(len(text).to_bytes(8, "little") + text + data[8 + header_len:])
    with pytest.raises(WeightsError, match="has shape"):
        load_discriminator(tmp_path / "wide.safetensors")


def test_ship_writes_f_and_both_discriminators(finished_run: Path, tmp_path: Path) -> None:
    written = ship_parts(finished_run, tmp_path, name="mine")
    assert [p.name for p in written] == ["mine-F.safetensors", "mine-D_noisy.safetensors", "mine-D_clean.safetensors"]
    f, _, meta = load_generator(written[0])
    assert meta["role"].startswith("F") and meta["companion_of"] == "mine.safetensors"
    run_f_meta = load_generator(finished_run / "F.safetensors")[2]  # F's own card travels with it
    assert {k: meta.get(k) for k in ("step", "trained_by")} == {k: run_f_meta[k] for k in ("step", "trained_by")}
    for path in written[1:]:
        d, cfg, d_meta = load_discriminator(path)
        assert cfg.width == 8 and d_meta["step"] == 2 and d_meta["noise_family"] == "gaussian:sigma=25"


def test_ship_takes_each_part_from_the_runs_newest_state_with_the_models_card(finished_run: Path, tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """F is the run's F, each discriminator its own role's weights from the newest checkpoint, and the card of the
    G they ship beside (licence, noise family, data) is copied into each; `--name` names all three."""
    import shutil
    import sys

    from denoise_gan.nets import ship
    from denoise_gan.nets.run_folder import RunFolder, list_checkpoints
    from denoise_gan.nets.weights import load_checkpoint, save_generator

    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    step, newest = list_checkpoints(run / "checkpoints")[-1]
    older = torch.load(newest, weights_only=True)
    older["nets"]["D_noisy"] = {k: torch.zeros_like(v) for k, v in older["nets"]["D_noisy"].items()}
    torch.save(older, run / "checkpoints" / f"step_{step - 1}.pt")
    state = load_checkpoint(newest)
    g, g_cfg, _ = load_generator(RunFolder(run).g)
    dest = tmp_path / "dest"
    dest.mkdir()
    save_generator(dest / "mine.safetensors", g, g_cfg, {"license": "CC0", "noise_family": "fam", "training_data": "d"})
    monkeypatch.setattr(sys, "argv", ["ship", str(run), "--name", "mine", "--dest", str(dest)])
    ship.main()
    f = load_generator(dest / "mine-F.safetensors")[0]
    assert all(torch.equal(a, b) for a, b in zip(f.state_dict().values(),
                                                 load_generator(RunFolder(run).f)[0].state_dict().values()))
    for part in ("D_noisy", "D_clean"):
        d, _, meta = load_discriminator(dest / f"mine-{part}.safetensors")
        assert meta["role"].startswith(part) and (meta["license"], meta["noise_family"]) == ("CC0", "fam")
        saved = state["nets"][part]
        assert all(torch.equal(d.state_dict()[k], saved[k]) for k in saved), part
    assert load_generator(dest / "mine-F.safetensors")[2]["training_data"] == "d"


def _coffee_crop() -> torch.Tensor:
    from data_tools.samples import load_sample

    return torch.from_numpy(load_sample("coffee")[100:164, 100:164].astype("float32") / 255).permute(2, 0, 1)[None]


def test_the_shipped_networks_compute_what_they_were_trained_to() -> None:
    """The weight files hold tensors only: a change to a block, an activation, an offset or a stride that keeps
    the shapes would load them fine and compute something else. Pinned here on one held-out crop, as measured
    with the code they were trained with: the σ default-F adds at its median level for a fixed draw, and what
    each shipped discriminator says of a clean photo (D_clean: real; D_noisy: not noisy)."""
    from denoise_gan.nets.shipped import resolve_weights

    crop = _coffee_crop()
    f = load_generator(resolve_weights("default-F"))[0]
    z = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        drawn, level = f.sample(crop, z=z, v=torch.full((1, 1, 1, 1), 0.5))
    added = (drawn - crop)[0].flatten(1) * 255.0
    assert added.std(dim=1).tolist() == pytest.approx([19.484, 20.598, 21.896], abs=0.01)
    assert added.mean(dim=1).tolist() == pytest.approx([-0.232, 2.464, -0.142], abs=0.01)
    assert float(level.mean()) * 255.0 == pytest.approx(20.598, abs=0.01)
    with torch.no_grad():  # its maps' spatial detail too (an upsampling mode moves the std by 0.003)
        scale, shift = (m * 255.0 for m in f.scale_and_shift(crop))
    assert [float(scale.std()), float(shift.std())] == pytest.approx([0.68137, 1.31220], abs=5e-4)
    for role, mean, std in (("default-D_clean", 0.84806, 0.03447), ("default-D_noisy", 0.08501, 0.02299)):
        d = load_discriminator(resolve_weights(role))[0].eval()
        with torch.no_grad():
            scores = d(crop)
        assert scores.shape == (1, 1, 6, 6), role  # a 64 px crop under the 70 px PatchGAN of 3 layers
        assert (float(scores.mean()), float(scores.std())) == (pytest.approx(mean, abs=1e-4),
                                                               pytest.approx(std, abs=1e-4)), role


def test_the_shipped_denoiser_removes_faint_noise_as_trained() -> None:
    """The default G on σ 5 (the torch engine: the ONNX graph bakes G's code in at export), as measured with the
    code it was trained with; its gate on faint levels and its blocks are part of that function."""
    from data_tools.noise import parse_noise_spec
    from data_tools.samples import load_sample
    from denoise_gan import Denoiser
    from denoise_gan.evaluation.metrics import psnr

    den = Denoiser.from_pretrained("default", device="cpu", engine="torch")
    for name, expected in (("coffee", 37.91), ("camera", 37.62)):
        clean = load_sample(name)[100:228, 100:228]
        noisy = parse_noise_spec("gaussian:sigma=5").apply(clean, 1)[0]
        assert psnr(clean, den(noisy)) == pytest.approx(expected, abs=0.02), name


def test_the_patchgan_is_the_references() -> None:
    """70x70 receptive fields, a 30x30 score map for a 256 px image, instance norm only without spectral norm (the
    shipped discriminators use spectral norm)."""
    for spectral in (True, False):
        d = build_discriminator(DiscriminatorConfig(width=8, layers=3, spectral_norm=spectral))
        x = torch.rand(1, 3, 256, 256, requires_grad=True)
        scores = d(x)
        assert scores.shape == (1, 1, 30, 30)
        assert any(isinstance(m, torch.nn.InstanceNorm2d) for m in d.modules()) is not spectral
        if spectral:  # (instance norm's statistics reach over the whole image)
            scores[0, 0, 15, 15].backward()
            rows, cols = torch.nonzero(x.grad[0].abs().sum(0), as_tuple=True)
            assert (int(rows.max() - rows.min()) + 1, int(cols.max() - cols.min()) + 1) == (70, 70)


def test_the_shipped_weights_are_the_ones_beside_the_code_that_runs() -> None:
    """A clone run through PYTHONPATH found no `denoise_gan.checkpoints` (a traceback), or, with another checkout
    installed editable, that checkout's weights."""
    import denoise_gan
    from denoise_gan.nets.shipped import shipped_dir

    root = Path(denoise_gan.__file__).resolve().parents[1]
    if not (root / "pyproject.toml").is_file():
        pytest.skip("an installed package, not a source tree: its weights are package data")
    assert shipped_dir() == root / "checkpoints" and (shipped_dir() / "default.safetensors").is_file()


def test_a_shipped_name_taken_as_a_folder_here_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """-c default took a `default` folder in the working folder (as documented) without a word, and an error
    about it then pointed the user at "the shipped default", which they believed they had asked for."""
    import shutil

    from denoise_gan.inference.engine_choice import load_backend
    from denoise_gan.nets.shipped import shipped_dir

    (tmp_path / "default").mkdir()
    shutil.copy(shipped_dir() / "default.safetensors", tmp_path / "default" / "model.safetensors")
    monkeypatch.chdir(tmp_path)
    notes = load_backend("default", engine="torch", device="cpu").backend.notes
    assert any("'default' is the folder of that name in the working folder, not the shipped model; give "
               f"{shipped_dir() / 'default.safetensors'}" in note for note in notes), notes
    assert not any("working folder" in note for note in load_backend(None, engine="torch", device="cpu").backend.notes)


def test_a_shipped_name_taken_as_a_folder_here_is_said_by_noise_models_and_export(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NoiseModel.from_pretrained("default") (synth --noise-model default) drew the noise of a `default/F.safetensors`
    in the working folder, and `export default` exported its model, both without the word Denoiser says."""
    import shutil

    from denoise_gan import NoiseModel
    from denoise_gan.nets.shipped import shipped_dir
    from helpers import cli

    (tmp_path / "default").mkdir()
    shutil.copy(shipped_dir() / "default-F.safetensors", tmp_path / "default" / "F.safetensors")
    shutil.copy(shipped_dir() / "default.safetensors", tmp_path / "default" / "model.safetensors")
    monkeypatch.chdir(tmp_path)
    taken = "'default' is the folder of that name in the working folder, not the shipped"
    assert any(f"{taken} noise model; give {shipped_dir() / 'default-F.safetensors'}" in note
               for note in NoiseModel.from_pretrained("default").notes)
    assert not NoiseModel.from_pretrained("default-F").notes and not NoiseModel.from_pretrained(None).notes
    result = cli("export", "default", "-o", tmp_path / "x.onnx")
    assert result.exit_code == 0 and f"warning: {taken} model; give" in " ".join(result.stderr.split())


def test_a_folder_of_a_shipped_name_without_a_model_says_the_shipped_one_is_elsewhere(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A photo folder named `default` where a script ran made from_pretrained("default") an error about that
    folder alone, never saying that a shipped model has the name, nor how to reach it."""
    from denoise_gan import Denoiser, NoiseModel
    from denoise_gan.errors import WeightsError
    from denoise_gan.nets.shipped import shipped_dir

    for name in ("default", "default-F"):
        (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path)
    for load, name in ((Denoiser.from_pretrained, "default"), (NoiseModel.from_pretrained, "default-F")):
        with pytest.raises(WeightsError, match=f"^{name}: a folder without .*; '{name}' is the folder of that name in "
                                               "the working folder, not the shipped (noise )?model; "
                                               f"give {shipped_dir() / name}.safetensors for the shipped one"):
            load(name)


def test_loading_leaves_the_callers_random_stream_and_takes_the_weights_exactly() -> None:
    """A network built anew for the weights drew its discarded random init from the caller's torch stream (a
    seeded notebook drew other numbers once it loaded a model), and under a 16-bit default dtype rounded the
    weights it took in (outputs a grey level off)."""
    from denoise_gan.nets.shipped import resolve_weights
    from denoise_gan.nets.weights import read_generator_file

    path = resolve_weights("default")
    stored, _, _ = read_generator_file(path)
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    net, _, _ = load_generator(path)
    assert torch.equal(torch.rand(3), expected)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        net16, _, _ = load_generator(path)
    finally:
        torch.set_default_dtype(default)
    for loaded in (net, net16):
        state = loaded.state_dict()
        assert all(state[name].dtype == torch.float32 and torch.equal(state[name], tensor.float())
                   for name, tensor in stored.items())


def test_a_weight_file_of_another_format_version_is_named_as_such(tmp_path: Path, weights: Path) -> None:
    """A file the next version writes (format .../2) was called a safetensors file without our metadata."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(weights), "pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open's API)
    save_file(tensors, str(tmp_path / "v2.safetensors"), metadata={**meta, "format": "denoise-gan-generator/2"})
    with pytest.raises(WeightsError, match=r"of format 'denoise-gan-generator/2', which another version of "
                                           r"denoise-gan wrote; this one reads 'denoise-gan-generator/1'"):
        load_generator(tmp_path / "v2.safetensors")
