"""Noise models measure what their parameters promise; the spec grammar fails in one clear line."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from data_tools.errors import DataError
from data_tools.noise import MODELS, NoiseSpecError, image_seed, parse_noise_spec

SIZE = 256
# one example per model
MODELS_EXAMPLES = ["gaussian:sigma=10", "poisson:peak=20", "poisson-gaussian:peak=20,sigma=5", "speckle:sigma=0.2",
                   "salt-pepper:amount=0.2", "jpeg:quality=30", "correlated:sigma=10,scale=1.5",
                   "camera:peak=50"]


def grey(value: int = 128, channels: int = 1, dtype: type = np.uint8, size: int = SIZE) -> np.ndarray:
    return np.full((size, size, channels), value, dtype=dtype)


def textured(seed: int = 0, size: int = 128, channels: int = 3) -> np.ndarray:
    """A smooth random image with edges: JPEG has something to lose, values stay inside 0..255."""
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.uniform(30, 225, (size, size, channels)).astype(np.float32), (0, 0), 3)
    base = base.reshape(size, size, channels)
    base[size // 3: size // 2] += 40
    return np.clip(np.rint(base), 0, 255).astype(np.uint8)


def noise_of(spec: str, image: np.ndarray, seed: int = 0) -> np.ndarray:
    noisy, _ = parse_noise_spec(spec).apply(image, seed)
    return noisy.astype(np.float64) - image.astype(np.float64)


def neighbour_corr(noise: np.ndarray) -> float:
    n = noise[..., 0]
    return float(np.corrcoef(n[:, :-1].ravel(), n[:, 1:].ravel())[0, 1])


# ---- statistics of every model -------------------------------------------------------------------

def test_gaussian_sigma_25_on_mid_grey() -> None:
    noise = noise_of("gaussian:sigma=25", grey())
    # rounding adds 1/12 of a grey level's variance; the standard error of the std is ~0.04 here
    assert noise.std() == pytest.approx(np.sqrt(25**2 + 1 / 12), abs=0.25)
    assert abs(noise.mean()) < 0.25


def test_poisson_variance_is_mean_times_255_over_peak() -> None:
    mean, peak = 100, 30.0
    noise = noise_of(f"poisson:peak={peak}", grey(mean))
    assert noise.var() == pytest.approx(mean * 255 / peak, rel=0.04)
    assert abs(noise.mean()) < 0.5  # shot noise is unbiased


def test_poisson_is_weaker_at_higher_peak() -> None:
    assert noise_of("poisson:peak=1000", grey(100)).std() < noise_of("poisson:peak=10", grey(100)).std() / 5


def test_poisson_gaussian_variances_add() -> None:
    mean, peak, sigma = 100, 30.0, 10.0
    noise = noise_of(f"poisson-gaussian:peak={peak},sigma={sigma}", grey(mean))
    assert noise.var() == pytest.approx(mean * 255 / peak + sigma**2, rel=0.04)


def test_speckle_std_is_relative_to_intensity() -> None:
    for value in (64, 128):
        noise = noise_of("speckle:sigma=0.1", grey(value))
        assert noise.std() == pytest.approx(0.1 * value, rel=0.03)


def test_salt_pepper_fraction_and_salt_share() -> None:
    img = grey(128, channels=3)
    noisy, _ = parse_noise_spec("salt-pepper:amount=0.1,salt=0.3").apply(img, 0)
    changed = np.any(noisy != 128, axis=-1)
    assert changed.mean() == pytest.approx(0.1, abs=0.005)
    white = np.all(noisy == 255, axis=-1)
    black = np.all(noisy == 0, axis=-1)
    assert np.array_equal(changed, white | black)  # a hit pixel is fully white or fully black
    assert white.sum() / changed.sum() == pytest.approx(0.3, abs=0.03)


def test_jpeg_changes_the_image_deterministically_and_error_follows_quality() -> None:
    img = textured()
    errors = {}
    for quality in (10, 50, 95):
        a, _ = parse_noise_spec(f"jpeg:quality={quality}").apply(img, 1)
        b, _ = parse_noise_spec(f"jpeg:quality={quality}").apply(img, 2)
        assert np.array_equal(a, b), "JPEG has no randomness: the seed must not matter"
        errors[quality] = np.mean((a.astype(float) - img) ** 2)
    assert errors[95] > 0
    assert errors[10] > errors[50] > errors[95]


def test_jpeg_equals_an_opencv_round_trip() -> None:
    img = textured()
    noisy, _ = parse_noise_spec("jpeg:quality=70").apply(img, 0)
    ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 70])
    assert ok
    assert np.array_equal(noisy, cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)[..., ::-1])


def test_correlated_keeps_sigma_and_correlates_neighbours() -> None:
    corr_noise = noise_of("correlated:sigma=20,scale=2", grey())
    white_noise = noise_of("gaussian:sigma=20", grey())
    assert corr_noise.std() == pytest.approx(20, rel=0.05)
    assert neighbour_corr(corr_noise) > 0.6
    assert abs(neighbour_corr(white_noise)) < 0.03


@pytest.mark.parametrize(("side", "scale"), [(16, 5.0), (64, 20.0), (3, 2.0), (1, 1.0)])
def test_correlated_keeps_sigma_at_every_pixel_of_a_small_image(side: int, scale: float) -> None:
    # the blur's reflected border reuses samples: without a per-pixel correction a 16 px image at scale 5 had
    # σ 16 for 10, and its corners more than its middle
    image = grey(value=32768, dtype=np.uint16, size=side)  # 16 bits: rounding adds nothing measurable
    spec = f"correlated:sigma=10,scale={scale:g}"
    draws = np.stack([noise_of(spec, image, seed) / 257.0 for seed in range(1500)])
    per_pixel = np.sqrt(np.mean(draws**2, axis=0))
    assert per_pixel.mean() == pytest.approx(10.0, rel=0.05)
    assert per_pixel[0, 0, 0] == pytest.approx(10.0, rel=0.12)  # a corner, where the reflection counts most


def test_correlated_keeps_sigma_at_every_pixel_of_a_non_square_image() -> None:
    # rows and columns get their own border correction: swapped, a 12×96 image ranged σ 7–14 for 10
    image = np.full((12, 96, 1), 32768, dtype=np.uint16)
    draws = np.stack([noise_of("correlated:sigma=10,scale=4", image, seed) / 257.0 for seed in range(800)])
    per_pixel = np.sqrt(np.mean(draws**2, axis=0))
    assert np.all(np.abs(per_pixel - 10.0) < 1.2), (per_pixel.min(), per_pixel.max())


def test_correlated_blur_power_is_the_blurs_own() -> None:
    from data_tools.noise import _blur_power

    for side, scale in ((16, 5.0), (7, 20.0), (64, 1.0), (1, 3.0)):
        impulses = np.eye(side, dtype=np.float32)
        response = np.stack([cv2.GaussianBlur(np.ascontiguousarray(impulses[:, [s]]), (0, 0), sigmaX=scale,
                                              borderType=cv2.BORDER_REFLECT)[:, 0] for s in range(side)], axis=1)
        assert np.allclose(_blur_power(side, scale), np.sum(response.astype(np.float64) ** 2, axis=1), rtol=1e-5)


# ---- ranges, determinism, dtypes, channels --------------------------------------------------------

def test_a_range_is_drawn_uniformly_over_its_whole_span() -> None:
    spec = parse_noise_spec("gaussian:sigma=5-50")
    rng = np.random.default_rng(0)
    sigmas = np.array([spec.draw(rng)[1][0]["sigma"] for _ in range(2000)])
    assert sigmas.mean() == pytest.approx(27.5, abs=1.5)
    assert sigmas.min() < 7 and sigmas.max() > 48


def test_every_alternative_of_a_mixture_is_drawn_about_equally() -> None:
    spec = parse_noise_spec("gaussian:sigma=5 | poisson:peak=30 | speckle:sigma=0.1")
    rng = np.random.default_rng(0)
    models = [spec.draw(rng)[0][0].model for _ in range(600)]
    assert {m: models.count(m) for m in set(models)} == pytest.approx(
        {"gaussian": 200, "poisson": 200, "speckle": 200}, abs=40)


def test_shot_noise_after_gaussian_noise_takes_dark_pixels_below_zero() -> None:
    # the Gaussian stage pushes dark pixels negative; the shot noise after it must not ask for a negative rate
    dark = grey(value=5, channels=3, size=32)
    noisy, _ = parse_noise_spec("gaussian:sigma=20+poisson:peak=30").apply(dark, 0)
    assert noisy.shape == dark.shape and noisy.dtype == np.uint8


def test_range_is_drawn_per_image_within_bounds_and_recorded() -> None:
    spec = parse_noise_spec("gaussian:sigma=5-50")
    drawn = []
    for seed in range(20):
        noisy, stages = spec.apply(grey(size=64), seed)
        sigma = stages[0]["sigma"]
        assert stages[0]["model"] == "gaussian"
        assert 5 <= sigma <= 50
        measured = (noisy.astype(float) - 128).std()
        assert measured == pytest.approx(sigma, rel=0.1, abs=0.5)
        drawn.append(sigma)
    assert len(set(drawn)) == 20


def test_a_jpeg_quality_range_records_the_whole_number_the_encoder_used() -> None:
    image = textured()
    for seed in range(6):
        noisy, stages = parse_noise_spec("jpeg:quality=80-90").apply(image, seed)
        quality = stages[0]["quality"]
        assert isinstance(quality, int) and 80 <= quality <= 90
        again, _ = parse_noise_spec(f"jpeg:quality={quality}").apply(image, seed)  # the record makes the same file
        assert np.array_equal(noisy, again)


def test_a_jpeg_quality_range_draws_each_whole_number_equally_often() -> None:
    """Rounding a real draw would give the range's two ends half a share each."""
    spec, rng = parse_noise_spec("jpeg:quality=10-12"), np.random.default_rng(0)
    counts = Counter(spec.draw(rng)[1][0]["quality"] for _ in range(6000))
    assert sorted(counts) == [10, 11, 12]
    assert all(1800 < n < 2200 for n in counts.values()), counts  # 2000 each; the ends got ~1500 when rounded


