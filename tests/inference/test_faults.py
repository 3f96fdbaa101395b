"""Denoising loses nothing and fails safe: never over an input, SIGKILL leaves whole outputs or none,
CUDA out-of-memory shrinks the tile, half-precision NaN/Inf is redone in fp32, NaN in fp32 fails the file.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from data_tools.images import collect_images, read_image, write_image
from denoise_gan.inference.file_plan import OutputOptions
from denoise_gan.inference.files import denoise_files
from denoise_gan.inference.infer_config import InferConfig
from denoise_gan.inference.tiling import TiledDenoiser, denoise_array, plan_grid
from denoise_gan.nets.weights import load_generator
from helpers import (
    ORT_NO_MEMORY,
    _tiny_unet,
    cli,
    interrupt_at_random,
    launch,
    noise_image,
    one_line_error,
    pace,
    smooth_rgb,
)

torch.set_num_threads(1)  # the suite shares two cores with a training job


def test_denoise_never_writes_over_an_input(weights: Path, tmp_path: Path) -> None:
    src = tmp_path / "photos"
    write_image(src / "a.png", noise_image(24, 24))
    before = (src / "a.png").read_bytes()
    (tmp_path / "link").symlink_to(src)  # the output folder is the input folder under another name
    for out in (src, tmp_path / "link"):
        result = cli("denoise", src, "-o", out, "-c", weights, "--device", "cpu", "--overwrite")
        one_line_error(result, "would overwrite an input")
    # an existing output that is the input under another name: a hard link, a symlink
    for make_alias in (lambda p: os.link(src / "a.png", p), lambda p: p.symlink_to(src / "a.png")):
        make_alias(tmp_path / "a.png")
        result = cli("denoise", src / "a.png", "-o", tmp_path, "-c", weights, "--device", "cpu", "--overwrite")
        said = one_line_error(result, "would overwrite an input")
        assert "earlier output" not in said, said  # the input itself, not an output of an earlier run
        file_out = cli("denoise", src / "a.png", "-o", tmp_path / "a.png", "-c", weights, "--device", "cpu",
                       "--overwrite")  # the alias named as the output file itself
        one_line_error(file_out, "would overwrite the input file")
        (tmp_path / "a.png").unlink()
    assert (src / "a.png").read_bytes() == before


@pytest.mark.slow  # real processes, seconds each; runs by default, deselect with -m 'not slow'
def test_sigkill_during_denoise_leaves_whole_outputs_or_none_and_skip_existing_completes(weights: Path,
                                                                                         tmp_path: Path) -> None:
    src, out, logs = tmp_path / "in", tmp_path / "out", tmp_path / "logs"
    names = [f"img{i:02d}.png" for i in range(12)]  # the kill comes within 6 files' time: 4 or more to spare
    for i, name in enumerate(names):
        _, buf = cv2.imencode(".png", np.roll(smooth_rgb(768, 1024), 97 * i, axis=1), [cv2.IMWRITE_PNG_COMPRESSION, 1])
        src.mkdir(exist_ok=True)
        (src / name).write_bytes(buf.tobytes())
    proc = launch(["denoise", src, "-o", out, "-c", weights, "--device", "cpu"], logs)
    finals = lambda: [p for p in out.iterdir() if not p.name.startswith(".")] if out.exists() else []
    per_file = pace(lambda: len(finals()), proc, logs)
    delay = interrupt_at_random(proc, signal.SIGKILL, 0.6 * 6 * per_file, logs)
    done = sorted(p.name for p in finals())
    assert 0 < len(done) < len(names), (delay, done)
    assert set(done) <= set(names), done  # no half-written file under a final (or any other) name
    temps = [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert all(re.fullmatch(r"\.img\d\d\.png\..+\.part", t) for t in temps), temps
    net = load_generator(weights)[0]
    denoiser = TiledDenoiser(net, InferConfig(device="cpu"))
    for name in done:  # each output is the whole, correct image, not a prefix of one
        np.testing.assert_array_equal(read_image(out / name).pixels, denoiser(read_image(src / name).pixels),
                                      err_msg=name)
    before = {name: (out / name).stat().st_mtime_ns for name in done}
    # a temp file left by a kill is never taken as an input, and never counts as an existing output
    (src / ".img00.png.k1ll3d.part").write_bytes(b"\x89PNG half a file")
    (out / f".{names[-1]}.k1ll3d.part").write_bytes(b"\x89PNG half a file")
    assert ".img00.png.k1ll3d.part" not in {p.name for p in collect_images(src)}
    completed = cli("denoise", src, "-o", out, "-c", weights, "--device", "cpu", "--skip-existing")
    assert completed.exit_code == 0, completed.output
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == names
    assert {name: (out / name).stat().st_mtime_ns for name in done} == before  # finished ones were left alone
    for name in names:
        assert read_image(out / name).pixels.shape == (768, 1024, 3), name


class OutOfMemoryFirst(nn.Module):
    """Raises CUDA's out-of-memory error for tiles above `max_side` (as a small GPU would), on the CPU."""

    def __init__(self, inner: nn.Module, max_side: int) -> None:
        super().__init__()
        self.inner, self.max_side, self.stride, self.ooms = inner, max_side, getattr(inner, "stride", 1), 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if max(x.shape[-2:]) > self.max_side:
            self.ooms += 1
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")
        return self.inner(x)


