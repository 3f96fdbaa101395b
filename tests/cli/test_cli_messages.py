"""What the CLI says when a value is refused or a run stops: the option the user typed, the name as spelt, its
bounds included, one line."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from data_tools.images import write_image
from denoise_gan.config import AdaptConfig, ConfigError, RefineConfig, TrainConfig
from denoise_gan.config_fields import check_field, nested_of, option_of, require_step_size
from helpers import cli, one_line_error


def _rules(cls: type, prefix: str = "") -> list[tuple[str, object]]:
    found = []
    for f in dataclasses.fields(cls):
        if nested_of(f) is not None:
            found += _rules(type(getattr(cls(), f.name)), prefix + f.name + ".")
        elif (rule := option_of(f)) is not None:
            found.append((prefix + f.name, rule))
    return found


@pytest.mark.parametrize("cls", [TrainConfig, RefineConfig, AdaptConfig])
def test_every_bound_a_field_declares_is_itself_allowed(cls: type) -> None:
    """`--steps` at its documented maximum, `--width 4096`: the ends of a range are in it."""
    checked = 0
    for name, rule in _rules(cls):
        for end in (rule.at_least, rule.at_most):
            if end is not None:
                check_field(name, rule, end)
                checked += 1
        if rule.at_most is not None:
            with pytest.raises(ConfigError, match="must be"):
                check_field(name, rule, rule.at_most * 1.5 + 1)
    assert checked > 5


def test_a_value_outside_a_fields_choices_is_refused() -> None:
    """Built in Python, a config names its fields as the keywords they are (`--width` was not a keyword of
    GeneratorConfig); the command line, building the same config, names its flags."""
    from denoise_gan.command_line import command_line

    with pytest.raises(ConfigError, match="^loss must be one of l1, l2"):
        RefineConfig(loss="l3")
    with pytest.raises(ConfigError, match="^precision must be one of"):
        TrainConfig(precision="fp64")
    with command_line(), pytest.raises(ConfigError, match="^--precision must be one of"):
        TrainConfig(precision="fp64")


def test_the_largest_step_allowed_is_allowed() -> None:
    require_step_size(64, 512)  # exactly 2**24 pixels
    with pytest.raises(ConfigError, match="M pixels a step"):
        require_step_size(65, 512)


@pytest.mark.parametrize("flag", ["--f-width", "--d-width"])
def test_a_companion_networks_bad_value_names_its_own_option(tmp_path: Path, flag: str) -> None:
    """F's and the discriminators' options share G's checks: the error must name the flag the user typed."""
    (tmp_path / "clean").mkdir()
    line = one_line_error(cli("train", "--clean", tmp_path / "clean", "--noise", "gaussian:sigma=25", "-o",
                              tmp_path / "out", flag, "0"), f"{flag} must be between")
    assert not (tmp_path / "out").exists(), line


def test_a_config_file_that_is_not_an_object_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "list.json").write_text("[1, 2]")
    one_line_error(cli("train", "--config", tmp_path / "list.json", "-o", tmp_path / "out"),
                   "list.json: a config is a JSON object, not list")


@pytest.mark.parametrize(("content", "where"), [('{"model": {"d": null}}', "model.d"), ('{"model": null}', "model"),
                                               ('{"model": {"f": null}}', "model.f")])
def test_a_config_files_null_section_is_refused_not_built_from_the_wrong_defaults(tmp_path: Path, content: str,
                                                                                  where: str) -> None:
    """`{"model": {"d": null}}` beside --d-width built D from DiscriminatorConfig()'s defaults (no spectral norm,
    which the recipe and --help have on), and a null F from G's (width 16, depth 3), without a word."""
    (tmp_path / "clean").mkdir()
    (tmp_path / "c.json").write_text(content)
    one_line_error(cli("train", "--config", tmp_path / "c.json", "--clean", tmp_path / "clean", "--noise",
                       "gaussian:sigma=25", "-o", tmp_path / "out", "--d-width", "8"),
                   f"c.json: {where} is null where a section belongs")
    assert not (tmp_path / "out").exists()


