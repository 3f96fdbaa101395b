"""`adapt`: the noise phase (F, D_noisy) then the refine phase (G), resumable, with its reports and budget."""

from __future__ import annotations

import io
import json
import math
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console

from data_tools.images import read_image
from denoise_gan.config import AdaptConfig, DiscriminatorConfig, GeneratorConfig
from denoise_gan.errors import UserError, WeightsError
from denoise_gan.evaluation.pictures import CAPTION_H, GAP, HEADER_H, TITLE_H
from denoise_gan.nets.weights import load_denoiser, load_generator
from denoise_gan.training import adapt as adapt_module
from denoise_gan.training import adapt_plan
from denoise_gan.training.adapt import adapt
from denoise_gan.training.adapt_noise import training_data_text
from denoise_gan.training.adapt_start import find_start, start_discriminator
from helpers import TINY_LEVEL, cli, one_line_error, save_adapt_start, write_camera_photos

pytestmark = pytest.mark.usefixtures("losses_png_unrendered")  # trains; never looks at that picture


TINY_F = GeneratorConfig(arch="noise", width=4, depth=1)
TINY_D = DiscriminatorConfig(width=8, layers=2)


@pytest.fixture(scope="module")
def start_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_adapt_start(tmp_path_factory.mktemp("start"))


