"""PSNR/SSIM follow the published protocol exactly; folder evaluation fails loudly and names the file."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage.metrics import structural_similarity

from data_tools.images import read_image, write_image
from denoise_gan.errors import UserError
from denoise_gan.evaluation.metrics import (
    PROTOCOL,
    data_range_for,
    evaluate_folders,
    missing_text,
    psnr,
    ssim,
    to_y_channel,
    unpaired_text,
    write_results_csv,
    write_results_json,
)


def pattern(size: int = 48, channels: int = 3, seed: int = 0, dtype: type = np.uint8) -> np.ndarray:
    """A smooth random texture with a step edge (mid-range SSIM under noise, like a photo)."""
    rng = np.random.default_rng(seed)
    peak = np.iinfo(dtype).max
    x = cv2.GaussianBlur(rng.random((size, size, channels)), (0, 0), 2).reshape(size, size, channels)
    x = (x - x.min()) / (x.max() - x.min()) * 0.6 + 0.1
    x[:, size // 2:] += 0.25
    return np.rint(x * peak).astype(dtype)


def noisy_copy(img: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    peak = np.iinfo(img.dtype).max
    return np.clip(np.rint(img + rng.normal(0, sigma, img.shape)), 0, peak).astype(img.dtype)


# ---- PSNR ---------------------------------------------------------------------------------------

def test_psnr_of_a_constant_error_is_hand_computed() -> None:
    clean = np.full((16, 16, 3), 100, np.uint8)
    assert psnr(clean, clean + 5) == pytest.approx(10 * math.log10(255**2 / 25))  # 34.1514 dB
    assert psnr(clean, clean + 5) == pytest.approx(34.1514, abs=1e-4)


def test_psnr_averages_the_error_over_all_channels() -> None:
    clean = np.full((16, 16, 3), 100, np.uint8)
    pred = clean.copy()
    pred[..., 0] += 6  # MSE = 36 / 3 = 12 over all channels
    assert psnr(clean, pred) == pytest.approx(10 * math.log10(255**2 / 12))


def test_psnr_of_uint16_uses_65535() -> None:
    clean = np.full((16, 16, 1), 25700, np.uint16)
    assert data_range_for(np.uint16) == 65535
    assert psnr(clean, clean + 5 * 257) == pytest.approx(10 * math.log10(65535**2 / (5 * 257) ** 2))
    # the same relative error in 8 bits gives the same PSNR (255 * 257 == 65535)
    assert psnr(clean, clean + 5 * 257) == pytest.approx(psnr(np.full((16, 16), 100, np.uint8),
                                                              np.full((16, 16), 105, np.uint8)))


def test_identical_images_give_inf_psnr_and_ssim_one() -> None:
    img = pattern()
    assert psnr(img, img) == math.inf
    assert ssim(img, img) == pytest.approx(1.0)


def test_alpha_is_not_scored() -> None:
    img = pattern(channels=4)
    other_alpha = img.copy()
    other_alpha[..., 3] = 255 - other_alpha[..., 3]
    assert psnr(img, other_alpha) == math.inf
    assert ssim(img, other_alpha) == pytest.approx(1.0)


def test_mismatches_and_float_inputs_are_refused() -> None:
    """As the package's own one-line error (they were a bare TypeError or ValueError, and an empty pair nan)."""
    with pytest.raises(UserError, match="dtype"):
        psnr(np.zeros((16, 16), np.uint8), np.zeros((16, 16), np.uint16))
    with pytest.raises(UserError, match="shape"):
        psnr(np.zeros((16, 16), np.uint8), np.zeros((16, 17), np.uint8))
    with pytest.raises(UserError, match="uint8 or uint16"):
        psnr(np.zeros((16, 16), np.float32), np.zeros((16, 16), np.float32))
    with pytest.raises(UserError, match="11x11"):
        ssim(np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8))
    with pytest.raises(UserError, match="11x11"):
        ssim(np.zeros((10, 40), np.uint8), np.zeros((10, 40), np.uint8))
    smallest = np.arange(11 * 11, dtype=np.uint8).reshape(11, 11)  # one whole window: scored
    assert ssim(smallest, smallest) == pytest.approx(1.0)
    with pytest.raises(UserError, match="no pixels"):
        psnr(np.zeros((0, 5), np.uint8), np.zeros((0, 5), np.uint8))


