"""Benchmark rows for level-aware models (strength variants, σ-fed) and the FFDNet baseline."""

from __future__ import annotations

import json
from pathlib import Path

from data_tools.images import write_image
from data_tools.samples import load_sample
from denoise_gan.nets.weights import save_generator
from helpers import TINY_LEVEL, cli, random_level_net


def test_level_model_variants_and_ffdnet(weights: Path, tmp_path: Path) -> None:
    write_image(tmp_path / "clean" / "cat.png", load_sample("chelsea")[:48, :64])
    level = tmp_path / "level.safetensors"
    save_generator(level, random_level_net(), TINY_LEVEL, {"role": "G noisy->clean"})
    result = cli("benchmark", "--clean", tmp_path / "clean", "--noise", "gaussian:sigma=25", "-o", tmp_path / "b",
                 "--methods", "model,ffdnet", "-c", level, "-c", weights, "--model-strength", "0.5",
                 "--model-strength", "1", "--model-sigma")
    assert result.exit_code == 0, result.stdout
    data = json.loads((tmp_path / "b" / "results.json").read_text())
    methods = {r["method"]: r for r in data["rows"]}
    # the level-aware model: a row per strength and a σ-fed row; the blind one keeps its single row
    assert {"level@strength=0.5", "level@strength=1", "level@sigma", "tiny", "ffdnet", "noisy"} == set(methods)
    assert methods["level@sigma"]["sigma_used"] == methods["ffdnet"]["sigma_used"] > 0
    assert methods["level@strength=0.5"]["psnr"] != methods["level@strength=1"]["psnr"]
    assert methods["ffdnet"]["psnr"] > methods["noisy"]["psnr"] + 3  # the pretrained FFDNet really denoises
