"""Unpaired CycleGAN training: G noisy->clean, F clean->noisy, D_clean and D_noisy.

The step is written in the paper's order: generators first (adversarial + cycle + identity), then the
discriminators on a history pool of fakes. One change from the reference, measured here: no cycle gradient
reaches F, which learns from its own objective alone (``noise_objective``: adversarial, noise statistics,
identity). Letting the cycle's gradient into F rewards noise that is easy to undo, and F collapses to adding
none; stopped at F's output, F's noise tracks the noisy domain. The backward cycle
F(G(y)) ~ y keeps the reference's weight for G, though F draws fresh noise and cannot give back y's own: it is
lowest for a G that leaves the noise in, so the forward cycle is what teaches G to denoise (and ``refine``'s
pseudo-pairs make the shipped G).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from rich.console import Console
from torch import nn

from data_tools.atomic_files import FolderBusyError
from data_tools.datasets import PatchSampler, UnpairedPatches, build_domains
from data_tools.output_folders import refuse_output_inside_inputs
from data_tools.training_folders import noisy_drawn_from_clean, val_drawn_from_training
from denoise_gan.config import TrainConfig
from denoise_gan.config_json import to_dict
from denoise_gan.errors import DataError, UserError
from denoise_gan.nets import losses
from denoise_gan.nets.discriminators import build_discriminator
from denoise_gan.nets.noise_stats import STATISTICS_SETS, StatisticsBank
from denoise_gan.nets.registry import build_generator, check_role, count_parameters, init_weights
from denoise_gan.nets.run_folder import RunFolder
from denoise_gan.nets.weights import load_state, save_generator
from denoise_gan.runtime import World, autocast, training_precision
from denoise_gan.training.batches import batch_iterator
from denoise_gan.training.distributed import average_gradients, broadcast_parameters, holding_run_folder
from denoise_gan.training.input_record import note_inputs
from denoise_gan.training.loop import Cadence, launch
from denoise_gan.training.new_run_inputs import check_train_folders
from denoise_gan.training.noise_objective import draw_noisy, noise_model_loss
from denoise_gan.training.patch_fit import refuse_too_deep
from denoise_gan.training.run_open import discarded_if_refused, open_run, require_config
from denoise_gan.training.run_weights import run_description, write_graph
from denoise_gan.training.schedule import linear_decay, load_optimizer, load_scheduler, rng_state, set_rng_state
from denoise_gan.training.unused_options import unused_options
from denoise_gan.training.validation import LazyValidator
from denoise_gan.warning_line import say_for_the_run


def loss_weights(cfg: TrainConfig) -> tuple[float, float]:
    """The cycle weight λ and the identity weight, which is a share of λ (the reference's 0.5 × 10 = 5): raising λ
    keeps identity in proportion, so colours stay anchored as the cycle tightens."""
    return cfg.lambda_cycle, cfg.lambda_cycle * cfg.lambda_identity


class ImagePool:
    """The reference's history of generated images: D sees old fakes too, which damps oscillation."""

    def __init__(self, size: int, seed: int, image_shape: tuple[int, int, int]) -> None:
        self.size, self.image_shape = size, image_shape
        self.images: list[torch.Tensor] = []
        self.rng = np.random.default_rng(seed)

    def query(self, batch: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return batch
        out = []
        for image in batch.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(_own_copy(image))
                out.append(image)
            elif self.rng.random() < 0.5:
                i = int(self.rng.integers(self.size))
                old = self.images[i].to(batch.device)
                self.images[i] = _own_copy(image)
                out.append(old)
            else:
                out.append(image)
        return torch.cat(out)

    def state(self) -> dict[str, Any]:
        return {"images": list(self.images), "rng": self.rng.bit_generator.state}

    def load(self, state: dict[str, Any]) -> None:
        """A saved pool; one of images of another shape (a foreign or crafted checkpoint) is a ValueError here,
        not a traceback in a later step that draws from it."""
        images = list(state["images"])
        if not all(isinstance(i, torch.Tensor) and i.is_floating_point() and i.shape == (1, *self.image_shape)
                   for i in images):
            raise ValueError(f"its history pool does not hold images of shape {(1, *self.image_shape)}")
        self.images = [_own_copy(image) for image in images]  # a checkpoint saved before stores whole batches
        self.rng.bit_generator.state = state["rng"]


def _own_copy(image: torch.Tensor) -> torch.Tensor:
    """A pooled image on the CPU in storage of its own: on the CPU ``.cpu()`` is a view of the whole batch, which the
    pool then kept alive and every checkpoint saved, batch and all (a default run's pools took 20 MB, not 5)."""
    return image.to("cpu", copy=True)


def set_requires_grad(nets: list[nn.Module], flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


@dataclass
class Nets:
    g: nn.Module
    f: nn.Module
    d_clean: nn.Module
    d_noisy: nn.Module

    def items(self) -> list[tuple[str, nn.Module]]:
        return [("G", self.g), ("F", self.f), ("D_clean", self.d_clean), ("D_noisy", self.d_noisy)]


SHAPE_LR_FACTOR = 10.0  # F's level knots and correlation kernel: a few scalars, each fed by every sample of a batch


def f_optimizer(f: nn.Module, lr: float, betas: tuple[float, float]) -> torch.optim.Adam:
    """Adam for F; a structured noise model trains its shape parameters (level knots, kernel) at a higher rate."""
    special = list(getattr(f, "shape_parameters", list)())
    ids = {id(p) for p in special}
    rest = [p for p in f.parameters() if id(p) not in ids]
    groups = [{"params": rest}] + ([{"params": special, "lr": lr * SHAPE_LR_FACTOR}] if special else [])
    return torch.optim.Adam(groups, lr=lr, betas=betas)


class CycleGANTrainer:
    log_fields: ClassVar[tuple[str, ...]] = ("g_adv", "f_adv", "f_stats", "cycle_clean", "cycle_noisy", "idt",
                                             "d_clean", "d_noisy", "f_sigma")
    # on the progress line, most telling first: G undoing F's noise, F's noise level, the G/D_clean balance
    progress_fields = ("cycle_clean", "f_sigma", "g_adv", "d_clean")

    def __init__(self, cfg: TrainConfig, device: torch.device, world: World) -> None:
        self.cfg, self.device, self.world = cfg, device, world
        m = cfg.model
        self.nets = Nets(build_generator(m.g), build_generator(m.f), build_discriminator(m.d),
                         build_discriminator(m.d))
        for _, net in self.nets.items():
            init_weights(net, cfg.init_std)
            net.to(device)
            broadcast_parameters(net, world)
        betas = (cfg.beta1, cfg.beta2)
        self.opts = {name: (f_optimizer(net, cfg.lr, betas) if name == "F" else
                            torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=betas))
                     for name, net in self.nets.items()}
        schedule = linear_decay(cfg.steps, cfg.decay_from)
        self.scheds = {name: torch.optim.lr_scheduler.LambdaLR(opt, schedule) for name, opt in self.opts.items()}
        patch = (m.g.channels, cfg.data.patch_size, cfg.data.patch_size)
        self.pool_clean = ImagePool(cfg.pool_size, cfg.seed * 2 + 1 + 1000 * world.rank, patch)
        self.pool_noisy = ImagePool(cfg.pool_size, cfg.seed * 2 + 2 + 1000 * world.rank, patch)
        self.stats_bank = StatisticsBank(seed=cfg.seed, statistics=STATISTICS_SETS[cfg.noise_statistics])
        self.validator = LazyValidator(cfg.val_dir, device)
        self.amp_dtype = training_precision(cfg.precision, device)

    def step(self, step: int, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg, n = self.cfg, self.nets
        x = batch["clean"].to(self.device, non_blocking=True)  # clean domain
        y = batch["noisy"].to(self.device, non_blocking=True)  # noisy domain
        lam, lam_id = loss_weights(cfg)
        amp = autocast(self.device, self.amp_dtype)

        # 1. generators, discriminators frozen
        set_requires_grad([n.d_clean, n.d_noisy], False)
        with amp:
            fake_clean = n.g(y)
            fake_noisy, quantiles = draw_noisy(n.f, x)  # clipped, as real noisy photos are
            rec_clean = n.g(fake_noisy.detach())  # forward cycle: G undoes F's noise; no cycle gradient into F
            rec_noisy = n.f(fake_clean)  # backward cycle: through F into G (F's share is discarded below)
            g_adv = losses.lsgan(n.d_clean(fake_clean), True)
            cycle_clean = losses.cycle(rec_clean, x)
            cycle_noisy = losses.cycle(rec_noisy, y)
            loss_g = g_adv + lam * (cycle_clean + cycle_noisy)
            # F: the objective adapt's noise phase shares; its statistics term only when lambda_stats > 0
            loss_f, f_terms = noise_model_loss(n.f, n.d_noisy, self.stats_bank, fake_noisy, y, cfg.lambda_stats,
                                               lam_id, quantiles)
            idt = f_terms["idt_f"]
            if lam_id > 0:
                idt_g = losses.identity(n.g(x), x)
                idt = idt_g + idt
                loss_g = loss_g + lam_id * idt_g
        self.opts["G"].zero_grad(set_to_none=True)
        loss_g.backward()
        self.opts["F"].zero_grad(set_to_none=True)
        loss_f.backward()
        for name, net in (("G", n.g), ("F", n.f)):
            average_gradients(net, self.world)
            self.opts[name].step()

        # 2. discriminators, on the history pool of fakes
        set_requires_grad([n.d_clean, n.d_noisy], True)
        with amp:
            d_clean = losses.discriminator_loss(n.d_clean(x), n.d_clean(self.pool_clean.query(fake_clean.detach())))
            d_noisy = losses.discriminator_loss(n.d_noisy(y), n.d_noisy(self.pool_noisy.query(fake_noisy.detach())))
        for name, loss, net in (("D_clean", d_clean, n.d_clean), ("D_noisy", d_noisy, n.d_noisy)):
            self.opts[name].zero_grad(set_to_none=True)
            loss.backward()
            average_gradients(net, self.world)
            self.opts[name].step()
        for sched in self.scheds.values():
            sched.step()
        return {"g_adv": g_adv.item(), "f_adv": f_terms["f_adv"].item(), "f_stats": f_terms["f_stats"].item(),
                "cycle_clean": cycle_clean.item(),
                "cycle_noisy": cycle_noisy.item(), "idt": idt.item(), "d_clean": d_clean.item(),
                "d_noisy": d_noisy.item(), "f_sigma": f_noise_sigma(x, fake_noisy)}

    def lr(self) -> float:
        return self.opts["G"].param_groups[0]["lr"]

    def step_modules(self) -> list[torch.nn.Module]:
        return [net for _, net in self.nets.items()]

    def describe(self) -> str:
        return " ".join(f"{name}: {count_parameters(net) / 1e6:.2f} M" for name, net in self.nets.items())

    def state(self, step: int) -> dict[str, Any]:
        return {"kind": "cyclegan", "step": step, "config": to_dict(self.cfg),
                "nets": {name: net.state_dict() for name, net in self.nets.items()},
                "opts": {name: opt.state_dict() for name, opt in self.opts.items()},
                "scheds": {name: s.state_dict() for name, s in self.scheds.items()},
                "pools": {"clean": self.pool_clean.state(), "noisy": self.pool_noisy.state()},
                "stats_bank": self.stats_bank.state(), "rng": rng_state()}

    def load(self, state: dict[str, Any], where: str) -> None:
        for name, net in self.nets.items():
            load_state(net, state["nets"][name], f"{where} ({name})")
        for name, opt in self.opts.items():
            load_optimizer(opt, state["opts"][name])
        for name, sched in self.scheds.items():
            load_scheduler(sched, state["scheds"][name])
        self.pool_clean.load(state["pools"]["clean"])
        self.pool_noisy.load(state["pools"]["noisy"])
        self.stats_bank.load(state["stats_bank"])
        set_rng_state(state["rng"])

    def export(self, run_dir: Path, step: int) -> None:
        meta = {"step": step, "trained_by": "denoise-gan train (CycleGAN)", **run_description(self.cfg)}
        run = RunFolder(run_dir)
        save_generator(run.g, self.nets.g, self.cfg.model.g, {**meta, "role": "G noisy->clean"})
        save_generator(run.f, self.nets.f, self.cfg.model.f, {**meta, "role": "F clean->noisy"})

    def validate(self, run_dir: Path, step: int) -> dict[str, float]:
        return self.validator(self.nets.g, run_dir, step, noise_model=self.nets.f)


def f_noise_sigma(x: torch.Tensor, fake_noisy: torch.Tensor) -> float:
    """Std of what F added, on the 0-255 scale: the quickest read of whether F models the noise level."""
    return float((fake_noisy.detach().float() - x.float()).std().item() * 255.0)


def make_dataset(cfg: TrainConfig) -> UnpairedPatches:
    d, ch = cfg.data, cfg.model.g.channels
    try:
        clean, noisy, spec = build_domains(d.clean_dir, d.noisy_dir, d.noise, d.patch_size)
    except FolderBusyError:  # a synth writing a half now: no bad argument, exit 1 as said
        raise
    except DataError as exc:  # what the folders hold; any other ValueError is a bug, shown as one
        raise UserError(str(exc)) from None
    return UnpairedPatches(PatchSampler(clean, d.patch_size, ch, d.gray_fraction),
                           PatchSampler(noisy, d.patch_size, ch, d.gray_fraction, spec, noisy_photos=spec is None),
                           cfg.seed)


def input_folders(cfg: TrainConfig) -> dict[str, str]:
    """The image folders a run reads, by the option that names them."""
    return {"--clean": cfg.data.clean_dir, "--noisy": cfg.data.noisy_dir, "--val": cfg.val_dir}


def check_config(cfg: TrainConfig) -> None:
    """Every config error as one line, before any image is loaded or network built."""
    check_role(cfg.model.g, noise_model=False, option="--generator")
    check_role(cfg.model.f, noise_model=True, option="--noise-model")
    m = cfg.model
    refuse_too_deep({f"G (--depth {m.g.depth})": lambda: build_generator(m.g),
                     f"F (--f-depth {m.f.depth})": lambda: build_generator(m.f),
                     f"the discriminators (--d-layers {m.d.layers})": lambda: build_discriminator(m.d)},
                    m.g.channels, cfg.data.patch_size)


def train(cfg: TrainConfig | None, run_dir: Path, resume: bool = False, steps: int | None = None,
          console: Console | None = None, device: str | None = None) -> Path:
    """Train a new CycleGAN run (cfg) or resume the one in run_dir; returns the exported G weights.

    `steps` on resume extends (or shortens) the run; the lr schedule follows the new total. `device` on resume
    moves it (a run started on a GPU goes on on the CPU).
    """
    run_dir = Path(run_dir)
    if not resume:
        cfg = require_config(cfg, "TrainConfig")
    if cfg is not None:  # a new run: checked before its folder is made
        check_train_folders(cfg)
        check_config(cfg)
        training = {"--clean": cfg.data.clean_dir, "--noisy": cfg.data.noisy_dir}  # as check_train_folders has it
        say_for_the_run(console, val_drawn_from_training(cfg.val_dir, training) if cfg.val_dir else "",
                        noisy_drawn_from_clean(cfg.data.clean_dir, cfg.data.noisy_dir), *unused_options(cfg))
        refuse_output_inside_inputs(run_dir, input_folders(cfg))
    with nullcontext() if resume else discarded_if_refused(run_dir):
        return _train(cfg, run_dir, resume, steps, console, device)


def _train(cfg: TrainConfig | None, run_dir: Path, resume: bool, steps: int | None, console: Console | None,
           device: str | None) -> Path:
    cfg, start, state = open_run(run_dir, "cyclegan", TrainConfig, cfg, resume, steps, device)
    if resume:  # the config read from its checkpoint
        check_config(cfg)
    cadence = Cadence.of_run(cfg)

    def build(device: torch.device, world: World) -> tuple[CycleGANTrainer, Iterator[dict[str, torch.Tensor]]]:
        dataset = make_dataset(cfg)
        return (CycleGANTrainer(cfg, device, world),
                batch_iterator(dataset, cfg.data.batch_size, start, cfg.steps, world, cfg.data.workers, cfg.seed))

    console = console or Console()
    with holding_run_folder(run_dir, new=not resume):  # a second process given it is refused, not mixed in
        note_inputs(run_dir, input_folders(cfg), resume, console)
        launch(run_dir, cfg, start, state, cfg.device, cfg.seed, cadence, build, console)
    return write_graph(RunFolder(run_dir).g)
