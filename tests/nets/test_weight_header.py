"""The header-only reader: a weight file's config and role without its tensors, refusing what a load refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from denoise_gan.config import GeneratorConfig
from denoise_gan.errors import WeightsError
from denoise_gan.nets import weights as weights_module
from denoise_gan.nets.weight_header import read_header, read_metadata, refuse_noise_model
from denoise_gan.nets.weights import load_generator, read_generator_config, read_generator_file


def test_the_header_gives_what_a_load_gives_without_the_tensors(weights: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _, cfg, meta = read_generator_file(weights)

    def no_tensors(data: bytes) -> None:
        raise AssertionError("the tensors were read")

    monkeypatch.setattr(weights_module, "st_load", no_tensors)
    assert read_generator_config(weights) == (cfg, meta)
    assert read_generator_config(weights, weights.read_bytes()) == (cfg, meta)  # from bytes already read
    assert json.loads(read_metadata(weights)["config"])["arch"] == cfg.arch


def test_only_the_header_is_read(weights: Path, tmp_path: Path) -> None:
    data = weights.read_bytes()
    length = int.from_bytes(data[:8], "little")
    garbage = tmp_path / "garbage_tensors.safetensors"  # the same header over tensor bytes no load would accept
    garbage.write_bytes(data[:8 + length] + b"\xff" * (len(data) - 8 - length))
    assert read_header(garbage) == read_header(weights)


@pytest.mark.parametrize(("damage", "message"), [
    (lambda data: data[:-5], "not a valid safetensors file (truncated or corrupt)"),
    (lambda data: data + b"more", "not a valid safetensors file (truncated or corrupt)"),
    (lambda data: data[:5], "not a valid safetensors file (truncated or corrupt)"),
    (lambda data: b"\x80\x04" + data[2:], "is a pickle/torch file"),
    (lambda data: b"", "not a valid safetensors file (truncated or corrupt)"),
    # `-c photo.png` is the easy slip: a healthy image is named as one, not called a damaged model file
    (lambda data: b"\x89PNG\r\n\x1a\n" + data[8:], "is a PNG image, not model weights; give a .safetensors"),
    (lambda data: b"\xff\xd8\xff\xe0" + data[4:], "is a JPEG image, not model weights"),
])
def test_a_damaged_file_is_refused_as_a_load_refuses_it(weights: Path, tmp_path: Path, damage: object,
                                                        message: str) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(damage(weights.read_bytes()))  # type: ignore[operator]
    for read in (read_generator_config, load_generator):
        with pytest.raises(WeightsError) as caught:
            read(bad)
        assert str(caught.value).startswith(f"{bad}: ") and message in str(caught.value), read


def test_a_missing_file_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match=r"missing.safetensors: cannot read \(No such file or directory\)"):
        read_generator_config(tmp_path / "missing.safetensors")


# a noise model is refused by what it is; a label claiming G is never quoted back as the reason
def test_an_f_labelled_g_is_refused_by_its_architecture() -> None:
    with pytest.raises(WeightsError, match=r"^f\.safetensors: is a noise model \(clean->noisy, by its architecture "
                                           r"noise\), not a denoiser") as caught:
        refuse_noise_model(Path("f.safetensors"), GeneratorConfig(arch="noise"), {"role": "G noisy->clean"})
    assert "G noisy->clean" not in str(caught.value)


def test_a_denoiser_architecture_labelled_f_is_refused_by_its_recorded_role() -> None:
    with pytest.raises(WeightsError, match=r"by its recorded role 'F clean->noisy'"):
        refuse_noise_model(Path("x.safetensors"), GeneratorConfig(arch="unet"), {"role": "F clean->noisy"})
    refuse_noise_model(Path("g.safetensors"), GeneratorConfig(arch="unet"), {"role": "G noisy->clean"})  # a denoiser
