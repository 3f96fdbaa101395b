"""`adapt` never ends as a success that did nothing: a budget too small is refused up front (naming the least
that works) or the run ends non-zero; its own output is never read as photos; F must be a noise model by its
architecture; a folder stopped before the first step is resumable or replaceable; too few or too small photos
are refused or left out, and the report says so; its pictures are labelled."""

from __future__ import annotations

import json
import math
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from data_tools.images import read_image, write_image
from data_tools.noise import parse_noise_spec
from data_tools.samples import load_sample
from denoise_gan.config import AdaptConfig, DiscriminatorConfig, GeneratorConfig
from denoise_gan.errors import DataError, DenoiseGanError, UserError
from denoise_gan.nets.weights import load_denoiser
from denoise_gan.training import adapt as adapt_module
from denoise_gan.training import adapt_phases, adapt_plan, adapt_reports
from denoise_gan.training.adapt import adapt, noisy_photos
from denoise_gan.training.adapt_phases import phase_results
from denoise_gan.training.adapt_start import find_start
from helpers import TINY_LEVEL, cli, one_line_error, save_adapt_start

pytestmark = pytest.mark.usefixtures("losses_png_unrendered")  # trains; never looks at that picture


TINY_F = GeneratorConfig(arch="noise", width=4, depth=1)
TINY_D = DiscriminatorConfig(width=8, layers=2)
PHOTOS = ("rocket", "retina", "hubble", "motorcycle", "coffee")


def _save_start(folder: Path, g: GeneratorConfig = TINY_LEVEL, f: GeneratorConfig = TINY_F) -> Path:
    return save_adapt_start(folder, g, f)


@pytest.fixture(scope="module")
def start_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_start(tmp_path_factory.mktemp("start"))


def _write_noisy(folder: Path, names: tuple[str, ...] = PHOTOS, size: tuple[int, int] = (48, 60)) -> Path:
    spec = parse_noise_spec("camera:peak=60")
    for i, name in enumerate(names):
        photo = load_sample(name)[40:40 + size[0], 60:60 + size[1]]
        write_image(folder / f"{name}.png", spec.apply(photo, i)[0])
    return folder


@pytest.fixture(scope="module")
def noisy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_noisy(tmp_path_factory.mktemp("noisy"))


def _config(noisy_dir: Path, clean_dir: Path, start_dir: Path, **kw: object) -> AdaptConfig:
    base = dict(noisy_dir=str(noisy_dir), clean_dir=str(clean_dir), start=str(start_dir), steps=6, patch_size=32,
                batch_size=2, refine_batch_size=2, save_every=100, log_every=1, device="cpu", workers=0)
    return AdaptConfig(**{**base, **kw})


# ---- 1. the budget -------------------------------------------------------------------------------

def test_a_budget_too_small_for_useful_phases_is_refused_naming_the_least_that_works(
        noisy_dir: Path, clean_dir: Path, start_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adapt_plan, "REPORT_SECONDS", 1.0)
    monkeypatch.setattr(adapt_plan, "MIN_PHASE_STEPS", 10**6)  # no budget of a few seconds holds that many
    with pytest.raises(UserError, match="too short") as caught:
        adapt(_config(noisy_dir, clean_dir, start_dir, steps=0, minutes=0.2), tmp_path / "out")
    least = float(re.search(r"at least --minutes ([\d.]+)", str(caught.value)).group(1))
    assert least > 0.2 and "\n" not in str(caught.value)
    assert not (tmp_path / "out").exists()  # a refused adaptation leaves no folder that looks like a result
    mine = tmp_path / "mine"
    mine.mkdir()
    with pytest.raises(UserError, match="too short"):
        adapt(_config(noisy_dir, clean_dir, start_dir, steps=0, minutes=0.2), mine)
    assert mine.is_dir() and not any(mine.iterdir())  # the user's own empty folder stays, as empty as it was


