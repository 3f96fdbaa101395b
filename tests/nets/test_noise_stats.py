"""The noise statistics F matches: they read a noise level and its correlation, and the loss separates levels."""

from __future__ import annotations

import math

import pytest
import torch

from denoise_gan.nets.noise_stats import FEATURES, StatisticsBank, noise_statistics


def _flat_noisy(sigma: float, n: int = 8, seed: int = 0, blur: bool = False) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 3, 64, 64, generator=g)
    if blur:  # spatially correlated noise of the same per-pixel std
        k = torch.ones(3, 1, 2, 2) / 2.0
        z = torch.nn.functional.conv2d(torch.nn.functional.pad(z, (0, 1, 0, 1), mode="reflect"), k, groups=3)
    return 0.5 + z * sigma / 255.0


def test_statistics_read_the_noise_level() -> None:
    stats = noise_statistics(_flat_noisy(20.0))
    assert stats.shape == (8 * 4, len(FEATURES))  # four 32x32 windows per 64x64 patch
    sigma_r = stats[:, 0].exp() * 255.0
    assert abs(float(sigma_r.median()) - 20.0) < 2.5
    assert abs(float(stats[:, -1].mean()) - 0.5) < 0.01  # mean luma


def test_statistics_see_spatial_correlation() -> None:
    """White noise halves one scale down (after 2x2 averaging); blurred noise of the same σ does not."""
    white = noise_statistics(_flat_noisy(20.0))
    blurred = noise_statistics(_flat_noisy(20.0, blur=True))
    drop_white = float((white[:, 3] - white[:, 4]).mean())
    drop_blurred = float((blurred[:, 3] - blurred[:, 4]).mean())
    assert abs(drop_white - math.log(2.0)) < 0.2
    assert drop_blurred < drop_white - 0.3
    # two scales down white noise has halved again; the coarser band reads what the finest one misses
    coarser = FEATURES.index("log_sigma_luma_coarser")
    assert abs(float((white[:, 4] - white[:, coarser]).mean()) - math.log(2.0)) < 0.3


def test_bank_from_older_statistics_is_dropped() -> None:
    bank = StatisticsBank(size=16)
    bank.load({"rows": torch.zeros(16, len(FEATURES) - 1)})
    assert not bank.ready(1)
    bank.load({"rows": torch.zeros(16, len(FEATURES))})
    assert bank.ready(16)


def test_bank_distance_separates_levels() -> None:
    bank = StatisticsBank(size=256)
    for seed in range(4):
        bank.add(noise_statistics(_flat_noisy(20.0, seed=seed)))
    assert bank.ready()
    same = float(bank.distance(noise_statistics(_flat_noisy(20.0, seed=9))))
    weaker = float(bank.distance(noise_statistics(_flat_noisy(10.0, seed=9))))
    assert weaker > 3 * same