def test_a_big_endian_16_bit_pair_scores_as_its_native_twin() -> None:
    """The byte order a TIFF was written in is not a bit depth: scored at 65535 like the native array."""
    clean = (np.random.default_rng(0).random((24, 24, 3)) * 65535).astype(np.uint16)
    pred = clean // 2
    big_clean, big_pred = clean.astype(">u2"), pred.astype(">u2")
    assert psnr(big_clean, big_pred) == psnr(clean, pred)
    assert psnr(clean, big_pred) == psnr(clean, pred)
    assert ssim(big_clean, big_pred) == ssim(clean, pred)
    assert psnr(big_clean, big_pred, y_channel=True) == psnr(clean, pred, y_channel=True)


def test_only_a_float_image_is_told_it_is_on_no_scale_and_a_list_is_one_line() -> None:
    with pytest.raises(UserError, match="scale"):
        psnr(np.zeros((16, 16), np.float64), np.zeros((16, 16), np.float64))
    for dtype in (np.int32, np.bool_):
        with pytest.raises(UserError, match="uint8 or uint16 images, got") as caught:
            psnr(np.zeros((16, 16), dtype), np.zeros((16, 16), dtype))
        assert "float" not in str(caught.value)
    with pytest.raises(UserError, match="the prediction is a list"):
        psnr(np.zeros((16, 16), np.uint8), [[0] * 16] * 16)

# ---- SSIM ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3])
def test_ssim_matches_skimage_with_the_protocol_parameters(channels: int) -> None:
    clean = pattern(channels=channels)
    pred = noisy_copy(clean, 20)
    expected = structural_similarity(
        clean.squeeze(-1) if channels == 1 else clean, pred.squeeze(-1) if channels == 1 else pred,
        gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255,
        channel_axis=None if channels == 1 else -1)
    assert ssim(clean, pred) == pytest.approx(expected, abs=1e-12)
    defaults = structural_similarity(clean, pred, channel_axis=-1)
    assert abs(ssim(clean, pred) - defaults) > 1e-3, "skimage's defaults are not the protocol"


