"""Refinement of a level-aware G: it learns from F's level maps (unpaired) or a spec's true maps (supervised)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from data_tools.datasets import PairedPatches, PatchSampler
from data_tools.images import read_image
from data_tools.noise import parse_noise_spec
from data_tools.noise_levels import noise_level_map
from denoise_gan.config import ConfigError, GeneratorConfig, RefineConfig
from denoise_gan.errors import UserError
from denoise_gan.nets.registry import build_generator, init_weights
from denoise_gan.nets.weights import load_generator, save_generator
from denoise_gan.runtime import World
from denoise_gan.training.new_run_inputs import load_source_config
from denoise_gan.training.refine import RefineTrainer, SourceModel, refine
from helpers import TINY_LEVEL, cli

pytestmark = pytest.mark.usefixtures("losses_png_unrendered")  # trains; never looks at that picture


def _log(run: Path) -> list[dict[str, str]]:
    with (run / "log.csv").open() as fh:
        return list(csv.DictReader(fh))


def _config(finished_run: Path, **kw: object) -> RefineConfig:
    base = dict(run_dir=str(finished_run), generator=TINY_LEVEL, steps=80, batch_size=4, patch_size=32,
                save_every=80, log_every=20, lr=3e-3, device="cpu", workers=0)
    return RefineConfig(**{**base, **kw})


def test_level_aware_refinement_learns_levels_from_f(finished_run: Path, tmp_path: Path) -> None:
    out = refine(_config(finished_run), tmp_path / "level")
    net, cfg, meta = load_generator(out)
    assert cfg == TINY_LEVEL and getattr(net, "level_aware", False)
    rows = _log(tmp_path / "level")
    assert [r["step"] for r in rows] == ["20", "40", "60", "80"] and rows[0]["level"]
    # the README's schedule: the lr constant to half the steps, then linear to 0; a row holds the rate its step
    # ran at (the 60th step, 59 done: 21 of the last 40 steps' rate left)
    assert [float(r["lr"]) for r in rows] == pytest.approx([3e-3, 3e-3, 3e-3 * 21 / 40, 3e-3 / 40], abs=1e-9)
    # the estimator learnt F's level map: on fresh draws of F it is closer than an untrained estimator
    f = load_generator(finished_run / "F.safetensors")[0]
    fresh = build_generator(TINY_LEVEL)
    init_weights(fresh)
    torch.manual_seed(7)
    clean = torch.rand(8, 3, 32, 32) * 0.6 + 0.2
    with torch.no_grad():
        noisy, level = f.sample(clean)
        noisy = (noisy.clamp(0, 1) * 255).round() / 255
        trained_error = (net.estimate(noisy) - level).abs().mean()
        untrained_error = (fresh.estimate(noisy) - level).abs().mean()
    assert trained_error < 0.8 * untrained_error, (trained_error, untrained_error)  # 0.71 measured
    # the exported file is blind by default and takes a strength or a fixed sigma
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert net(x).shape == x.shape and not torch.equal(net(x, sigma=40.0), net(x, sigma=0.0))


def test_supervised_refinement_uses_the_specs_true_levels(finished_run: Path, clean_dir: Path,
                                                          tmp_path: Path) -> None:
    out = refine(_config(finished_run, noise="gaussian:sigma=30", fresh=True, lr=1e-3), tmp_path / "sup")
    net = load_generator(out)[0]
    fresh = build_generator(TINY_LEVEL)
    init_weights(fresh)
    # fresh supervised pairs of the same spec: the trained estimator is much nearer the true level
    images = [read_image(p).pixels for p in sorted(clean_dir.glob("*.png"))]
    pairs = PairedPatches(PatchSampler(images, 32, 3, 0.0, parse_noise_spec("gaussian:sigma=30")), 99)
    batch = {k: torch.stack([pairs[i][k] for i in range(16)]) for k in ("noisy", "level")}
    assert torch.allclose(batch["level"], torch.full_like(batch["level"], 30 / 255))
    with torch.no_grad():
        trained_error = (net.estimate(batch["noisy"]) - batch["level"]).abs().mean()
        untrained_error = (fresh.estimate(batch["noisy"]) - batch["level"]).abs().mean()
    assert trained_error < 0.5 * untrained_error, (trained_error, untrained_error)


def test_noise_level_map_follows_the_stages() -> None:
    clean = np.full((8, 8, 3), 100, np.uint8)
    _, stages = parse_noise_spec("poisson-gaussian:peak=51,sigma=3").apply(clean, 0)
    level = noise_level_map(clean, stages)
    assert level.shape == clean.shape and np.allclose(level, np.sqrt(100 * 255 / 51 + 9), rtol=1e-5)
    _, stages = parse_noise_spec("gaussian:sigma=10+jpeg:quality=90").apply(clean, 0)
    assert np.allclose(noise_level_map(clean, stages), 10.0)  # JPEG adds no random noise


def test_refine_checks_the_new_generator(finished_run: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown --generator 'nope'; choose one of same, level, resnet, unet$"):
        refine(_config(finished_run, generator=GeneratorConfig(arch="nope")), tmp_path / "x")
    with pytest.raises(ConfigError, match="clean_fraction"):  # the config checks its own fields
        _config(finished_run, clean_fraction=1.5)


def test_refine_can_start_from_given_weights(finished_run: Path, tmp_path: Path) -> None:
    first = refine(_config(finished_run, steps=20, save_every=20), tmp_path / "first")
    start = load_generator(first)[0].state_dict()
    # a vanishing learning rate: the continued G is the --init weights
    out = refine(_config(finished_run, generator=None, init=str(first), steps=20, save_every=20, lr=1e-12),
                 tmp_path / "continued")
    continued = load_generator(out)[0].state_dict()
    assert all(torch.allclose(start[k], continued[k], atol=1e-6) for k in start)
    fresh = refine(_config(finished_run, steps=20, save_every=20, lr=1e-12, seed=5), tmp_path / "fresh")
    assert not all(torch.allclose(start[k], load_generator(fresh)[0].state_dict()[k], atol=1e-6) for k in start)
    with pytest.raises(UserError, match="not the one asked for"):
        refine(_config(finished_run, init=str(first), generator=GeneratorConfig(arch="level", width=16, depth=1,
                                                                                 blocks=1)), tmp_path / "z")
    with pytest.raises(ConfigError, match="faint_fraction"):
        _config(finished_run, faint_fraction=2.0)


def test_clean_samples_can_be_jpeg_photos_kept_as_they_are(finished_run: Path, tmp_path: Path) -> None:
    """The dataset offers each clean patch JPEG-compressed too; a kept-clean sample then takes it as both input
    and target with a zero map, so the estimator sees block edges at level 0."""
    rng = np.random.default_rng(0)
    photo = (rng.random((48, 48, 3)) * 255).astype(np.uint8)
    sampler = PatchSampler([photo], 32, 3, 0.0)
    item = PairedPatches(sampler, 0, clean_variant=parse_noise_spec("jpeg:quality=70-95"))[0]
    assert item["clean_variant"].shape == item["clean"].shape
    assert 0 < (item["clean_variant"] - item["clean"]).abs().mean() < 0.2

    cfg = _config(finished_run, clean_fraction=0.999, clean_jpeg_fraction=1.0)
    trainer = RefineTrainer(cfg, SourceModel.of_run(load_source_config(finished_run)), torch.device("cpu"), World())
    clean, noisy = torch.rand(6, 3, 8, 8), torch.rand(6, 3, 8, 8)
    compressed, level = clean + 0.01, torch.ones(6, 3, 8, 8)
    torch.manual_seed(0)
    given, target, zero = trainer.leave_some_clean(clean, noisy, level, compressed)
    assert torch.equal(given, compressed) and torch.equal(target, compressed) and not zero.any()
    given, target, _ = trainer.leave_some_clean(clean, noisy, level, None)
    assert torch.equal(given, clean) and torch.equal(target, clean)
    with pytest.raises(ValueError, match="clean_jpeg_fraction"):
        _config(finished_run, clean_jpeg_fraction=1.5)
    refine(_config(finished_run, clean_jpeg_fraction=0.5, steps=20, save_every=20), tmp_path / "jpeg")
    assert (tmp_path / "jpeg" / "G.safetensors").is_file()


def test_white_draws_keep_fs_pixel_sizes_and_level_map(finished_run: Path) -> None:
    """With every draw whitened, G's input is F's draw with a random sign per pixel: same sizes, same map."""
    source = SourceModel.of_run(load_source_config(finished_run))
    clean = torch.rand(4, 3, 32, 32) * 0.5 + 0.25  # away from 0 and 1, so no draw is clipped
    pairs = {}
    for white in (0.0, 1.0):
        trainer = RefineTrainer(_config(finished_run, white_fraction=white, quantize=False), source,
                                torch.device("cpu"), World())
        torch.manual_seed(4)
        pairs[white] = trainer.pseudo_pair(clean)
    (drawn, level), (white_in, white_level) = pairs[0.0], pairs[1.0]
    assert torch.equal(level, white_level)
    assert torch.allclose((white_in - clean).abs(), (drawn - clean).abs(), atol=1e-6)
    assert not torch.allclose(white_in, drawn)


def test_quantized_draws_are_f_s_draws_clipped_and_rounded_to_8_bits(finished_run: Path) -> None:
    """G meets 8-bit files: by default its pseudo-pairs are F's draws as such a file holds them."""
    source = SourceModel.of_run(load_source_config(finished_run))
    clean = torch.rand(4, 3, 32, 32)
    pairs = {}
    for quantize in (False, True):
        trainer = RefineTrainer(_config(finished_run, quantize=quantize), source, torch.device("cpu"), World())
        torch.manual_seed(5)
        pairs[quantize] = trainer.pseudo_pair(clean)
    (drawn, level), (stored, stored_level) = pairs[False], pairs[True]
    assert torch.equal(level, stored_level) and not torch.equal(drawn, stored)
    assert torch.equal(stored, torch.round(drawn.clamp(0, 1) * 255.0) / 255.0)


