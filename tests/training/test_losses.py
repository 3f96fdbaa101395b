"""The CycleGAN objective's numbers: LSGAN targets, the discriminator's half weight, and the cycle and identity
weights of the reference (λ = 10, identity 0.5 λ)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from denoise_gan.config import TrainConfig
from denoise_gan.nets import losses
from denoise_gan.training.cyclegan import loss_weights


def test_lsgan_pushes_real_to_one_and_fake_to_zero() -> None:
    ones, zeros, half = torch.ones(2, 1, 4, 4), torch.zeros(2, 1, 4, 4), torch.full((2, 1, 4, 4), 0.5)
    assert losses.lsgan(ones, True).item() == 0.0 and losses.lsgan(zeros, False).item() == 0.0
    assert losses.lsgan(zeros, True).item() == 1.0 and losses.lsgan(ones, False).item() == 1.0
    assert losses.lsgan(half, True).item() == pytest.approx(0.25)


def test_the_discriminator_loss_is_halved() -> None:
    ones, zeros = torch.ones(3, 1, 4, 4), torch.zeros(3, 1, 4, 4)
    assert losses.discriminator_loss(ones, zeros).item() == 0.0  # a perfect discriminator
    assert losses.discriminator_loss(zeros, ones).item() == 1.0  # 0.5 x (1 + 1)


def test_cycle_and_identity_weights_are_the_references() -> None:
    assert loss_weights(TrainConfig()) == (10.0, 5.0)
    assert loss_weights(TrainConfig(lambda_cycle=4.0, lambda_identity=0.25)) == (4.0, 1.0)  # a share of λ
    assert loss_weights(TrainConfig(lambda_identity=0.0))[1] == 0.0
    x, y = torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.2)
    assert losses.cycle(x, y).item() == pytest.approx(0.2) and losses.identity(y, x).item() == pytest.approx(0.2)


def test_one_step_trains_each_network_on_the_papers_terms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One CycleGAN step, term by term: G and F are pushed to be called real by D_clean and D_noisy; G's loss is
    its adversarial term, both cycles at λ and its identity at the identity weight; D_clean's real images are
    the clean batch and D_noisy's the noisy one; the logged σ of F's noise is on the 0-255 scale."""
    from denoise_gan.runtime import World
    from denoise_gan.training.cyclegan import CycleGANTrainer
    from helpers import tiny_train_config

    cfg = tiny_train_config(tmp_path, lambda_cycle=7.0, lambda_identity=0.3)
    torch.manual_seed(0)
    trainer = CycleGANTrainer(cfg, torch.device("cpu"), World())
    with torch.no_grad():  # an F past its start, whose mean is no longer its input: F(y) ≈ y is a term to weigh
        for param in trainer.nets.f.parameters():
            param.add_(0.05 * torch.randn_like(param))
    x, y = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    judged: dict[int, tuple[str, torch.Tensor]] = {}  # a D output's id -> (which D, what it judged)
    for name, net in (("d_clean", trainer.nets.d_clean), ("d_noisy", trainer.nets.d_noisy)):
        def judge(image: torch.Tensor, name: str = name, forward: object = net.forward) -> torch.Tensor:
            out = forward(image)
            judged[id(out)] = (name, image.detach().clone())
            return out
        monkeypatch.setattr(net, "forward", judge)
    calls: dict[str, list[tuple]] = {"lsgan": [], "identity": [], "discriminator_loss": []}
    inside: list[str] = []  # the discriminator loss's own LSGAN terms are not the generators'
    for fn in calls:
        def recorded(*args: torch.Tensor, fn: str = fn, real: object = getattr(losses, fn)) -> torch.Tensor:
            inside.append(fn)
            out = real(*args)
            inside.pop()
            if not inside:
                calls[fn].append((*args, out))
            return out
        monkeypatch.setattr(losses, fn, recorded)
    backward = torch.Tensor.backward
    minimised: list[float] = []

    def recorded_backward(self: torch.Tensor, *args: object, **kwargs: object) -> None:
        minimised.append(float(self.detach()))
        backward(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "backward", recorded_backward)
    log = trainer.step(0, {"clean": x, "noisy": y})

    adversarial = {judged[id(pred)][0]: target for pred, target, _ in calls["lsgan"]}
    assert adversarial == {"d_clean": True, "d_noisy": True}
    for (real, fake, _), (name, batch) in zip(calls["discriminator_loss"], (("d_clean", x), ("d_noisy", y))):
        assert judged[id(real)][0] == name and torch.equal(judged[id(real)][1], batch)
        assert judged[id(fake)][0] == name
    idt_g = next(float(out.detach()) for _, target, out in calls["identity"] if torch.equal(target, x))
    lam, lam_id = loss_weights(cfg)
    loss_g = log["g_adv"] + lam * (log["cycle_clean"] + log["cycle_noisy"]) + lam_id * idt_g
    assert minimised[0] == pytest.approx(loss_g, rel=1e-5)
    # F's: its adversarial term, its statistics term and its own identity F(y) ≈ y at the identity weight
    idt_f = next(float(out.detach()) for _, target, out in calls["identity"] if torch.equal(target, y))
    assert idt_f > 0 and log["idt"] == pytest.approx(idt_g + idt_f, rel=1e-5)
    assert minimised[1] == pytest.approx(log["f_adv"] + cfg.lambda_stats * log["f_stats"] + lam_id * idt_f, rel=1e-5)
    drawn = next(image for name, image in judged.values() if name == "d_noisy")  # F's draw, judged first
    assert log["f_sigma"] == pytest.approx(255.0 * float((drawn - x).std()), rel=1e-4)


