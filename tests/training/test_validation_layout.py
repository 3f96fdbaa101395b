"""Validation leaves G as it trains: the tiling engine puts a network in channels_last in place, and a G left
so after a validation took slightly different steps, so a run resumed with --val from a checkpoint drifted from
the one it continued (G's weights 2e-4 apart by step 35)."""

from __future__ import annotations

from pathlib import Path

import torch

from data_tools.images import write_image
from denoise_gan.training.validation import Validator
from helpers import noise_image, random_level_net


def test_a_validation_keeps_each_parameter_in_its_layout(tmp_path: Path) -> None:
    for part, seed in (("clean", 1), ("noisy", 2)):
        write_image(tmp_path / "val" / part / "a.png", noise_image(48, 48, seed=seed))
    g = random_level_net()
    g.train()
    before = {name: p.stride() for name, p in g.named_parameters()}
    values = {name: p.detach().clone() for name, p in g.named_parameters()}
    Validator(tmp_path / "val", torch.device("cpu")).run(g, tmp_path / "run", 1)
    assert {name: p.stride() for name, p in g.named_parameters()} == before
    assert all(torch.equal(values[name], p) for name, p in g.named_parameters()) and g.training


def test_a_grid_of_crops_says_so_in_its_title(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Validation scores each pair's centre crop, and the grid's figures read as whole-image scores, which
    `evaluate` of the same pairs did not give."""
    from denoise_gan.training import validation

    for part, seed in (("clean", 1), ("noisy", 2)):
        write_image(tmp_path / "val" / part / "a.png", noise_image(48, 40, seed=seed))
    titles: list[str] = []
    real_grid = validation.labelled_grid
    monkeypatch.setattr(validation, "labelled_grid", lambda *a: titles.append(a[-1]) or real_grid(*a))
    g = random_level_net()
    validation.Validator(tmp_path / "val", torch.device("cpu"), side=32).run(g, tmp_path / "crops", 1)
    validation.Validator(tmp_path / "val", torch.device("cpu")).run(g, tmp_path / "whole", 1)
    assert titles[0].endswith("(centre 32 px crops)") and "crops" not in titles[1], titles
    assert "centre 256x256 px" in (tmp_path / "whole" / "val" / "index.html").read_text()


def test_the_validation_page_gives_each_grid_its_scores_in_words(tmp_path: Path) -> None:
    """The scores are drawn into each grid, and its alt text said only "validation grid at step N": a screen
    reader, or a page whose images did not load, had no score at all. A grid written before grids carried
    their scores keeps that text."""
    import html
    import re

    from denoise_gan.training import validation

    for part, seed in (("clean", 1), ("noisy", 2)):
        write_image(tmp_path / "val" / part / "a.png", noise_image(48, 40, seed=seed))
    old = validation.encode_image(noise_image(8, 8, seed=3), ".png")
    (tmp_path / "run" / "val").mkdir(parents=True)
    (tmp_path / "run" / "val" / "step_0000001.png").write_bytes(old)
    scores = Validator(tmp_path / "val", torch.device("cpu")).run(random_level_net(), tmp_path / "run", 2)
    page = (tmp_path / "run" / "val" / "index.html").read_text()
    alts = [html.unescape(a) for a in re.findall(r"alt='([^']*)'", page)]
    assert alts[1] == "validation grid at step 1" and "<title>validation: run</title>" in page
    assert f"G PSNR {scores['psnr']:.2f} dB, SSIM {scores['ssim']:.4f}" in alts[0], alts
    assert f"noisy input {scores['input_psnr']:.2f} dB" in alts[0] and "noisy to G: a " in alts[0], alts
