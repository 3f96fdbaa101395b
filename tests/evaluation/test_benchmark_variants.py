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
    assert methods["level@sigma"]["psnr"] != methods["level@strength=1"]["psnr"]  # fed the σ, not run blind
    assert methods["ffdnet"]["psnr"] > methods["noisy"]["psnr"] + 3  # the pretrained FFDNet really denoises
    # one load of the level-aware model serves its three rows: said once, not as three loads
    loads = [line for line in result.stdout.splitlines() if line.startswith("model ")]
    assert len(loads) == 2 and loads[0].startswith("model level@strength=0.5, level@strength=1, level@sigma: loaded "
                                                   "once in "), loads
    page = (tmp_path / "b" / "report.html").read_text()
    assert "level@strength=0.5, level@strength=1, level@sigma " in page


def test_the_oracle_sigma_of_a_16_bit_camera_image_is_on_the_0_255_scale() -> None:
    import numpy as np

    from denoise_gan.evaluation.benchmark.inputs import oracle_sigma

    rng = np.random.default_rng(0)
    clean = np.full((64, 64, 3), 30000, np.uint16)
    noisy = (clean + rng.normal(0, 2570, clean.shape)).astype(np.uint16)  # σ 10 on the 0-255 scale
    sigma = oracle_sigma([{"model": "camera", "peak": 40.0, "read": 2.0}], clean, noisy)
    assert abs(sigma - 10.0) < 0.2
