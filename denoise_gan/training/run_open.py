"""Opening a run folder: a new run's checks and absolute paths, or a resume from its newest usable checkpoint.

Everything here happens before step 1, so a bad folder, a damaged checkpoint or a bad --val is a one-line error
before any compute is spent, and a damaged newest checkpoint costs only the steps since the one before.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from data_tools.atomic_files import remove_entry
from data_tools.errors import DataError, DenoiseGanError
from data_tools.folder_lock import held_by_another_process, refuse_held
from data_tools.output_folders import prepare_output_dir, refuse_links_inside
from data_tools.set_halves import SET_FOLDERS, halves_of, holds_both_halves
from data_tools.temp_files import is_temp_file, remove_stale_parts
from denoise_gan.config_json import from_dict
from denoise_gan.errors import UnsafeCheckpointError, UserError, WeightsError, first_line, typed_line
from denoise_gan.nets.run_folder import CHECKPOINTS_DIR, CONFIG_FILE, RunFolder, latest_checkpoint, list_checkpoints
from denoise_gan.nets.run_state import unfinished_note
from denoise_gan.nets.weights import load_checkpoint
from denoise_gan.runtime import check_device_name, world_from_env
from denoise_gan.training.input_record import RECORD_FILE, is_input_record
from denoise_gan.training.new_run_inputs import require_run_folder
from denoise_gan.warning_line import say_for_the_run, say_warning_on

C = TypeVar("C")

# how each kind of run is continued, for the "not empty" message (refine's --resume is a flag on its -o)
RESUME_HINTS = {"refine": "add --resume to continue the refinement in it"}
RUN_WORDS = {"refine": "refinement"}  # a run of each kind in messages (a train run is "run")
# what a run writes before its first checkpoint: its request, its input record, the log and its plot, and
# (with --val, --tensorboard) its validation grids and event files
RUN_WRITES = (CHECKPOINTS_DIR, "val", "tensorboard")  # the run's subfolders: a link there is refused
RUN_START_FILES = frozenset({CONFIG_FILE, RECORD_FILE, "log.csv", "losses.png", "val", "val_grid.png", "tensorboard"})
# what a run writes inside the folders among them: a folder of that name holding anything else is the user's
RUN_FOLDER_FILES = {"val": re.compile(r"step_\d+\.png|index\.html"),
                    "tensorboard": re.compile(r"events\.out\.tfevents\..+")}


def require_config(cfg: C | None, cfg_name: str) -> C:
    """A new run's config, or the one-line error that it needs one, said before any folder is made, where a bare
    assertion left an empty run folder behind (the CLI never calls without one; Python callers can)."""
    if cfg is None:
        raise UserError(f"a new run needs a {cfg_name}; pass one, or resume=True to continue the run in the folder")
    return cfg


def resume_device_name(device: str | None, resume: bool) -> str | None:
    """A device to resume on, as its canonical name; given to a new run (from Python) it is refused, as it would
    stand beside the config's own device."""
    if device is None:
        return None
    if not resume:
        raise UserError("a device to resume on is for a resumed run; a new run's device is its config's")
    return check_device_name(device)


