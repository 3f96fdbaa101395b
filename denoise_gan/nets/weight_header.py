"""The header of a safetensors weight file (8-byte little-endian length, then JSON), read without its tensors.

A file's architecture and role (a noise model or a denoiser, its generator config) are in the header's
``__metadata__``: reading them costs a few kilobytes where loading costs the whole file, and needs no torch.
``weights`` checks every file it loads through the same functions, so both readers refuse the same files.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, TypeVar

from data_tools import json_text
from data_tools.names import shell_word
from denoise_gan.config import GeneratorConfig
from denoise_gan.config_json import from_dict, json_object
from denoise_gan.errors import WeightsError
from denoise_gan.extras import export_note
from denoise_gan.nets.generator_names import NOISE_MODEL_ARCHS

C = TypeVar("C")

GENERATOR_FORMAT = "denoise-gan-generator/1"
MAX_HEADER = 100_000_000  # bytes; safetensors refuses a longer header too


def read_weight_bytes(path: Path) -> bytes:
    """A weight file's bytes, or a one-line WeightsError naming it."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise WeightsError(f"{path}: cannot read ({exc.strerror or exc})") from None


def looks_like_pickle(data: bytes) -> bool:
    return data[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05") or data[:4] == b"PK\x03\x04"


def not_safetensors(path: Path, start: bytes, what: str) -> WeightsError:
    """The one-line error for a file that is no safetensors file (``start``: its first bytes): a pickle is named
    as one (and refused: pickles can run code), anything else is truncated or corrupt."""
    if path.suffix.lower() == ".onnx":
        return WeightsError(f"{path}: an ONNX graph holds no weights to load here; give the .safetensors file it "
                            "was exported from")
    if looks_like_pickle(start):  # how a pickle becomes what was asked for (export gives a G, not an F)
        hint = (" " + _conversion_hint(path) if what == "generator"
                else " Give the run folder whose F.safetensors is its noise model" if what == "noise model" else "")
        return WeightsError(f"{path}: is a pickle/torch file, not a safetensors {what}; refusing to load "
                            f"it (pickles can run code).{hint}")
    if kind := _image_kind(start):  # `-c photo.png`: the easy slip, not a damaged file
        return WeightsError(f"{path}: is a {kind} image, not model weights; give a .safetensors or .onnx file, a "
                            "folder holding one, or a shipped model's name")
    return WeightsError(f"{path}: not a valid safetensors file (truncated or corrupt)")


IMAGE_SIGNATURES = {b"\x89PNG": "PNG", b"\xff\xd8\xff": "JPEG", b"II*\x00": "TIFF", b"MM\x00*": "TIFF",
                    b"BM": "BMP", b"GIF8": "GIF"}


def _image_kind(start: bytes) -> str:
    """The image format a file's first bytes announce, or ""."""
    return next((kind for magic, kind in IMAGE_SIGNATURES.items() if start.startswith(magic)), "")


def read_header(path: Path | str, data: bytes | None = None, what: str = "generator") -> dict[str, Any]:
    """The JSON header of a safetensors file: parsed from ``data`` (the file's bytes, already read) or read from
    disk, its first 8 + N bytes only. The tensors' offsets must end where the file does, so a truncated file is
    refused here as it would be by a full load."""
    path = Path(path)
    if data is None:
        start, text, size = _read_header_bytes(path)
    else:
        start, size = data[:8], len(data)
        text = data[8:8 + _header_length(start, size)]
    try:
        header = json_text.loads(text) if text else None
    except (ValueError, UnicodeDecodeError):
        header = None
    if not isinstance(header, dict) or _data_end(header) != size - 8 - len(text):
        raise not_safetensors(path, start, what)
    return header


def _header_length(start: bytes, size: int) -> int:
    """The header's length the first 8 bytes give, or 0 when it cannot be one (past the file's end, too long)."""
    length = int.from_bytes(start, "little") if len(start) == 8 else 0
    return length if length <= min(MAX_HEADER, size - 8) else 0


def _read_header_bytes(path: Path) -> tuple[bytes, bytes, int]:
    """(first 8 bytes, header bytes, file size), reading no tensor."""
    try:
        with open(path, "rb") as fh:
            start, size = fh.read(8), path.stat().st_size
            return start, fh.read(_header_length(start, size)), size
    except OSError as exc:
        raise WeightsError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _data_end(header: dict[str, Any]) -> int:
    """Where the header says the tensors' bytes end (-1 for a header that says nothing sensible)."""
    ends = [0]
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            return -1
        ends.append(offsets[1])
    return max(ends)


def canonical(data: bytes) -> bytes:
    """A safetensors file's bytes with its metadata keys in sorted order. The safetensors writer keeps them in a
    hash map, so the same weights saved twice came out in different byte orders (and sha256s); the tensors and
    their offsets are untouched (offsets count from the end of the header)."""
    length = _header_length(data[:8], len(data))
    header = json_text.loads(data[8:8 + length])
    if isinstance(header.get("__metadata__"), dict):
        header = {"__metadata__": dict(sorted(header["__metadata__"].items())),
                  **{k: v for k, v in header.items() if k != "__metadata__"}}
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)  # the tensors start 8-byte aligned, as the writer pads them
    return len(text).to_bytes(8, "little") + text + data[8 + length:]