def test_the_backward_cycle_trains_g_through_f(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """F(G(y)) ≈ y is G's only tie to a real noisy photo's content: its gradient must reach G through F (only
    F's own share of it is dropped)."""
    from denoise_gan.runtime import World
    from denoise_gan.training.cyclegan import CycleGANTrainer
    from helpers import tiny_train_config

    torch.manual_seed(0)
    trainer = CycleGANTrainer(tiny_train_config(tmp_path, lambda_identity=0.0), torch.device("cpu"), World())
    x, y = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    real_cycle = losses.cycle
    monkeypatch.setattr(losses, "lsgan", lambda pred, real: 0.0 * pred.mean())  # only the backward cycle left
    monkeypatch.setattr(losses, "cycle", lambda pred, target: real_cycle(pred, target) * float(target is y))
    trainer.step(0, {"clean": x, "noisy": y})
    grads = [p.grad for p in trainer.nets.g.parameters()]
    assert any(g is not None and bool(g.abs().sum() > 0) for g in grads)


def test_a_runs_weights_name_the_noise_they_learned() -> None:
    """The model card's noise family: the spec of a synthetic run, the noisy folder of an unpaired one."""
    from denoise_gan.config import DataConfig, TrainConfig
    from denoise_gan.training.run_weights import run_description

    synthetic = run_description(TrainConfig(data=DataConfig(clean_dir="/c", noise="gaussian:sigma=25")))
    assert synthetic["noise_family"] == "gaussian:sigma=25" and synthetic["training_data"].startswith("/c, split")
    unpaired = run_description(TrainConfig(data=DataConfig(clean_dir="/c", noisy_dir="/n")))
    assert unpaired["noise_family"] == "the real noise of the photos in /n"
    assert unpaired["training_data"] == "clean: /c; noisy: /n (unpaired)"


def test_the_history_pool_shows_the_discriminators_older_fakes_too() -> None:
    """The reference's pool: once full, about half of a batch's fakes are swapped for older ones (which damps
    the discriminator's oscillation); the pool never grows past its size."""
    from denoise_gan.training.cyclegan import ImagePool

    pool = ImagePool(size=4, seed=0, image_shape=(1, 2, 2))
    older = 0
    for step in range(40):
        batch = torch.full((2, 1, 2, 2), float(step))
        out = pool.query(batch)
        assert out.shape == batch.shape and len(pool.images) <= 4
        older += int((out[:, 0, 0, 0] < step).sum())
    assert 20 < older < 60  # of 76 images queried once the pool was full, about half
    assert ImagePool(size=0, seed=0, image_shape=(1, 2, 2)).query(batch) is batch


def test_the_history_pool_keeps_its_images_not_the_batches_they_came_from(tmp_path: Path) -> None:
    """A pooled image is stored alone: as a view it kept its whole batch in memory and in every checkpoint."""
    from denoise_gan.training.cyclegan import ImagePool

    pool = ImagePool(size=4, seed=0, image_shape=(3, 8, 8))
    for _ in range(20):
        pool.query(torch.rand(8, 3, 8, 8))
    image_bytes = 3 * 8 * 8 * 4
    assert all(image.untyped_storage().nbytes() == image_bytes for image in pool.images)
    torch.save(pool.state(), tmp_path / "pool.pt")
    loaded = ImagePool(size=4, seed=0, image_shape=(3, 8, 8))
    loaded.load(torch.load(tmp_path / "pool.pt", weights_only=False))
    assert all(torch.equal(a, b) for a, b in zip(pool.images, loaded.images, strict=True))
    bloated = {"images": [batch[:1] for batch in torch.rand(4, 8, 3, 8, 8)], "rng": pool.state()["rng"]}
    loaded.load(bloated)  # a checkpoint written before: its images compacted as they load
    assert all(image.untyped_storage().nbytes() == image_bytes for image in loaded.images)
