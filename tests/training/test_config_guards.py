"""What each frozen config refuses on its own, before any folder is made: the guards a --config file or a stored
checkpoint config passes through too, which the command line alone cannot reach."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from denoise_gan.config import (
    AdaptConfig,
    ConfigError,
    DataConfig,
    DiscriminatorConfig,
    GeneratorConfig,
    ModelConfig,
    RefineConfig,
    TrainConfig,
    refuse_overlapping,
)
from denoise_gan.config_json import from_dict, to_dict
from denoise_gan.errors import UserError

pytestmark = pytest.mark.usefixtures("losses_png_unrendered")  # trains; never looks at that picture


def test_one_relative_folder_with_the_other_unset_is_not_taken_for_the_working_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unset folder ("") is no folder: read as the working folder, every relative --clean or --noisy inside it
    would be refused as inside the other."""
    monkeypatch.chdir(tmp_path)
    refuse_overlapping("photos", "")
    DataConfig(clean_dir="photos/clean", noise="gaussian:sigma=25")
    AdaptConfig(noisy_dir="photos")  # adapt's --clean defaults to the bundled photos


def test_a_link_to_the_other_folder_is_the_same_folder(tmp_path: Path) -> None:
    """Through a link the same photos would land in both domains and G would learn close to nothing."""
    (tmp_path / "clean").mkdir()
    os.symlink(tmp_path / "clean", tmp_path / "noisy")
    with pytest.raises(ConfigError, match="the same folder"):
        DataConfig(clean_dir=str(tmp_path / "clean"), noisy_dir=str(tmp_path / "noisy"))


def test_the_patch_size_floor_and_the_discriminators_channels() -> None:
    with pytest.raises(ConfigError, match="^patch_size must be at least"):
        DataConfig(patch_size=16)  # a multiple of 8, under the floor of 32
    with pytest.raises(ConfigError, match="same channels"):  # only a config file can give D its own channels
        TrainConfig(model=ModelConfig(d=DiscriminatorConfig(channels=1)))


def test_a_generators_channels_are_named_as_the_keyword_and_typed_first() -> None:
    """It said "--channels must be 1 or 3, not 3" of channels='3' (a str), in the command's words."""
    with pytest.raises(ConfigError, match="^channels must be 1 or 3, not 5$"):
        GeneratorConfig(channels=5)
    with pytest.raises(ConfigError, match="^channels must be a whole number, not '3'$"):
        GeneratorConfig(channels="3")


def test_refine_and_adapt_refuse_settings_that_would_run_something_else() -> None:
    with pytest.raises(ConfigError, match="--init and --noise do not go together"):
        RefineConfig(run_dir="r", init="default", noise="gaussian:sigma=25")  # the comparison starts fresh
    with pytest.raises(ConfigError, match="between 2 and 10000000"):
        AdaptConfig(noisy_dir="photos", steps=1)  # one phase would get no step


@pytest.mark.parametrize(("setting", "flag"), [({"faint_fraction": 0.3}, "--faint-fraction"),
                                               ({"correlated_fraction": 0.3}, "--correlated-fraction"),
                                               ({"white_fraction": 0.3}, "--white-fraction"),
                                               ({"quantize": False}, "--no-quantize")])
def test_settings_of_fs_draws_are_refused_where_the_pairs_are_a_specs(setting: dict, flag: str) -> None:
    """With --noise the pairs come from the spec and F never draws: these were recorded in the run's config as in
    effect and trained a G bit for bit equal to one without them."""
    from denoise_gan.training.refine_start import check_refine

    with pytest.raises(UserError, match=f"^{flag}: F's draws only, and with --noise"):
        check_refine(RefineConfig(run_dir="r", noise="gaussian:sigma=25", fresh=True, **setting), Path("out"))
    check_refine(RefineConfig(run_dir="r", **setting), Path("out"))  # F's pairs: taken
    # a stored config from before the check still loads, so such a run still resumes
    RefineConfig(run_dir="r", noise="gaussian:sigma=25", fresh=True, **setting)


def test_a_refinement_of_the_runs_own_g_reads_back_from_its_stored_config() -> None:
    """`refine --generator same` stores "generator": null, which a --resume reads back."""
    stored = RefineConfig(run_dir="r", generator=None)
    assert from_dict(RefineConfig, to_dict(stored)) == stored


