"""Whether the network a run folder holds is the run's last one.

A `train`, `refine` or `adapt` folder holds its G and F from its first save on, so a folder still training, or
one stopped partway, gives the network of that moment: usable (a user may want an early F), but never silently,
since a half-trained network denoises or draws noise poorly with no hint of why. Light (no torch): the
inference layer asks before it loads anything.
"""

from __future__ import annotations

from pathlib import Path

from data_tools.folder_lock import held_by_another_process
from data_tools.names import shell_word
from denoise_gan.errors import UserError
from denoise_gan.nets.run_folder import F_FILE, G_FILE, RunFolder, latest_checkpoint, run_kind

_ADAPT_PHASES = {G_FILE: ("refine", "denoiser"), F_FILE: ("noise", "noise model")}


def unfinished_note(weights: Path) -> str:
    """A one-line note when ``weights`` (a G or F file in a run folder) is not its run's last network: the run is
    training now, or stopped before its planned steps; "" for a finished run or any other file."""
    weights = Path(weights)
    if weights.suffix.lower() == ".onnx":  # a run's G.onnx is its G.safetensors's graph
        weights = weights.with_suffix(".safetensors")
    run = RunFolder(weights.parent)
    if weights.name not in _ADAPT_PHASES or not run.config.is_file():
        return ""
    try:
        config = run.read_config()
    except UserError:
        return ""  # an unreadable config.json is not this note's business: loading says what is wrong
    kind = run_kind(config)
    moment = f"{weights.name} is its network of this moment"
    if kind == "adapt":
        folder, name = _ADAPT_PHASES[weights.name]
        phase = run.phase(folder)
        try:
            if phase.read_finished() is not None:
                return ""  # ended (by its steps or its deadline): the file no longer changes
        except UserError:
            pass
        if held_by_another_process(run.path) or held_by_another_process(phase.path):
            return f"{run.path}: an adaptation is training in this folder now; {moment}"
        finish = f"`denoise-gan adapt --resume {shell_word(run.path)}` finishes it"
        if latest_checkpoint(phase.path) is None:  # (every phase runs at least one step)
            return (f"{run.path}: its adaptation stopped before its {name} phase began; {weights.name} is still "
                    f"the start model's, not adapted ({finish})")
        return f"{run.path}: its adaptation stopped partway through the {name} phase; {moment} ({finish})"
    if kind not in ("train", "refine"):
        return ""
    if held_by_another_process(run.path):
        return f"{run.path}: a `{kind}` run is training in this folder now; {moment}"
    steps, found = config.get("steps"), latest_checkpoint(run.path)
    reached = found[0] if found else None
    if not isinstance(steps, int) or reached is None or reached >= steps:
        return ""
    return (f"{run.path}: its `{kind}` run stopped at step {reached} of {steps}; {moment} "
            f"(`{_resume_command(kind, run.path, config)}` finishes it)")


def _resume_command(kind: str, folder: Path, config: dict) -> str:
    """The command that resumes the run in ``folder``: refine's names the train run it refines (its argument)
    and its output folder unless it is that run's own ``refine/``."""
    if kind == "train":
        return f"denoise-gan train --resume {shell_word(folder)}"
    source = Path(str(config.get("run_dir", "RUN")))
    out = "" if folder.absolute() == (source / "refine").absolute() else f" -o {shell_word(folder)}"
    return f"denoise-gan refine {shell_word(source)}{out} --resume"
