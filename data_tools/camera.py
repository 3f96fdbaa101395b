"""The `camera` noise model: what a small sensor and its pipeline do to a photo's noise (sRGB to linear light,
camera RGB, an RGGB mosaic with shot and read noise per photosite, bilinear demosaicing, the colour matrix, sRGB),
and the per-pixel variance it adds, for level maps."""

from __future__ import annotations

import functools

import cv2
import numpy as np


def _srgb_to_linear(v: np.ndarray) -> np.ndarray:
    """The sRGB transfer curve inverted: values in [0, 1] to linear light in [0, 1]."""
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _linear_to_srgb(v: np.ndarray) -> np.ndarray:
    v = np.clip(v, 0.0, 1.0)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055).astype(np.float32)


# A typical small-sensor colour-correction matrix (camera RGB -> linear sRGB; each row sums to 1, so gray stays
# gray). Its negative terms are why camera noise is colour noise, correlated across channels, and stronger
# than the sensor's own.
CAMERA_CCM = np.array([[1.6, -0.5, -0.1], [-0.3, 1.6, -0.3], [-0.05, -0.55, 1.6]], dtype=np.float32)
CAMERA_CCM_INV = np.linalg.inv(CAMERA_CCM).astype(np.float32)


MIN_MOSAIC_SIDE = 4  # the smallest even side OpenCV demosaics (it returns zeros under 3)


def _even_side(side: int) -> int:
    return max(side + side % 2, MIN_MOSAIC_SIDE)


def camera_noise(img: np.ndarray, rng: np.random.Generator, peak: float, read: float) -> np.ndarray:
    # What a small sensor does to a scene, in order: the sRGB image back to linear light and into the camera's
    # own RGB (CAMERA_CCM inverted); an RGGB Bayer mosaic (one colour per photosite); shot noise, Poisson with
    # `peak` photo-electrons at full white, plus Gaussian read noise of std `read` electrons; the ADC's clip;
    # OpenCV's bilinear demosaicing, which spreads each photosite's noise over its neighbours; the colour
    # matrix, which mixes it across channels (the coloured, correlated grain of real photos); back to sRGB.
    # Demosaicing is linear, so it is applied to the photosites' noise alone and added to the full-resolution
    # image: the photo keeps its detail, and everything that differs from it is noise, not interpolation
    # error. A gray image is a monochrome sensor: shot and read noise per pixel, no mosaic, no colour matrix.
    x = np.clip(img, 0, 255) / np.float32(255.0)
    x = x.reshape(x.shape[0], x.shape[1], -1)
    gray = x.shape[2] == 1
    linear = _srgb_to_linear(x[..., :1] if gray else x[..., :3])
    signal = linear if gray else linear @ CAMERA_CCM_INV.T  # camera RGB (out-of-gamut colours go below 0)
    h, w = signal.shape[:2]
    if gray:
        raw = signal[..., 0]
    else:  # odd sizes: mosaic a reflected, even-sized copy, cropped back after demosaicing; at least 4 x 4, since
        # OpenCV's demosaicing returns zeros for a side under 3
        even = np.pad(signal, ((0, _even_side(h) - h), (0, _even_side(w) - w), (0, 0)), mode="reflect")
        raw = np.empty(even.shape[:2], np.float32)
        raw[0::2, 0::2] = even[0::2, 0::2, 0]  # R
        raw[0::2, 1::2] = even[0::2, 1::2, 1]  # G
        raw[1::2, 0::2] = even[1::2, 0::2, 1]  # G
        raw[1::2, 1::2] = even[1::2, 1::2, 2]  # B
    rate = np.clip(raw, 0.0, 1.0).astype(np.float64) * peak
    electrons = rng.poisson(rate).astype(np.float32)
    electrons += rng.standard_normal(raw.shape, dtype=np.float32) * np.float32(read)
    noise = np.clip(electrons / np.float32(peak), 0.0, 1.0) - np.clip(raw, 0.0, 1.0)  # in [-1, 1]
    if gray:
        noisy = linear + noise[..., None]
    else:
        offset = np.rint((noise + 1.0) * 32767.5).astype(np.uint16)  # OpenCV demosaics unsigned integers
        spread = cv2.cvtColor(offset, cv2.COLOR_BayerBG2RGB)[:h, :w]  # OpenCV's name for R at (0, 0): RGGB
        noisy = (signal + spread.astype(np.float32) / np.float32(32767.5) - 1.0) @ CAMERA_CCM.T
    return (_linear_to_srgb(noisy) * np.float32(255.0)).reshape(img.shape)