def open_run(run_dir: Path, kind: str, cfg_cls: type[C], cfg: C | None, resume: bool,
             steps: int | None, device: str | None = None) -> tuple[C, int, dict[str, Any] | None]:
    """(config, start step, checkpoint state), with every input checked before step 1.

    A new run takes a folder that is new or empty (the rule every command that writes a folder follows), and
    its config's folders (every ``*_dir`` field) are made absolute, so the run resumes from any directory. A
    resumed run takes its config from its newest readable checkpoint (a damaged newest one is skipped with a
    warning, so a kill mid-write or a truncated copy costs only the steps since the one before), with
    ``steps`` as the new total when given, which cannot be below the step already reached, and on ``device``
    when given (a run started on a GPU goes on on the CPU; the result is the same run, not the same bits).
    """
    start, state, device = 0, None, resume_device_name(device, resume)
    if resume:
        cfg, start, state = _resumed(run_dir, kind, cfg_cls)
        if steps is not None and steps < start:
            raise UserError(f"{run_dir} is at step {start}; --steps is the new total and cannot be {steps}")
    else:
        _take_new_folder(run_dir, kind)
    assert cfg is not None, "a new run needs a config"
    if not resume:
        cfg = absolute_paths(cfg)
    changes = {"steps": steps, "device": device}
    if any(v is not None for v in changes.values()):
        try:
            cfg = dataclasses.replace(cfg, **{k: v for k, v in changes.items() if v is not None})
        except ValueError as exc:
            raise UserError(first_line(exc, None)) from None
    val_dir = str(getattr(cfg, "val_dir", "") or "")
    if val_dir:  # a bad --val would otherwise fail at the first validation, after steps not yet saved
        check_val_set(Path(val_dir))
    elif getattr(cfg, "val_every", 0) and not resume:
        say_for_the_run(None, "--val-every has no effect without --val (a paired set made by `denoise-gan synth`)")
    return cfg, start, state


def _resumed(run_dir: Path, kind: str, cfg_cls: type[C]) -> tuple[C, int, dict[str, Any]]:
    """The stored config, step and state of the run in ``run_dir``, once no other process writes it."""
    # the lock is probed by rank 0 alone: a torchrun rank that comes later finds rank 0 holding it
    main, what = world_from_env().is_main, RUN_WORDS.get(kind, "run")
    require_run_folder(run_dir)
    if (command := {"cyclegan": "train", "refine": "refine"}.get(kind)) is not None:  # (an adaptation's phases
        RunFolder(run_dir).refuse_another_commands(command)  # hold configs of their own shapes)
    if main:
        refuse_held(run_dir, what, other="")
    if main and kind == "cyclegan" and held_by_another_process(run_dir / "refine"):  # said, as refine says
        # of a run that trains on: each keeps the networks it loaded
        say_warning_on(None, f"{run_dir}: a refinement of this run is training now ({run_dir / 'refine'}) from "
                             "the F this resume will replace; it keeps the F it loaded, and a later "
                             "`refine --resume` of it says so")
    try:
        refuse_links_inside(run_dir, RUN_WRITES)  # written (and pruned) through it
    except DataError as exc:
        raise UserError(str(exc)) from None
    remove_stale_parts(run_dir)  # a killed run's half-written G or F (a live writer's are kept)
    if stopped_before_first_checkpoint(run_dir):
        raise UserError(f"{run_dir}: its run stopped before its first checkpoint, so there is nothing to resume; "
                        "run the same command without --resume to start it again in this folder")
    start, path, state = _newest_usable_checkpoint(run_dir, kind)
    with checkpoint_content(path, kind):
        return from_dict(cfg_cls, state["config"]), start, state


def _take_new_folder(run_dir: Path, kind: str) -> None:
    """A new run's folder: new or empty, or its own run that stopped before its first checkpoint."""
    main, what = world_from_env().is_main, RUN_WORDS.get(kind, "run")
    if main and run_dir.is_dir():  # not "use --resume": refused too
        refuse_held(run_dir, what)
    if latest_checkpoint(run_dir):
        raise UserError(f"{run_dir} already holds a run; use --resume to continue it or choose another -o")
    if main:  # other torchrun ranks would see rank 0's first files
        own = stopped_before_first_checkpoint(run_dir)
        try:
            prepare_output_dir(run_dir, own=own, hint=RESUME_HINTS.get(
                kind, "--resume RUN_DIR to continue the run in it"), written=RUN_WRITES)
        except DataError as exc:
            raise UserError(str(exc)) from None
        if own and not held_by_another_process(run_dir):  # its grids and events would mix with this run's
            remove_start_files(run_dir, RUN_START_FILES)