def test_fixed_value_is_recorded_as_given() -> None:
    _, stages = parse_noise_spec("gaussian:sigma=15+jpeg:quality=80").apply(grey(size=32), 3)
    assert stages == [{"model": "gaussian", "sigma": 15.0}, {"model": "jpeg", "quality": 80.0}]


def test_same_seed_same_noise_different_seed_different() -> None:
    spec = parse_noise_spec("poisson-gaussian:peak=20,sigma=5-10+jpeg:quality=60-90")
    img = textured(size=64)
    a, pa = spec.apply(img, 7)
    b, pb = spec.apply(img, 7)
    c, pc = spec.apply(img, 8)
    assert np.array_equal(a, b) and pa == pb
    assert not np.array_equal(a, c) and pa != pc


def test_names_that_print_alike_get_their_own_seeds() -> None:
    """A name that is not UTF-8 (a raw 0xff byte) and one spelling its escape print the same text; their bytes
    differ, and so must their noise. A UTF-8 name keeps the seed it always had."""
    raw = os.fsdecode(b"a\xff")
    assert image_seed(1, raw) != image_seed(1, "a\\xff")
    assert image_seed(0, "astronaut") == int.from_bytes(hashlib.sha256(b"0:astronaut").digest()[:8], "little") >> 1
    assert image_seed(0, "\ud800") != image_seed(0, "\\ud800")  # not a file name's surrogate: still a seed


