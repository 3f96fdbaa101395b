"""A run folder's layout in one place (`train`, `refine` and `adapt` each write one): its file names, its config
reader and an adapt phase's finished marker, so no caller spells a name or parses ``config.json`` its own way.

Light (no torch, no image libraries): the inference layer finds a folder's weights and graphs through it where
torch is not installed, and ``--help`` imports it for nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, overload

from data_tools import json_text
from data_tools.atomic_files import atomic_write_text
from data_tools.names import shell_word
from denoise_gan.config_json import from_dict, to_json
from denoise_gan.errors import UserError, first_line

C = TypeVar("C")

G_FILE = "G.safetensors"  # the denoiser, noisy -> clean
F_FILE = "F.safetensors"  # the noise model, clean -> noisy
D_CLEAN_FILE = "D_clean.safetensors"
D_NOISY_FILE = "D_noisy.safetensors"
CONFIG_FILE = "config.json"  # the run's request, written before its first step
FINISHED_FILE = "finished.json"  # an adapt phase's end: the step reached, the steps planned, what stopped it
STOPPED_BY = ("steps", "deadline")  # what ends a phase: its steps all done, or its share of the time up
CHECKPOINTS_DIR = "checkpoints"
CKPT_PATTERN = re.compile(r"^step_(\d+)\.pt$")  # a run checkpoint's name; its step is the number


def list_checkpoints(folder: Path | str) -> list[tuple[int, Path]]:
    """Run checkpoints in a folder as (step, path), oldest first."""
    found = [(int(m.group(1)), p) for p in Path(folder).glob("step_*.pt") if (m := CKPT_PATTERN.match(p.name))]
    return sorted(found)


def latest_checkpoint(run_dir: Path | str) -> tuple[int, Path] | None:
    """The newest checkpoint of a run folder as (step, path), or None when it has saved none."""
    found = list_checkpoints(RunFolder(run_dir).checkpoints)
    return found[-1] if found else None


def graph_beside(weights: Path) -> Path:
    """Where the ONNX graph of a generator file is kept: the same name with ``.onnx``."""
    return weights.with_suffix(".onnx")


# fields only one command's config.json holds: how a folder of one command is told apart from another's
_KIND_FIELDS = {"train": ("data", "model"), "refine": ("run_dir", "generator"), "adapt": ("start", "noisy_dir")}


def run_kind(config: dict[str, Any]) -> str | None:
    """Which command wrote this config.json (train, refine or adapt), or None if none of their shapes fits."""
    for kind, fields in _KIND_FIELDS.items():
        if all(field in config for field in fields):
            return kind
    return None


def folder_run_kind(folder: Path) -> str | None:
    """Which command's run folder this is, by its config.json; None for any other folder (or an unreadable
    config)."""
    try:
        config = json_text.loads((Path(folder) / CONFIG_FILE).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return run_kind(config) if isinstance(config, dict) else None


def run_own_files() -> tuple[str, ...]:
    """The files a run's training writes and `refine`, ``--resume`` and `adapt` read back: nothing else may
    replace them."""
    weights = (G_FILE, F_FILE, D_CLEAN_FILE, D_NOISY_FILE)
    return (*weights, *(graph_beside(Path(name)).name for name in weights), CONFIG_FILE, FINISHED_FILE)


@dataclass(frozen=True)
class RunFolder:
    """The files of one run folder (or of one phase folder inside an adapt output)."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))  # a str is accepted, a Path kept

    @property
    def g(self) -> Path:
        return self.path / G_FILE

    @property
    def denoiser(self) -> Path:
        """The G a user means by this folder: a `train` run's refined G once `refine` has written one into the
        run (``refine/G.safetensors``, the stronger denoiser), else the folder's own G."""
        refined = self.phase("refine").g
        return refined if refined.is_file() else self.g

    @property
    def f(self) -> Path:
        return self.path / F_FILE

    @property
    def d_clean(self) -> Path:
        return self.path / D_CLEAN_FILE

    @property
    def d_noisy(self) -> Path:
        return self.path / D_NOISY_FILE

    @property
    def onnx(self) -> Path:
        """G's ONNX graph, beside it (`denoise` runs it without torch)."""
        return graph_beside(self.g)

    @property
    def config(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def finished(self) -> Path:
        return self.path / FINISHED_FILE

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS_DIR

    def checkpoint(self, step: int) -> Path:
        """Where the checkpoint of ``step`` is saved."""
        return self.checkpoints / f"step_{step:07d}.pt"

    def phase(self, name: str) -> RunFolder:
        """A run folder inside this one (an adapt output's ``noise`` and ``refine``, a run's ``refine``)."""
        return RunFolder(self.path / name)

    # ---- config.json ---------------------------------------------------------------------------------

    @overload
    def read_config(self, cls: None = None, *, what: str = "run", missing: str = "") -> dict[str, Any]: ...

    @overload
    def read_config(self, cls: type[C], *, what: str = "run", missing: str = "") -> C: ...

    def read_config(self, cls: type[C] | None = None, *, what: str = "run", missing: str = "") -> C | dict[str, Any]:
        """The folder's config.json: its JSON object, or the ``cls`` config made from it. One-line UserErrors: a
        missing file is ``<folder>: <missing>`` (``no config.json`` unless told), an unreadable or invalid one
        ``<file>: unreadable <what> config (<why>)``."""
        if not self.config.is_file():
            raise UserError(f"{self.path}: {missing or f'no {CONFIG_FILE}'}")
        data: Any = None
        try:
            data = json_text.loads(self.config.read_text())
            if not isinstance(data, dict):
                raise ValueError(f"a JSON {type(data).__name__}, not an object")
            return data if cls is None else from_dict(cls, data)
        except (OSError, ValueError, TypeError) as exc:
            kind = run_kind(data) if isinstance(data, dict) else None
            if kind is not None and kind != what:
                raise _another_commands(self.path, kind, what, data) from None
            raise UserError(f"{self.config}: unreadable {what} config ({first_line(exc)})") from None

    def refuse_another_commands(self, what: str) -> None:
        """A folder another command wrote (a refinement given to `train --resume`), said as such and with the
        command that goes on with it, before its checkpoints are read as this command's."""
        try:
            data = json_text.loads(self.config.read_text())
        except (OSError, ValueError, UnicodeDecodeError):
            return
        kind = run_kind(data) if isinstance(data, dict) else None
        if kind is not None and kind != what:
            raise _another_commands(self.path, kind, what, data)

    def write_config(self, cfg: Any) -> None:
        """The config as JSON, atomically (a kill mid-write leaves the previous one)."""
        atomic_write_text(self.config, to_json(cfg))

    # ---- the finished marker ---------------------------------------------------------------------------

    def read_finished(self) -> dict[str, Any] | None:
        """An adapt phase's finished marker (``step``, ``steps``, ``stopped_by``), or None when it has none."""
        if not self.finished.is_file():
            return None
        try:
            info = json_text.loads(self.finished.read_text())
            if not isinstance(info, dict):
                raise ValueError("not a JSON object")
            counts = [info.get(key) for key in ("step", "steps")]
            if not all(type(n) is int and n >= 0 for n in counts):  # (a bool is an int to Python, and no count)
                raise ValueError(f"its step and steps are {counts[0]!r:.20} and {counts[1]!r:.20}, not a step "
                                 "reached of the steps planned")
            if info.get("stopped_by") not in STOPPED_BY:
                raise ValueError(f"it says it was stopped by {info.get('stopped_by')!r:.30}, not by "
                                 + " or ".join(STOPPED_BY))
            return info
        except (OSError, ValueError) as exc:
            raise UserError(f"{self.finished}: unreadable finished marker ({first_line(exc)})") from None

    def write_finished(self, step: int, steps: int, stopped_by: str) -> None:
        """Mark the phase finished at ``step`` of its ``steps`` (``stopped_by``: steps or deadline)."""
        atomic_write_text(self.finished, json.dumps({"step": step, "steps": steps, "stopped_by": stopped_by}))

    def clear_finished(self) -> None:
        self.finished.unlink(missing_ok=True)


def _another_commands(folder: Path, kind: str, what: str, config: dict[str, Any]) -> UserError:
    return UserError(f"{folder}: written by `denoise-gan {kind}`, not by `denoise-gan {what}`"
                     f"{_going_on(kind, folder, config)}")


def _going_on(kind: str, folder: Path, config: dict[str, Any]) -> str:
    """The command that goes on with the run of ``kind`` in ``folder``, as a note; "" where it cannot be told (a
    refinement names the train run it refines, which its command takes first)."""
    if kind != "refine":
        return f" (`denoise-gan {kind} --resume {shell_word(folder)}` goes on with it)"
    source = config.get("run_dir")
    if not isinstance(source, str) or not source:
        return ""
    return f" (`denoise-gan refine {shell_word(source)} -o {shell_word(folder)} --resume` goes on with it)"
