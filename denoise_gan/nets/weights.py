"""Weight files and run checkpoints: written atomically, loaded without executing code.

* Generator weights for inference: safetensors, with the generator's config in the metadata, so a file
  is self-describing and never unpickled.
* Run checkpoints (models, optimisers, schedulers, pool, RNG states): ``torch.save`` to a temp file and
  rename; loaded with ``torch.load(weights_only=True)``, which refuses pickled code.
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from data_tools.atomic_files import atomic_write_bytes
from data_tools.library_output import quiet_warnings
from data_tools.paths import real_path
from denoise_gan.config import DiscriminatorConfig, GeneratorConfig
from denoise_gan.config_json import to_dict
from denoise_gan.errors import UnsafeCheckpointError, WeightsError, first_line, is_out_of_memory, typed_line
from denoise_gan.nets.contract import denoiser_contract
from denoise_gan.nets.discriminators import build_discriminator
from denoise_gan.nets.generator_names import LEVEL_MAX, LEVEL_MAX_BOUNDS
from denoise_gan.nets.registry import build_generator, plausible_bounds
from denoise_gan.nets.run_folder import list_checkpoints
from denoise_gan.nets.weight_header import (
    GENERATOR_FORMAT,
    canonical,
    config_and_meta,
    not_safetensors,
    read_generator_header,
    read_metadata,
    read_weight_bytes,
    refuse_noise_model,
)

FORMAT = GENERATOR_FORMAT


WEIGHTS_LICENSE = "MIT"  # the weights' licence: the project's own
NOT_RECORDED = "not recorded"
PATH_KEYS = ("source_run",)  # metadata values that name a folder: stored absolute, never relative to a cwd
LEVEL_SCALE_KEY = "level_scale"  # metadata: the calibration factor on a level-aware G's estimated map
CALIBRATION_KEY = "calibration"  # metadata: what that factor was fitted on (written by `calibrate`)
LEVEL_SCALE_BOUNDS = (0.25, 4.0)
LEVEL_MAX_KEY = "level_max"  # metadata: a level-aware G's cap on its level map, where its training went past LEVEL_MAX


def input_convention(cfg: GeneratorConfig) -> str:
    """What the network takes, in words, for model cards and exported graphs."""
    if cfg.channels == 1:
        return "float32 Nx1xHxW gray in [0,1]; colour images denoised one plane at a time"
    return f"float32 Nx{cfg.channels}xHxW RGB in [0,1]; gray images copied to {cfg.channels} channels"


def describe(cfg: GeneratorConfig, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """A weight file's metadata with the descriptive fields model hubs expect: ``license``, ``noise_family``,
    ``input`` and ``training_data`` (given values win; files written before these fields get defaults)."""
    meta = dict(meta or {})
    for key in PATH_KEYS:
        if isinstance(meta.get(key), str) and meta[key]:
            meta[key] = str(real_path(meta[key]))
    return {"license": WEIGHTS_LICENSE, "noise_family": NOT_RECORDED, "training_data": NOT_RECORDED,
            "input": input_convention(cfg), **meta}


def save_generator(path: Path | str, net: nn.Module, cfg: GeneratorConfig, meta: dict[str, Any] | None = None,
                   overwrite: bool = True) -> None:
    """Weights plus config and descriptive metadata (see ``describe``) in one safetensors file, atomically (with
    ``overwrite=False`` a file that appeared meanwhile is kept: OutputExistsError)."""
    atomic_write_bytes(path, generator_bytes(net, cfg, meta), overwrite)


def generator_bytes(net: nn.Module, cfg: GeneratorConfig, meta: dict[str, Any] | None = None) -> bytes:
    """The bytes ``save_generator`` writes: the same for the same weights, config and metadata (so a graph made
    from a run checkpoint can name the file that checkpoint exports to). The net's own ``level_scale`` and
    ``level_max`` are what the file records, whatever ``meta`` says (they are properties of the net)."""
    state = {k: v.detach().to("cpu").contiguous() for k, v in net.state_dict().items()}
    scale, cap = getattr(net, "level_scale", 1.0), getattr(net, "level_max", LEVEL_MAX)
    meta = {k: v for k, v in (meta or {}).items() if k not in (LEVEL_SCALE_KEY, LEVEL_MAX_KEY)}
    if scale != 1.0:
        meta[LEVEL_SCALE_KEY] = scale
    if cap != LEVEL_MAX:
        meta[LEVEL_MAX_KEY] = cap
    metadata = {"format": FORMAT, "config": json.dumps(to_dict(cfg)),
                "meta": json.dumps(describe(cfg, meta), sort_keys=True)}
    return canonical(st_save(state, metadata=metadata))


def _open_safetensors(path: Path, what: str, data: bytes | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors and header metadata of a safetensors file, never unpickled (``what``: generator, discriminator;
    ``data``: the file's bytes when they were already read, so the file is not read again)."""
    data = read_weight_bytes(path) if data is None else data
    meta = read_metadata(path, data, what)  # refuses a pickle, a truncated or a corrupt file
    try:
        return st_load(data), meta
    except (SafetensorError, ValueError, RuntimeError):
        raise not_safetensors(path, data[:8], what) from None


