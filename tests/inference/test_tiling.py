"""The tiled inference engine: tiled == whole image, dtypes, channels, alpha, OOM and NaN fallbacks."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch
from torch import nn

from denoise_gan.config import GeneratorConfig
from denoise_gan.errors import UserError
from denoise_gan.inference.infer_config import InferConfig
from denoise_gan.inference.tile_grid import ramp_weights, tile_positions
from denoise_gan.inference.tiling import INSTANCE_NORM_NOTE, MIN_TILE, TiledDenoiser, denoise_array, plan_grid
from denoise_gan.inference.torch_engine import forward_checked
from denoise_gan.nets.registry import build_generator
from denoise_gan.runtime import resolve_device, resolve_precision
from helpers import TORCH_NO_MEMORY, noise_image

torch.set_num_threads(1)  # tests share two cores with a training job; small inputs need no more

cuda = pytest.mark.cuda
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(peak**2 / max(mse, 1e-12)))


def light_unet(channels: int = 3, seed: int = 0, **kw: int) -> nn.Module:
    """PyTorch's default init (not the N(0, 0.02) training init): the residual is strong, so tiling errors
    show up instead of hiding under an almost-identity output."""
    torch.manual_seed(seed)
    return build_generator(GeneratorConfig(channels=channels, **kw)).eval()


class Identity(nn.Module):
    """Returns its input; any misplaced, mis-cropped or mis-weighted tile breaks exact equality."""

    def __init__(self, channels: int = 3, stride: int = 8) -> None:
        super().__init__()
        self.in_channels = channels
        self.stride = stride
        self.calls: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(x.shape))
        return x.clone()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.ascontiguousarray(skimage.data.astronaut()[:300, :350])


# ---- the contract: tiled == whole image --------------------------------------------------------

def test_tiled_matches_whole_image_default_unet(photo: np.ndarray) -> None:
    net = light_unet()
    whole = denoise_array(net, photo, InferConfig(tile=0))
    tiled = denoise_array(net, photo, InferConfig(tile=128))  # 3x3 tiles, default overlap 32
    hard = denoise_array(net, photo, InferConfig(tile=128, overlap=0))
    assert psnr(photo, whole) < 30, "the net must change the image, or the comparison proves nothing"
    # measured: 65.4 dB with overlap 32 (39.7 dB with hard-pasted tiles, overlap 0)
    assert psnr(whole, tiled) >= 45, f"tiled vs whole {psnr(whole, tiled):.1f} dB"
    assert psnr(whole, tiled) > psnr(whole, hard) + 10


def test_a_thin_strip_blends_its_long_side_over_the_whole_overlap(photo: np.ndarray) -> None:
    """One overlap for both axes was clamped to half the short side: an 8 px strip's tiles along it met on a
    4 px ramp instead of 32, and came out at 58.9 dB of the whole-image pass (73.6 dB with 32)."""
    from denoise_gan.inference.tile_grid import plan_grid

    grid = plan_grid(8, 1500, 256, 32, 8)
    assert (grid.overlap_y, grid.overlap_x) == (4, 32)
    net = light_unet()
    strip = np.ascontiguousarray(np.tile(photo[100:108], (1, 5, 1))[:, :1500])
    whole = denoise_array(net, strip, InferConfig(tile=0))
    assert psnr(whole, denoise_array(net, strip, InferConfig(tile=256, overlap=32))) >= 62


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("shape", [(300, 350, 3), (65, 200, 3), (5, 7, 3), (1, 1, 3), (17, 130, 3)])
def test_identity_net_reproduces_input_exactly(shape: tuple[int, int, int], dtype: type) -> None:
    rng = np.random.default_rng(1)
    img = rng.integers(0, np.iinfo(dtype).max, size=shape, dtype=dtype, endpoint=True)
    out = denoise_array(Identity(), img, InferConfig(tile=64, overlap=16, batch_size=3))
    assert out.dtype == dtype and out.shape == img.shape
    np.testing.assert_array_equal(out, img)


def test_padding_mirrors_without_repeating_the_edge() -> None:
    from denoise_gan.inference.tile_grid import reflect_index

    for length, padded in ((4, 8), (5, 16), (2, 9), (7, 7), (3, 20)):  # past one period too: numpy reflects again
        expected = np.pad(np.arange(length), (0, padded - length), mode="reflect")
        np.testing.assert_array_equal(reflect_index(padded, length), expected)
    np.testing.assert_array_equal(reflect_index(5, 1), np.zeros(5))


def test_tile_positions_are_aligned_cover_and_overlap() -> None:
    for length in (8, 64, 100 * 8, 1001 * 8):
        for tile, overlap, stride in ((64, 16, 8), (512, 32, 8), (128, 32, 4), (96, 0, 1)):
            starts = tile_positions(length, tile, overlap, stride)
            t = min(tile, length)
            assert starts[0] == 0 and starts[-1] + t == length
            assert all(s % stride == 0 for s in starts)
            gaps = np.diff(starts)
            assert np.all(gaps > 0) and np.all(t - gaps >= min(overlap, t))


def test_ramp_weights_sum_to_one_over_an_exact_overlap() -> None:
    left = ramp_weights(96, 32, taper_start=False, taper_end=True)
    right = ramp_weights(96, 32, taper_start=True, taper_end=False)
    np.testing.assert_allclose(left[-32:] + right[:32], 1.0, atol=1e-6)
    assert left[0] == 1.0 and right[-1] == 1.0 and left.min() > 0


def test_grid_pads_to_stride_and_small_images_get_one_tile() -> None:
    grid = plan_grid(5, 7, 512, 32, 8)
    assert (grid.tile_h, grid.tile_w, grid.count) == (8, 8, 1)
    grid = plan_grid(300, 1000, 512, 32, 8)
    assert (grid.tile_h, len(grid.ys)) == (304, 1)


@pytest.mark.parametrize("shape", [(1, 1, 3), (3, 4, 3), (4, 4, 1), (2, 50, 3)])
def test_an_instance_norm_generator_denoises_images_a_few_pixels_wide(shape: tuple[int, int, int]) -> None:
    """Two stride-2 steps leave one pixel of a 4 px side, which InstanceNorm cannot normalise: the image is
    padded to two strides instead of one."""
    assert (plan_grid(3, 4, 512, 32, 4, min_side=8).tile_h, plan_grid(3, 4, 512, 32, 4).tile_h) == (8, 4)
    net = light_unet(channels=3, arch="resnet", width=8, blocks=1)
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    out = denoise_array(net, image, InferConfig(device="cpu", precision="fp32"))
    assert out.shape == image.shape and out.dtype == np.uint8


@pytest.mark.parametrize("length", [1024, 4000, 6000, 520, 2056])
def test_tiles_are_fitted_to_the_image_to_limit_wasted_overlap(length: int) -> None:
    grid = plan_grid(length, length, 512, 32, 8)
    t, n = grid.tile_h, len(grid.ys)
    assert t <= 512 and t % 8 == 0
    assert n == -(-(length - 40) // (512 - 40))  # as few as 512 tiles need (overlap 32 rounded up to 40)
    assert n * t / length < 1.25, f"{n} tiles of {t} for {length}"  # a fixed 512 tile on 1024 would be 1.5


def test_fitted_tiles_never_shrink_below_what_the_model_must_see() -> None:
    """Two 128 tiles on a 136 px side would fit as 88: narrower than a level-aware model sees well (its smallest
    tile), so they stay 128 and share more overlap; without such a floor the fit stands."""
    assert plan_grid(136, 136, 128, 32, 8, min_tile=128).tile_h == 128
    assert plan_grid(136, 136, 128, 32, 8).tile_h == 88


def test_an_overlap_off_the_stride_is_counted_as_the_tiles_share_it() -> None:
    """Overlap 20 is shared as 24 (the stride's multiple): counted as 20, a 1016 px side took 4 tiles, not 3."""
    grid = plan_grid(1016, 1016, 512, 20, 8)
    assert (len(grid.ys), grid.tile_h) == (3, 360)


def test_the_blend_weights_of_a_grid_sum_to_one() -> None:
    """Each overlap blended over all of its width: half of it weighted hard still passed a 45 dB seam test."""
    grid = plan_grid(224, 224, 128, 32, 8)
    assert (grid.ys, grid.overlap_y, grid.overlap_x) == ((0, 96), 32, 32)
    total = np.zeros((224, 224))
    for y, x, weight in grid.tiles():
        total[y:y + grid.tile_h, x:x + grid.tile_w] += weight
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


def test_an_overlap_of_exactly_half_a_tile_is_not_said_to_be_cut() -> None:
    half = TiledDenoiser(light_unet(), InferConfig(tile=64, overlap=32))
    assert not any("overlap" in note for note in _notes_after(half, (64, 200)))
    notes = _notes_after(TiledDenoiser(light_unet(), InferConfig(tile=64, overlap=40)), (64, 200))
    assert any("an overlap of 40 px" in note for note in notes)


def test_an_instance_norm_tile_with_one_constant_channel_is_still_denoised() -> None:
    """Only a tile flat in every channel comes back as it was; one saturated channel (a clipped sky) is common."""
    net = light_unet(channels=3, arch="resnet", width=8, blocks=1)
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    image[..., 0] = 255
    out = denoise_array(net, image, InferConfig(tile=0, device="cpu", precision="fp32"))
    assert not np.array_equal(out[..., 1:], image[..., 1:])


# ---- channels, alpha and dtypes ------------------------------------------------------------------

def test_alpha_is_passed_through_untouched(photo: np.ndarray) -> None:
    """With no fully transparent pixel the colour is denoised as without alpha (those are tested apart)."""
    net = light_unet(width=4, depth=2)
    rng = np.random.default_rng(2)
    alpha = rng.integers(1, 256, size=photo.shape[:2] + (1,), dtype=np.uint8)
    rgba = np.concatenate([photo, alpha], axis=2)
    cfg = InferConfig(tile=128)
    out = denoise_array(net, rgba, cfg)
    assert out.shape == rgba.shape
    np.testing.assert_array_equal(out[..., 3:], alpha)
    np.testing.assert_array_equal(out[..., :3], denoise_array(net, photo, cfg))


def test_uint16_in_uint16_out_uses_the_full_range(photo: np.ndarray) -> None:
    net = light_unet(width=4, depth=2)
    img16 = photo.astype(np.uint16) * 257
    out16 = denoise_array(net, img16, InferConfig(tile=128))
    out8 = denoise_array(net, photo, InferConfig(tile=128))
    assert out16.dtype == np.uint16 and out16.shape == img16.shape
    assert out16.max() > 255
    assert np.abs(out16 / 257.0 - out8).max() <= 1.0  # same function, finer rounding


def test_gray_stays_gray_with_a_colour_model(photo: np.ndarray) -> None:
    net = light_unet(width=4, depth=2)
    gray = photo[..., :1].copy()
    cfg = InferConfig(tile=128)
    out = denoise_array(net, gray, cfg)
    assert out.shape == gray.shape and out.dtype == np.uint8
    as_colour = denoise_array(net, np.repeat(gray, 3, axis=2), cfg).astype(np.float64)
    unclipped = np.all((as_colour > 0) & (as_colour < 255), axis=2)  # clipping happens before the mean there
    assert unclipped.mean() > 0.5
    assert np.abs(out[..., 0] - as_colour.mean(axis=2))[unclipped].max() <= 1.0
    flat = denoise_array(net, gray[..., 0], cfg)
    assert flat.shape == gray.shape[:2]
    alpha = np.maximum(255 - gray, 1)  # no fully transparent pixel (their colour is tested apart)
    la = np.concatenate([gray, alpha], axis=2)
    out_la = denoise_array(net, la, cfg)
    np.testing.assert_array_equal(out_la[..., 1], alpha[..., 0])
    np.testing.assert_array_equal(out_la[..., :1], out)


@pytest.mark.parametrize("equal", [(0, 1), (1, 2), (0, 2)])
def test_a_colour_photo_with_two_equal_planes_is_not_taken_for_gray(equal: tuple[int, int]) -> None:
    # only R = G = B is gray stored as RGB: a blue sky with R = G must come back blue, not the planes' mean
    rng = np.random.default_rng(3)
    img = np.empty((40, 40, 3), np.uint8)
    img[..., equal[0]] = img[..., equal[1]] = rng.integers(60, 120, (40, 40))
    img[..., 3 - sum(equal)] = rng.integers(180, 255, (40, 40))
    np.testing.assert_array_equal(denoise_array(Identity(), img, InferConfig(tile=0)), img)


class Tint(nn.Module):
    """A colour net that shifts R up and G down by 10 levels: what it does to a gray photo shows which path ran."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(3)[..., None, None])
            self.conv.bias.copy_(torch.tensor([10.0, -10.0, 0.0]) / 255)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_a_gray_photo_one_level_off_gray_is_denoised_as_gray(dtype: type) -> None:
    """A lossy WebP decodes a black-and-white photo with R, G, B one level apart here and there: the colour path
    turned that into colour speckle; as gray, the mean correction reaches all three and the offsets stay."""
    level = np.iinfo(dtype).max // 255
    rng = np.random.default_rng(4)
    gray = (rng.integers(20, 230, (40, 40)) * level).astype(dtype)
    img = np.repeat(gray[..., None], 3, axis=2)
    img[rng.random((40, 40)) < 0.05, 0] += dtype(level)  # R one 8-bit level up on 5 % of the pixels
    np.testing.assert_array_equal(denoise_array(Tint(), img, InferConfig(tile=0)), img)  # mean shift 0
    img[0, 0, 2] += dtype(2 * level)  # two levels apart: a colour photo after all, the tint shows
    out = denoise_array(Tint(), img, InferConfig(tile=0)).astype(np.int64)
    assert np.all(out[..., 0] - img[..., 0] == 10 * level)

def test_float_pixels_are_rounded_to_the_nearest_16_bit_level() -> None:
    from denoise_gan.inference.pixels import FLOAT_LEVELS, float_to_uint16

    x = np.random.default_rng(0).random(10_000)
    assert float_to_uint16(np.array([0.5]))[0] == 32768
    assert np.abs(float_to_uint16(x) / FLOAT_LEVELS - x).max() <= 0.5 / FLOAT_LEVELS + 1e-12


def test_gray_model_denoises_colour_channel_by_channel(photo: np.ndarray) -> None:
    net = light_unet(channels=1, width=4, depth=2)
    cfg = InferConfig(tile=128)
    out = denoise_array(net, photo, cfg)
    assert out.shape == photo.shape
    for k in range(3):
        single = denoise_array(net, photo[..., k:k + 1], cfg)
        assert np.abs(out[..., k:k + 1].astype(int) - single).max() <= 1


def test_unsupported_input_is_a_user_error() -> None:
    net = light_unet(channels=3, width=4, depth=1)
    with pytest.raises(UserError, match="uint8 or uint16"):
        denoise_array(net, np.zeros((8, 8, 3), np.float32))
    with pytest.raises(UserError, match="1-4 channels"):
        denoise_array(net, np.zeros((8, 8, 5), np.uint8))
    with pytest.raises(UserError, match="takes 2 channels"):  # a custom module: configs allow only 1 or 3
        denoise_array(nn.Sequential(nn.Conv2d(2, 2, 3, padding=1)), np.zeros((8, 8, 3), np.uint8))


# ---- batching and memory -------------------------------------------------------------------------

def test_tiles_are_streamed_in_batches_not_materialised() -> None:
    net = Identity()
    img = np.zeros((600, 600, 3), np.uint8)
    den = TiledDenoiser(net, InferConfig(tile=64, overlap=16, batch_size=4))
    seen: list[tuple[int, int]] = []
    den(img, progress=lambda done, total: seen.append((done, total)))
    total = seen[-1][1]
    assert total > 100 and seen[-1][0] == total
    assert max(shape[0] for shape in net.calls) == 4
    assert len(net.calls) == -(-total // 4)


def test_tiles_of_different_images_share_batches() -> None:
    net = Identity()
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, size=(40, 40, 3), dtype=np.uint8) for _ in range(3)]
    outs = TiledDenoiser(net, InferConfig(tile=256, batch_size=4)).denoise_many(images)
    assert net.calls == [(3, 3, 40, 40)]
    for out, img in zip(outs, images):
        np.testing.assert_array_equal(out, img)


def test_images_of_another_depth_or_channel_mode_get_their_own_batch() -> None:
    """np.stack made a uint16 batch of a uint8 image's tiles, then scaled them by 65535 (a mean of 27 for 144);
    a gray image stored as RGB beside a colour one must not take the colour one's mode either."""
    net = Identity()
    rng = np.random.default_rng(4)
    gray = rng.integers(0, 256, size=(40, 40, 1), dtype=np.uint8)
    images = [rng.integers(0, 65536, size=(40, 40, 3), dtype=np.uint16),
              rng.integers(0, 256, size=(40, 40, 3), dtype=np.uint8), np.repeat(gray, 3, axis=2)]
    outs = TiledDenoiser(net, InferConfig(tile=256, batch_size=4)).denoise_many(images)
    assert len(net.calls) == 3
    for out, img in zip(outs, images):
        np.testing.assert_array_equal(out, img)

# ---- failure paths: OOM, NaN, devices --------------------------------------------------------------

class OutOfMemoryAbove(nn.Module):
    """Wraps a net and raises an out-of-memory error for tiles larger than a limit, as a small GPU (or a CPU under a
    `ulimit -v`) would."""

    def __init__(self, inner: nn.Module, max_side: int, error: Exception | None = None) -> None:
        super().__init__()
        self.inner = inner
        self.stride = getattr(inner, "stride", 1)
        self.max_side = max_side
        self.error = error or torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if max(x.shape[-2:]) > self.max_side:
            raise self.error
        return self.inner(x)


CPU_ALLOCATOR = RuntimeError(TORCH_NO_MEMORY)


@pytest.mark.parametrize("error", [None, CPU_ALLOCATOR, MemoryError()], ids=["cuda", "cpu", "numpy"])
def test_out_of_memory_halves_the_tile_and_retries(photo: np.ndarray, error: Exception | None) -> None:
    inner = light_unet(width=4, depth=2)
    den = TiledDenoiser(OutOfMemoryAbove(inner, max_side=128, error=error), InferConfig(tile=256))
    out = den(photo)
    assert den.tile == 128
    assert any("out of memory" in note for note in den.notes)
    np.testing.assert_array_equal(out, denoise_array(inner, photo, InferConfig(tile=128)))


def test_out_of_memory_on_a_later_larger_image_shrinks_the_tile_from_that_image(photo: np.ndarray) -> None:
    """Whole images (tile 0) sized the retry's tile by the first image: a small one first left it whole, and the
    call gave up naming a tile never used."""
    inner = light_unet(width=4, depth=2)
    den = TiledDenoiser(OutOfMemoryAbove(inner, max_side=160), InferConfig(tile=0))
    small = photo[:20, :20]  # under twice the smallest tile: halving it gives nothing smaller
    outs = den.denoise_many([small, photo])
    assert 0 < den.tile <= 160 and outs[1].shape == photo.shape


def test_another_runtime_error_is_not_taken_for_out_of_memory(photo: np.ndarray) -> None:
    den = TiledDenoiser(OutOfMemoryAbove(light_unet(width=4, depth=1), max_side=0, error=RuntimeError("a bug")),
                        InferConfig(tile=128))
    with pytest.raises(RuntimeError, match="a bug"):
        den(photo)


def test_out_of_memory_at_the_smallest_tile_is_a_clear_error() -> None:
    den = TiledDenoiser(OutOfMemoryAbove(light_unet(width=4, depth=1), max_side=0),
                        InferConfig(tile=MIN_TILE, batch_size=2))
    with pytest.raises(UserError, match="out of memory even with a 32px tile and batch size 1; free memory"):
        den(np.zeros((200, 200, 3), np.uint8))
    assert den.batch_size == 1  # the batch was halved before giving up


class NanUnderAutocast(nn.Module):
    """Gives NaN whenever autocast is on, like an fp16 overflow; correct output in fp32."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.stride = getattr(inner, "stride", 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.inner(x)
        return torch.full_like(y, float("nan")) if torch.is_autocast_enabled(x.device.type) else y


def test_half_precision_nan_batch_is_redone_in_fp32(photo: np.ndarray) -> None:
    inner = light_unet(width=4, depth=2)
    x = torch.rand(2, 3, 32, 32)
    y, redone = forward_checked(NanUnderAutocast(inner), x, torch.bfloat16)
    assert redone and torch.isfinite(y).all()
    torch.testing.assert_close(y, forward_checked(inner, x, None)[0])
    # the same path through the engine: force the half-precision branch that CUDA would take
    den = TiledDenoiser(NanUnderAutocast(inner), InferConfig(tile=128))
    den.backend.amp_dtype = torch.bfloat16
    out = den(photo)
    assert den.backend.fp32_redos > 0 and any("redone in fp32" in n for n in den.notes)
    np.testing.assert_array_equal(out, denoise_array(inner, photo, InferConfig(tile=128)))


def test_nan_in_fp32_is_an_error_not_a_black_image() -> None:
    class AlwaysNan(nn.Module):
        in_channels = 3

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * float("nan")

    with pytest.raises(UserError, match="NaN"):
        denoise_array(AlwaysNan(), np.zeros((16, 16, 3), np.uint8))


def test_cpu_precision_and_device_resolution() -> None:
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) is None and resolve_precision("fp32", cpu) is None
    for half in ("fp16", "bf16"):
        with pytest.raises(UserError, match="needs a CUDA GPU"):
            resolve_precision(half, cpu)
    with pytest.raises(UserError, match="unknown precision"):
        InferConfig(precision="fp8")
    assert resolve_device("cpu") == cpu
    for bad in ("tpu", "cuda:x", ""):
        if bad:
            with pytest.raises(UserError):
                resolve_device(bad)
    if not torch.cuda.is_available():
        assert resolve_device("auto") == cpu
        with pytest.raises(UserError, match="no CUDA GPU"):
            resolve_device("cuda:0")


def test_cpu_default_tile_is_fixed() -> None:
    den = TiledDenoiser(light_unet(width=4, depth=1), InferConfig(device="cpu"))
    assert den.tile == 512 and den.backend.amp_dtype is None


# ---- CUDA --------------------------------------------------------------------------------------

@cuda
@needs_cuda
def test_cuda_bf16_tiled_matches_cpu_fp32(photo: np.ndarray) -> None:
    net = light_unet()
    ref = denoise_array(net, photo, InferConfig(tile=0, device="cpu"))
    den = TiledDenoiser(net, InferConfig(device="cuda"))  # auto tile from free memory, bf16 autocast
    assert den.backend.amp_dtype == torch.bfloat16 and MIN_TILE <= den.tile <= 2048
    out = den(photo)
    assert psnr(ref, out) >= 35, f"bf16 vs fp32 {psnr(ref, out):.1f} dB"
    out32 = denoise_array(net, photo, InferConfig(tile=128, device="cuda", precision="fp32"))
    assert psnr(ref, out32) >= 45


@cuda
@needs_cuda
def test_cuda_fp16_runs_and_stays_finite(photo: np.ndarray) -> None:
    out = denoise_array(light_unet(), photo, InferConfig(tile=128, device="cuda", precision="fp16"))
    assert out.shape == photo.shape and out.std() > 10


def _notes_after(den: TiledDenoiser, *shapes: tuple[int, int]) -> list[str]:
    for shape in shapes:
        den(np.zeros((*shape, 3), np.uint8))
    return den.notes


def test_a_tile_or_overlap_the_stride_changes_is_said_once_an_image_is_split() -> None:
    """Said of an image of one tile too, where there are no tile edges; and the overlap was said to run as half
    the tile asked for, where half of each tile as fitted to the image runs."""
    deep = build_generator(GeneratorConfig(arch="unet", width=4, depth=6, blocks=1))  # stride 64
    split = TiledDenoiser(deep, InferConfig(tile=32, overlap=80))
    assert _notes_after(split, (64, 64)) == []  # one tile: nothing to say
    notes = _notes_after(split, (64, 200))
    assert "--tile 32 runs as 64" in notes[0]
    assert "an overlap of 80 px is more than half a 64 px tile: it runs as half of each tile" in notes[1]
    assert _notes_after(TiledDenoiser(deep, InferConfig(tile=128, overlap=32)), (64, 300)) == []
    seams = TiledDenoiser(deep, InferConfig(tile=128, overlap=0))
    assert _notes_after(seams, (64, 64)) == []
    assert "tile edges are not blended" in _notes_after(seams, (64, 300))[0]
    assert _notes_after(TiledDenoiser(deep, InferConfig(tile=0, overlap=0)), (64, 300)) == []  # whole images


@cuda
@needs_cuda
def test_cuda_real_out_of_memory_halves_the_tile(photo: np.ndarray) -> None:
    """A real CUDA out-of-memory, not an injected one: the allocator capped at 1 GiB (as a GPU that other
    processes fill leaves little free), a whole-image pass of a 4200x4200 photo fails, the halved tiles fit,
    and the result is what those tiles give on a GPU with room."""
    net = light_unet(width=32)
    big = np.ascontiguousarray(np.tile(photo, (14, 12, 1)))
    torch.cuda.empty_cache()
    torch.cuda.set_per_process_memory_fraction(2**30 / torch.cuda.get_device_properties(0).total_memory)
    try:
        den = TiledDenoiser(net, InferConfig(tile=0, device="cuda", precision="fp32"))
        out = den(big)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    assert any("out of memory" in note for note in den.notes), den.notes
    assert MIN_TILE <= den.tile < 4200
    ref = denoise_array(net, big, InferConfig(tile=den.tile, device="cuda", precision="fp32"))
    assert psnr(ref, out) >= 60


def test_the_instance_norm_note_is_said_of_an_image_split_into_tiles_only() -> None:
    """It was said on every run with a tile size, also where every image fit in one tile (as --tile 0 runs)."""
    den = TiledDenoiser(build_generator(GeneratorConfig(arch="resnet", width=4, blocks=1)), InferConfig(tile=128))
    den(np.zeros((64, 80, 3), np.uint8) + 100)
    assert not any("InstanceNorm" in note for note in den.notes), den.notes
    den(noise_image(300, 200))
    den(noise_image(300, 200))
    assert [note for note in den._notes if "tiles are normalised separately" in note] == [INSTANCE_NORM_NOTE]
