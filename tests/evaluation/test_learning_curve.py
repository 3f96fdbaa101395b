"""benchmarks/learning_curve.py (the model card's learning curve) runs to its table: it passed --resume to a
benchmark folder that did not exist yet, so every first run failed; two runs in folders of one name (each
`RUN/refine`) ended in a KeyError after the whole benchmark; a run stopped early was plotted at its target."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from data_tools.images import write_image
from helpers import benchmark_script, noise_image


def test_runs_in_folders_of_one_name_are_scored_apart_and_plotted_where_they_stopped(
        finished_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = [tmp_path / "a" / "refine", tmp_path / "b" / "refine"]
    for run in runs:
        shutil.copytree(finished_run, run)
    config = json.loads((runs[1] / "config.json").read_text())
    (runs[1] / "config.json").write_text(json.dumps({**config, "steps": 400}))  # a target it never reached
    for i in range(2):
        write_image(tmp_path / "held" / f"{i}.png", noise_image(40, 40, seed=10 + i))
    script = benchmark_script("learning_curve")
    monkeypatch.setattr(sys, "argv", ["learning_curve.py", *map(str, runs), "--clean", str(tmp_path / "held"),
                                      "--noise", "gaussian:sigma=25", "-o", str(tmp_path / "curve")])
    script.main()
    table = (tmp_path / "curve" / "curve.md").read_text()
    assert "| a/refine |" in table and "| b/refine |" in table
    points = json.loads((tmp_path / "curve" / "curve.json").read_text())["points"]
    assert [p["steps"] for p in points] == [2, 2]  # where its G was saved, not the 400 its config aimed at
    script.main()  # again: the benchmark folder is resumed, not refused
    assert (tmp_path / "curve" / "curve.png").is_file()


def test_a_clean_folder_of_a_runs_training_photos_is_refused(finished_run: Path, clean_dir: Path,
                                                             tmp_path: Path) -> None:
    script = benchmark_script("learning_curve")
    with pytest.raises(SystemExit, match="is a training photo of"):
        script.refuse_training_photos([finished_run], clean_dir)
    write_image(tmp_path / "held" / "x.png", noise_image(40, 40, seed=3))
    script.refuse_training_photos([finished_run], tmp_path / "held")  # photos it never saw: taken