def read_generator_file(path: Path | str,
                        data: bytes | None = None) -> tuple[dict[str, torch.Tensor], GeneratorConfig, dict]:
    """Tensors, config and metadata of a generator file, checked but not yet put into a network."""
    path = Path(path)
    tensors, meta = _open_safetensors(path, "generator", data)
    cfg, extra = config_and_meta(path, meta, FORMAT, GeneratorConfig, "generator")
    _check_plausible(cfg, path)
    return tensors, cfg, extra


def read_generator_config(path: Path | str, data: bytes | None = None) -> tuple[GeneratorConfig, dict]:
    """A generator file's config and metadata from its header alone, checked as a load checks them: for what
    needs only the architecture or the role (a noise model or a denoiser), not the tensors."""
    cfg, extra = read_generator_header(path, data)
    _check_plausible(cfg, Path(path))
    return cfg, extra


def _check_plausible(cfg: GeneratorConfig, path: Path) -> None:
    """The registry's bounds for the generator, checked before anything is built."""
    for name, (lo, hi) in plausible_bounds(cfg.arch).items():
        value = getattr(cfg, name)
        if not lo <= value <= hi:
            raise WeightsError(f"{path}: implausible generator config in metadata ({name}={value}, "
                               f"expected {lo}..{hi})")


def load_generator(path: Path | str, device: str | torch.device = "cpu", data: bytes | None = None,
                   calibrated: bool = True) -> tuple[nn.Module, GeneratorConfig, dict]:
    """The generator a file describes, with its weights (``data``: the file's bytes, when already read). The
    architecture is first built on the meta device (shapes only, no memory) and checked against the file's
    tensors, so a config that claims a huge network is refused before anything is allocated: the real network
    is never bigger than the file. ``calibrated``: apply the file's ``level_scale`` (see ``level_scale``); a
    trainer that goes on training the estimator starts without it, since the factor was fitted to these
    weights."""
    tensors, cfg, meta = read_generator_file(path, data)
    try:
        with torch.device("meta"):
            skeleton = build_generator(cfg)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise WeightsError(f"{path}: cannot build the generator its metadata describes ({exc})") from None
    check_state(skeleton, tensors, str(path))
    level_aware = denoiser_contract(skeleton).level_aware
    scale, cap = level_scale(path, level_aware, meta), _level_max(path, level_aware, meta)
    # the file's tensors become the skeleton's (checked above: names, shapes, kinds, finite values): a network built
    # anew drew its discarded random init from the caller's torch stream, and under a 16-bit default dtype
    # rounded the weights it then took in
    skeleton.load_state_dict(tensors, assign=True)
    net = skeleton.float()
    if calibrated and scale != 1.0:
        net.level_scale = scale
    if cap != LEVEL_MAX:  # not a calibration: the levels these very weights were trained on
        net.level_max = cap
    return net.to(device).eval(), cfg, meta


def level_scale(path: Path | str, net_is_level_aware: bool, meta: dict) -> float:
    """The factor a weight file's metadata sets on its estimated level map (written by `calibrate`; 1 when
    absent), checked: a number within LEVEL_SCALE_BOUNDS, on a level-aware generator only."""
    return _recorded_number(path, meta, LEVEL_SCALE_KEY, 1.0, LEVEL_SCALE_BOUNDS, net_is_level_aware,
                            "has no level estimator")


