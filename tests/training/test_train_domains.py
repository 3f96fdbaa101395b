"""What each training domain is made of: the clean patches from --clean (or its clean half), the noisy ones from
--noisy (or the other half, with the --noise spec applied), every item its own draw, at any bit depth. A run
that mixed them up would train a model that denoises nothing, and finish without a word."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from data_tools.datasets import PairedPatches, PatchSampler, UnpairedPatches, to_tensor
from data_tools.images import write_image
from data_tools.noise import parse_noise_spec
from denoise_gan.training.cyclegan import make_dataset
from helpers import texture, tiny_train_config

pytestmark = pytest.mark.usefixtures("losses_png_unrendered")  # trains; never looks at that picture


CLEAN_VALUE, NOISY_VALUE = 40, 200


def _flat(folder: Path, names: list[str], value: int) -> None:
    for name in names:
        write_image(folder / f"{name}.png", np.full((40, 48, 3), value, np.uint8))


def _values(tensors: list[torch.Tensor]) -> set[float]:
    return {round(float(t.mean()) * 255) for t in tensors}


def test_two_folders_give_each_domain_its_own_photos(tmp_path: Path) -> None:
    _flat(tmp_path / "clean", ["a", "b"], CLEAN_VALUE)
    _flat(tmp_path / "noisy", ["c", "d"], NOISY_VALUE)
    cfg = tiny_train_config(tmp_path / "clean")
    cfg = replace(cfg, data=replace(cfg.data, noisy_dir=str(tmp_path / "noisy"), noise="", patch_size=32))
    items = [make_dataset(cfg)[i] for i in range(8)]
    assert _values([item["clean"] for item in items]) == {CLEAN_VALUE}
    assert _values([item["noisy"] for item in items]) == {NOISY_VALUE}
    assert all(item["noisy"].unique().numel() == 1 for item in items)  # real noisy photos: no noise added to them


def test_one_folder_and_a_spec_noise_the_other_half_alone(tmp_path: Path) -> None:
    """The halves alternate in name order: a and c clean, b and d the noisy domain, under the spec's noise."""
    _flat(tmp_path / "photos", ["a", "c"], CLEAN_VALUE)
    _flat(tmp_path / "photos", ["b", "d"], NOISY_VALUE)
    cfg = tiny_train_config(tmp_path / "photos")
    cfg = replace(cfg, data=replace(cfg.data, noise="gaussian:sigma=10", patch_size=32))
    items = [make_dataset(cfg)[i] for i in range(8)]
    assert all(item["clean"].unique().numel() == 1 for item in items)
    assert _values([item["clean"] for item in items]) == {CLEAN_VALUE}
    assert _values([item["noisy"] for item in items]) <= {NOISY_VALUE - 1, NOISY_VALUE, NOISY_VALUE + 1}
    assert all(8 < 255 * float(item["noisy"].std()) < 12 for item in items)  # σ 10 on the 0-255 scale


def test_every_item_is_its_own_draw() -> None:
    """Item i is a function of (seed, i): the same index the same patches, another index others (every step
    trained on one patch pair when the index was dropped)."""
    photos = [texture((64, 64, 3), np.uint8, seed) for seed in range(3)]
    spec = parse_noise_spec("gaussian:sigma=10")
    unpaired = UnpairedPatches(PatchSampler(photos, 16, 3, 0.0), PatchSampler(photos, 16, 3, 0.0, spec), seed=0)
    paired = PairedPatches(PatchSampler(photos, 16, 3, 0.0, spec), seed=0)
    for dataset in (unpaired, paired):
        first, again, second = dataset[0], dataset[0], dataset[1]
        for key in ("clean", "noisy"):
            assert torch.equal(first[key], again[key]) and not torch.equal(first[key], second[key]), key


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_a_16_bit_photo_trains_on_the_scale_of_its_8_bit_twin(dtype: type) -> None:
    """Patches are on [0, 1] at any bit depth: a 16-bit photo read as 0-255 fed values up to 257."""
    eight = texture((32, 32, 3), np.uint8, 0)
    photo = eight if dtype == np.uint8 else eight.astype(np.uint16) * 257
    assert torch.equal(to_tensor(photo), to_tensor(eight))
    patch = PatchSampler([photo], 16, 3, 0.0)(np.random.default_rng(0))
    assert 0.0 <= float(patch.min()) and float(patch.max()) <= 1.0
    assert torch.equal(patch, PatchSampler([eight], 16, 3, 0.0)(np.random.default_rng(0)))