def test_onnx_runtime_out_of_memory_on_the_cpu_shrinks_the_tile_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a `ulimit -v`, ONNX Runtime's failed allocation failed the file with a 400-character reason, after its
    own log line on the terminal; the tile now halves as on a GPU."""
    from denoise_gan import Denoiser

    den = Denoiser.from_pretrained("default", engine="onnxruntime", device="cpu", tile=512)
    session, run = den.backend.session, den.backend.session.run
    sides: list[int] = []

    class Session:
        def __getattr__(self, name: str) -> object:
            return getattr(session, name)

        def run(self, names: list[str], feed: dict[str, np.ndarray], options: object = None) -> list[np.ndarray]:
            sides.append(max(next(iter(feed.values())).shape[-2:]))
            if sides[-1] > 256:
                raise RuntimeError(ORT_NO_MEMORY)
            return run(names, feed)

    monkeypatch.setattr(den.backend, "session", Session())
    image = noise_image(300, 300, seed=1)
    out = den(image)
    assert sides[0] > 256 and max(sides[1:]) <= 256
    assert any("out of memory with a" in note for note in den.notes), den.notes
    fits = Denoiser.from_pretrained("default", engine="onnxruntime", device="cpu", tile=256)
    np.testing.assert_array_equal(out, fits(image))


@pytest.mark.parametrize("fault", ["invalid", "nan"])
def test_an_onnx_runtime_failure_that_is_not_memory_is_said_as_it_is(monkeypatch: pytest.MonkeyPatch,
                                                                      fault: str) -> None:
    """A graph that fails for another reason says its own error (no tile halving, no "out of memory"), as one
    error of ours (ONNX Runtime's own class left the Python API), and one whose output holds NaN never becomes
    a picture."""
    from denoise_gan import Denoiser
    from denoise_gan.errors import UserError, WeightsError

    den = Denoiser.from_pretrained("default", engine="onnxruntime", device="cpu", tile=512)
    calls: list[int] = []

    class Session:
        def run(self, names: list[str], feed: dict[str, np.ndarray], options: object = None) -> list[np.ndarray]:
            calls.append(1)
            if fault == "invalid":
                raise RuntimeError("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid dimensions")
            return [np.full_like(feed["image"], np.nan)]

    monkeypatch.setattr(den.backend, "session", Session())
    expected = (WeightsError, "failed on a batch of shape .*INVALID_ARGUMENT") if fault == "invalid" else \
        (UserError, "NaN")
    with pytest.raises(expected[0], match=expected[1]):
        den(noise_image(40, 40, seed=2))
    assert len(calls) == 1 and not any("out of memory" in note for note in den.notes)


def test_out_of_memory_shrinks_the_tile_retries_and_keeps_the_smaller_tile(weights: Path, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the whole `denoise` path: every file is done, each equals a run at the tile that fits, the
    note tells the user, and later files start at the smaller tile instead of failing again."""
    net = load_generator(weights)[0]
    flaky = OutOfMemoryFirst(net, max_side=64)
    for i in range(3):
        write_image(tmp_path / "in" / f"{i}.png", noise_image(150, 170, seed=i))
    summary = denoise_files([tmp_path / "in"], tmp_path / "out",
                            TiledDenoiser(flaky, InferConfig(tile=256, overlap=16, device="cpu")), OutputOptions())
    assert [r.status for r in summary.results] == ["done"] * 3, summary.results
    assert flaky.ooms == 2  # 256 -> 128 -> 64 on the first file only
    assert any("out of memory with a 128px tile; retried with 64px" in note for note in summary.notes), summary.notes
    for i in range(3):
        expected = denoise_array(net, noise_image(150, 170, seed=i), InferConfig(tile=64, overlap=16, device="cpu"))
        np.testing.assert_array_equal(read_image(tmp_path / "out" / f"{i}.png").pixels, expected)


class HalfPrecisionBlowsUpOnBrightTiles(nn.Module):
    """Under autocast, returns NaN (or Inf) for any batch holding a saturated pixel, as fp16 overflows do;
    otherwise, and always in fp32, the inner net's exact fp32 output."""

    def __init__(self, inner: nn.Module, bad: float) -> None:
        super().__init__()
        self.inner, self.bad, self.stride, self.blown = inner, bad, inner.stride, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = torch.is_autocast_enabled(x.device.type)
        with torch.autocast(x.device.type, enabled=False):
            y = self.inner(x.float())
        if half and bool((x == 1.0).any()):
            self.blown += 1
            return torch.full_like(y, self.bad)
        return y


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")], ids=["nan", "inf", "-inf"])
def test_a_nan_or_inf_tile_in_half_precision_is_redone_in_fp32(bad: float) -> None:
    net = _tiny_unet(3)
    img = noise_image(90, 90, seed=3) // 2  # no saturated pixel ...
    img[40, 45] = 255  # ... except one, inside a single tile's region
    cfg = InferConfig(tile=32, overlap=8, batch_size=1, device="cpu")
    den = TiledDenoiser(HalfPrecisionBlowsUpOnBrightTiles(net, bad), cfg)
    den.backend.amp_dtype = torch.bfloat16  # the CUDA half-precision branch, run on the CPU
    out = den(img)
    grid = plan_grid(90, 90, den.tile, cfg.overlap, den.stride)
    holding = sum(y <= 40 < y + grid.tile_h and x <= 45 < x + grid.tile_w for y, x, _ in grid.tiles())
    assert den.backend.net.blown == holding == den.backend.fp32_redos  # only the batches that blew up were redone
    assert any("redone in fp32" in note for note in den.notes)
    np.testing.assert_array_equal(out, denoise_array(net, img, cfg))  # and the result is the fp32 result


def test_nan_in_fp32_fails_that_file_and_writes_nothing(weights: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken(nn.Module):
        in_channels = 3

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * float("nan")

    write_image(tmp_path / "in" / "a.png", noise_image(20, 20))
    summary = denoise_files([tmp_path / "in"], tmp_path / "out", TiledDenoiser(Broken(), InferConfig(device="cpu")),
                            OutputOptions())
    assert [(r.status, "NaN" in r.message) for r in summary.results] == [("failed", True)]
    assert not (tmp_path / "out" / "a.png").exists()  # never a black image



def test_a_file_that_runs_out_of_memory_says_so_in_its_reason(weights: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a `ulimit -v` a file failed with the reason "MemoryError: MemoryError", which says nothing a user
    can act on; a whole run out of memory already read `out of memory (...)`."""
    from denoise_gan.inference import files

    write_image(tmp_path / "in" / "a.png", noise_image(40, 40))

    def no_memory(path: object) -> object:
        raise MemoryError()

    monkeypatch.setattr(files, "read_image", no_memory)
    den = TiledDenoiser(load_generator(weights)[0], InferConfig(device="cpu"))
    summary = denoise_files([tmp_path / "in"], tmp_path / "out", den, OutputOptions())
    assert [r.message for r in summary.results] == ["out of memory; free memory or give smaller images"]