def _level_max(path: Path | str, net_is_level_aware: bool, meta: dict) -> float:
    """The cap a weight file records for its level map (LEVEL_MAX when absent), checked like ``level_scale``."""
    return _recorded_number(path, meta, LEVEL_MAX_KEY, LEVEL_MAX, LEVEL_MAX_BOUNDS, net_is_level_aware,
                            "takes no level map")


def _recorded_number(path: Path | str, meta: dict, key: str, default: float, bounds: tuple[float, float],
                     net_is_level_aware: bool, lacks: str) -> float:
    """A level-aware generator's number from its metadata (``default`` when absent): one-line WeightsErrors for
    a value that is not a number within ``bounds``, or one set on a generator that ``lacks`` what it acts on."""
    value = meta.get(key, default)
    lo, hi = bounds
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise WeightsError(f"{path}: implausible {key} in metadata ({value!r}, expected a number "
                           f"in {lo:g}..{hi:g})")
    if value != default and not net_is_level_aware:
        raise WeightsError(f"{path}: metadata sets a {key}, but its generator {lacks}")
    return float(value)


def load_denoiser(path: Path | str, device: str | torch.device = "cpu", data: bytes | None = None,
                  calibrated: bool = True) -> tuple[nn.Module, GeneratorConfig, dict]:
    """``load_generator`` for weights used to denoise, refusing a noise model (see ``refuse_noise_model``)."""
    net, cfg, meta = load_generator(path, device, data, calibrated)
    refuse_noise_model(path, cfg, meta)
    return net, cfg, meta


