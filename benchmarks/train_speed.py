"""Training speed: CycleGAN steps/s for the reference and light configurations, and the level-aware G's
refinement step in fp32, channels_last, bf16 autocast and torch.compile.

    python benchmarks/train_speed.py                 # CPU (and CUDA when present)
    python benchmarks/train_speed.py --steps 5 --device cpu

Each configuration runs warm-up steps, then `--steps` timed steps of the real training step (CycleGAN: both
generators, both discriminators, the pool; refinement: G and its level estimator on 16 patches of 64^2) on
synthetic-noise patches of the bundled samples. Whether bf16 pays depends on the CPU: it needs AVX-512 BF16
or AMX; on a CPU with AVX2 only, PyTorch emulates it and a step is many times slower than in fp32.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import torch
from script_args import positive_int, run_script

from data_tools.datasets import PatchSampler, UnpairedPatches
from data_tools.noise import parse_noise_spec
from data_tools.samples import TRAIN_POOL, load_sample
from denoise_gan.config import DataConfig, DiscriminatorConfig, GeneratorConfig, ModelConfig, TrainConfig
from denoise_gan.nets.registry import count_parameters
from denoise_gan.runtime import World
from denoise_gan.training.cyclegan import CycleGANTrainer


@dataclass(frozen=True)
class Case:
    name: str
    model: ModelConfig
    batch_size: int
    patch_size: int


CASES = (
    Case("reference: ResNet-9 G (ngf 64), 70x70 PatchGAN (ndf 64)",
         ModelConfig(g=GeneratorConfig(arch="resnet", width=64, blocks=9), d=DiscriminatorConfig(width=64)), 4, 64),
    Case("light (shipped stage 1): U-Net 16/3/1 G, SN PatchGAN ndf 32",
         ModelConfig(d=DiscriminatorConfig(spectral_norm=True)), 8, 64),
)


def measure(case: Case, device: torch.device, steps: int, warmup: int) -> dict[str, float]:
    cfg = TrainConfig(model=case.model, data=DataConfig(batch_size=case.batch_size, patch_size=case.patch_size),
                      steps=steps + warmup, device=str(device))
    images = [load_sample(n) for n in TRAIN_POOL[:4]]
    spec = parse_noise_spec("gaussian:sigma=25")
    data = UnpairedPatches(PatchSampler(images, case.patch_size, 3, 0.0),
                           PatchSampler(images, case.patch_size, 3, 0.0, spec), seed=0)
    batches = [torch.utils.data.default_collate([data[i * case.batch_size + b] for b in range(case.batch_size)])
               for i in range(steps + warmup)]
    trainer = CycleGANTrainer(cfg, device, World())
    for i in range(warmup):
        trainer.step(i, batches[i])
    synchronize(device)
    start = time.perf_counter()
    for i in range(warmup, warmup + steps):
        trainer.step(i, batches[i])
    synchronize(device)
    seconds = (time.perf_counter() - start) / steps
    pixels = case.batch_size * case.patch_size**2
    return {"s_per_step": seconds, "it_s": 1 / seconds, "mpix_s": pixels / seconds / 1e6,
            "g_params_m": count_parameters(trainer.nets.g) / 1e6}


REFINE_VARIANTS = ("fp32", "fp32 channels_last", "bf16 autocast + channels_last", "fp32 torch.compile")


def measure_refine(variant: str, steps: int, warmup: int, device: torch.device) -> float:
    """Seconds per refinement step of a level-aware G (+ estimator), 16x64^2, L1 losses, Adam."""
    import torch.nn.functional as nnf

    from denoise_gan.nets.registry import build_generator, init_weights

    torch.manual_seed(0)
    g = build_generator(GeneratorConfig(arch="level", width=32, depth=2, blocks=2))
    init_weights(g)
    g = g.to(device)
    channels_last = "channels_last" in variant
    if channels_last:
        g = g.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(g.parameters(), lr=1e-4)
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=variant.startswith("bf16"))
    denoiser, estimator = g.denoiser, g.estimator
    if "compile" in variant:
        denoiser, estimator = torch.compile(denoiser), torch.compile(estimator)
    clean = torch.rand(16, 3, 64, 64, device=device)
    level = torch.full_like(clean, 25 / 255)
    noisy = clean + torch.randn_like(clean) * level
    if channels_last:
        clean, level, noisy = (t.contiguous(memory_format=torch.channels_last) for t in (clean, level, noisy))

    def step() -> None:
        with amp:
            loss = nnf.l1_loss(denoiser(noisy, level).float(), clean) + nnf.l1_loss(estimator(noisy).float(), level)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return (time.perf_counter() - start) / steps


def synchronize(device: torch.device) -> None:
    """CUDA runs asynchronously: a timer must wait for the queued kernels."""
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=positive_int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default="auto", help="auto = cpu, plus cuda when present")
    args = parser.parse_args()
    if args.device != "auto":  # a typo or a missing GPU is said now, not as torch's traceback inside the first case
        try:
            device = torch.device(args.device)
        except RuntimeError:
            parser.error(f"--device {args.device}: not a torch device (auto, cpu, cuda, cuda:1, ...)")
        if device.type == "cuda" and not torch.cuda.is_available():
            parser.error(f"--device {args.device}: torch sees no CUDA device here")
    devices = [torch.device(args.device)] if args.device != "auto" else (
        [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else []))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    print(f"{'device':6}  {'configuration':58} {'batch':>9} {'G M':>5} {'s/step':>7} {'it/s':>6} {'Mpix/s':>7}")
    for device in devices:
        for case in CASES:
            r = measure(case, device, args.steps, args.warmup)
            print(f"{device.type:6}  {case.name:58} {case.batch_size}x{case.patch_size}^2 {r['g_params_m']:5.2f} "
                  f"{r['s_per_step']:7.3f} {r['it_s']:6.2f} {r['mpix_s']:7.4f}", flush=True)
    for device in devices:
        print(f"\nrefinement step of the level-aware G (1.2 M with its estimator), 16x64^2, {device.type}:")
        for variant in REFINE_VARIANTS:
            try:
                seconds = measure_refine(variant, args.steps, max(1, args.warmup), device)
            except Exception as exc:  # noqa: BLE001 - e.g. torch.compile without a working C++ toolchain
                print(f"  {variant:34} failed: {str(exc).splitlines()[0][:80]}")
                continue
            print(f"  {variant:34} {seconds:7.3f} s/step {1 / seconds:6.2f} it/s", flush=True)


if __name__ == "__main__":
    run_script(main)