def test_image_seed_depends_on_run_seed_and_name_only() -> None:
    assert image_seed(0, "a") == image_seed(0, "a")
    assert len({image_seed(0, "a"), image_seed(1, "a"), image_seed(0, "b")}) == 3
    assert 0 <= image_seed(123, "x/y") < 2**63


def test_uint16_sigma_is_on_the_0_255_scale() -> None:
    img = grey(32768, dtype=np.uint16)
    noisy, _ = parse_noise_spec("gaussian:sigma=25").apply(img, 0)
    assert noisy.dtype == np.uint16
    assert (noisy.astype(float) - 32768).std() == pytest.approx(25 * 257, rel=0.01)


def test_shot_noise_and_16_bit_scaling_keep_the_image_s_level_and_sigma_to_a_tenth_of_a_percent() -> None:
    """Scale factors a level off (256 for 255, 65536 for 65535) shift every set's brightness or σ by 0.4 %, which
    the 1 % tolerances above let through: measured over 786k samples, whose standard errors are far smaller."""
    flat = np.full((512, 512, 3), 128, np.uint8)
    shot = parse_noise_spec("poisson:peak=30").apply(flat, 0)[0].astype(float)
    assert abs(shot.mean() - 128) < 0.15  # unbiased: a 0.4 % scale error is 0.5 here
    deep = np.full((512, 512, 3), 32768, np.uint16)
    noisy = parse_noise_spec("gaussian:sigma=10").apply(deep, 0)[0].astype(float)
    assert (noisy - 32768).std() == pytest.approx(10 * 257, rel=0.0015)


