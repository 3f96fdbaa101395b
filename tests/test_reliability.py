"""Reliability and safety: hostile files, faults and interrupted work lose nothing.

Five sections, each a family of guarantees rather than a list of regressions:

1. checkpoints and weight files are untrusted input: pickled code never runs, damaged or mismatched files are
   one-line errors (exit 2), and hostile metadata cannot make a loader allocate what the file does not hold;
2. images are untrusted input: every odd-but-valid file works with its bit depth, channels and alpha kept,
   every broken or hostile one is a one-line per-file failure, the batch goes on, exit code 1 iff one failed;
3. properties (hypothesis) of the tiler and the noise models over shapes, dtypes, channels and specs;
4. nothing is lost: SIGKILL / Ctrl-C of real `train`, `refine` and `denoise` processes at a random moment,
   then resume or `--skip-existing` completes the work; outputs are whole files or absent, never inputs;
5. faults: CUDA out-of-memory, half-precision NaN/Inf and a crashing data-loader worker are handled.

Kept small for a shared 2-core CPU: tiny networks, tiny images, single-threaded torch.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pickle
import random
import re
import resource
import signal
import struct
import subprocess
import sys
import time
import warnings
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from rich.console import Console
from safetensors.torch import save as st_save
from torch import nn
from typer.testing import CliRunner

from data_tools.images import ImageReadError, atomic_write_bytes, collect_images, read_image, write_image
from data_tools.noise import MODELS, parse_noise_spec
from data_tools.samples import load_sample
from denoise_gan.cli import app
from denoise_gan.config import (DataConfig, DiscriminatorConfig, GeneratorConfig, ModelConfig, RefineConfig,
                                TrainConfig, to_dict)
from denoise_gan.inference.files import OutputOptions, denoise_files
from denoise_gan.runtime import World
from denoise_gan.errors import UserError
from denoise_gan.training.loop import Cadence, run_loop
from denoise_gan.nets.registry import build_generator
from denoise_gan.inference.tiling import InferConfig, TiledDenoiser, denoise_array, plan_grid
from denoise_gan.training.batches import batch_iterator
from denoise_gan.training.cyclegan import train
from denoise_gan.nets.weights import (FORMAT, WeightsError, list_checkpoints, load_checkpoint, load_generator,
                                 prune_checkpoints, save_generator)

torch.set_num_threads(1)  # the suite shares two cores with a training job
runner = CliRunner()
WIDE = {"COLUMNS": "400"}  # rich tables one row per line, so a per-file message is one line we can read back
CHILD_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "400", "PYTHONUNBUFFERED": "1"}
TINY_G = GeneratorConfig(width=4, depth=1, blocks=1)
TINY_TRAIN_FLAGS = ["--generator", "unet", "--width", "4", "--depth", "1", "--d-width", "8", "--d-layers", "2",
                    "--patch-size", "32", "--batch-size", "2", "--save-every", "2", "--log-every", "2",
                    "--workers", "0", "--device", "cpu"]


# ---- shared helpers ------------------------------------------------------------------------------

def cli(*args: object) -> object:
    return runner.invoke(app, [str(a) for a in args], env=WIDE)


def one_line_error(result: object, *needles: str) -> str:
    """Exit 2, no traceback, exactly one `error:` line on stderr containing every needle."""
    assert result.exit_code == 2, (result.exit_code, result.output, repr(result.exception))
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def failed_rows(stdout: str) -> dict[str, str]:
    """The `files needing attention` table as {file: reason} for failed rows (one table row per line)."""
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) == 3 and cells[1] == "failed":
            rows[cells[0]] = cells[2]
    return rows


@contextmanager
def memory_ceiling(extra_bytes: int) -> Iterator[None]:
    """Cap this process's address space at its current size plus `extra_bytes`, so a loader that tries to
    allocate what a hostile file claims fails inside the test instead of exhausting the machine."""
    if not sys.platform.startswith("linux"):
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    used = int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()
    limit = used + extra_bytes if hard == resource.RLIM_INFINITY else min(hard, used + extra_bytes)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def noise_image(h: int, w: int, c: int = 3, dtype: type = np.uint8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, np.iinfo(dtype).max, size=(h, w, c), dtype=dtype, endpoint=True)


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random colour U-Net saved the way `train` saves G."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_generator(path, build_generator(TINY_G), TINY_G)
    return path


@pytest.fixture(scope="module")
def clean_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clean")
    for name in ("astronaut", "coffee", "camera", "chelsea"):
        write_image(folder / f"{name}.png", load_sample(name)[100:164, 100:164])
    return folder


def tiny_train_config(clean_dir: Path, **kw: object) -> TrainConfig:
    model = ModelConfig(g=TINY_G, f=GeneratorConfig(arch="noise", width=4, depth=1),
                        d=DiscriminatorConfig(width=8, layers=2))
    data = DataConfig(clean_dir=str(clean_dir), noise="gaussian:sigma=25", patch_size=32, batch_size=2, workers=0)
    return replace(TrainConfig(model=model, data=data, steps=2, log_every=2, save_every=2, device="cpu", seed=1),
                   **kw)


@pytest.fixture(scope="module")
def finished_run(clean_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2-step CycleGAN run (G, F, config.json, checkpoint): what `refine` starts from."""
    run = tmp_path_factory.mktemp("finished") / "run"
    train(tiny_train_config(clean_dir), run)
    return run


# ==== 1. checkpoints and weight files are untrusted input ==========================================