def test_a_resume_refused_as_too_short_says_how_to_go_on(noisy_dir: Path, clean_dir: Path, start_dir: Path,
                                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stopped before its first step and resumed on a busy machine, it was told to give more --minutes, which a
    --resume refuses: the user had no way on."""
    from denoise_gan.errors import ReportedInterrupt
    from denoise_gan.training import adapt as adapt_module

    def stopped(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(adapt_plan, "REPORT_SECONDS", 1.0)
    planned = adapt_module.plan_phases
    monkeypatch.setattr(adapt_module, "plan_phases", stopped)
    with pytest.raises(ReportedInterrupt):
        adapt(_config(noisy_dir, clean_dir, start_dir, steps=0, minutes=0.2), tmp_path / "out")
    monkeypatch.setattr(adapt_module, "plan_phases", planned)
    monkeypatch.setattr(adapt_plan, "MIN_PHASE_STEPS", 10**6)
    with pytest.raises(UserError, match="too short.*a --resume keeps the budget in .*run the adapt command again"):
        adapt(None, tmp_path / "out", resume=True)


def test_time_spent_before_the_call_counts_against_the_budget(noisy_dir: Path, clean_dir: Path, start_dir: Path,
                                                              tmp_path: Path) -> None:
    began = time.monotonic()
    with pytest.raises(UserError, match="too short"):  # 30 s asked, 25 of them gone, 15 kept for the reports
        adapt(_config(noisy_dir, clean_dir, start_dir, steps=0, minutes=0.5), tmp_path / "out",
              began=time.monotonic() - 25)
    assert time.monotonic() - began < 5  # refused at once, before any loading or timing


def test_timing_stops_when_the_budget_is_gone(noisy_dir: Path, clean_dir: Path, start_dir: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adapt_plan, "REPORT_SECONDS", 0.0)
    original = adapt_module.NoiseFitTrainer.step

    def slow(self: object, step: int, batch: dict) -> dict:
        time.sleep(1.5)  # a machine on which one step takes longer than the whole budget
        return original(self, step, batch)

    monkeypatch.setattr(adapt_module.NoiseFitTrainer, "step", slow)
    began = time.monotonic()
    with pytest.raises(UserError, match=r"loading and timing alone took .* at least --minutes"):
        adapt(_config(noisy_dir, clean_dir, start_dir, steps=0, minutes=0.02), tmp_path / "out", began=began)
    assert time.monotonic() - began < 1.2 + 2 * 1.5 + 3  # not the 8 timed steps of both phases


def test_a_budget_gone_in_the_noise_phase_names_enough_for_the_untimed_denoiser_phase(
        noisy_dir: Path, clean_dir: Path, start_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The least --minutes left the untimed denoiser phase out (3.5 named, then 5.1 asked once both were timed,
    the denoiser step being 3x slower): it now counts one at UNTIMED_REFINE_RATIO times a noise-model step."""
    monkeypatch.setattr(adapt_plan, "REPORT_SECONDS", 0.0)

    def over(*_: object) -> float:
        raise adapt_plan._OverBudget(2.0)

    monkeypatch.setattr(adapt_plan, "_time_steps", over)
    with pytest.raises(UserError, match=r"at least --minutes ([0-9.]+)") as refused:
        adapt(_config(noisy_dir, clean_dir, start_dir, steps=0, minutes=0.05), tmp_path / "out",
              began=time.monotonic())
    named = float(re.search(r"at least --minutes ([0-9.]+)", str(refused.value)).group(1))
    assert int(re.search(r"timing alone took (\d+) s", str(refused.value)).group(1)) < 30  # spent, not estimated
    share = _config(noisy_dir, clean_dir, start_dir).noise_share
    denoiser_phase = adapt_plan.MIN_PHASE_STEPS * adapt_plan.UNTIMED_REFINE_RATIO * 2.0 / (1.0 - share)
    assert named * 60 >= denoiser_phase + (adapt_plan.TRIAL_STEPS + 1) * adapt_plan.UNTIMED_REFINE_RATIO * 2.0


def test_a_minutes_budget_is_split_by_the_noise_share_at_each_phases_speed(
        noisy_dir: Path, clean_dir: Path, start_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--minutes 1 --noise-share 0.25 at 0.01 s per noise-model step and 0.02 s per denoiser step: a quarter of
    what is left goes to the noise phase, whose deadline lets it overrun its share by a quarter, and the denoiser
    phase ends with the budget; the least --minutes a refusal names follows the same split."""
    monkeypatch.setattr(adapt_plan, "REPORT_SECONDS", 0.0)
    monkeypatch.setattr(adapt_plan, "_time_steps", lambda trainer, *_: 0.01 if isinstance(
        trainer, adapt_module.NoiseFitTrainer) else 0.02)
    planned: list[tuple] = []
    original = adapt_module.plan_phases

    def stop_after_planning(*args: object, **kw: object) -> tuple:
        planned.append((*original(*args, **kw), time.monotonic()))
        raise KeyboardInterrupt

    monkeypatch.setattr(adapt_module, "plan_phases", stop_after_planning)
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        adapt(_config(noisy_dir, clean_dir, start_dir, steps=0, minutes=1, noise_share=0.25), tmp_path / "out",
              began=t0)
    cfg, (noise_deadline, refine_deadline), now = planned[0]
    left = t0 + 60.0 - now
    assert cfg.noise_steps == pytest.approx(0.25 * left / 0.01, rel=0.02)
    assert cfg.refine_steps == pytest.approx(0.75 * left / 0.02, rel=0.02)
    assert noise_deadline - now == pytest.approx(1.25 * 0.25 * left, rel=0.02)
    assert refine_deadline == pytest.approx(t0 + 60.0, abs=0.01)
    need = adapt_plan.MIN_PHASE_STEPS * 4.0  # 1 s / 0.25 and 3 s / 0.75 per share-second: both 4 s a step
    assert adapt_plan.least_minutes(0.0, 1.0, 3.0, 0.25) == math.ceil(need / 6.0) / 10.0
    assert adapt_plan.least_minutes(0.0, 3.0, 1.0, 0.75) == math.ceil(need / 6.0) / 10.0


def test_a_planned_phase_never_passes_the_step_limit_and_a_stored_plan_past_it_is_refused(
        noisy_dir: Path, clean_dir: Path, start_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stored plan of 10**30 noise steps (an edited config.json) was resumed, training "for ever" with an ETA of
    27 digits; the plan a budget makes on a very fast machine stops at the same limit every step count has."""
    from denoise_gan.config import MAX_STEPS
    from denoise_gan.errors import ConfigError

    with pytest.raises(ConfigError, match="noise_steps must be between 0 and 10000000"):
        _config(noisy_dir, clean_dir, start_dir, noise_steps=10**30)
    monkeypatch.setattr(adapt_plan, "REPORT_SECONDS", 0.0)
    monkeypatch.setattr(adapt_plan, "_time_steps", lambda *_: 1e-9)
    planned: list = []

    def stop_after_planning(*args: object, **kw: object) -> tuple:
        planned.append(original(*args, **kw)[0])
        raise KeyboardInterrupt

    original = adapt_module.plan_phases
    monkeypatch.setattr(adapt_module, "plan_phases", stop_after_planning)
    with pytest.raises(KeyboardInterrupt):
        adapt(_config(noisy_dir, clean_dir, start_dir, steps=0, minutes=1), tmp_path / "out", began=time.monotonic())
    assert planned[0].noise_steps == planned[0].refine_steps == MAX_STEPS


def test_a_phase_the_deadline_starved_ends_non_zero_and_resume_completes_it(
        noisy_dir: Path, clean_dir: Path, start_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = adapt_module.plan_phases

    def late(*args: object, **kw: object) -> tuple:
        cfg, _ = original(*args, **kw)
        return cfg, (None, time.monotonic() - 1.0)  # the machine slowed down: the refine phase's time is gone

    monkeypatch.setattr(adapt_module, "plan_phases", late)
    monkeypatch.setattr(adapt_plan, "REPORT_SECONDS", 1.0)  # and the reports' reserve with it
    out = tmp_path / "out"
    with pytest.raises(UserError, match=r"denoiser phase completed 0 of its 4 planned steps.*still the start model"
                                        r".*--resume"):
        adapt(_config(noisy_dir, clean_dir, start_dir), out)
    assert (out / "before_after.png").is_file() and (out / "noise_fit.md").is_file()  # the reports are written
    assert [(r.completed, r.planned, r.stopped_by) for r in phase_results(out)] == [(2, 2, "steps"),
                                                                                    (0, 4, "deadline")]
    monkeypatch.setattr(adapt_module, "plan_phases", original)
    adapt(None, out, resume=True)  # the remaining steps, without a deadline
    assert [(r.completed, r.planned) for r in phase_results(out)] == [(2, 2), (4, 4)]
    assert load_denoiser(out / "G.safetensors")[2]["step"] == 4


def test_the_reports_reserve_a_quick_noise_fit_left_unused_goes_to_the_denoiser_phase(
        noisy_dir: Path, clean_dir: Path, start_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reserve kept back for the reports stayed idle when they were quick: short runs ended seconds early,
    with the denoiser phase cut by the deadline, and below 20 steps as a failure the plan had just accepted."""
    original = adapt_module.plan_phases

    def planned_to_the_reserve(*args: object, **kw: object) -> tuple:
        cfg, _ = original(*args, **kw)
        return cfg, (None, time.monotonic())  # the phases' share of the budget ends here; the reserve remains

    monkeypatch.setattr(adapt_module, "plan_phases", planned_to_the_reserve)
    monkeypatch.setattr(adapt_plan, "REPORT_SECONDS", 60.0)  # far more than the noise-fit report takes here
    out = tmp_path / "out"
    adapt(_config(noisy_dir, clean_dir, start_dir), out)
    assert [(r.completed, r.planned, r.stopped_by) for r in phase_results(out)] == [(2, 2, "steps"),
                                                                                    (4, 4, "steps")]


def test_a_phase_the_deadline_left_one_step_is_said_in_the_singular(tmp_path: Path) -> None:
    from denoise_gan.nets.run_folder import RunFolder

    out = RunFolder(tmp_path / "out")
    out.path.mkdir()
    out.write_config(AdaptConfig(noisy_dir="n", steps=0, noise_steps=122, refine_steps=68))
    for phase, step, steps in (("noise", 1, 122), ("refine", 0, 68)):
        out.phase(phase).path.mkdir()
        out.phase(phase).write_finished(step, steps, "deadline")
    with pytest.raises(UserError, match=r"completed 1 of its 122 planned steps .*, so 1 step barely changes it \("):
        adapt_phases.refuse_short_phases(out.path)


def test_a_resume_of_a_starved_noise_phase_is_refused_before_training(
        noisy_dir: Path, clean_dir: Path, start_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README said --resume completes a starved phase: for the noise phase it trained the denoiser on the
    F it then rejected, and failed again with the same message."""
    original = adapt_module.plan_phases

    def late(*args: object, **kw: object) -> tuple:
        cfg, _ = original(*args, **kw)
        return cfg, (time.monotonic() - 1.0, time.monotonic() - 1.0)  # the whole budget is gone

    monkeypatch.setattr(adapt_module, "plan_phases", late)
    out = tmp_path / "out"
    with pytest.raises(UserError, match="noise model phase completed 0 of its 2"):
        adapt(_config(noisy_dir, clean_dir, start_dir), out)
    trained = [r.completed for r in phase_results(out)]
    monkeypatch.setattr(adapt_module, "plan_phases", original)
    with pytest.raises(UserError, match="noise model phase completed 0 of its 2.*into a new folder"):
        adapt(None, out, resume=True)
    assert [r.completed for r in phase_results(out)] == trained  # nothing more was trained


def test_a_resume_that_continues_the_noise_phase_redoes_its_noise_fit_report(
        noisy_dir: Path, clean_dir: Path, start_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The noise phase stopped by the deadline after 1 of its 2 steps, its report written, then a Ctrl-C before the
    denoiser phase began: the resume trains F's last step, so the report made from the older F must be redone."""
    original_plan, original_step = adapt_module.plan_phases, adapt_module.NoiseFitTrainer.step

    deadline: list[float] = []

    def soon(*args: object, **kw: object) -> tuple:
        cfg, _ = original_plan(*args, **kw)
        deadline.append(time.monotonic() + 3.0)  # ample for loading: the deadline is checked before each step
        return cfg, (deadline[0], None)

    def slow(self: object, step: int, batch: dict) -> dict:  # the noise phase's time ends during its first step
        time.sleep(max(0.0, deadline[0] - time.monotonic()) + 0.01)
        return original_step(self, step, batch)

    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(adapt_plan, "MIN_PHASE_STEPS", 1)
    monkeypatch.setattr(adapt_module, "plan_phases", soon)
    monkeypatch.setattr(adapt_module.NoiseFitTrainer, "step", slow)
    monkeypatch.setattr(adapt_module, "refine_config", interrupted)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        adapt(_config(noisy_dir, clean_dir, start_dir), out)
    assert [(r.completed, r.planned, r.stopped_by) for r in phase_results(out)] == [(1, 2, "deadline"),
                                                                                    (0, 4, "not started")]
    assert (out / "noise_fit.json").is_file()
    monkeypatch.undo()
    monkeypatch.setattr(adapt_plan, "MIN_PHASE_STEPS", 1)
    reports: list[int] = []
    write = adapt_module.write_noise_fit

    def counted(*args: object, **kw: object) -> None:
        reports.append(1)
        write(*args, **kw)

    monkeypatch.setattr(adapt_module, "write_noise_fit", counted)
    adapt(None, out, resume=True)
    assert [(r.completed, r.planned) for r in phase_results(out)] == [(2, 2), (4, 4)]
    assert reports == [1]  # F changed, so its report is made again from the F the folder now holds


def test_the_final_line_states_planned_and_completed_steps(noisy_dir: Path, clean_dir: Path, start_dir: Path,
                                                           tmp_path: Path) -> None:
    result = cli("adapt", "--noisy", noisy_dir, "--clean", clean_dir, "--from", start_dir, "-o", tmp_path / "out",
                 "--steps", "6", "--patch-size", "32", "--device", "cpu", "--save-every", "100")
    assert result.exit_code == 0, result.output
    last = [ln for ln in result.stdout.splitlines() if ln.strip()][-1]
    assert last.startswith("done:") and "noise model 2/2 steps, denoiser 4/4 steps" in last
    from data_tools.folder_lock import holding_folder

    with holding_folder(tmp_path / "busy"):  # another process adapting into it: refused, nothing written
        one_line_error(cli("adapt", "--noisy", noisy_dir, "--clean", clean_dir, "--from", start_dir, "-o",
                           tmp_path / "busy", "--steps", "6", "--patch-size", "32", "--device", "cpu"),
                       "another process is writing this adaptation now", code=1)
    assert not (tmp_path / "busy" / "config.json").exists()


def test_a_start_run_stopped_partway_is_said(noisy_dir: Path, clean_dir: Path, start_dir: Path,
                                             tmp_path: Path) -> None:
    """adapt --from a train run stopped at step 2 of 4 began from its half-trained G and F without a word."""
    import shutil

    from denoise_gan.config import TrainConfig
    from denoise_gan.nets.run_folder import RunFolder

    run = RunFolder(shutil.copytree(start_dir, tmp_path / "run"))
    run.write_config(TrainConfig(steps=4))
    run.checkpoints.mkdir()
    run.checkpoint(2).write_bytes(b"")
    result = cli("adapt", "--noisy", noisy_dir, "--clean", clean_dir, "--from", run.path, "-o", tmp_path / "out",
                 "--steps", "2", "--patch-size", "32", "--device", "cpu", "--save-every", "100")
    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())
    assert "stopped at step 2 of 4" in said and f"train --resume {run.path}" in said, said


# ---- 2. the output folder inside the photo folders -------------------------------------------------

def test_an_output_folder_inside_the_photo_folders_is_refused_before_anything_is_written(
        noisy_dir: Path, clean_dir: Path, start_dir: Path, tmp_path: Path) -> None:
    """Its plots (losses.png, before_after.png, ...) would be read as photos by the next run on those folders."""
    noisy, clean = tmp_path / "noisy", tmp_path / "clean"
    shutil.copytree(noisy_dir, noisy)
    shutil.copytree(clean_dir, clean)
    for option, out in (("--noisy", noisy / "adapted"), ("--clean", clean / "adapted")):
        with pytest.raises(DenoiseGanError, match=f"inside {option} .*would be read as input images"):
            adapt(_config(noisy, clean, start_dir), out)
        assert not out.exists()
    assert sorted(p.name for p in noisy.iterdir()) == sorted(p.name for p in noisy_dir.iterdir())



def test_a_photo_in_both_folders_under_two_names_is_refused_as_train_refuses_it(
        noisy_dir: Path, clean_dir: Path, start_dir: Path, tmp_path: Path) -> None:
    """A link in --noisy to a photo of --clean put that photo in both domains: train refused it, adapt ran."""
    noisy = tmp_path / "noisy"
    shutil.copytree(noisy_dir, noisy)
    twin = sorted(clean_dir.glob("*.png"))[0]
    for link, make in (("sym.png", lambda path: path.symlink_to(twin)),
                       ("hard.png", lambda path: path.hardlink_to(twin))):
        make(noisy / link)
        with pytest.raises(DenoiseGanError, match=f"{link}: the same file as {re.escape(str(twin))} in --clean"):
            adapt(_config(noisy, clean_dir, start_dir), tmp_path / "out")
        assert not (tmp_path / "out").exists()
        (noisy / link).unlink()

# ---- 3. F must be a noise model by its architecture -----------------------------------------------

def test_the_registrys_noise_models() -> None:
    """The torch-free table's noise models are exactly the registry's generators built from NoiseGenerator."""
    from denoise_gan.nets.generator_names import NOISE_MODEL_ARCHS
    from denoise_gan.nets.generators import NoiseGenerator
    from denoise_gan.nets.registry import GENERATORS

    by_class = {name for name, spec in GENERATORS.items()
                if isinstance(spec.build, type) and issubclass(spec.build, NoiseGenerator)}
    assert NOISE_MODEL_ARCHS == by_class == {"noise", "colour-noise"}


def test_a_denoiser_saved_as_f_is_refused_by_its_architecture(tmp_path: Path, noisy_dir: Path) -> None:
    wrong = _save_start(tmp_path / "wrong", f=TINY_LEVEL)  # a denoiser in F.safetensors, labelled role F
    with pytest.raises(UserError, match="not a noise model"):
        find_start(str(wrong))
    one_line_error(cli("adapt", "--noisy", noisy_dir, "-o", tmp_path / "out", "--from", wrong, "--steps", "6"),
                   "F.safetensors", "'level'", "not a noise model")
    assert not (tmp_path / "out").exists()  # refused before the output folder is made
    backwards = _save_start(tmp_path / "backwards", g=TINY_F)
    with pytest.raises(UserError, match="noise model, not a denoiser"):
        find_start(str(backwards))
    colour = _save_start(tmp_path / "colour", f=GeneratorConfig(arch="colour-noise", width=4, depth=1))
    assert find_start(str(colour)).f == colour / "F.safetensors"


# ---- 4. stopped before the first step --------------------------------------------------------------

def test_a_folder_stopped_while_planning_is_resumable_and_replaceable(
        noisy_dir: Path, clean_dir: Path, start_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = adapt_module.plan_phases

    def ctrl_c(*args: object, **kw: object) -> tuple:
        raise KeyboardInterrupt  # Ctrl-C while the budget is being timed

    monkeypatch.setattr(adapt_module, "plan_phases", ctrl_c)
    cfg = _config(noisy_dir, clean_dir, start_dir)
    for out in (tmp_path / "resumed", tmp_path / "replaced"):
        with pytest.raises(KeyboardInterrupt):
            adapt(cfg, out)
        assert adapt_module.not_started(out)
    monkeypatch.setattr(adapt_module, "plan_phases", original)
    adapt(None, tmp_path / "resumed", resume=True)  # --resume starts it again
    adapt(_config(noisy_dir, clean_dir, start_dir, seed=1), tmp_path / "replaced")  # a new run replaces it
    for out, seed in ((tmp_path / "resumed", 0), (tmp_path / "replaced", 1)):
        assert [(r.completed, r.planned) for r in phase_results(out)] == [(2, 2), (4, 4)]
        assert json.loads((out / "config.json").read_text())["seed"] == seed


def test_a_resume_whose_start_model_was_replaced_since_is_refused(
        noisy_dir: Path, clean_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An update that replaced the shipped start model (width 32 to 48) between a stop and its --resume: the run's
    own G trained its steps and was saved under the new model's architecture, a G.safetensors nothing loads."""
    import dataclasses

    start = save_adapt_start(tmp_path / "start")
    original = adapt_phases.launch

    def ctrl_c(*args: object, **kw: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(adapt_phases, "launch", ctrl_c)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        adapt(_config(noisy_dir, clean_dir, start), out)
    monkeypatch.setattr(adapt_phases, "launch", original)
    save_adapt_start(start, g=dataclasses.replace(TINY_LEVEL, width=TINY_LEVEL.width * 2))  # the update
    with pytest.raises(UserError, match="is not the one this adaptation began from"):
        adapt(None, out, resume=True)


def test_a_folder_stopped_before_the_noise_phases_first_step_is_replaced_by_the_same_command(
        noisy_dir: Path, clean_dir: Path, start_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = adapt_phases.launch

    def ctrl_c(*args: object, **kw: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C once noise/ is open, before its first step

    monkeypatch.setattr(adapt_phases, "launch", ctrl_c)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        adapt(_config(noisy_dir, clean_dir, start_dir), out)
    assert (out / "noise").is_dir() and adapt_module.not_started(out)
    monkeypatch.setattr(adapt_phases, "launch", original)
    adapt(_config(noisy_dir, clean_dir, start_dir, seed=1), out)  # the same command again: no "not empty"
    assert [(r.completed, r.planned) for r in phase_results(out)] == [(2, 2), (4, 4)]


def test_an_adaptation_stopped_after_its_noise_phase_is_told_to_resume_not_to_be_used(
        noisy_dir: Path, clean_dir: Path, start_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its G.safetensors is the start model's copy until the end, and the refusal read it as a finished one."""
    def ctrl_c(*args: object, **kw: object) -> None:
        raise KeyboardInterrupt  # after the noise phase, before the denoiser phase

    monkeypatch.setattr(adapt_module, "refine_config", ctrl_c)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        adapt(_config(noisy_dir, clean_dir, start_dir), out)
    assert (out / "G.safetensors").is_file()
    with pytest.raises(UserError, match="--resume OUT to continue the adaptation in it"):
        adapt(_config(noisy_dir, clean_dir, start_dir, seed=1), out)


def test_a_diverged_denoiser_phase_names_its_own_rate(noisy_dir: Path, clean_dir: Path, start_dir: Path,
                                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from denoise_gan.training.adapt_refine import AdaptRefiner

    real = AdaptRefiner.step
    monkeypatch.setattr(AdaptRefiner, "step", lambda self, *a: {**real(self, *a), "loss": math.nan})  # lr too high
    with pytest.raises(UserError, match=r"training diverged .*the denoiser phase's --refine-lr is too high") as caught:
        adapt(_config(noisy_dir, clean_dir, start_dir), tmp_path / "out")
    assert "(--lr)" not in str(caught.value)  # adapt's --lr is the noise phase's, which did not diverge


def test_a_noise_phase_diverged_before_its_first_checkpoint_leaves_no_folder(
        noisy_dir: Path, clean_dir: Path, start_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from denoise_gan.training.adapt_noise import NoiseFitTrainer

    real = NoiseFitTrainer.step
    monkeypatch.setattr(NoiseFitTrainer, "step", lambda self, *a: {**real(self, *a), "f_adv": math.nan})
    with pytest.raises(UserError, match=r"the noise phase's --lr is too high"):
        adapt(_config(noisy_dir, clean_dir, start_dir), tmp_path / "out")
    assert not (tmp_path / "out").exists()  # noise/ was left alone, and the folder refused every command after
    monkeypatch.setattr(NoiseFitTrainer, "step", real)
    adapt(_config(noisy_dir, clean_dir, start_dir), tmp_path / "out")


def test_a_file_given_as_the_output_folder_is_named_as_every_command_names_it(
        noisy_dir: Path, clean_dir: Path, start_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("mine")  # "cannot open it (File exists)" before
    with pytest.raises(DataError, match="afile: exists and is not a folder; choose another -o"):
        adapt(_config(noisy_dir, clean_dir, start_dir), tmp_path / "afile")
    assert (tmp_path / "afile").read_text() == "mine"


def test_a_folder_of_someone_elses_weights_is_still_refused(noisy_dir: Path, clean_dir: Path, start_dir: Path,
                                                            tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    shutil.copy(start_dir / "G.safetensors", mine / "G.safetensors")  # no adapt request beside it
    with pytest.raises(UserError, match="not empty"):
        adapt(_config(noisy_dir, clean_dir, start_dir), mine)
    assert not adapt_module.not_started(mine)


def test_a_finished_adaptation_is_kept_from_a_new_run_and_a_resume_says_it_is_complete(
        noisy_dir: Path, clean_dir: Path, start_dir: Path, tmp_path: Path) -> None:
    """A folder holding a request and more than the start's files is a run's work, never one "stopped before its
    first step" that a new run may replace; a noise phase its deadline ended still counts as done; and the
    denoiser phase's checkpoint exports, as the noise phase's refusal to export tells a user to do."""
    out = tmp_path / "out"
    adapt(_config(noisy_dir, clean_dir, start_dir), out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert not adapt_module.not_started(out)
    with pytest.raises(UserError, match=r"not empty.*use the adaptation it holds \(-c .*G.safetensors\)") as refused:
        adapt(_config(noisy_dir, clean_dir, start_dir, seed=1), out)
    assert "--resume" not in str(refused.value)  # which would only say the adaptation is complete
    marker = out / "noise" / "finished.json"
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "stopped_by": "deadline"}))
    before[marker.relative_to(out)] = marker.read_bytes()
    resumed = cli("adapt", "--resume", out)
    assert resumed.exit_code == 0 and "the adaptation is complete" in resumed.stdout, resumed.output
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    step = sorted((out / "refine" / "checkpoints").glob("step_*.pt"))[-1]  # the denoiser phase's own checkpoint
    exported = cli("export", step, "-o", tmp_path / "step.safetensors")  # (its folder holds no G: OUT's is read)
    assert exported.exit_code == 0, exported.output
    assert load_denoiser(tmp_path / "step.safetensors")[1] == load_denoiser(out / "G.safetensors")[1]


def test_a_start_whose_g_and_f_differ_in_channels_is_a_one_line_error(noisy_dir: Path, tmp_path: Path) -> None:
    """A --from folder put together from a gray run's G and a colour run's F failed inside the first step."""
    mixed = _save_start(tmp_path / "mixed", g=GeneratorConfig(arch="level", width=8, depth=1, blocks=1, channels=1))
    one_line_error(cli("adapt", "--noisy", noisy_dir, "-o", tmp_path / "out", "--from", mixed, "--steps", "6",
                       "--patch-size", "32"), "G has 1 channels, F 3")
    assert not (tmp_path / "out").exists()


# ---- 5. too few, too small photos -----------------------------------------------------------------

def test_fewer_than_five_photos_is_a_one_line_error(tmp_path: Path) -> None:
    few = _write_noisy(tmp_path / "few", PHOTOS[:3])
    refused = cli("adapt", "--noisy", few, "-o", tmp_path / "out", "--steps", "6", "--patch-size", "32")
    one_line_error(refused, "3 usable noisy photos", "at least 5")
    assert "--patch-size" not in refused.output  # no smaller photos a smaller patch would let in
    assert not (tmp_path / "out").exists()


def test_photos_smaller_than_the_patch_are_left_out_and_the_report_says_so(
        noisy_dir: Path, clean_dir: Path, start_dir: Path, tmp_path: Path) -> None:
    noisy = tmp_path / "noisy"
    shutil.copytree(noisy_dir, noisy)
    _write_noisy(noisy, ("camera",), size=(20, 24))  # smaller than the 32 px patch
    assert len(noisy_photos(str(noisy), 32).images) == len(PHOTOS)
    with pytest.raises(UserError, match=r"0 usable noisy photos \(6 more are smaller than the 64 px patch\); .*"
                                        r"px on its shorter side; lower --patch-size to use the smaller ones$"):
        noisy_photos(str(noisy), 64)  # 48x60 photos are too small for 64 px patches as well
    adapt(_config(noisy, clean_dir, start_dir), tmp_path / "out")
    report = (tmp_path / "out" / "noise_fit.md").read_text()
    assert "5 of the 6 photos" in report and "camera.png (24x20)" in report and "smaller than the 32 px" in report
    fit = json.loads((tmp_path / "out" / "noise_fit.json").read_text())
    assert fit["crop_size"] == 32  # the report's crops are not padded either: 48x60 photos give 32 px crops


def test_clean_photos_smaller_than_the_patch_are_left_out_and_steps_0_is_refused(tmp_path: Path,
                                                                                  noisy_dir: Path) -> None:
    """They were padded by mirroring without a word, and the report called its crops "never resized";
    `--steps 0` (the config's "by --minutes") started a 20-minute run."""
    from rich.console import Console

    from denoise_gan.training.adapt_noise import clean_pool

    write_image(tmp_path / "clean" / "big.png", load_sample("coffee")[:64, :64])
    write_image(tmp_path / "clean" / "thumb.png", load_sample("coffee")[:20, :24])
    console = Console(record=True, width=200, stderr=True)  # a warning's console is stderr's
    assert [p.shape for p in clean_pool(str(tmp_path / "clean"), console=console, patch_size=32)] == [(64, 64, 3)]
    assert "thumb.png (24x20)" in console.export_text()
    with pytest.raises(UserError, match="every clean photo is smaller than the 128 px patch"):
        clean_pool(str(tmp_path / "clean"), patch_size=128)
    one_line_error(cli("adapt", "--noisy", noisy_dir, "-o", tmp_path / "out", "--steps", "0"),
                   "--steps must be at least 2")
    for steps in ("1", "-1", "100000000"):  # one range, whichever side is missed (it said "between 0 and ...")
        one_line_error(cli("adapt", "--noisy", noisy_dir, "-o", tmp_path / "out", "--steps", steps),
                       f"--steps must be between 2 and 10000000 (one step per phase at least), not {steps}")
    assert not (tmp_path / "out").exists()


# ---- 8. labelled pictures ---------------------------------------------------------------------------

def test_the_noise_fit_plot_shows_sigma_histograms_before_and_after(noisy_dir: Path, clean_dir: Path,
                                                                     start_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    adapt(_config(noisy_dir, clean_dir, start_dir), out)
    assert read_image(out / "noise_fit.png").pixels.shape[1] > 500
    assert "](noise_fit.png)" in (out / "noise_fit.md").read_text()
    fit = json.loads((out / "noise_fit.json").read_text())
    fig = adapt_reports.noise_fit_figure(fit["blind_sigma_per_crop"], fit["added_std_per_crop"], fit["crop_size"])
    sigma_ax, added_ax = fig.axes
    labels = [t.get_text().split(" (median")[0] for t in sigma_ax.get_legend().get_texts()]
    assert labels == ["noisy folder", "clean photos (no noise)", "F before (start model)", "F adapted"]
    assert "σ" in sigma_ax.get_xlabel() and sigma_ax.get_ylabel() == "crops" and sigma_ax.get_title()
    assert [t.get_text().split(" (median")[0] for t in added_ax.get_legend().get_texts()] == ["F before (start model)",
                                                                                       "F adapted"]
    strip = read_image(out / "before_after.png").pixels
    assert strip[:20].min() < 100 and np.array_equal(strip[:20].max(axis=(0, 1)), [255, 255, 255])  # a title


@pytest.mark.parametrize("setting", [{"device": "cuda"}, {"precision": "fp16"}])
def test_a_device_or_precision_this_machine_cannot_run_leaves_no_folder(
        noisy_dir: Path, clean_dir: Path, start_dir: Path, tmp_path: Path, setting: dict[str, str]) -> None:
    """Found at the first step, it left F.safetensors, G.safetensors and noise/ that could not be resumed."""
    import torch

    if setting.get("device") == "cuda" and torch.cuda.is_available():
        pytest.skip("a GPU is here: cuda runs")
    with pytest.raises(UserError, match="no CUDA GPU" if "device" in setting else "fp16"):
        adapt(_config(noisy_dir, clean_dir, start_dir, steps=4, **setting), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_timed_seconds_per_step_leave_out_the_first_step() -> None:
    """The first step pays for warm-up (allocations, a compiled graph): counted, it made a --minutes plan use
    less of the budget than it had."""
    import torch

    class Data(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return 4

        def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
            return {"x": torch.zeros(1)}

    class Trainer:
        def step(self, step: int, batch: dict) -> dict:
            time.sleep(0.6 if step == 0 else 0.01)
            return {}

    assert adapt_plan._time_steps(Trainer(), Data(), 1) < 0.1


def test_level_aware_options_with_a_blind_start_g_are_refused(noisy_dir: Path, tmp_path: Path) -> None:
    """--clean-fraction and --lambda-level with a blind G were taken and ignored without a word; refine refuses
    them."""
    save_adapt_start(tmp_path / "blind", g=GeneratorConfig(arch="unet", width=4, depth=1, blocks=1))
    both = ["--clean-fraction", "0.3", "--lambda-level", "2"]
    for flags, named in ((both[:2], "--clean-fraction applies"), (both, "--clean-fraction, --lambda-level apply")):
        one_line_error(cli("adapt", "--noisy", noisy_dir, "--from", tmp_path / "blind", "-o", tmp_path / "out",
                           "--steps", "2", *flags), named, "is blind: drop")
        assert not (tmp_path / "out").exists()


def test_a_lower_patch_size_is_suggested_only_where_it_would_let_enough_photos_in(tmp_path: Path) -> None:
    """Photos under the least patch (32 px) counted as ones a lower --patch-size would use: the refusal said to lower
    it, where even the least left too few, and at --patch-size 32, which cannot go lower."""
    noisy = _write_noisy(tmp_path / "n", PHOTOS[:3], size=(64, 72))
    _write_noisy(noisy, (*PHOTOS[3:], "camera"), size=(20, 24))
    for patch in (64, 32):
        with pytest.raises(UserError, match=r"3 more are smaller") as info:
            noisy_photos(str(noisy), patch)
        assert "lower --patch-size" not in str(info.value)
