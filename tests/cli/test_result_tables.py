"""The result tables every command prints: each number in its own column, formatted as its metric is, the best
row marked, and names drawn as text."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console
from rich.table import Table

from denoise_gan.cli import render
from denoise_gan.evaluation.calibrate import Calibration
from denoise_gan.evaluation.demo import DemoRow
from denoise_gan.evaluation.metrics import Evaluation, ImageScore
from denoise_gan.inference.files import FileResult, Summary


def _text(renderable: object) -> str:
    console = Console(record=True, width=250)
    console.print(renderable)
    return console.export_text()


def _rows(table: Table) -> list[dict[str, str]]:
    """Each row as {column header: cell text (markup as given)}."""
    return [{str(c.header): str(list(c.cells)[i]) for c in table.columns} for i in range(table.row_count)]


def test_the_denoise_totals_count_each_status_and_megapixels_apart() -> None:
    results = (FileResult("a.png", "o/a.png", "done", megapixels=1.5), FileResult("b.png", "o/b.png", "done",
                                                                              megapixels=0.5),
               FileResult("c.png", "o/c.png", "skipped"), FileResult("d.png", "", "failed", message="broken"))
    group = render.denoise_summary(Summary(results, seconds=4.0))
    totals = _rows(group.renderables[-1])[0]
    assert totals == {"files": "4", "done": "2", "skipped": "1", "failed": "[red]1[/]", "megapixels": "2.00",
                      "seconds": "4.0", "MP/s": "0.500"}


def test_the_evaluation_table_shows_psnr_to_a_hundredth_and_ssim_to_four_places() -> None:
    scores = (ImageScore("a.png", 31.234567, 0.987654), ImageScore("b.png", math.inf, 1.0),
              ImageScore("c.png", 29.0, 0.9))
    table = render.evaluation_table(Evaluation(scores, y_channel=False), "scores")
    rows = _rows(table)
    assert (rows[0]["PSNR (dB)"], rows[0]["SSIM"]) == ("31.23", "0.9877")
    assert (rows[-1]["PSNR (dB)"], rows[-1]["SSIM"]) == ("[bold]30.12[/]", "[bold]0.9626[/]")  # PSNR: finite ones
    assert table.caption == ("1 identical pair(s) (PSNR infinite): the PSNR mean is over the other 2, the SSIM "
                             "mean over all 3")


def test_the_demo_table_shows_before_and_after_and_the_mean_time() -> None:
    rows = [DemoRow("a", 20.0, 0.3, 30.0, 0.8, 0.1, Path("a.png")), DemoRow("b", 22.0, 0.5, 32.0, 0.9, 0.3,
                                                                          Path("b.png"))]
    table = _rows(render.demo_table(rows, "gaussian:sigma=25", 0))
    assert table[0] == {"image": "a", "noisy PSNR": "20.00", "noisy SSIM": "0.3000", "denoised PSNR": "30.00",
                        "denoised SSIM": "0.8000", "seconds": "0.10"}
    assert table[-1] == {"image": "[bold]mean", "noisy PSNR": "21.00", "noisy SSIM": "0.4000",
                         "denoised PSNR": "[bold]31.00", "denoised SSIM": "[bold]0.8500", "seconds": "0.20"}


def _benchmark(oracle: bool, failures: list[dict[str, object]] | None = None) -> SimpleNamespace:
    summary = [{"noise": "gaussian:sigma=25", "method": name, "images": 3, "psnr": psnr, "identical_pairs": 0,
                "psnr_finite": psnr, "ssim": ssim, "seconds": 0.5, "mp_per_s": 2.0}
               for name, psnr, ssim in (("bm3d", 30.0, 0.8), ("nlm", 29.0, 0.9))]
    data = {"config": {"oracle_sigma": oracle, "noises": ["gaussian:sigma=25"]}, "summary": summary, "models": []}
    return SimpleNamespace(data=data, failures=failures or [], notes=[], computed=6, reused=0)


def test_the_benchmark_table_marks_each_metrics_best_and_says_how_sigma_was_set() -> None:
    for oracle, said in ((True, "(oracle σ)"), (False, "(blind σ)")):
        table = render.benchmark_summary(_benchmark(oracle)).renderables[0]
        assert str(table.title).endswith(said)
    rows = _rows(render.benchmark_summary(_benchmark(False)).renderables[0])
    assert rows[0] == {"method": "bm3d", "PSNR (dB)": "[bold green]30.00[/]", "SSIM": "0.8000", "s/image": "0.500",
                       "MP/s": "2", "images": "3"}
    assert (rows[1]["PSNR (dB)"], rows[1]["SSIM"]) == ("29.00", "[bold green]0.9000[/]")



def test_a_tie_as_shown_is_marked_best_in_both_rows() -> None:
    """32.414 and 32.406 both read 32.41, and only the first was green: best is marked on the digits shown."""
    from denoise_gan.evaluation.report import _mean_table

    bench = _benchmark(False)
    bench.data["summary"][0].update(psnr=32.414, psnr_finite=32.414)
    bench.data["summary"][1].update(psnr=32.406, psnr_finite=32.406)
    rows = _rows(render.benchmark_summary(bench).renderables[0])
    assert [r["PSNR (dB)"] for r in rows] == ["[bold green]32.41[/]"] * 2
    page = _mean_table(bench.data["summary"], ["bm3d", "nlm"])
    assert page.count("class='num best'>32.41") == 2, page


def test_the_noisy_input_is_never_marked_best_even_when_it_is_the_clean_photo() -> None:
    """On a clean-photo run (`gaussian:sigma=0`) the noisy input scores ∞ / 1.0 and was marked best of all."""
    bench = _benchmark(False)
    bench.data["summary"].insert(0, {**bench.data["summary"][0], "method": "noisy", "psnr": None,
                                     "psnr_finite": None, "identical_pairs": 3, "ssim": 1.0, "seconds": 0.0})
    rows = _rows(render.benchmark_summary(bench).renderables[0])
    assert (rows[0]["PSNR (dB)"], rows[0]["SSIM"]) == ("inf", "1.0000")
    assert rows[1]["PSNR (dB)"] == "[bold green]30.00[/]" and rows[2]["SSIM"] == "[bold green]0.9000[/]"


def test_no_psnr_is_marked_best_where_methods_leave_out_different_photos() -> None:
    """A method that returns 2 of 3 clean photos bit for bit is ranked on its third alone (35 dB) and lost to one
    at 40 dB on all three: means over different photos are not ranked; one that returns all of them is best."""
    bench = _benchmark(False)
    bench.data["summary"][0].update(psnr=None, psnr_finite=35.0, identical_pairs=2)
    bench.data["summary"][1].update(psnr=40.0, psnr_finite=40.0)
    rows = _rows(render.benchmark_summary(bench).renderables[0])
    assert (rows[0]["PSNR (dB)"], rows[1]["PSNR (dB)"]) == ("35.00*", "40.00")
    assert rows[1]["SSIM"] == "[bold green]0.9000[/]"  # SSIM is over every photo: still ranked
    assert "no PSNR is marked best" in _text(render.benchmark_summary(bench))
    bench.data["summary"][0].update(psnr=None, psnr_finite=None, identical_pairs=3)  # every photo bit for bit
    assert _rows(render.benchmark_summary(bench).renderables[0])[0]["PSNR (dB)"] == "[bold green]inf[/]"


def test_a_benchmark_failure_names_its_noise_in_brackets_as_text() -> None:
    failure = {"image": "broken", "noise": "gaussian:sigma=25", "method": None, "reason": "bad [x] header"}
    text = _text(render.benchmark_summary(_benchmark(False, [failure])))
    assert "failed broken [gaussian:sigma=25]: bad [x] header" in text


def test_the_calibration_table_marks_the_chosen_factor_and_means_over_the_noises() -> None:
    cal = Calibration(source=Path("s"), weights=Path("w"), graph=None, scales=(1.0, 1.1), noises=("n1", "n2"),
                      psnr={1.0: {"n1": 30.0, "n2": 33.0}, 1.1: {"n1": 31.0, "n2": 34.0}}, best=1.1,
                      level_scale=1.1, images=2)
    rows = _rows(render.calibration_table(cal))
    assert rows[0] == {"factor": "1", "n1": "30.00", "n2": "33.00", "mean": "31.500"}
    assert rows[1] == {"factor": "1.1", "n1": "[bold green]31.00[/]", "n2": "[bold green]34.00[/]",
                       "mean": "[bold green]32.500[/]"}


def test_names_in_the_tables_are_text() -> None:
    """An image "a[red].png" or a checkpoint "cam[v2]" was drawn as "a.png" and "cam"."""
    evaluation = Evaluation((ImageScore("a[red].png", 30.0, 0.9),), y_channel=False)
    assert "a[red].png" in _text(render.evaluation_table(evaluation, "scores"))
    bench = _benchmark(False)
    bench.data["summary"][0]["method"] = "cam[red]"
    assert "cam[red]" in _text(render.benchmark_summary(bench))


def test_json_files_keep_sigma_and_accents_readable() -> None:
    from data_tools import json_text

    assert json_text.dumps({"noise": "σ café"}) == '{"noise": "σ café"}'


def test_the_best_of_a_benchmark_table_is_said_in_words_where_no_style_is_shown() -> None:
    """Bold green is all that marked the best: piped, logged, on `TERM=dumb` or read by a screen reader the table
    said nothing of it; a line under each table names the best, ties and all."""
    bench = _benchmark(False)
    plain = Console(record=True, width=120, force_terminal=False, color_system=None)
    plain.print(render.benchmark_summary(bench))
    assert "best: PSNR bm3d; SSIM nlm" in plain.export_text(styles=False)
    bench.data["summary"][1].update(psnr=30.0, psnr_finite=30.0)
    assert "best: PSNR bm3d, nlm; SSIM nlm" in _text(render.benchmark_summary(bench))
    bench.data["summary"][0].update(psnr=None, psnr_finite=35.0, identical_pairs=2)  # no PSNR ranked
    assert "best: SSIM nlm" in _text(render.benchmark_summary(bench))


def test_the_lines_under_a_result_table_stay_one_line_in_a_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """Piped at 80 columns, the benchmark's lines under its table (a model's load time, a failure) were cut in two,
    so a script reading its log by line got half a reason."""
    import importlib
    import io

    say = importlib.import_module("denoise_gan.cli.say")
    console = Console(file=io.StringIO(), width=80)
    monkeypatch.setattr(say, "console", console)
    reason = "the noisy image could not be read back from the set folder because it was removed while the run went on"
    say.print_whole(render.benchmark_summary(_benchmark(False, failures=[
        {"image": "a.png", "noise": "gaussian:sigma=25", "method": "bm3d", "reason": reason}])))
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert f"failed a.png [gaussian:sigma=25] bm3d: {reason}" in lines, lines
    assert "| bm3d " in "\n".join(lines) and max(len(line) for line in lines if line.startswith("|")) <= 80, lines


def test_a_table_off_a_terminal_is_drawn_in_ascii_and_a_terminal_keeps_its_look(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Piped, logged or on `TERM=dumb`, the tables came out in box-drawing characters, which a screen reader read
    out one by one by name and a log opened in another encoding showed as mojibake."""
    import importlib
    import io

    say = importlib.import_module("denoise_gan.cli.say")
    drawn = {}
    for name, console in (("pipe", Console(file=io.StringIO(), width=120)),
                          ("dumb", Console(file=io.StringIO(), width=120, force_terminal=True,
                                           _environ={"TERM": "dumb"})),
                          ("terminal", Console(file=io.StringIO(), width=120, force_terminal=True, color_system=None,
                                               _environ={"TERM": "xterm"}))):
        monkeypatch.setattr(say, "console", console)
        say.print_whole(render.benchmark_summary(_benchmark(False)))
        drawn[name] = console.file.getvalue()  # type: ignore[attr-defined]
    for name in ("pipe", "dumb"):
        assert not any("\u2500" <= c <= "\u257f" for c in drawn[name]) and "| bm3d " in drawn[name], drawn[name]
    assert "┃ method" in drawn["terminal"] and "│ bm3d " in drawn["terminal"], drawn["terminal"]
