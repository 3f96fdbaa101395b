"""An option given twice is refused in one line, before anything runs: the parser alone keeps the last value
without a word (``synth --noise A --noise B`` made only B's set)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import cli, one_line_error


@pytest.mark.parametrize("args, needle", [
    (("synth", "IN", "-o", "OUT", "--noise", "gaussian:sigma=5", "--noise", "poisson:peak=3"),
     "--noise given twice ('gaussian:sigma=5', then 'poisson:peak=3'); give it once; to draw one of several"),
    (("synth", "IN", "-o", "OUT", "--noise=gaussian:sigma=5", "--noise", "poisson:peak=3"), "--noise given twice"),
    (("denoise", "IN", "-o", "OUT", "--sigma", "10", "--output", "OTHER"), "-o given twice ("),
    (("denoise", "IN", "-oOUT", "-o", "OTHER"), "-o given twice ("),
    (("denoise", "IN", "-ro", "OUT", "-o", "OTHER"), "-o given twice ("),  # -o inside a cluster of short options
])
def test_an_option_given_twice_is_refused_before_anything_runs(tmp_path: Path, args: tuple[str, ...],
                                                                 needle: str) -> None:
    (tmp_path / "IN").mkdir()
    result = cli(*(str(tmp_path / a) if a in ("IN", "OUT", "OTHER") else a for a in args))
    one_line_error(result, needle)
    assert not (tmp_path / "OUT").exists() and not (tmp_path / "OTHER").exists()


def test_an_option_missing_its_value_at_the_end_is_the_parsers_to_name(tmp_path: Path) -> None:
    one_line_error(cli("denoise", tmp_path, "-o", tmp_path / "a", "-o"), "Option '-o' requires an argument")


def test_a_flag_in_both_of_its_forms_is_refused_and_one_given_twice_is_taken() -> None:
    from denoise_gan.cli.repeated_options import repeated_option

    class Flag:
        param_type_name, name, multiple, count, is_flag, nargs = "option", "ema", False, False, True, 1
        opts, secondary_opts = ["--ema"], ["--no-ema"]

    assert repeated_option([Flag()], ["--ema", "--no-ema"]) == "--ema and --no-ema both given; give one"
    assert repeated_option([Flag()], ["--ema", "x", "--ema"]) is None


def test_a_value_that_looks_like_an_option_and_words_after_a_double_dash_are_not_options(tmp_path: Path) -> None:
    from denoise_gan.cli.repeated_options import repeated_option

    class Valued:
        param_type_name, name, multiple, count, is_flag, nargs = "option", "suffix", False, False, False, 1
        opts, secondary_opts = ["--suffix"], []

    assert repeated_option([Valued()], ["--suffix", "--suffix"]) is None  # the value is the word '--suffix'
    assert repeated_option([Valued()], ["--suffix", "a", "--", "--suffix"]) is None


def test_an_option_that_takes_several_values_may_be_given_again_and_help_is_never_refused(tmp_path: Path) -> None:
    result = cli("benchmark", "--clean", tmp_path, "--noise", "gaussian:sigma=5", "--noise", "gaussian:sigma=9",
                 "-o", tmp_path / "b", "--methods", "nope")
    one_line_error(result, "nope")  # refused for its method, not for the second --noise
    result = cli("denoise", tmp_path, "-o", tmp_path / "o", "-o", tmp_path / "p", "--help")
    assert result.exit_code == 0 and "Usage" in result.output