def weights_digest(path: Path, data: bytes | None = None) -> str:
    """The sha256 of a weight file's canonical form: equal for two files that hold the same tensors and
    metadata, whatever order their writer put the metadata keys in (a graph records it beside the file's own
    sha256, so a re-exported copy of the weights still owns the graph made from the original). ``data``: the
    file's bytes, when already read."""
    data = read_weight_bytes(path) if data is None else data
    read_header(path, data)  # a corrupt file is a one-line error, not a JSON traceback
    return hashlib.sha256(canonical(data)).hexdigest()


def header_metadata(header: dict[str, Any]) -> dict[str, str]:
    """The ``__metadata__`` of a parsed header (empty when there is none)."""
    meta = header.get("__metadata__") or {}
    return meta if isinstance(meta, dict) else {}


def read_metadata(path: Path | str, data: bytes | None = None, what: str = "generator") -> dict[str, str]:
    """A weight file's ``__metadata__`` without its tensors (see ``read_header``)."""
    return header_metadata(read_header(path, data, what))


def config_and_meta(path: Path, meta: dict[str, str], fmt: str, cls: type[C], what: str) -> tuple[C, dict]:
    """The frozen config and descriptive metadata a weight file's header holds, checked for its format."""
    found = meta.get("format")
    family = fmt.rsplit("/", 1)[0] + "/"
    if isinstance(found, str) and found.startswith(family) and found != fmt:  # another version's file
        raise WeightsError(f"{path}: a denoise-gan {what} file of format {found!r}, which another version of "
                           f"denoise-gan wrote; this one reads {fmt!r}")
    if found != fmt:
        raise WeightsError(f"{path}: safetensors file without denoise-gan {what} metadata "
                           f"(format {found!r}, expected {fmt!r})")
    try:
        config = from_dict(cls, json_object(meta["config"]))
    except (KeyError, ValueError, TypeError) as exc:
        raise WeightsError(f"{path}: bad {what} config in metadata ({type(exc).__name__}: {exc})") from None
    try:
        return config, json_object(meta.get("meta", "{}"))
    except (ValueError, TypeError) as exc:
        raise WeightsError(f"{path}: bad descriptive metadata ({type(exc).__name__}: {exc})") from None


def read_generator_header(path: Path | str, data: bytes | None = None) -> tuple[GeneratorConfig, dict]:
    """A generator file's config and descriptive metadata from its header (no torch; not checked against its
    tensors, which a load does)."""
    return config_and_meta(Path(path), read_metadata(path, data), GENERATOR_FORMAT, GeneratorConfig, "generator")


def architecture_text(cfg: GeneratorConfig) -> str:
    """A generator's architecture as a refusal names it, where two that must match differ."""
    return f"{cfg.arch}, width {cfg.width}, depth {cfg.depth}, blocks {cfg.blocks}, {cfg.channels} channels"


def refuse_noise_model(path: Path | str, cfg: GeneratorConfig, meta: dict) -> None:
    """A file used to denoise must be a denoiser: a noise model (F, clean->noisy, by its recorded role or its
    architecture) would make images noisier, so it is a one-line error."""
    role = str(meta.get("role", "")) if isinstance(meta, dict) else ""
    if role.startswith("F") or cfg.arch in NOISE_MODEL_ARCHS:
        why = f"architecture {cfg.arch}" if cfg.arch in NOISE_MODEL_ARCHS else f"recorded role {role!r}"  # labels lie
        raise WeightsError(f"{path}: is a noise model (clean->noisy, by its {why}), not a denoiser; use the run's "
                           "G.safetensors (noisy->clean)")


CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")  # a run checkpoint's names, which export reads (never unpickling code)


def _conversion_hint(path: Path) -> str:
    """How a run checkpoint becomes weights: export reads one by its .pt/.pth/.ckpt name, so a pickle under
    another name is renamed first (the command given for a .safetensors name wrote over the file itself)."""
    converted = path.with_suffix(".safetensors")
    if path.suffix in CHECKPOINT_SUFFIXES:
        return (f"A run checkpoint converts with `denoise-gan export {shell_word(path)} -o "
                f"{shell_word(converted)} --format safetensors`{export_note()}.")
    named = path.with_suffix(".pt")
    return (f"If it is a run checkpoint, name it {named.name} and convert it with `denoise-gan export "
            f"{shell_word(named)} -o {shell_word(converted)} --format safetensors`{export_note()}.")
