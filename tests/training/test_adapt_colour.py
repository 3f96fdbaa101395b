"""`adapt` trains a colour-noise F: a plain `noise` F is converted (the same function) and its colour mix learns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from data_tools.datasets import PatchSampler
from data_tools.images import read_image
from data_tools.samples import load_sample
from denoise_gan.config import AdaptConfig, GeneratorConfig
from denoise_gan.nets.registry import build_generator, init_weights
from denoise_gan.nets.weights import load_generator
from denoise_gan.runtime import World
from denoise_gan.training.adapt import NoiseFitTrainer, adapt
from denoise_gan.training.adapt_noise import colour_noise_f
from denoise_gan.training.adapt_start import find_start
from denoise_gan.training.cyclegan import SHAPE_LR_FACTOR
from helpers import save_adapt_start, write_camera_photos

TINY_F = GeneratorConfig(arch="noise", width=4, depth=1)


@pytest.fixture(scope="module")
def start_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_adapt_start(tmp_path_factory.mktemp("start"))


@pytest.fixture(scope="module")
def noisy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five small photos with colour-correlated camera noise, disjoint from the clean photos."""
    return write_camera_photos(tmp_path_factory.mktemp("noisy"), 64, 64)


def _noise_f(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    f = build_generator(TINY_F)
    init_weights(f)
    with torch.no_grad():  # a non-trivial F: its output layer and kernel away from their zero/delta starts
        f.backbone.tail.weight.normal_(0.0, 0.3)
        f.backbone.tail.bias.normal_(0.0, 0.3)
        f.kernel.add_(0.2 * torch.randn_like(f.kernel))
        f.level_steps.add_(0.3)
    return f


def test_a_noise_f_becomes_the_same_function_as_a_colour_noise_f() -> None:
    f = _noise_f()
    colour, cfg = colour_noise_f(f, TINY_F)
    assert cfg.arch == "colour-noise" and cfg.width == TINY_F.width and cfg.depth == TINY_F.depth
    assert type(colour).__name__ == "ColourNoiseGenerator"
    assert torch.equal(colour.colour_mix.detach(), torch.eye(3))
    assert any(p is colour.colour_mix for p in colour.shape_parameters())
    torch.manual_seed(1)
    x = torch.rand(2, 3, 32, 32)
    z, v = torch.randn_like(x), torch.rand(2, 1, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(colour(x, z, v), f(x, z, v), rtol=0, atol=0)
        torch.testing.assert_close(colour.deterministic(x), f.deterministic(x), rtol=0, atol=0)
        gray = x[:, :1].expand(-1, 3, -1, -1)  # a gray photo in colour keeps its gray noise
        torch.testing.assert_close(colour(gray, z, v), f(gray, z, v), rtol=0, atol=0)


def test_other_noise_models_are_kept_as_they_are() -> None:
    colour_cfg = GeneratorConfig(arch="colour-noise", width=4, depth=1)
    already = build_generator(colour_cfg)
    assert colour_noise_f(already, colour_cfg) == (already, colour_cfg)
    gray_cfg = GeneratorConfig(arch="noise", channels=1, width=4, depth=1)
    gray = build_generator(gray_cfg)
    assert colour_noise_f(gray, gray_cfg) == (gray, gray_cfg)  # one channel: nothing to mix


def test_the_noise_phase_trains_the_colour_mix_at_the_shape_rate(noisy_dir: Path, clean_dir: Path,
                                                                 start_dir: Path, tmp_path: Path) -> None:
    cfg = AdaptConfig(noisy_dir=str(noisy_dir), clean_dir=str(clean_dir), start=str(start_dir), steps=4,
                      noise_steps=3, refine_steps=1, patch_size=32, batch_size=2, device="cpu", workers=0)
    images = [read_image(p).pixels for p in sorted(noisy_dir.iterdir())]
    sampler = PatchSampler(images, 32, 3, 0.0)
    trainer = NoiseFitTrainer(cfg, find_start(str(start_dir)), sampler, tmp_path, torch.device("cpu"), World())
    assert trainer.f_cfg.arch == "colour-noise"
    from denoise_gan.nets.noise_stats import STATISTICS_SETS

    assert trainer.bank.statistics == STATISTICS_SETS["camera"]  # adapt's default: demosaiced, JPEG'd noise
    shape_group = next(g for g in trainer.opt_f.param_groups if any(p is trainer.f.colour_mix for p in g["params"]))
    assert shape_group["lr"] == pytest.approx(cfg.lr * SHAPE_LR_FACTOR)
    rng = np.random.default_rng(0)
    clean = PatchSampler([read_image(p).pixels for p in sorted(clean_dir.iterdir())], 32, 3, 0.0)
    batch = {"clean": torch.stack([clean(rng) for _ in range(2)]), "noisy": torch.stack([sampler(rng) for _ in
                                                                                         range(2)])}
    trainer.step(0, batch)
    grad = trainer.f.colour_mix.grad
    assert grad is not None and grad.abs().sum() > 0
    assert not torch.equal(trainer.f.colour_mix.detach(), torch.eye(3))


def test_adapt_saves_a_colour_noise_f_that_synth_can_use(noisy_dir: Path, clean_dir: Path, start_dir: Path,
                                                         tmp_path: Path) -> None:
    assert load_generator(start_dir / "F.safetensors")[1].arch == "noise"
    cfg = AdaptConfig(noisy_dir=str(noisy_dir), clean_dir=str(clean_dir), start=str(start_dir), steps=6,
                      patch_size=32, batch_size=2, refine_batch_size=2, save_every=100, log_every=1, device="cpu",
                      workers=0)
    adapt(cfg, tmp_path / "out")
    f, f_cfg, meta = load_generator(tmp_path / "out" / "F.safetensors")
    assert f_cfg.arch == "colour-noise" and meta["role"].startswith("F")
    assert not torch.equal(f.colour_mix.detach(), torch.eye(3))  # the noise phase moved it
    # the output is a start again (a colour-noise F is kept), and a noise source for synth
    assert find_start(str(tmp_path / "out")).f == tmp_path / "out" / "F.safetensors"
    from denoise_gan import NoiseModel

    model = NoiseModel.from_pretrained(tmp_path / "out", device="cpu")
    noisy = model(load_sample("astronaut")[:48, :48], seed=0)
    assert noisy.shape == (48, 48, 3) and noisy.dtype == np.uint8


def test_statistics_see_colour_correlation_and_edge_bands() -> None:
    """F's statistics loss sees what the colour mix and the kernel must learn: the colour differences' σ falls
    when the channels' noise is shared, and noise smoothed along one axis keeps its horizontal/vertical detail
    while its diagonal band drops (a model matching the diagonal band alone would add too little)."""
    from denoise_gan.nets.noise_stats import FEATURES, noise_statistics

    g = torch.Generator().manual_seed(0)
    z = torch.randn(8, 3, 64, 64, generator=g)
    shared = torch.randn(8, 1, 64, 64, generator=g).expand(-1, 3, -1, -1)
    independent = noise_statistics(0.5 + 20 / 255 * z)
    correlated = noise_statistics(0.5 + 20 / 255 * (0.3 * z + 0.954 * shared))
    for name in ("log_sigma_r", "log_sigma_g"):  # the same σ per channel
        i = FEATURES.index(name)
        assert abs(float(independent[:, i].mean() - correlated[:, i].mean())) < 0.1
    for name in ("log_sigma_r_minus_g", "log_sigma_b_minus_g", "log_sigma_r_minus_g_coarse"):
        i = FEATURES.index(name)
        assert float(independent[:, i].mean() - correlated[:, i].mean()) > 1.0  # σ(R-G): √2 σ against 0.42 σ
    smooth = 0.5 + 20 / 255 * (z + z.roll(1, dims=3)) / 2 ** 0.5  # correlated along rows only
    white = noise_statistics(0.5 + 20 / 255 * z)
    rows = noise_statistics(smooth)
    hh, edge = FEATURES.index("log_sigma_luma"), FEATURES.index("log_sigma_luma_edge")
    assert float(white[:, hh].mean() - rows[:, hh].mean()) > 0.25  # the diagonal band loses half its variance
    assert abs(float(white[:, edge].mean() - rows[:, edge].mean())) < 0.1  # the edge bands keep it all
    assert FEATURES[-1] == "luma" and FEATURES[3] == "log_sigma_luma"  # readers index these


def test_the_noise_phase_measures_f_clipped_as_a_file_holds_it(noisy_dir: Path, clean_dir: Path, start_dir: Path,
                                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real noise is clipped at black and white; F's noise is measured (statistics, D_noisy) clipped the same way."""
    from denoise_gan.training import noise_objective

    cfg = AdaptConfig(noisy_dir=str(noisy_dir), clean_dir=str(clean_dir), start=str(start_dir), steps=4,
                      noise_steps=3, refine_steps=1, patch_size=32, batch_size=2, device="cpu", workers=0)
    sampler = PatchSampler([read_image(p).pixels for p in sorted(noisy_dir.iterdir())], 32, 3, 0.0)
    trainer = NoiseFitTrainer(cfg, find_start(str(start_dir)), sampler, tmp_path, torch.device("cpu"), World())
    seen: list[torch.Tensor] = []
    measure = noise_objective.noise_statistics  # F's objective, shared with the CycleGAN step
    monkeypatch.setattr(noise_objective, "noise_statistics", lambda t: seen.append(t.detach()) or measure(t))
    white = torch.ones(2, 3, 32, 32)  # F's noise on white goes past 1 half the time
    trainer.step(0, {"clean": white, "noisy": torch.stack([sampler(np.random.default_rng(i)) for i in range(2)])})
    fake = seen[1]  # the real batch's statistics first, then F's
    assert float(fake.max()) <= 1.0 and float(fake.min()) >= 0.0 and float((fake < 1.0).float().mean()) > 0.2


def test_the_statistics_loss_sees_how_the_level_depends_on_brightness() -> None:
    """Shot noise is stronger in the brights (darks, after sRGB): the loss matches σ per brightness band too, so
    a flat σ of the same overall spread is farther from the bank than the right slope."""
    from denoise_gan.nets.noise_stats import FEATURES, StatisticsBank, StatisticsSet, noise_statistics

    def patches(seed: int, slope: bool) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        level = torch.linspace(0.15, 0.85, 16).view(16, 1, 1, 1)
        sigma = (4 + 40 * level) / 255 if slope else torch.full_like(level, 24 / 255)
        return level + sigma * torch.randn(16, 3, 64, 64, generator=g)

    bank = StatisticsBank(size=512, seed=0)
    for seed in range(6):
        bank.add(noise_statistics(patches(seed, True)))
    right = float(bank.distance(noise_statistics(patches(10, True))))
    flat = float(bank.distance(noise_statistics(patches(10, False))))
    joint_only = StatisticsBank(size=512, seed=0, statistics=StatisticsSet(FEATURES, luma_bands=1))
    joint_only.add(bank.rows)
    gap = flat - right
    assert gap > 0.3 and gap > 2 * (float(joint_only.distance(noise_statistics(patches(10, False)))) -
                                     float(joint_only.distance(noise_statistics(patches(10, True)))))


def test_gray_clean_photos_beside_colour_noise_and_noisy_photos_among_the_clean_are_said() -> None:
    """Both trained without a word: F cannot learn a colour correlation from gray clean photos (it draws gray noise
    on them), and clean photos that are the noisy ones teach it that the noise is none."""
    from denoise_gan.training.adapt_noise import photo_set_warnings

    rng = np.random.default_rng(0)
    colour = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(3)]
    gray = [rng.integers(0, 256, (32, 32, 1), dtype=np.uint8) for _ in range(2)]
    said = photo_set_warnings(gray, colour)
    assert len(said) == 1 and said[0].startswith("every --clean photo is gray and the --noisy photos are in colour")
    said = photo_set_warnings([*gray, colour[1].copy()], colour)
    assert len(said) == 1 and said[0].startswith("1 of the clean photos are --noisy photos (the same pixels)")
    assert photo_set_warnings([*gray, rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)], colour) == []
    assert photo_set_warnings(gray[:1], gray[1:]) == []  # a gray camera's noise: nothing to miss
    flat = colour[0].reshape(16, 64, 3)  # the same bytes in another shape: another photo
    assert photo_set_warnings([flat, colour[2]], colour[:2]) == []


def test_a_noisy_folder_gone_on_a_resume_is_said_to_be_gone(tmp_path: Path) -> None:
    """It said "--noisy must be a folder of your noisy photos" to a `--resume` that gave no --noisy."""
    from denoise_gan.errors import UserError
    from denoise_gan.training.adapt_noise import noisy_photos

    with pytest.raises(UserError, match=r"moved: no such folder \(moved or deleted\?\)"):
        noisy_photos(str(tmp_path / "moved"))


def test_a_gray_only_start_model_given_colour_photos_is_said() -> None:
    """adapt --from a `train --channels 1` run learnt colour photos' noise in gray without a word, and its report
    (which read the folder in gray too) called the noise matched."""
    from denoise_gan.config import AdaptConfig
    from denoise_gan.training.adapt_noise import adapt_warnings

    rng = np.random.default_rng(0)
    colour = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(2)]
    clean = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)]
    cfg = AdaptConfig(noisy_dir="noisy", start="grayrun")
    (said,) = adapt_warnings(clean, colour, cfg, 1)
    assert said.startswith("--from grayrun is a gray-only model and the --noisy photos are in colour")
    assert adapt_warnings(clean, colour, cfg, 3) == []
    assert adapt_warnings(clean, [rng.integers(0, 256, (32, 32, 1), dtype=np.uint8)], cfg, 1) == []