# the sRGB error a camera's noise makes, tabulated once over the clean pixel's sRGB value and the noise's spread in
# linear light (log-spaced), each cell an expectation over a normal draw (64-node Gauss-Hermite: the clip at 0 and
# 1 makes the integrand kinked, so few nodes would be off by a tenth)
_VALUES = np.linspace(0.0, 1.0, 257)
_LOG_SPREADS = np.linspace(np.log(1e-5), np.log(4.0), 97)


@functools.cache
def _error_table() -> np.ndarray:
    nodes, weights = np.polynomial.hermite_e.hermegauss(64)
    linear = _srgb_to_linear(_VALUES.astype(np.float32)).astype(np.float64)[:, None, None]
    spread = np.exp(_LOG_SPREADS)[None, :, None]
    drawn = _linear_to_srgb(linear + nodes * spread).astype(np.float64)
    clean = _linear_to_srgb(linear).astype(np.float64)
    return ((drawn - clean) ** 2 @ (weights / np.sqrt(2.0 * np.pi))).astype(np.float32)


def _mean_squared_error(value: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """E[(sRGB(linear + spread * z) - sRGB(linear))^2], z standard normal, by bilinear lookup in ``_error_table``;
    below the table's smallest spread the error is quadratic in it (the curve is locally straight)."""
    table, smallest = _error_table(), float(np.exp(_LOG_SPREADS[0]))
    rows = np.clip(value, 0.0, 1.0) * (len(_VALUES) - 1)
    step = _LOG_SPREADS[1] - _LOG_SPREADS[0]
    cols = np.clip((np.log(np.maximum(spread, smallest)) - _LOG_SPREADS[0]) / step, 0, len(_LOG_SPREADS) - 1)
    r0 = np.minimum(rows.astype(np.int64), len(_VALUES) - 2)
    c0 = np.minimum(cols.astype(np.int64), len(_LOG_SPREADS) - 2)
    fr, fc = (rows - r0).astype(np.float32), (cols - c0).astype(np.float32)
    top = table[r0, c0] * (1 - fc) + table[r0, c0 + 1] * fc
    bottom = table[r0 + 1, c0] * (1 - fc) + table[r0 + 1, c0 + 1] * fc
    return (top * (1 - fr) + bottom * fr) * np.minimum(1.0, (spread / smallest) ** 2).astype(np.float32)


def camera_variance(x: np.ndarray, peak: float, read: float, **_: float) -> np.ndarray:
    """The mean squared sRGB error (0-255 scale) of each photosite's shot and read noise, carried through the
    colour matrix and the sRGB curve, clipped as the pipeline clips, photosites taken as independent: an upper
    estimate, since demosaicing's interpolation lowers the σ of the two colours each pixel did not sample. The
    curve is followed across the noise's spread, not by its slope: in the shadows the noise is wider than the
    curve's linear toe, where the slope overstated it up to six times (and past 255). Shot noise is taken as
    normal, which without read noise is off at a few photo-electrons: mid-tones up to about a quarter under the
    measured RMS, the deepest shadows (a rate below one electron: peak 15 at grey levels 1-3) 1.5-1.9 times
    over it, where a Poisson draw is mostly zero."""
    value = np.clip(x, 0, 255) / np.float32(255.0)
    linear = _srgb_to_linear(value)
    read_var = (read / peak) ** 2
    if linear.ndim == 3 and linear.shape[-1] == 3:  # (an H x W gray image three pixels wide is gray)
        camera_rgb = np.clip(linear @ CAMERA_CCM_INV.T, 0.0, 1.0)  # the Poisson rate, as drawn
        var_linear = (camera_rgb / peak + read_var) @ (CAMERA_CCM ** 2).T
    else:
        var_linear = linear / peak + read_var
    return np.float32(255.0**2) * _mean_squared_error(value, np.sqrt(var_linear).astype(np.float32))
