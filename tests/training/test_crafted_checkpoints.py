"""A checkpoint that loads safely but whose training state does not fit the run (another tool's, or one made by
hand) is refused when the resume reads it, in one line, and the run is left as it was: it used to load and then
fail at the first step with a traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from denoise_gan.nets.run_folder import list_checkpoints
from denoise_gan.nets.weights import load_checkpoint, save_checkpoint
from denoise_gan.training.cyclegan import train
from denoise_gan.training.schedule import load_optimizer, load_scheduler
from helpers import cli, one_line_error, tiny_train_config

pytestmark = pytest.mark.usefixtures("losses_png_unrendered")  # trains; never looks at that picture


def _first_moment(state: dict[str, Any]) -> dict[str, Any]:
    return next(iter(state["opts"]["G"]["state"].values()))


CRAFTED: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "pool images of another size": (
        lambda s: s["pools"]["clean"].update(images=[torch.zeros(1, 3, 7, 7)] * 2),
        "history pool does not hold images of shape (1, 3, 32, 32)"),
    "pool images that are not tensors": (
        lambda s: s["pools"]["noisy"].update(images=[1, 2]), "history pool"),
    "an optimiser moment of another shape": (
        lambda s: _first_moment(s).update(exp_avg=torch.zeros(3)), "optimiser state exp_avg does not fit"),
    "a learning rate that is text": (
        lambda s: s["opts"]["D_clean"]["param_groups"][0].update(lr="0.1"), "optimiser setting lr is '0.1'"),
    "betas of another length": (
        lambda s: s["opts"]["F"]["param_groups"][0].update(betas=(0.5,)), "optimiser setting betas"),
    "a schedule whose rates are text": (
        lambda s: s["scheds"]["G"].update(base_lrs=["x"]), "learning-rate schedule"),
    "a statistics bank whose levels are a table": (
        lambda s: s["stats_bank"].update(levels=torch.zeros(3, 3)), "statistics bank"),
}


@pytest.fixture(scope="module")
def pooled_run(clean_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-step run whose history pools hold fakes (pool of 4, batches of 2) and whose optimisers have moments."""
    run = tmp_path_factory.mktemp("pooled") / "run"
    train(tiny_train_config(clean_dir, pool_size=4), run)
    return run


@pytest.mark.parametrize("craft", CRAFTED, ids=list(CRAFTED))
def test_a_checkpoint_whose_training_state_does_not_fit_is_refused_in_one_line(pooled_run: Path, tmp_path: Path,
                                                                               craft: str) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(pooled_run, run)
    step, path = list_checkpoints(run / "checkpoints")[-1]
    state = load_checkpoint(path)
    assert state["pools"]["clean"]["images"] and state["stats_bank"]["rows"] is not None  # really read back
    change, said = CRAFTED[craft]
    change(state)
    save_checkpoint(path, state)
    before = path.read_bytes()
    one_line_error(cli("train", "--resume", run, "--steps", "4"), f"{path.name}: not a usable cyclegan checkpoint",
                   said)
    assert path.read_bytes() == before and [s for s, _ in list_checkpoints(run / "checkpoints")] == [step]


def test_an_optimiser_state_of_this_network_loads_and_keeps_its_moments() -> None:
    """The checks refuse only what does not fit: Adam's own state, saved and loaded, passes and is kept."""
    net = torch.nn.Conv2d(2, 3, 3)
    opt = torch.optim.Adam(net.parameters(), lr=0.1, betas=(0.5, 0.9))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    net(torch.ones(1, 2, 5, 5)).sum().backward()
    opt.step()
    sched.step()
    other = torch.nn.Conv2d(2, 3, 3)
    again = torch.optim.Adam(other.parameters(), lr=0.1, betas=(0.5, 0.9))
    load_optimizer(again, opt.state_dict())
    load_scheduler(torch.optim.lr_scheduler.LambdaLR(again, lambda step: 1.0), sched.state_dict())
    moments = [again.state[p]["exp_avg"] for p in other.parameters()]
    assert all(torch.equal(a, opt.state[p]["exp_avg"]) for a, p in zip(moments, net.parameters(), strict=True))
    bad = opt.state_dict()
    bad["param_groups"][0]["eps"] = float("nan")
    with pytest.raises(ValueError, match="optimiser setting eps is nan"):
        load_optimizer(torch.optim.Adam(torch.nn.Conv2d(2, 3, 3).parameters()), bad)