def load_state(net: nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    """load_state_dict with a one-line error naming the first mismatch instead of PyTorch's wall of text."""
    check_state(net, state, where)
    net.load_state_dict(state)


def check_state(net: nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    """Raise a one-line WeightsError unless `state` has exactly the network's tensors, with the same shapes and
    kinds (floating point where the network's are), every value finite."""
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{where}: weights are not a mapping of names to tensors")
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise WeightsError(f"{where}: weights do not match the architecture "
                           f"(missing {len(missing)}: {', '.join(missing[:3])}; "
                           f"unexpected {len(unexpected)}: {', '.join(unexpected[:3])})")
    for key, expected in own.items():  # in the network's order (a file's order varies): the same file, the same error
        if tuple(expected.shape) != tuple(state[key].shape):
            raise WeightsError(f"{where}: {key} has shape {tuple(state[key].shape)}, the architecture "
                               f"expects {tuple(expected.shape)} (wrong width or channels?)")
        if expected.is_floating_point() != state[key].is_floating_point():  # int or bool weights cast silently
            raise WeightsError(f"{where}: {key} holds {str(state[key].dtype).removeprefix('torch.')} values, the "
                               f"architecture expects {str(expected.dtype).removeprefix('torch.')}")
        # .float(): float8 has no isfinite of its own
        if expected.is_floating_point() and not bool(torch.isfinite(state[key].float()).all()):
            raise WeightsError(f"{where}: {key} holds NaN or infinite values (a diverged or damaged file)")


# ---- discriminators (shipped beside G and F, so `adapt` can fine-tune the noise model) -----------

D_FORMAT = "denoise-gan-discriminator/1"
D_PLAUSIBLE: dict[str, tuple[int, int]] = {"channels": (1, 4), "width": (1, 1024), "layers": (1, 8)}


def save_discriminator(path: Path | str, net: nn.Module, cfg: DiscriminatorConfig,
                       meta: dict[str, Any] | None = None) -> None:
    """A PatchGAN's weights plus its config and descriptive metadata in one safetensors file, atomically."""
    state = {k: v.detach().to("cpu").contiguous() for k, v in net.state_dict().items()}
    described = {"license": WEIGHTS_LICENSE, "noise_family": NOT_RECORDED, "training_data": NOT_RECORDED,
                 **(meta or {})}
    for key in PATH_KEYS:
        if isinstance(described.get(key), str) and described[key]:
            described[key] = str(real_path(described[key]))
    metadata = {"format": D_FORMAT, "config": json.dumps(to_dict(cfg)),
                "meta": json.dumps(described, sort_keys=True)}
    atomic_write_bytes(path, canonical(st_save(state, metadata=metadata)))


def load_discriminator(path: Path | str, device: str | torch.device = "cpu",
                       data: bytes | None = None) -> tuple[nn.Module, DiscriminatorConfig, dict]:
    """The discriminator a file describes, with its weights: config bounds checked, then the shapes on the meta
    device, before anything is allocated (as ``load_generator``; ``data``: the file's bytes, when already read)."""
    path = Path(path)
    tensors, meta = _open_safetensors(path, "discriminator", data)
    cfg, extra = config_and_meta(path, meta, D_FORMAT, DiscriminatorConfig, "discriminator")
    for name, (lo, hi) in D_PLAUSIBLE.items():
        if not lo <= getattr(cfg, name) <= hi:
            raise WeightsError(f"{path}: implausible discriminator config in metadata ({name}={getattr(cfg, name)}, "
                               f"expected {lo}..{hi})")
    with torch.device("meta"):
        skeleton = build_discriminator(cfg)
    check_state(skeleton, tensors, str(path))
    net = build_discriminator(cfg)
    net.load_state_dict(tensors)  # checked against the skeleton above
    return net.to(device), cfg, extra


# ---- run checkpoints --------------------------------------------------------------------------

def save_checkpoint(path: Path | str, payload: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path | str) -> dict[str, Any]:
    """A run checkpoint's state, of plain weights only (never unpickled code). Its archive's checksums are
    checked first: torch reads a damaged tensor's bytes as they are, and a resume or an export would carry
    them on as weights."""
    path = Path(path)
    _check_archive(path)
    try:
        with quiet_warnings():  # torch's pickle-protocol warnings would add lines to our one-line error
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported operand" in str(exc):  # garbage, or a pickle protocol the safe loader does not read:
            raise UnsafeCheckpointError(  # from outside the two look alike, so it is refused, never skipped past
                f"{path}: refused, not a checkpoint of plain weights (a damaged or foreign file, or a pickle "
                "whose loading could run code)") from None
        lines = [ln.strip() for ln in str(exc).splitlines() if "Unsupported global" in ln]
        first = lines[0].split(" was not")[0] if lines else "unsafe content"
        raise UnsafeCheckpointError(f"{path}: refused, the checkpoint holds objects that are not plain weights "
                           f"(loading it could run code): {first[:160]}") from None
    except Exception as exc:  # noqa: BLE001 - garbage (a text or empty file) fails anywhere inside the unpickler
        if is_out_of_memory(exc):  # a whole checkpoint that did not fit is not damaged: a resume must not pass it by
            raise
        # an EOFError may say nothing, a KeyError only a number: their type says what went wrong
        reason = first_line(exc) if isinstance(exc, (RuntimeError, OSError, ValueError)) else typed_line(exc)
        raise WeightsError(f"{path}: unreadable checkpoint ({reason})") from None


def _check_archive(path: Path) -> None:
    """A damaged entry of the checkpoint's zip archive is a one-line WeightsError naming it; what is no zip at all
    is left to torch.load (a legacy or foreign file: refused there)."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return
    with archive:
        _refuse_inflation(path, archive)  # from the directory alone, before any entry is unpacked
        try:
            bad = archive.testzip()
        except Exception as exc:  # noqa: BLE001 - a damaged entry fails anywhere in zipfile (a method, zlib, a size)
            raise WeightsError(f"{path}: damaged checkpoint ({typed_line(exc)})") from None
    if bad is not None:
        raise WeightsError(f"{path}: damaged checkpoint ({bad} does not match its checksum)")


def _refuse_inflation(path: Path, archive: zipfile.ZipFile) -> None:
    """torch.save stores a checkpoint's entries uncompressed, so they unpack to no more than the file holds; a
    file whose entries claim more (a few MB of compressed zeros that inflate to gigabytes) is refused before
    anything is unpacked, as a weight file's header is, so no checkpoint makes the loader allocate more than the
    file holds."""
    claimed, size = sum(info.file_size for info in archive.infolist()), path.stat().st_size
    if claimed > size:
        raise WeightsError(f"{path}: not a checkpoint this program wrote (its entries unpack to {claimed:,} bytes, "
                           f"more than the file's {size:,}); refusing to unpack it")


def prune_checkpoints(folder: Path | str, keep: int) -> None:
    """Keep the newest `keep` checkpoints; also remove temp files of saves cut short by a kill (a run folder has
    one writer, and it is not mid-save when it prunes). They are hidden and never read as checkpoints."""
    for _, path in list_checkpoints(folder)[:-keep] if keep > 0 else []:
        path.unlink(missing_ok=True)
    for temp in Path(folder).glob(".step_*.pt.*.part"):
        temp.unlink(missing_ok=True)
