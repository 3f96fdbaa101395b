"""The noise spec grammar refuses what it cannot mean and reads every way of writing a number."""

from __future__ import annotations

import pytest

from data_tools.noise import NoiseSpecError, parse_noise_spec


@pytest.mark.parametrize("text, needle", [
    ("gaussian:sigma=5,sigma=50", "given twice"),  # was: silently 50
    ("poisson-gaussian:peak=30,sigma=5,peak=10", "given twice"),
    ("jpeg:quality=1.4", "whole number"),  # an encoder setting
    ("jpeg:quality=60.5-90", "whole number"),
    ("gaussian:sigma=25+", "an empty stage"),  # was: "unknown noise model ''"
    ("gaussian:sigma=25++jpeg:quality=80", "an empty stage"),
    ("gaussian:sigma=25|", "an empty stage"),
    ("gaussian:sigma=\u0662\u0665", "not a number"),  # Arabic-Indic digits were read as 25
])
def test_ambiguous_specs_are_refused(text: str, needle: str) -> None:
    with pytest.raises(NoiseSpecError, match=needle):
        parse_noise_spec(text)


@pytest.mark.parametrize("text, expected", [
    ("gaussian:sigma=1e-1", "gaussian:sigma=0.1"),  # was refused while 1e1 was accepted
    ("gaussian:sigma=1e1", "gaussian:sigma=10"),
    ("gaussian:sigma=1e-1-2.5e1", "gaussian:sigma=0.1-25"),
    ("jpeg:quality=60-95", "jpeg:quality=60-95"),
    ("gaussian:sigma=2.5e+1", "gaussian:sigma=25"),  # the '+' was read as a stage break
    ("gaussian:sigma=1E+1-5e+1+jpeg:quality=8e+1", "gaussian:sigma=10-50+jpeg:quality=80"),
    ("gaussian:sigma=+5", "gaussian:sigma=5"),  # a sign after = or - was a stage break: "sigma=''"
    ("gaussian:sigma=5-+50+jpeg:quality=+80", "gaussian:sigma=5-50+jpeg:quality=80"),
    ("gaussian:sigma= +5 + jpeg:quality=80", "gaussian:sigma=5+jpeg:quality=80"),  # spaces around either
    ("gaussian:sigma=  +5", "gaussian:sigma=5"),  # more than one space, or a tab, was a stage break: "sigma=''"
    ("gaussian:sigma=\t+5-\t+50", "gaussian:sigma=5-50"),
    ("gaussian:sigma=5 -   +50 +  jpeg:quality=  +80", "gaussian:sigma=5-50+jpeg:quality=80"),
])
def test_numbers_with_exponents_parse(text: str, expected: str) -> None:
    assert str(parse_noise_spec(text)) == expected


def test_a_long_malformed_number_is_refused_at_once() -> None:
    """`\\d+\\.?\\d*` matched a run of digits every way it could be split: 1,200 digits took 16 s to refuse and
    4,000 some minutes. The alarm turns a hang back into a failure."""
    import signal

    def hung(signum: int, frame: object) -> None:
        raise TimeoutError("the spec parser backtracked for over 5 s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(5)
    try:
        with pytest.raises(NoiseSpecError, match="is not a number or a range"):
            parse_noise_spec("gaussian:sigma=" + "1" * 4000 + "-" + "1" * 4000 + "x")
        with pytest.raises(NoiseSpecError, match="is not a number or a range"):  # spaces before no sign
            parse_noise_spec("gaussian:sigma=" + "= - " * 100_000 + " " * 1_000_000 + "x")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("text", [
    "x" * 1_000_000,  # an unknown model: its name and the spec were quoted whole, twice
    "+".join(["gaussian:sigma=1"] * 10_000) + "+",  # an empty stage at the end of a long chain
    "gaussian:sigma=1," + ",".join(["sigma=2"] * 1000),  # a parameter given twice
    "gaussian:" + "s" * 100_000 + "=1",  # a bad parameter
    "gaussian:sigma" + " " * 100_000 + "|jpeg:quality=80",  # a parameter with no value
], ids=["unknown-model", "empty-stage", "given-twice", "bad-parameter", "no-value"])
def test_a_refusal_quotes_a_long_spec_cut_short(text: str) -> None:
    """A pasted file's worth of text, or a generated chain, was echoed whole: a 2 MB "one line"."""
    with pytest.raises(NoiseSpecError) as info:
        parse_noise_spec(text)
    assert len(str(info.value)) < 600, len(str(info.value))