def test_adapts_noise_phase_learns_the_users_noisy_photos_and_its_denoiser_the_clean_pool() -> None:
    """Swapped, F learnt to turn the camera's photos into the clean pool's look and G to keep their noise."""
    from denoise_gan.config import AdaptConfig
    from denoise_gan.training.adapt_plan import AdaptData

    flat = {value: [np.full((40, 48, 3), value, np.uint8)] for value in (CLEAN_VALUE, NOISY_VALUE)}
    data = AdaptData(clean=flat[CLEAN_VALUE], noisy=flat[NOISY_VALUE])
    cfg = AdaptConfig(patch_size=32)
    noise_items = [data.noise_dataset(cfg, 3)[i] for i in range(4)]
    assert _values([item["clean"] for item in noise_items]) == {CLEAN_VALUE}
    assert _values([item["noisy"] for item in noise_items]) == {NOISY_VALUE}
    assert _values([data.refine_dataset(cfg, 3)[i]["clean"] for i in range(4)]) == {CLEAN_VALUE}


def test_a_supervised_pair_is_one_crop_with_and_without_its_noise() -> None:
    """refine's pairs: the noisy patch is its clean patch plus the spec's noise (and its level map is of that
    patch), never another crop's."""
    photos = [texture((64, 64, 3), np.uint8, seed) for seed in range(3)]
    dataset = PairedPatches(PatchSampler(photos, 32, 3, 0.0, parse_noise_spec("gaussian:sigma=10")), seed=0)
    for i in range(4):
        item = dataset[i]
        residual = 255 * (item["noisy"] - item["clean"])
        assert abs(float(residual.mean())) < 1.5 and 8 < float(residual.std()) < 12
        assert torch.allclose(item["level"], torch.full_like(item["level"], 10 / 255))


def test_one_photo_and_a_spec_is_refused_as_too_few_to_split(tmp_path: Path) -> None:
    """Not "no readable images" (of its empty noisy half) for a folder that plainly holds one."""
    from data_tools.datasets import build_domains
    from data_tools.errors import DataError

    _flat(tmp_path / "one", ["a"], CLEAN_VALUE)
    with pytest.raises(DataError, match="need at least 2 images to split into two disjoint domains"):
        build_domains(str(tmp_path / "one"), "", "gaussian:sigma=10", 32)


def test_a_folders_images_leave_out_those_under_the_output_folder_inside_it(tmp_path: Path) -> None:
    """adapt's -o may lie inside --noisy: its own PNG reports (the noise-fit plot, the before/after strip) would
    be read as camera photos on a rerun or resume, and their "noise" learnt."""
    from data_tools.datasets import read_folder

    _flat(tmp_path / "shots", ["a", "b"], NOISY_VALUE)
    _flat(tmp_path / "shots" / "adapted", ["noise_fit", "before_after"], CLEAN_VALUE)
    read = read_folder(tmp_path / "shots", exclude=tmp_path / "shots" / "adapted")
    assert sorted(path.name for path, _ in read) == ["a.png", "b.png"]


