"""Fully transparent pixels: the network sees the visible colours extended smoothly plus the visible noise, so a
cut-out on a transparent canvas is denoised as the photo alone is; their own colour comes back as the file had it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from data_tools.samples import load_sample
from denoise_gan import Denoiser
from denoise_gan.evaluation.metrics import psnr
from denoise_gan.inference.transparent_fill import fill_behind_transparency, smooth_fill, visible_noise_sigma


def noisy_crop(sigma: float = 25.0) -> tuple[np.ndarray, np.ndarray]:
    clean = load_sample("astronaut")[150:250, 150:250]
    noise = np.random.default_rng(0).normal(0.0, sigma, clean.shape)
    return clean, np.clip(clean + noise, 0, 255).round().astype(np.uint8)


def on_canvas(colour: np.ndarray, margin: int, hidden: int = 0) -> np.ndarray:
    """``colour`` opaque in the middle of a transparent canvas whose invisible colour is ``hidden``."""
    h, w = colour.shape[:2]
    canvas = np.full((h + 2 * margin, w + 2 * margin, colour.shape[2] + 1), hidden, np.uint8)
    canvas[..., -1] = 0
    canvas[margin:margin + h, margin:margin + w, :-1] = colour
    canvas[margin:margin + h, margin:margin + w, -1] = 255
    return canvas


@pytest.mark.parametrize(("margin", "hidden"), [(50, 0), (10, 255)])
def test_a_cut_out_on_a_transparent_canvas_is_denoised_as_the_photo_alone(margin: int, hidden: int) -> None:
    """Before, the flat canvas read as "no noise here": 30.2 dB alone, 22.0 dB on a canvas twice its side."""
    clean, noisy = noisy_crop()
    den = Denoiser.from_pretrained("default")
    alone = psnr(clean, den(noisy))
    out = den(on_canvas(noisy, margin, hidden))
    assert psnr(clean, out[margin:-margin, margin:-margin, :3]) > alone - 0.3


def test_the_hidden_colour_and_the_alpha_come_back_as_the_file_had_them() -> None:
    _, noisy = noisy_crop()
    canvas = on_canvas(noisy, 20)
    rng = np.random.default_rng(1)
    hidden = canvas[..., 3] == 0
    canvas[hidden, :3] = rng.integers(0, 256, (int(hidden.sum()), 3), dtype=np.uint8)
    out = Denoiser.from_pretrained("default")(canvas)
    np.testing.assert_array_equal(out[hidden], canvas[hidden])
    np.testing.assert_array_equal(out[..., 3], canvas[..., 3])
    assert not np.array_equal(out[~hidden], canvas[~hidden])  # the visible photo is denoised


def test_the_fill_extends_the_visible_colours_plus_the_visible_noise() -> None:
    _, noisy = noisy_crop(sigma=10.0)
    canvas = on_canvas(noisy, 30)
    filled, hidden = fill_behind_transparency(canvas)
    assert hidden is not None and hidden.mask.sum() == (canvas[..., 3] == 0).sum()
    smooth = smooth_fill(canvas[..., :3], ~hidden.mask)
    noise = filled[hidden.mask, :3] - smooth
    assert 8 < noise.std(axis=0).mean() < 12  # the visible σ 10
    beside = np.zeros(canvas.shape[:2] + (3,), np.float32)
    beside[hidden.mask] = smooth
    assert abs(beside[40:120, 29].mean(axis=0) - canvas[40:120, 30, :3].mean(axis=0)).max() < 4  # the edge's colour
    np.testing.assert_array_equal(filled[..., 3], canvas[..., 3])
    np.testing.assert_array_equal(filled, fill_behind_transparency(canvas)[0])  # the same file, the same input


def test_the_fill_draws_no_rays_from_single_edge_pixels() -> None:
    """A nearest-pixel fill repeated each edge pixel along its row: 0, 200, 0, 200 down the canvas."""
    line = np.zeros((64, 64, 4), np.uint8)
    line[::2, 32, :3] = 200
    line[:, 32, 3] = 255
    filled, _ = fill_behind_transparency(line)
    assert np.abs(np.diff(filled[:, :30, :3].astype(int), axis=0)).max() <= 2


def clean_graphic() -> np.ndarray:
    """Flat-coloured shapes and text, anti-aliased, on a transparent canvas; the edge pixels' colour divided back
    out of a premultiplied rendering and rounded, as editors store it (the faint ones a few levels off)."""
    premultiplied = np.zeros((120, 320, 3), np.uint8)
    alpha = np.zeros((120, 320), np.uint8)
    for colour, draw in (((20, 85, 124), lambda im: cv2.circle(im, (60, 60), 45, 255, -1, cv2.LINE_AA)),
                         ((230, 140, 30), lambda im: cv2.putText(im, "logo", (120, 85), cv2.FONT_HERSHEY_SIMPLEX,
                                                                 2.5, 255, 7, cv2.LINE_AA))):
        cover = np.zeros_like(alpha)
        draw(cover)
        a = cover[..., None] / 255.0
        premultiplied = np.rint(premultiplied * (1 - a) + np.array(colour) * a).astype(np.uint8)
        alpha = np.maximum(alpha, cover)
    straight = np.rint(premultiplied * 255.0 / np.maximum(alpha, 1)[..., None])
    return np.dstack([np.clip(straight, 0, 255).astype(np.uint8), alpha])


def test_a_clean_graphic_with_anti_aliased_edges_comes_back_unchanged() -> None:
    """The rays a nearest-pixel fill drew from its edge read as noise: visible pixels came back 25 levels off."""
    graphic = clean_graphic()
    out = Denoiser.from_pretrained("default")(graphic)
    visible = graphic[..., 3] > 0
    assert np.abs(out[visible].astype(int) - graphic[visible]).max() <= 1


def test_a_gray_photo_stored_as_colour_gets_a_neutral_fill() -> None:
    _, noisy = noisy_crop()
    gray = np.repeat(noisy[..., :1], 3, axis=2)
    filled, _ = fill_behind_transparency(on_canvas(gray, 10))
    assert (filled[..., 0] == filled[..., 1]).all() and (filled[..., 1] == filled[..., 2]).all()


def test_images_with_nothing_to_fill_pass_as_they_are() -> None:
    _, noisy = noisy_crop()
    opaque = np.dstack([noisy, np.full(noisy.shape[:2], 9, np.uint8)])
    for image in (noisy, opaque, noisy[..., 0]):
        filled, hidden = fill_behind_transparency(image)
        assert filled is image and hidden is None


def test_a_wholly_transparent_image_comes_back_as_the_file_had_it() -> None:
    """Nothing visible to fill from: its colour went through the network and came back changed."""
    _, noisy = noisy_crop()
    empty = np.dstack([noisy, np.zeros(noisy.shape[:2], np.uint8)])
    np.testing.assert_array_equal(Denoiser.from_pretrained("default")(empty), empty)


def test_the_visible_noise_level_is_read_from_visible_pixels_only() -> None:
    flat = np.full((80, 80, 1), 30000, np.uint16)
    noisy = (flat + np.random.default_rng(3).normal(0.0, 500.0, flat.shape)).astype(np.uint16)
    visible = np.zeros((80, 80), bool)
    visible[:, :40] = True
    noisy[:, 40:] = 30000  # flat, and hidden: it must not lower the reading
    assert visible_noise_sigma(noisy, visible)[0] == pytest.approx(500.0, rel=0.1)
    assert visible_noise_sigma(noisy, np.eye(80, dtype=bool))[0] == 0.0  # no pixel with a visible neighbourhood


def test_samples_clipped_at_black_do_not_lower_the_noise_reading() -> None:
    """A dark photo's σ 25 read as 19 (the fill then showed the network too little noise); a wholly dark patch,
    where the unclipped neighbourhoods are those whose draws stayed in range, reads no lower than before."""
    clean, noisy = noisy_crop(sigma=25.0)
    assert (clean < 25).mean() > 0.5 and visible_noise_sigma(noisy, np.ones(clean.shape[:2], bool)).min() > 22
    dark = np.clip(np.random.default_rng(3).normal(20.0, 25.0, (80, 80, 1)), 0, 255).round().astype(np.uint8)
    assert visible_noise_sigma(dark, np.ones((80, 80), bool))[0] > 19


def test_opencvs_out_of_memory_is_read_as_out_of_memory() -> None:
    """The fill's first big allocation is OpenCV's, whose words matched none of the runtimes' we read."""
    import cv2

    from denoise_gan.errors import is_out_of_memory

    said = "OpenCV(4.10.0) alloc.cpp:73: error: (-4:Insufficient memory) Failed to allocate 96000000 bytes"
    assert is_out_of_memory(cv2.error(said))


