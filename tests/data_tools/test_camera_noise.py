"""The `camera` noise model: what a sensor and its processing do, and what the blind σ estimator misses."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.restoration import estimate_sigma

from data_tools.noise import parse_noise_spec
from data_tools.noise_levels import noise_level_map
from data_tools.samples import load_sample


def _residual(spec: str, image: np.ndarray, seed: int = 3) -> np.ndarray:
    return parse_noise_spec(spec).apply(image, seed)[0].astype(np.float64) - image


def test_spec_reads_defaults_and_round_trips() -> None:
    spec = parse_noise_spec("camera:peak=100")
    assert str(spec) == "camera:peak=100,read=2"
    assert str(parse_noise_spec("camera:peak=50-400,read=1.5+jpeg:quality=85")) == \
        "camera:peak=50-400,read=1.5+jpeg:quality=85"


def test_seeded_typed_and_any_shape() -> None:
    photo = load_sample("chelsea")[:31, :17]  # odd sizes: the mosaic is taken on a reflected even copy
    a, stages = parse_noise_spec("camera:peak=80").apply(photo, 5)
    assert a.shape == photo.shape and a.dtype == np.uint8 and stages == [{"model": "camera", "peak": 80, "read": 2}]
    assert np.array_equal(a, parse_noise_spec("camera:peak=80").apply(photo, 5)[0])
    assert not np.array_equal(a, parse_noise_spec("camera:peak=80").apply(photo, 6)[0])
    gray = load_sample("camera")[:40, :40]  # a monochrome sensor
    assert parse_noise_spec("camera:peak=80").apply(gray, 1)[0].shape == gray.shape
    deep = (photo.astype(np.uint16) * 257)
    out16 = parse_noise_spec("camera:peak=80").apply(deep, 1)[0]
    assert out16.dtype == np.uint16 and out16.shape == deep.shape


def test_the_photo_keeps_its_detail_without_noise() -> None:
    """Demosaicing acts on the noise only: with (almost) no photons missing, the photo comes back."""
    photo = load_sample("chelsea")
    residual = _residual("camera:peak=1000000,read=0", photo)
    assert 10 * np.log10(255**2 / np.mean(residual**2)) > 55


@pytest.mark.parametrize("shape", [(2, 100), (1, 50), (100, 2), (1, 1), (3, 3)])
def test_thin_colour_images_keep_their_colour(shape: tuple[int, int]) -> None:
    """OpenCV's demosaicing returns zeros for a side under 3: a thin photo must not come back black."""
    thin = np.full((*shape, 3), 128, np.uint8)
    noisy = parse_noise_spec("camera:peak=100000,read=0").apply(thin, 0)[0]
    assert np.abs(noisy.astype(int) - 128).max() <= 3


def test_noise_is_correlated_in_space_and_across_channels() -> None:
    flat = np.full((128, 128, 3), 128, np.uint8)
    camera = _residual("camera:peak=100", flat)
    white = _residual("poisson-gaussian:peak=100,sigma=2", flat)

    def neighbours(r: np.ndarray) -> float:
        return float(np.corrcoef(r[:, :-1, 1].ravel(), r[:, 1:, 1].ravel())[0, 1])

    def channels(r: np.ndarray) -> float:
        return float(np.corrcoef(r[..., 0].ravel(), r[..., 1].ravel())[0, 1])

    assert neighbours(camera) > 0.25 and abs(neighbours(white)) < 0.05  # 0.40 vs 0.00 measured
    assert abs(channels(camera)) > 0.25 and abs(channels(white)) < 0.05  # -0.43 (the colour matrix) vs 0.00


def test_noise_grows_with_iso_and_with_light_in_linear_terms() -> None:
    flat = np.full((96, 96, 3), 128, np.uint8)
    assert _residual("camera:peak=30", flat).std() > 1.5 * _residual("camera:peak=300", flat).std()
    # read noise alone (peak high, read large) is what a dark frame shows
    assert _residual("camera:peak=1000,read=20", flat).std() > _residual("camera:peak=1000,read=0", flat).std()


def test_level_map_approximates_the_measured_sigma() -> None:
    """Per photosite before demosaicing: an upper estimate, within a factor of two of what a flat patch shows,
    deep shadows too (the curve's slope there put it at 279 where the noise's RMS is 41)."""
    flats = [np.full((128, 128, 3), value, np.uint8) for value in (5, 40, 128, 220)]
    # coloured flats: each photosite's colour is sampled where its own channel says (swapped, blue read red's σ)
    flats += [np.zeros((128, 128, 3), np.uint8) + np.array(c, np.uint8) for c in ((220, 40, 40), (40, 40, 220))]
    for flat in flats:
        value = flat[0, 0]
        noisy, stages = parse_noise_spec("camera:peak=150,read=3").apply(flat, 2)
        measured = np.sqrt(((noisy.astype(np.float64) - value) ** 2).mean(axis=(0, 1)))
        predicted = noise_level_map(flat, stages).mean(axis=(0, 1))
        assert np.all(measured <= 1.05 * predicted) and np.all(measured >= 0.5 * predicted), (value, measured,
                                                                                              predicted)


