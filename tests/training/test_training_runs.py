"""CycleGAN training and refinement: losses fall, resume is exact, checkpoints are atomic and safe."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from data_tools.images import write_image
from data_tools.samples import load_sample
from denoise_gan.config import (
    DataConfig,
    DiscriminatorConfig,
    GeneratorConfig,
    ModelConfig,
    RefineConfig,
    TrainConfig,
)
from denoise_gan.config_json import from_dict, to_dict
from denoise_gan.errors import UserError
from denoise_gan.nets.generators import MAX_SHIFT, NoiseGenerator
from denoise_gan.nets.registry import build_generator
from denoise_gan.nets.run_folder import list_checkpoints
from denoise_gan.nets.weights import load_checkpoint, load_generator, save_generator
from denoise_gan.runtime import World
from denoise_gan.training.cyclegan import CycleGANTrainer, train
from denoise_gan.training.refine import refine
from denoise_gan.training.schedule import linear_decay
from helpers import free_port

pytestmark = pytest.mark.usefixtures("losses_png_unrendered")  # trains; never looks at that picture


TINY = ModelConfig(g=GeneratorConfig(width=8, depth=1, blocks=1), f=GeneratorConfig(arch="noise", width=4, depth=1),
                   d=DiscriminatorConfig(width=8, layers=2))


@pytest.fixture(scope="module")
def clean_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clean")
    for name in ("astronaut", "coffee", "camera", "chelsea"):
        img = load_sample(name)
        write_image(folder / f"{name}.png", img[100:196, 100:196])
    return folder


def tiny_config(clean_dir: Path, **kw: object) -> TrainConfig:
    base = TrainConfig(model=TINY, data=DataConfig(clean_dir=str(clean_dir), noise="gaussian:sigma=25",
                                                   patch_size=32, batch_size=2, workers=0),
                       steps=12, log_every=2, save_every=6, device="cpu", seed=3)
    return replace(base, **kw)


def read_log(run: Path) -> list[dict[str, str]]:
    with (run / "log.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_config_round_trip() -> None:
    cfg = TrainConfig(model=TINY, steps=7, data=DataConfig(noise="poisson:peak=30"))
    assert from_dict(TrainConfig, json.loads(json.dumps(to_dict(cfg)))) == cfg
    with pytest.raises(ValueError, match="unknown TrainConfig field"):
        from_dict(TrainConfig, {**to_dict(cfg), "stepz": 3})


def test_training_step_reduces_the_cycle_loss(clean_dir: Path) -> None:
    """The step's gradient path through the cycle: repeated steps on one batch (same noise draws) drive the
    forward cycle |G(F(x)) - x| well down. F and the discriminators are held fixed and the cycle weighted up,
    because F's noise level moves with the discriminator (the cycle then rises with it, as it should: F starts
    below the noisy domain's level) and the adversarial term makes a few steps noisy; this pins G's side."""
    cfg = tiny_config(clean_dir, lr=1e-3, lambda_identity=0.0, lambda_cycle=100.0, steps=60,
                      model=replace(TINY, g=GeneratorConfig(width=16, depth=2, blocks=1)))
    torch.manual_seed(cfg.seed)
    trainer = CycleGANTrainer(cfg, torch.device("cpu"), World())
    for frozen in ("F", "D_clean", "D_noisy"):
        trainer.scheds[frozen].base_lrs = [0.0] * len(trainer.scheds[frozen].base_lrs)  # F has two lr groups
    torch.manual_seed(0)
    x = torch.stack([torch.from_numpy(load_sample(n)[100:132, 100:132].astype(np.float32) / 255).permute(2, 0, 1)
                     for n in ("astronaut", "coffee")])
    y = (torch.stack([torch.from_numpy(load_sample(n)[200:232, 200:232].astype(np.float32) / 255).permute(2, 0, 1)
                      for n in ("chelsea", "rocket")]) + 0.05 * torch.randn(2, 3, 32, 32)).clamp(0, 1)
    cycle = []
    for step in range(60):
        torch.manual_seed(1)
        cycle.append(trainer.step(step, {"clean": x, "noisy": y})["cycle_clean"])
    assert np.mean(cycle[-3:]) < 0.75 * np.mean(cycle[:3]), cycle


def test_training_writes_log_and_config(clean_dir: Path, tmp_path: Path) -> None:
    cfg = tiny_config(clean_dir, steps=4, save_every=4)
    train(cfg, tmp_path / "run")
    rows = read_log(tmp_path / "run")
    assert [r["step"] for r in rows] == ["2", "4"]
    assert {"step", "g_adv", "f_adv", "cycle_clean", "cycle_noisy", "d_clean", "d_noisy", "lr", "it_s"} <= set(rows[0])
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert from_dict(TrainConfig, saved) == cfg


def test_the_trainer_matches_the_configs_noise_statistics(clean_dir: Path) -> None:
    from denoise_gan.nets.noise_stats import STATISTICS_SETS

    for name in ("compact", "camera"):
        trainer = CycleGANTrainer(tiny_config(clean_dir, noise_statistics=name), torch.device("cpu"), World())
        assert trainer.stats_bank.statistics == STATISTICS_SETS[name]


def test_resume_is_exact(clean_dir: Path, tmp_path: Path) -> None:
    """Also once the state a checkpoint carries is in use: a history pool of 4 is full from the first step, and
    F's statistics bank (64 rows, 8 a step) is half full at the cut and in use after it. The learning rate is the
    README's: constant, then linear to 0 from half the steps."""
    cfg = tiny_config(clean_dir, pool_size=4, data=replace(tiny_config(clean_dir).data, batch_size=8))
    train(cfg, tmp_path / "full")
    full = read_log(tmp_path / "full")
    decay = linear_decay(cfg.steps, cfg.decay_from)
    expected_lr = [cfg.lr * decay(int(r["step"]) - 1) for r in full]  # the rate each logged step ran at
    assert [float(r["lr"]) for r in full] == pytest.approx(expected_lr, rel=1e-5, abs=1e-12)
    assert 0 < float(full[-1]["lr"]) < float(full[len(full) // 2 + 1]["lr"]) < cfg.lr == float(full[0]["lr"])
    assert any(float(r["f_stats"]) > 0 for r in full[3:])  # the bank in use after the cut

    train(cfg, tmp_path / "cut")
    # a run killed after its step-6 checkpoint: the later checkpoint is gone, the log has rows past 6
    ckpts = list_checkpoints(tmp_path / "cut" / "checkpoints")
    assert [s for s, _ in ckpts] == [6, 12]
    ckpts[-1][1].unlink()
    train(None, tmp_path / "cut", resume=True)
    resumed = read_log(tmp_path / "cut")
    assert [r["step"] for r in resumed] == [r["step"] for r in full]  # no row repeated or lost
    for a, b in zip(full, resumed):
        for key in ("g_adv", "f_adv", "f_stats", "cycle_clean", "cycle_noisy", "d_clean", "d_noisy", "lr"):
            assert float(a[key]) == pytest.approx(float(b[key]), rel=1e-5, abs=1e-7), (a["step"], key)


def test_extending_a_finished_run_trains_at_the_new_schedules_rate(clean_dir: Path, tmp_path: Path) -> None:
    """Its first step ran at the rate the old total left, 0 at its end: the nets did not move while Adam's
    moments went on. Each row holds the rate its step ran at, the new schedule's after the resume."""
    cfg = tiny_config(clean_dir, steps=4, log_every=1, save_every=2)
    train(cfg, tmp_path / "run")
    train(None, tmp_path / "run", resume=True, steps=8)
    decay = linear_decay(8, cfg.decay_from)
    rows = read_log(tmp_path / "run")[4:]
    assert [float(r["lr"]) for r in rows] == pytest.approx([cfg.lr * decay(s) for s in range(4, 8)], abs=1e-12)
    assert float(rows[0]["lr"]) == cfg.lr


def test_a_kill_between_the_last_checkpoint_and_its_export_is_mended_by_resume(finished_run: Path,
                                                                                  tmp_path: Path) -> None:
    """The final checkpoint written and the process killed before G and F were: `--resume` said "already at
    step N" and left the previous save's weights in the run folder for good."""
    import shutil

    run = Path(shutil.copytree(finished_run, tmp_path / "run"))
    final = {name: (run / name).read_bytes() for name in ("G.safetensors", "F.safetensors")}
    for name in final:
        net, cfg, meta = load_generator(run / name)
        with torch.no_grad():
            next(net.parameters()).add_(1.0)  # the weights of an earlier save
        save_generator(run / name, net, cfg, meta)
    train(None, run, resume=True)
    assert {name: (run / name).read_bytes() for name in final} == final
    assert [s for s, _ in list_checkpoints(run / "checkpoints")] == [s for s, _ in list_checkpoints(
        finished_run / "checkpoints")]  # no step ran


def test_existing_run_needs_resume(clean_dir: Path, tmp_path: Path) -> None:
    cfg = tiny_config(clean_dir, steps=2, save_every=2)
    train(cfg, tmp_path / "run")
    with pytest.raises(UserError, match="--resume"):
        train(cfg, tmp_path / "run")
    with pytest.raises(UserError, match="no such folder"):
        train(None, tmp_path / "missing", resume=True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no checkpoint"):
        train(None, tmp_path / "empty", resume=True)


def test_checkpoint_is_atomic_and_complete(clean_dir: Path, tmp_path: Path) -> None:
    train(tiny_config(clean_dir, steps=4, save_every=2, keep_checkpoints=1), tmp_path / "run")
    files = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert files == ["step_0000004.pt"]  # pruned to one, no temp file left behind
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / files[0])
    assert state["step"] == 4 and set(state["nets"]) == {"G", "F", "D_clean", "D_noisy"}
    assert len(state["pools"]["clean"]["images"]) == 8  # 4 steps x batch 2 went into the history pool
    net, cfg, meta = load_generator(tmp_path / "run" / "G.safetensors")
    assert cfg == TINY.g and meta["step"] == 4
    assert (tmp_path / "run" / "losses.png").stat().st_size > 0


def test_f_is_stochastic_and_tracks_noise_level() -> None:
    f = build_generator(GeneratorConfig(arch="noise", width=4, depth=1))
    assert isinstance(f, NoiseGenerator)
    x = torch.full((1, 3, 32, 32), 0.5)
    a, b = f(x), f(x)
    assert not torch.equal(a, b)  # two draws differ: one clean image maps to many noisy ones
    # at the median level (v = 0.5, where q starts at 0) the added noise's std is what its scale says
    scale, _ = f.scale_and_shift(x)
    at_median, level = f.sample(x, v=torch.full((1, 1, 1, 1), 0.5))
    assert (at_median - x).std().item() == pytest.approx(scale.mean().item(), rel=0.1)
    assert level.mean().item() == pytest.approx(scale.mean().item(), rel=1e-4)  # the level F reports is what it used
    # the per-image level: v = 1 adds exp(q(1) - q(0)) times the noise of v = 0, same field z
    z = torch.randn_like(x)
    hi, lo = f(x, z, torch.ones(1, 1, 1, 1)), f(x, z, torch.zeros(1, 1, 1, 1))
    ratio = (hi - x).std() / (lo - x).std()
    knots = f.level_quantiles()
    assert ratio.item() == pytest.approx(torch.exp(knots[-1] - knots[0]).item(), rel=1e-4)
    assert bool((knots.diff() > 0).all())  # the quantile function stays monotone


def test_f_level_distribution_is_learnable() -> None:
    """A gradient on the drawn levels reaches the quantile knots (the noise-statistics loss trains them)."""
    f = build_generator(GeneratorConfig(arch="noise", width=4, depth=1))
    x = torch.full((4, 3, 32, 32), 0.5)
    _, level = f.sample(x)
    level.mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in f.level_parameters())


def test_f_deterministic_part_is_bounded() -> None:
    """F's z-free residual (compression-like artifacts) cannot grow into invented texture."""
    f = build_generator(GeneratorConfig(arch="noise", width=4, depth=1))
    with torch.no_grad():
        f.backbone.tail.bias.fill_(100.0)  # as if training had pushed the shift to saturation
        x = torch.rand(2, 3, 32, 32)
        shift = f(x, torch.zeros_like(x)) - x
    assert shift.abs().max().item() <= MAX_SHIFT + 1e-6
    assert shift.abs().max().item() > 0.9 * MAX_SHIFT


def test_f_learns_noisy_domain_level(clean_dir: Path, tmp_path: Path) -> None:
    """After a short run on sigma=40 noise, F adds far more than its initial ~12/255."""
    cfg = tiny_config(clean_dir, steps=60, lr=2e-3, log_every=10, save_every=60,
                      data=replace(tiny_config(clean_dir).data, noise="gaussian:sigma=40", gray_fraction=0.0))
    train(cfg, tmp_path / "run")
    f, _, _ = load_generator(tmp_path / "run" / "F.safetensors")
    x = torch.full((4, 3, 32, 32), 0.5)
    added = (f(x) - x).std().item() * 255
    assert added > 20, added


def test_refine_and_supervised(clean_dir: Path, tmp_path: Path) -> None:
    train(tiny_config(clean_dir, steps=2, save_every=2), tmp_path / "run")
    out = refine(RefineConfig(run_dir=str(tmp_path / "run"), steps=4, batch_size=2, patch_size=32, save_every=2,
                              log_every=2, device="cpu", workers=0), tmp_path / "run" / "refine")
    assert out.is_file() and len(read_log(tmp_path / "run" / "refine")) == 2
    load_generator(out)
    # resuming a finished refinement with more steps continues from its checkpoint
    refine(None, tmp_path / "run" / "refine", resume=True, steps=6)
    assert [r["step"] for r in read_log(tmp_path / "run" / "refine")] == ["2", "4", "6"]
    sup = refine(RefineConfig(run_dir=str(tmp_path / "run"), noise="gaussian:sigma=25", fresh=True, steps=2,
                              batch_size=2, patch_size=32, save_every=2, log_every=2, device="cpu", workers=0),
                 tmp_path / "sup")
    assert load_generator(sup)[2]["trained_by"].startswith("denoise-gan refine (supervised")


def test_only_a_folder_of_real_noisy_photos_is_sampled_as_already_noisy(clean_dir: Path, tmp_path: Path) -> None:
    """Its gray patches are one channel, so their noise keeps its strength; a --noise run's noisy domain is clean
    photos noised after they turn gray, as gray photos are."""
    from denoise_gan.training.cyclegan import make_dataset

    noisy = tmp_path / "noisy"
    write_image(noisy / "a.png", np.full((48, 48, 3), 120, np.uint8))
    two_folders = DataConfig(clean_dir=str(clean_dir), noisy_dir=str(noisy), patch_size=32, batch_size=2, workers=0)
    assert make_dataset(tiny_config(clean_dir, data=two_folders)).noisy.noisy_photos
    made = make_dataset(tiny_config(clean_dir))
    assert not made.noisy.noisy_photos and not made.clean.noisy_photos


def test_refine_needs_a_finished_run(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a finished"):
        refine(RefineConfig(run_dir=str(tmp_path), steps=2, device="cpu"), tmp_path / "out")


def test_refine_warns_of_a_run_stopped_partway_and_never_reads_its_noisy_photos(
        clean_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    noisy = tmp_path / "noisy"  # a two-folder run: refine learns from its clean folder only
    for name in ("a", "b"):
        write_image(noisy / f"{name}.png", np.full((48, 48, 3), 120, np.uint8))
    data = DataConfig(clean_dir=str(clean_dir), noisy_dir=str(noisy), patch_size=32, batch_size=2, workers=0)
    train(tiny_config(clean_dir, data=data, steps=4, save_every=2, keep_checkpoints=5), tmp_path / "run")
    list_checkpoints(tmp_path / "run" / "checkpoints")[-1][1].unlink()  # as if stopped at step 2 of 4
    for path in noisy.iterdir():
        path.unlink()
    noisy.rmdir()  # moved away after training: refine was refused, naming it
    capsys.readouterr()
    refine(RefineConfig(run_dir=str(tmp_path / "run"), steps=2, batch_size=2, patch_size=32, save_every=2,
                        log_every=2, device="cpu", workers=0), tmp_path / "refined")
    said = " ".join(capsys.readouterr().err.split())
    assert "stopped at step 2 of 4" in said and "train --resume" in said, said
    assert (tmp_path / "refined" / "G.safetensors").is_file()


def _torchrun(script: Path, *args: object) -> subprocess.CompletedProcess:
    """``script`` run as two CPU processes under torchrun (gloo), one thread each."""
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
                           str(free_port()), str(script), *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=240)


@pytest.mark.slow  # real processes, seconds each; runs by default, deselect with -m 'not slow'
def test_ranks_start_from_rank_0s_weights_and_step_on_the_mean_gradient(tmp_path: Path) -> None:
    """Under torchrun each rank sees its own slice of the data: without the all-reduce every rank would train
    on its slice alone (and rank 0's weights, the ones saved, on 1/N of the data)."""
    script = tmp_path / "ranks.py"
    script.write_text("import json, sys, torch\n"
                      "from denoise_gan.training.distributed import average_gradients, broadcast_parameters, "
                      "init_world, shutdown\n"
                      "world = init_world('cpu')\n"
                      "torch.manual_seed(world.rank)\n"
                      "net = torch.nn.Linear(3, 2)\n"
                      "broadcast_parameters(net, world)\n"
                      "for p in net.parameters():\n"
                      "    p.grad = torch.full_like(p, float(world.rank + 1))\n"
                      "average_gradients(net, world)\n"
                      "with open(f'{sys.argv[1]}/rank{world.rank}.json', 'w') as fh:\n"
                      "    json.dump({'weight': net.weight.tolist(), "
                      "'grads': [p.grad.tolist() for p in net.parameters()]}, fh)\n"
                      "shutdown(world)\n")
    proc = _torchrun(script, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    torch.manual_seed(0)
    assert ranks[0]["weight"] == ranks[1]["weight"] == torch.nn.Linear(3, 2).weight.tolist()
    for r in ranks:
        assert np.allclose(np.concatenate([np.ravel(g) for g in r["grads"]]), 1.5)  # the mean of 1 and 2


@pytest.mark.slow  # real processes, seconds each; runs by default, deselect with -m 'not slow'
def test_two_process_gloo_run(clean_dir: Path, tmp_path: Path) -> None:
    """The same training command under torchrun (2 CPU processes, gloo): rank 0 alone writes the run."""
    cfg = tiny_config(clean_dir, steps=4, save_every=4, log_every=2, val_every=2)  # (a warning: no --val)
    (tmp_path / "cfg.json").write_text(json.dumps(to_dict(cfg)))
    script = tmp_path / "launch.py"
    script.write_text("import json, sys\n"
                      "from denoise_gan.config import TrainConfig\n"
                      "from denoise_gan.config_json import from_dict\n"
                      "from denoise_gan.training.cyclegan import train\n"
                      "train(from_dict(TrainConfig, json.load(open(sys.argv[1]))), sys.argv[2])\n")
    proc = _torchrun(script, tmp_path / "cfg.json", tmp_path / "run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_log(tmp_path / "run")
    assert [r["step"] for r in rows] == ["2", "4"]  # one log, not one per rank
    assert "world: 2" in proc.stdout
    assert " ".join(proc.stderr.split()).count("--val-every has no effect") == 1, proc.stderr[-3000:]  # not per rank
    assert [s for s, _ in list_checkpoints(tmp_path / "run" / "checkpoints")] == [4]
    resume = tmp_path / "resume.py"  # the finished run resumed: its "nothing to do" line comes once, not per rank
    resume.write_text("import sys\nfrom pathlib import Path\nfrom denoise_gan.training.cyclegan import train\n"
                      "train(None, Path(sys.argv[1]), resume=True)\n")
    again = _torchrun(resume, tmp_path / "run")
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("already at step 4 of 4") == 1, again.stdout[-3000:]


def test_a_resumed_run_weighs_its_mode_trial_against_the_steps_it_has_left(clean_dir: Path, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A trial of a minute or two pays only on a long stretch of steps: a run resumed with 50 steps to go must not
    take one because the whole run is long."""
    from denoise_gan.training import loop
    from denoise_gan.training.cyclegan import train

    asked: list[int] = []
    monkeypatch.setattr(loop, "worth_measuring", lambda steps_left, world, deadline: asked.append(steps_left) or False)
    run = tmp_path / "run"
    train(tiny_config(clean_dir, steps=4, save_every=2, log_every=2), run)
    train(None, run, resume=True, steps=10)
    assert asked == [4, 6]


def test_resume_with_steps_at_the_step_reached_ends_the_run_there(clean_dir: Path, tmp_path: Path) -> None:
    """`train --resume RUN --steps 2` at step 2 of 4 said done but changed config.json alone: the checkpoint still
    said 4, so a later `--resume` went on to step 4 without a word."""
    from denoise_gan.training.cyclegan import train

    run = tmp_path / "run"
    train(tiny_config(clean_dir, steps=4, save_every=2, log_every=2), run)
    (run / "checkpoints" / "step_0000004.pt").unlink()  # as if stopped after the save of step 2
    train(None, run, resume=True, steps=2)
    assert load_checkpoint(run / "checkpoints" / "step_0000002.pt")["config"]["steps"] == 2
    assert json.loads((run / "config.json").read_text())["steps"] == 2
    train(None, run, resume=True)  # nothing to do: the run ended at 2
    assert [s for s, _ in list_checkpoints(run / "checkpoints")] == [2]


@pytest.mark.parametrize("damage", ["deleted", "garbage", "header", "none"])
def test_a_resume_whose_log_was_lost_or_damaged_says_so(clean_dir: Path, tmp_path: Path, damage: str) -> None:
    """The weights resumed exactly, but log.csv (and losses.png) began again at the checkpoint without a word; a
    damaged header (a byte changed, a re-save as UTF-16) then dropped every intact row, and the log as it was is
    now kept aside."""
    import io

    from rich.console import Console

    from denoise_gan.training.cyclegan import train

    run = tmp_path / "run"
    train(tiny_config(clean_dir, steps=4, save_every=2, log_every=1), run)
    if damage == "deleted":
        (run / "log.csv").unlink()
    elif damage == "garbage":
        (run / "log.csv").write_bytes((run / "log.csv").read_bytes() + b"garbage\n\x00\x01\n")
    elif damage == "header":
        (run / "log.csv").write_bytes((run / "log.csv").read_bytes().replace(b"step", b"st\xe9p", 1))
    before = (run / "log.csv").read_bytes() if damage != "deleted" else b""
    out = io.StringIO()
    train(None, run, resume=True, steps=6, console=Console(file=out, width=300))
    said = " ".join(out.getvalue().split())
    if damage == "none":
        assert "warning" not in said, said
        return
    expected = {"deleted": "was gone: the rows of steps up to 4 are lost",
                "garbage": "2 damaged row(s) could not be read and are dropped (the log as it was is kept in "
                           "log.csv.damaged)",
                "header": "its header or every row is damaged, so the log starts again from step 4 (the log as it "
                          "was is kept in log.csv.damaged)"}[damage]
    assert f"warning: {run / 'log.csv'}" in said and expected in said, said
    if damage != "deleted":
        assert (run / "log.csv.damaged").read_bytes() == before


def test_trains_validation_shows_f_and_a_run_logs_its_last_step(clean_dir: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """`train --val`'s grids hold F(clean) beside G(noisy) (F is passed to the validation), and a run whose steps
    are no multiple of --log-every logs its last step: log.csv and the progress ended at 4 of 5 steps."""
    from denoise_gan.training.validation import Validator
    from helpers import cli

    validated: list[tuple[int, bool]] = []
    monkeypatch.setattr(Validator, "run", lambda self, g, run_dir, step, noise_model=None:
                        validated.append((step, isinstance(noise_model, NoiseGenerator))) or {})
    val = tmp_path / "val"
    assert cli("synth", clean_dir, "-o", val, "--noise", "gaussian:sigma=25").exit_code == 0
    train(tiny_config(clean_dir, steps=5, log_every=2, save_every=5, val_dir=str(val), val_every=2), tmp_path / "run")
    assert validated and all(with_f for _, with_f in validated), validated
    train(tiny_config(clean_dir, steps=5, log_every=2, save_every=5), tmp_path / "plain")  # no validation at its end
    assert [int(r["step"]) for r in read_log(tmp_path / "plain")] == [2, 4, 5]
