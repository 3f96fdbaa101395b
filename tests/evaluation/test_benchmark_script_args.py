"""The benchmark scripts end on a user's mistake as the CLI does (one `error:` line, exit 2), not in a traceback:
a reader reruns them from the README to check its figures."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from data_tools.noise import NoiseSpecError
from denoise_gan.errors import WeightsError
from helpers import BENCHMARKS, CHILD_ENV, benchmark_script


def test_every_script_ends_through_the_shared_error_ending() -> None:
    scripts = sorted(p for p in BENCHMARKS.glob("*.py") if p.stem != "script_args")
    assert len(scripts) >= 10
    for path in scripts:
        assert path.read_text().rstrip().endswith('if __name__ == "__main__":\n    run_script(main)'), path.name


@pytest.mark.parametrize(("convert", "text", "said"), [
    ("positive_int", "0", "below 1"), ("positive_int", "2.5", "not a whole number"),
    ("positive_float", "0", "not above 0"), ("positive_float", "nan", "not above 0"),
    ("positive_float", "x", "not a number"), ("noise_spec", "bogus", "unknown noise model"),
    ("seed", "-1", r"from 0 to 2\*\*64 - 1"), ("seed", "x", "not a whole number"),
    ("thread_count", "999999", "this process may use"), ("thread_count", "-1", "whole number of threads")])
def test_a_bad_value_is_refused_by_its_argument_type(convert: str, text: str, said: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=said):
        getattr(benchmark_script("script_args"), convert)(text)


def test_good_values_pass_through() -> None:
    args = benchmark_script("script_args")
    assert (args.positive_int("3"), args.positive_float("0.5")) == (3, 0.5)
    assert args.noise_spec("gaussian:sigma=5+jpeg:quality=90") == "gaussian:sigma=5+jpeg:quality=90"
    assert (args.seed("7"), args.thread_count("1")) == (7, 1)
    assert args.thread_count("0") >= 1  # all the CPUs this process may use


@pytest.mark.parametrize("error", [WeightsError("x.safetensors: no such weight file"),
                                   NoiseSpecError("bad spec"), FileNotFoundError(2, "No such file", "/nope")])
def test_the_packages_errors_end_in_one_line_and_exit_2(error: Exception, capsys: pytest.CaptureFixture) -> None:
    def main() -> None:
        raise error

    with pytest.raises(SystemExit) as ended:
        benchmark_script("script_args").run_script(main)
    assert ended.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(error).splitlines()[0] in lines[0]


def test_a_bug_still_shows_its_traceback() -> None:
    def main() -> None:
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        benchmark_script("script_args").run_script(main)


@pytest.mark.parametrize(("args", "said"), [
    (["border_error.py", "-c", "nonexistent.safetensors"], "error: nonexistent.safetensors: no such weight file"),
    (["border_error.py", "--mirror", "0"], "border_error.py: error: --mirror is 1 to 64 px"),
    (["tile_profile.py", "heldout", "--tile", "64"], "tile_profile.py: error: --tile is 128 to 4096 px"),
    (["uneven_noise.py", "--tiles", "0,abc"], "uneven_noise.py: error: argument --tiles: '0,abc' is not tile sizes")])
def test_a_script_run_by_python_refuses_a_mistake_in_one_line(args: list[str], said: str) -> None:
    args[0] = str(BENCHMARKS / args[0])
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=CHILD_ENV, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.splitlines()[-1].startswith(said), done.stderr
