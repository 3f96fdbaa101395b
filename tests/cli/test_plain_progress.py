"""In a log or pipe a long command prints a plain progress line now and then, and a short one stays silent."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from denoise_gan.cli import render


def run(monkeypatch: pytest.MonkeyPatch, seconds_per_step: float, steps: int) -> list[str]:
    clock = iter(seconds_per_step * i for i in range(10 * steps + 10))
    monkeypatch.setattr(render, "clock", lambda: next(clock))
    out = io.StringIO()
    with render.progress_callback(Console(file=out, force_terminal=False), "benchmark") as report:
        for done in range(1, steps + 1):
            report(done, steps, f"img{done}")
    return [line for line in out.getvalue().splitlines() if line]


def test_a_long_run_in_a_pipe_prints_plain_periodic_lines_and_a_last_one(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = run(monkeypatch, 4.0, 10)  # 40 s of work: a line about every 10 s, then the last step
    assert lines[0].startswith("benchmark: 3/10 img3 (12 s)") and lines[-1].startswith("benchmark: 10/10 img10")
    assert 3 <= len(lines) <= 5 and not any("\x1b" in line or "\r" in line for line in lines)


def test_an_end_reported_twice_is_said_once(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(15.0 * i for i in range(10))
    monkeypatch.setattr(render, "clock", lambda: next(clock))
    out = io.StringIO()
    with render.progress_callback(Console(file=out, force_terminal=False), "calibrate") as report:
        for done in (1, 2, 2):
            report(done, 2, "x")
    assert [line.split(" (")[0] for line in out.getvalue().splitlines()] == ["calibrate: 1/2 x", "calibrate: 2/2 x"]


def test_a_short_run_in_a_pipe_prints_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(monkeypatch, 0.5, 10) == []


def test_on_a_terminal_the_bar_counts_files_and_leaves_no_line_behind() -> None:
    """Done/total is drawn while it runs; a finished bar is erased, so the summary table follows the command."""
    from denoise_gan.progress_bar import file_progress

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system=None)
    with file_progress(console, disable=False) as bar:
        task = bar.add_task("files", total=2, name="a.png")
        bar.update(task, advance=1)
        bar.refresh()
        assert "1/2" in out.getvalue()
    assert bar.live.transient
    console.print("summary")
    assert out.getvalue().rstrip().endswith("summary") and "2/2" not in out.getvalue().split("summary")[-1]


def test_each_large_image_times_its_own_tiles() -> None:
    """The tiles bar is one task for the whole folder: once the first image's tiles were done it stayed finished,
    and every later image showed 0:00:00 left for its minutes of tiles."""
    from denoise_gan.inference.files import _Bars
    from denoise_gan.progress_bar import file_progress

    console = Console(file=io.StringIO(), force_terminal=True, width=100, color_system=None)
    with file_progress(console, disable=False) as progress:
        bars = _Bars(progress, progress.add_task("files", total=2, name=""))
        first = bars.tile_callback("a.png")
        for done in range(1, 5):
            first(done, 4)
        bars.file_done()
        bars.tile_callback("b.png")(1, 4)
        tiles = progress.tasks[bars.tiles]
        assert not tiles.finished and tiles.time_remaining != 0.0 and tiles.fields["name"] == "b.png"
        assert (tiles.completed, tiles.total, tiles.visible) == (1, 4, True)


def test_the_files_time_left_follows_slow_photos_and_leaves_skipped_ones_out() -> None:
    """Photos of a minute each showed no time left (rich times the last 30 s), and a --skip-existing resume's
    skipped files counted as instant progress: 4/10 with an hour of photos left read as a second."""
    from denoise_gan.inference.files import _Bars
    from denoise_gan.progress_bar import file_progress

    now = [0.0]
    with file_progress(Console(file=io.StringIO(), force_terminal=True), disable=False) as progress:
        progress.get_time = lambda: now[0]
        bars = _Bars(progress, progress.add_task("files", total=10, name=""))
        for skipped in (True, True, False, False):
            now[0] += 0.0 if skipped else 60.0
            bars.file_done(skipped)
        files = progress.tasks[bars.files]
        assert files.completed == 4 and files.time_remaining == 360.0
        for skipped in (True, False, True, False):  # skips between worked files: counted, and timed on
            now[0] += 0.0 if skipped else 60.0
            bars.file_done(skipped)
            assert progress.tasks[bars.files].time_remaining is not None


def test_a_dumb_terminal_gets_the_plain_lines_a_log_gets(monkeypatch: pytest.MonkeyPatch) -> None:
    """rich draws no bar on TERM=dumb (Emacs' shell, some CI runners), and the plain lines were for logs only:
    such a terminal showed no progress at all."""
    from denoise_gan.progress_bar import live_display

    dumb = Console(file=io.StringIO(), force_terminal=True, _environ={"TERM": "dumb"})
    assert not live_display(dumb) and live_display(Console(file=io.StringIO(), force_terminal=True,
                                                           _environ={"TERM": "xterm"}))
    clock = iter(4.0 * i for i in range(110))
    monkeypatch.setattr(render, "clock", lambda: next(clock))
    with render.progress_callback(dumb, "benchmark") as report:
        for done in range(1, 11):
            report(done, 10, f"img{done}")
    assert "benchmark: 10/10 img10" in dumb.file.getvalue()