def test_a_config_file_nested_past_python_s_recursion_is_one_line(tmp_path: Path) -> None:
    """A config 500 levels deep (parseable) crashed with a RecursionError traceback when it was copied."""
    (tmp_path / "clean").mkdir()
    (tmp_path / "deep.json").write_text('{"model": {"g": ' + '{"x": ' * 500 + "1" + "}" * 500 + "}}")
    one_line_error(cli("train", "--config", tmp_path / "deep.json", "--clean", tmp_path / "clean", "--noise",
                       "gaussian:sigma=25", "-o", tmp_path / "out"), "deep.json: nested 16+ levels deep")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("content", "flag"), [('{"model": {"f": {"depth": "3"}}}', "--f-depth"),
                                              ('{"model": {"g": {"depth": "3"}}}', "--depth"),
                                              ('{"seed": "5"}', "--seed")])
def test_a_config_files_value_of_the_wrong_type_names_the_option(tmp_path: Path, content: str, flag: str) -> None:
    """A wrong type in a config file was "GeneratorConfig.depth must be int", the same words for G's and F's, where
    a value out of range named the option the user would type."""
    (tmp_path / "clean").mkdir()
    (tmp_path / "c.json").write_text(content)
    one_line_error(cli("train", "--config", tmp_path / "c.json", "--clean", tmp_path / "clean", "--noise",
                       "gaussian:sigma=25", "-o", tmp_path / "out"), f"error: {flag} must be a whole number",
                   "(in --config")


@pytest.mark.parametrize(("content", "needle"), [
    ('{"model": {"width": 8}}', "unknown ModelConfig field(s) in model: width (width is model.g.width;"),
    ('{"model": {"d": 3}}', "model.d must be a mapping, not int")])
def test_a_config_files_misplaced_key_is_named_by_its_path_in_the_file(tmp_path: Path, content: str,
                                                                       needle: str) -> None:
    """A width put in `model` was hinted as `g.width`, which no config.json holds (it is `model.g.width`)."""
    (tmp_path / "clean").mkdir()
    (tmp_path / "c.json").write_text(content)
    one_line_error(cli("train", "--config", tmp_path / "c.json", "--clean", tmp_path / "clean", "--noise",
                       "gaussian:sigma=25", "-o", tmp_path / "out"), needle)


def test_an_empty_path_among_given_ones_is_refused(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8))
    one_line_error(cli("denoise", tmp_path / "a.png", "", "-o", tmp_path / "out"), "an empty path")


def test_errors_and_warnings_keep_the_brackets_of_a_name(tmp_path: Path) -> None:
    """A name like `x[red]` is text: as markup its brackets vanished from the one line that names it."""
    line = one_line_error(cli("evaluate", "--clean", tmp_path / "x[red]", "--pred", tmp_path), "x[red]")
    assert line.startswith("error:")
    write_image(tmp_path / "src" / "a.png", np.zeros((16, 16, 3), np.uint8))
    assert cli("synth", tmp_path / "src", "-o", tmp_path / "set", "--noise", "gaussian:sigma=5").exit_code == 0
    (tmp_path / "set" / "notes[red].txt").write_text("mine")
    again = cli("synth", tmp_path / "src", "-o", tmp_path / "set", "--noise", "gaussian:sigma=9", "--overwrite")
    assert again.exit_code == 0 and "warning:" in again.stderr and "notes[red].txt" in again.stderr