class RunsCode:
    """Unpickling this object creates a marker file: the proof that a loader executed code from a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple:
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def malicious_bytes(kind: str, marker: Path) -> bytes:
    """A checkpoint-shaped file whose loading would run RunsCode, in every container torch.load accepts."""
    payload = {"kind": "cyclegan", "step": 1, "config": {}, "nets": {"G": RunsCode(marker)}}
    if kind.startswith("pickle-p"):
        return pickle.dumps(payload, protocol=int(kind.removeprefix("pickle-p")))
    buf = io.BytesIO()
    torch.save(payload, buf, _use_new_zipfile_serialization=kind == "torch-zip")
    return buf.getvalue()


MALICIOUS = ["pickle-p0", "pickle-p2", "pickle-p5", "torch-zip", "torch-legacy"]


def test_the_payload_really_runs_code_when_unpickled(tmp_path: Path) -> None:
    """Guards the tests below: the payload is live, so 'marker absent' there means 'refused', not 'inert'."""
    marker = tmp_path / "ran"
    pickle.loads(malicious_bytes("pickle-p2", marker))
    assert marker.exists()


@pytest.mark.parametrize("kind", MALICIOUS)
@pytest.mark.parametrize("name", ["evil.pt", "evil.safetensors"])
def test_pickled_weights_given_to_denoise_are_refused_unrun(tmp_path: Path, kind: str, name: str) -> None:
    marker = tmp_path / "ran"
    evil = tmp_path / name
    evil.write_bytes(malicious_bytes(kind, marker))
    write_image(tmp_path / "in" / "a.png", noise_image(16, 16))
    result = cli("denoise", tmp_path / "in", "-o", tmp_path / "out", "--checkpoint", evil, "--device", "cpu")
    line = one_line_error(result, str(evil))
    assert "pickle" in line or "not a valid safetensors file" in line
    assert not marker.exists()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("kind", MALICIOUS)
def test_pickled_checkpoint_given_to_train_resume_is_refused_unrun(tmp_path: Path, kind: str) -> None:
    marker = tmp_path / "ran"
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "step_0000001.pt").write_bytes(malicious_bytes(kind, marker))
    result = cli("train", "--resume", run)
    one_line_error(result, "step_0000001.pt", "refused")
    assert not marker.exists()


@pytest.mark.parametrize("kind", MALICIOUS)
def test_pickled_checkpoint_given_to_refine_resume_is_refused_unrun(tmp_path: Path, kind: str) -> None:
    marker = tmp_path / "ran"
    run = tmp_path / "run"
    (run / "refine" / "checkpoints").mkdir(parents=True)
    (run / "refine" / "checkpoints" / "step_0000001.pt").write_bytes(malicious_bytes(kind, marker))
    result = cli("refine", run, "--resume")
    one_line_error(result, "step_0000001.pt", "refused")
    assert not marker.exists()


def test_refusing_a_checkpoint_prints_nothing_but_the_error(tmp_path: Path) -> None:
    """torch warns about some pickle protocols while refusing them; the user should see one line, not three."""
    path = tmp_path / "step_0000001.pt"
    path.write_bytes(malicious_bytes("pickle-p5", tmp_path / "ran"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(WeightsError, match="refused"):
            load_checkpoint(path)
    assert [str(w.message) for w in caught] == []


def test_refine_source_weights_that_are_a_pickle_are_refused(finished_run: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text((finished_run / "config.json").read_text())
    (run / "F.safetensors").write_bytes((finished_run / "F.safetensors").read_bytes())
    (run / "G.safetensors").write_bytes(malicious_bytes("torch-zip", marker))
    result = cli("refine", run, "-o", tmp_path / "out", "--steps", "2", "--batch-size", "2", "--patch-size", "32",
                 "--workers", "0", "--device", "cpu")
    one_line_error(result, "G.safetensors", "pickle")
    assert not marker.exists()


def _valid_train_state(clean_dir: Path) -> dict:
    return {"kind": "cyclegan", "step": 1, "config": to_dict(tiny_train_config(clean_dir))}


DAMAGED_TRAIN = {
    "no-config": lambda cfg: {"kind": "cyclegan", "step": 1},
    "config-not-a-dict": lambda cfg: {**cfg, "config": "steps=10"},
    "unknown-config-field": lambda cfg: {**cfg, "config": {**cfg["config"], "stepz": 3}},
    "config-wrong-type": lambda cfg: {**cfg, "config": {**cfg["config"], "steps": "ten"}},
    "nested-config-wrong-type": lambda cfg: {**cfg, "config": {**cfg["config"], "model": [1, 2]}},
    "no-weights": lambda cfg: cfg,
    "weights-not-tensors": lambda cfg: {**cfg, "nets": {"G": [1], "F": {}, "D_clean": {}, "D_noisy": {}}},
}


@pytest.mark.parametrize("case", sorted(DAMAGED_TRAIN))
def test_damaged_but_safe_train_checkpoint_is_a_one_line_error(clean_dir: Path, tmp_path: Path, case: str) -> None:
    """Plain tensors and dicts pass the safe unpickler; content that does not fit is still an error, not a
    traceback (a checkpoint from another version, a hand-edited one, a different run's)."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    torch.save(DAMAGED_TRAIN[case](_valid_train_state(clean_dir)), run / "checkpoints" / "step_0000001.pt")
    one_line_error(cli("train", "--resume", run), str(run))


@pytest.mark.parametrize("case", ["no-weights", "config-wrong-type", "optimizer-of-another-net"])
def test_damaged_but_safe_refine_checkpoint_is_a_one_line_error(finished_run: Path, tmp_path: Path,
                                                                case: str) -> None:
    cfg = to_dict(RefineConfig(run_dir=str(finished_run), steps=4, batch_size=2, patch_size=32, workers=0,
                               device="cpu"))
    state: dict = {"kind": "refine", "step": 1, "config": cfg}
    if case == "config-wrong-type":
        state["config"] = {**cfg, "lr": "fast"}
    if case == "optimizer-of-another-net":
        g = load_generator(finished_run / "G.safetensors")[0]
        other = torch.optim.Adam([nn.Parameter(torch.zeros(3))])
        state.update(g=g.state_dict(), opt=other.state_dict(), sched={}, rng={})
    out = tmp_path / "refined"
    (out / "checkpoints").mkdir(parents=True)
    torch.save(state, out / "checkpoints" / "step_0000001.pt")
    one_line_error(cli("refine", finished_run, "-o", out, "--resume"), str(out))


def test_corrupt_run_config_is_a_one_line_error_for_refine(finished_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "G.safetensors").write_bytes((finished_run / "G.safetensors").read_bytes())
    (run / "config.json").write_text('{"model": ')  # cut short by a crash or a bad copy
    one_line_error(cli("refine", run, "-o", tmp_path / "out", "--device", "cpu"), "config.json")


def forged_generator(tensors_from: GeneratorConfig, claimed: object, seed: int = 0) -> bytes:
    """A safetensors file holding one architecture's tensors under another's (or any) claimed config."""
    torch.manual_seed(seed)
    state = {k: v.contiguous() for k, v in build_generator(tensors_from).state_dict().items()}
    config = claimed if isinstance(claimed, str) else json.dumps(claimed)
    return st_save(state, metadata={"format": FORMAT, "config": config, "meta": "{}"})


@pytest.mark.parametrize("cut", [0, 4, 8, 40, 0.5, -1])
def test_truncated_safetensors_is_a_one_line_error(weights: Path, tmp_path: Path, cut: float) -> None:
    data = weights.read_bytes()
    end = int(len(data) * cut) if isinstance(cut, float) else (len(data) + cut if cut < 0 else cut)
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(data[:end])
    write_image(tmp_path / "a.png", noise_image(16, 16))
    line = one_line_error(cli("denoise", tmp_path / "a.png", "-o", tmp_path / "out", "-c", bad, "--device", "cpu"),
                          str(bad))
    assert "truncated or corrupt" in line


@pytest.mark.parametrize("tensors_from, claimed, needles", [
    # width 8 tensors, config says 16: the first tensor that differs is named with both shapes
    (replace(TINY_G, width=8), asdict(replace(TINY_G, width=16)), ["has shape (8,", "expects (16,", "width"]),
    # a 1-channel net's tensors in a file that claims 3 channels
    (replace(TINY_G, channels=1), asdict(replace(TINY_G, channels=3)), ["shape", "expects", "channels"]),
    # one U-Net level more than the tensors have: the missing tensors are named
    (TINY_G, asdict(replace(TINY_G, depth=2)), ["do not match the architecture", "missing"]),
    # the tensors of a ResNet under a U-Net config
    (replace(TINY_G, arch="resnet"), asdict(TINY_G), ["do not match the architecture", "unexpected"]),
])
def test_safetensors_for_another_architecture_names_the_mismatch(tmp_path: Path, tensors_from: GeneratorConfig,
                                                                 claimed: dict, needles: list[str]) -> None:
    bad = tmp_path / "other.safetensors"
    bad.write_bytes(forged_generator(tensors_from, claimed))
    write_image(tmp_path / "a.png", noise_image(16, 16))
    one_line_error(cli("denoise", tmp_path / "a.png", "-o", tmp_path / "out", "-c", bad, "--device", "cpu"),
                   str(bad), *needles)


def test_safetensors_without_our_metadata_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "plain.safetensors"
    bad.write_bytes(st_save({"w": torch.zeros(3)}))
    write_image(tmp_path / "a.png", noise_image(16, 16))
    one_line_error(cli("denoise", tmp_path / "a.png", "-o", tmp_path / "out", "-c", bad, "--device", "cpu"),
                   str(bad), "metadata")


HOSTILE_CONFIGS = {
    # each would make a naive loader allocate terabytes, loop for hours or crash with a traceback
    "huge-width": asdict(replace(TINY_G, width=2**40)),
    "deep": asdict(replace(TINY_G, depth=60)),
    "many-blocks": asdict(replace(TINY_G, blocks=10**9)),
    "plausible-config-but-not-what-the-file-holds": asdict(replace(TINY_G, width=4096)),  # 10 GB of weights
    "negative-width": asdict(replace(TINY_G, width=-3)),
    "zero-channels": asdict(replace(TINY_G, channels=0)),
    "width-as-text": {**asdict(TINY_G), "width": "abc"},
    "width-as-float": {**asdict(TINY_G), "width": 4.5},
    "unknown-arch": asdict(replace(TINY_G, arch="evil")),
    "config-is-a-list": ["width", "depth"],
    "config-is-null": None,
    "config-not-json": "{width: 4",
}


@pytest.mark.parametrize("case", sorted(HOSTILE_CONFIGS))
def test_hostile_generator_metadata_is_refused_before_allocating(tmp_path: Path, case: str) -> None:
    bad = tmp_path / f"{case}.safetensors"
    bad.write_bytes(forged_generator(TINY_G, HOSTILE_CONFIGS[case]))
    start = time.perf_counter()
    # the file holds ~10 KB of tensors; 1 GB is plenty for refusing it
    with memory_ceiling(1 << 30), pytest.raises(WeightsError) as info:
        load_generator(bad)
    assert time.perf_counter() - start < 10
    message = str(info.value)
    assert message.startswith(str(bad)) and "\n" not in message


def test_hostile_generator_metadata_via_the_cli(tmp_path: Path) -> None:
    bad = tmp_path / "bomb.safetensors"
    bad.write_bytes(forged_generator(TINY_G, asdict(replace(TINY_G, depth=60))))
    write_image(tmp_path / "a.png", noise_image(16, 16))
    with memory_ceiling(1 << 30):
        result = cli("denoise", tmp_path / "a.png", "-o", tmp_path / "out", "-c", bad, "--device", "cpu")
    one_line_error(result, str(bad))


# ==== 2. images are untrusted input =================================================================

def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_claiming(width: int, height: int, bit_depth: int = 8, colour_type: int = 2, idat: bytes | None = None) -> bytes:
    """A structurally valid PNG (correct CRCs) whose header claims any size; the pixel data is `idat`."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64) if idat is None else idat
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))


def one_bit_png_bomb(side: int) -> bytes:
    """A real bomb: a side x side 1-bit PNG of zeros, fully valid, ~side^2/8 bytes raw, a few KB on disk."""
    row = b"\x00" * (1 + (side + 7) // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    return png_claiming(side, side, bit_depth=1, colour_type=0, idat=idat)


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small valid JPEG whose SOF0 header is rewritten to claim width x height."""
    buf = io.BytesIO()
    Image.fromarray(noise_image(16, 16)).save(buf, format="JPEG", quality=90)
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def encoded(pixels: np.ndarray, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt, **kw)
    return buf.getvalue()


def smooth_rgb(h: int, w: int) -> np.ndarray:
    """A photo-like image (compresses like one, so a cut file is cut inside the pixel data)."""
    photo = load_sample("astronaut")
    return np.ascontiguousarray(np.tile(photo, (h // photo.shape[0] + 1, w // photo.shape[1] + 1, 1))[:h, :w])


def write_broken_images(folder: Path) -> dict[str, str]:
    """Broken or hostile files; value: what the one-line reason must say."""
    folder.mkdir(parents=True, exist_ok=True)
    png, jpg = encoded(smooth_rgb(48, 64), "PNG"), encoded(smooth_rgb(48, 64), "JPEG", quality=90)
    (folder / "truncated.png").write_bytes(png[: len(png) * 6 // 10])
    (folder / "truncated.jpg").write_bytes(jpg[: len(jpg) * 6 // 10])
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.jpg").write_text("this is a note, not a JPEG\n")
    (folder / "bomb.png").write_bytes(png_claiming(60000, 60000))
    (folder / "bomb.jpg").write_bytes(jpeg_claiming(65000, 65000))
    return {"truncated.png": "truncated or corrupt", "truncated.jpg": "truncated or corrupt",
            "empty.png": "empty file", "text.jpg": "not a readable image file",
            "bomb.png": "60000x60000 pixels is over the 200 MP limit", "bomb.jpg": "65000x65000 pixels is over"}


def write_odd_images(folder: Path) -> dict[str, tuple[tuple[int, ...], type]]:
    """Valid files in every awkward mode; value: the (shape, dtype) they must decode to and come back as."""
    folder.mkdir(parents=True, exist_ok=True)
    rgb = smooth_rgb(20, 30)
    rng = np.random.default_rng(7)
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "palette.png")
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "palette_alpha.png",
                                                                           transparency=0)
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    Image.fromarray(noise_image(20, 30, 2, seed=1), mode="LA").save(folder / "gray_alpha.png")
    gray16, rgb16 = noise_image(20, 30, 1, np.uint16, seed=2), noise_image(20, 30, 3, np.uint16, seed=3)
    cv2.imwrite(str(folder / "gray16.png"), gray16[..., 0])
    cv2.imwrite(str(folder / "rgb16.png"), rgb16[..., ::-1])
    tifffile.imwrite(folder / "gray16.tif", gray16[..., 0])
    tifffile.imwrite(folder / "rgb16.tif", rgb16, photometric="rgb")
    tifffile.imwrite(folder / "float32.tif", rng.random((20, 30, 3), dtype=np.float32), photometric="rgb")
    tifffile.imwrite(folder / "float32_gray.tif", rng.random((20, 30), dtype=np.float32))
    write_image(folder / "one_pixel.png", rgb[:1, :1])
    write_image(folder / "strip_3x5000.png", smooth_rgb(3, 5000))
    write_image(folder / "strip_5000x3.png", smooth_rgb(5000, 3))
    write_image(folder / "name with spaces.png", rgb)
    write_image(folder / "ünïcødé 猫 画像.png", rgb)
    u8, u16 = np.uint8, np.uint16
    return {"palette.png": ((20, 30, 3), u8), "palette_alpha.png": ((20, 30, 4), u8), "cmyk.jpg": ((20, 30, 3), u8),
            "gray_alpha.png": ((20, 30, 2), u8), "gray16.png": ((20, 30, 1), u16), "rgb16.png": ((20, 30, 3), u16),
            "gray16.tif": ((20, 30, 1), u16), "rgb16.tif": ((20, 30, 3), u16), "float32.tif": ((20, 30, 3), u16),
            "float32_gray.tif": ((20, 30, 1), u16), "one_pixel.png": ((1, 1, 3), u8),
            "strip_3x5000.png": ((3, 5000, 3), u8), "strip_5000x3.png": ((5000, 3, 3), u8),
            "name with spaces.png": ((20, 30, 3), u8), "ünïcødé 猫 画像.png": ((20, 30, 3), u8)}


def test_a_batch_of_odd_and_broken_images(weights: Path, tmp_path: Path) -> None:
    """Every valid file comes back with its shape, bit depth and alpha; every broken one is a one-line failure
    naming it; the batch goes on past them; the exit code is 1 because some failed."""
    good, bad, out = tmp_path / "good", tmp_path / "bad", tmp_path / "out"
    expected = write_odd_images(good)
    reasons = write_broken_images(bad)
    result = cli("denoise", good, bad, "-o", out, "-c", weights, "--device", "cpu", "--tile", "64", "--overlap", "8")
    assert result.exit_code == 1, (result.output, repr(result.exception))
    failed = failed_rows(result.stdout)
    assert {Path(f).name for f in failed} == set(reasons), failed
    for file, reason in failed.items():
        assert reasons[Path(file).name] in reason, (file, reason)
    for name, (shape, dtype) in expected.items():
        source = read_image(good / name).pixels
        assert (source.shape, source.dtype) == (shape, dtype), name  # decoded as the mode says
        written = read_image(out / name).pixels
        assert (written.shape, written.dtype) == (shape, dtype), name
        if shape[2] in (2, 4):
            np.testing.assert_array_equal(written[..., -1], source[..., -1], err_msg=name)
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)  # nothing for the broken ones
    only_good = cli("denoise", good, "-o", tmp_path / "out2", "-c", weights, "--device", "cpu", "--tile", "64")
    assert only_good.exit_code == 0, only_good.output  # nothing failed this time
    assert sorted(p.name for p in (tmp_path / "out2").iterdir()) == sorted(expected)


def test_names_with_spaces_and_non_ascii_given_directly(weights: Path, tmp_path: Path) -> None:
    folder = tmp_path / "my photos ✓"
    write_image(folder / "été à la plage.jpg", smooth_rgb(24, 32))
    result = cli("denoise", folder / "été à la plage.jpg", "-o", tmp_path / "sortie é", "-c", weights, "--device", "cpu",
                 "--suffix", " (clean)")
    assert result.exit_code == 0, result.output
    assert read_image(tmp_path / "sortie é" / "été à la plage (clean).jpg").pixels.shape == (24, 32, 3)


def test_a_decompression_bomb_is_refused_before_any_pixel_is_allocated(tmp_path: Path) -> None:
    """A valid 400 MP 1-bit PNG of a few KB: refused from its header, quickly, within a small memory budget
    (decoding it would need 400 MB as 8-bit, far more as a float tile buffer)."""
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(one_bit_png_bomb(20000))
    assert bomb.stat().st_size < 200_000
    start = time.perf_counter()
    with memory_ceiling(200 << 20), pytest.raises(ImageReadError, match="20000x20000 pixels is over the 200 MP") as info:
        read_image(bomb)
    assert time.perf_counter() - start < 1.0
    assert str(info.value).startswith(str(bomb)) and "\n" not in str(info.value)
    with pytest.raises(ImageReadError, match="over the"):  # a lower limit applies the same way
        read_image(bomb, max_pixels=10_000)


@pytest.mark.parametrize("name, data", [
    pytest.param("claims.png", png_claiming(60000, 60000), id="png"),
    pytest.param("claims.jpg", jpeg_claiming(65000, 65000), id="jpeg"),
])
def test_header_only_bombs_are_refused_quickly(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with pytest.raises(ImageReadError, match="over the 200 MP limit"):
        read_image(path)
    assert time.perf_counter() - start < 0.5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 50_000  # KiB: no big allocation


# ==== 3. properties: the tiler and the noise models =================================================

class Identity(nn.Module):
    """Returns its input: any misplaced, mis-cropped or mis-weighted tile breaks exact equality."""

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        self.in_channels, self.stride = channels, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone()


def _tiny_unet(channels: int) -> nn.Module:
    torch.manual_seed(channels)
    return build_generator(replace(TINY_G, channels=channels)).eval()


TINY_NETS = {1: _tiny_unet(1), 3: _tiny_unet(3)}
PROPERTY = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    print_blob=True)


@st.composite
def images(draw: st.DrawFn, max_side: int = 40) -> np.ndarray:
    """HxW or HxWxC (C 1-4) uint8/uint16 images, 1 px wide or tall included, values from the whole range."""
    h, w = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    dtype = draw(st.sampled_from([np.uint8, np.uint16]))
    channels = draw(st.sampled_from([None, 1, 2, 3, 4]))
    img = noise_image(h, w, channels or 1, dtype, seed=draw(st.integers(0, 2**16)))
    return img[..., 0] if channels is None else img


infer_configs = st.builds(InferConfig, tile=st.sampled_from([0, 1, 7, 8, 16, 24, 33, 64]),
                          overlap=st.integers(0, 24), batch_size=st.integers(1, 4), device=st.just("cpu"))


@PROPERTY
@given(img=images(), cfg=infer_configs, net_channels=st.sampled_from([1, 3]))
def test_tiler_returns_same_shape_and_dtype_with_alpha_untouched(img: np.ndarray, cfg: InferConfig,
                                                                 net_channels: int) -> None:
    out = denoise_array(TINY_NETS[net_channels], img, cfg)
    assert out.shape == img.shape and out.dtype == img.dtype
    if img.ndim == 3 and img.shape[2] in (2, 4):
        np.testing.assert_array_equal(out[..., -1], img[..., -1])


@PROPERTY
@given(img=images(max_side=48), cfg=infer_configs, net_channels=st.sampled_from([1, 3]),
       stride=st.sampled_from([1, 2, 4, 8]))
def test_tiler_with_an_identity_net_gives_the_input_back_exactly(img: np.ndarray, cfg: InferConfig, net_channels: int,
                                                                 stride: int) -> None:
    out = denoise_array(Identity(net_channels, stride), img, cfg)
    np.testing.assert_array_equal(out, img)


@st.composite
def noise_specs(draw: st.DrawFn) -> str:
    """Any valid spec text: 1-2 alternatives of 1-3 stages, every model, fixed values and lo-hi ranges,
    defaults left out or given, any float inside each parameter's limits."""
    def number(lo: float, hi: float) -> float:
        return draw(st.floats(lo, hi, allow_nan=False, allow_infinity=False)) + 0.0

    def stage() -> str:
        model = MODELS[draw(st.sampled_from(sorted(MODELS)))]
        parts = []
        for param in model.params:
            if param in model.defaults and draw(st.booleans()):
                continue
            values = sorted(number(*model.limits[param]) for _ in range(draw(st.sampled_from([1, 2]))))
            lo, hi = values[0], values[-1]
            text = lambda v: np.format_float_positional(v, trim="-")  # no exponent: its '-' would split a range
            parts.append(f"{param}={text(lo)}" if lo == hi else f"{param}={text(lo)}-{text(hi)}")
        return f"{model.name}:" + ",".join(parts)

    chains = ["+".join(stage() for _ in range(draw(st.integers(1, 3)))) for _ in range(draw(st.integers(1, 2)))]
    return " | ".join(chains)


@PROPERTY
@given(text=noise_specs(), img=images(max_side=12), seed=st.integers(0, 2**63 - 1))
def test_noise_models_keep_shape_dtype_and_alpha_and_are_deterministic_per_seed(text: str, img: np.ndarray,
                                                                                 seed: int) -> None:
    spec = parse_noise_spec(text)
    out, drawn = spec.apply(img, seed)
    assert out.shape == img.shape and out.dtype == img.dtype
    if img.ndim == 3 and img.shape[2] in (2, 4):
        np.testing.assert_array_equal(out[..., -1], img[..., -1])
    again, drawn_again = spec.apply(img.copy(), seed)
    np.testing.assert_array_equal(out, again)
    assert drawn == drawn_again


@PROPERTY
@given(text=noise_specs())
def test_a_spec_written_to_a_manifest_parses_back_to_the_same_spec(text: str) -> None:
    """`synth` stores str(spec) in its manifest and `benchmark` re-parses it: that must reproduce the noise
    exactly, so printing a spec may not round or use a notation the grammar cannot read."""
    spec = parse_noise_spec(text)
    assert parse_noise_spec(str(spec)) == spec


# ==== 4. nothing is lost: killed and interrupted runs ===============================================

def launch(args: list[object], logs: Path) -> subprocess.Popen:
    """`denoise-gan ARGS` as a real process (its own signals, its own exit), output to files, not pipes."""
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / "stdout").open("w") as out, (logs / "stderr").open("w") as err:
        return subprocess.Popen([sys.executable, "-m", "denoise_gan", *map(str, args)], env=CHILD_ENV,
                                stdout=out, stderr=err)


def output_of(logs: Path) -> str:
    return (logs / "stdout").read_text() + (logs / "stderr").read_text()


def wait_until(ready: Callable[[], bool], proc: subprocess.Popen, logs: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"process ended (rc {proc.returncode}) before the moment to interrupt it:\n"
                        f"{output_of(logs)[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail(f"timed out waiting for the process:\n{output_of(logs)[-3000:]}")
        time.sleep(0.02)


def pace(progress: Callable[[], int], proc: subprocess.Popen, logs: Path, after: int = 1) -> float:
    """Seconds per unit of progress (checkpoints, files), timed from unit `after` to the next: the steady
    pace, without one-off costs such as the first plot's imports."""
    wait_until(lambda: progress() >= after, proc, logs)
    first = time.monotonic()
    wait_until(lambda: progress() >= after + 1, proc, logs)
    return time.monotonic() - first


def interrupt_at_random(proc: subprocess.Popen, sig: int, max_delay: float, logs: Path) -> float:
    """Send `sig` after a random delay; the process must still be running then (else the test proves nothing).
    Callers bound the delay by the measured pace, so this holds on fast and slow machines alike."""
    delay = random.uniform(0, max_delay)
    time.sleep(delay)
    assert proc.poll() is None, f"finished within {delay:.2f}s, before the signal; lengthen the run"
    proc.send_signal(sig)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"did not exit within 60 s of signal {sig} sent after {delay:.2f}s:\n{output_of(logs)[-3000:]}")
    return delay


def read_log(run: Path) -> list[dict[str, str]]:
    with (run / "log.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def assert_log_is_whole(run: Path, steps: int, every: int) -> None:
    """One row per logged step from the first to the last, none repeated or lost by the interruption."""
    assert [int(r["step"]) for r in read_log(run)] == list(range(every, steps + 1, every))


def checkpoints_saved(run: Path) -> Callable[[], int]:
    """Progress of a run with --save-every 2: how many checkpoints it has written so far."""
    return lambda: max((step for step, _ in list_checkpoints(run / "checkpoints")), default=0) // 2


def assert_latest_checkpoint_loads(run: Path, kind: str) -> int:
    found = list_checkpoints(run / "checkpoints")
    assert found, "no checkpoint survived"
    step, path = found[-1]
    state = load_checkpoint(path)
    assert state["kind"] == kind and state["step"] == step
    return step


def test_sigkill_during_train_loses_nothing_and_resume_finishes(clean_dir: Path, tmp_path: Path) -> None:
    run, logs = tmp_path / "run", tmp_path / "logs"
    proc = launch(["train", "--clean", clean_dir, "--noise", "gaussian:sigma=25", "-o", run, "--steps", "16",
                   *TINY_TRAIN_FLAGS], logs)
    per_save = pace(checkpoints_saved(run), proc, logs, after=2)
    delay = interrupt_at_random(proc, signal.SIGKILL, 0.6 * 5 * per_save, logs)  # 5 of 8 saves to go
    step = assert_latest_checkpoint_loads(run, "cyclegan")
    assert step < 16, delay
    resumed = cli("train", "--resume", run)
    assert resumed.exit_code == 0, (delay, resumed.output, repr(resumed.exception))
    assert f"resuming at step {step}" in resumed.stdout
    assert assert_latest_checkpoint_loads(run, "cyclegan") == 16
    assert_log_is_whole(run, 16, 2)
    assert load_generator(run / "G.safetensors")[2]["step"] == 16
    assert not list((run / "checkpoints").glob(".*.part")), "a save cut short leaves no temp file after resume"


def test_ctrl_c_during_train_saves_the_step_and_says_resume(clean_dir: Path, tmp_path: Path) -> None:
    """SIGTERM takes the same path (tested in-process below, at every moment that matters)."""
    run, logs = tmp_path / "run", tmp_path / "logs"
    proc = launch(["train", "--clean", clean_dir, "--noise", "gaussian:sigma=25", "-o", run, "--steps", "16",
                   *TINY_TRAIN_FLAGS], logs)
    per_save = pace(checkpoints_saved(run), proc, logs, after=2)
    delay = interrupt_at_random(proc, signal.SIGINT, 0.6 * 5 * per_save, logs)
    text = output_of(logs)
    assert proc.returncode == 130, (delay, text[-3000:])
    assert "Traceback" not in text, text[-3000:]
    said = re.search(r"interrupted at step (\d+); checkpoint saved, continue with --resume", text)
    assert said, text[-3000:]
    assert assert_latest_checkpoint_loads(run, "cyclegan") == int(said.group(1))
    resumed = cli("train", "--resume", run)
    assert resumed.exit_code == 0, resumed.output
    assert_log_is_whole(run, 16, 2)


def _signal_self(sig: int) -> None:
    """Deliver `sig` to this process, but only while the run loop's handler is installed: the default
    handlers would end the test session."""
    assert signal.getsignal(sig) not in (signal.default_int_handler, signal.SIG_DFL), "no handler installed"
    os.kill(os.getpid(), sig)


class _SignallingTrainer:
    """A trainer that receives signals at chosen moments: {step index: [signals]} during that step, and
    ("save", step) during the save of that step."""

    log_fields = ("loss",)

    def __init__(self, during: dict[object, list[int]]) -> None:
        self.during, self.saved = during, []

    def step(self, step: int, batch: object) -> dict[str, float]:
        for sig in self.during.get(step, []):
            _signal_self(sig)
        return {"loss": 1.0}

    def lr(self) -> float:
        return 0.1

    def state(self, step: int) -> dict:
        for sig in self.during.get(("save", step), []):
            _signal_self(sig)
        self.saved.append(step)
        return {"kind": "test", "step": step}

    def export(self, run_dir: Path, step: int) -> None:
        pass

    def validate(self, run_dir: Path, step: int) -> dict[str, float]:
        return {}


def _batches(signal_on_first: int | None = None, then_fail: bool = False) -> Iterator[dict]:
    """Endless batches; optionally a signal while the first is fetched, and the loader dying with it (as its
    workers do on a terminal's Ctrl-C)."""
    if signal_on_first is not None:
        _signal_self(signal_on_first)
        if then_fail:
            raise RuntimeError("DataLoader worker (pid 123) exited unexpectedly")
    while True:
        yield {}


INT, TERM = signal.SIGINT, signal.SIGTERM


@pytest.mark.parametrize("start, during, first, fail, saved, says", [
    # (periodic saves every 2 steps) the step in progress finishes, then its checkpoint is saved
    pytest.param(0, {2: [INT]}, None, False, [2, 3], "interrupted at step 3; checkpoint saved, continue with --resume",
                 id="sigint-mid-step"),
    pytest.param(0, {2: [TERM]}, None, False, [2, 3], "interrupted at step 3; checkpoint saved, continue with --resume",
                 id="sigterm-mid-step"),
    pytest.param(4, {}, INT, False, [5], "interrupted at step 5; checkpoint saved, continue with --resume",
                 id="sigint-while-fetching-after-resume"),
    # a signal during a periodic save: that save completes and is not repeated
    pytest.param(0, {("save", 2): [INT]}, None, False, [2], "interrupted at step 2; checkpoint saved",
                 id="sigint-during-save"),
    # Ctrl-C also killed the loader's workers: still a clean stop at the last finished step
    pytest.param(0, {}, INT, True, [], "interrupted before the first step; nothing saved",
                 id="sigint-kills-loader-before-first-step"),
    # a second Ctrl-C stops at once, mid-step, and saves nothing half-done
    pytest.param(0, {3: [INT, INT]}, None, False, [2],
                 "stopped at once at step 3 by a second interrupt, without saving", id="second-sigint"),
])
def test_interrupts_stop_at_a_step_boundary_and_say_what_was_saved(tmp_path: Path, start: int, during: dict,
                                                                    first: int | None, fail: bool, saved: list[int],
                                                                    says: str) -> None:
    trainer = _SignallingTrainer(during)
    console = Console(file=io.StringIO(), width=300)
    (tmp_path / "checkpoints").mkdir()
    handlers = {sig: signal.getsignal(sig) for sig in (INT, TERM)}
    with pytest.raises(KeyboardInterrupt):
        run_loop(trainer, _batches(first, fail), start, Cadence(10, 1, 2, 0, 3), tmp_path, World(), console)
    assert trainer.saved == saved
    assert [s for s, _ in list_checkpoints(tmp_path / "checkpoints")] == saved
    printed = console.file.getvalue()
    assert says in printed, printed
    if not saved and start == 0:
        assert "checkpoint saved" not in printed
    assert {sig: signal.getsignal(sig) for sig in (INT, TERM)} == handlers  # restored


def test_sigkill_during_refine_then_resume_finishes(finished_run: Path, tmp_path: Path) -> None:
    out, logs = tmp_path / "refined", tmp_path / "logs"
    proc = launch(["refine", finished_run, "-o", out, "--steps", "16", "--batch-size", "2", "--patch-size", "32",
                   "--save-every", "2", "--log-every", "2", "--workers", "0", "--device", "cpu"], logs)
    per_save = pace(checkpoints_saved(out), proc, logs, after=2)
    delay = interrupt_at_random(proc, signal.SIGKILL, 0.6 * 5 * per_save, logs)
    step = assert_latest_checkpoint_loads(out, "refine")
    assert step < 16, delay
    resumed = cli("refine", finished_run, "-o", out, "--resume")
    assert resumed.exit_code == 0, (delay, resumed.output, repr(resumed.exception))
    assert assert_latest_checkpoint_loads(out, "refine") == 16
    assert_log_is_whole(out, 16, 2)
    assert load_generator(out / "G.safetensors")[2]["step"] == 16


def test_a_save_cut_short_leaves_only_a_hidden_temp_that_resume_ignores_and_removes(tmp_path: Path) -> None:
    """SIGKILL between writing a checkpoint's temp file and renaming it: simulated exactly in a forked child
    that dies at the rename. The previous checkpoint is still the latest, and the temp is cleaned up later."""
    folder = tmp_path / "checkpoints"
    atomic_write_bytes(folder / "step_0000002.pt", b"old")
    pid = os.fork()
    if pid == 0:  # the child: die hard where a crash hurts most
        os.replace = lambda *a, **k: os._exit(9)  # type: ignore[assignment]
        atomic_write_bytes(folder / "step_0000004.pt", b"new checkpoint bytes")
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 9
    leftovers = [p.name for p in folder.iterdir() if p.name != "step_0000002.pt"]
    assert len(leftovers) == 1 and re.fullmatch(r"\.step_0000004\.pt\..+\.part", leftovers[0]), leftovers
    assert [s for s, _ in list_checkpoints(folder)] == [2]
    prune_checkpoints(folder, keep=3)  # what every later save runs
    assert sorted(p.name for p in folder.iterdir()) == ["step_0000002.pt"]


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
        one_line_error(result, "would overwrite an input")
        (tmp_path / "a.png").unlink()
    assert (src / "a.png").read_bytes() == before


def test_sigkill_during_denoise_leaves_whole_outputs_or_none_and_skip_existing_completes(weights: Path,
                                                                                         tmp_path: Path) -> None:
    src, out, logs = tmp_path / "in", tmp_path / "out", tmp_path / "logs"
    names = [f"img{i}.png" for i in range(8)]
    for i, name in enumerate(names):
        _, buf = cv2.imencode(".png", np.roll(smooth_rgb(768, 1024), 97 * i, axis=1), [cv2.IMWRITE_PNG_COMPRESSION, 1])
        src.mkdir(exist_ok=True)
        (src / name).write_bytes(buf.tobytes())
    proc = launch(["denoise", src, "-o", out, "-c", weights, "--device", "cpu"], logs)
    finals = lambda: [p for p in out.iterdir() if not p.name.startswith(".")] if out.exists() else []
    per_file = pace(lambda: len(finals()), proc, logs)
    delay = interrupt_at_random(proc, signal.SIGKILL, 0.6 * 6 * per_file, logs)  # 6 of 8 files to go
    done = sorted(p.name for p in finals())
    assert 0 < len(done) < len(names), (delay, done)
    assert set(done) <= set(names), done  # no half-written file under a final (or any other) name
    temps = [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert all(re.fullmatch(r"\.img\d\.png\..+\.part", t) for t in temps), temps
    net = load_generator(weights)[0]
    denoiser = TiledDenoiser(net, InferConfig(device="cpu"))
    for name in done:  # each output is the whole, correct image, not a prefix of one
        np.testing.assert_array_equal(read_image(out / name).pixels, denoiser(read_image(src / name).pixels),
                                      err_msg=name)
    before = {name: (out / name).stat().st_mtime_ns for name in done}
    # a temp file left by a kill is never taken as an input, and never counts as an existing output
    (src / ".img0.png.k1ll3d.part").write_bytes(b"\x89PNG half a file")
    (out / f".{names[-1]}.k1ll3d.part").write_bytes(b"\x89PNG half a file")
    assert ".img0.png.k1ll3d.part" not in {p.name for p in collect_images(src)}
    completed = cli("denoise", src, "-o", out, "-c", weights, "--device", "cpu", "--skip-existing")
    assert completed.exit_code == 0, completed.output
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == names
    assert {name: (out / name).stat().st_mtime_ns for name in done} == before  # finished ones were left alone
    for name in names:
        assert read_image(out / name).pixels.shape == (768, 1024, 3), name


# ==== 5. faults: out of memory, half-precision NaN/Inf, a crashing data-loader worker ===============

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


def test_out_of_memory_shrinks_the_tile_retries_and_keeps_the_smaller_tile(weights: Path, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the whole `denoise` path: every file is done, each equals a run at the tile that fits, the
    note tells the user, and later files start at the smaller tile instead of failing again."""
    net = load_generator(weights)[0]
    flaky = OutOfMemoryFirst(net, max_side=64)
    monkeypatch.setattr("denoise_gan.inference.files.load_generator", lambda path: (flaky, TINY_G, {}))
    for i in range(3):
        write_image(tmp_path / "in" / f"{i}.png", noise_image(150, 170, seed=i))
    summary = denoise_files([tmp_path / "in"], tmp_path / "out", weights, OutputOptions(),
                            InferConfig(tile=256, overlap=16, device="cpu"))
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
    den.amp_dtype = torch.bfloat16  # the CUDA half-precision branch, run on the CPU
    out = den(img)
    grid = plan_grid(90, 90, den.tile, cfg.overlap, den.stride)
    holding = sum(y <= 40 < y + grid.tile_h and x <= 45 < x + grid.tile_w for y, x, _ in grid.tiles())
    assert den.net.blown == holding == den.fp32_redos  # only the batches that blew up were redone
    assert any("redone in fp32" in note for note in den.notes)
    np.testing.assert_array_equal(out, denoise_array(net, img, cfg))  # and the result is the fp32 result


def test_nan_in_fp32_fails_that_file_and_writes_nothing(weights: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken(nn.Module):
        in_channels = 3

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * float("nan")

    monkeypatch.setattr("denoise_gan.inference.files.load_generator", lambda path: (Broken(), TINY_G, {}))
    write_image(tmp_path / "in" / "a.png", noise_image(20, 20))
    summary = denoise_files([tmp_path / "in"], tmp_path / "out", weights, OutputOptions(), InferConfig(device="cpu"))
    assert [(r.status, "NaN" in r.message) for r in summary.results] == [("failed", True)]
    assert not (tmp_path / "out" / "a.png").exists()  # never a black image


class DiesInWorker(torch.utils.data.Dataset):
    """A dataset whose worker process dies hard (as on a segfault or the OOM killer), not with an exception."""

    def __len__(self) -> int:
        return 1000

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if torch.utils.data.get_worker_info() is not None:
            os._exit(3)
        return {"clean": torch.zeros(3, 8, 8)}


@contextmanager
def alarm(seconds: int) -> Iterator[None]:
    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"no result within {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_crashing_data_loader_worker_is_a_clear_error_not_a_hang() -> None:
    start = time.monotonic()
    with alarm(60), pytest.raises(UserError, match="data-loading worker failed") as info:
        next(batch_iterator(DiesInWorker(), batch_size=2, start=0, steps=4, world=World(), workers=1, seed=0))
    assert time.monotonic() - start < 30
    assert "\n" not in str(info.value)


def test_signal_to_the_whole_process_group_with_loader_workers_saves_and_resumes(clean_dir: Path,
                                                                                 tmp_path: Path) -> None:
    """A terminal's Ctrl-C (or `kill` of the group) reaches the data-loading workers too. They leave stopping to
    the main process, which finishes its step and saves, instead of dying mid-step and crashing it."""
    run, logs = tmp_path / "run", tmp_path / "logs"
    flags = [f if f != "0" or TINY_TRAIN_FLAGS[i - 1] != "--workers" else "1" for i, f in enumerate(TINY_TRAIN_FLAGS)]
    assert flags[flags.index("--workers") + 1] == "1"
    logs.mkdir()
    with (logs / "stdout").open("w") as out, (logs / "stderr").open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "denoise_gan", "train", "--clean", str(clean_dir), "--noise",
                                 "gaussian:sigma=25", "-o", str(run), "--steps", "400", *flags],
                                env=CHILD_ENV, stdout=out, stderr=err, start_new_session=True)
    wait_until(lambda: checkpoints_saved(run)() >= 2, proc, logs)
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"did not stop within 60 s:\n{output_of(logs)[-3000:]}")
    text = output_of(logs)
    assert proc.returncode == 130, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    said = re.search(r"interrupted at step (\d+); checkpoint saved", text)
    assert said, text[-3000:]
    assert assert_latest_checkpoint_loads(run, "cyclegan") == int(said.group(1))


def test_atomic_writes_get_the_usual_file_permissions(tmp_path: Path) -> None:
    """Temp-file-and-rename must not leave outputs readable only by their owner (mkstemp makes 0600 files)."""
    target = tmp_path / "out.png"
    write_image(target, np.zeros((4, 4, 3), np.uint8))
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
