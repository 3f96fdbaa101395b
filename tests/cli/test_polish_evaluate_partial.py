"""`evaluate` on a folder where some predictions are missing: scores what is there, names what is missing in
one line (or counts it and names the first few), writes the results with the list, and exits 1."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from data_tools.images import write_image
from helpers import cli


def make_set(root: Path, names: list[str], predicted: list[str]) -> tuple[Path, Path]:
    clean, pred = root / "clean", root / "pred"
    rng = np.random.default_rng(0)
    for name in names:
        img = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
        write_image(clean / f"{name}.png", img)
        if name in predicted:
            write_image(pred / f"{name}.png", np.clip(img.astype(int) + 3, 0, 255).astype(np.uint8))
    return clean, pred


def error_lines(result: object) -> list[str]:
    return [ln for ln in result.stderr.splitlines() if ln.strip()]


def test_scores_what_is_there_and_names_what_is_missing(tmp_path: Path) -> None:
    clean, pred = make_set(tmp_path, ["a", "b", "c"], ["a", "c"])
    result = cli("evaluate", "--clean", clean, "--pred", pred, "--json", tmp_path / "r.json", "--csv",
                 tmp_path / "r.csv")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith("error: no prediction for 1 of 3 clean image(s)"), lines
    assert "(b.*)" in lines[0] and "scored the other 2" in lines[0]
    table = " ".join(result.stdout.split())  # the caption wraps at the table's width
    assert "| a |" in table and "| c |" in table and "| b |" not in table
    assert "1 clean image(s) without a prediction, not in the mean" in table
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["missing"] == ["b"] and [r["name"] for r in data["images"]] == ["a", "c"]
    assert [ln.split(",")[0] for ln in (tmp_path / "r.csv").read_text().splitlines()] == ["name", "a", "c", "mean"]


def test_many_missing_are_counted_with_the_first_few_named(tmp_path: Path) -> None:
    names = [f"img{i:02d}" for i in range(12)]
    clean, pred = make_set(tmp_path, names, names[:2])
    result = cli("evaluate", "--clean", clean, "--pred", pred)
    assert result.exit_code == 1, result.output
    (line,) = error_lines(result)
    assert "no prediction for 10 of 12 clean image(s)" in line
    assert "first 5: img02.*, img03.*, img04.*, img05.*, img06.*, ..." in line and "img07" not in line


def test_a_complete_folder_still_exits_0(tmp_path: Path) -> None:
    clean, pred = make_set(tmp_path, ["a", "b"], ["a", "b"])
    result = cli("evaluate", "--clean", clean, "--pred", pred)
    assert result.exit_code == 0, result.output
    assert not error_lines(result)


def test_a_pair_that_cannot_be_scored_is_listed_and_the_others_scored(tmp_path: Path) -> None:
    """A 7x3000 photo (SSIM needs 11x11) or an empty prediction made evaluate score nothing, exit 2, no JSON."""
    clean, pred = make_set(tmp_path, ["a", "b", "c"], ["a", "b", "c"])
    write_image(clean / "thin.png", np.zeros((7, 300, 3), np.uint8))
    write_image(pred / "thin.png", np.ones((7, 300, 3), np.uint8))
    (pred / "b.png").write_bytes(b"")
    result = cli("evaluate", "--clean", clean, "--pred", pred, "--json", tmp_path / "r.json")
    assert result.exit_code == 1, result.output
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith("error: could not score 2 of 4 pair(s)"), lines
    assert "11x11" in lines[0] and "empty file" in lines[0]
    saved = json.loads((tmp_path / "r.json").read_text())
    assert [row["name"] for row in saved["images"]] == ["a", "c"]
    assert {row["name"] for row in saved["failed"]} == {"b", "thin"}
    (pred / "a.png").write_bytes(b"")
    (pred / "c.png").write_bytes(b"")
    # nothing scored at all: exit 1 (2 is for bad arguments), the failures still listed in the JSON and CSV
    alone = cli("evaluate", "--clean", clean, "--pred", pred, "--json", tmp_path / "none.json",
                "--csv", tmp_path / "none.csv")
    assert alone.exit_code == 1, alone.output
    lines = error_lines(alone)
    assert len(lines) == 1 and lines[0].startswith("error: could not score 4 of 4 pair(s)"), lines
    assert lines[0].endswith("nothing was scored") and "|" not in alone.stdout
    saved = json.loads((tmp_path / "none.json").read_text())
    assert saved["images"] == [] and saved["mean"] == {"psnr": None, "ssim": None} and len(saved["failed"]) == 4
    assert (tmp_path / "none.csv").read_text() == "name,psnr,ssim\n"


def test_missing_failed_and_extra_files_are_counted_against_the_whole_set(tmp_path: Path) -> None:
    """Five clean images: one scored, one of another size, three without a prediction; and one extra file."""
    clean, pred = make_set(tmp_path, ["a", "b", "c", "d", "e"], ["a"])
    write_image(pred / "b.png", np.zeros((30, 30, 3), np.uint8))
    write_image(pred / "extra.png", np.zeros((24, 24, 3), np.uint8))
    result = cli("evaluate", "--clean", clean, "--pred", pred)
    assert result.exit_code == 1, result.output
    text = " ".join(result.stderr.split())
    assert "no prediction for 3 of 5 clean image(s)" in text and "scored 1 of the other 2" in text
    assert "could not score 1 of 2 pair(s)" in text
    assert "1 prediction(s) without a clean image of the same name" in text and "(extra.png)" in text
    assert "| a |" in " ".join(result.stdout.split())


def test_a_prediction_without_a_clean_image_alone_fails_the_run(tmp_path: Path) -> None:
    """Every clean image scored, one stray prediction (a misnamed output): still exit 1, with the line naming it."""
    clean, pred = make_set(tmp_path, ["a", "b"], ["a", "b"])
    write_image(pred / "stray.png", np.zeros((24, 24, 3), np.uint8))
    result = cli("evaluate", "--clean", clean, "--pred", pred)
    assert result.exit_code == 1, result.output
    lines = error_lines(result)
    assert len(lines) == 1 and "without a clean image" in lines[0], lines
    assert "(stray.png)" in " ".join(result.stderr.split())


def test_a_run_cut_between_its_json_and_its_csv_leaves_neither_and_the_same_command_makes_both(
        tmp_path: Path) -> None:
    """A Ctrl-C (or a full disk) after --json was written and before --csv left the JSON alone, and the same
    command then refused it as existing."""
    import errno

    import pytest

    from denoise_gan.evaluation import metrics

    clean, pred = make_set(tmp_path, ["a", "b"], ["a", "b"])
    args = ("evaluate", "--clean", clean, "--pred", pred, "--json", tmp_path / "r.json", "--csv", tmp_path / "r.csv")
    real = metrics.write_results_csv
    for failure, code in ((KeyboardInterrupt(), 130), (OSError(errno.ENOSPC, "No space left on device"), 1)):
        def cut(*_: object, failure: BaseException = failure, **__: object) -> None:
            raise failure

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(metrics, "write_results_csv", cut)
            assert cli(*args).exit_code == code
        assert not (tmp_path / "r.json").exists() and not (tmp_path / "r.csv").exists()
    assert metrics.write_results_csv is real
    done = cli(*args)
    assert done.exit_code == 0 and (tmp_path / "r.json").is_file() and (tmp_path / "r.csv").is_file(), done.output
    assert "wrote" in done.stdout


def test_a_pair_that_cannot_be_scored_is_said_under_the_mean_too(tmp_path: Path) -> None:
    """A prediction of the wrong size: the table showed a mean of the others with no word under it (only stderr
    said so), where a missing prediction gets a caption."""
    clean, pred = make_set(tmp_path, ["a", "b", "c"], ["a", "b", "c"])
    write_image(pred / "b.png", np.zeros((20, 24, 3), np.uint8))
    result = cli("evaluate", "--clean", clean, "--pred", pred)
    assert result.exit_code == 1, result.output
    table = " ".join(result.stdout.split())
    assert "| a |" in table and "| b |" not in table
    assert "1 pair(s) that could not be scored, not in the mean" in table
