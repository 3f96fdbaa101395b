"""Helpers the test modules share (imported by name; fixtures live in conftest.py): tiny configs, the CLI
runner, one-line-error checks, memory ceilings, hypothesis strategies and real-process launch/interrupt tools.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from torch import nn
from typer.testing import CliRunner

from data_tools.datasets import PatchSampler
from data_tools.samples import load_sample
from denoise_gan.cli import app
from denoise_gan.config import DataConfig, DiscriminatorConfig, GeneratorConfig, ModelConfig, TrainConfig
from denoise_gan.nets.registry import build_generator
from denoise_gan.nets.run_folder import list_checkpoints
from denoise_gan.nets.weights import load_checkpoint

torch.set_num_threads(1)  # the suite shares two cores with a training job

runner = CliRunner()
WIDE = {"COLUMNS": "400"}  # rich tables one row per line, so a per-file message is one line we can read back
CHILD_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "400", "PYTHONUNBUFFERED": "1"}
TINY_G = GeneratorConfig(width=4, depth=1, blocks=1)
TINY_TRAIN_FLAGS = ["--generator", "unet", "--width", "4", "--depth", "1", "--d-width", "8", "--d-layers", "2",
                    "--patch-size", "32", "--batch-size", "2", "--save-every", "2", "--log-every", "2",
                    "--workers", "0", "--device", "cpu"]


def tiny_train_flags(*extra: object) -> list[object]:
    """TINY_TRAIN_FLAGS (option-value pairs) with the options ``extra`` names replaced by its own, then ``extra``:
    a command names each option once, as a user's must (an option given twice is refused)."""
    named = {str(word) for word in extra if str(word).startswith("-")}
    pairs = zip(TINY_TRAIN_FLAGS[::2], TINY_TRAIN_FLAGS[1::2])
    return [word for name, value in pairs if name not in named for word in (name, value)] + list(extra)


# ---- shared helpers ------------------------------------------------------------------------------

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def benchmark_script(name: str) -> ModuleType:
    """A script of benchmarks/ (no package: loaded from its file) as a module, to test its parts; its folder is on
    the import path, as when Python runs the script, for the shared module the scripts import."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.append(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # where a dataclass in it looks its module up
    spec.loader.exec_module(module)
    return module


def cli(*args: object) -> object:
    return runner.invoke(app, [str(a) for a in args], env=WIDE)


def one_line_error(result: object, *needles: str, code: int = 2, warned: int = 0) -> str:
    """Exit 2 (or ``code``: 1 where the work failed, not the arguments), no traceback, exactly one `error:` line on
    stderr containing every needle, after ``warned`` `warning:` lines (a run's notes, said before it was refused)."""
    assert result.exit_code == code, (result.exit_code, result.output, repr(result.exception))
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    said = [ln for ln in lines[:warned] if ln.startswith("warning:")]
    assert len(said) == warned, result.stderr
    lines = lines[warned:]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def failed_rows(stdout: str) -> dict[str, str]:
    """The `files needing attention` table as {file: reason} for failed rows (one table row per line)."""
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[1] == "failed":
            rows[cells[0]] = cells[2]
    return rows


# What each runtime says when an allocation fails (a `ulimit -v` on the CPU), as tests inject it.
ORT_NO_MEMORY = ("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned while running Conv "
                 "node. Failed to allocate memory for requested buffer of size 1207959552")
TORCH_NO_MEMORY = ("[enforce fail at alloc_cpu.cpp:127] data. DefaultCPUAllocator: can't allocate memory: you "
                   "tried to allocate 1207959552 bytes. Error code 12 (Cannot allocate memory)")


def reordered_metadata(path: Path, out: Path) -> Path:
    """The same weights with the header's metadata keys in reverse order, as another writer may leave them (the
    same content, another sha256)."""
    data = path.read_bytes()
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + length])
    header = {"__metadata__": dict(reversed(header["__metadata__"].items())),
              **{k: v for k, v in header.items() if k != "__metadata__"}}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    out.write_bytes(len(text).to_bytes(8, "little") + text + data[8 + length:])
    return out


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


def tiny_train_config(clean_dir: Path, **kw: object) -> TrainConfig:
    model = ModelConfig(g=TINY_G, f=GeneratorConfig(arch="noise", width=4, depth=1),
                        d=DiscriminatorConfig(width=8, layers=2))
    data = DataConfig(clean_dir=str(clean_dir), noise="gaussian:sigma=25", patch_size=32, batch_size=2, workers=0)
    return replace(TrainConfig(model=model, data=data, steps=2, log_every=2, save_every=2, device="cpu", seed=1),
                   **kw)


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


