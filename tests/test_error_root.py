"""One error root: a caller catches every user-facing error of the project with one class."""

from __future__ import annotations

import pytest

import data_tools
import denoise_gan
from data_tools.errors import DataError
from data_tools.noise import NoiseSpecError, parse_noise_spec
from denoise_gan.config import ConfigError, DataConfig
from denoise_gan.errors import DenoiseGanError, UserError, WeightsError
from denoise_gan.inference.infer_config import InferConfig


def test_every_error_type_shares_the_root() -> None:
    for cls in (DataError, NoiseSpecError, ConfigError, UserError, WeightsError):
        assert issubclass(cls, DenoiseGanError), cls
    assert data_tools.errors.DenoiseGanError is denoise_gan.errors.DenoiseGanError
    for name in ("ConfigError", "DataError", "DenoiseGanError", "UserError", "WeightsError"):  # all from one module
        assert getattr(denoise_gan.errors, name) in (DataError, ConfigError, DenoiseGanError, UserError, WeightsError)


@pytest.mark.parametrize("fail", [lambda: parse_noise_spec("nonsense:x=1"), lambda: DataConfig(patch_size=4),
                                  lambda: InferConfig(tile=-3)])
def test_one_clause_catches_data_config_and_user_errors(fail: object) -> None:
    with pytest.raises(DenoiseGanError):
        fail()


def test_an_exception_that_says_nothing_still_makes_a_one_line_error() -> None:
    """``str(exc).splitlines()[0]``, written in a dozen places, was an IndexError for an empty message."""
    from denoise_gan.errors import first_line, typed_line

    assert first_line(EOFError()) == "EOFError" and typed_line(EOFError()) == "EOFError"
    assert first_line(ValueError("\n")) == "ValueError"
    assert first_line(ValueError("bad value\nsecond line")) == "bad value"
    assert first_line(ValueError("x" * 300)) == "x" * 159 + "…" and len(first_line(ValueError("x" * 300), None)) == 300
    assert typed_line(KeyError("nets")) == "KeyError: 'nets'"


def test_the_roots_are_the_builtin_kinds_callers_catch() -> None:
    """Library paths catch ValueError (a set's unreadable σ fails that input alone in a benchmark) and TypeError:
    the project's errors must stay those kinds."""
    from data_tools.errors import ImageTypeError

    assert issubclass(DenoiseGanError, ValueError) and issubclass(ImageTypeError, TypeError)


def test_a_typed_line_is_capped_at_160_characters_of_message() -> None:
    from denoise_gan.errors import typed_line

    assert typed_line(KeyError("k" * 300)) == "KeyError: '" + "k" * 158 + "…"


def test_a_cut_message_says_it_was_cut() -> None:
    """Torch's zip error stopped at "there is a high" as if that were all it said."""
    from denoise_gan.errors import first_line

    torch_zip = ("PytorchStreamReader failed reading zip archive: failed finding central directory. This is an "
                 "internal miniz error. If you are seeing this error, there is a high chance that your file is corrupt")
    cut = first_line(RuntimeError(torch_zip))
    assert len(cut) == 160 and cut.endswith("…") and torch_zip.startswith(cut[:-1])
    assert first_line(RuntimeError("x" * 160)) == "x" * 160  # at the cap: whole, no mark
