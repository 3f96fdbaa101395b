"""Options that other options leave without effect are said as a new run starts: `refine --estimator-only --loss
l2`, `--clean-fraction 0 --clean-jpeg-fraction 0.5`, `--lambda-stats 0 --noise-statistics X`, `--lambda-cycle 0`
with an identity share, a colour-noise F on one channel all trained as if the option were not there."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from denoise_gan.command_line import command_line
from denoise_gan.config import AdaptConfig, GeneratorConfig, RefineConfig, TrainConfig
from denoise_gan.training.unused_options import unused_options
from helpers import TINY_TRAIN_FLAGS, cli


def test_each_option_another_turns_off_is_said_and_the_defaults_say_nothing() -> None:
    assert unused_options(TrainConfig()) == unused_options(RefineConfig()) == unused_options(AdaptConfig()) == []
    with command_line():
        said = unused_options(RefineConfig(estimator_only=True, loss="l2", lambda_level=2.0, clean_fraction=0.0,
                                           clean_jpeg_fraction=0.5))
        assert said == ["--clean-jpeg-fraction is a share of the clean samples, and --clean-fraction 0 leaves none: "
                        "no clean sample is JPEG-compressed",
                        "--loss and --lambda-level weigh the denoiser's loss, which --estimator-only does not train: "
                        "not used"]
        assert unused_options(RefineConfig(estimator_only=True)) == []  # nothing given that it leaves unused
        assert unused_options(RefineConfig(clean_fraction=0.0)) == []  # no JPEG share given to be lost
        assert unused_options(AdaptConfig(lambda_stats=0.0, noise_statistics="compact")) == [
            "--noise-statistics compact is not used: --lambda-stats 0 turns the statistics matching off"]
        assert unused_options(AdaptConfig(lambda_stats=0.0)) == []  # the default set: nothing given to be lost
        train = TrainConfig(lambda_cycle=0.0, lambda_identity=0.9)
        assert unused_options(train) == ["--lambda-identity is a share of --lambda-cycle, which is 0: the identity "
                                         "loss is off too"]
        assert unused_options(replace(train, lambda_identity=0.0)) == []
        assert unused_options(TrainConfig(lambda_cycle=0.0)) == []  # its share not given: nothing given is lost
    one_channel = replace(TrainConfig().model, g=replace(TrainConfig().model.g, channels=1),
                          f=GeneratorConfig(arch="colour-noise", channels=1),
                          d=replace(TrainConfig().model.d, channels=1))
    assert "one-channel run" in unused_options(TrainConfig(model=one_channel))[0]  # in Python, keywords


def test_train_says_it_as_it_starts(clean_dir: Path, tmp_path: Path) -> None:
    result = cli("train", "--clean", clean_dir, "--noise", "gaussian:sigma=25", "-o", tmp_path / "run",
                 *TINY_TRAIN_FLAGS, "--steps", "1", "--lambda-stats", "0", "--noise-statistics", "camera")
    assert result.exit_code == 0 and "--noise-statistics camera is not used: --lambda-stats 0" in " ".join(
        result.output.split()), result.output

