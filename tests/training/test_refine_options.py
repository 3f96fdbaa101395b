"""refine's options act on the step, not only on config.json: --loss, --lambda-level, --estimator-noise-fraction,
--correlated-fraction, --faint-fraction and --fresh each change what G trains on or how (a refine given one and
training exactly as without it passed every test)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from denoise_gan.config import RefineConfig
from denoise_gan.nets.weights import load_generator
from denoise_gan.runtime import World
from denoise_gan.training.new_run_inputs import load_source_config
from denoise_gan.training.refine import RefineTrainer, SourceModel
from helpers import TINY_LEVEL

pytestmark = pytest.mark.usefixtures("losses_png_unrendered")  # trains; never looks at that picture


def _trainer(run: Path, **kw: object) -> RefineTrainer:
    cfg = RefineConfig(**{**dict(run_dir=str(run), generator=TINY_LEVEL, steps=4, batch_size=4, patch_size=32,
                                 device="cpu", workers=0, quantize=False, clean_fraction=0.0), **kw})
    return RefineTrainer(cfg, SourceModel.of_run(load_source_config(run)), torch.device("cpu"), World())


@pytest.mark.parametrize("loss, expected", [("l1", 0.5), ("l2", 0.25)])
def test_the_reconstruction_loss_is_the_one_asked_for(finished_run: Path, loss: str, expected: float) -> None:
    trainer = _trainer(finished_run, loss=loss)
    assert float(trainer.reconstruction(torch.zeros(1, 3, 8, 8), torch.full((1, 3, 8, 8), 0.5))) == expected


@pytest.mark.parametrize("weight", [1.0, 0.3])
def test_the_step_minimises_the_reconstruction_plus_the_weighted_level_loss(
        finished_run: Path, monkeypatch: pytest.MonkeyPatch, weight: float) -> None:
    trainer = _trainer(finished_run, lambda_level=weight)
    minimised: list[float] = []
    backward = torch.Tensor.backward

    def recorded(self: torch.Tensor, *args: object, **kwargs: object) -> None:
        minimised.append(float(self.detach()))
        backward(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "backward", recorded)
    torch.manual_seed(0)
    out = trainer.step(0, {"clean": torch.rand(4, 3, 32, 32) * 0.5 + 0.25})
    assert out["level"] > 0 and minimised == [pytest.approx(out["loss"] + weight * out["level"] / 255.0, rel=1e-5)]


def test_the_estimator_noise_share_replaces_that_share_of_the_samples(finished_run: Path) -> None:
    trainer = _trainer(finished_run, estimator_noise="gaussian:sigma=40", estimator_noise_fraction=0.5)
    batch = {"estimator_noisy": torch.ones(200, 1, 2, 2), "estimator_level": torch.ones(200, 1, 2, 2)}
    torch.manual_seed(0)
    noisy, level = trainer.estimator_samples(batch, torch.zeros(200, 1, 2, 2), torch.zeros(200, 1, 2, 2))
    replaced = noisy.flatten(1).amax(1)
    assert 0.35 < float(replaced.mean()) < 0.65 and torch.equal(level, noisy)


def test_correlated_and_faint_shares_change_fs_draws(finished_run: Path) -> None:
    """Correlated: another draw, the same map. Faint: noise and map scaled down together, one factor a sample."""
    clean = torch.rand(4, 3, 32, 32) * 0.5 + 0.25  # away from 0 and 1, so no draw is clipped
    pairs = {}
    for option in ("plain", "correlated_fraction", "faint_fraction"):
        trainer = _trainer(finished_run, **({} if option == "plain" else {option: 1.0}))
        torch.manual_seed(4)
        pairs[option] = trainer.pseudo_pair(clean)
    (drawn, level), (correlated, correlated_level) = pairs["plain"], pairs["correlated_fraction"]
    assert torch.equal(level, correlated_level) and not torch.allclose(correlated, drawn)
    faint, faint_level = pairs["faint_fraction"]
    noise_ratio = (faint - clean).flatten(1).std(1) / (drawn - clean).flatten(1).std(1)
    level_ratio = faint_level.flatten(1).mean(1) / level.flatten(1).mean(1)
    assert bool((noise_ratio < 1).all()) and torch.allclose(noise_ratio, level_ratio, rtol=0.05)


def test_fresh_starts_a_new_g_of_the_runs_own_architecture(finished_run: Path) -> None:
    """`--generator same --fresh` trains the run's architecture newly initialised; it fine-tuned the run's G."""
    run_g = load_generator(finished_run / "G.safetensors")[0].state_dict()
    for fresh in (False, True):
        g = _trainer(finished_run, generator=None, fresh=fresh).g.state_dict()
        assert g.keys() == run_g.keys()
        assert all(torch.equal(g[k].cpu(), run_g[k]) for k in run_g) != fresh, fresh


def test_a_start_of_another_channel_count_than_the_run_is_one_line(finished_run: Path, tmp_path: Path) -> None:
    """A 1-channel --init G on a 3-channel run ended in torch's conv RuntimeError traceback."""
    from dataclasses import replace

    from denoise_gan.errors import UserError
    from denoise_gan.nets.registry import build_generator
    from denoise_gan.nets.weights import save_generator
    from denoise_gan.training.refine_start import check_start
    from helpers import cli, one_line_error

    gray = replace(TINY_LEVEL, channels=1)
    save_generator(tmp_path / "g1.safetensors", build_generator(gray), gray, {})
    one_line_error(cli("refine", finished_run, "-o", tmp_path / "out", "--init", tmp_path / "g1.safetensors",
                       "--steps", "2", "--patch-size", "32", "--batch-size", "2", "--workers", "0"),
                   "a 1-channel G does not match the run's 3-channel F")
    assert not (tmp_path / "out").exists()
    source = load_source_config(finished_run)
    with pytest.raises(UserError, match="--channels 1 does not match the run's 3-channel F"):
        check_start(RefineConfig(run_dir=str(finished_run), generator=gray), source)


def test_the_level_cap_g_records_is_the_highest_any_batch_trained_on(finished_run: Path) -> None:
    """A later batch's lower peak lowered the cap below levels G was trained on."""
    trainer = _trainer(finished_run)
    for peak in (0.6, 0.2, 0.4):
        trainer.record_level_max(torch.full((2, 3, 4, 4), peak))
    assert float(trainer.level_peak) == pytest.approx(0.6)
