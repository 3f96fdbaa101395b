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
import shutil
import time
from contextlib import ExitStack
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from data_tools.atomic_files import atomic_write_bytes
from data_tools.errors import DataError
from data_tools.names import shell_word
from data_tools.output_folders import prepare_output_dir, refuse_links_inside, refuse_output_inside_inputs
from data_tools.temp_files import is_temp_file, remove_stale_parts
from denoise_gan.config import AdaptConfig, GeneratorConfig, RefineConfig
from denoise_gan.config_fields import level_only_options, level_only_refusal
from denoise_gan.errors import ReportedInterrupt, UserError
from denoise_gan.interrupts import interrupt_count
from denoise_gan.nets.registry import build_generator
from denoise_gan.nets.run_folder import CONFIG_FILE, F_FILE, G_FILE, RunFolder, latest_checkpoint
from denoise_gan.nets.shipped import shadowed_note
from denoise_gan.nets.weight_header import architecture_text, read_generator_header
from denoise_gan.nets.weights import load_denoiser, save_generator
from denoise_gan.training import adapt_plan
from denoise_gan.training.adapt_noise import NoiseFitTrainer, adapt_warnings, clean_pool, noisy_photos
from denoise_gan.training.adapt_phases import (
    PHASE_FOLDERS,
    refuse_short_phases,
    run_phase,
    said_complete,
    stored_config,
)
from denoise_gan.training.adapt_plan import AdaptData, check_budget, check_device, plan_phases
from denoise_gan.training.adapt_refine import AdaptRefiner, refine_config
from denoise_gan.training.adapt_reports import NOISE_FIT_FILES, write_before_after, write_noise_fit
from denoise_gan.training.adapt_start import StartModel, start_of
from denoise_gan.training.distributed import holding_run_folder
from denoise_gan.training.input_record import RECORD_FILE, note_inputs
from denoise_gan.training.new_run_inputs import check_adapt_folders
from denoise_gan.training.patch_fit import refuse_too_deep
from denoise_gan.training.refine import SourceModel
from denoise_gan.training.run_open import (
    absolute_paths,
    discarded_if_refused,
    require_config,
    resume_device_name,
    warn_if_unfinished,
)
from denoise_gan.training.run_weights import write_graph
from denoise_gan.training.unused_options import unused_options
from denoise_gan.warning_line import say_warning_on

START_FILES = frozenset({CONFIG_FILE, RECORD_FILE, G_FILE, F_FILE})  # all an unstarted adaptation holds


# ---- the whole adaptation ------------------------------------------------------------------------

def adapt(cfg: AdaptConfig | None, out_dir: Path, resume: bool = False, console: Console | None = None,
          began: float | None = None, start_named: bool = True, device: str | None = None) -> Path:
    """Adapt a model to the noise of cfg.noisy_dir (or resume the adaptation in out_dir); returns OUT/G.safetensors.

    A new adaptation takes a new or empty folder, or one whose adaptation never started. A resumed one finishes
    the phase it was in and the next, to the step counts fixed when it started (without a deadline); one that
    never started is started again. ``began`` (``time.monotonic()`` at the command's start) counts what ran
    before against ``--minutes``. A phase the deadline left with almost no steps is a UserError after the
    reports are written, never a silent success. ``start_named`` False: the config's start is its default, not
    one the user gave (a folder of that name where adapt runs is not read for it). ``device``: where a resume
    goes on (one started on a GPU goes on on the CPU), recorded in its request for later resumes.
    """
    t0, device = time.monotonic() if began is None else began, resume_device_name(device, resume)
    out_dir, out, console = Path(out_dir), RunFolder(out_dir), console or Console()
    with ExitStack() as held:
        if resume:
            cfg = _resumed_config(out_dir, device)
        else:
            cfg = require_config(cfg, "AdaptConfig")
            check_adapt_folders(cfg)
            default_start = cfg.start
            cfg = absolute_paths(cfg)  # stored in config.json: --resume from another directory reads the same folders
            if not start_named:  # the shipped model of that name, not a folder of it here
                cfg = dataclasses.replace(cfg, start=default_start)
            check_budget(cfg, t0)
            check_device(cfg)
            held.enter_context(discarded_if_refused(out_dir, not_started, START_FILES | {out.phase("noise").path.name}))
        refuse_output_inside_inputs(out_dir, {"--noisy": cfg.noisy_dir, "--clean": cfg.clean_dir})
        start = start_of(cfg.start, resume, start_named)
        if not resume and start_named and (note := shadowed_note(default_start)):
            say_warning_on(console, note)
        warn_if_unfinished(*(() if resume else (start.g, start.f)))
        g_cfg = _check_start(start, cfg, out.g if resume else None)
        _hold(held, out, resume, cfg if resume and device is not None else None)
        cfg = cfg if resume else _new_request(cfg, out, console)
        note_inputs(out_dir, {"--noisy": cfg.noisy_dir, "--clean": cfg.clean_dir, "--from's G": str(start.g),
                              "--from's F": str(start.f)}, resume, console,  # (its reports compare against them)
                    {path: start.read(path) for path in (start.g, start.f)})
        started = out.phase("noise").path.exists()  # made after the plan is fixed, before the first step
        if resume and said_complete(out_dir, console):  # it redid its reports and said "done" as if it trained
            return out.g
        noisy = noisy_photos(cfg.noisy_dir, cfg.patch_size, exclude=out_dir, console=console)
        data = AdaptData(clean_pool(cfg.clean_dir, exclude=out_dir, console=console, patch_size=cfg.patch_size),
                         noisy.images, noisy.note(cfg.noisy_dir, cfg.patch_size))
        for warning in [] if started else adapt_warnings(data.clean, data.noisy, cfg, start.config(start.f).channels):
            say_warning_on(console, warning)
        deadlines: tuple[float | None, float | None] = (None, None)
        if not started:
            try:
                cfg, deadlines = _prepare(cfg, start, g_cfg, data, out_dir, t0, console, replan=not resume)
            except KeyboardInterrupt:
                console.print(f"[yellow]stopped at step 0; `denoise-gan adapt --resume {escape(shell_word(out_dir))}"
                              "` starts it again (as does the same command)[/]", soft_wrap=True)
                raise ReportedInterrupt from None
        _run_phases(cfg, start, g_cfg, data, out, deadlines, resume, console)
        write_before_after(out_dir, start, cfg)
        write_graph(out.g)  # G.onnx beside it: `denoise -c OUT` runs on ONNX Runtime
        console.print(f"took {(time.monotonic() - t0) / 60:.1f} min")
        refuse_short_phases(out_dir)
        return out.g


