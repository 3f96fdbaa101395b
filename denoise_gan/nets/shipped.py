"""Where weights are: shipped models by name, folders that hold a generator, the ONNX graph beside a file.

Torch-free on purpose: the ONNX Runtime engine finds its graph through this module where torch is not
installed, and ``--help`` never pays for it.
"""

from __future__ import annotations

import functools
import os
import tomllib
from importlib import resources
from pathlib import Path

from data_tools.paths import home_expanded, real_path
from data_tools.shown_values import shown_repr
from denoise_gan.errors import WeightsError
from denoise_gan.nets.run_folder import G_FILE, RunFolder

DEFAULT_MODEL = "default"

# The networks shipped beside a model's G, so `adapt` can fine-tune them: <name>-F.safetensors (the noise
# model), <name>-D_noisy.safetensors and <name>-D_clean.safetensors (the discriminators), written by
# ``python -m denoise_gan.nets.ship RUN_DIR``.
SHIPPED_PARTS = ("F", "D_noisy", "D_clean")

# a folder given as weights: an exported model folder (``export --format folder``) or a run / adapt output
FOLDER_WEIGHTS = ("model.safetensors", G_FILE)


@functools.cache
def shipped_dir() -> Path:
    """The shipped weights: the checkpoints/ folder of the denoise-gan source tree this code runs from (a clone
    run through PYTHONPATH found none, a traceback, or another checkout's where that one was installed
    editable), else the installed package's."""
    root = real_path(__file__).parents[2]
    if (root / "checkpoints" / f"{DEFAULT_MODEL}.safetensors").is_file() and _is_our_project(root / "pyproject.toml"):
        return root / "checkpoints"
    return Path(str(resources.files("denoise_gan.checkpoints")))


def _is_our_project(pyproject: Path) -> bool:
    """Whether a pyproject.toml is this project's (not a project a wheel was installed into with --target)."""
    try:
        return tomllib.loads(pyproject.read_text()).get("project", {}).get("name") == "denoise-gan"
    except (OSError, ValueError, UnicodeDecodeError):
        return False


def shipped_part(name: str, part: str) -> Path:
    """Where a shipped model's companion network lives (it may be absent)."""
    if part not in SHIPPED_PARTS:
        raise ValueError(f"unknown part {part!r}; one of {', '.join(SHIPPED_PARTS)}")
    return shipped_dir() / f"{name}-{part}.safetensors"


def _is_part(stem: str) -> bool:
    return any(stem.endswith(f"-{part}") for part in SHIPPED_PARTS)


def shipped_names() -> list[str]:
    return sorted(p.stem for p in shipped_dir().glob("*.safetensors") if not _is_part(p.stem))


def shadowed_note(name_or_path: str | Path | None, shipped: Path | None = None, what: str = "model") -> str:
    """Where a name given is both a file or folder here and a shipped model's, which of the two was taken (the
    file or folder, as ``resolve_weights`` takes it), and the path that names the other; else "". ``shipped``:
    the shipped file the name means, where it is no model of ``shipped_names`` (a noise model's)."""
    if not isinstance(name_or_path, str) or not Path(name_or_path).exists():
        return ""
    if shipped is None:
        if name_or_path not in shipped_names():
            return ""
        shipped = shipped_model(name_or_path)
    kind = "folder" if Path(name_or_path).is_dir() else "file"
    return (f"{name_or_path!r} is the {kind} of that name in the working folder, not the shipped {what}; give "
            f"{shipped} for the shipped one")


def given_name(name_or_path: object, what: str, file: str) -> str:
    """A model's name or path as text, ``~/`` put in; anything but a str or a Path (bytes, a number, a list) is a
    one-line WeightsError naming ``what`` it is asked for and the ``file`` it may be."""
    if not isinstance(name_or_path, str | os.PathLike) or isinstance(os.fspath(name_or_path), bytes):
        raise WeightsError(f"{what} is named by a str or a Path (a shipped name, {file} or a folder), not "
                           f"{type(name_or_path).__name__} ({shown_repr(name_or_path)})")
    return str(home_expanded(name_or_path))


def resolve_weights(name_or_path: str | Path | None) -> Path:
    """A file as given, the generator a folder holds, or a shipped model by name. None is the shipped default
    itself: a file or folder named ``default`` where the program runs is not what a user who named no model
    meant (it failed to load, or loaded instead)."""
    if name_or_path is None:
        return shipped_model(DEFAULT_MODEL)
    name = given_name(name_or_path, "a model", "a file")
    if not name.strip():  # "" is a mistake (an unset variable), not a request for the default
        raise WeightsError("an empty model name; give a weight file, a folder or a shipped model's name "
                           f"(e.g. {DEFAULT_MODEL!r})")
    candidate = Path(name)
    if candidate.is_dir():
        try:
            return _folder_weights(candidate)
        except WeightsError as exc:  # a photo folder named `default` where the program runs
            note = shadowed_note(name_or_path)
            raise WeightsError(f"{exc}; {note}" if note else str(exc)) from None
    if candidate.suffix or candidate.exists() or "/" in name:
        if candidate.exists() and not candidate.is_file():  # a device or a pipe: there, but no file to read
            raise WeightsError(f"{candidate}: not a regular file (a device or a pipe); give a weight file")
        if not candidate.is_file():
            raise WeightsError(f"{candidate}: no such weight file")
        return candidate
    return shipped_model(name, f"{name}: no such file or folder, and no shipped model of that name")


def shipped_model(name: str, missing: str = "") -> Path:
    """A shipped model's weight file, by its name alone (no file or folder of that name is looked for)."""
    shipped = shipped_dir() / f"{name}.safetensors"
    if not shipped.is_file():
        raise WeightsError(f"{missing or f'{name}: no shipped model of that name'} (available: "
                           f"{', '.join(shipped_names()) or 'none'})")
    return shipped


def _folder_weights(folder: Path) -> Path:
    """An exported folder's model, a run's denoiser (its refined G once `refine` has made one), or else the one
    ONNX graph a folder holds: its weight file when one is beside it (``default.onnx`` beside
    ``default.safetensors``, as in the shipped checkpoints folder), so the graph is checked against its weights
    and export has weights to read, or the graph alone."""
    for path in (folder / "model.safetensors", RunFolder(folder).denoiser):
        if path.is_file():
            return path
    graphs = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".onnx" and p.is_file())  # M.ONNX too
    if len(graphs) == 1:
        weights = graphs[0].with_suffix(".safetensors")
        return weights if weights.is_file() else graphs[0]
    raise WeightsError(f"{folder}: a folder without {' or '.join(FOLDER_WEIGHTS)}"
                       + (f" (and {len(graphs)} .onnx graphs: name the one to use)" if graphs else ""))
