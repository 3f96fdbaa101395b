"""Every registered generator keeps the contract its kind declares: a denoiser's level-awareness, stride,
smallest tile and channels; a noise model's ``sample`` with its level map."""

from __future__ import annotations

import pytest
import torch

from denoise_gan.config import GeneratorConfig
from denoise_gan.nets.contract import denoiser_contract
from denoise_gan.nets.generator_names import GENERATOR_KINDS, INSTANCE_NORM_ARCHS, NOISE_MODEL_ARCHS
from denoise_gan.nets.registry import build_generator

SMALL = {"width": 4, "depth": 1, "blocks": 1}
DENOISERS = [kind.name for kind in GENERATOR_KINDS if not kind.noise_model]


@pytest.mark.parametrize("arch", DENOISERS)
@pytest.mark.parametrize("channels", [1, 3])
def test_a_denoiser_keeps_its_contract(arch: str, channels: int) -> None:
    net = build_generator(GeneratorConfig(arch=arch, channels=channels, **SMALL)).eval()
    contract = denoiser_contract(net)
    assert contract.channels == channels and contract.stride >= 1 and contract.min_tile >= 1
    side = 4 * contract.stride
    x = torch.rand(2, channels, side, 2 * side)
    with torch.no_grad():
        assert net(x).shape == x.shape
        if contract.level_aware:
            assert net(x, strength=0.5).shape == x.shape and net(x, sigma=25.0).shape == x.shape
            assert net.estimate(x).shape == x.shape  # a level map per pixel and channel
            torch.testing.assert_close(net(x, sigma=0.0), x)  # level 0: the input back
        if arch == "resnet":  # it draws the image itself (a sigmoid), not a correction to subtract
            out = net(4 * x - 2)
            assert 0 <= float(out.min()) and float(out.max()) <= 1
    assert contract.level_aware == (arch == "level")
    assert contract.instance_norm == (arch in INSTANCE_NORM_ARCHS)  # the ONNX engine reads the table


@pytest.mark.parametrize("arch", sorted(NOISE_MODEL_ARCHS))
def test_a_noise_model_samples_with_its_level_map(arch: str) -> None:
    net = build_generator(GeneratorConfig(arch=arch, channels=3, **SMALL)).eval()
    x = torch.rand(2, 3, 16, 16)
    z, v = torch.randn_like(x), torch.full((2, 1, 1, 1), 0.5)
    with torch.no_grad():
        noisy, level = net.sample(x, z, v)
        again, _ = net.sample(x, z, v, maps=net.scale_and_shift(x))  # maps from elsewhere: the same draw
    assert noisy.shape == level.shape == x.shape and (level >= 0).all()
    torch.testing.assert_close(noisy, again)


def test_a_foreign_module_gets_the_blind_defaults() -> None:
    contract = denoiser_contract(torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3, padding=1)))
    assert (contract.level_aware, contract.stride, contract.min_tile, contract.channels) == (False, 1, 1, 1)


@pytest.mark.parametrize("arch", sorted(NOISE_MODEL_ARCHS))
def test_initialised_weights_follow_the_reference_and_f_starts_adding_nothing_fixed(arch: str) -> None:
    """N(0, std) convolutions as the reference, then F's output layer reset: its deterministic part is the
    identity, so a new F leaves a photo's colours alone and adds only its mild noise."""
    from denoise_gan.nets.registry import init_weights

    torch.manual_seed(0)
    f = build_generator(GeneratorConfig(arch=arch, channels=3, width=16, depth=1, blocks=1))
    init_weights(f, 0.05)
    wide = [m.weight.detach() for m in f.modules() if isinstance(m, torch.nn.Conv2d) and m.weight.numel() > 2000]
    assert wide and all(abs(float(w.std()) - 0.05) < 0.005 for w in wide)
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(f.deterministic(x), x)


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_only_discriminators_without_spectral_norm_take_the_reference_init(spectral_norm: bool) -> None:
    """As the README and --init-std say: a spectral-normalised conv keeps PyTorch's init (the normalisation
    removes its scale), the others are N(0, std)."""
    from denoise_gan.config import DiscriminatorConfig
    from denoise_gan.nets.discriminators import build_discriminator
    from denoise_gan.nets.registry import init_weights

    torch.manual_seed(0)
    d = build_discriminator(DiscriminatorConfig(spectral_norm=spectral_norm))
    stored = [m.parametrizations.weight.original if spectral_norm else m.weight
              for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    before = [w.detach().clone() for w in stored]
    init_weights(d, 0.3)
    assert all(torch.equal(a, b) for a, b in zip(before, stored, strict=True)) == spectral_norm
    if not spectral_norm:
        assert all(abs(float(w.detach().std()) - 0.3) < 0.05 for w in stored if w.numel() > 2000)


def test_a_subclass_that_cannot_take_a_photo_profile_does_not_claim_it() -> None:
    """A user's subclass of the level-aware denoiser inherits ``photo_profile``; with its own forward without
    ``profile``, or an estimator without ``cells_and_brightness``, the tiler's first pass failed with a raw
    TypeError or AttributeError; it now runs each tile on its own profile, as before."""
    import numpy as np

    from denoise_gan import Denoiser

    cfg = GeneratorConfig(arch="level", **SMALL)

    class OwnForward(type(build_generator(cfg))):  # type: ignore[misc]
        def forward(self, noisy: torch.Tensor, strength: float = 1.0, sigma: float | None = None,
                    level: torch.Tensor | None = None) -> torch.Tensor:
            return super().forward(noisy, strength, sigma, level)

    class OwnEstimator(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner, self.stride = inner, inner.stride

        def profiled(self, noisy: torch.Tensor, profile: torch.Tensor | None = None) -> torch.Tensor:
            return self.inner.profiled(noisy)

    assert denoiser_contract(build_generator(cfg)).photo_profile
    own_forward = OwnForward(cfg).eval()
    own_estimator = build_generator(cfg).eval()
    own_estimator.estimator = OwnEstimator(own_estimator.estimator)
    image = np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    for net in (own_forward, own_estimator):
        assert Denoiser(net, device="cpu", tile=128)(image).shape == image.shape
        assert not denoiser_contract(net).photo_profile