def test_the_gray_share_reaches_each_phases_patches(tmp_path: Path) -> None:
    """--gray-fraction of train and of adapt's denoiser phase is the share their samplers turn gray (ignored, a
    run took its default without a word); adapt's noise phase keeps every patch in colour (F learns colour noise)."""
    from denoise_gan.config import AdaptConfig
    from denoise_gan.training.adapt_plan import AdaptData

    _flat(tmp_path / "photos", ["a", "b"], CLEAN_VALUE)
    cfg = tiny_train_config(tmp_path / "photos")
    dataset = make_dataset(replace(cfg, data=replace(cfg.data, gray_fraction=0.6)))
    assert dataset.clean.gray_fraction == dataset.noisy.gray_fraction == 0.6
    photos = AdaptData(clean=[np.zeros((40, 40, 3), np.uint8)], noisy=[np.zeros((40, 40, 3), np.uint8)])
    adapt_cfg = AdaptConfig(patch_size=32, gray_fraction=0.35)
    assert photos.refine_dataset(adapt_cfg, 3).sampler.gray_fraction == 0.35
    noise_phase = photos.noise_dataset(adapt_cfg, 3)
    assert noise_phase.clean.gray_fraction == noise_phase.noisy.gray_fraction == 0.0


def test_the_reports_crops_keep_their_colour() -> None:
    """noise-fit's and adapt's before/after crops are compared in colour: a gray share there would show gray
    crops of colour photos."""
    from data_tools.datasets import random_crops

    red = np.zeros((48, 48, 3), np.uint8)
    red[..., 0] = 200
    crops = random_crops([red], seed=0, channels=3, side=16, count=16)
    assert all(int(crop[..., 0].min()) == 200 and int(crop[..., 1:].max()) == 0 for crop in crops)


def test_a_synth_set_half_being_rewritten_or_cut_short_is_not_trained_on(tmp_path: Path) -> None:
    """train --noisy SET/noisy while `synth --overwrite` rewrote SET read 790 photos of the old noise and 710 of the
    new, and trained on the blend without a word. A set a synth is writing now is refused as busy (exit 1: the
    same command later passes), one a cut-short synth left as incomplete; a synth into a set being read waits."""
    import json

    from data_tools.atomic_files import FolderBusyError
    from data_tools.folder_lock import holding_folder
    from data_tools.synth import synth
    from denoise_gan.errors import UserError
    from helpers import cli, one_line_error

    _flat(tmp_path / "photos", ["a", "b", "c", "d"], CLEAN_VALUE)
    synth(tmp_path / "photos", tmp_path / "set", "gaussian:sigma=25", seed=1)
    _flat(tmp_path / "clean", ["e", "f"], CLEAN_VALUE)
    cfg = tiny_train_config(tmp_path / "clean")
    cfg = replace(cfg, data=replace(cfg.data, noisy_dir=str(tmp_path / "set" / "noisy"), noise="", patch_size=32))
    assert make_dataset(cfg)[0]["noisy"].shape[0] == 3  # a whole set is read
    manifest = tmp_path / "set" / "manifest.json"
    record = json.loads(manifest.read_text())
    record["complete"] = False  # as a synth writing it now keeps it, and as one cut short leaves it
    manifest.write_text(json.dumps(record))
    flags = ("--steps", "2", "--generator", "unet", "--width", "4", "--depth", "1", "--patch-size", "32", "--workers",
             "0", "--device", "cpu")
    with holding_folder(tmp_path / "set", "set"):  # a synth writing it now
        with pytest.raises(FolderBusyError, match="another process is writing this set now"):
            make_dataset(cfg)
        one_line_error(cli("train", "--clean", tmp_path / "clean", "--noisy", tmp_path / "set" / "noisy", "-o",
                           tmp_path / "run", *flags), "another process is writing this set now", code=1)
        one_line_error(cli("train", "--clean", tmp_path / "clean", "--noise", "gaussian:sigma=25", "--val",
                           tmp_path / "set", "-o", tmp_path / "run", *flags),
                       "another process is writing this set now", code=1)
    with pytest.raises(UserError, match="an incomplete set \\(its synth run was cut short\\)"):
        make_dataset(cfg)