def test_a_jpeg_stage_after_another_sees_the_image_clipped_to_its_full_range() -> None:
    white = np.full((64, 64, 3), 255, np.uint8)
    assert (parse_noise_spec("salt-pepper:amount=0+jpeg:quality=100").apply(white, 0)[0] == 255).all()


def test_correlated_noise_s_default_scale_is_one_pixel() -> None:
    assert np.array_equal(noise_of("correlated:sigma=10", grey()), noise_of("correlated:sigma=10,scale=1", grey()))
    assert not np.array_equal(noise_of("correlated:sigma=10", grey()), noise_of("correlated:sigma=10,scale=2", grey()))


def test_uint16_is_clipped_and_rounded_not_wrapped() -> None:
    img = np.zeros((64, 64, 1), np.uint16)
    img[:, 32:] = 65535
    noisy, _ = parse_noise_spec("gaussian:sigma=50").apply(img, 0)
    assert noisy[:, :32].min() == 0 and noisy[:, 32:].max() == 65535
    assert noisy[:, :32].mean() < 65535 / 4 and noisy[:, 32:].mean() > 65535 * 3 / 4


@pytest.mark.parametrize("shape", [(32, 32), (32, 32, 1), (32, 32, 3)])
def test_gray_and_rgb_keep_shape_and_dtype(shape: tuple[int, ...]) -> None:
    img = np.full(shape, 100, np.uint8)
    for spec in MODELS_EXAMPLES:
        noisy, _ = parse_noise_spec(spec).apply(img, 0)
        assert noisy.shape == shape and noisy.dtype == np.uint8, spec
        assert not np.array_equal(noisy, img) or spec.startswith("jpeg"), spec


def test_examples_cover_every_model() -> None:
    assert {s.split(":")[0] for s in MODELS_EXAMPLES} == set(MODELS)


def test_the_readme_s_noise_table_has_one_row_per_model_with_its_parameters_and_defaults() -> None:
    """The users' list of models is the README's table, written by hand beside MODELS: a model added to MODELS
    alone worked in every command and was nowhere in the documentation, and a default changed in one only was
    documented wrong."""
    from data_tools.noise import _fmt

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Synthetic noise and the spec grammar"):]
    table = section[section.index("| model | parameters | meaning |"):].split("\n\n", 1)[0].splitlines()[2:]
    rows = {cells[1].strip().strip("`"): cells[2].strip() for cells in (row.split("|") for row in table)}
    expected = {m.name: ", ".join(f"`{p}`" + (f"={_fmt(m.defaults[p])}" if p in m.defaults else "")
                                  for p in m.params) for m in MODELS.values()}
    assert rows == expected


@pytest.mark.parametrize("spec", MODELS_EXAMPLES)
@pytest.mark.parametrize("channels", [2, 4])
def test_alpha_passes_through_untouched(spec: str, channels: int) -> None:
    img = textured(size=32, channels=channels)
    noisy, _ = parse_noise_spec(spec).apply(img, 0)
    assert noisy.shape == img.shape
    assert np.array_equal(noisy[..., -1], img[..., -1])


def test_gray_and_rgb_channels_get_independent_noise() -> None:
    noisy, _ = parse_noise_spec("gaussian:sigma=25").apply(grey(channels=3, size=64), 0)
    noise = noisy.astype(float) - 128
    assert abs(np.corrcoef(noise[..., 0].ravel(), noise[..., 1].ravel())[0, 1]) < 0.05


def test_non_integer_image_is_refused_with_the_projects_error() -> None:
    """A TypeError as before, and the project's error too: one `except DenoiseGanError` catches it, also in an
    albumentations pipeline that turned the image float first."""
    from data_tools.errors import DenoiseGanError
    from data_tools.noise_transform import SyntheticNoise

    with pytest.raises(TypeError):
        parse_noise_spec("gaussian:sigma=5").apply(np.zeros((8, 8, 3), np.float32), 0)
    with pytest.raises(DenoiseGanError, match="uint8 or uint16"):
        SyntheticNoise("gaussian:sigma=5")(image=np.zeros((8, 8, 3), np.float32))


