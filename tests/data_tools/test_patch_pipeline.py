"""Training crops: the crop-and-orientation pipeline is built once per patch size and re-seeded per crop."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from data_tools.datasets import augment_pipeline, reflect_padded, shared_pipeline


def test_a_reused_pipeline_draws_what_a_new_one_draws() -> None:
    rng = np.random.default_rng(0)
    photos = [rng.integers(0, 256, shape, np.uint8) for shape in ((40, 50, 3), (90, 70, 3), (20, 100, 1))]
    for i in range(60):  # in turn a photo to crop, one smaller than the patch (padded), a gray one
        seed = int(rng.integers(0, 2**31 - 1))
        shared, fresh = shared_pipeline(32), augment_pipeline(32)
        shared.set_random_seed(seed)
        fresh.set_random_seed(seed)
        photo = reflect_padded(photos[i % 3], 32)
        np.testing.assert_array_equal(shared(image=photo)["image"], fresh(image=photo)["image"])
    assert shared_pipeline(32) is shared_pipeline(32) and shared_pipeline(16) is not shared_pipeline(32)


@pytest.mark.parametrize("shape", [(20, 50, 3), (31, 17, 1), (25, 25), (5, 40, 3)])
def test_a_photo_smaller_than_the_patch_is_mirrored_out_as_before(shape: tuple[int, ...]) -> None:
    """The pipeline padded with albumentations' PadIfNeeded, which copied every photo for every patch: the
    padding done beforehand, only where needed, gives the same pixels (so a seed draws the crops it drew)."""
    import albumentations as A

    image = np.random.default_rng(1).integers(0, 65536, shape, np.uint16)
    before = A.PadIfNeeded(min_height=32, min_width=32, border_mode=4)(image=image)["image"]
    np.testing.assert_array_equal(reflect_padded(image, 32), before)
    large = np.zeros((40, 33, 3), np.uint8)
    assert reflect_padded(large, 32) is large


def test_each_thread_has_its_own_pipeline() -> None:
    """Seeding and calling are two steps: two threads sharing one pipeline could swap each other's seeds."""
    seen = []
    worker = threading.Thread(target=lambda: seen.append(shared_pipeline(32)))
    worker.start()
    worker.join()
    assert seen[0] is not shared_pipeline(32)


def test_one_clean_folder_splits_into_two_disjoint_domains(tmp_path) -> None:  # noqa: ANN001
    """The mission's rule: no image in both domains; and every image used in one of them."""
    from data_tools.datasets import build_domains
    from data_tools.images import write_image

    for i in range(5):
        write_image(tmp_path / f"{i}.png", np.full((8, 8, 3), 40 * i, np.uint8))
    clean, noisy, spec = build_domains(str(tmp_path), "", "gaussian:sigma=10")
    clean_ids, noisy_ids = ({int(p[0, 0, 0]) // 40 for p in half} for half in (clean, noisy))
    assert spec is not None and not clean_ids & noisy_ids and clean_ids | noisy_ids == set(range(5))
    assert (len(clean), len(noisy)) == (3, 2)


def test_every_crop_orientation_is_drawn() -> None:
    """Flips and quarter turns: the eight orientations of a patch each come up (a turn never drawn left the net
    seeing only half of them)."""
    photo = np.arange(32 * 32, dtype=np.uint16).reshape(32, 32, 1)
    pipeline = augment_pipeline(32)
    seen = set()
    for seed in range(200):
        pipeline.set_random_seed(seed)
        seen.add(pipeline(image=photo)["image"].tobytes())
    assert len(seen) == 8


def test_gray_patches_of_real_noisy_photos_keep_the_noise_s_strength() -> None:
    """`train --noisy DIR` turned a quarter of the real noisy patches gray by luma, whose mix of three channels'
    noise is a third weaker: the noisy domain F and D_noisy learnt from held noise weaker than the photos'."""
    from data_tools.datasets import PatchSampler

    rng = np.random.default_rng(0)
    noisy = np.clip(np.rint(128 + rng.normal(0, 25, (256, 256, 3))), 0, 255).astype(np.uint8)
    for real, expected in ((True, 25.0), (False, 25.0 * 0.668)):  # (clean photos: by luma, as before)
        sampler = PatchSampler([noisy], 64, 3, 0.5, noisy_photos=real)
        draw = np.random.default_rng(1)
        patches = [sampler.patch(draw) for _ in range(40)]
        gray = [float(p.std()) for p in patches if p.shape[2] == 1]
        assert gray and abs(np.mean(gray) - expected) < 1.5, (real, np.mean(gray))


def test_refine_reads_the_clean_half_train_used_and_holds_only_it(tmp_path) -> None:  # noqa: ANN001
    """refine of a --noise run decoded both halves and kept both for the run, twice the memory its one half
    needs; the half it keeps is still the one train used as clean, unreadable files and all."""
    from data_tools.datasets import build_domains
    from data_tools.images import write_image

    for i in range(7):
        write_image(tmp_path / f"{i}.png", np.full((40, 40, 3), 30 * i, np.uint8))
    (tmp_path / "3b.png").write_bytes(b"not an image")  # skipped: the halves alternate over readable images
    clean, noisy, spec = build_domains(str(tmp_path), "", "gaussian:sigma=10", 32)
    kept, none, no_spec = build_domains(str(tmp_path), "", "gaussian:sigma=10", 32, read_noisy=False)
    assert [int(p[0, 0, 0]) for p in kept] == [int(p[0, 0, 0]) for p in clean] == [0, 60, 120, 180]
    assert none == [] and no_spec is None and len(noisy) == 3 and spec is not None
    from data_tools.datasets import read_folder

    held = [pixels.size > 0 for _, pixels in read_folder(tmp_path, keep=lambda i: i % 2 == 0)]
    assert held == [True, False] * 3 + [True]
