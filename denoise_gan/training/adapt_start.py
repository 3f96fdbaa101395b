"""Where an adaptation starts: a shipped model's G with its F and D_noisy, a `train` run, or an adapt output;
the files checked by architecture (G a denoiser, F a noise model), each read from disk once."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from data_tools.folder_scan import not_a_folder
from denoise_gan.config import (
    DiscriminatorConfig,
    GeneratorConfig,
    TrainConfig,
)
from denoise_gan.errors import UserError, WeightsError, first_line
from denoise_gan.nets.discriminators import build_discriminator
from denoise_gan.nets.generator_names import NOISE_MODEL_ARCHS
from denoise_gan.nets.registry import init_weights
from denoise_gan.nets.run_folder import RunFolder
from denoise_gan.nets.shipped import resolve_weights, shadowed_note, shipped_model, shipped_names, shipped_part
from denoise_gan.nets.weight_header import read_weight_bytes
from denoise_gan.nets.weights import (
    list_checkpoints,
    load_checkpoint,
    load_discriminator,
    load_state,
    read_generator_config,
)


@dataclass(frozen=True)
class StartModel:
    """The files an adaptation starts from: G, F, and D_noisy when there is one. Each is read from disk once,
    on first use, and kept (``read``): the role check, the planning probe, both phases and the reports use that
    one read (the files are a few MB)."""

    label: str
    g: Path
    f: Path
    d_noisy: Path | None = None  # a discriminator file
    d_checkpoint: Path | None = None  # or a `train` run's newest checkpoint, which holds one
    _read: dict[Path, bytes] = field(default_factory=dict, init=False, repr=False, compare=False)

    def read(self, path: Path) -> bytes:
        """The bytes of one of the start's files (``g``, ``f``, ``d_noisy``), read from disk the first time."""
        if path not in self._read:
            self._read[path] = read_weight_bytes(path)
        return self._read[path]

    def config(self, path: Path) -> GeneratorConfig:
        """The generator config of the start's ``g`` or ``f``, from its header."""
        return read_generator_config(path, self.read(path))[0]


def start_of(start: str, resume: bool, named: bool) -> StartModel:
    """An adaptation's start model (``find_start``); a stored start that is absolute is a folder the user named, a
    relative one the shipped model's name. A resume needs it still: the phases start from it and the reports
    compare against it, so one gone since is said so, without the new run's advice (give --from ...)."""
    try:
        return find_start(start, named=os.path.isabs(start) if resume else named)
    except UserError as exc:
        if not resume:
            raise
        why = str(exc).split("; ")[0].removeprefix(f"--from {start}: ")
        raise UserError(f"{start}, the start model the adaptation began from ({why}): a resume reads it again; put "
                        "it back to resume") from None


def find_start(text: str, named: bool = True) -> StartModel:
    """A shipped model's name (G, with ``<name>-F`` and ``<name>-D_noisy`` beside it) or a folder: a `train` run
    (its refined G when ``refine/G.safetensors`` exists), or a previous adapt output. A name the user did not give
    (``named`` False: --from left out) is the shipped model, whatever a folder of that name where adapt runs holds."""
    folder, run = Path(text), RunFolder(text)
    if named and folder.is_dir():
        g = run.denoiser
        f = run.f
        for needed in (g, f):
            if not needed.is_file():
                note = shadowed_note(text)
                raise UserError(f"--from {folder}: no {needed.name} there; " + (
                    note or "give a `train` run folder, an adapt output folder, or a shipped model's name"))
        d = run.d_noisy
        found = list_checkpoints(run.checkpoints)
        return check_roles(StartModel(str(folder), g, f, d if d.is_file() else None,
                                      found[-1][1] if found and not d.is_file() else None))
    if "/" in text or text.endswith(".safetensors"):
        raise UserError(f"--from {text}: {not_a_folder(Path(text))}; give a shipped model's name or a folder holding "
                        "G.safetensors and F.safetensors")
    if text not in shipped_names() and "-" in text and text.rsplit("-", 1)[0] in shipped_names():
        raise UserError(f"--from {text}: a companion network of the shipped model; give the model's name, "
                        f"{text.rsplit('-', 1)[0]!r}, and adapt takes its F and discriminator with it")
    g = resolve_weights(text) if named else shipped_model(text)
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
    g_arch, f_arch = start.config(start.g).arch, start.config(start.f).arch
    if f_arch not in noise:
        raise UserError(f"--from {start.label}: {start.f} holds a {f_arch!r} generator, a denoiser, not a noise "
                        f"model (F must be one of: {', '.join(sorted(noise))})")
    if g_arch in noise:
        raise UserError(f"--from {start.label}: {start.g} holds a {g_arch!r} noise model, not a denoiser")
    return start


def start_discriminator(start: StartModel, channels: int) -> tuple[nn.Module, DiscriminatorConfig, str]:
    """D_noisy to fine-tune: the start's own, or a new spectral-norm PatchGAN when it has none."""
    if start.d_noisy is not None:
        net, cfg, _ = load_discriminator(start.d_noisy, data=start.read(start.d_noisy))
        return net, cfg, str(start.d_noisy)
    if start.d_checkpoint is not None:
        try:
            cfg = RunFolder(start.d_checkpoint.parent.parent).read_config(TrainConfig, what="train").model.d
            state = load_checkpoint(start.d_checkpoint)["nets"]["D_noisy"]
        except (UserError, OSError, ValueError, KeyError, TypeError) as exc:
            raise WeightsError(f"{start.d_checkpoint}: no usable D_noisy ({first_line(exc, 120)})") from None
        net = build_discriminator(cfg)
        load_state(net, state, f"{start.d_checkpoint} (D_noisy)")
        return net, cfg, str(start.d_checkpoint)
    cfg = DiscriminatorConfig(channels=channels, spectral_norm=True)
    net = build_discriminator(cfg)
    init_weights(net)
    return net, cfg, "new (the start has no D_noisy)"