def test_estimator_only_leaves_the_denoiser_as_it_was(finished_run: Path, tmp_path: Path) -> None:
    first = refine(_config(finished_run, steps=20, save_every=20), tmp_path / "first")
    out = refine(_config(finished_run, generator=None, init=str(first), estimator_only=True, steps=20,
                         save_every=20), tmp_path / "estimator")
    before, after = load_generator(first)[0].state_dict(), load_generator(out)[0].state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("denoiser."))
    assert not all(torch.equal(before[k], after[k]) for k in before if k.startswith("estimator."))
    rows = _log(tmp_path / "estimator")
    assert float(rows[-1]["loss"]) == pytest.approx(float(rows[-1]["level"]) / 255.0, rel=1e-3)


def test_estimator_noise_reaches_the_estimator_and_never_the_denoiser(finished_run: Path) -> None:
    """Every estimator sample drawn from the spec (share 1): the estimator reads those draws against their
    measured level, while the denoiser still gets F's pseudo-pairs."""
    cfg = _config(finished_run, estimator_noise="gaussian:sigma=40", estimator_noise_fraction=1.0,
                  clean_fraction=0.0)
    trainer = RefineTrainer(cfg, SourceModel.of_run(load_source_config(finished_run)), torch.device("cpu"), World())
    rng = np.random.default_rng(0)
    photo = (rng.random((48, 48, 3)) * 255).astype(np.uint8)
    spec = parse_noise_spec(cfg.estimator_noise)
    pairs = PairedPatches(PatchSampler([photo], 32, 3, 0.0), 0, estimator_noise=spec)
    batch = {k: torch.stack([pairs[i][k] for i in range(4)]) for k in ("clean", "estimator_noisy", "estimator_level")}
    assert batch["estimator_level"].mean() * 255 == pytest.approx(40.0, rel=0.15)  # clipping takes a little
    seen: dict[str, torch.Tensor] = {}

    def record(name: str):  # a pre-hook that returns None (as dict.update does) leaves the input as it is
        return lambda _module, args: seen.update({name: args[0]})

    trainer.g.denoiser.register_forward_pre_hook(record("denoiser"))
    trainer.g.estimator.register_forward_pre_hook(record("estimator"))
    trainer.step(0, batch)
    assert torch.equal(seen["estimator"], batch["estimator_noisy"])
    assert not torch.equal(seen["denoiser"], batch["estimator_noisy"])


