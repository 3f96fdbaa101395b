"""Frozen configs. Each is saved inside the checkpoint it produced (``config_json`` writes and reads them back) and
printed at the start of a run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from data_tools.paths import real_path
from denoise_gan.config_fields import (
    ConfigError,
    check_fields,
    nested,
    opt,
    require,
    require_step_size,
    said_name,
)
from denoise_gan.config_json import from_dict, json_object, to_dict, to_json  # (scripts import them from here)

__all__ = ["AdaptConfig", "ConfigError", "DataConfig", "DiscriminatorConfig", "GeneratorConfig", "ModelConfig",
           "RefineConfig", "TrainConfig", "from_dict", "json_object", "to_dict", "to_json"]


MAX_WIDTH = 4096  # the widest net a weight file may claim (the loader's bound too); the shipped G is 48
MAX_STEPS = 10_000_000  # weeks of CPU time even on a GPU: more is a typo, refused before the run starts
MAX_SEED = 2**32 - 1  # what every random generator a run seeds accepts
MAX_DEPTH, MAX_BLOCKS = 8, 64  # far past any useful net (stride 256; the ResNet reference has 9 blocks)
MAX_LR = 1.0  # an Adam step past this only diverges (and 1e308 overflows inside the optimiser)
MAX_WORKERS = 64  # each worker is a process holding a copy of the data
MAX_MINUTES = 7 * 24 * 60.0  # a week: a longer budget is a typo (and 1e300 made a step count of 300 digits)


def require_patch_multiple(cfg: Any) -> None:
    """A config's patch size, a multiple of 8 (the shipped nets' stride), named as its user named it."""
    require(cfg.patch_size % 8 == 0, f"{said_name('patch_size', cfg)} must be a multiple of 8, not {cfg.patch_size}")


@dataclass(frozen=True)
class GeneratorConfig:
    arch: str = opt("unet", "{net} architecture: {generators}.", flag="--generator")
    channels: int = opt(3, "3 (colour; gray images are copied) or 1.", at_least=1)
    width: int = opt(16, "{net} base width (the U-Net doubles it per level; the ResNet's ngf).", at_least=1,
                     at_most=MAX_WIDTH)
    depth: int = opt(3, "{net} levels below its input resolution (U-Net: stride 2**depth; level-aware G: "
                        "2**(depth + 1), at least 8).", at_least=1, at_most=MAX_DEPTH)
    blocks: int = opt(1, "{net} residual blocks per level (ResNet: in all).", at_least=1, at_most=MAX_BLOCKS)

    def __post_init__(self) -> None:
        check_fields(self)  # its types first: a channels='3' is not 3
        require(self.channels in (1, 3), f"{said_name('channels', self)} must be 1 or 3, not {self.channels}")
        object.__setattr__(self, "arch", self.arch.strip().lower())  # --generator UNET, as --loss L1 is read

    @property
    def stride(self) -> int:
        """What every input side must be a multiple of, as the built network declares it (a test holds the two
        together): the ResNet's 4 whatever its depth, the level-aware G's 2**(depth + 1) (it unshuffles first)
        and at least its level estimator's 8, another U-Net's 2**depth."""
        if self.arch == "resnet":
            return 4
        return max(8, 2 ** (self.depth + 1)) if self.arch == "level" else 2**self.depth


@dataclass(frozen=True)
class DiscriminatorConfig:
    channels: int = opt(3, "3 or 1, as the generators.")
    width: int = opt(32, "Discriminator width.", at_least=1, at_most=MAX_WIDTH)
    layers: int = opt(3, "Discriminator depth (3 = 70x70 PatchGAN).", at_least=1, at_most=MAX_DEPTH)
    spectral_norm: bool = opt(False, "Spectral norm in the discriminators (the shipped recipe).",
                              flag="--spectral-norm/--no-spectral-norm")

    def __post_init__(self) -> None:
        check_fields(self)


NOISE_MODEL_HELP = ("F's architecture: noise (independent channels) or colour-noise (noise correlated across "
                    "channels, as demosaiced camera noise and JPEG'd noise are).")


@dataclass(frozen=True)
class ModelConfig:
    """Both directions of the CycleGAN: G noisy->clean, F clean->noisy, and their discriminators."""

    g: GeneratorConfig = nested(GeneratorConfig, name="G's")
    f: GeneratorConfig = nested(lambda: GeneratorConfig(arch="noise", width=8, depth=2, blocks=1), prefix="f-",
                                name="F's (the noise model's)", flags={"arch": "--noise-model"},
                                helps={"arch": NOISE_MODEL_HELP,  # F is a U-Net: G's ResNet clauses do not apply
                                       "width": "{net} base width (its U-Net doubles it per level).",
                                       "blocks": "{net} residual blocks per level."}, shared=("channels",))
    d: DiscriminatorConfig = nested(lambda: DiscriminatorConfig(spectral_norm=True), prefix="d-",
                                    flags={"spectral_norm": "--spectral-norm/--no-spectral-norm"}, shared=("channels",))

    def __post_init__(self) -> None:
        check_fields(self)  # ModelConfig(g="unet") failed later as an AttributeError deep in TrainConfig


def refuse_overlapping(clean_dir: str, noisy_dir: str) -> None:
    """--clean and --noisy must be independent: the same folder, or one inside the other (images are read
    recursively), would put the same photos in both domains."""
    if not (clean_dir and noisy_dir):
        return
    clean, noisy = real_path(clean_dir), real_path(noisy_dir)
    require(clean != noisy, f"--clean and --noisy are the same folder ({clean_dir}); the two must be independent")
    noisy_side, clean_side = ("--noisy", noisy_dir, noisy), ("--clean", clean_dir, clean)
    for (inner, inner_dir, path), (outer, outer_dir, folder) in ((noisy_side, clean_side), (clean_side, noisy_side)):
        require(not path.is_relative_to(folder), f"{inner} {inner_dir} is inside {outer} {outer_dir}, whose images "
                                                 "are read with its subfolders: the two must be independent folders")


@dataclass(frozen=True)
class DataConfig:
    clean_dir: str = opt("", "Folder of clean images (searched recursively).", flag="--clean")
    noisy_dir: str = opt("", "Folder of noisy images, independent of --clean (searched recursively).", flag="--noisy")
    noise: str = opt("", "Instead of --noisy: synthesise the noisy domain from a disjoint half of --clean with "
                         "this noise spec.")
    patch_size: int = opt(64, "Side of the random training crops, in pixels (a multiple of 8).", at_least=32)
    batch_size: int = opt(8, "Patches per step.", at_least=1)
    gray_fraction: float = opt(0.25, "Share of patches turned gray, so gray photos are handled natively.",
                               at_least=0.0, at_most=1.0)
    workers: int = opt(1, "Data-loading worker processes.", at_least=0, at_most=MAX_WORKERS)

    def __post_init__(self) -> None:
        check_fields(self)
        refuse_overlapping(self.clean_dir, self.noisy_dir)


# The run-length and reporting fields train, refine and adapt share, with their help and bounds.
STEPS_HELP = "Total steps; with --resume the new total (default there: the run's own)."
LR_HELP = "Adam learning rate, constant for the first --decay-from share of the steps, then decaying linearly to 0."
DECAY_HELP = "Share of the steps at a constant learning rate before the linear decay."
SEED_HELP = "Run seed: the same seed, steps and --threads give the same result."
LOG_HELP = "Steps between log.csv rows (and, when the output is not a terminal, progress lines)."
SAVE_HELP = "Steps between checkpoints and weight exports."
KEEP_HELP = "Checkpoints kept (the newest)."
VAL_HELP = "Paired held-out set made by `synth`: PSNR/SSIM and a labelled grid per validation (default: none)."
VAL_EVERY_HELP = "Steps between validations; 0 = with --save-every."
DEVICE_HELP = "auto, cpu, cuda or cuda:N; with --resume the device to go on on (default there: the run's own)."
PRECISION_HELP = ("auto (bf16 on CUDA, fp32 on a GPU without native bf16; on the CPU the fastest of fp32, bf16 "
                  "and torch.compile, timed on long runs), fp32 or bf16.")
WORKERS_HELP = "Data-loading worker processes."
PRECISIONS = ("auto", "fp32", "fp16", "bf16")  # fp16 is refused for training with its own message
STATISTICS_HELP = ("Noise statistics F matches: compact (channels' and luma's σ, luma one scale coarser, brightness; "
                   "for synthetic noise) or camera (also luma's edges and a coarser scale, colour differences, and "
                   "per brightness band; for demosaiced, JPEG'd camera noise).")
NOISE_STATISTICS = ("compact", "camera")  # the names of nets.noise_stats.STATISTICS_SETS (tested)


@dataclass(frozen=True)
class RunFields:
    """What every training run (train, refine, adapt) has besides its hyper-parameters: its seed, how often it
    logs and saves, and where it runs (their options come after the run's own in --help)."""

    seed: int = opt(0, SEED_HELP, at_least=0, at_most=MAX_SEED)
    log_every: int = opt(10, LOG_HELP, at_least=1)
    save_every: int = opt(500, SAVE_HELP, at_least=1)
    keep_checkpoints: int = opt(3, KEEP_HELP, at_least=1)
    device: str = opt("auto", DEVICE_HELP)
    precision: str = opt("auto", PRECISION_HELP, choices=PRECISIONS)


@dataclass(frozen=True)
class ValidatedRunFields(RunFields):
    """A train or refine run also validates on a paired set; adapt has no clean truth for the user's photos."""

    val_dir: str = opt("", VAL_HELP, flag="--val")
    val_every: int = opt(0, VAL_EVERY_HELP, at_least=0)


@dataclass(frozen=True)
class TrainConfig(ValidatedRunFields):
    data: DataConfig = nested(DataConfig)  # first: its folders lead the command's options
    model: ModelConfig = nested(ModelConfig)
    steps: int = opt(2000, STEPS_HELP, at_least=1, at_most=MAX_STEPS)
    decay_from: float = opt(0.5, DECAY_HELP, at_least=0.0, at_most=1.0)
    lr: float = opt(2e-4, LR_HELP, positive=True, at_most=MAX_LR)
    beta1: float = opt(0.5, "Adam's β1.", at_least=0.0, below=1.0)
    beta2: float = opt(0.999, "Adam's β2.", at_least=0.0, below=1.0)
    lambda_cycle: float = opt(10.0, "Weight of the L1 cycle-consistency losses (both ways).", at_least=0.0)
    lambda_identity: float = opt(0.5, "Times --lambda-cycle; 0 = off.", at_least=0.0)
    lambda_stats: float = opt(1.0, "Weight of F's noise-statistics matching (level distribution, correlation); "
                                   "0 = adversarial only.", at_least=0.0)
    noise_statistics: str = opt("compact", STATISTICS_HELP, choices=NOISE_STATISTICS)
    pool_size: int = opt(50, "Generated images in the discriminators' history pool; 0 = none.", at_least=0)
    init_std: float = opt(0.02, "Std of the N(0, std) weight initialisation (a level-aware G, and spectral-"
                               "normalised discriminators, the default, keep PyTorch's init).", positive=True,
                               at_most=1.0)

    def __post_init__(self) -> None:
        check_fields(self)
        m, side = self.model, max(8, self.model.g.stride)
        why = "G's stride" if side == m.g.stride else "the least any run takes"  # (a shallow G's stride is below it)
        require(self.data.patch_size % side == 0,
                f"{said_name('patch_size', self.data)} must be a multiple of {side} ({why}), not "
                f"{self.data.patch_size}")
        # F's U-Net backbone has a stride too: a patch it does not divide failed as "too small for F" in torch's words
        f_side, f_depth = m.f.stride, said_name("depth", m.f)
        f_depth = f_depth.replace("--", "--f-", 1) if f_depth.startswith("--") else "model.f.depth"
        require(self.data.patch_size % f_side == 0,
                f"{said_name('patch_size', self.data)} must be a multiple of {f_side} (F's stride, 2 to the power "
                f"of {f_depth}), not {self.data.patch_size}")
        require_step_size(self.data.batch_size, self.data.patch_size)
        require(m.g.channels == m.f.channels == m.d.channels,
                f"G, F and the discriminators must have the same channels, not {m.g.channels}, {m.f.channels} "
                f"and {m.d.channels}")


@dataclass(frozen=True)
class RefineConfig(ValidatedRunFields):
    """Pseudo-pair refinement: G trained on (F(clean), clean) with a plain L1 loss (or L2: ``loss="l2"``).

    A level-aware G (``generator.arch == "level"``) learns from F's level map too: G denoises given the map F
    used, its estimator learns to predict that map from the noisy image alone. With `noise` set, the pairs come
    from that synthetic spec instead of F and G starts fresh: the supervised upper bound an unpaired method
    chases, for comparison only. ``generator`` None fine-tunes the run's own G (``--generator same``).
    """

    run_dir: str = opt("", "A `denoise-gan train` run folder (its G, F and clean images).")
    noise: str = opt("", "Supervised upper bound: pairs from this synthetic spec instead of F (G starts fresh). "
                         "For comparison only.")
    generator: GeneratorConfig | None = nested(
        lambda: GeneratorConfig(arch="level", width=32, depth=2, blocks=2), name="The new G's",
        helps={"arch": "What to train: 'same' fine-tunes the run's own G; or a new one: {generators}."},
        shared=("channels",))
    fresh: bool = opt(False, "With --generator same: train the run's architecture newly initialised instead of "
                             "fine-tuning its G (a new --generator starts new anyway).", flag="--fresh")
    init: str = opt("", "Start G from these weights (a path, or a shipped name such as 'default'), with their "
                        "architecture: continue a model with new settings.")
    clean_fraction: float = opt(0.1, "Level-aware G: share of samples left clean with a zero level map.",
                                at_least=0.0, below=1.0, level_only=True)
    clean_jpeg_fraction: float = opt(0.0, "Level-aware G: share of the clean samples JPEG-compressed first "
                                          "(quality 70-95), so block edges are not read as noise.",
                                     at_least=0.0, at_most=1.0, level_only=True)
    faint_fraction: float = opt(0.0, "Share of F's draws whose noise (and level map) is scaled down by a random "
                                     "factor, so G and its estimator learn faint noise too.", at_least=0.0, at_most=1.0)
    correlated_fraction: float = opt(0.0, "Share of F's draws whose noise is blurred and mixed across channels "
                                          "(then rescaled to its own std), as demosaicing and JPEG leave "
                                          "camera noise.", at_least=0.0, at_most=1.0)
    white_fraction: float = opt(0.0, "Share of F's draws whose noise is made spatially white (a random sign per "
                                     "pixel, each pixel's size kept), as plain Gaussian noise is.",
                                at_least=0.0, at_most=1.0)
    lambda_level: float = opt(1.0, "Level-aware G: weight of the level estimator's loss.", at_least=0.0,
                              level_only=True)
    estimator_only: bool = opt(False, "Level-aware G: train only its level estimator; the denoiser stays as it "
                                      "is (and each step costs a fraction).", flag="--estimator-only", level_only=True)
    estimator_noise: str = opt("", "Level-aware G: a noise spec whose draws the level estimator also learns to "
                                   "read, at the level measured from each pair (e.g. the camera pipeline, whose "
                                   "demosaicing and JPEG leave noise F does not draw). The denoiser never "
                                   "trains on them.", level_only=True)
    estimator_noise_fraction: float = opt(0.0, "Share of the estimator's samples taken from --estimator-noise.",
                                          at_least=0.0, at_most=1.0)
    steps: int = opt(4000, STEPS_HELP, at_least=1, at_most=MAX_STEPS)
    lr: float = opt(2e-4, LR_HELP, positive=True, at_most=MAX_LR)
    decay_from: float = opt(0.5, DECAY_HELP, at_least=0.0, at_most=1.0)
    patch_size: int = opt(64, "Side of the random training crops, in pixels (a multiple of 8).", at_least=32)
    batch_size: int = opt(16, "Patches per step.", at_least=1)
    gray_fraction: float = opt(0.25, "Share of patches turned gray, so gray photos are handled natively.",
                               at_least=0.0, at_most=1.0)
    detail_fraction: float = opt(0.0, "Share of crops taken as the most detailed of four random crops, so dense "
                                      "texture (foliage, fabric) is seen, clean and noisy, as often as flat areas "
                                      "and is not read as noise.", at_least=0.0, at_most=1.0)
    pattern_fraction: float = opt(0.0, "Share of crops shaded by synthetic stripes or grids (2-16 px period), so "
                                       "regular texture (blinds, fabric, text) is seen clean and under noise and "
                                       "is not read as noise.", at_least=0.0, at_most=1.0)
    colour_cast_fraction: float = opt(0.0, "Share of crops given a strong colour cast (one channel kept, the "
                                           "others scaled by 8% to 100%), so saturated colours are seen under every "
                                           "noise at its true level and colour alone does not predict the level.",
                                      at_least=0.0, at_most=1.0)
    loss: str = opt("l1", "l1 or l2.", choices=("l1", "l2"))
    quantize: bool = opt(True, "Clip and round F's output to 8 bits, as the files G will meet, before G sees it.",
                         flag="--quantize/--no-quantize")
    log_every: int = opt(20, LOG_HELP, at_least=1)
    workers: int = opt(1, WORKERS_HELP, at_least=0, at_most=MAX_WORKERS)

    def __post_init__(self) -> None:
        check_fields(self)
        require_patch_multiple(self)
        if self.generator is not None:  # a new G (the run's own is checked against the patch when it loads)
            require(self.patch_size % self.generator.stride == 0,
                    f"{said_name('patch_size', self)} must be a multiple of {self.generator.stride} (the new G's "
                    f"stride), not {self.patch_size}")
        require_step_size(self.batch_size, self.patch_size)
        require(not (self.init and self.noise),
                "--init and --noise do not go together: the supervised comparison starts fresh")
        require((self.estimator_noise_fraction > 0) == bool(self.estimator_noise),
                "--estimator-noise and --estimator-noise-fraction go together: give both, or neither")


@dataclass(frozen=True)
class AdaptConfig(RunFields):
    """`adapt`: teach a model the noise of the user's own photos, unpaired, within a budget.

    Two phases, each a run of the loop: the noise phase fine-tunes F (with D_noisy) on the noisy folder against
    clean photos, by F's adversarial, noise-statistics and identity losses (the CycleGAN step's half for F);
    the refine phase fine-tunes G on F's pseudo-pairs. The budget is wall-clock `minutes` (turned into step
    counts by timing a few steps of each phase) or `steps`; `noise_share` of it goes to the noise phase.
    """

    noisy_dir: str = opt("", "Folder of your noisy photos (5 or more, one camera; never resized; searched "
                             "recursively).", flag="--noisy")
    clean_dir: str = opt("", "Folder of clean photos, unrelated to --noisy (searched recursively; default: the "
                             "clean photos bundled with scikit-image).", flag="--clean")
    start: str = opt("default", "What to start from: a shipped model's name, or a folder with G.safetensors and "
                                "F.safetensors (a train run, an adapt output).", flag="--from")
    minutes: float = opt(20.0, "Wall-clock budget for both phases, loading and timing included.", positive=True,
                         at_most=MAX_MINUTES)
    steps: int = opt(0, "Total steps of both phases instead of --minutes (at least 2: one per phase).", at_least=0,
                     at_most=MAX_STEPS)
    noise_share: float = opt(0.4, "Share of the budget for learning the noise (F); the rest refines the "
                                  "denoiser G.")
    noise_steps: int = opt(0, "Noise-phase steps, resolved before step 1 (from --steps, or from --minutes by "
                              "timing), then fixed.", cli=False, at_least=0, at_most=MAX_STEPS)
    refine_steps: int = opt(0, "Denoiser-phase steps, resolved as noise_steps is.", cli=False, at_least=0,
                            at_most=MAX_STEPS)
    patch_size: int = opt(64, "Side of the random training crops, in pixels (a multiple of 8).", at_least=32)
    batch_size: int = opt(8, "Patches per step of the noise phase.", at_least=1)
    refine_batch_size: int = opt(16, "Patches per step of the denoiser phase.", at_least=1)
    lr: float = opt(2e-4, "Adam learning rate of the noise phase (F and D_noisy).", positive=True, at_most=MAX_LR)
    refine_lr: float = opt(1e-4, "Adam learning rate of the denoiser phase (G is fine-tuned, not trained afresh).",
                           positive=True, at_most=MAX_LR)
    decay_from: float = opt(0.5, DECAY_HELP, at_least=0.0, at_most=1.0)
    lambda_stats: float = opt(1.0, "Weight of F's noise-statistics matching: what sees the noise's amplitude.",
                              at_least=0.0)
    noise_statistics: str = opt("camera", STATISTICS_HELP, choices=NOISE_STATISTICS)
    lambda_identity: float = opt(5.0, "Weight of F's identity L1 on the noisy photos.", at_least=0.0)
    pool_size: int = opt(50, "Generated images in D_noisy's history pool; 0 = none.", at_least=0)
    clean_fraction: float = opt(0.1, "Denoiser phase, level-aware G: share of samples left clean.",
                                at_least=0.0, below=1.0, level_only=True)
    lambda_level: float = opt(1.0, "Denoiser phase, level-aware G: weight of the level estimator's loss.",
                              at_least=0.0, level_only=True)
    gray_fraction: float = opt(0.1, "Denoiser phase: share of patches turned gray (the noise phase never turns "
                                    "a photo gray).", at_least=0.0, at_most=1.0)
    save_every: int = opt(100, SAVE_HELP, at_least=1)  # a run of minutes: saved more often, fewer kept
    keep_checkpoints: int = opt(2, KEEP_HELP, at_least=1)
    workers: int = opt(0, WORKERS_HELP, at_least=0, at_most=MAX_WORKERS)

    def __post_init__(self) -> None:
        if type(self.steps) is int:  # 0 is "by --minutes"; any other count needs a step per phase
            require(self.steps == 0 or 2 <= self.steps <= MAX_STEPS,
                    f"{said_name('steps', self)} must be between 2 and {MAX_STEPS} (one step per phase at least), "
                    f"not {self.steps}")
        check_fields(self)
        require(0.0 < self.noise_share < 1.0, f"{said_name('noise_share', self)} must be between 0 and 1 (both "
                                              f"excluded: each phase needs a share), not {self.noise_share:g}")
        require_patch_multiple(self)
        require_step_size(self.batch_size, self.patch_size)
        require_step_size(self.refine_batch_size, self.patch_size, "--refine-batch-size")
        refuse_overlapping(self.clean_dir, self.noisy_dir)
