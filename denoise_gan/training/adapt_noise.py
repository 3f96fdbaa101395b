"""adapt's first phase: the user's noisy photos and the clean photos it reads, and the trainer that fine-tunes F
(made a colour-noise F) and D_noisy on them by the adversarial, identity and noise-statistics losses."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from rich.console import Console
from torch import nn

from data_tools.datasets import (
    PatchSampler,
    at_least,
    patch_sized,
    read_folder,
)
from data_tools.folder_scan import no_images_text, no_longer_a_folder
from data_tools.paths import real_path
from data_tools.samples import TRAIN_POOL, load_sample
from data_tools.synth_folder import refuse_synth_sets_inside
from data_tools.training_folders import noisy_drawn_from_clean
from denoise_gan.config import (
    AdaptConfig,
    GeneratorConfig,
)
from denoise_gan.config_json import to_dict
from denoise_gan.errors import UserError, WeightsError
from denoise_gan.nets import losses
from denoise_gan.nets.noise_stats import STATISTICS_SETS, StatisticsBank, noise_statistics
from denoise_gan.nets.registry import build_generator, count_parameters
from denoise_gan.nets.run_folder import RunFolder
from denoise_gan.nets.weights import (
    load_generator,
    load_state,
    save_discriminator,
    save_generator,
)
from denoise_gan.runtime import World, autocast, training_precision
from denoise_gan.training.adapt_start import StartModel, start_discriminator
from denoise_gan.training.cyclegan import (
    ImagePool,
    f_noise_sigma,
    f_optimizer,
    set_requires_grad,
)
from denoise_gan.training.distributed import average_gradients, broadcast_parameters
from denoise_gan.training.noise_objective import draw_noisy, noise_model_loss
from denoise_gan.training.schedule import linear_decay, load_optimizer, load_scheduler, rng_state, set_rng_state
from denoise_gan.warning_line import say_warning_on

BANK_PREFILL = 256  # noisy patches whose statistics fill the bank before step 1 (4 windows each at 64 px)
MIN_NOISY_PHOTOS = 5  # fewer cannot show a camera's noise (its levels vary with ISO and scene); as the README says


# ---- data ------------------------------------------------------------------------------------------

def read_photos(folder: str, exclude: Path | None, console: Console | None = None) -> list[tuple[Path, np.ndarray]]:
    """(path, colour pixels) of the images under a folder, leaving out those under ``exclude`` (the adaptation's
    own output folder, when it lies inside: its plots are not photos); unreadable files are skipped with a
    warning on the console."""
    return read_folder(folder, exclude, partial(say_warning_on, console))


def clean_pool(clean_dir: str, exclude: Path | None = None, console: Console | None = None,
               patch_size: int = 0) -> list[np.ndarray]:
    """The clean photos: a folder (without the output folder inside it), or the bundled training pool (never
    the held-out photos). Photos smaller than the patch are left out with a warning, as noisy ones are: padded
    by mirroring, they would show F and the noise-fit report mirrored crops."""
    if not clean_dir:
        return [load_sample(name) for name in TRAIN_POOL]
    if not Path(clean_dir).is_dir():  # on --resume: moved or deleted since the start, as train says it
        raise UserError(f"{clean_dir}: {no_longer_a_folder(Path(clean_dir))}")
    refuse_synth_sets_inside(clean_dir, UserError)
    return patch_sized(clean_dir, patch_size, "clean", "padding would show F mirrored crops",
                       read_photos(clean_dir, exclude, console), UserError, partial(say_warning_on, console))


@dataclass(frozen=True)
class NoisyPhotos:
    """The noisy photos adapt learns from, and those it left out: a photo smaller than the patch would be
    padded by mirroring, and F would learn the mirrored noise."""

    images: list[np.ndarray]
    found: int  # images read in the folder
    too_small: tuple[str, ...] = ()  # "name (WxH)" of those left out

    def note(self, folder: str, patch_size: int) -> str:
        """One sentence for the report: how many photos were used, and which were left out and why."""
        used = f"{len(self.images)} of the {self.found} photos in {folder} used"
        if not self.too_small:
            return f"{used}."
        return (f"{used}; left out, smaller than the {patch_size} px training patch (mirrored padding would teach "
                f"F mirrored noise): {', '.join(self.too_small)}.")


def noisy_photos(noisy_dir: str, patch_size: int = 0, exclude: Path | None = None,
                 console: Console | None = None) -> NoisyPhotos:
    """The user's noisy photos at least ``patch_size`` on each side (the others left out, with a warning); fewer
    than MIN_NOISY_PHOTOS is a one-line error. Photos inside ``exclude`` (the output folder) are not read."""
    if not Path(noisy_dir).is_dir():  # a new run's was checked before: on --resume, moved or deleted since
        raise UserError(f"{noisy_dir}: {no_longer_a_folder(Path(noisy_dir))}")
    refuse_synth_sets_inside(noisy_dir, UserError, "noisy")
    found = read_photos(noisy_dir, exclude, console)
    if not found:
        raise UserError(no_images_text(noisy_dir, found="no readable images"))
    usable, small = at_least(found, noisy_dir, patch_size)
    if len(usable) < MIN_NOISY_PHOTOS:
        also = f" ({len(small)} more are smaller than the {patch_size} px patch)" if small else ""
        smaller = "; lower --patch-size to use the smaller ones" \
            if len(at_least(found, noisy_dir, least_patch_size())[0]) >= MIN_NOISY_PHOTOS else ""
        raise UserError(f"{noisy_dir}: {len(usable)} usable noisy photo{'' if len(usable) == 1 else 's'}{also}; "
                        f"adapt needs at least "
                        f"{MIN_NOISY_PHOTOS} from one camera, each at least {patch_size} px on its shorter side"
                        f"{smaller}")
    if small:
        say_warning_on(console, f"{len(small)} of {len(found)} photos in {noisy_dir} are smaller than the "
                                f"{patch_size} px patch and are left out (padding would teach F mirrored noise): "
                                f"{', '.join(small)}")
    return NoisyPhotos(usable, len(found), small)


def least_patch_size() -> int:
    """The least --patch-size adapt takes: a smaller patch lets in only the photos at least that large, so a
    refusal suggests a lower one only where those would be enough."""
    field = next(f for f in dataclasses.fields(AdaptConfig) if f.name == "patch_size")
    return int(field.metadata["option"].at_least)


def adapt_warnings(clean: list[np.ndarray], noisy: list[np.ndarray], cfg: AdaptConfig,
                   start_channels: int) -> list[str]:
    """``photo_set_warnings``, and a gray-only start model given colour photos: its F draws one gray field, so
    adapt learns their noise in gray (weaker by about a third, no colour at all) and its report reads the folder
    in gray too, where it would say the noise is matched."""
    said = photo_set_warnings(clean, noisy, cfg.clean_dir, cfg.noisy_dir)
    if start_channels == 1 and any(p.ndim == 3 and p.shape[2] >= 3 for p in noisy):
        said.append(f"--from {cfg.start} is a gray-only model and the --noisy photos are in colour: adapt learns "
                    "their noise in gray, without its colour; start from a colour model (the shipped default)")
    return said


def photo_set_warnings(clean: list[np.ndarray], noisy: list[np.ndarray], clean_dir: str = "",
                       noisy_dir: str = "") -> list[str]:
    """What makes the two sets teach F the wrong noise, in words: clean photos that are noisy ones (the same
    pixels: F learns to leave them as they are), colour noisy photos beside gray clean ones alone (F draws gray
    noise on gray photos, so the colour correlation of the camera's noise is never learnt), and noisy photos
    that synth made from the clean ones (their folders, where given)."""
    def colour(pixels: np.ndarray) -> bool:
        return pixels.ndim == 3 and pixels.shape[2] >= 3

    def digest(pixels: np.ndarray) -> tuple[Any, ...]:  # a photo's identity, without a copy of its bytes kept
        return pixels.shape, pixels.dtype.str, hashlib.sha256(np.ascontiguousarray(pixels).data).digest()

    said = []
    shared = {digest(p) for p in clean} & {digest(p) for p in noisy}
    if shared:
        said.append(f"{len(shared)} of the clean photos are --noisy photos (the same pixels): F learns from them "
                    "that the noise is none; give clean photos (--clean) that are not among the noisy ones")
    if any(colour(p) for p in noisy) and not any(colour(p) for p in clean):
        said.append("every --clean photo is gray and the --noisy photos are in colour: F draws gray noise on gray "
                    "photos, so it cannot learn how the camera's noise is correlated across colours; add colour "
                    "clean photos")
    if note := noisy_drawn_from_clean(clean_dir, noisy_dir):
        said.append(note)
    return said


# ---- phase 1: the noise model ----------------------------------------------------------------------

class NoiseFitTrainer:
    """F and D_noisy fine-tuned on the user's noisy patches against clean patches."""

    log_fields: ClassVar[tuple[str, ...]] = ("f_adv", "f_stats", "idt", "d_noisy", "f_sigma")
    diverged_advice = ("the noise phase's --lr is too high: lower it and start a new adaptation in another folder "
                       "(--resume keeps the rate that diverged)")

    def __init__(self, cfg: AdaptConfig, start: StartModel, noisy: PatchSampler, out_dir: Path,
                 device: torch.device, world: World) -> None:
        self.cfg, self.device, self.world, self.out_dir = cfg, device, world, out_dir
        self.f, self.f_cfg = colour_noise_f(*load_generator(start.f, data=start.read(start.f))[:2])
        self.d, self.d_cfg, self.d_source = start_discriminator(start, self.f_cfg.channels)
        if self.d_cfg.channels != self.f_cfg.channels:
            raise UserError(f"D_noisy has {self.d_cfg.channels} channels, F {self.f_cfg.channels}")
        self.start = start
        for net in (self.f, self.d):
            net.to(device).train()
            broadcast_parameters(net, world)
        betas = (0.5, 0.999)
        self.opt_f = f_optimizer(self.f, cfg.lr, betas)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=cfg.lr, betas=betas)
        schedule = linear_decay(cfg.noise_steps, cfg.decay_from)
        self.scheds = [torch.optim.lr_scheduler.LambdaLR(o, schedule) for o in (self.opt_f, self.opt_d)]
        self.pool = ImagePool(cfg.pool_size, cfg.seed * 2 + 2 + 1000 * world.rank,
                              (self.f_cfg.channels, cfg.patch_size, cfg.patch_size))
        self.bank = StatisticsBank(seed=cfg.seed, statistics=STATISTICS_SETS[cfg.noise_statistics])
        rng = np.random.default_rng([cfg.seed, 17])  # the folder's statistics from the first step on
        with torch.no_grad():
            patches = torch.stack([noisy(rng) for _ in range(BANK_PREFILL)])
            self.bank.add(noise_statistics(patches), images=len(patches))
        self.amp_dtype = training_precision(cfg.precision, device)

    def step(self, step: int, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg = self.cfg
        x = batch["clean"].to(self.device, non_blocking=True)
        y = batch["noisy"].to(self.device, non_blocking=True)
        amp = autocast(self.device, self.amp_dtype)
        set_requires_grad([self.d], False)
        with amp:
            fake, quantiles = draw_noisy(self.f, x)
            loss, terms = noise_model_loss(self.f, self.d, self.bank, fake, y, cfg.lambda_stats, cfg.lambda_identity,
                                           quantiles)
        self.opt_f.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(self.f, self.world)
        self.opt_f.step()
        set_requires_grad([self.d], True)
        with amp:
            d_loss = losses.discriminator_loss(self.d(y), self.d(self.pool.query(fake.detach())))
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        average_gradients(self.d, self.world)
        self.opt_d.step()
        for sched in self.scheds:
            sched.step()
        return {"f_adv": terms["f_adv"].item(), "f_stats": float(terms["f_stats"].detach()),
                "idt": terms["idt_f"].item(), "d_noisy": d_loss.item(),
                "f_sigma": f_noise_sigma(x, fake)}

    def lr(self) -> float:
        return self.opt_f.param_groups[0]["lr"]

    def step_modules(self) -> list[torch.nn.Module]:
        return [self.f]

    def describe(self) -> str:
        return (f"F: {count_parameters(self.f) / 1e6:.2f} M (from {self.start.f})  "
                f"D_noisy: {count_parameters(self.d) / 1e6:.2f} M ({self.d_source})")

    def state(self, step: int) -> dict[str, Any]:
        return {"kind": "adapt-noise", "step": step, "config": to_dict(self.cfg),
                "nets": {"F": self.f.state_dict(), "D_noisy": self.d.state_dict()},
                "opts": {"F": self.opt_f.state_dict(), "D_noisy": self.opt_d.state_dict()},
                "scheds": [s.state_dict() for s in self.scheds], "pool": self.pool.state(),
                "stats_bank": self.bank.state(), "rng": rng_state()}

    def load(self, state: dict[str, Any], where: str) -> None:
        load_state(self.f, state["nets"]["F"], f"{where} (F)")
        load_state(self.d, state["nets"]["D_noisy"], f"{where} (D_noisy)")
        load_optimizer(self.opt_f, state["opts"]["F"])
        load_optimizer(self.opt_d, state["opts"]["D_noisy"])
        for sched, saved in zip(self.scheds, state["scheds"], strict=True):
            load_scheduler(sched, saved)
        self.pool.load(state["pool"])
        self.bank.load(state["stats_bank"])
        set_rng_state(state["rng"])

    def export(self, run_dir: Path, step: int) -> None:
        meta = {"step": step, "trained_by": "denoise-gan adapt (noise model)", "source_run": str(self.out_dir),
                "noise_family": f"the photos in {real_path(self.cfg.noisy_dir)}",
                "training_data": training_data_text(self.cfg)}
        out = RunFolder(self.out_dir)
        save_generator(out.f, self.f, self.f_cfg, {**meta, "role": "F clean->noisy"})
        save_discriminator(out.d_noisy, self.d, self.d_cfg, {**meta, "role": "D_noisy"})

    def validate(self, run_dir: Path, step: int) -> dict[str, float]:
        return {}


def colour_noise_f(f: nn.Module, f_cfg: GeneratorConfig) -> tuple[nn.Module, GeneratorConfig]:
    """F as the noise phase trains it: a plain ``noise`` F becomes the same function as a ``colour-noise`` F (its
    tensors loaded into one whose colour mix starts as the identity), so the noise phase can learn the colour
    correlation of demosaiced camera noise, which independent channels cannot model (measured: R-G correlation
    0.01 against the truth's 0.48 after a 30-minute adapt). Any other F is returned as it is."""
    if f_cfg.arch != "noise" or f_cfg.channels < 3:
        return f, f_cfg
    cfg = dataclasses.replace(f_cfg, arch="colour-noise")
    net = build_generator(cfg)
    missing, unexpected = net.load_state_dict(f.state_dict(), strict=False)
    if unexpected or set(missing) != {"colour_mix"}:
        raise WeightsError(f"cannot turn the {f_cfg.arch!r} F into a colour-noise F (missing {missing}, "
                           f"unexpected {unexpected})")
    return net.to(next(f.parameters()).device).train(f.training), cfg


def training_data_text(cfg: AdaptConfig) -> str:
    """The adapted weights' data, and the model they were adapted from (a stored start is absolute when it is a
    folder, a shipped model's name otherwise), so two adaptations of one camera can be told apart."""
    clean = str(real_path(cfg.clean_dir)) if cfg.clean_dir else "skimage.data training pool"
    start = cfg.start if os.path.isabs(cfg.start) else f"the shipped model {cfg.start!r}"
    return f"unpaired: clean {clean}; noisy {real_path(cfg.noisy_dir)}; adapted from {start}"