def signal_group(proc: subprocess.Popen, sig: int, said: Callable[[], str], timeout: float = 60) -> None:
    """Send ``sig`` to the process's whole group (it was started in a session of its own) and wait for the end; one
    that does not stop is killed and the test fails with the end of its output."""
    os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"did not stop within {timeout:g} s of signal {sig}:\n{said()[-3000:]}")


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


def smooth_rgb(h: int, w: int) -> np.ndarray:
    """A photo-like image (compresses like one, so a cut file is cut inside the pixel data)."""
    photo = load_sample("astronaut")
    return np.ascontiguousarray(np.tile(photo, (h // photo.shape[0] + 1, w // photo.shape[1] + 1, 1))[:h, :w])


def _tiny_unet(channels: int) -> nn.Module:
    torch.manual_seed(channels)
    return build_generator(replace(TINY_G, channels=channels)).eval()


TINY_LEVEL = GeneratorConfig(arch="level", width=8, depth=1, blocks=1)


def random_level_net(seed: int = 0) -> nn.Module:
    """A tiny level-aware net whose zero-initialised output layers are randomised, so it changes images."""
    torch.manual_seed(seed)
    net = build_generator(TINY_LEVEL)
    with torch.no_grad():
        for tail in (net.denoiser.tail, net.estimator.tail):
            tail.weight.normal_(0, 0.05)
            tail.bias.normal_(0, 0.05)
    return net.eval()


def texture(shape: tuple[int, ...], dtype: type, seed: int) -> np.ndarray:
    """Seeded random pixels away from black and white (so noise is never clipped much)."""
    rng = np.random.default_rng(seed)
    peak = np.iinfo(dtype).max
    return rng.integers(peak // 5, peak - peak // 5, shape, dtype=np.int64).astype(dtype)


def write_sources(folder: Path, odd_size: bool = False) -> Path:
    """Tiny sources covering RGB, gray, 16-bit RGB and RGBA, one of them in a subfolder (and one of odd size)."""
    from data_tools.images import write_image

    write_image(folder / "a.png", texture((24, 24, 3), np.uint8, 0))
    write_image(folder / "b.png", texture((24, 20, 1), np.uint8, 1))
    write_image(folder / "c.png", texture((20, 24, 3), np.uint16, 2))
    write_image(folder / "sub" / "d.png", texture((24, 24, 4), np.uint8, 3))
    if odd_size:
        write_image(folder / "e.png", texture((17, 23, 3), np.uint8, 4))
    return folder


ADAPT_F = GeneratorConfig(arch="noise", width=4, depth=1)
ADAPT_D = DiscriminatorConfig(width=8, layers=2)


def save_adapt_start(folder: Path, g: GeneratorConfig = TINY_LEVEL, f: GeneratorConfig = ADAPT_F) -> Path:
    """A tiny start model laid out as an adapt output: G, F and D_noisy files."""
    from denoise_gan.nets.discriminators import build_discriminator
    from denoise_gan.nets.registry import init_weights
    from denoise_gan.nets.weights import save_discriminator, save_generator

    torch.manual_seed(0)
    for name, cfg in (("G", g), ("F", f)):
        net = build_generator(cfg)
        init_weights(net)
        role = "G noisy->clean" if name == "G" else "F clean->noisy"
        save_generator(folder / f"{name}.safetensors", net, cfg, {"role": role})
    save_discriminator(folder / "D_noisy.safetensors", build_discriminator(ADAPT_D), ADAPT_D, {"role": "D_noisy"})
    return folder


ADAPT_PHOTOS = ("rocket", "retina", "hubble", "motorcycle", "coffee")


def write_camera_photos(folder: Path, height: int, width: int) -> Path:
    """Five small photos with camera noise (adapt's "your photos"), disjoint from the tests' clean photos."""
    from data_tools.images import write_image
    from data_tools.noise import parse_noise_spec

    spec = parse_noise_spec("camera:peak=60")
    for i, name in enumerate(ADAPT_PHOTOS):
        write_image(folder / f"{name}.png", spec.apply(load_sample(name)[40:40 + height, 60:60 + width], i)[0])
    return folder


def altered_crop_share(photos: list[np.ndarray], **option: float) -> float:
    """The share of 400 seeded crops that a sampler with one crop-altering option (a fraction) returns
    different from a plain sampler's: the crop is drawn first, so with the same seed the two differ exactly
    where the option acted."""
    plain = PatchSampler(photos, 32, 3, 0.0)
    altered = PatchSampler(photos, 32, 3, 0.0, **option)
    return float(np.mean([not np.array_equal(altered.patch(np.random.default_rng([9, i])),
                                             plain.patch(np.random.default_rng([9, i]))) for i in range(400)]))


def free_port() -> int:
    """A TCP port free now, for a torchrun rendezvous (a fixed one collides with a run still letting go of it)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
