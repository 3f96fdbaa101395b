"""Which F weight file a noise model's name means (a file, a train run's or an adapt output's folder, a shipped
name), and the refusal of a denoiser given where a noise model is asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from data_tools.names import shown
from data_tools.paths import real_path
from denoise_gan.config import GeneratorConfig
from denoise_gan.errors import WeightsError
from denoise_gan.nets.generator_names import NOISE_MODEL_ARCHS
from denoise_gan.nets.run_folder import F_FILE, RunFolder
from denoise_gan.nets.shipped import (
    DEFAULT_MODEL,
    given_name,
    resolve_weights,
    shadowed_note,
    shipped_dir,
    shipped_part,
)
from denoise_gan.nets.weight_header import CHECKPOINT_SUFFIXES

DEFAULT_NOISE_MODEL = f"{DEFAULT_MODEL}-F"
FOLDER_NOISE_MODEL = F_FILE  # what a `train` run or an `adapt` output holds


def shipped_noise_models() -> list[str]:
    return sorted(p.stem for p in shipped_dir().glob("*-F.safetensors"))


def shipped_noise_model(name: str) -> Path | None:
    """The shipped noise model a bare name means (``default-F``, or ``default`` for its F), if one is shipped."""
    path = shipped_dir() / f"{name}.safetensors" if name.endswith("-F") else shipped_part(name, "F")
    return path if path.is_file() else None


def resolve_noise_model(source: str | Path | None) -> Path:
    """An F weight file as given; a folder's ``F.safetensors`` (a train run, an adapt output); a shipped name
    (``default-F``, or ``default`` for the default model's F). One-line ``WeightsError`` otherwise."""
    if source is None:  # the shipped one itself, whatever the working folder holds
        if (shipped := shipped_part(DEFAULT_MODEL, "F")).is_file():
            return shipped
        raise _unshipped(f"{DEFAULT_NOISE_MODEL}: no shipped noise model of that name")
    name = given_name(source, "a noise model", "an F file")
    if not name.strip():  # "" is a mistake (an unset variable), not a request for the default
        raise WeightsError(f"an empty noise model name; give an F file, a run folder or a shipped name "
                           f"(e.g. {DEFAULT_NOISE_MODEL!r})")
    candidate = Path(name)
    if candidate.is_dir():
        weights = RunFolder(candidate).f
        if weights.is_file():
            return weights
        shipped = shipped_noise_model(name)
        elsewhere = f"; {shadowed_note(name, shipped, 'noise model')}" if shipped else ""
        raise WeightsError(f"{candidate}: a folder without {FOLDER_NOISE_MODEL} (a train run or an adapt output "
                           f"holds one){elsewhere}")
    if candidate.suffix in CHECKPOINT_SUFFIXES:  # export would write the checkpoint's G, which is no noise model
        up = list(real_path(candidate).parents)[:3]  # RUN/checkpoints/, or adapt's RUN/noise/checkpoints/
        owner = next((f for f in up if RunFolder(f).f.is_file()), None)
        where = f"its run folder, {shown(owner)}" if owner else "its run folder"
        raise WeightsError(f"{candidate}: a run checkpoint; give {where} (its {FOLDER_NOISE_MODEL} is the run's "
                           "noise model)")
    if not (candidate.suffix or candidate.exists() or "/" in name):
        part = shipped_part(name, "F")
        if part.is_file():
            return part
        if not (shipped_dir() / f"{name}.safetensors").is_file():
            raise _unshipped(f"{name}: no such file or folder, and no shipped noise model of that name")
    return resolve_weights(name)


def _unshipped(missing: str) -> WeightsError:
    return WeightsError(f"{missing} (available: {', '.join(shipped_noise_models()) or 'none'})")


def refuse_denoiser(path: Path | str, cfg: GeneratorConfig, meta: dict[str, Any]) -> None:
    """A noise model must be one: a denoiser G (by architecture or recorded role) would remove noise."""
    role = str(meta.get("role", "")) if isinstance(meta, dict) else ""
    if cfg.arch not in NOISE_MODEL_ARCHS or role.startswith("G"):
        raise WeightsError(f"{path}: is a denoiser ({role or f'arch {cfg.arch}'}), not a noise model (arch "
                           f"{' or '.join(NOISE_MODEL_ARCHS)}); use a run's F.safetensors or "
                           f"{DEFAULT_NOISE_MODEL}")