def test_a_name_too_long_for_the_file_system_is_one_line(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8))
    one_line_error(cli("denoise", tmp_path / "a.png", "-o", tmp_path / ("x" * 300 + ".png")), "too long")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_log_redirected_to_a_full_disk_is_one_line(tmp_path: Path) -> None:
    """`denoise ... > log` on a full disk did the work, then ended in a 40-line traceback from rich."""
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        run = subprocess.run([sys.executable, "-m", "denoise_gan", "samples", "-o", tmp_path / "s", "--set",
                              "held-out"], stdout=full, stderr=subprocess.PIPE, text=True, timeout=300)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert run.stderr.strip().splitlines()[-1] == ("error: the command's output could not be written (No space left "
                                                   "on device); make room where it is redirected")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_progress_log_on_a_full_disk_loses_the_log_not_the_work(tmp_path: Path) -> None:
    """`denoise photos -o out 2> log` on a full disk wrote no image and exited 1: its first progress line failed."""
    import subprocess
    import sys

    write_image(tmp_path / "in" / "a.png", np.full((32, 32, 3), 100, np.uint8))
    with open("/dev/full", "w") as full:
        run = subprocess.run([sys.executable, "-m", "denoise_gan", "denoise", tmp_path / "in", "-o", tmp_path / "out"],
                             stdout=subprocess.PIPE, stderr=full, text=True, timeout=300)
    assert run.returncode == 0 and (tmp_path / "out" / "a.png").is_file(), run.stdout
    assert "denoise summary" in run.stdout
    # a warning printed by plain print(file=sys.stderr), not by the CLI's console: a photo train skips
    from data_tools.samples import load_sample
    from helpers import TINY_TRAIN_FLAGS

    for name in ("coffee", "camera"):
        write_image(tmp_path / "clean" / f"{name}.png", load_sample(name)[:64, :64])
    (tmp_path / "clean" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    with open("/dev/full", "w") as full:
        run = subprocess.run([sys.executable, "-m", "denoise_gan", "train", "--clean", tmp_path / "clean", "--noise",
                              "gaussian:sigma=25", "-o", tmp_path / "run", "--steps", "2", *TINY_TRAIN_FLAGS],
                             stdout=subprocess.PIPE, stderr=full, text=True, timeout=300)
    assert run.returncode == 0 and (tmp_path / "run" / "G.safetensors").is_file(), run.stdout


@pytest.mark.parametrize("stream", ["stderr", "stdout"])
def test_output_whose_reader_has_gone_loses_the_output_not_the_work(tmp_path: Path, stream: str) -> None:
    """`denoise photos -o out 2>&1 | head -1` stopped the batch at its second log line, exit 1 and no word (rich
    ends the process on a broken pipe); `train ... | head` lost the steps since its last checkpoint and
    `benchmark ... | true` its last rows and its report."""
    import os
    import subprocess
    import sys

    for i in range(3):
        write_image(tmp_path / "in" / f"{i}.png", np.full((32, 32, 3), 50 * i, np.uint8))
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line
    closed = {stream: write_end, "stderr" if stream == "stdout" else "stdout": subprocess.PIPE}
    try:
        run = subprocess.run([sys.executable, "-m", "denoise_gan", "denoise", tmp_path / "in", "-o", tmp_path / "out"],
                             text=True, timeout=300, **closed)
    finally:
        os.close(write_end)
    assert run.returncode == 0 and sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0.png", "1.png", "2.png"]
    said = run.stdout if stream == "stderr" else run.stderr
    assert ("denoise summary" if stream == "stderr" else "[3/3] done") in said and "Traceback" not in said, said


@pytest.mark.parametrize("columns", ["20", "45"])
def test_a_narrow_terminal_never_cuts_a_score(tmp_path: Path, columns: str) -> None:
    """At 45 columns the denoise summary showed `0.…` for its figures, and at 20 blank columns: rich cuts cells
    to fit. A result table is printed as wide as it needs, and the terminal wraps it."""
    import os
    import subprocess
    import sys

    write_image(tmp_path / "in" / "a.png", np.full((32, 32, 3), 90, np.uint8))
    run = subprocess.run([sys.executable, "-m", "denoise_gan", "denoise", tmp_path / "in", "-o", tmp_path / "out"],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": columns})
    assert run.returncode == 0, run.stderr
    header = next(line for line in run.stdout.splitlines() if "files" in line)
    assert all(name in header for name in ("done", "skipped", "failed", "megapixels", "seconds", "MP/s"))
    assert "…" not in run.stdout and "0.00" in run.stdout  # 0.00 megapixels, whole


def test_evaluate_never_cuts_an_image_name_or_a_score(tmp_path: Path) -> None:
    """Piped (80 columns), evaluate's table cut two long names alike to `holiday_…` (their scores could not be told
    apart): its headers could wrap, so rich took the room from the names."""
    import os
    import subprocess
    import sys

    names = [f"holiday_photo_from_the_beach_five_frames_v{i}" for i in (1, 2)]
    for i, name in enumerate(names):
        write_image(tmp_path / "c" / f"{name}.png", np.full((32, 32, 3), 90 + i, np.uint8))
        write_image(tmp_path / "p" / f"{name}.png", np.full((32, 32, 3), 200, np.uint8))
    run = subprocess.run([sys.executable, "-m", "denoise_gan", "evaluate", "--clean", tmp_path / "c", "--pred",
                          tmp_path / "p", "--y-channel"], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "COLUMNS": "80"})
    assert run.returncode == 0, run.stderr
    assert all(name in run.stdout for name in names) and "…" not in run.stdout, run.stdout
    assert "SSIM-Y" in run.stdout


def test_a_long_file_name_still_folds_into_the_terminal(tmp_path: Path) -> None:
    """Printed whole, the files-needing-attention table took its width from a 66-character file name (90 columns
    at 80): a column that folds its text cuts nothing, so it folds as before."""
    import os
    import subprocess
    import sys

    name = "broken_file_with_a_long_name_that_will_fail_to_read_2026_12_06.png"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / name).write_bytes(b"x")
    write_image(tmp_path / "in" / "a.png", np.full((32, 32, 3), 90, np.uint8))
    run = subprocess.run([sys.executable, "-m", "denoise_gan", "denoise", tmp_path / "in", "-o", tmp_path / "out"],
                         capture_output=True, encoding="utf-8", timeout=300,
                         env={**os.environ, "COLUMNS": "80", "PYTHONIOENCODING": "utf-8"})  # piped: ASCII borders
    assert run.returncode == 1 and "files needing attention" in run.stdout, run.stdout
    assert max(len(line) for line in run.stdout.splitlines()) <= 80, run.stdout
    first_column = "".join(line.split("|")[1].strip() for line in run.stdout.splitlines() if line.startswith("|"))
    assert name in first_column and "…" not in run.stdout  # folded over two lines, whole


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("args", [["--help"], ["--version"], [], ["denoise", "--help"]])
def test_help_or_the_version_redirected_to_a_full_disk_is_one_line(args: list[str]) -> None:
    """`denoise-gan --help > file` on a full disk ended in a 40-line traceback from rich."""
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        run = subprocess.run([sys.executable, "-m", "denoise_gan", *args], stdout=full, stderr=subprocess.PIPE,
                             text=True, timeout=120)
    assert run.returncode == 1 and run.stderr.strip().splitlines() == [
        "error: the command's output could not be written (No space left on device); make room where it is "
        "redirected"], run.stderr