# ---- composition ----------------------------------------------------------------------------------

def test_stages_apply_left_to_right() -> None:
    img = textured(size=64)
    seed = 11
    noisy, _ = parse_noise_spec("gaussian:sigma=15+jpeg:quality=80").apply(img, seed)
    # by hand: fixed values draw nothing, then the Gaussian, then clip, then JPEG, then round to uint8
    rng = np.random.default_rng(seed)
    x = img.astype(np.float32) + rng.standard_normal(img.shape, dtype=np.float32) * np.float32(15)
    u8 = np.clip(np.rint(np.clip(x, 0, 255)), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", u8[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    assert np.array_equal(noisy, cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)[..., ::-1])
    reverse, _ = parse_noise_spec("jpeg:quality=80+gaussian:sigma=15").apply(img, seed)
    assert not np.array_equal(noisy, reverse)


def test_spec_round_trips_through_str() -> None:
    text = "gaussian:sigma=5-50+jpeg:quality=60-95"
    assert str(parse_noise_spec(text)) == text
    assert str(parse_noise_spec(" Salt-Pepper:amount=0.1 ")) == "salt-pepper:amount=0.1,salt=0.5"


# ---- grammar errors -------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, fragment", [
    ("blur:sigma=3", "unknown noise model 'blur'"),
    ("", "empty noise spec"),
    ("gaussian", "gaussian needs sigma"),
    ("gaussian:sigma=5+", "an empty stage"),
    ("gaussian:level=5", "bad parameter"),
    ("gaussian:sigma", "sigma has no value in 'gaussian:sigma'; write sigma=VALUE"),
    ("gaussian:sigma=abc", "not a number"),
    ("gaussian:sigma=50-5", "low <= high"),
    ("gaussian:sigma=nan", "finite"),
    ("gaussian:sigma=300", "outside 0..255"),
    ("jpeg:quality=0", "outside 1..100"),
    ("speckle:sigma=-1", "outside 0..10"),
])
def test_bad_specs_raise_one_line_listing_valid_models(spec: str, fragment: str) -> None:
    with pytest.raises(NoiseSpecError) as info:
        parse_noise_spec(spec)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message
    assert all(name in message for name in MODELS), message


# ---- the albumentations transform the README advertises (must exist: a failure, never a skip) -----

def test_albumentations_transform_matches_the_spec() -> None:
    import albumentations as A

    from data_tools.noise_transform import SyntheticNoise as transform_cls

    for dtype, value, scale in ((np.uint8, 128, 1), (np.uint16, 32768, 257)):
        img = np.full((128, 128, 3), value, dtype)
        out1 = A.Compose([transform_cls("gaussian:sigma=25")], seed=5)(image=img)["image"]
        out2 = A.Compose([transform_cls("gaussian:sigma=25")], seed=5)(image=img)["image"]
        out3 = A.Compose([transform_cls("gaussian:sigma=25")], seed=6)(image=img)["image"]
        assert out1.dtype == dtype and out1.shape == img.shape
        assert np.array_equal(out1, out2)
        assert not np.array_equal(out1, out3)
        assert (out1.astype(float) - value).std() == pytest.approx(25 * scale, rel=0.03)


def test_albumentations_pipeline_saves_and_loads_the_same_noise(tmp_path: Path) -> None:
    import albumentations as A

    from data_tools.noise_transform import SyntheticNoise as transform_cls

    text = "gaussian:sigma=10+jpeg:quality=80-95 | poisson:peak=2.5e+1"
    pipeline = A.Compose([transform_cls(text, p=0.7)], seed=3)
    A.save(pipeline, str(tmp_path / "pipeline.json"))
    loaded = A.load(str(tmp_path / "pipeline.json"))
    loaded.set_random_seed(3)
    img = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    draws = [(pipeline(image=img)["image"], loaded(image=img)["image"]) for _ in range(20)]
    assert all(np.array_equal(a, b) for a, b in draws)
    assert any(not np.array_equal(a, img) for a, _ in draws)
    assert any(np.array_equal(a, img) for a, _ in draws)  # p = 0.7: some images pass as they came
    assert loaded.transforms[0].p == 0.7
    always = A.Compose([transform_cls("gaussian:sigma=10")], seed=3)
    assert len({always(image=img)["image"].tobytes() for _ in range(300)}) == 300  # a new draw every call
    assert transform_cls("gaussian:sigma=5", p=0.0)(image=img)["image"] is img