def black_text_on_white(blur: float = 0.5) -> np.ndarray:
    """Small black text on white, anti-aliased, opaque in the middle of a transparent canvas: each channel's flat
    pixels sit at 0 or 255, so the only neighbourhoods wholly inside the range are the text's edges."""
    page = np.full((128, 128), 255, np.uint8)
    for row in range(10):
        cv2.putText(page, "Ab3xy", (4, 14 + 12 * row), cv2.FONT_HERSHEY_SIMPLEX, 0.4, 0, 1, cv2.LINE_AA)
    page = cv2.GaussianBlur(page, (0, 0), blur)
    return on_canvas(np.repeat(page[..., None], 3, axis=2), 64)


def test_a_clean_black_on_white_graphic_reads_no_noise_and_comes_back_unchanged() -> None:
    """Its neighbourhoods left unclipped were its edges alone, read as noise of σ 21: the fill showed the network
    that noise, and the clean text came back 27 levels off (it comes back unchanged without the canvas)."""
    graphic = black_text_on_white()
    visible = graphic[..., 3] > 0
    assert visible_noise_sigma(graphic[..., :3], visible).max() < 1
    out = Denoiser.from_pretrained("default")(graphic)
    assert np.abs(out[visible].astype(int) - graphic[visible]).max() <= 1