def stopped_before_first_checkpoint(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds only what a run writes before its first checkpoint (its data refused, a crash
    or Ctrl-C before the first save): its input record (the first file a run writes), its request and log, no
    checkpoint. Nothing in it can be resumed, so a new run may take the folder over (and --resume says why it
    cannot); a folder of the user's own, without a run's input record, is never taken."""
    if not run_dir.is_dir() or latest_checkpoint(run_dir):
        return False
    names = {p.name for p in run_dir.iterdir() if not is_temp_file(p.name)}
    checkpoints = run_dir / CHECKPOINTS_DIR
    if CHECKPOINTS_DIR in names and checkpoints.is_dir() and all(is_temp_file(p.name) for p in checkpoints.iterdir()):
        names.discard(CHECKPOINTS_DIR)
    return (RECORD_FILE in names and names <= RUN_START_FILES and is_input_record(run_dir / RECORD_FILE)
            and all(_written_by_a_run(run_dir / name) for name in names))


def _written_by_a_run(path: Path) -> bool:
    """Whether ``path`` (a start file's name) can be what a run wrote: a file, or one of its folders holding only
    the files the run writes there (a --val set the user made inside the folder is theirs, and is never removed)."""
    pattern = RUN_FOLDER_FILES.get(path.name)
    if pattern is None:
        return not path.is_dir()
    return path.is_dir() and not path.is_symlink() and all(
        pattern.fullmatch(p.name) or is_temp_file(p.name) for p in path.iterdir())


@contextmanager
def discarded_if_refused(run_dir: Path, unstarted: Callable[[Path], bool] = stopped_before_first_checkpoint,
                         start_files: frozenset[str] = RUN_START_FILES) -> Iterator[None]:
    """Around a new run: refused before its first step (its photos all smaller than the patch, too few of them, a
    budget too short), it leaves no folder behind, as a command that checks everything first does. Only what the
    run writes before its first checkpoint is removed, and the folder only when this run made it; an interrupted
    run (Ctrl-C) keeps its folder, which the same command or --resume starts again."""
    existed = run_dir.exists()
    try:
        yield
    except DenoiseGanError:
        if world_from_env().is_main and not held_by_another_process(run_dir):
            if unstarted(run_dir):
                remove_start_files(run_dir, start_files)
            for empty in ((run_dir / CHECKPOINTS_DIR,) + (() if existed else (run_dir,))):
                try:
                    empty.rmdir()  # only if empty (a bad --val refused once it was made): anything else stays
                except OSError:
                    pass
        raise


def remove_start_files(run_dir: Path, start_files: frozenset[str]) -> None:
    """What a run that saved nothing wrote (a folder among them: a phase opened that saved nothing), and a first
    checkpoint a kill cut mid-write, with its folder once empty (a new run's lock read it as another run's)."""
    for name in start_files:
        remove_entry(run_dir / name)
    remove_stale_parts(run_dir / CHECKPOINTS_DIR)  # a dead writer's only: a live one holds the run's lock
    try:
        (run_dir / CHECKPOINTS_DIR).rmdir()
    except OSError:
        pass


# fields naming a weight file or a start folder, or a shipped model by name ("default"): an existing path is made
# absolute too
WEIGHT_FIELDS = ("init", "start")


def absolute_paths(cfg: C) -> C:
    """``cfg`` with every non-empty folder field (a name ending in ``_dir``, nested configs included) and every
    weight file it names made absolute against the current directory; symlinks are kept as the user named them."""
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):  # type: ignore[arg-type]
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fixed = absolute_paths(value)
            if fixed != value:
                changes[f.name] = fixed
        elif isinstance(value, str) and value and not os.path.isabs(value) and (
                f.name.endswith("_dir") or f.name in WEIGHT_FIELDS and os.path.exists(value)):
            changes[f.name] = os.path.abspath(value)
    return dataclasses.replace(cfg, **changes) if changes else cfg  # type: ignore[type-var]


def warn_if_unfinished(*weights: Path) -> None:
    """Starting from a run stopped partway (or still training) is allowed (a user may want an early F) but never
    silent: the new G (refine) or adaptation (adapt --from) learns from the networks as they are at that moment.
    Each note once (a run's G and F share one)."""
    say_for_the_run(None, *dict.fromkeys(unfinished_note(w) for w in weights))


def _newest_usable_checkpoint(run_dir: Path, kind: str) -> tuple[int, Path, dict[str, Any]]:
    """The newest checkpoint that loads; damaged newer ones (empty, truncated, failing their checksums, not a
    checkpoint) are reported and skipped. One that is refused as unsafe stops the resume: it is never skipped
    silently past."""
    found = list_checkpoints(RunFolder(run_dir).checkpoints)
    if not found:
        above = f"; this is a run's checkpoints folder: give the run folder above it, {run_dir.absolute().parent}" \
            if run_dir.name == CHECKPOINTS_DIR and list_checkpoints(run_dir) else ""
        raise UserError(f"{run_dir}: no checkpoint to resume from (expected checkpoints/step_*.pt){above}")
    damaged: list[str] = []
    for step, path in reversed(found):
        try:
            state = load_checkpoint(path)
        except UnsafeCheckpointError:
            raise
        except WeightsError as exc:
            damaged.append(str(exc))
            continue
        if not isinstance(state, dict) or state.get("kind") != kind:
            if not damaged:
                raise UserError(f"{path}: not a {kind} checkpoint")
            damaged.append(f"{path}: not a {kind} checkpoint")
            continue
        for reason in damaged:
            say_for_the_run(None, f"{reason}; resuming from the previous checkpoint, {path.name}")
        return step, path, state
    more = f"; {len(damaged) - 1} older one(s) damaged too" if len(damaged) > 1 else ""
    raise WeightsError(f"{run_dir}: no usable checkpoint ({damaged[0]}{more})")


def check_val_set(folder: Path) -> None:
    """A --val folder must be a paired set (clean/ and noisy/ with the same names) whose images read."""
    from data_tools.synth_folder import refuse_incomplete_set, set_manifest
    from denoise_gan.evaluation.metrics import SSIM_MIN_SIDE
    from denoise_gan.evaluation.pairing import paired_files, read_pair

    if not holds_both_halves(folder):
        inside = " (this is one of its halves: give the folder above it)" if folder.name in SET_FOLDERS \
            and holds_both_halves(folder.parent) else ""
        raise UserError(f"{folder}: --val must be a paired set, clean/ and noisy/ with the same names (one made by "
                        f"`denoise-gan synth`, or your own pairs){inside}")
    refuse_held(folder, "set", other="")  # a synth writing it now: not "cut short, run it again" (exit 1, busy)
    refuse_incomplete_set(set_manifest(folder, UserError, "--val ") or {}, folder, UserError, "--val ")
    try:
        for _, clean, noisy in paired_files(*halves_of(folder), role="noisy partner"):
            if min(read_pair(clean, noisy)[0].shape[:2]) < SSIM_MIN_SIDE:  # validation scores SSIM on it
                raise UserError(f"{noisy}: under {SSIM_MIN_SIDE} px a side, too small to score (SSIM)")
    except DataError as exc:
        raise UserError(f"--val {folder}: {exc}") from None
    except UserError as exc:
        raise UserError(f"--val {folder}: {exc}") from None


@contextmanager
def checkpoint_content(where: Path, kind: str) -> Iterator[None]:
    """A checkpoint that passed the safe unpickler but whose content does not fit (a missing key, a config of
    another version, the tensors or optimiser state of another network) is a one-line error, not a traceback."""
    try:
        yield
    except (WeightsError, UserError):
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError) as exc:
        raise WeightsError(f"{where}: not a usable {kind} checkpoint ({typed_line(exc)})") from None