@pytest.mark.parametrize("peak", [150, 600])
def test_the_blind_estimator_reads_camera_noise_far_too_low(peak: int) -> None:
    """Why classical denoisers fed an estimated σ barely denoise camera noise: the wavelet estimator sees the
    finest scale, where demosaiced noise is weak."""
    photo = load_sample("chelsea")
    noisy = parse_noise_spec(f"camera:peak={peak}").apply(photo, 1)[0]
    true = (noisy.astype(np.float64) - photo).std()
    blind = estimate_sigma(noisy, channel_axis=-1, average_sigmas=True)
    assert blind < 0.5 * true, (blind, true)  # about 0.3 measured


def test_a_monochrome_sensors_level_map_is_its_noises_rms_at_every_brightness() -> None:
    """No mosaic, nothing interpolated: with read noise the map is the error's RMS itself, shadows and highlights
    included (the ADC's clip and the sRGB curve's bend followed across the noise's spread), and an H x W gray
    image three pixels wide is gray, not three colour channels."""
    for peak, value in ((40, 3), (40, 60), (40, 250), (300, 20), (300, 128)):
        gray = np.full((300, 300), value, np.uint8)
        noisy, stages = parse_noise_spec(f"camera:peak={peak},read=2").apply(gray, 7)
        rms = float(np.sqrt(((noisy.astype(np.float64) - value) ** 2).mean()))
        assert float(noise_level_map(gray, stages).mean()) == pytest.approx(rms, rel=0.07), (peak, value)
    narrow = np.full((4000, 3), 128, np.uint8)
    noisy, stages = parse_noise_spec("camera:peak=40").apply(narrow, 1)
    assert float(noise_level_map(narrow, stages).mean()) == pytest.approx((noisy - 128.0).std(), rel=0.07)


def test_the_level_map_carries_each_photosites_variance_through_the_colour_matrix_by_row() -> None:
    """Output channel c is sum_j CCM[c, j] * camera channel j, so its variance is sum_j CCM[c, j]^2 var_j; on a
    grey flat every camera channel has the same rate, so the channels' variances go as the matrix rows' sums of
    squares (the columns' would put green 14 % high and red and blue 6-7 % low)."""
    from data_tools.camera import CAMERA_CCM

    flat = np.full((8, 8, 3), 128, np.uint8)
    variance = noise_level_map(flat, parse_noise_spec("camera:peak=20000,read=0").apply(flat, 0)[1])[0, 0] ** 2
    rows = (CAMERA_CCM.astype(np.float64) ** 2).sum(axis=1)
    np.testing.assert_allclose(variance / variance[0], rows / rows[0], rtol=0.01)


def test_each_photosite_counts_the_light_of_its_own_colour() -> None:
    """RGGB: both green sites of a 2x2 cell take green's rate, red and blue theirs (on a coloured patch a green
    site taking blue's rate gives half the greens the wrong shot noise, which a gray test cannot see)."""
    from data_tools.camera import CAMERA_CCM_INV, _srgb_to_linear, camera_noise

    class Spy:
        def __init__(self) -> None:
            self.rng, self.rate = np.random.default_rng(0), None

        def poisson(self, rate: np.ndarray) -> np.ndarray:
            self.rate = rate
            return self.rng.poisson(rate)

        def standard_normal(self, *args: object, **kwargs: object) -> np.ndarray:
            return self.rng.standard_normal(*args, **kwargs)

    colour = np.array([200, 120, 40], np.uint8)
    spy = Spy()
    camera_noise(np.zeros((6, 6, 3), np.uint8) + colour, spy, peak=100.0, read=1.0)
    expected = np.clip(_srgb_to_linear(colour / np.float32(255.0)) @ CAMERA_CCM_INV.T, 0, 1) * 100.0
    rate = spy.rate
    assert rate is not None
    for sites, channel in (((0, 0), 0), ((0, 1), 1), ((1, 0), 1), ((1, 1), 2)):
        np.testing.assert_allclose(rate[sites[0]::2, sites[1]::2], expected[channel], rtol=1e-5)


def test_no_photosite_reads_above_full_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ADC clips: at full white and a few photo-electrons, a photosite's noise is never positive (unclipped,
    it wrapped around the demosaicing's 16-bit offset into dark specks)."""
    import data_tools.camera as camera

    seen: list[int] = []
    real = camera.cv2.cvtColor

    def spy(src: np.ndarray, code: int) -> np.ndarray:
        seen.append(int(src.max()))
        return real(src, code)

    monkeypatch.setattr(camera.cv2, "cvtColor", spy)
    parse_noise_spec("camera:peak=1,read=0").apply(np.full((64, 64, 3), 255, np.uint8), 0)
    assert seen and max(seen) <= 32768
