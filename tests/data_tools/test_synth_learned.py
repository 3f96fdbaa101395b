"""synth with a learned noise model: one code path with the parametric specs, reproducible byte for byte, every
image type, the model's sha256 and each image's seed in the manifest; the transform takes a learned model too."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import albumentations as A
import numpy as np
import pytest
import torch

from data_tools.errors import DenoiseGanError
from data_tools.images import read_image
from data_tools.noise import image_seed, parse_noise_spec
from data_tools.noise_source import DescribedNoiseSource, NoiseSource
from data_tools.noise_transform import SyntheticNoise
from data_tools.synth import synth
from denoise_gan.config import GeneratorConfig
from denoise_gan.inference.noise_model import NoiseModel
from denoise_gan.nets.registry import build_generator
from denoise_gan.nets.weights import save_generator
from helpers import ORT_NO_MEMORY, cli, one_line_error, texture, write_sources

TINY_F = GeneratorConfig(arch="noise", width=4, depth=1, blocks=1)


@pytest.fixture(scope="module")
def tiny_f(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny F saved the way `train` saves one (its output layer starts at zero: σ ~ 12 white noise)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("f") / "F.safetensors"
    save_generator(path, build_generator(TINY_F), TINY_F, {"role": "F clean->noisy"})
    return path


@pytest.fixture()
def src(tmp_path: Path) -> Path:
    """RGB, gray, 16-bit RGB, RGBA and an odd-sized image, one in a subfolder."""
    folder = write_sources(tmp_path / "src", odd_size=True)
    return folder


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.png"))}


def test_reruns_are_byte_identical_and_the_seed_matters(src: Path, tmp_path: Path, tiny_f: Path) -> None:
    model = NoiseModel.from_pretrained(tiny_f)
    first, second, other = (synth(src, tmp_path / n, model, s) for n, s in (("1", 3), ("2", 3), ("3", 4)))
    assert first.ok and first.written == 5
    assert files(first.out_dir) == files(second.out_dir)
    assert files(first.out_dir / "noisy") != files(other.out_dir / "noisy")
    # a fresh load (another process would do the same) draws the same noise
    again = synth(src, tmp_path / "4", NoiseModel.from_pretrained(tiny_f), 3)
    assert files(again.out_dir) == files(first.out_dir)


def test_manifest_records_the_model_sha256_and_each_image_seed(src: Path, tmp_path: Path, tiny_f: Path) -> None:
    summary = synth(src, tmp_path / "out", NoiseModel.from_pretrained(tiny_f), 7)
    manifest = json.loads(summary.manifest.read_text())
    record = manifest["noise_source"]
    assert record["kind"] == "learned" and record["file"] == str(tiny_f.resolve())
    assert record["sha256"] == hashlib.sha256(tiny_f.read_bytes()).hexdigest()
    assert record["config"]["arch"] == "noise"
    assert manifest["noise"].startswith("noise-model:F.safetensors sha256:" + record["sha256"][:16])
    assert manifest["seed"] == 7
    for entry in manifest["images"]:
        assert entry["image_seed"] == image_seed(7, entry["name"])
        (stage,) = entry["stages"]
        assert stage["model"] == "noise-model" and 0.0 <= stage["v"] <= 1.0 and stage["sigma_mean"] > 0


def test_every_image_type_keeps_its_size_dtype_and_channels(src: Path, tmp_path: Path, tiny_f: Path) -> None:
    out = synth(src, tmp_path / "out", NoiseModel.from_pretrained(tiny_f), 0).out_dir
    for name in ("a", "b", "c", "sub/d", "e"):
        clean = read_image(src / f"{name}.png").pixels
        noisy = read_image(out / "noisy" / f"{name}.png").pixels
        assert noisy.shape == clean.shape and noisy.dtype == clean.dtype, name  # odd 17x23 too: never resized
        assert np.abs(noisy.astype(np.int64) - clean.astype(np.int64)).max() > 0, name
    rgba_clean = read_image(src / "sub" / "d.png").pixels
    rgba_noisy = read_image(out / "noisy" / "sub" / "d.png").pixels
    assert np.array_equal(rgba_noisy[..., 3], rgba_clean[..., 3])  # alpha passed through
    sixteen = read_image(out / "noisy" / "c.png").pixels.astype(np.int64) - read_image(src / "c.png").pixels
    assert np.abs(sixteen).max() > 255  # 16-bit noise lands between the 8-bit levels too, at 16-bit scale


def test_gray_input_gets_gray_noise(tmp_path: Path, tiny_f: Path) -> None:
    model = NoiseModel.from_pretrained(tiny_f)
    gray = texture((32, 40), np.uint8, 5)
    as_rgb = np.repeat(gray[..., None], 3, axis=2)
    noisy_rgb = model.apply(as_rgb, 11)[0]
    assert np.array_equal(noisy_rgb[..., 0], noisy_rgb[..., 1]) and np.array_equal(noisy_rgb[..., 1],
                                                                                       noisy_rgb[..., 2])
    assert np.array_equal(model.apply(gray, 11)[0], noisy_rgb[..., 0])  # F's own gray rule, not 3 draws


def test_a_gray_only_model_gives_a_gray_photo_stored_as_colour_gray_noise(tmp_path: Path) -> None:
    """A gray-only F (`train --channels 1`) drew each plane of such a photo apart: its noisy twin came out colour."""
    cfg = GeneratorConfig(arch="noise", channels=1, width=4, depth=1, blocks=1)
    torch.manual_seed(0)
    save_generator(tmp_path / "F.safetensors", build_generator(cfg), cfg, {"role": "F clean->noisy"})
    model = NoiseModel.from_pretrained(tmp_path / "F.safetensors")
    gray = texture((32, 40), np.uint8, 5)
    noisy_rgb = model.apply(np.repeat(gray[..., None], 3, axis=2), 11)[0]
    assert all(np.array_equal(noisy_rgb[..., 0], noisy_rgb[..., k]) for k in (1, 2))
    assert np.array_equal(model.apply(gray, 11)[0], noisy_rgb[..., 0])
    colour = np.dstack([gray, gray // 2, 255 - gray])
    assert not np.array_equal(*(model.apply(colour, 11)[0][..., k] - colour[..., k] for k in (0, 1)))


def test_unpaired_set_from_a_learned_model(src: Path, tmp_path: Path, tiny_f: Path) -> None:
    summary = synth(src, tmp_path / "out", NoiseModel.from_pretrained(tiny_f), 1, unpaired=True)
    manifest = json.loads(summary.manifest.read_text())
    clean = {e["name"] for e in manifest["images"] if e["clean"]}
    noisy = {e["name"] for e in manifest["images"] if e["noisy"]}
    assert clean and noisy and not clean & noisy
    assert all("image_seed" in e for e in manifest["images"] if e["noisy"])


def test_one_code_path_for_any_noise_source(src: Path, tmp_path: Path) -> None:
    """A spec and a learned model are both sources; synth needs only apply(image, seed) and its text."""
    assert isinstance(parse_noise_spec("gaussian:sigma=5"), NoiseSource)
    assert not isinstance(parse_noise_spec("gaussian:sigma=5"), DescribedNoiseSource)

    class Offset:
        def apply(self, image: np.ndarray, seed: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
            return (image // 2).astype(image.dtype), [{"model": "halve", "seed_seen": seed}]

        def manifest(self) -> dict[str, Any]:
            return {"kind": "custom"}

        def __str__(self) -> str:
            return "halve"

    manifest = json.loads(synth(src, tmp_path / "out", Offset(), 5).manifest.read_text())
    assert manifest["noise"] == "halve" and manifest["noise_source"] == {"kind": "custom"}
    assert all(e["stages"][0]["seed_seen"] == e["image_seed"] for e in manifest["images"])
    spec_manifest = json.loads(synth(src, tmp_path / "spec", "gaussian:sigma=5", 5).manifest.read_text())
    assert "noise_source" not in spec_manifest  # a spec's manifest is as before
    with pytest.raises(TypeError, match="apply"):
        synth(src, tmp_path / "bad", 42, 5)  # type: ignore[arg-type]


def test_rerun_in_place_is_the_same_set_but_other_weights_are_not(src: Path, tmp_path: Path, tiny_f: Path) -> None:
    out = tmp_path / "out"
    synth(src, out, NoiseModel.from_pretrained(tiny_f), 2)
    before = files(out)
    synth(src, out, NoiseModel.from_pretrained(tiny_f), 2)  # the same set: made again, no --overwrite needed
    assert files(out) == before
    other = tmp_path / "other" / "F.safetensors"
    torch.manual_seed(1)
    net = build_generator(TINY_F)
    with torch.no_grad():
        net.kernel.add_(0.5)
    save_generator(other, net, TINY_F, {"role": "F clean->noisy"})
    with pytest.raises(Exception, match=r"not empty.*made by another noise model \(sha256 \w{12}…; this one's is "
                                        r"\w{12}…\)"):
        synth(src, out, NoiseModel.from_pretrained(other), 2)


def test_a_moved_model_of_the_same_bytes_finishes_and_repeats_its_set(src: Path, tmp_path: Path,
                                                                      tiny_f: Path) -> None:
    """The set was known by the model file's place: a model folder moved or copied could neither finish its
    cut-short set nor repeat it ("not empty ... run the command that made it", which the user had)."""
    out = tmp_path / "out"
    (tmp_path / "moved").mkdir()
    moved = tmp_path / "moved" / "F.safetensors"
    moved.write_bytes(tiny_f.read_bytes())

    def stop(done: int, total: int, name: str) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        synth(src, out, NoiseModel.from_pretrained(tiny_f), 2, progress=stop)
    assert json.loads((out / "manifest.json").read_text())["complete"] is False
    finished = synth(src, out, NoiseModel.from_pretrained(moved), 2)
    assert finished.ok and json.loads(finished.manifest.read_text())["complete"] is True
    assert files(out) == files(synth(src, tmp_path / "whole", NoiseModel.from_pretrained(tiny_f), 2).out_dir)
    assert synth(src, out, NoiseModel.from_pretrained(moved), 2).ok  # and repeats it
    renamed = tmp_path / "moved" / "camera_noise.safetensors"
    moved.rename(renamed)
    assert synth(src, out, NoiseModel.from_pretrained(renamed), 2).ok  # under another name too


def test_cli_noise_model_is_reproducible_and_takes_a_run_folder(src: Path, tmp_path: Path, tiny_f: Path) -> None:
    runs = [cli("synth", src, "-o", tmp_path / n, "--noise-model", where, "--seed", 4)
            for n, where in (("a", tiny_f), ("b", tiny_f.parent))]
    assert all(r.exit_code == 0 for r in runs), runs[0].output
    assert files(tmp_path / "a") == files(tmp_path / "b")
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["noise_source"]["sha256"] == hashlib.sha256(tiny_f.read_bytes()).hexdigest()


def test_cli_noise_model_out_of_memory_is_one_line(src: Path, tmp_path: Path, tiny_f: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """ONNX Runtime's failed allocation under a `ulimit -v` ended synth in a traceback; now one line, exit 1, and
    no half-written image left."""
    from denoise_gan.inference import noise_model_onnx

    def no_room(*_: object, **__: object) -> None:
        raise RuntimeError(ORT_NO_MEMORY)

    monkeypatch.setattr(noise_model_onnx.OnnxScaleShift, "__call__", no_room)
    result = cli("synth", src, "-o", tmp_path / "out", "--noise-model", tiny_f)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: out of memory ([ONNXRuntimeError]"), lines
    assert not list((tmp_path / "out").rglob("*.part")) and not list((tmp_path / "out" / "noisy").rglob("*.png"))


@pytest.mark.parametrize("args, needle", [
    ([], "exactly one of --noise SPEC and --noise-model SRC"),
    (["--noise", "gaussian:sigma=5", "--noise-model", "default-F"], "exclusive"),
    (["--noise-model", "no-such-model"], "no-such-model: no such file or folder, and no shipped noise model"),
])
def test_cli_noise_options_fail_in_one_line(src: Path, tmp_path: Path, args: list[str], needle: str) -> None:
    one_line_error(cli("synth", src, "-o", tmp_path / "out", *args), needle)
    assert not (tmp_path / "out").exists()


def test_cli_refuses_a_denoiser_as_noise_model(src: Path, tmp_path: Path, weights: Path) -> None:
    one_line_error(cli("synth", src, "-o", tmp_path / "out", "--noise-model", weights), "is a denoiser",
                   "not a noise model")


def test_albumentations_transform_takes_a_learned_model(tiny_f: Path) -> None:
    image = texture((24, 24, 3), np.uint8, 9)
    draws = []
    for _ in range(2):
        pipeline = A.Compose([SyntheticNoise(NoiseModel.from_pretrained(tiny_f))], seed=3)
        draws.append(pipeline(image=image)["image"])
    assert np.array_equal(draws[0], draws[1]) and draws[0].dtype == np.uint8
    assert not np.array_equal(draws[0], image)


def test_albumentations_pipeline_with_a_learned_model_saves_its_name_and_refuses_to_load_in_one_line(
        tiny_f: Path, tmp_path: Path) -> None:
    pipeline = A.Compose([SyntheticNoise(NoiseModel.from_pretrained(tiny_f))])
    assert "noise-model:F.safetensors" in repr(pipeline)
    A.save(pipeline, str(tmp_path / "pipeline.json"))  # a whole file (it was cut off at the model, a TypeError)
    saved = json.loads((tmp_path / "pipeline.json").read_text())
    assert saved["transform"]["transforms"][0]["spec"].startswith("noise-model:F.safetensors sha256:")
    with pytest.raises(DenoiseGanError, match=r"describes a learned noise model.*NoiseModel.from_pretrained"):
        A.load(str(tmp_path / "pipeline.json"))


def test_synth_says_the_noise_models_notes_and_its_closing_line_names_mode_and_seed(
        src: Path, tmp_path: Path, tiny_f: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder here named like the shipped F is taken instead of it: synth said nothing of the note, and built
    a whole set from another F. The closing line is where a user reads the set's mode and seed."""
    import shutil

    (tmp_path / "default-F").mkdir()
    shutil.copy(tiny_f, tmp_path / "default-F" / "F.safetensors")
    monkeypatch.chdir(tmp_path)
    done = cli("synth", src, "-o", tmp_path / "set", "--noise-model", "default-F", "--seed", 7)
    assert done.exit_code == 0, done.output
    assert "warning: 'default-F' is the folder of that name in the working folder, not the shipped noise model" in \
        " ".join(done.stderr.split())
    closing = " ".join(done.stdout.split())
    assert "(paired, noise" in closing and "seed 7)" in closing, closing
    unpaired = cli("synth", src, "-o", tmp_path / "halves", "--noise", "gaussian:sigma=5", "--seed", 9, "--unpaired")
    assert unpaired.exit_code == 0 and "(unpaired, noise gaussian:sigma=5, seed 9)" in " ".join(unpaired.stdout.split())