def test_two_noises_in_one_seeded_pipeline_draw_independent_fields() -> None:
    """A seeded Compose gives every transform the same seed: two SyntheticNoise drew one field twice (σ 25 and σ 20
    stacked to σ 45, not 32)."""
    import albumentations as A

    from data_tools.noise_transform import SyntheticNoise as transform_cls

    flat = np.full((128, 128), 128, np.uint8)
    pipeline = A.Compose([transform_cls("gaussian:sigma=25"), transform_cls("gaussian:sigma=20")], seed=5)
    seeds = [t.get_params()["noise_seed"] for t in pipeline.transforms]
    assert seeds[0] != seeds[1]
    std = (pipeline(image=flat)["image"].astype(np.float64) - 128).std()
    assert abs(std - np.hypot(25, 20)) < 1.5, std
    again = A.Compose([transform_cls("gaussian:sigma=25"), transform_cls("gaussian:sigma=20")], seed=5)
    assert np.array_equal(again(image=flat)["image"], A.Compose(pipeline.transforms, seed=5)(image=flat)["image"])


class _NoisyFlat:
    """A map-style dataset of one flat image through a seeded SyntheticNoise pipeline."""

    def __init__(self) -> None:
        import albumentations as A

        from data_tools.noise_transform import SyntheticNoise as transform_cls

        self.pipeline = A.Compose([transform_cls("gaussian:sigma=25")], seed=5)

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> np.ndarray:
        return self.pipeline(image=np.full((16, 16), 128, np.uint8))["image"]


def test_data_loader_workers_draw_their_own_noise_and_a_torch_seed_repeats_it() -> None:
    """Each worker holds a copy of the transform's generator: two workers gave byte-identical noise."""
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    def batches() -> list[bytes]:
        torch.manual_seed(0)
        return [b.numpy().tobytes() for b in DataLoader(_NoisyFlat(), batch_size=1, num_workers=2)]

    first = batches()
    assert len(set(first)) == 4, "workers drew the same noise"
    assert batches() == first


class _HalfNoisyFlat(_NoisyFlat):
    """Sixteen flat images, each noised with probability 0.5 (a seeded pipeline: the test's outcome is fixed)."""

    def __init__(self) -> None:
        import albumentations as A

        from data_tools.noise_transform import SyntheticNoise as transform_cls

        self.pipeline = A.Compose([transform_cls("gaussian:sigma=25", p=0.5)], seed=5)

    def __len__(self) -> int:
        return 16


def test_which_images_are_noised_is_drawn_apart_in_each_worker_and_epoch() -> None:
    """albumentations draws p from a generator every worker copies, restarted each epoch: the same images were
    left clean in every epoch, the same in each worker."""
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    torch.manual_seed(0)
    loader = DataLoader(_HalfNoisyFlat(), batch_size=4, num_workers=2)
    epochs = ["".join("1" if (image != 128).any() else "0" for batch in loader for image in batch) for _ in range(3)]
    assert len(set(epochs)) == 3, epochs
    assert all(e[0:4] != e[4:8] or e[8:12] != e[12:16] for e in epochs), epochs  # worker 0's batches, worker 1's


def test_a_seeded_pipeline_draws_each_transforms_p_apart_and_noises_each_image_of_a_batch_apart() -> None:
    """Every transform of a seeded Compose got the same seed, so two SyntheticNoise(p=0.5) (and a flip) fired
    together or not at all; and images=, volume= gave each image of the call the very same field."""
    import albumentations as A

    from data_tools.noise_transform import SyntheticNoise as transform_cls

    flat = np.full((32, 32), 128, np.uint8)
    pipeline = A.Compose([transform_cls("gaussian:sigma=25", p=0.5), transform_cls("speckle:sigma=0.3", p=0.5)],
                         seed=0)
    fired = {tuple(bool(t.params) for t in pipeline.transforms) for _ in range(64) if pipeline(image=flat)}
    assert fired == {(False, False), (False, True), (True, False), (True, True)}
    one = A.Compose([transform_cls("gaussian:sigma=25")], seed=1)
    for target in ("images", "volume"):
        batch = one(**{target: np.stack([flat, flat, flat])})[target]
        assert batch.shape == (3, 32, 32) and len({image.tobytes() for image in batch}) == 3, target
    assert np.array_equal(A.Compose([transform_cls("gaussian:sigma=25")], seed=2)(image=flat)["image"],
                          A.Compose([transform_cls("gaussian:sigma=25")], seed=2)(images=flat[None])["images"][0])
    volumes = one(volumes=np.stack([np.stack([flat, flat])] * 2))["volumes"]
    assert len({image.tobytes() for volume in volumes for image in volume}) == 4