def test_bank_distance_has_a_gradient_towards_the_real_level() -> None:
    bank = StatisticsBank(size=256)
    for seed in range(4):
        bank.add(noise_statistics(_flat_noisy(20.0, seed=seed)))
    level = torch.tensor(10.0, requires_grad=True)
    z = torch.randn(8, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    bank.distance(noise_statistics(0.5 + z * level / 255.0)).backward()
    assert level.grad is not None and level.grad.item() < 0  # raising F's level lowers the loss


def test_bank_distance_is_fp32_under_bf16_autocast() -> None:
    """Training steps run under bf16 autocast on CPUs where that is fastest; the distance's projections must not:
    near a match, bf16 rounding of the standardised statistics (values around 10) put an error as large as the
    gradient itself into it."""
    bank = StatisticsBank(size=256)
    for seed in range(4):
        bank.add(noise_statistics(_flat_noisy(20.0, seed=seed)))
    fake_stats = noise_statistics(_flat_noisy(21.0, seed=9))
    grads = []
    for amp in (False, True):
        fake = fake_stats.clone().requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            distance = bank.distance(fake)
        distance.backward()  # as the training step does, outside autocast
        grads.append(fake.grad)
    assert float((grads[1] - grads[0]).norm() / grads[0].norm()) < 1e-6


def _spread_bank(size: int = 512) -> StatisticsBank:
    """Real images whose levels span σ 2 to 50 (log-uniform), one level per image, as a mixed noisy set."""
    bank = StatisticsBank(size=size)
    g = torch.Generator().manual_seed(1)
    for _ in range(8):
        sigma = torch.exp(torch.empty(8, 1, 1, 1).uniform_(math.log(2.0), math.log(50.0), generator=g))
        bank.add(noise_statistics(0.5 + sigma / 255.0 * torch.randn(8, 3, 64, 64, generator=g)), images=8)
    return bank


def test_bank_keeps_each_real_images_level_and_reloads_without_them() -> None:
    bank = _spread_bank()
    assert bank.levels is not None and len(bank.levels) == 64
    spread = (bank.levels.max() - bank.levels.min()).exp()
    assert 10 < float(spread) < 40  # σ 2..50 per image, read back per image
    state = bank.state()
    older = StatisticsBank()
    older.load({"rows": state["rows"]})  # a run saved before levels were banked: they refill
    assert older.ready() and older.levels is None
    older.load(state)
    assert torch.equal(older.levels, bank.levels)


def test_level_term_pulls_each_image_to_the_real_level_at_its_quantile() -> None:
    """An image drawn at a low quantile is pulled down, one drawn at a high quantile up, from the same level."""
    bank = _spread_bank()
    z = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    level = torch.tensor([12.0, 12.0], requires_grad=True)
    fake = noise_statistics(0.5 + z * level.view(2, 1, 1, 1) / 255.0)
    bank.level_distance(fake, torch.tensor([0.05, 0.95])).backward()
    assert level.grad is not None and level.grad[0] > 0 > level.grad[1]
    without = bank.distance(fake.detach())
    assert float(bank.distance(fake.detach(), torch.tensor([0.05, 0.95]))) > float(without)


def test_noise_draws_span_the_level_range_and_stay_in_the_files_range() -> None:
    """One draw per stratum of F's level quantiles (so each batch spans F's level range), clipped as a photo is;
    an F without a level distribution draws as it always did, with no quantiles."""
    from denoise_gan.config import GeneratorConfig
    from denoise_gan.nets.registry import build_generator
    from denoise_gan.training.noise_objective import draw_noisy

    torch.manual_seed(0)
    f = build_generator(GeneratorConfig(arch="noise", width=4, depth=1, blocks=1))
    white = torch.ones(8, 3, 32, 32)
    with torch.no_grad():
        fake, quantiles = draw_noisy(f, white)
    assert quantiles is not None
    assert sorted(int(q * 8) for q in quantiles) == list(range(8))
    assert float(fake.max()) <= 1.0 and float((fake < 1.0).float().mean()) > 0.2
    plain = build_generator(GeneratorConfig(arch="unet", width=4, depth=1, blocks=1))
    assert draw_noisy(plain, white)[1] is None


def test_the_compact_set_compares_only_its_own_statistics() -> None:
    """`train`'s compact set leaves out the camera statistics (edges, coarser scale, colour differences, brightness
    bands): a fake that differs from the bank only there is as close as the bank's own rows, where the camera set
    sees the difference."""
    from denoise_gan.nets.noise_stats import STATISTICS_SETS

    real = torch.cat([noise_statistics(_flat_noisy(20.0, seed=seed)) for seed in range(4)])
    camera_only = [FEATURES.index(name) for name in FEATURES if name not in STATISTICS_SETS["compact"].features]
    assert len(camera_only) == 8 and STATISTICS_SETS["camera"].features == FEATURES
    fake = noise_statistics(_flat_noisy(20.0, seed=9))
    shifted = fake.clone()
    shifted[:, camera_only] += 1.0
    for name, sees_it in (("compact", False), ("camera", True)):
        bank = StatisticsBank(size=256, statistics=STATISTICS_SETS[name])
        bank.add(real)
        gap = float(bank.distance(shifted)) - float(bank.distance(fake))
        assert (gap > 1.0) if sees_it else abs(gap) < 1e-6, (name, gap)
    assert StatisticsBank(statistics=STATISTICS_SETS["compact"]).directions.shape == (6 + 32, 6)


def test_train_matches_the_compact_set_and_adapt_the_camera_set() -> None:
    """The set is a field of each run's config (so a resumed run keeps its own), whose choices are the sets' names
    (the config module cannot import torch, so it lists them itself)."""
    from denoise_gan.config import NOISE_STATISTICS, AdaptConfig, ConfigError, TrainConfig
    from denoise_gan.nets.noise_stats import STATISTICS_SETS

    assert NOISE_STATISTICS == tuple(STATISTICS_SETS)
    assert TrainConfig().noise_statistics == "compact" and AdaptConfig().noise_statistics == "camera"
    with pytest.raises(ConfigError, match="^noise_statistics must be one of compact, camera"):
        TrainConfig(noise_statistics="full")


def test_luma_vs_colour_is_read_on_colour_crops_only() -> None:
    """Gray photos' noise, drawn gray, read as fully luma (1.0) and hid how a model treats colour."""
    from denoise_gan.nets.noise_stats import blind_ratios, noise_sigmas

    gen = torch.Generator().manual_seed(0)
    colour = [0.5 + 0.05 * torch.randn(3, 64, 64, generator=gen) for _ in range(3)]  # independent per channel
    gray = [(0.5 + 0.05 * torch.randn(1, 64, 64, generator=gen)).expand(3, 64, 64) for _ in range(5)]
    alone, _ = blind_ratios(noise_sigmas(colour), colour)
    mixed, _ = blind_ratios(noise_sigmas(colour + gray), colour + gray)
    assert alone is not None and alone < 0.8 and mixed == pytest.approx(alone)
    assert blind_ratios(noise_sigmas(gray), gray)[0] is None
    # crops of several windows each (128 px: 16 of 32 px), a gray one first: the ratio was read off the first
    # crops' windows by crop number, so one gray crop first made it 1.0
    colour = [0.5 + 0.05 * torch.randn(3, 128, 128, generator=gen) for _ in range(3)]
    gray = [(0.5 + 0.05 * torch.randn(1, 128, 128, generator=gen)).expand(3, 128, 128)]
    alone, _ = blind_ratios(noise_sigmas(colour), colour)
    first, _ = blind_ratios(noise_sigmas(gray + colour), gray + colour)
    assert alone is not None and alone < 0.8 and first == pytest.approx(alone)


def test_the_distance_does_not_depend_on_a_statistics_units() -> None:
    """Each statistic is standardised by the bank's spread: mean luma (0-1) and log σ (around -4) weigh alike,
    whatever their units; one column in other units (x100) leaves the distance as it was."""
    real = torch.cat([noise_statistics(_flat_noisy(20.0, seed=seed)) for seed in range(4)])
    fake = noise_statistics(_flat_noisy(14.0, seed=9))
    before, after = StatisticsBank(size=256), StatisticsBank(size=256)
    before.add(real)
    unit = torch.ones(len(FEATURES))
    unit[FEATURES.index("luma")] = 100.0
    after.add(real * unit)
    assert float(after.distance(fake * unit)) == pytest.approx(float(before.distance(fake)), rel=1e-4)


def test_the_bank_keeps_the_most_recent_real_statistics() -> None:
    """The target is the noisy domain as sampled lately (a resumed or adapted run's): the oldest rows go first."""
    bank = StatisticsBank(size=64)
    old, new = noise_statistics(_flat_noisy(5.0, seed=1)), noise_statistics(_flat_noisy(40.0, seed=2))
    for stats in (old, old, new, new):
        bank.add(stats)
    assert bank.rows is not None and torch.equal(bank.rows, torch.cat([new, new]))


def test_white_noise_reads_half_as_strong_one_scale_coarser() -> None:
    """The coarse / fine σ ratio the blind reports print: 0.5 for white noise, which halves at each scale."""
    from denoise_gan.nets.noise_stats import blind_ratios, noise_sigmas

    crops = list(_flat_noisy(20.0, n=6, seed=4))
    assert blind_ratios(noise_sigmas(crops), crops)[1] == pytest.approx(0.5, abs=0.06)


def test_luma_weighs_red_green_and_blue_as_rec_601_does() -> None:
    """Noise in one channel alone reads in luma at that channel's weight (0.299 red, 0.587 green)."""
    z = torch.randn(8, 1, 64, 64, generator=torch.Generator().manual_seed(5)) * 40.0 / 255.0
    luma = FEATURES.index("log_sigma_luma")
    for channel, weight in ((0, 0.299), (1, 0.587)):
        x = torch.full((8, 3, 64, 64), 0.5)
        x[:, channel:channel + 1] += z
        sigma = float(noise_statistics(x)[:, luma].exp().median()) * 255.0
        assert sigma == pytest.approx(40.0 * weight, rel=0.12), (channel, sigma)


class _ConstantD(torch.nn.Module):
    """A discriminator that calls everything `value` (1: real, 0: fake)."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full((x.shape[0], 1, 4, 4), self.value) + 0.0 * x.mean()


def test_fs_loss_fools_d_noisy_matches_the_real_banked_statistics_and_keeps_noisy_photos() -> None:
    """F's objective, term by term: the adversarial term is 0 when D_noisy calls F's draws real and 1 when it
    calls them fake; the bank fills with the real noisy patches' statistics (F's own would make the term compare
    F with itself); the level term reads each draw's quantile; identity is in the sum."""
    from denoise_gan.config import GeneratorConfig
    from denoise_gan.nets.registry import build_generator
    from denoise_gan.training.noise_objective import draw_noisy, noise_model_loss

    torch.manual_seed(0)
    f = build_generator(GeneratorConfig(arch="noise", width=4, depth=1, blocks=1))
    with torch.no_grad():  # a trained F, whose deterministic part changes a photo (a new one leaves it as it is)
        for weight in f.parameters():
            weight += 0.05 * torch.randn_like(weight)
    clean = 0.5 + 0.1 * torch.rand(8, 3, 64, 64)
    noisy = _flat_noisy(25.0, seed=3)
    fake, quantiles = draw_noisy(f, clean)
    assert quantiles is not None
    fresh = StatisticsBank(size=512)
    fake = fake.detach()

    def loss_of(d: torch.nn.Module, bank: StatisticsBank, lambda_stats: float) -> tuple[float, dict[str, float]]:
        loss, terms = noise_model_loss(f, d, bank, fake, noisy, lambda_stats, 5.0, quantiles)
        return float(loss.detach()), {name: float(term.detach()) for name, term in terms.items()}

    _, terms = loss_of(_ConstantD(1.0), fresh, 1.0)
    assert terms["f_adv"] == 0.0 and fresh.rows is not None
    assert torch.equal(fresh.rows, noise_statistics(noisy))
    bank = _spread_bank()
    loss, terms = loss_of(_ConstantD(0.0), bank, 2.0)
    assert terms["f_adv"] == pytest.approx(1.0)
    stats = noise_statistics(fake)
    assert terms["f_stats"] == pytest.approx(float(bank.distance(stats, quantiles)))
    assert terms["f_stats"] > float(bank.distance(stats)) + 1e-3  # the level term is in
    assert terms["idt_f"] > 0
    assert loss == pytest.approx(terms["f_adv"] + 2.0 * terms["f_stats"] + 5.0 * terms["idt_f"])


def test_the_level_term_is_in_units_of_the_real_levels_spread() -> None:
    """A folder whose levels span twice as wide (in log σ) counts the same miss, twice as wide, the same: the
    term weighs alike on a narrow and a wide noisy set."""
    def fake(levels: list[float]) -> torch.Tensor:
        rows = torch.zeros(len(levels) * 4, len(FEATURES))
        rows[:, :3] = torch.tensor(levels).repeat_interleave(4)[:, None]  # 4 windows an image
        return rows

    quantiles = torch.tensor([0.25, 0.75])
    distances = []
    for spread in (1.0, 2.0):
        bank = StatisticsBank()
        bank.levels = -4.0 + spread * torch.linspace(-1.0, 1.0, 64)
        target = torch.quantile(bank.levels, quantiles)
        distances.append(float(bank.level_distance(fake((target + 0.3 * spread).tolist()), quantiles)))
    assert distances[0] == pytest.approx(distances[1], rel=1e-4) and distances[0] > 0