def test_ssim_of_uint16_uses_65535_not_the_image_range() -> None:
    clean = (pattern(channels=1) // 4).astype(np.uint16) * 257  # values well below 65535
    pred = noisy_copy(clean, 5 * 257)
    expected = structural_similarity(clean[..., 0], pred[..., 0], gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False, data_range=65535)
    assert ssim(clean, pred) == pytest.approx(expected, abs=1e-12)
    inferred = structural_similarity(clean[..., 0], pred[..., 0], gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False,
                                     data_range=float(clean.max()) - float(clean.min()))
    assert abs(ssim(clean, pred) - inferred) > 1e-3


def test_ssim_is_lower_for_stronger_noise() -> None:
    clean = pattern()
    assert ssim(clean, noisy_copy(clean, 10)) > ssim(clean, noisy_copy(clean, 40))


# ---- Y channel ----------------------------------------------------------------------------------

def test_y_channel_is_bt601_by_hand() -> None:
    clean = np.zeros((16, 16, 3), np.uint8)
    clean[:] = (100, 150, 200)
    pred = clean.copy()
    pred[..., 0] = 110  # only red changes by 10
    y = 16 + (65.481 * 100 + 128.553 * 150 + 24.966 * 200) / 255
    assert to_y_channel(clean)[0, 0, 0] == pytest.approx(y)
    assert psnr(clean, pred, y_channel=True) == pytest.approx(10 * math.log10(255**2 / (65.481 * 10 / 255) ** 2))
    # on RGB the same error is spread over three channels
    assert psnr(clean, pred) == pytest.approx(10 * math.log10(255**2 / (100 / 3)))


def test_y_channel_of_uint16_is_scaled_back_to_65535() -> None:
    clean = np.zeros((16, 16, 3), np.uint16)
    clean[:] = (100 * 257, 150 * 257, 200 * 257)
    y8 = to_y_channel((clean // 257).astype(np.uint8))
    assert to_y_channel(clean)[0, 0, 0] == pytest.approx(y8[0, 0, 0] * 257)


def test_y_channel_of_gray_is_the_gray_channel() -> None:
    clean = pattern(channels=1)
    pred = noisy_copy(clean, 15)
    assert psnr(clean, pred, y_channel=True) == pytest.approx(psnr(clean, pred))
    assert ssim(clean, pred, y_channel=True) == pytest.approx(ssim(clean, pred))


# ---- folders and results files -------------------------------------------------------------------

@pytest.fixture()
def folders(tmp_path: Path) -> tuple[Path, Path]:
    clean_dir, pred_dir = tmp_path / "clean", tmp_path / "pred"
    for i, name in enumerate(["a", "b", "sub/c"]):
        img = pattern(size=24, seed=i)
        write_image(clean_dir / f"{name}.png", img)
        write_image(pred_dir / f"{name}.png", img if name == "b" else noisy_copy(img, 10, seed=i))
    return clean_dir, pred_dir


def test_folder_evaluation_pairs_by_relative_stem(folders: tuple[Path, Path]) -> None:
    clean_dir, pred_dir = folders
    result = evaluate_folders(clean_dir, pred_dir, y_channel=True)
    assert [r.name for r in result.images] == ["a", "b", "sub/c"]
    assert result.images[1].psnr == math.inf
    assert all(r.psnr_y is not None and r.ssim_y is not None for r in result.images)
    for name, score in (("a", result.images[0]), ("sub/c", result.images[2])):  # Y scores are the Y channel's
        clean = read_image(clean_dir / f"{name}.png").pixels
        pred = read_image(pred_dir / f"{name}.png").pixels
        assert score.psnr_y == psnr(clean, pred, y_channel=True) != score.psnr
        assert score.ssim_y == ssim(clean, pred, y_channel=True) != score.ssim
    finite = evaluate_folders(clean_dir, pred_dir).images[0]
    assert 25 < finite.psnr < 35 and finite.psnr_y is None


def test_folder_evaluation_with_a_prediction_suffix(folders: tuple[Path, Path], tmp_path: Path) -> None:
    clean_dir, pred_dir = folders
    renamed = tmp_path / "renamed"
    for path in pred_dir.rglob("*.png"):
        target = renamed / path.relative_to(pred_dir).with_name(f"{path.stem}_denoised.jpg")
        target.parent.mkdir(parents=True, exist_ok=True)
        # a PNG body under a .jpg name still decodes: pairing ignores the extension
        target.write_bytes(path.read_bytes())
    plain = evaluate_folders(clean_dir, pred_dir)
    suffixed = evaluate_folders(clean_dir, renamed, pred_suffix="_denoised")
    assert plain.images == suffixed.images
    # the suffix with its extension, or an extension alone ("no name ends in '.png'", of names that all did)
    assert evaluate_folders(clean_dir, renamed, pred_suffix="_denoised.jpg").images == plain.images
    assert evaluate_folders(clean_dir, pred_dir, pred_suffix=".png").images == plain.images
    doubled = tmp_path / "doubled"  # `denoise --suffix .png` writes a.png.png: the suffix names it as given
    for path in pred_dir.rglob("*.png"):
        target = doubled / path.relative_to(pred_dir).with_name(f"{path.name}.png")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    assert evaluate_folders(clean_dir, doubled, pred_suffix=".png").images == plain.images


def test_predictions_beside_their_clean_images_pair_by_the_suffix(folders: tuple[Path, Path],
                                                                 tmp_path: Path) -> None:
    """`denoise X -o X --suffix _dn` writes a_dn.png beside a.png; evaluated in place, each a_dn was also taken
    for a clean image without a prediction and each a for an unpaired prediction (exit 1)."""
    clean_dir, pred_dir = folders
    both = tmp_path / "both"
    shutil.copytree(clean_dir, both)
    for path in pred_dir.rglob("*.png"):
        shutil.copy(path, both / path.relative_to(pred_dir).with_name(f"{path.stem}_dn.png"))
    result = evaluate_folders(both, both, pred_suffix="_dn")
    assert result.images == evaluate_folders(clean_dir, pred_dir).images
    assert result.missing == () and result.unpaired == ()
    # a photo whose own name ends in the suffix is a clean image when no photo is named without it
    shutil.copy(both / "a.png", both / "c_dn.png")
    shutil.copy(both / "a_dn.png", both / "c_dn_dn.png")
    with pytest.raises(UserError, match="no image there is another's name plus the prediction suffix '_zz'"):
        evaluate_folders(both, both, pred_suffix="_zz")  # ("no image files found", of a folder full of them)
    with pytest.raises(UserError, match="no such folder"):
        evaluate_folders(tmp_path / "gone", tmp_path / "gone", pred_suffix="_dn")
    again = evaluate_folders(both, both, pred_suffix="_dn")
    assert sorted(s.name for s in again.images) == sorted([*(s.name for s in result.images), "c_dn"])
    assert again.missing == () and again.unpaired == ()


def test_missing_prediction_is_listed_and_the_rest_scored(folders: tuple[Path, Path]) -> None:
    clean_dir, pred_dir = folders
    full = evaluate_folders(clean_dir, pred_dir)
    (pred_dir / "sub" / "c.png").unlink()
    result = evaluate_folders(clean_dir, pred_dir)
    assert result.missing == ("sub/c",) and full.missing == ()
    assert result.images == full.images[:2]  # the others scored exactly as before
    assert missing_text(result, pred_dir) == (f"no prediction for 1 of 3 clean image(s) in {pred_dir} (sub/c.*); "
                                              "scored the other 2, the means are over those only")
    for path in pred_dir.rglob("*.png"):
        path.unlink()
    write_image(pred_dir / "elsewhere.png", pattern(size=24))
    with pytest.raises(UserError, match="no prediction in .* matches a clean image"):  # nothing to score
        evaluate_folders(clean_dir, pred_dir)


def test_missing_predictions_in_the_results_json(folders: tuple[Path, Path], tmp_path: Path) -> None:
    clean_dir, pred_dir = folders
    (pred_dir / "a.png").unlink()
    result = evaluate_folders(clean_dir, pred_dir)
    write_results_json(result, tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["missing"] == ["a"] and [r["name"] for r in data["images"]] == ["b", "sub/c"]
    assert "missing" in data["protocol"]["pairing"]


def test_an_extra_prediction_is_listed_and_the_rest_scored(folders: tuple[Path, Path], tmp_path: Path) -> None:
    clean_dir, pred_dir = folders
    full = evaluate_folders(clean_dir, pred_dir)
    write_image(pred_dir / "sub" / "stray.png", pattern(size=24))
    result = evaluate_folders(clean_dir, pred_dir)
    assert result.images == full.images and result.unpaired == ("sub/stray.png",)
    assert "sub/stray.png" in unpaired_text(result, clean_dir)
    write_results_json(result, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["unpaired"] == ["sub/stray.png"]


def test_shape_mismatch_names_the_file(folders: tuple[Path, Path]) -> None:
    clean_dir, pred_dir = folders
    write_image(pred_dir / "a.png", pattern(size=20))
    failed = dict(evaluate_folders(clean_dir, pred_dir).failed)  # listed; the other pairs are still scored
    assert re.search(r"a\.png: shape", failed["a"])


def test_dtype_mismatch_names_the_file(folders: tuple[Path, Path]) -> None:
    clean_dir, pred_dir = folders
    write_image(pred_dir / "b.png", pattern(size=24, dtype=np.uint16))
    assert re.search(r"b\.png: dtype uint16", dict(evaluate_folders(clean_dir, pred_dir).failed)["b"])


def test_a_shared_name_pairs_whole_and_empty_folders_are_errors(folders: tuple[Path, Path], tmp_path: Path) -> None:
    clean_dir, pred_dir = folders
    write_image(pred_dir / "a.tif", pattern(size=24))  # beside a.png: a.png pairs a.png, a.tif nothing
    result = evaluate_folders(clean_dir, pred_dir)
    assert "a.png" in [s.name for s in result.images] and "a.tif" in result.unpaired
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no image files"):
        evaluate_folders(clean_dir, tmp_path / "empty")
    with pytest.raises(UserError, match="no such folder"):
        evaluate_folders(clean_dir, tmp_path / "missing")


def test_an_image_named_mean_is_not_read_as_the_csv_summary_row(tmp_path: Path) -> None:
    img = pattern()
    for name in ("mean", "b"):
        write_image(tmp_path / "clean" / f"{name}.png", img)
        write_image(tmp_path / "pred" / f"{name}.png", noisy_copy(img, 10 if name == "mean" else 30))
    result = evaluate_folders(tmp_path / "clean", tmp_path / "pred")
    write_results_csv(result, tmp_path / "r.csv")
    rows = list(csv.reader((tmp_path / "r.csv").open()))
    assert [r[0] for r in rows[1:]] == ["b", "./mean", "mean"]
    assert float(rows[3][1]) == pytest.approx(result.mean["psnr"], abs=1e-6) != float(rows[2][1])
    from rich.console import Console

    from denoise_gan.cli.render import evaluation_table

    console = Console(width=100, record=True)
    console.print(evaluation_table(result, "t"))
    shown_table = console.export_text()
    assert "│ ./mean │" in shown_table and shown_table.count("│ mean ") == 1  # one summary row, as in the CSV


def test_an_image_named_like_a_formula_is_no_formula_in_the_csv(tmp_path: Path) -> None:
    """A file named ``=HYPERLINK(1).png`` was written as the cell ``=HYPERLINK(1)``, which a spreadsheet runs."""
    img = pattern()
    names = ("=HYPERLINK(1)", "+1", "-2+3", "@SUM(1)", "plain-name")
    for name in names:
        write_image(tmp_path / "clean" / f"{name}.png", img)
        write_image(tmp_path / "pred" / f"{name}.png", noisy_copy(img, 10))
    write_results_csv(evaluate_folders(tmp_path / "clean", tmp_path / "pred"), tmp_path / "r.csv")
    cells = {r[0] for r in list(csv.reader((tmp_path / "r.csv").open()))[1:-1]}
    assert cells == {"./=HYPERLINK(1)", "./+1", "./-2+3", "./@SUM(1)", "plain-name"}


def test_results_json_and_csv(folders: tuple[Path, Path], tmp_path: Path) -> None:
    clean_dir, pred_dir = folders
    result = evaluate_folders(clean_dir, pred_dir)
    write_results_json(result, tmp_path / "out" / "r.json")
    write_results_csv(result, tmp_path / "out" / "r.csv")
    data = json.loads((tmp_path / "out" / "r.json").read_text())
    assert set(data) == {"protocol", "images", "mean"}
    assert data["protocol"]["ssim"] == PROTOCOL["ssim"]
    assert data["protocol"]["y_channel_scored"] is False
    assert [set(row) for row in data["images"]] == [{"name", "psnr", "ssim"}] * 3
    assert data["images"][1]["psnr"] is None  # identical pair: infinite PSNR is not valid JSON
    assert data["mean"]["psnr"] is None
    assert data["images"][0]["psnr"] == pytest.approx(result.images[0].psnr)
    assert data["mean"]["ssim"] == pytest.approx(np.mean([r.ssim for r in result.images]))
    rows = list(csv.reader((tmp_path / "out" / "r.csv").open()))
    assert rows[0] == ["name", "psnr", "ssim"]
    assert [r[0] for r in rows[1:]] == ["a", "b", "sub/c", "mean"]
    assert float(rows[1][1]) == pytest.approx(result.images[0].psnr, abs=1e-6)
    assert rows[2][1] == "inf"


def test_a_pair_too_small_for_ssim_is_named_and_the_csv_mean_is_finite(tmp_path: Path) -> None:
    """The failed pair's reason names its image (evaluate's line lists reasons only); the CSV's mean row is the
    mean over finite scores, as the tables show, not inf from one identical pair."""
    from denoise_gan.evaluation.metrics import Evaluation, ImageScore, score_pair, write_results_csv

    with pytest.raises(UserError, match=r"^tiny: SSIM needs"):
        score_pair(np.zeros((8, 8, 3), np.uint8), np.ones((8, 8, 3), np.uint8), "tiny")
    both = Evaluation((ImageScore("a", math.inf, 1.0), ImageScore("b", 30.0, 0.9)), False)
    write_results_csv(both, tmp_path / "scores.csv")
    assert (tmp_path / "scores.csv").read_text().splitlines()[-1] == "mean,30.000000,0.950000"


def test_a_name_holding_a_carriage_return_stays_one_cell(tmp_path: Path) -> None:
    """Written unquoted, "x\r=1+2.png" was two rows to pandas and a spreadsheet, the second a formula cell."""
    import csv

    from denoise_gan.evaluation.benchmark.results import csv_text
    from denoise_gan.evaluation.metrics import Evaluation, ImageScore, write_results_csv

    name = "x\r=1+2.png"
    write_results_csv(Evaluation((ImageScore(name, 30.0, 0.9),), False), tmp_path / "scores.csv")
    with open(tmp_path / "scores.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert [r[0] for r in rows] == ["name", name, "mean"]
    row = {"image": name, "noise": "n", "method": "m", "psnr": 30.0, "ssim": 0.9, "seconds": 0.0, "mp_per_s": None,
           "sigma_used": None}
    assert [r[0] for r in csv.reader(io.StringIO(csv_text({"rows": [row]}), newline=""))] == ["image", name]


def test_five_missing_predictions_are_all_named_without_a_first_five(tmp_path: Path) -> None:
    from denoise_gan.evaluation.metrics import Evaluation, ImageScore

    missing = ("a", "b", "c", "d", "e")
    text = missing_text(Evaluation((ImageScore("f", 30.0, 0.9),), False, missing=missing), tmp_path)
    assert "(a.*, b.*, c.*, d.*, e.*)" in text and "first" not in text


def test_a_half_of_an_unfinished_set_is_refused_as_benchmark_refuses_the_set(tmp_path: Path) -> None:
    """A synth --overwrite cut short leaves old noise beside new: evaluate scored the blend, exit 0, and gave its
    mean as the set's."""
    from data_tools.synth import synth
    from helpers import cli, one_line_error

    rng = np.random.default_rng(0)
    for i in range(2):
        write_image(tmp_path / "photos" / f"{i}.png", rng.integers(0, 256, (24, 24, 3), np.uint8))
    synth(tmp_path / "photos", tmp_path / "set", "gaussian:sigma=10", 1)
    assert cli("evaluate", "--clean", tmp_path / "set" / "clean", "--pred", tmp_path / "set" / "noisy").exit_code == 0
    manifest = json.loads((tmp_path / "set" / "manifest.json").read_text())
    (tmp_path / "set" / "manifest.json").write_text(json.dumps({**manifest, "complete": False}))
    one_line_error(cli("evaluate", "--clean", tmp_path / "set" / "clean", "--pred", tmp_path / "set" / "noisy"),
                   "--clean", "an incomplete set (its synth run was cut short)")
    shutil.copytree(tmp_path / "set" / "clean", tmp_path / "mine")
    with pytest.raises(UserError, match="^--pred .*set: an incomplete set"):
        evaluate_folders(tmp_path / "mine", tmp_path / "set" / "noisy")


def test_a_channels_first_array_is_refused_with_the_turn_that_fixes_it() -> None:
    """A tensor's .numpy() (CxHxW) was scored channel by channel: y_channel=True gave the RGB PSNR, an RGBA's
    alpha was scored, and SSIM called a 96x96 image too small."""
    from denoise_gan.evaluation.metrics import psnr, ssim

    rng = np.random.default_rng(0)
    for channels in (3, 4):
        chw = rng.integers(0, 256, (channels, 96, 96), dtype=np.uint8)
        for score in (psnr, ssim):
            turn = r"; it looks CxHxW: pass \.transpose\(1, 2, 0\)"
            with pytest.raises(UserError, match=rf"got shape \({channels}, 96, 96\){turn}"):
                score(chw, chw, y_channel=True)
    five = rng.integers(0, 256, (16, 16, 5), dtype=np.uint8)
    with pytest.raises(UserError, match="HxWxC image \\(C 1-4\\)"):
        psnr(five, five)
