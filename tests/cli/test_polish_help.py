"""Every command's --help reads cleanly: flags show no value type, arguments an upper-case metavar, no
``{name}`` in a usage line; and demo takes ``-c`` for ``--checkpoint`` as denoise and benchmark do."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from denoise_gan.cli import app
from helpers import cli, one_line_error

runner = CliRunner()
COMMANDS = typer.main.get_command(app).commands


def help_text(*command: str) -> str:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", [(), *((name,) for name in COMMANDS)], ids=lambda c: " ".join(c) or "root")
def test_help_shows_no_bool_on_flags_and_no_braced_metavar(command: tuple[str, ...]) -> None:
    text = help_text(*command)
    assert "<bool>" not in text, text
    assert "{" not in text and "}" not in text, text
    assert "<list[" not in text, text  # a repeatable option or variadic argument takes one value at a time
    help_line = next(line for line in text.splitlines() if "--help" in line)
    assert "<" not in help_line, help_line


def test_arguments_read_as_upper_case_metavars() -> None:
    usage = {name: next(ln for ln in help_text(name).splitlines() if "Usage:" in ln) for name in COMMANDS}
    assert usage["denoise"].split()[-1] == "INPUTS..."
    assert usage["synth"].split()[-1] == "CLEAN_DIR"
    assert usage["export"].split()[-1] == "CHECKPOINT"
    recursive = next(ln for ln in help_text("denoise").splitlines() if "--recursive" in ln)
    assert "-r" in recursive and "<" not in recursive, recursive


def test_a_missing_argument_names_its_metavar() -> None:
    result = runner.invoke(app, ["denoise", "-o", "out"], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "Missing argument 'INPUTS'" in result.output, result.output


@pytest.mark.parametrize("args, needle", [
    (["denoise", "a.png", "--strength", "abc"], "Invalid value for '--strength'"),
    (["denoise", "a.png", "--bogus"], "No such option: --bogus"),
    (["denoise", "-o", "out"], "Missing argument 'INPUTS'"),
    (["bogus"], "No such command 'bogus'"),
    (["denoise", "a.png", "-o"], "Option '-o' requires an argument. (see 'denoise-gan denoise --help')"),  # no ctx
])
def test_usage_errors_are_one_line_naming_the_help(args: list[str], needle: str) -> None:
    line = one_line_error(runner.invoke(app, args, env={"COLUMNS": "200"}), needle)
    assert "--help" in line


def test_bare_command_still_prints_the_help() -> None:
    result = runner.invoke(app, [], env={"COLUMNS": "200"})
    assert result.output.count("Usage: denoise-gan") == 1 and "denoise" in result.output  # once, not twice


def test_demo_takes_c_for_checkpoint_like_denoise_and_benchmark() -> None:
    for name in ("demo", "denoise", "benchmark"):
        opt = next(p for p in COMMANDS[name].params if p.name == "checkpoint")
        assert {"-c", "--checkpoint"} <= set(opt.opts), (name, opt.opts)


def test_demo_passes_c_to_the_demo(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    seen: dict[str, object] = {}

    def fake_demo(output, **kwargs):  # noqa: ANN001, ANN003, ANN202 - stands in for run_demo
        seen.update(kwargs)
        return DemoResult([DemoRow("a", 20.0, 0.3, 30.0, 0.8, 0.1, output / "a.png")])

    from denoise_gan.evaluation.demo import DemoResult, DemoRow

    monkeypatch.setattr("denoise_gan.evaluation.demo.run_demo", fake_demo)
    result = runner.invoke(app, ["demo", "-o", str(tmp_path / "out"), "-c", "mine.safetensors"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert seen["checkpoint"] == "mine.safetensors"
    assert "demo: mine.safetensors, gaussian:sigma=25, seed 0" in result.output  # two demos told apart
    result = runner.invoke(app, ["demo", "-o", str(tmp_path / "out2")], env={"COLUMNS": "200"})
    assert "demo: default, gaussian:sigma=25" in result.output


@pytest.mark.parametrize("command", ["train", "refine"])
def test_option_names_are_whole_in_an_80_column_terminal(command: str) -> None:
    """Rich cut the longest names (``--estimator-nois…``, which reads as the separate ``--estimator-noise``), then
    split them mid-word over two lines, with the help squeezed to 17 characters: at 80 columns (any piped help)
    each name is whole on its own line and the help at least 40 characters wide."""
    import re

    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0 and "…" not in result.output, result.output
    names = [opt for param in COMMANDS[command].params for opt in (*param.opts, *param.secondary_opts)
             if opt.startswith("--")]
    for name in names:
        assert re.search(rf"\| (\* )?{re.escape(name)}(,| |$)", result.output, re.MULTILINE), name
    steps = next(line for line in result.output.splitlines() if line.startswith("| --steps "))
    help_column = len(steps) - len(steps[len("| --steps"):].lstrip())
    assert len(steps) - help_column >= 40, steps  # the help's share of the line


def test_help_piped_is_framed_in_ascii_and_a_terminal_keeps_its_look() -> None:
    """Piped or logged, the help's option panels were framed in box-drawing characters, which a screen reader read
    out one by one by name; the result tables were ASCII there already."""
    piped = runner.invoke(app, ["denoise", "--help"], env={"COLUMNS": "100"}).output
    assert not any("\u2500" <= c <= "\u257f" for c in piped) and "+- Options " in piped, piped
    on_terminal = runner.invoke(app, ["denoise", "--help"], env={"COLUMNS": "100", "TERM": "xterm", "FORCE_COLOR": "1"})
    assert "╭─" in on_terminal.output, on_terminal.output


@pytest.mark.parametrize("args", [["-h"], ["denoise", "-h"]])
def test_h_is_help_too(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and "Usage: " in result.output, result.output


def test_a_help_that_starts_with_a_value_keeps_its_case() -> None:
    """"Auto, cpu, cuda or cuda:N" and "L1 or l2": the first value was capitalised as if it were a word."""
    text = " ".join(runner.invoke(app, ["refine", "--help"], env={"COLUMNS": "200"}).output.split())
    assert "auto, cpu, cuda or cuda:N" in text and "l1 or l2" in text and "Auto, cpu" not in text
    assert "Folder for the refined G" in text  # a sentence still starts with a capital


def test_help_lists_every_command_the_everyday_job_first() -> None:
    assert list(COMMANDS) == ["denoise", "demo", "evaluate", "benchmark", "synth", "samples", "noise-fit", "train",
                              "refine", "adapt", "calibrate", "export"]


def test_an_unquoted_pattern_that_gave_several_files_is_named_as_such(tmp_path: Path) -> None:
    """`--noisy photos/*.jpg` reached the command as one folder option and the other files as extra arguments:
    click's words ("unexpected extra argument(s)") did not say that the shell had expanded a pattern."""
    for name in ("a.png", "b.png", "c.png"):
        (tmp_path / name).write_bytes(b"")
    files = sorted(str(p) for p in tmp_path.iterdir())
    one_line_error(cli("evaluate", "--clean", *files, "--pred", tmp_path), "unexpected extra argument",
                   "a shell pattern such as *.jpg gave several files where one path goes: give their folder")
    plain = one_line_error(cli("evaluate", "--clean", tmp_path, "--pred", tmp_path, "extra1", "extra2"),
                           "unexpected extra argument")
    assert "shell pattern" not in plain  # words that are no files: no pattern to blame


def test_a_pattern_that_matched_two_files_or_names_with_spaces_is_named_too(tmp_path: Path) -> None:
    """Two matches leave one extra argument, and a name with a space reads as two words in click's list: neither
    got the hint."""
    for name in ("a.png", "b.png", "c d.png"):
        (tmp_path / name).write_bytes(b"")
    hint = "a shell pattern such as *.jpg gave several files where one path goes"
    for files in (["a.png", "b.png"], ["a.png", "b.png", "c d.png"]):
        one_line_error(cli("evaluate", "--clean", *(str(tmp_path / f) for f in files), "--pred", tmp_path), hint)
    stray = one_line_error(cli("evaluate", "--clean", tmp_path, "--pred", tmp_path, tmp_path / "a.png"),
                           "unexpected extra argument")
    assert "shell pattern" not in stray  # after a folder: no pattern gave the option a file
