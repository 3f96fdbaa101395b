"""`adapt`: learn the noise of the user's own photos, unpaired, and a denoiser for it, within a budget.

A user has a folder of noisy photos from one camera and no clean twin of any of them. Starting from a trained
model (the shipped one, or a run), two phases, each a run of the loop (checkpoints, exact resume, Ctrl-C):

1. noise (``OUT/noise``): F, the clean->noisy noise model, is fine-tuned with its discriminator D_noisy on
   random crops of the noisy photos against clean photos, by the CycleGAN step's half for F: adversarial,
   identity, and the noise-statistics loss, which sees the noise's amplitude, colour and spatial correlation
   that a PatchGAN barely sees. G plays no part (F gets no cycle gradient in the CycleGAN either).
2. refine (``OUT/refine``): G is fine-tuned on pseudo-pairs (F(clean), clean), as `refine` does.

The noisy photos are never resized (that would change their noise): patches are cropped from them. A budget in
minutes becomes step counts by timing a few steps of each phase; the counts are then fixed in the config (so a
resumed run does exactly the same steps), and a deadline stops a phase early if the machine slows down.
Outputs: ``G.safetensors`` (the denoiser), ``F.safetensors`` and ``D_noisy.safetensors`` (so the folder can be
the start of another adapt), ``noise_fit.json``/``.md``/``.png`` (F's noise against the folder's, before and
after, with σ histograms) and ``before_after.png`` (a few of the user's photos: noisy | start model | adapted,
labelled).

A folder whose adaptation stopped before its first step (Ctrl-C while loading or timing) holds only its request
(``config.json``) and copies of the start model: ``--resume`` starts it again, and a new run may replace it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.markup import escape
from torch import nn

from data_tools.datasets import (
    PairedPatches,
    PatchSampler,
    UnpairedPatches,
    fit_channels,
    random_crops,
    read_folder,
    to_tensor,
)
from data_tools.errors import DataError
from data_tools.images import (
    atomic_write_bytes,
    collect_images,
    encode_image,
    prepare_output_dir,
    read_image,
    split_alpha,
    to_dtype,
)
from data_tools.samples import TRAIN_POOL, load_sample
from denoise_gan.config import (
    AdaptConfig,
    DiscriminatorConfig,
    GeneratorConfig,
    ModelConfig,
    RefineConfig,
    TrainConfig,
    from_dict,
    to_dict,
    to_json,
)
from denoise_gan.errors import UserError, WeightsError
from denoise_gan.evaluation.benchmark.inputs import estimate_noise_sigma
from denoise_gan.evaluation.pictures import figure_png, labelled_grid
from denoise_gan.inference.tiling import InferConfig, denoise_array
from denoise_gan.nets import losses
from denoise_gan.nets.discriminators import build_discriminator
from denoise_gan.nets.generator_names import NOISE_MODEL_ARCHS
from denoise_gan.nets.noise_stats import SUBPATCH, StatisticsBank, noise_statistics
from denoise_gan.nets.registry import build_generator, count_parameters, init_weights
from denoise_gan.nets.shipped import resolve_weights, shipped_part
from denoise_gan.nets.weights import (
    list_checkpoints,
    load_checkpoint,
    load_denoiser,
    load_discriminator,
    load_generator,
    load_state,
    read_generator_file,
    save_discriminator,
    save_generator,
)
from denoise_gan.runtime import World, autocast, resolve_device, training_precision
from denoise_gan.training.batches import batch_iterator
from denoise_gan.training.cyclegan import (
    ImagePool,
    deterministic,
    f_noise_sigma,
    f_optimizer,
    set_requires_grad,
    write_graph,
)
from denoise_gan.training.distributed import average_gradients, broadcast_parameters
from denoise_gan.training.loop import Cadence, latest_checkpoint, launch, open_run
from denoise_gan.training.refine import RefineTrainer
from denoise_gan.training.schedule import linear_decay, rng_state, set_rng_state

BANK_PREFILL = 256  # noisy patches whose statistics fill the bank before step 1 (4 windows each at 64 px)
REPORT_SECONDS = 15.0  # kept back from a time budget for the noise-fit report and the before/after strip
TRIAL_STEPS = 3  # timed steps per phase (after one untimed) to turn minutes into steps
FIT_CROPS, FIT_CROP = 48, 128  # the noise-fit report: crops per set, and their (largest) side
MIN_NOISY_PHOTOS = 5  # fewer cannot show a camera's noise (its levels vary with ISO and scene); as the README says
MIN_PHASE_STEPS = 20  # a --minutes plan gives each phase at least this many steps, or it is refused up front
START_FILES = frozenset({"config.json", "G.safetensors", "F.safetensors"})  # all an unstarted adaptation holds
PHASES = (("noise", "noise model"), ("refine", "denoiser"))  # phase folder, and its name in messages


# ---- where an adaptation starts ----------------------------------------------------------------

@dataclass(frozen=True)
class StartModel:
    """The files an adaptation starts from: G, F, and D_noisy when there is one."""

    label: str
    g: Path
    f: Path
    d_noisy: Path | None = None  # a discriminator file
    d_checkpoint: Path | None = None  # or a `train` run's newest checkpoint, which holds one


def find_start(text: str) -> StartModel:
    """A shipped model's name (G, with ``<name>-F`` and ``<name>-D_noisy`` beside it) or a folder: a `train` run
    (its refined G when ``refine/G.safetensors`` exists), or a previous adapt output."""
    folder = Path(text)
    if folder.is_dir():
        g = folder / "refine" / "G.safetensors"
        g = g if g.is_file() else folder / "G.safetensors"
        f = folder / "F.safetensors"
        for needed in (g, f):
            if not needed.is_file():
                raise UserError(f"--from {folder}: no {needed.name} there; give a `train` run folder, an adapt "
                                "output folder, or a shipped model's name")
        d = folder / "D_noisy.safetensors"
        found = list_checkpoints(folder / "checkpoints")
        return check_roles(StartModel(str(folder), g, f, d if d.is_file() else None,
                                      found[-1][1] if found and not d.is_file() else None))
    if "/" in text or text.endswith(".safetensors"):
        raise UserError(f"--from {text}: not a folder; give a shipped model's name or a folder holding "
                        "G.safetensors and F.safetensors")
    g = resolve_weights(text)
    f = shipped_part(text, "F")
    if not f.is_file():
        raise UserError(f"the shipped model {text!r} has no noise model beside it ({f.name}); pass --from a "
                        "`train` run folder instead")
    d = shipped_part(text, "D_noisy")
    return check_roles(StartModel(text, g, f, d if d.is_file() else None))


def check_roles(start: StartModel) -> StartModel:
    """G must be a denoiser and F a noise model, by the architecture each file holds, not by its name or its
    recorded role: a denoiser fine-tuned as F would be saved and labelled as a noise model."""
    noise = NOISE_MODEL_ARCHS
    g_arch, f_arch = read_generator_file(start.g)[1].arch, read_generator_file(start.f)[1].arch
    if f_arch not in noise:
        raise UserError(f"--from {start.label}: {start.f} holds a {f_arch!r} generator, a denoiser, not a noise "
                        f"model (F must be one of: {', '.join(sorted(noise))})")
    if g_arch in noise:
        raise UserError(f"--from {start.label}: {start.g} holds a {g_arch!r} noise model, not a denoiser")
    return start


def start_discriminator(start: StartModel, channels: int) -> tuple[nn.Module, DiscriminatorConfig, str]:
    """D_noisy to fine-tune: the start's own, or a new spectral-norm PatchGAN when it has none."""
    if start.d_noisy is not None:
        net, cfg, _ = load_discriminator(start.d_noisy)
        return net, cfg, str(start.d_noisy)
    if start.d_checkpoint is not None:
        run = start.d_checkpoint.parent.parent
        try:
            cfg = from_dict(TrainConfig, json.loads((run / "config.json").read_text())).model.d
            state = load_checkpoint(start.d_checkpoint)["nets"]["D_noisy"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise WeightsError(f"{start.d_checkpoint}: no usable D_noisy ({str(exc).splitlines()[0][:120]})") from None
        net = build_discriminator(cfg)
        load_state(net, state, f"{start.d_checkpoint} (D_noisy)")
        return net, cfg, str(start.d_checkpoint)
    cfg = DiscriminatorConfig(channels=channels, spectral_norm=True)
    net = build_discriminator(cfg)
    init_weights(net)
    return net, cfg, "new (the start has no D_noisy)"


# ---- data ------------------------------------------------------------------------------------------

def read_photos(folder: str, exclude: Path | None, console: Console | None = None) -> list[tuple[Path, np.ndarray]]:
    """(path, colour pixels) of the images under a folder, leaving out those under ``exclude`` (the adaptation's
    own output folder, when it lies inside: its plots are not photos); unreadable files are skipped with a
    warning on the console."""
    return read_folder(folder, exclude, lambda message: _warn(console, message))


def clean_pool(clean_dir: str, exclude: Path | None = None, console: Console | None = None) -> list[np.ndarray]:
    """The clean photos: a folder (without the output folder inside it), or the bundled training pool (never
    the held-out photos)."""
    if not clean_dir:
        return [load_sample(name) for name in TRAIN_POOL]
    images = [pixels for _, pixels in read_photos(clean_dir, exclude, console)]
    if not images:
        raise UserError(f"{clean_dir}: no readable images")
    return images


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
    if not Path(noisy_dir).is_dir():
        raise UserError(f"{noisy_dir}: --noisy must be a folder of your noisy photos")
    found = read_photos(noisy_dir, exclude, console)
    if not found:
        raise UserError(f"{noisy_dir}: no readable images")
    usable = [(p, px) for p, px in found if min(px.shape[:2]) >= patch_size]
    small = tuple(f"{p.relative_to(noisy_dir)} ({px.shape[1]}x{px.shape[0]})" for p, px in found
                  if min(px.shape[:2]) < patch_size)
    if len(usable) < MIN_NOISY_PHOTOS:
        also = f" ({len(small)} more are smaller than the {patch_size} px patch)" if small else ""
        raise UserError(f"{noisy_dir}: {len(usable)} usable noisy photos{also}; adapt needs at least "
                        f"{MIN_NOISY_PHOTOS} from one camera, each at least {patch_size} px on its shorter side")
    if small:
        _warn(console, f"{len(small)} of {len(found)} photos in {noisy_dir} are smaller than the {patch_size} px "
                       f"patch and are left out (padding would teach F mirrored noise): {', '.join(small)}")
    return NoisyPhotos([px for _, px in usable], len(found), small)


def _warn(console: Console | None, message: str) -> None:
    """A yellow warning line; the message is text, never markup (file names may hold brackets)."""
    (console or Console(stderr=True)).print(f"[yellow]warning:[/] {escape(message)}", highlight=False,
                                            soft_wrap=True)


# ---- phase 1: the noise model ----------------------------------------------------------------------

class NoiseFitTrainer:
    """F and D_noisy fine-tuned on the user's noisy patches against clean patches."""

    log_fields = ("f_adv", "f_stats", "idt", "d_noisy", "f_sigma")

    def __init__(self, cfg: AdaptConfig, start: StartModel, noisy: PatchSampler, out_dir: Path,
                 device: torch.device, world: World) -> None:
        self.cfg, self.device, self.world, self.out_dir = cfg, device, world, out_dir
        self.f, self.f_cfg = colour_noise_f(*load_generator(start.f)[:2])
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
        self.pool = ImagePool(cfg.pool_size, cfg.seed * 2 + 2 + 1000 * world.rank)
        self.bank = StatisticsBank(seed=cfg.seed)
        rng = np.random.default_rng([cfg.seed, 17])  # the folder's statistics from the first step on
        with torch.no_grad():
            patches = torch.stack([noisy(rng) for _ in range(BANK_PREFILL)])
            self.bank.add(noise_statistics(patches))
        self.amp_dtype = training_precision(cfg.precision, device)

    def step(self, step: int, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg = self.cfg
        x = batch["clean"].to(self.device, non_blocking=True)
        y = batch["noisy"].to(self.device, non_blocking=True)
        amp = autocast(self.device, self.amp_dtype)
        set_requires_grad([self.d], False)
        with amp:
            # clipped to the file's range, as the real photos are: measured on unclipped noise, the statistics of
            # saturated windows (real noise clipped away) taught F a low level there, which synth then clipped again
            fake = self.f(x).clamp(0.0, 1.0)
            f_adv = losses.lsgan(self.d(fake), True)
            self.bank.add(noise_statistics(y))
            f_stats = self.bank.distance(noise_statistics(fake)) if cfg.lambda_stats > 0 else torch.zeros(())
            idt = losses.identity(deterministic(self.f, y), y)
            loss = f_adv + cfg.lambda_stats * f_stats + cfg.lambda_identity * idt
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
        return {"f_adv": f_adv.item(), "f_stats": float(f_stats.detach()), "idt": idt.item(), "d_noisy": d_loss.item(),
                "f_sigma": f_noise_sigma(self.f, x, fake)}

    def lr(self) -> float:
        return self.opt_f.param_groups[0]["lr"]

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
        self.opt_f.load_state_dict(state["opts"]["F"])
        self.opt_d.load_state_dict(state["opts"]["D_noisy"])
        for sched, saved in zip(self.scheds, state["scheds"], strict=True):
            sched.load_state_dict(saved)
        self.pool.load(state["pool"])
        self.bank.load(state["stats_bank"])
        set_rng_state(state["rng"])

    def export(self, run_dir: Path, step: int) -> None:
        meta = {"step": step, "trained_by": "denoise-gan adapt (noise model)", "source_run": str(self.out_dir),
                "noise_family": f"the photos in {Path(self.cfg.noisy_dir).resolve()}",
                "training_data": training_data(self.cfg)}
        save_generator(self.out_dir / "F.safetensors", self.f, self.f_cfg, {**meta, "role": "F clean->noisy"})
        save_discriminator(self.out_dir / "D_noisy.safetensors", self.d, self.d_cfg, {**meta, "role": "D_noisy"})

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


def training_data(cfg: AdaptConfig) -> str:
    clean = str(Path(cfg.clean_dir).resolve()) if cfg.clean_dir else "skimage.data training pool"
    return f"unpaired: clean {clean}; noisy {Path(cfg.noisy_dir).resolve()}"


# ---- phase 2: G on F's pseudo-pairs --------------------------------------------------------------

class AdaptRefiner(RefineTrainer):
    """`refine`'s trainer on the adapted F, starting from OUT/G.safetensors; it writes OUT/G.safetensors."""

    def __init__(self, cfg: RefineConfig, source: TrainConfig, adapt_cfg: AdaptConfig, out_dir: Path,
                 device: torch.device, world: World) -> None:
        super().__init__(cfg, source, device, world)
        self.adapt_cfg, self.out_dir = adapt_cfg, out_dir

    def export(self, run_dir: Path, step: int) -> None:
        save_generator(self.out_dir / "G.safetensors", self.g, self.g_cfg,
                       {"step": step, "role": "G noisy->clean", "trained_by": "denoise-gan adapt (pseudo-pairs "
                        "from the adapted F)", "source_run": str(self.out_dir),
                        "noise_family": f"the photos in {Path(self.adapt_cfg.noisy_dir).resolve()}",
                        "training_data": training_data(self.adapt_cfg)})


def refine_config(cfg: AdaptConfig, out_dir: Path) -> RefineConfig:
    return RefineConfig(run_dir=str(out_dir), generator=None, fresh=False, clean_fraction=cfg.clean_fraction,
                        lambda_level=cfg.lambda_level, steps=cfg.refine_steps, lr=cfg.refine_lr,
                        decay_from=cfg.decay_from, patch_size=cfg.patch_size, batch_size=cfg.refine_batch_size,
                        gray_fraction=cfg.gray_fraction, seed=cfg.seed, log_every=cfg.log_every,
                        save_every=cfg.save_every, keep_checkpoints=cfg.keep_checkpoints, device=cfg.device,
                        precision=cfg.precision, workers=cfg.workers)


def source_config(g_cfg: GeneratorConfig, f_cfg: GeneratorConfig) -> TrainConfig:
    """What `RefineTrainer` reads of a CycleGAN run: G's and F's architectures."""
    return TrainConfig(model=ModelConfig(g=g_cfg, f=f_cfg, d=DiscriminatorConfig(channels=g_cfg.channels)))


# ---- the whole adaptation ------------------------------------------------------------------------

@dataclass
class _Data:
    clean: list[np.ndarray]
    noisy: list[np.ndarray]
    note: str = ""  # which noisy photos were used (and which left out), for the report

    def noise_dataset(self, cfg: AdaptConfig, channels: int, world: World) -> UnpairedPatches:
        return UnpairedPatches(PatchSampler(self.clean, cfg.patch_size, channels, 0.0),
                               PatchSampler(self.noisy, cfg.patch_size, channels, 0.0), cfg.seed,
                               length=(cfg.noise_steps + 1) * cfg.batch_size * world.size)

    def refine_dataset(self, cfg: AdaptConfig, channels: int, world: World) -> PairedPatches:
        return PairedPatches(PatchSampler(self.clean, cfg.patch_size, channels, cfg.gray_fraction), cfg.seed,
                             length=(cfg.refine_steps + 1) * cfg.refine_batch_size * world.size)


@dataclass(frozen=True)
class PhaseResult:
    """What a phase was planned to do and did: the final line and the short-run check read it."""

    folder: str  # noise, refine
    name: str  # noise model, denoiser
    planned: int
    completed: int
    stopped_by: str  # steps, deadline, interrupted, not started

    def __str__(self) -> str:
        cut = "" if self.stopped_by == "steps" else f" ({self.stopped_by})"
        return f"{self.name} {self.completed}/{self.planned} steps{cut}"


def adapt(cfg: AdaptConfig | None, out_dir: Path, resume: bool = False, console: Console | None = None,
          began: float | None = None) -> Path:
    """Adapt a model to the noise of cfg.noisy_dir (or resume the adaptation in out_dir); returns OUT/G.safetensors.

    A new adaptation takes a new or empty folder, or one whose adaptation never started. A resumed one finishes
    the phase it was in and the next, to the step counts fixed when it started (without a deadline: the budget
    belonged to the first session); one that never started is started again. ``began`` (``time.monotonic()``
    when the command started) makes what ran before this call count against ``--minutes`` too. A phase the
    deadline left with almost no steps is a UserError after the reports are written, never a silent success.
    """
    t0 = time.monotonic() if began is None else began
    out_dir = Path(out_dir)
    console = console or Console()
    if resume:
        cfg = _stored_config(out_dir)
    else:
        assert cfg is not None, "a new adaptation needs a config"
        _check_budget(cfg, t0)
        try:
            prepare_output_dir(out_dir, own=not_started(out_dir), hint="--resume OUT to continue the adaptation in it")
        except DataError as exc:
            raise UserError(str(exc)) from None
        # the request first: from here on the folder is this adaptation's, which --resume or a new run accepts
        atomic_write_bytes(out_dir / "config.json", to_json(cfg).encode())
    started = (out_dir / "noise").exists()  # made after the plan is fixed, before the first step
    start = find_start(cfg.start)
    g_cfg, f_cfg = read_generator_file(start.g)[1], read_generator_file(start.f)[1]
    if g_cfg.channels != f_cfg.channels:
        raise UserError(f"{start.label}: G has {g_cfg.channels} channels, F {f_cfg.channels}")
    noisy = noisy_photos(cfg.noisy_dir, cfg.patch_size, exclude=out_dir, console=console)
    data = _Data(clean_pool(cfg.clean_dir, exclude=out_dir, console=console), noisy.images,
                 noisy.note(cfg.noisy_dir, cfg.patch_size))
    deadlines: tuple[float | None, float | None] = (None, None)
    if not started:
        try:
            cfg, deadlines = _prepare(cfg, start, g_cfg, data, out_dir, t0, console, replan=not resume)
        except KeyboardInterrupt:
            console.print(f"[yellow]stopped before the first step; `denoise-gan adapt --resume {out_dir}` starts it "
                          "again (so does the same command)[/]")
            raise
    ch = g_cfg.channels
    try:
        continue_noise = resume and not (out_dir / "refine").exists()
        if _phase(out_dir / "noise", "adapt-noise", AdaptConfig, cfg, cfg.noise_steps, deadlines[0], console,
                  lambda device, w: NoiseFitTrainer(cfg, start, PatchSampler(data.noisy, cfg.patch_size, ch, 0.0),
                                                    out_dir, device, w),
                  lambda w, first: data.noise_dataset(cfg, ch, w), cfg.batch_size, continue_noise):
            (out_dir / "noise_fit.json").unlink(missing_ok=True)  # F changed: its report is redone
        if not (out_dir / "noise_fit.json").is_file():
            fit_began = time.monotonic()
            write_noise_fit(out_dir, start, data, cfg)
            console.print(f"noise fit: {out_dir / 'noise_fit.md'}")
            if deadlines[1] is not None:  # the report's time comes from REPORT_SECONDS, not the refine phase's
                deadlines = (None, deadlines[1] + min(time.monotonic() - fit_began, REPORT_SECONDS / 2))
        rcfg = refine_config(cfg, out_dir)
        source = source_config(g_cfg, read_generator_file(out_dir / "F.safetensors")[1])
        _phase(out_dir / "refine", "refine", RefineConfig, rcfg, cfg.refine_steps, deadlines[1], console,
               lambda device, w: AdaptRefiner(rcfg, source, cfg, out_dir, device, w),
               lambda w, first: data.refine_dataset(cfg, ch, w), cfg.refine_batch_size, resume)
    except KeyboardInterrupt:
        refined = (out_dir / "refine" / "finished.json").is_file() or latest_checkpoint(out_dir / "refine")
        console.print(f"[yellow]{out_dir / 'G.safetensors'} is "
                      f"{'the adaptation so far' if refined else 'still the start model'}; "
                      f"`denoise-gan adapt --resume {out_dir}` continues[/]")
        raise
    write_before_after(out_dir, start, cfg)
    write_graph(out_dir / "G.safetensors")  # G.onnx beside it: `denoise -c OUT` runs on ONNX Runtime
    console.print(f"took {(time.monotonic() - t0) / 60:.1f} min")
    _refuse_short_phases(out_dir)
    return out_dir / "G.safetensors"


def not_started(out_dir: Path) -> bool:
    """Whether ``out_dir`` holds an adaptation stopped before its first step (Ctrl-C while loading or timing):
    its request (a readable adapt config.json) and copies of the start model, nothing else. Nothing in it is
    worth keeping, so a new run may replace it."""
    if not out_dir.is_dir():
        return False
    names = {p.name for p in out_dir.iterdir() if not p.name.endswith(".part")}
    if "config.json" not in names or not names <= START_FILES:
        return False
    try:
        from_dict(AdaptConfig, json.loads((out_dir / "config.json").read_text()))
    except (OSError, ValueError, TypeError):
        return False
    return True


def _prepare(cfg: AdaptConfig, start: StartModel, g_cfg: GeneratorConfig, data: _Data, out_dir: Path, t0: float,
             console: Console, replan: bool) -> tuple[AdaptConfig, tuple[float | None, float | None]]:
    """Before the first step: the start model's G and F copied in (G stays the start's until the refine phase
    saves), the plan fixed (a new run's, or a resumed request that was never planned) and written to
    config.json. Returns the config and the phases' deadlines."""
    g_start = load_denoiser(start.g)[0]
    save_generator(out_dir / "G.safetensors", g_start, g_cfg,
                   {"role": "G noisy->clean", "trained_by": f"start model of denoise-gan adapt ({start.label}), "
                    "not adapted yet"})
    atomic_write_bytes(out_dir / "F.safetensors", start.f.read_bytes())  # the start's F until the first save
    if not replan and cfg.noise_steps and cfg.refine_steps:
        return cfg, (None, None)  # planned, then stopped before the first step: the plan stands, as on any resume
    cfg, deadlines = _plan(cfg, start, data, out_dir, t0, console)
    atomic_write_bytes(out_dir / "config.json", to_json(cfg).encode())
    return cfg, deadlines


def _stored_config(out_dir: Path) -> AdaptConfig:
    path = out_dir / "config.json"
    if not path.is_file():
        raise UserError(f"{out_dir}: no adaptation to resume (no config.json; it is written before the first step)")
    try:
        return from_dict(AdaptConfig, json.loads(path.read_text()))
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: unreadable adapt config ({str(exc).splitlines()[0][:160]})") from None


def phase_results(out_dir: Path) -> list[PhaseResult]:
    """Each phase's planned and completed steps, from config.json and the phase folders."""
    cfg = _stored_config(Path(out_dir))
    results = []
    for folder, name in PHASES:
        planned = cfg.noise_steps if folder == "noise" else cfg.refine_steps
        done = Path(out_dir) / folder / "finished.json"
        if done.is_file():
            info = json.loads(done.read_text())
            results.append(PhaseResult(folder, name, planned, int(info["step"]), str(info["stopped_by"])))
            continue
        found = latest_checkpoint(Path(out_dir) / folder)
        results.append(PhaseResult(folder, name, planned, found[0] if found else 0,
                                   "interrupted" if found else "not started"))
    return results


def phases_line(out_dir: Path) -> str:
    """``noise model 120/120 steps, denoiser 57/300 steps (deadline)``: planned and completed, per phase."""
    return ", ".join(str(r) for r in phase_results(out_dir))


def _refuse_short_phases(out_dir: Path) -> None:
    """A phase the deadline stopped with fewer than MIN_PHASE_STEPS steps (or its plan, when that was smaller)
    did nearly nothing: the run must not end as a success, whatever files it wrote."""
    results = phase_results(out_dir)
    short = [r for r in results if r.completed < min(r.planned, MIN_PHASE_STEPS)]
    if not short:
        return
    r = short[0]
    unchanged = {"noise": "F.safetensors is still the start model's F", "refine": "G.safetensors is still the "
                 "start model"}[r.folder] if r.completed == 0 else f"{r.completed} steps barely change it"
    then = (f"`denoise-gan adapt --resume {out_dir}` completes it without a deadline" if r.folder == "refine" else
            "run it again with more --minutes (or --steps N) into a new folder")
    raise UserError(f"{out_dir}: the {r.name} phase completed {r.completed} of its {r.planned} planned steps before "
                    f"the --minutes deadline, so {unchanged} ({phases_line(out_dir)}); {then}")


def _phase(run_dir: Path, kind: str, cfg_cls: type, cfg: Any, steps: int, deadline: float | None,
           console: Console, make_trainer: Any, make_dataset: Any, batch_size: int,
           continue_cut: bool = False) -> bool:
    """One phase as a run of the loop: new, resumed, or skipped when it finished (by its steps, or by its deadline
    unless ``continue_cut``: then the remaining steps run). Returns whether any step ran."""
    done = run_dir / "finished.json"
    if done.is_file():
        info = json.loads(done.read_text())
        if not (continue_cut and info.get("stopped_by") == "deadline" and int(info.get("step", steps)) < steps):
            return False
        done.unlink()
    resume = latest_checkpoint(run_dir) is not None
    if not resume and run_dir.exists():  # stopped before its first checkpoint: nothing in it is worth keeping
        shutil.rmtree(run_dir)
    cfg, start, state = open_run(run_dir, kind, cfg_cls, cfg if not resume else None, resume, None)
    label = "noise model (F, D_noisy)" if kind == "adapt-noise" else "denoiser (G on F's pseudo-pairs)"
    console.print(f"[bold]{label}[/]: {run_dir}")
    cadence = Cadence(steps, cfg.log_every, cfg.save_every, 0, cfg.keep_checkpoints, deadline=deadline)

    def build(device: torch.device, world: World) -> tuple[Any, Iterator[dict[str, torch.Tensor]]]:
        trainer = make_trainer(device, world)
        return trainer, batch_iterator(make_dataset(world, start), batch_size, start, steps, world, cfg.workers,
                                       cfg.seed)

    launch(run_dir, cfg, start, state, cfg.device, cfg.seed, cadence, build, console)
    found = latest_checkpoint(run_dir)
    reached = found[0] if found else start
    atomic_write_bytes(done, json.dumps({"step": reached, "steps": steps,
                                         "stopped_by": "steps" if reached >= steps else "deadline"}).encode())
    return reached > start


class _OverBudget(Exception):
    """The timing ran past the budget: the seconds per step seen so far."""

    def __init__(self, per_step: float) -> None:
        super().__init__(per_step)
        self.per_step = per_step


def _check_budget(cfg: AdaptConfig, t0: float) -> None:
    """Refuse at once a --minutes budget that cannot even hold the reports, before anything is loaded."""
    if cfg.steps:
        return
    left = cfg.minutes * 60.0 - (time.monotonic() - t0) - REPORT_SECONDS
    if left <= 0:
        raise UserError(f"--minutes {cfg.minutes:g} is too short: {REPORT_SECONDS:.0f} s of it are kept for the "
                        "reports alone; give several minutes (the plan says how many it needs), or --steps N")


def least_minutes(spent: float, per_noise: float, per_refine: float, share: float) -> float:
    """The smallest --minutes whose plan gives each phase MIN_PHASE_STEPS steps at these speeds, after ``spent``
    seconds of loading and timing (rounded up to a tenth of a minute)."""
    need = MIN_PHASE_STEPS * max(per_noise / share, per_refine / (1.0 - share))
    return math.ceil((spent + REPORT_SECONDS + need) / 6.0) / 10.0


def _plan(cfg: AdaptConfig, start: StartModel, data: _Data, out_dir: Path, t0: float,
          console: Console) -> tuple[AdaptConfig, tuple[float | None, float | None]]:
    """Fix the two phases' step counts: from --steps by the share, or from --minutes by timing a few steps of
    each phase on its real networks and data. The time spent before and while timing counts against the budget,
    the timing stops when the budget is gone, and a budget too small for MIN_PHASE_STEPS steps per phase is a
    UserError naming the least that works. Returns the config and each phase's deadline (monotonic clock)."""
    if cfg.steps:
        noise = max(1, min(cfg.steps - 1, round(cfg.steps * cfg.noise_share)))
        cfg = dataclasses.replace(cfg, noise_steps=noise, refine_steps=cfg.steps - noise)
        console.print(f"plan: {cfg.noise_steps} noise-model steps, then {cfg.refine_steps} denoiser steps")
        return cfg, (None, None)
    budget_end = t0 + cfg.minutes * 60.0 - REPORT_SECONDS
    device = resolve_device(cfg.device)
    probe = dataclasses.replace(cfg, noise_steps=TRIAL_STEPS + 1, refine_steps=TRIAL_STEPS + 1)
    world, ch = World(), read_generator_file(start.g)[1].channels
    rng_before = torch.get_rng_state()
    per_noise = per_refine = 0.0
    try:
        noise_trainer = NoiseFitTrainer(probe, start, PatchSampler(data.noisy, cfg.patch_size, ch, 0.0), out_dir,
                                        device, world)
        per_noise = _time_steps(noise_trainer, data.noise_dataset(probe, ch, world), probe.batch_size, budget_end)
        source = source_config(read_generator_file(start.g)[1], read_generator_file(start.f)[1])
        refiner = AdaptRefiner(refine_config(probe, out_dir), source, probe, out_dir, device, world)
        per_refine = _time_steps(refiner, data.refine_dataset(probe, ch, world), probe.refine_batch_size, budget_end)
    except _OverBudget as over:
        per_noise, per_refine = (per_noise, over.per_step) if per_noise else (over.per_step, per_refine)
        spent = time.monotonic() - t0
        raise UserError(f"--minutes {cfg.minutes:g} is too short: loading and timing alone took {spent:.0f} s here; "
                        f"give at least --minutes {least_minutes(spent, per_noise, per_refine, cfg.noise_share):g}, "
                        "or --steps N") from None
    finally:
        torch.set_rng_state(rng_before)
    now = time.monotonic()
    spent, left = now - t0, budget_end - now
    noise_s, refine_s = cfg.noise_share * left, (1 - cfg.noise_share) * left
    noise_steps, refine_steps = int(noise_s / per_noise), int(refine_s / per_refine)
    if min(noise_steps, refine_steps) < MIN_PHASE_STEPS:
        raise UserError(f"--minutes {cfg.minutes:g} is too short here: after {spent:.0f} s of loading and timing it "
                        f"leaves {max(noise_steps, 0)} noise-model and {max(refine_steps, 0)} denoiser steps "
                        f"({per_noise:.2f} and {per_refine:.2f} s/step), and each phase needs {MIN_PHASE_STEPS}; "
                        f"give at least --minutes {least_minutes(spent, per_noise, per_refine, cfg.noise_share):g}, "
                        "or --steps N")
    cfg = dataclasses.replace(cfg, noise_steps=noise_steps, refine_steps=refine_steps)
    console.print(f"plan ({cfg.minutes:g} min, {spent:.0f} s of it spent loading and timing): noise model "
                  f"{cfg.noise_steps} steps (~{noise_s / 60:.1f} min, {per_noise:.2f} s/step), then denoiser "
                  f"{cfg.refine_steps} steps (~{refine_s / 60:.1f} min, {per_refine:.2f} s/step)")
    # deadlines are a safety net for a machine that slows down: the noise phase may overrun its share by a
    # quarter; the refine phase ends with the budget, whatever the noise phase took
    return cfg, (now + 1.25 * noise_s, budget_end)


def _time_steps(trainer: Any, dataset: Any, batch_size: int, give_up_at: float | None = None) -> float:
    """Seconds per step (data included), from TRIAL_STEPS steps after one untimed step. Past ``give_up_at``
    (monotonic) it stops with _OverBudget: timing must not spend a budget it is meant to plan."""
    batches = batch_iterator(dataset, batch_size, 0, TRIAL_STEPS + 1, World(), 0, 0)
    first = time.perf_counter()
    trainer.step(0, next(batches))
    began = time.perf_counter()
    for i in range(TRIAL_STEPS):
        if give_up_at is not None and time.monotonic() > give_up_at:
            raise _OverBudget((time.perf_counter() - first) / (i + 1))
        trainer.step(i + 1, next(batches))
    if give_up_at is not None and time.monotonic() > give_up_at:
        raise _OverBudget((time.perf_counter() - first) / (TRIAL_STEPS + 1))
    return max((time.perf_counter() - began) / TRIAL_STEPS, 1e-4)


# ---- reports -------------------------------------------------------------------------------------

def fit_side(noisy: list[np.ndarray]) -> int:
    """The noise-fit crops' side: FIT_CROP, or less (a multiple of the statistics' window) when a noisy photo is
    smaller, so no crop of the folder is padded by mirroring and measured as noise it does not have."""
    smallest = min(min(image.shape[:2]) for image in noisy)
    return max(SUBPATCH, min(FIT_CROP, smallest // SUBPATCH * SUBPATCH))


def _blind_sigmas(crops: list[np.ndarray]) -> list[float]:
    """Blind σ per crop (skimage's wavelet estimate, 0-255)."""
    return [estimate_noise_sigma(c) for c in crops]


def _measure(crops: list[np.ndarray], sigmas: list[float]) -> dict[str, float]:
    """Blind σ p10/median/p90 over crops, and the correlation ratios."""
    stats = noise_statistics(torch.stack([to_tensor(c) for c in crops]))
    sig = torch.exp(stats[:, :5])
    luma_vs_colour = (sig[:, 3] / sig[:, :3].mean(dim=1)).median().item()
    coarse_vs_fine = (sig[:, 4] / sig[:, 3]).median().item()
    p10, p50, p90 = np.percentile(sigmas, [10, 50, 90])
    return {"blind_sigma_p10": float(p10), "blind_sigma_median": float(p50), "blind_sigma_p90": float(p90),
            "luma_vs_colour": luma_vs_colour, "coarse_vs_fine": coarse_vs_fine}


@torch.no_grad()
def _apply_f(f_path: Path, crops: list[np.ndarray], seed: int) -> tuple[list[np.ndarray], list[float]]:
    """F(clean) as 8-bit files, and the std F added to each crop (0-255): the amplitude a blind estimate cannot
    read."""
    f = load_generator(f_path)[0]
    torch.manual_seed(seed)
    out, added = [], []
    for crop in crops:
        x = to_tensor(crop)[None]
        y = f(x).clamp(0, 1)
        added.append(float((y - x).std()) * 255.0)
        out.append(to_dtype(y[0].numpy().transpose(1, 2, 0) * 255.0, np.uint8))
    return out, added


def write_noise_fit(out_dir: Path, start: StartModel, data: _Data, cfg: AdaptConfig) -> dict[str, Any]:
    """noise_fit.json, noise_fit.md and noise_fit.png: F's noise on clean crops against the noisy folder's crops,
    measured the same way (no ground truth), before (the start's F) and after adaptation, with the photos used."""
    channels = read_generator_file(start.f)[1].channels
    side = fit_side(data.noisy)
    clean = random_crops(data.clean, cfg.seed, channels, side, FIT_CROPS)
    noisy = random_crops(data.noisy, cfg.seed + 1, channels, side, FIT_CROPS)
    sigmas = {"noisy folder": _blind_sigmas(noisy), "clean photos (no noise)": _blind_sigmas(clean)}
    rows = {label: _measure(crops, sigmas[label]) for label, crops in (("noisy folder", noisy),
                                                                       ("clean photos (no noise)", clean))}
    added: dict[str, list[float]] = {}
    for label, path in (("F before (start model)", start.f), ("F adapted", out_dir / "F.safetensors")):
        fake, added[label] = _apply_f(path, clean, cfg.seed)
        sigmas[label] = _blind_sigmas(fake)
        rows[label] = {**_measure(fake, sigmas[label]), "added_std": float(np.median(added[label]))}
    real = rows["noisy folder"]["blind_sigma_median"]
    ratios = {label: rows[label]["blind_sigma_median"] / max(real, 1e-6) for label in
              ("F before (start model)", "F adapted")}
    report = {"crops": FIT_CROPS, "crop_size": side, "noisy_dir": str(Path(cfg.noisy_dir).resolve()),
              "photos": data.note, "rows": rows, "level_ratio_to_folder": ratios,
              "blind_sigma_per_crop": sigmas, "added_std_per_crop": added,
              "how": "blind sigma: skimage.restoration.estimate_sigma on each crop (0-255); luma_vs_colour and "
                     "coarse_vs_fine: medians over 32x32 windows of the finest-wavelet sigma ratios (luma to the "
                     "channels' mean; one scale coarser to the finest): higher = noise more correlated across "
                     "channels / in space; added_std: the std F adds (what the blind estimate reads low)"}
    atomic_write_bytes(out_dir / "noise_fit.json", json.dumps(report, indent=2).encode())
    atomic_write_bytes(out_dir / "noise_fit.png", figure_png(noise_fit_figure(sigmas, added, side), dpi=90))
    lines = [f"# Noise fit: F(clean) against {report['noisy_dir']}", "",
             f"Photos: {data.note}", "",
             f"{FIT_CROPS} random {side}x{side} crops per row, never resized; measured the same way on "
             "every row, without ground truth.", "",
             "| | blind σ p10 | median | p90 | luma / colour σ | coarse / fine σ | σ F adds |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for label, r in rows.items():
        added_text = f"{r['added_std']:.1f}" if "added_std" in r else ""
        lines.append(f"| {label} | {r['blind_sigma_p10']:.2f} | {r['blind_sigma_median']:.2f} | "
                     f"{r['blind_sigma_p90']:.2f} | {r['luma_vs_colour']:.2f} | {r['coarse_vs_fine']:.2f} | "
                     f"{added_text} |")
    lines += ["", f"F's median blind σ over the folder's: {ratios['F before (start model)']:.2f} before, "
              f"{ratios['F adapted']:.2f} adapted (1.00 = matched). The blind σ reads correlated noise low, the same "
              "way on every row, so the rows compare even where the absolute value does not.", "",
              "![Histograms of the blind σ per crop (your photos, clean photos, F before and after) and of the σ F "
              "adds](noise_fit.png)", ""]
    atomic_write_bytes(out_dir / "noise_fit.md", "\n".join(lines).encode())
    return report


def noise_fit_figure(sigmas: dict[str, list[float]], added: dict[str, list[float]], side: int) -> Any:
    """Two labelled histograms: the blind σ per crop of the folder, of the clean photos and of F(clean) before
    and after (one estimator for all, so they compare), and the σ F adds before and after (which the blind
    estimate reads low). A matplotlib Figure, drawn without pyplot."""
    from matplotlib.figure import Figure  # imported on use: matplotlib is slow to import

    fig = Figure(figsize=(11, 4.2))
    left, right = fig.subplots(1, 2)
    styles = {"noisy folder": {"histtype": "stepfilled", "alpha": 0.35, "color": "tab:blue"},
              "clean photos (no noise)": {"histtype": "step", "color": "gray", "linestyle": ":"},
              "F before (start model)": {"histtype": "step", "color": "tab:orange", "linestyle": "--"},
              "F adapted": {"histtype": "step", "color": "tab:green", "linewidth": 2}}
    for ax, values, xlabel, title in (
            (left, sigmas, "blind σ per crop (0-255; wavelet estimate, reads correlated noise low)",
             "noise level: your photos vs F(clean)"),
            (right, added, "σ F adds to a clean crop (0-255)", "noise F adds, before and after")):
        top = max((max(v) for v in values.values() if v), default=1.0)
        bins = np.linspace(0.0, max(top, 1e-3) * 1.05, 30)
        for label, v in values.items():
            ax.hist(v, bins=bins, label=f"{label} (median {np.median(v):.2f})", **styles[label])
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel("crops")
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"adapt noise fit: {len(next(iter(sigmas.values())))} random {side}x{side} crops per set, "
                 "no ground truth", fontsize=10)
    fig.tight_layout()
    return fig


def _display_crop(pixels: np.ndarray, side: int) -> np.ndarray:
    """The centre crop of a photo as 8-bit RGB (16-bit scaled and rounded, gray copied to three channels)."""
    if pixels.dtype != np.uint8:
        pixels = to_dtype(pixels.astype(np.float32) * (255.0 / np.iinfo(pixels.dtype).max), np.uint8)
    pixels = fit_channels(pixels, 3)
    h, w = pixels.shape[:2]
    top, left = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return np.ascontiguousarray(pixels[top:top + side, left:left + side])


def _sigma_text(image: np.ndarray) -> str:
    try:
        return f"{estimate_noise_sigma(image):.1f}"
    except ValueError:  # a flat or tiny crop has no σ to read
        return "-"


def write_before_after(out_dir: Path, start: StartModel, cfg: AdaptConfig, count: int = 4, side: int = 192) -> Path:
    """before_after.png: centre crops of the first few noisy photos (never the output folder's own pictures), per
    row noisy | start model | adapted G, with column titles and each crop's blind σ (no clean twin, so no PSNR).
    The grid's font has no Greek letters: it says "sigma"."""
    paths = collect_images(Path(cfg.noisy_dir), exclude=out_dir)[:count]
    infer = InferConfig(tile=0, device=cfg.device)
    before = load_denoiser(start.g)[0]
    after = load_denoiser(out_dir / "G.safetensors")[0]
    rows, captions = [], []
    for path in paths:
        try:
            crop = _display_crop(split_alpha(read_image(path).pixels)[0], side)
        except DataError:
            continue
        row = [crop, denoise_array(before, crop, infer), denoise_array(after, crop, infer)]
        rows.append(row)
        noisy_s, before_s, after_s = (_sigma_text(a) for a in row)
        captions.append(f"{path.relative_to(cfg.noisy_dir)}   blind sigma: noisy {noisy_s}, start model {before_s}, "
                        f"adapted {after_s}")
    target = out_dir / "before_after.png"
    if rows:
        grid = labelled_grid(rows, ["noisy", "start model", "adapted"], captions,
                             "before / after adapt (no clean twin, so no PSNR: blind sigma, 0-255)")
        atomic_write_bytes(target, encode_image(grid, ".png"))
    return target