def test_a_field_that_may_be_none_names_both_types_it_takes() -> None:
    """A refinement's generator is a GeneratorConfig or None (the run's own G): a name given there is refused in
    both words, not as "a GeneratorConfig | None"."""
    with pytest.raises(ConfigError, match="^generator must be a GeneratorConfig or None, not 'level'$"):
        RefineConfig(run_dir="r", generator="level")  # type: ignore[arg-type]


def test_a_model_config_of_wrong_parts_and_a_patch_f_cannot_stride_are_one_line() -> None:
    """ModelConfig(g="unet") was taken and failed as an AttributeError inside TrainConfig; a patch of 56 with F's
    stride 16 was "too small for F" in torch's broadcasting words, and 72 failed the same way."""
    with pytest.raises(ConfigError, match="^g must be a GeneratorConfig, not 'unet'"):
        ModelConfig(g="unet")  # type: ignore[arg-type]
    deep_f = ModelConfig(f=GeneratorConfig(arch="noise", depth=4))
    for patch in (56, 72):
        with pytest.raises(ConfigError, match=f"multiple of 16 \\(F's stride, 2 to the power of model.f.depth\\), "
                                              f"not {patch}"):
            TrainConfig(model=deep_f, data=DataConfig(patch_size=patch))
    assert TrainConfig(model=deep_f, data=DataConfig(patch_size=64)).data.patch_size == 64


def test_a_configs_stride_is_the_built_networks() -> None:
    """The patch rules use GeneratorConfig.stride: a ResNet of --depth 4 was held to 16 (its stride is 4), and a
    new refine G of --depth 4 took a patch of 40 and failed as "too small for G" in torch's words."""
    from denoise_gan.nets.generator_names import GENERATOR_KINDS
    from denoise_gan.nets.registry import build_generator

    for kind in GENERATOR_KINDS:
        for depth in (1, 2, 3, 4):
            cfg = GeneratorConfig(arch=kind.name, width=4, depth=depth, blocks=1)
            assert cfg.stride == build_generator(cfg).stride, (kind.name, depth)
    resnet = ModelConfig(g=GeneratorConfig(arch="resnet", depth=4))
    assert TrainConfig(model=resnet, data=DataConfig(patch_size=40)).data.patch_size == 40
    with pytest.raises(ConfigError, match="multiple of 32 \\(the new G's stride\\), not 40"):
        RefineConfig(generator=GeneratorConfig(arch="level", depth=4), patch_size=40)


@pytest.mark.parametrize("which", ["train", "refine", "adapt"])
def test_a_new_run_without_a_config_is_one_line_and_leaves_no_folder(tmp_path: Path, which: str) -> None:
    """`train(None, run_dir)` from Python (resume left False) stopped on an assertion with an empty run folder
    left behind; it is the package's one-line error now, before any folder is made."""
    from denoise_gan.training.adapt import adapt
    from denoise_gan.training.cyclegan import train
    from denoise_gan.training.refine import refine

    call = {"train": train, "refine": refine, "adapt": adapt}[which]
    with pytest.raises(UserError, match="a new run needs a .*Config; pass one, or resume=True"):
        call(None, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_patch_size_refusal_names_why_its_multiple() -> None:
    """`--patch-size 36 --depth 1` was told 8 is "G's stride", where that G's stride is 2: 8 is the least a run
    takes."""
    shallow = replace(TrainConfig().model, g=GeneratorConfig(arch="unet", width=4, depth=1))
    with pytest.raises(ValueError, match=r"multiple of 8 \(the least any run takes\), not 36"):
        TrainConfig(model=shallow, data=replace(TrainConfig().data, patch_size=36))


def test_the_json_round_trip_is_still_imported_from_config() -> None:
    """`from denoise_gan.config import TrainConfig, from_dict` (its ``__all__`` named them) failed once they moved
    to config_json.py: a script reading a run's config.json ended in an ImportError."""
    import denoise_gan.config as config

    for name in ("from_dict", "json_object", "to_dict", "to_json"):
        assert name in config.__all__ and hasattr(config, name), name
    assert config.from_dict(TrainConfig, config.to_dict(TrainConfig())) == TrainConfig()