def _new_request(cfg: AdaptConfig, out: RunFolder, console: Console) -> AdaptConfig:
    """A new adaptation's folder, its request (config.json) written first; options left without effect are said."""
    for note in unused_options(cfg):
        say_warning_on(console, note)
    replaced = not_started(out.path)
    done = (out.phase("refine").read_finished() or {}).get("stopped_by") == "steps"  # (G is the start's until then)
    try:
        prepare_output_dir(out.path, own=replaced, hint=f"use the adaptation it holds (-c {out.g})" if done
                           else "--resume OUT to continue the adaptation in it", written=PHASE_FOLDERS)
    except DataError as exc:
        raise UserError(str(exc)) from None
    if replaced and out.phase("noise").path.is_dir():  # the stopped run's, opened under its plan: this one plans anew
        shutil.rmtree(out.phase("noise").path)
    # the request first: from here on the folder is this adaptation's, which --resume or a new run accepts
    out.write_config(cfg)
    return cfg


def _run_phases(cfg: AdaptConfig, start: StartModel, g_cfg: GeneratorConfig, data: AdaptData, out: RunFolder,
                deadlines: tuple[float | None, float | None], resume: bool, console: Console) -> None:
    """The noise phase, F's noise-fit report, then the denoiser phase; Ctrl-C says what G is now."""
    out_dir, ch, interrupts = out.path, g_cfg.channels, interrupt_count()
    try:
        continue_noise = resume and not out.phase("refine").path.exists()
        if run_phase(out.phase("noise"), "adapt-noise", AdaptConfig, cfg, cfg.noise_steps, deadlines[0], console,
                     lambda device, w: NoiseFitTrainer(cfg, start, data.noisy_sampler(cfg, ch), out_dir, device, w),
                     lambda: data.noise_dataset(cfg, ch), cfg.batch_size, continue_noise):
            (out_dir / "noise_fit.json").unlink(missing_ok=True)  # F changed: its report is redone
        if interrupt_count() != interrupts:  # taken as the phase's last step ended: complete; the next must not start
            raise KeyboardInterrupt
        if not all((out_dir / name).is_file() for name in NOISE_FIT_FILES):
            fit_began = time.monotonic()
            write_noise_fit(out_dir, start, data.clean, data.noisy, data.note, cfg)
            console.print(f"noise fit: {out_dir / 'noise_fit.md'}", markup=False, highlight=False)
            if deadlines[1] is not None:  # REPORT_SECONDS paid for this report; the end's take about as long
                deadlines = (None, deadlines[1] + adapt_plan.refine_extension(time.monotonic() - fit_began))
        rcfg = refine_config(cfg, out_dir)
        source = SourceModel(g_cfg)
        run_phase(out.phase("refine"), "refine", RefineConfig, rcfg, cfg.refine_steps, deadlines[1], console,
                  lambda device, w: AdaptRefiner(rcfg, source, cfg, out_dir, device, w),
                  lambda: data.refine_dataset(cfg, ch), cfg.refine_batch_size, resume)
    except KeyboardInterrupt:
        refined = out.phase("refine").finished.is_file() or latest_checkpoint(out.phase("refine").path)
        console.print(f"[yellow]{escape(str(out.g))} is "
                      f"{'the adaptation so far' if refined else 'still the start model'}; "
                      f"`denoise-gan adapt --resume {escape(shell_word(out_dir))}` continues[/]", soft_wrap=True)
        raise