@pytest.fixture(scope="module")
def noisy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five small photos with camera noise, disjoint from the clean photos (48x60: not a multiple of anything)."""
    return write_camera_photos(tmp_path_factory.mktemp("noisy"), 48, 60)


def _config(noisy_dir: Path, clean_dir: Path, start_dir: Path, **kw: object) -> AdaptConfig:
    base = dict(noisy_dir=str(noisy_dir), clean_dir=str(clean_dir), start=str(start_dir), steps=6, patch_size=32,
                batch_size=2, refine_batch_size=2, save_every=2, log_every=1, device="cpu", workers=0)
    return AdaptConfig(**{**base, **kw})


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    return load_generator(path)[0].state_dict()


def test_adapt_writes_a_denoiser_its_noise_model_and_reports(noisy_dir: Path, clean_dir: Path, start_dir: Path,
                                                             tmp_path: Path) -> None:
    out = adapt(_config(noisy_dir, clean_dir, start_dir), tmp_path / "out")
    assert out == tmp_path / "out" / "G.safetensors"
    g, cfg, meta = load_denoiser(out)
    assert cfg == TINY_LEVEL and "adapt" in meta["trained_by"] and meta["step"] == 4
    assert meta["noise_family"] == f"the photos in {noisy_dir.resolve()}"
    assert meta["training_data"] == (f"unpaired: clean {clean_dir.resolve()}; noisy {noisy_dir.resolve()}; "
                                     f"adapted from {start_dir.resolve()}")  # two adaptations told apart by it
    stored = json.loads((tmp_path / "out" / "config.json").read_text())
    assert (stored["noise_steps"], stored["refine_steps"]) == (2, 4)  # 40 % of 6 steps learn the noise
    f_meta = load_generator(tmp_path / "out" / "F.safetensors")[2]
    assert f_meta["role"].startswith("F") and f_meta["step"] == 2
    assert not all(torch.equal(a, b) for a, b in zip(_tensors(start_dir / "F.safetensors").values(),
                                                     _tensors(tmp_path / "out" / "F.safetensors").values()))
    fit = json.loads((tmp_path / "out" / "noise_fit.json").read_text())
    assert set(fit["rows"]) == {"noisy folder", "clean photos (no noise)", "F before (start model)", "F adapted"}
    assert fit["rows"]["F adapted"]["added_std"] > 1  # on the 0-255 scale
    added = fit["added_std_per_crop"]
    assert added["F adapted"] != added["F before (start model)"]  # each row measures its own F
    for label, row in fit["rows"].items():
        crops = fit["blind_sigma_per_crop"][label]
        assert row["blind_sigma_median"] == pytest.approx(np.median(crops)), label
        assert row["blind_sigma_p10"] <= row["blind_sigma_median"] <= row["blind_sigma_p90"], label
    folder = fit["rows"]["noisy folder"]["blind_sigma_median"]
    assert fit["level_ratio_to_folder"] == {label: pytest.approx(fit["rows"][label]["blind_sigma_median"] / folder)
                                           for label in ("F before (start model)", "F adapted")}
    text = " ".join((tmp_path / "out" / "noise_fit.md").read_text().split())
    assert "| noisy folder |" in text
    # the ratio is no verdict by itself: a camera's correlated noise reads low, F's whiter noise nearly in full
    # (it read "1.58, F too strong" of an F half as strong as the camera's noise)
    assert "only where the coarse / fine and luma / colour columns agree" in text and "matched)" not in text
    strip = read_image(tmp_path / "out" / "before_after.png").pixels
    # 4 photos of 48x60 (noisy | start | adapted) under a title and column names, each row under its caption, each
    # cell as wide as its column's name at least
    from denoise_gan.evaluation.pictures import cell_width

    cell = cell_width(60, ["noisy", "start model", "adapted"])
    assert strip.shape[:2] == (TITLE_H + HEADER_H + 4 * (CAPTION_H + 48 + GAP), max(3 * cell + 2 * GAP, 480))
    from data_tools.images import collect_images
    from denoise_gan.inference.infer_config import InferConfig
    from denoise_gan.inference.tiling import denoise_array

    first = read_image(collect_images(noisy_dir)[0]).pixels
    top = TITLE_H + HEADER_H + CAPTION_H
    for column, weights in ((1, start_dir / "G.safetensors"), (2, out)):  # each column denoised by its own G
        shown = strip[top:top + 48, column * (cell + GAP):column * (cell + GAP) + 60]
        denoised = denoise_array(load_denoiser(weights)[0], first, InferConfig(tile=0, device="cpu"))
        assert np.array_equal(shown, denoised)
    for phase in ("noise", "refine"):
        assert json.loads((tmp_path / "out" / phase / "finished.json").read_text())["stopped_by"] == "steps"
        # resuming a phase folder started a whole adaptation inside it
        one_line_error(cli("adapt", "--resume", tmp_path / "out" / phase), "is a phase of the adaptation in")
        assert not (tmp_path / "out" / phase / phase).exists()
    # G's graph beside it, made from these very weights: `denoise -c OUT` runs on ONNX Runtime
    from denoise_gan import Denoiser

    assert Denoiser.from_pretrained(tmp_path / "out", device="cpu").engine_name == "onnxruntime"
    # a refine-phase checkpoint exports, G's config read from the adapt folder's G.safetensors above it
    from denoise_gan.nets.export import export_model
    from denoise_gan.nets.run_folder import list_checkpoints

    _, checkpoint = list_checkpoints(tmp_path / "out" / "refine" / "checkpoints")[-1]
    exported = load_denoiser(export_model(checkpoint, tmp_path / "step.safetensors"))
    assert exported[1] == TINY_LEVEL and all(torch.equal(a, b) for a, b in zip(exported[0].state_dict().values(),
                                                                               g.state_dict().values()))
    # the output is itself a start: G, F and D_noisy side by side
    again = find_start(str(tmp_path / "out"))
    assert again.g == out and again.d_noisy == tmp_path / "out" / "D_noisy.safetensors"
    (tmp_path / "out" / "refine" / "finished.json").unlink()  # killed after its last checkpoint, before the marker
    resumed = cli("adapt", "--resume", tmp_path / "out")
    assert resumed.exit_code == 0 and "already at step 4 of 4" in resumed.stdout, resumed.output
    assert "--steps" not in resumed.stdout  # adapt refuses --steps on a resume: it was told to pass one


def test_interrupted_adaptation_resumes_exactly(noisy_dir: Path, clean_dir: Path, start_dir: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # the noise phase cut with 4 of its 6 steps to go: its history pool (of 2) full and its schedule decaying
    cfg = _config(noisy_dir, clean_dir, start_dir, steps=12, noise_share=0.5, pool_size=2, save_every=100)
    adapt(cfg, tmp_path / "whole")
    for trainer_cls, at in ((adapt_module.NoiseFitTrainer, 2), (adapt_module.AdaptRefiner, 3)):
        original = trainer_cls.step

        def interrupting(self: object, step: int, batch: dict, original: object = original, at: int = at) -> dict:
            if step == at - 1:
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: the loop finishes this step, saves and stops
            return original(self, step, batch)

        monkeypatch.setattr(trainer_cls, "step", interrupting)
        with pytest.raises(KeyboardInterrupt):
            adapt(cfg, tmp_path / "cut") if trainer_cls is adapt_module.NoiseFitTrainer else \
                adapt(None, tmp_path / "cut", resume=True)
        monkeypatch.setattr(trainer_cls, "step", original)
    adapt(None, tmp_path / "cut", resume=True)
    for name in ("G", "F"):
        whole, cut = _tensors(tmp_path / "whole" / f"{name}.safetensors"), _tensors(tmp_path / "cut" /
                                                                                     f"{name}.safetensors")
        assert all(torch.equal(whole[k], cut[k]) for k in whole), name
    # a resume of a finished adaptation: it redid its reports and graph and said "done" as if it had trained
    written = {p: p.stat().st_mtime_ns for p in (tmp_path / "cut").iterdir() if p.is_file()}
    said = io.StringIO()
    assert adapt(None, tmp_path / "cut", resume=True, console=Console(file=said, width=200)) == \
        tmp_path / "cut" / "G.safetensors"
    assert "the adaptation is complete (noise model 6/6 steps, denoiser 6/6 steps); nothing to resume" in \
        said.getvalue(), said.getvalue()
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "cut").iterdir() if p.is_file()} == written
    command = cli("adapt", "--resume", tmp_path / "cut")  # the command ends there too: no "done" after it
    assert command.exit_code == 0 and "nothing to resume" in command.output and "done" not in command.output


def test_a_resume_says_when_its_start_model_is_gone_or_changed(
        noisy_dir: Path, clean_dir: Path, start_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A resume reads --from again (the phases start from it, the reports compare against it): moved away, it was
    "--from X: no such folder" to a command that gave no --from; replaced, the reports' "start model" rows
    described other weights without a word."""
    import shutil

    start = tmp_path / "start"
    shutil.copytree(start_dir, start)
    cfg = _config(noisy_dir, clean_dir, start, steps=2)
    with pytest.raises(KeyboardInterrupt), monkeypatch.context() as patched:  # stopped after the noise phase
        patched.setattr(adapt_module.AdaptRefiner, "step", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
        adapt(cfg, tmp_path / "out")
    start.rename(tmp_path / "moved")
    one_line_error(cli("adapt", "--resume", tmp_path / "out"), "the start model the adaptation began from (no such "
                   "folder): a resume reads it again; put it back to resume")
    (tmp_path / "moved").rename(start)
    g = start / "G.safetensors"
    g.write_bytes(g.read_bytes())  # written again, the same bytes: no word
    resumed = cli("adapt", "--resume", tmp_path / "out")
    assert resumed.exit_code == 0 and "changed since the run started" not in resumed.output, resumed.output
    with pytest.raises(KeyboardInterrupt), monkeypatch.context() as patched:
        patched.setattr(adapt_module.AdaptRefiner, "step", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
        adapt(cfg, tmp_path / "out2")
    f = start / "F.safetensors"
    f.write_bytes(f.read_bytes()[:-4] + b"    ")  # other weights (a retrained start), the same size
    said = " ".join(cli("adapt", "--resume", tmp_path / "out2").output.split())
    assert f"--from's F {f} changed since the run started" in said, said


def test_relative_folders_from_python_are_stored_absolute(noisy_dir: Path, clean_dir: Path, start_dir: Path,
                                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """config.json names the folders a resume reads again: relative ones would name other folders (or none) when
    the resume runs from another directory, as the CLI's own paths never do."""
    monkeypatch.chdir(tmp_path)
    rel = {key: os.path.relpath(folder) for key, folder in
           (("noisy_dir", noisy_dir), ("clean_dir", clean_dir), ("start", start_dir))}
    cfg = _config(Path(rel["noisy_dir"]), Path(rel["clean_dir"]), Path(rel["start"]), steps=2)
    with pytest.raises(KeyboardInterrupt):  # stopped after the noise phase
        with monkeypatch.context() as patched:
            patched.setattr(adapt_module.AdaptRefiner, "step", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
            adapt(cfg, Path("out"))
    stored = json.loads((tmp_path / "out" / "config.json").read_text())
    assert [stored[key] for key in rel] == [str(noisy_dir), str(clean_dir), str(start_dir)]
    monkeypatch.chdir(start_dir)  # where none of the relative names exist
    assert adapt(None, tmp_path / "out", resume=True) == tmp_path / "out" / "G.safetensors"


def test_a_minutes_budget_becomes_fixed_step_counts(noisy_dir: Path, clean_dir: Path, start_dir: Path,
                                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run takes its whole budget: a short one (the least steps a phase needs lowered to match), so the test
    waits seconds, not the half minute a real plan's 20 steps per phase would need here."""
    monkeypatch.setattr(adapt_plan, "REPORT_SECONDS", 3.0)
    monkeypatch.setattr(adapt_plan, "MIN_PHASE_STEPS", 2)
    cfg = _config(noisy_dir, clean_dir, start_dir, steps=0, minutes=0.2, save_every=1000, log_every=50)  # 12 s
    began = time.monotonic()
    out = io.StringIO()
    adapt(cfg, tmp_path / "timed", console=Console(file=out, width=60))
    assert time.monotonic() - began < 12 + 15  # the budget, and the reports' seconds kept back from it (and slack)
    plan = next(line for line in out.getvalue().splitlines() if line.startswith("plan ("))
    assert plan.endswith("s/step)")  # one line in a log, whatever its width (it was wrapped at 80 columns)
    stored = json.loads((tmp_path / "timed" / "config.json").read_text())
    assert stored["noise_steps"] >= 1 and stored["refine_steps"] >= 1
    done = {p: json.loads((tmp_path / "timed" / p / "finished.json").read_text()) for p in ("noise", "refine")}
    assert all(d["step"] >= 1 for d in done.values())


def test_a_shipped_companion_as_start_names_its_model() -> None:
    with pytest.raises(UserError, match="companion network of the shipped model; give the model's name, 'default'"):
        find_start("default-F")


def test_adapt_without_from_starts_from_the_shipped_default_whatever_the_working_folder_holds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `default` folder where adapt ran was taken for --from when --from was left out (and refused: no G there)."""
    from denoise_gan.nets.shipped import shipped_dir

    (tmp_path / "default").mkdir()
    monkeypatch.chdir(tmp_path)
    start = find_start("default", named=False)
    assert start.g == shipped_dir() / "default.safetensors" and start.f == shipped_dir() / "default-F.safetensors"
    with pytest.raises(UserError, match="no G.safetensors there"):  # --from default, typed: the folder
        find_start("default")


def _ship_as_mine(start_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The start model's G, F and D_noisy shipped as the model `mine`, and adapt run from tmp_path."""
    import denoise_gan.nets.shipped as lookup

    shipped = tmp_path / "shipped"
    shipped.mkdir()
    for part, name in (("", "G"), ("-F", "F"), ("-D_noisy", "D_noisy")):
        (shipped / f"mine{part}.safetensors").write_bytes((start_dir / f"{name}.safetensors").read_bytes())
    monkeypatch.setattr(lookup, "shipped_dir", lambda: shipped)
    monkeypatch.chdir(tmp_path)


def test_a_resumed_adaptation_started_without_from_keeps_the_shipped_model(
        noisy_dir: Path, clean_dir: Path, start_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its config stores the shipped model's name; a folder of that name where the resume ran was read for it."""
    _ship_as_mine(start_dir, tmp_path, monkeypatch)
    (tmp_path / "mine").mkdir()  # the user's own folder, of the shipped model's name
    with pytest.raises(KeyboardInterrupt):  # stopped after the noise phase
        with monkeypatch.context() as patched:
            patched.setattr(adapt_module.AdaptRefiner, "step", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
            adapt(_config(noisy_dir, clean_dir, start_dir, start="mine", steps=2), tmp_path / "out",
                  start_named=False)
    assert adapt(None, tmp_path / "out", resume=True).is_file()


def test_from_a_folder_named_as_a_shipped_model_says_which_was_taken(
        noisy_dir: Path, clean_dir: Path, start_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--from default` with a `default` folder here read the folder without a word (denoise -c says which)."""
    _ship_as_mine(start_dir, tmp_path, monkeypatch)
    (tmp_path / "mine").mkdir()
    with pytest.raises(UserError, match="no G.safetensors there; 'mine' is the folder of that name in the working "
                                        "folder, not the shipped model; give .*mine.safetensors for the shipped one"):
        find_start("mine")
    for name in ("G", "F"):
        (tmp_path / "mine" / f"{name}.safetensors").write_bytes((start_dir / f"{name}.safetensors").read_bytes())
    out = io.StringIO()
    with pytest.raises(KeyboardInterrupt), monkeypatch.context() as patched:
        patched.setattr(adapt_module.NoiseFitTrainer, "step", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
        adapt(_config(noisy_dir, clean_dir, start_dir, start="mine", steps=2), tmp_path / "out",
              console=Console(file=out, width=200))
    assert "warning: 'mine' is the folder of that name in the working folder, not the shipped model" in out.getvalue()


def test_start_from_a_shipped_name(start_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import denoise_gan.nets.shipped as lookup

    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "mine.safetensors").write_bytes((start_dir / "G.safetensors").read_bytes())
    monkeypatch.setattr(lookup, "shipped_dir", lambda: shipped)  # where shipped models are looked up
    with pytest.raises(UserError, match="no noise model beside it"):
        find_start("mine")
    (shipped / "mine-F.safetensors").write_bytes((start_dir / "F.safetensors").read_bytes())
    start = find_start("mine")
    assert start.f == shipped / "mine-F.safetensors" and start.d_noisy is None  # a new D_noisy then
    (shipped / "mine-D_noisy.safetensors").write_bytes((start_dir / "D_noisy.safetensors").read_bytes())
    assert find_start("mine").d_noisy == shipped / "mine-D_noisy.safetensors"
    with pytest.raises(WeightsError, match=r"\(available: mine\)"):  # the companions are not models to denoise with
        lookup.resolve_weights("nope")


def test_a_train_run_folder_is_a_start(finished_run: Path, tmp_path: Path) -> None:
    """Its G (the refined one once `refine` wrote it), its F, and D_noisy with the newest checkpoint's weights;
    a start with no discriminator gets a new spectral-norm one of F's channels."""
    import shutil

    from denoise_gan.nets.weights import load_checkpoint
    from denoise_gan.training.adapt_start import StartModel

    start = find_start(str(finished_run))
    assert start.g == finished_run / "G.safetensors" and start.d_checkpoint is not None
    net, cfg, source = start_discriminator(start, 3)
    assert "checkpoints" in source and cfg.width == 8
    saved = load_checkpoint(start.d_checkpoint)["nets"]["D_noisy"]
    assert all(torch.equal(net.state_dict()[k], v) for k, v in saved.items())
    run = Path(shutil.copytree(finished_run, tmp_path / "run"))
    (run / "refine").mkdir()
    shutil.copy(run / "G.safetensors", run / "refine" / "G.safetensors")
    assert find_start(str(run)).g == run / "refine" / "G.safetensors"
    bare = StartModel("bare", start.g, start.f)
    _, new_cfg, new_source = start_discriminator(bare, 1)
    assert (new_cfg.channels, new_cfg.spectral_norm, new_source) == (1, True, "new (the start has no D_noisy)")


def test_the_noise_phase_step_trains_f_and_d_noisy_on_their_own_terms(start_dir: Path, noisy_dir: Path,
                                                                      tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """--lambda-stats and --lambda-identity weigh their own terms; D_noisy's real images are the noisy batch; the
    logged σ is what F added; the rate decays to 0 over the noise phase's steps, not the whole adaptation's."""
    from data_tools.datasets import PatchSampler
    from denoise_gan.nets import losses
    from denoise_gan.runtime import World
    from denoise_gan.training import adapt_noise

    cfg = AdaptConfig(noisy_dir=str(noisy_dir), clean_dir="c", start=str(start_dir), steps=10, noise_steps=4,
                      lambda_stats=7.0, lambda_identity=3.0, patch_size=32, device="cpu")
    photos = adapt_noise.noisy_photos(str(noisy_dir), 32).images
    torch.manual_seed(0)
    trainer = adapt_noise.NoiseFitTrainer(cfg, find_start(str(start_dir)), PatchSampler(photos, 32, 3, 0.0), tmp_path,
                                          torch.device("cpu"), World())
    weights, drawn, real = [], [], []
    objective = adapt_noise.noise_model_loss
    monkeypatch.setattr(adapt_noise, "noise_model_loss", lambda *a: weights.append(a[5:7]) or drawn.append(
        a[3].detach()) or objective(*a))
    judged: dict[int, torch.Tensor] = {}  # a D output's id -> the images it judged
    forward = trainer.d.forward

    def judge(image: torch.Tensor) -> torch.Tensor:
        out = forward(image)
        judged[id(out)] = image.detach()
        return out

    monkeypatch.setattr(trainer.d, "forward", judge)
    d_loss = losses.discriminator_loss
    monkeypatch.setattr(losses, "discriminator_loss", lambda r, f: real.append(judged[id(r)]) or d_loss(r, f))
    batch = {"clean": torch.rand(2, 3, 32, 32), "noisy": torch.rand(2, 3, 32, 32)}
    for step in range(4):
        log = trainer.step(step, batch)
    assert weights[0] == (7.0, 3.0) and all(torch.equal(r, batch["noisy"]) for r in real)
    assert log["f_sigma"] == pytest.approx(255.0 * float((drawn[-1] - batch["clean"]).std()), rel=1e-4)
    assert trainer.lr() == 0.0


def test_the_start_discriminator_is_the_newest_checkpoints_or_the_starts_own_file(finished_run: Path, start_dir: Path,
                                                                                  tmp_path: Path) -> None:
    """D_noisy from a train run is its last checkpoint's (not an older one kept beside it), and a start with a
    D_noisy file of its own fine-tunes that one, not a new random discriminator."""
    import shutil

    from denoise_gan.nets.run_folder import list_checkpoints
    from denoise_gan.nets.weights import load_discriminator

    run = Path(shutil.copytree(finished_run, tmp_path / "run"))
    (run / "D_noisy.safetensors").unlink(missing_ok=True)
    newest = list_checkpoints(run / "checkpoints")[-1][1]
    shutil.copy(newest, run / "checkpoints" / "step_0000001.pt")  # an older checkpoint kept beside it
    assert len(list_checkpoints(run / "checkpoints")) >= 2
    assert find_start(str(run)).d_checkpoint == newest
    own = find_start(str(start_dir))
    net, _, source = start_discriminator(own, 3)
    assert source == str(start_dir / "D_noisy.safetensors")
    saved = load_discriminator(start_dir / "D_noisy.safetensors")[0].state_dict()
    assert all(torch.equal(v, saved[k]) for k, v in net.state_dict().items())


def test_cli_errors_are_one_line(noisy_dir: Path, tmp_path: Path) -> None:
    one_line_error(cli("adapt", "-o", tmp_path / "x"), "--noisy")
    one_line_error(cli("adapt", "--noisy", noisy_dir, "-o", tmp_path / "y", "--from", tmp_path / "missing/G"),
                   "--from")
    one_line_error(cli("adapt", "--resume", tmp_path / "z", "--minutes", "3"), "--minutes")
    one_line_error(cli("adapt", "--noisy", noisy_dir, "-o", tmp_path / "v", "--minutes", "1e300"),
                   "--minutes must be at most 10080")  # a week; 1e300 was planned as a 300-digit step count
    assert not (tmp_path / "v").exists()
    one_line_error(cli("adapt", "--resume", tmp_path / "z"), "no such folder")
    (tmp_path / "z").mkdir()
    one_line_error(cli("adapt", "--resume", tmp_path / "z"), "no adaptation to resume")
    one_line_error(cli("adapt", "--noisy", noisy_dir, "--clean", noisy_dir, "-o", tmp_path / "w"), "same folder")


def test_the_denoiser_phase_runs_with_the_adaptations_own_settings(tmp_path: Path) -> None:
    """Each refine-phase option of `adapt` reaches the refine phase (the two phases' batch sizes, rates and the
    rest differ; a mapping that swapped or dropped one would ignore a flag silently)."""
    from denoise_gan.training.adapt_refine import refine_config

    cfg = AdaptConfig(noisy_dir="n", clean_dir="c", start="s", seed=7, log_every=3, save_every=9, keep_checkpoints=4,
                      device="cpu", precision="fp32", refine_steps=11, patch_size=48, batch_size=2,
                      refine_batch_size=5, lr=1e-4, refine_lr=3e-5, decay_from=0.7, clean_fraction=0.2,
                      lambda_level=0.3, gray_fraction=0.25, workers=1)
    rcfg = refine_config(cfg, tmp_path)
    assert (rcfg.run_dir, rcfg.generator, rcfg.fresh) == (str(tmp_path), None, False)
    assert (rcfg.steps, rcfg.lr, rcfg.decay_from, rcfg.patch_size, rcfg.batch_size) == (11, 3e-5, 0.7, 48, 5)
    assert (rcfg.clean_fraction, rcfg.lambda_level, rcfg.gray_fraction, rcfg.workers) == (0.2, 0.3, 0.25, 1)
    assert (rcfg.seed, rcfg.log_every, rcfg.save_every, rcfg.keep_checkpoints, rcfg.device, rcfg.precision) == (
        7, 3, 9, 4, "cpu", "fp32")


def test_the_adapted_g_is_capped_at_the_highest_level_it_was_trained_on(tmp_path: Path) -> None:
    """As `refine`: a folder noisier than the default cap gives a G whose level map is capped no lower."""
    from types import SimpleNamespace

    from denoise_gan.nets.registry import build_generator
    from denoise_gan.training.adapt_refine import AdaptRefiner
    from denoise_gan.training.refine import RefineTrainer

    trainer = SimpleNamespace(level_peak=torch.tensor(150.0 / 255.0), g=build_generator(TINY_LEVEL),
                              g_cfg=TINY_LEVEL, out_dir=tmp_path,
                              adapt_cfg=AdaptConfig(noisy_dir=str(tmp_path), clean_dir="c", start="s"))
    trainer.settle_level_max = lambda: RefineTrainer.settle_level_max(trainer)
    AdaptRefiner.export(trainer, tmp_path, 3)
    assert load_generator(tmp_path / "G.safetensors")[0].level_max == 150.0


def test_the_noise_fit_applies_f_to_the_clean_photos(tmp_path: Path) -> None:
    """Each F row is F(clean crops): an F that adds nothing reads exactly as the clean photos do, and one with a
    known noise level adds that σ."""
    from denoise_gan.nets.registry import build_generator, init_weights
    from denoise_gan.nets.weights import save_generator

    f = build_generator(TINY_F)
    init_weights(f)
    with torch.no_grad():
        f.backbone.tail.bias[:3] = -60.0  # softplus(-63): no noise at all
    save_generator(tmp_path / "quiet-F.safetensors", f, TINY_F)
    with torch.no_grad():  # a flat level of σ 20 at every pixel (the level knots' median at 0)
        f.backbone.tail.bias[:3] = math.log(math.expm1(20.0 / 255.0)) + 3.0
        f.level_start.zero_()
        f.level_steps.fill_(-30.0)
    out = tmp_path / "out"
    out.mkdir()
    save_generator(out / "F.safetensors", f, TINY_F)
    fit = _noise_fit_of_two_photos(tmp_path, out, tmp_path / "quiet-F.safetensors")
    assert fit["blind_sigma_per_crop"]["F before (start model)"] == fit["blind_sigma_per_crop"][
        "clean photos (no noise)"]
    assert fit["rows"]["F before (start model)"]["added_std"] < 0.5
    assert fit["rows"]["F adapted"]["added_std"] == pytest.approx(20.0, rel=0.1)


def test_a_gray_models_noise_fit_reads_the_noisy_photos_green_channel(tmp_path: Path) -> None:
    """The noisy folder's crops for a gray-only F are its photos' green channel, as its training patches are: a
    luma mix of three channels' noise reads a third weaker (σ 30 in every channel as about 20)."""
    from denoise_gan.nets.registry import build_generator, init_weights
    from denoise_gan.nets.weights import save_generator

    gray_f = GeneratorConfig(arch="noise", width=4, depth=1, channels=1)
    f = build_generator(gray_f)
    init_weights(f)
    out = tmp_path / "out"
    out.mkdir()
    for path in (tmp_path / "F.safetensors", out / "F.safetensors"):
        save_generator(path, f, gray_f)
    fit = _noise_fit_of_two_photos(tmp_path, out, tmp_path / "F.safetensors")
    assert fit["rows"]["noisy folder"]["blind_sigma_median"] == pytest.approx(30.0, rel=0.12)


def _noise_fit_of_two_photos(tmp_path: Path, out: Path, start_f: Path) -> dict:
    """adapt's noise-fit report from ``start_f`` to ``out``'s F, on two clean photos and their σ 30 twins."""
    from data_tools.samples import load_sample
    from denoise_gan.training.adapt_reports import write_noise_fit
    from denoise_gan.training.adapt_start import StartModel

    clean = [load_sample(name) for name in ("rocket", "motorcycle")]
    noisy = [np.clip(c.astype(float) + np.random.default_rng(0).normal(0, 30, c.shape), 0, 255).astype(np.uint8)
             for c in clean]
    start = StartModel("test", tmp_path / "G.safetensors", start_f)
    return write_noise_fit(out, start, clean, noisy, "two photos", AdaptConfig(noisy_dir=str(tmp_path),
                                                                               clean_dir="c", start="s"))


def test_the_noise_fit_report_reads_sets_with_black_crops() -> None:
    """A clean photo with a black background crashed adapt's report after the noise phase had finished, and
    every --resume after it: a black crop has no σ to read, so it is left out; an all-black set reads σ 0."""
    from denoise_gan.training.adapt_reports import _measure

    rng = np.random.default_rng(0)
    noisy = np.clip(128 + rng.normal(0, 10, (64, 64, 3)), 0, 255).astype(np.uint8)
    black = np.zeros((64, 64, 3), np.uint8)
    row, sigmas = _measure([black, noisy, black])
    assert len(sigmas) == 1 and 8 < row["blind_sigma_median"] < 12
    row, sigmas = _measure([black, black])
    assert sigmas == [0.0, 0.0] and row["blind_sigma_median"] == 0.0


def test_an_adaptation_from_gray_clean_photos_of_colour_noise_says_what_f_cannot_learn(noisy_dir: Path,
                                                                                      clean_dir: Path,
                                                                                      start_dir: Path,
                                                                                      tmp_path: Path) -> None:
    from data_tools.images import write_image

    gray = tmp_path / "gray"
    for path in sorted(clean_dir.glob("*.png")):
        pixels = read_image(path).pixels
        write_image(gray / path.name, pixels[..., :1] if pixels.ndim == 3 else pixels)
    said = Console(file=io.StringIO(), width=300)
    adapt(_config(noisy_dir, gray, start_dir, steps=2, save_every=1), tmp_path / "out", console=said)
    assert "every --clean photo is gray and the --noisy photos are in colour" in said.file.getvalue()


def test_adapted_weights_name_a_shipped_start_by_its_name(noisy_dir: Path, clean_dir: Path) -> None:
    text = training_data_text(AdaptConfig(noisy_dir=str(noisy_dir), clean_dir=str(clean_dir), start="default"))
    assert text.endswith("; adapted from the shipped model 'default'"), text


def test_a_resume_after_a_kill_inside_the_noise_fit_report_writes_it_whole(noisy_dir: Path, clean_dir: Path,
                                                                           start_dir: Path, tmp_path: Path) -> None:
    """Killed after noise_fit.json and before its table and figure, an adaptation resumed to the end without
    them, said it was complete, and kept the killed writer's temp file in OUT for good."""
    import subprocess

    out = tmp_path / "out"
    adapt(_config(noisy_dir, clean_dir, start_dir), out)
    for name in ("noise_fit.md", "noise_fit.png"):
        (out / name).unlink()
    gone = subprocess.Popen(["true"])
    gone.wait()
    half = out / f".noise_fit.png.{gone.pid}-abcdefgh.part"
    half.write_bytes(b"half")
    said = io.StringIO()
    adapt(None, out, resume=True, console=Console(file=said, width=200))
    assert "nothing to resume" not in said.getvalue()
    assert (out / "noise_fit.md").is_file() and (out / "noise_fit.png").is_file() and not half.exists()


def test_a_resume_refuses_a_phase_folder_that_is_a_link(noisy_dir: Path, clean_dir: Path, start_dir: Path,
                                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An adaptation folder handed over with its noise/ a link: the phase's checkpoints went where it led."""
    import shutil

    with pytest.raises(KeyboardInterrupt), monkeypatch.context() as patched:  # stopped after the noise phase
        patched.setattr(adapt_module.AdaptRefiner, "step", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
        adapt(_config(noisy_dir, clean_dir, start_dir, steps=2), tmp_path / "out")
    shutil.move(tmp_path / "out" / "noise", tmp_path / "elsewhere")
    (tmp_path / "out" / "noise").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    one_line_error(cli("adapt", "--resume", tmp_path / "out"), "noise: a link to", "remove the link")


def test_a_gray_only_adaptation_learns_the_noisy_photos_full_noise() -> None:
    """Its noise phase took a noisy photo's gray by luma, whose mix of three channels' noise is a third weaker
    than each channel's: F learnt weaker noise than a one-channel G meets in each channel of those photos."""
    rng = np.random.default_rng(0)
    noisy = np.clip(np.rint(128 + rng.normal(0, 25, (128, 128, 3))), 0, 255).astype(np.uint8)
    data = adapt_plan.AdaptData([noisy], [noisy])
    cfg = AdaptConfig(patch_size=64)
    draw = np.random.default_rng(1)
    for sampler in (data.noisy_sampler(cfg, 1), data.noise_dataset(cfg, 1).noisy):
        patches = [sampler.patch(draw) for _ in range(10)]
        assert abs(np.mean([p.std() for p in patches]) - 25) < 1.5
