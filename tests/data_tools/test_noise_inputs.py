"""Both noise sources (a spec and a learned model) refuse the same bad images and seeds in one line, and take a
16-bit image in either byte order."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from data_tools.errors import DataError, DenoiseGanError, ImageTypeError
from data_tools.noise import parse_noise_spec
from denoise_gan import NoiseModel

SPECS = ["gaussian:sigma=5", "jpeg:quality=50", "correlated:sigma=5", "camera:peak=50", "salt-pepper:amount=0.1"]
GOOD = np.full((16, 16, 3), 100, np.uint8)


@pytest.fixture(scope="module")
def learned() -> NoiseModel:
    return NoiseModel.from_pretrained("default-F")


@pytest.mark.parametrize(("image", "needle"), [
    (np.zeros((0, 0, 3), np.uint8), "with pixels, got shape (0, 0, 3)"),
    (np.zeros((8, 8, 5), np.uint8), "(C 1-4), got shape (8, 8, 5)"),
    (np.zeros((10,), np.uint8), "got shape (10,)"),
    (np.zeros((2, 8, 8, 3), np.uint8), "got shape (2, 8, 8, 3)"),
])
def test_an_image_of_the_wrong_shape_is_one_line_for_every_source(image: np.ndarray, needle: str,
                                                                 learned: NoiseModel) -> None:
    for source in [*map(parse_noise_spec, SPECS), learned]:  # the project's root: a spec's DataError, F's UserError
        with pytest.raises(DenoiseGanError, match="noise needs") as caught:
            source.apply(image, 0)
        assert needle in str(caught.value), source


@pytest.mark.parametrize("seed", [-1, 1.5, None, True, "1", 2**64])
def test_a_seed_that_is_not_a_whole_number_is_refused_not_replaced_by_fresh_entropy(seed: Any) -> None:
    with pytest.raises(DataError, match="seed must be a whole number"):
        parse_noise_spec("gaussian:sigma=5").apply(GOOD, seed)


def test_a_numpy_integer_seed_is_a_seed() -> None:
    spec = parse_noise_spec("gaussian:sigma=5")
    assert np.array_equal(spec.apply(GOOD, np.uint64(2**64 - 1))[0], spec.apply(GOOD, 2**64 - 1)[0])


def test_a_list_is_not_an_image() -> None:
    with pytest.raises(ImageTypeError, match="image array, got list"):
        parse_noise_spec("gaussian:sigma=5").apply([[1, 2]], 0)


@pytest.mark.parametrize("spec", SPECS)
def test_a_big_endian_16_bit_image_draws_the_native_images_noise(spec: str) -> None:
    native = (np.arange(32 * 32 * 3).reshape(32, 32, 3) * 61 % 65536).astype(np.uint16)
    big = native.astype(">u2")
    noisy, drawn = parse_noise_spec(spec).apply(big, 3)
    assert noisy.dtype == big.dtype
    assert np.array_equal(noisy.astype(np.uint16), parse_noise_spec(spec).apply(native, 3)[0])
    assert drawn == parse_noise_spec(spec).apply(native, 3)[1]


def test_the_learned_model_takes_a_big_endian_16_bit_image_too(learned: NoiseModel) -> None:
    native = (np.arange(32 * 32 * 3).reshape(32, 32, 3) * 61 % 65536).astype(np.uint16)
    noisy = learned.apply(native.astype(">u2"), 2)[0]
    assert noisy.dtype == np.dtype(">u2")
    assert np.array_equal(noisy.astype(np.uint16), learned.apply(native, 2)[0])


def test_an_image_too_wide_for_the_jpeg_stage_is_a_data_error() -> None:
    """It was a bare ValueError, outside the one class a caller catches."""
    with pytest.raises(DataError, match="too large for the jpeg noise stage"):
        parse_noise_spec("jpeg:quality=80").apply(np.zeros((2, 65501, 3), np.uint8), 0)


def test_the_sample_helpers_refuse_an_unknown_name_as_data_and_take_one_name_as_a_string(tmp_path) -> None:
    """An unknown name was a KeyError; a single name as a str was read letter by letter ("unknown sample 'a'")."""
    from data_tools.samples import load_sample, write_samples

    with pytest.raises(DataError, match="^unknown sample 'nope'; available: "):
        load_sample("nope")
    assert [p.name for p in write_samples(tmp_path, "astronaut")] == ["astronaut.png"]