def test_an_albumentations_pipeline_saved_by_an_earlier_version_loads(tmp_path: Path) -> None:
    """Pipelines were saved when the transform lived beside the datasets, under that module's name."""
    import json

    import albumentations as A

    from data_tools.noise_transform import SyntheticNoise as transform_cls

    pipeline = A.Compose([transform_cls("gaussian:sigma=10")], seed=3)
    A.save(pipeline, str(tmp_path / "pipeline.json"))
    saved = json.loads((tmp_path / "pipeline.json").read_text())
    assert saved["transform"]["transforms"][0]["__class_fullname__"] == "data_tools.datasets.SyntheticNoise"
    loaded = A.load(str(tmp_path / "pipeline.json"))
    assert isinstance(loaded.transforms[0], transform_cls) and str(loaded.transforms[0].spec) == "gaussian:sigma=10"


def test_the_transforms_old_home_still_names_it_and_registers_it_for_a_load(tmp_path: Path) -> None:
    """A saved pipeline names `data_tools.datasets.SyntheticNoise`; importing that module (a fresh process, as an
    old script does) left A.load with a KeyError, and the name itself was an ImportError."""
    import subprocess
    import sys

    import albumentations as A

    from data_tools.noise_transform import SyntheticNoise as transform_cls
    from helpers import CHILD_ENV

    A.save(A.Compose([transform_cls("gaussian:sigma=10")], seed=3), str(tmp_path / "pipeline.json"))
    script = ("import sys, albumentations as A\nfrom data_tools.datasets import SyntheticNoise\n"
              "print(type(A.load(sys.argv[1]).transforms[0]) is SyntheticNoise)")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "pipeline.json")], env=CHILD_ENV,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr


def test_a_channels_first_image_is_refused_with_the_turn_that_fixes_it() -> None:
    """NoiseModel said it; a spec's apply and SyntheticNoise refused the same array without the hint."""
    chw = np.zeros((3, 40, 40), np.uint8)
    with pytest.raises(DataError, match=r"got shape \(3, 40, 40\); it looks CxHxW: pass \.transpose\(1, 2, 0\)"):
        parse_noise_spec("gaussian:sigma=5").apply(chw, 0)
    with pytest.raises(DataError, match=r"got float32; add it before the image becomes float \(A.ToFloat"):
        parse_noise_spec("gaussian:sigma=5").apply(np.zeros((8, 8, 3), np.float32), 0)


def test_a_model_declares_its_whole_number_parameters_and_its_need_for_a_valid_input(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A model says which parameters are whole numbers and whether it sees only a valid image: where the chain
    spelt them by name ("quality", "jpeg"), a second encoder calling its setting otherwise got real-valued draws,
    took 2.5, and was handed values outside 0-255."""
    from data_tools import noise

    seen: list[tuple[float, float]] = []

    def encoder(img: np.ndarray, rng: np.random.Generator, level: float) -> np.ndarray:
        seen.append((float(img.min()), float(img.max())))
        assert isinstance(level, int)
        return img

    model = noise.SpecModel("codec", ("level",), {}, {"level": (1, 9)}, encoder, whole=("level",),
                            clipped_input=True)
    monkeypatch.setitem(noise.MODELS, "codec", model)
    with pytest.raises(NoiseSpecError, match="whole number"):
        parse_noise_spec("codec:level=2.5")
    _, drawn = parse_noise_spec("gaussian:sigma=200+codec:level=1-9").apply(grey(), 0)
    assert isinstance(drawn[1]["level"], int) and 0 <= seen[0][0] and seen[0][1] <= 255