def test_estimator_options_are_checked(finished_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="go together"):
        _config(finished_run, estimator_noise="gaussian:sigma=10")
    with pytest.raises(ConfigError, match="go together"):
        _config(finished_run, estimator_noise_fraction=0.5)

    def no_data(*args: object) -> None:
        raise AssertionError("the data was loaded before the G was checked")

    monkeypatch.setattr("denoise_gan.training.refine.make_dataset", no_data)
    with pytest.raises(UserError, match="level-aware"):
        refine(_config(finished_run, generator=GeneratorConfig(arch="unet", width=8, depth=1), estimator_only=True),
               tmp_path / "plain")
    assert not (tmp_path / "plain").exists()  # refused before the data loads: no folder made
    blind = tmp_path / "blind.safetensors"
    save_generator(blind, build_generator(GeneratorConfig(arch="unet", width=8, depth=1)),
                   GeneratorConfig(arch="unet", width=8, depth=1))
    with pytest.raises(UserError, match="level-aware"):
        refine(_config(finished_run, generator=None, init=str(blind), estimator_only=True), tmp_path / "from-init")
    assert not (tmp_path / "from-init").exists()


def test_a_refinement_on_levels_above_the_default_cap_records_its_own(
        finished_run: Path, clean_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every level-aware G was capped at σ 100 when denoising, whatever it was trained on: one trained at σ 150
    under-denoised exactly its own noise. Refine records the highest level of its training maps, and that cap
    travels with the weights (a resumed run keeps it; a G trained below 100 keeps 100); its validation runs G
    under the cap of the step it scores (the first ran under 100)."""
    from denoise_gan.nets.generator_names import LEVEL_MAX, LEVEL_MAX_BOUNDS
    from denoise_gan.nets.weights import LEVEL_MAX_KEY, read_generator_config
    from denoise_gan.training.validation import Validator

    validated: list[tuple[int, float]] = []
    monkeypatch.setattr(Validator, "run", lambda self, g, run_dir, step, noise_model=None:
                        validated.append((step, g.level_max)) or {})
    val = tmp_path / "val"
    assert cli("synth", clean_dir, "-o", val, "--noise", "gaussian:sigma=150").exit_code == 0
    out = refine(_config(finished_run, noise="gaussian:sigma=150", fresh=True, steps=4, save_every=2,
                         val_dir=str(val), val_every=2), tmp_path / "heavy")
    net, _, meta = load_generator(out)
    assert net.level_max == 150.0 and meta[LEVEL_MAX_KEY] == 150.0
    assert validated == [(2, 150.0), (4, 150.0)]
    from denoise_gan.nets.export import load_exportable
    from denoise_gan.nets.run_folder import list_checkpoints

    checkpoint = list_checkpoints(tmp_path / "heavy" / "checkpoints")[-1][1]  # exported as weights: its cap too
    assert load_exportable(checkpoint).net.level_max == 150.0
    monkeypatch.setattr(RefineTrainer, "record_level_max", lambda self, level: None)  # resumed steps record none
    resumed = refine(None, tmp_path / "heavy", resume=True, steps=6)
    assert load_generator(resumed)[0].level_max == 150.0  # restored from the checkpoint, not lowered
    monkeypatch.undo()
    light = refine(_config(finished_run, noise="gaussian:sigma=30", fresh=True, steps=2), tmp_path / "light")
    assert load_generator(light)[0].level_max == LEVEL_MAX
    assert LEVEL_MAX_KEY not in read_generator_config(light)[1]
    wild = refine(_config(finished_run, noise="speckle:sigma=5", fresh=True, steps=2), tmp_path / "wild")
    assert load_generator(wild)[0].level_max == LEVEL_MAX_BOUNDS[1]  # maps past 1000: kept loadable


def test_the_cap_is_the_highest_level_trained_on_rounded_up_to_a_tenth() -> None:
    """Rounded to the nearest tenth, a run that saw σ 130.04 capped its map at 130.0, just below a level it was
    trained on; a level that is a tenth already is not pushed up by float error, and the bound still holds."""
    from types import SimpleNamespace

    from denoise_gan.nets.generator_names import LEVEL_MAX, LEVEL_MAX_BOUNDS

    def cap(peak: float, current: float = LEVEL_MAX) -> float:
        trainer = SimpleNamespace(level_peak=torch.tensor(peak / 255.0), g=SimpleNamespace(level_max=current))
        RefineTrainer.settle_level_max(trainer)  # type: ignore[arg-type]
        return trainer.g.level_max

    assert cap(130.04) == 130.1 and cap(130.0) == 130.0
    assert cap(LEVEL_MAX - 20.0) == LEVEL_MAX  # never below the default's cap
    assert cap(10.0 * LEVEL_MAX_BOUNDS[1]) == LEVEL_MAX_BOUNDS[1]
    assert cap(999.0) == 999.0 and cap(5000.0) == 1000.0  # the bound itself, in numbers: σ 1000 on 0-255


def test_refine_leaves_out_photos_smaller_than_its_patch(finished_run: Path, tmp_path: Path) -> None:
    """As train and adapt do: padded by mirroring, they would show G mirrored seams as clean photos. The run's
    clean photos are 64 px: none is left for a 96 px patch."""
    from denoise_gan.errors import UserError

    with pytest.raises(UserError) as refused:
        refine(_config(finished_run, patch_size=96, steps=2), tmp_path / "big")
    assert "96" in str(refused.value) and "smaller" in str(refused.value), str(refused.value)