def test_the_commands_own_output_refused_by_a_quota_is_said_as_a_full_disk_is(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A log on a full disk was one line, but the same write refused by a used-up quota (EDQUOT, which every
    file write already counts as no room) was a traceback."""
    import errno
    import os

    def quota(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))  # no file name: the command's own output stream

    monkeypatch.setattr("data_tools.sample_sets.write_sample_set", quota)
    result = cli("samples", "-o", tmp_path / "s")
    assert result.exit_code == 1 and "Traceback" not in result.output, (result.output, repr(result.exception))
    assert result.stderr.strip().splitlines() == [f"error: the command's output could not be written "
                                                  f"({os.strerror(errno.EDQUOT)}); make room where it is redirected"]


def test_a_full_disk_is_exit_1_as_a_failed_file_is_not_2_as_a_bad_argument(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """evaluate, benchmark, export and a training run's checkpoint ended a full disk with exit 2, the code for bad
    arguments (denoise and synth said 1): a script that retries on a full disk and gives up on a typo could not
    tell them apart."""
    import errno
    import os

    from data_tools import atomic_files

    for name in ("a", "b"):
        write_image(tmp_path / "clean" / f"{name}.png", np.full((16, 16, 3), 100, np.uint8))
        write_image(tmp_path / "pred" / f"{name}.png", np.full((16, 16, 3), 103, np.uint8))

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic_files.os, "fsync", full)
    result = cli("evaluate", "--clean", tmp_path / "clean", "--pred", tmp_path / "pred", "--json", tmp_path / "r.json")
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert result.stderr.strip().splitlines()[-1].startswith("error: ") and "No space left" in result.stderr
    read_only = cli("evaluate", "--clean", tmp_path / "clean", "--pred", tmp_path / "pred", "--json",
                    tmp_path / "clean")  # a bad argument is still 2
    assert read_only.exit_code == 2
    monkeypatch.undo()

    def no_inode(*args: object, **kwargs: object) -> None:  # a disk full before the first write: the up-front check
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("data_tools.output_folders.tempfile.mkstemp", no_inode)
    early = cli("denoise", tmp_path / "clean", "-o", tmp_path / "out", "--sigma", "5")
    assert early.exit_code == 1 and "cannot write there (No space left on device)" in early.stderr, early.output


def test_an_interrupt_is_said_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command says it was interrupted and how to finish; the CLI must not say "interrupted" again."""
    from denoise_gan.inference import files

    write_image(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8))

    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(files, "denoise_files", interrupted)
    result = cli("denoise", tmp_path / "a.png", "-o", tmp_path / "out")
    assert result.exit_code == 130 and result.output.count("interrupted") == 1, result.output


