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
    for path in written[1:]:
        d, cfg, d_meta = load_discriminator(path)
        assert cfg.width == 8 and d_meta["step"] == 2 and d_meta["noise_family"] == "gaussian:sigma=25"