def not_started(out_dir: Path) -> bool:
    """Whether ``out_dir`` holds an adaptation stopped before its first step (Ctrl-C while loading or timing):
    its request (a readable adapt config.json), copies of the start model and a noise phase that saved nothing,
    nothing else. Nothing in it is worth keeping, so a new run may replace it."""
    if not out_dir.is_dir():
        return False
    names = {p.name for p in out_dir.iterdir() if not is_temp_file(p.name)}
    noise = RunFolder(out_dir).phase("noise")
    if noise.path.is_dir() and latest_checkpoint(noise.path) is None and noise.read_finished() is None:
        names.discard(noise.path.name)  # opened, then stopped before its first checkpoint
    if CONFIG_FILE not in names or not names <= START_FILES:
        return False
    try:
        RunFolder(out_dir).read_config(AdaptConfig, what="adapt")
    except UserError:
        return False
    return True


def _prepare(cfg: AdaptConfig, start: StartModel, g_cfg: GeneratorConfig, data: AdaptData, out_dir: Path, t0: float,
             console: Console, replan: bool) -> tuple[AdaptConfig, tuple[float | None, float | None]]:
    """Before the first step: the start model's G and F copied in (G stays the start's until the refine phase
    saves), the plan fixed (a new run's, or a resumed request that was never planned) and written to
    config.json. Returns the config and the phases' deadlines."""
    out = RunFolder(out_dir)
    g_start = load_denoiser(start.g, data=start.read(start.g))[0]
    save_generator(out.g, g_start, g_cfg,
                   {"role": "G noisy->clean", "trained_by": f"start model of denoise-gan adapt ({start.label}), "
                    "not adapted yet"})
    atomic_write_bytes(out.f, start.read(start.f))  # the start's F until the first save
    if not replan and cfg.noise_steps and cfg.refine_steps:
        return cfg, (None, None)  # planned, then stopped before the first step: the plan stands, as on any resume
    try:
        cfg, deadlines = plan_phases(cfg, start, data, out_dir, t0, console)
    except UserError as exc:  # a --resume keeps its stored budget, so its "give more --minutes" cannot be followed
        if replan:
            raise
        raise UserError(f"{exc}; a --resume keeps the budget in {out.config}: run the adapt command again with "
                        "more (a new run replaces this unstarted one)") from None
    out.write_config(cfg)
    return cfg, deadlines


def _resumed_config(out_dir: Path, device: str | None) -> AdaptConfig:
    """The stored request of the adaptation to resume, once its noise phase is known not starved (a resume
    completes a starved denoiser phase, not that one), on ``device`` when given: one this machine lacks is
    refused here, before the request (written back once OUT is held) names it."""
    cfg = stored_config(out_dir)
    refuse_short_phases(out_dir, only="noise")
    if device is None:
        return cfg
    cfg = dataclasses.replace(cfg, device=device)
    check_device(cfg)
    return cfg


def _hold(held: ExitStack, out: RunFolder, resume: bool, moved: AdaptConfig | None) -> None:
    """OUT's lock, so a second process is refused, not mixed in; once held, a resume removes a killed writer's
    temp files in OUT (a live one's stay; each phase folder's go when its phase opens), and one given a device
    (``moved``: the request on it) writes it to the request, so a later resume goes on there too."""
    held.enter_context(holding_run_folder(out.path, "adaptation"))
    if resume:
        refuse_links_inside(out.path, PHASE_FOLDERS)  # their checkpoints, through a link
        remove_stale_parts(out.path)
    if moved is not None:
        out.write_config(moved)


def _check_start(start: StartModel, cfg: AdaptConfig, own_g: Path | None) -> GeneratorConfig:
    """The start's G config, once G and F fit each other and the patch, and the options fit G (a blind G ignored
    the level-aware ones without a word), and on a resume (``own_g``: the run's G) is still the run's: an upgrade
    that replaced the shipped start model left a G trained as one and saved as the other."""
    resume = own_g is not None
    g_cfg, f_cfg = start.config(start.g), start.config(start.f)
    if own_g is not None and own_g.is_file() and (held := read_generator_header(own_g)[0]) != g_cfg:
        raise UserError(f"--from {start.label}: its G ({architecture_text(g_cfg)}) is not the one this adaptation "
                        f"began from ({architecture_text(held)}; the model was replaced since, by an update?), so it "
                        "cannot go on; start a new adaptation in another folder")
    if g_cfg.channels != f_cfg.channels:
        raise UserError(f"{start.label}: G has {g_cfg.channels} channels, F {f_cfg.channels}")
    refuse_too_deep({f"--from {start.label}'s G": lambda: build_generator(g_cfg),
                     f"--from {start.label}'s F": lambda: build_generator(f_cfg)}, g_cfg.channels, cfg.patch_size)
    if not resume and g_cfg.arch != "level" and (level_only := level_only_options(cfg)):
        raise UserError(level_only_refusal(level_only, f"--from {start.label}'s G ({g_cfg.arch})"))
    return g_cfg