def test_a_wrote_line_is_one_line_in_a_log_whatever_its_path(tmp_path: Path) -> None:
    """Piped (80 columns), `evaluate --json` and `samples` broke `wrote PATH` into `wrote ` and the path, cut
    mid-name: a script reading the line (`grep '^wrote'`) got no path, a log a name split in two."""
    import os
    import subprocess
    import sys

    deep = tmp_path / "a_folder_whose_name_is_long_enough" / "to_push_the_written_line_past_eighty_columns"
    for folder in ("c", "p"):
        write_image(tmp_path / folder / "a.png", np.full((32, 32, 3), 90 if folder == "c" else 99, np.uint8))
    commands = (["evaluate", "--clean", tmp_path / "c", "--pred", tmp_path / "p", "--json", deep / "results.json"],
                ["samples", "-o", deep / "samples", "--names", "camera"])
    deep.mkdir(parents=True)
    for command in commands:
        run = subprocess.run([sys.executable, "-m", "denoise_gan", *command], capture_output=True, text=True,
                             timeout=300, env={**os.environ, "COLUMNS": "80"})
        assert run.returncode == 0, run.stderr
        written = [line for line in run.stdout.splitlines() if line.startswith("wrote ")]
        assert written and all(line.startswith(f"wrote {deep}") for line in written), run.stdout


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_evaluate_with_its_table_on_a_full_disk_still_writes_its_json(tmp_path: Path) -> None:
    """`evaluate --json r.json > log` with the log's disk full printed the table first and stopped at it: the
    scores were computed, and the JSON, on another disk, never written."""
    import subprocess
    import sys

    for folder in ("c", "p"):
        write_image(tmp_path / folder / "a.png", np.full((32, 32, 3), 90 if folder == "c" else 99, np.uint8))
    with open("/dev/full", "w") as full:
        run = subprocess.run([sys.executable, "-m", "denoise_gan", "evaluate", "--clean", tmp_path / "c", "--pred",
                              tmp_path / "p", "--json", tmp_path / "r.json"], stdout=full, stderr=subprocess.PIPE,
                             text=True, timeout=300)
    assert run.returncode == 1 and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert (tmp_path / "r.json").is_file()
