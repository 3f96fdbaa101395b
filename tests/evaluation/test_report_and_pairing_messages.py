"""What a user reads: evaluate's message when no prediction pairs (the names looked for, the --pred-suffix hint),
the benchmark report's crop file names (readable, still collision-free) and its time axis (plain tick labels)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from data_tools.images import write_image
from denoise_gan.errors import UserError
from denoise_gan.evaluation.metrics import evaluate_folders, missing_text
from denoise_gan.evaluation.report_crops import crop_relpath, legacy_slug, slug
from denoise_gan.evaluation.report_plots import psnr_vs_time_figure
from helpers import cli, one_line_error


@pytest.fixture()
def suffixed(tmp_path: Path) -> tuple[Path, Path]:
    """Clean a/b/sub/c and predictions named as `denoise --suffix _denoised` writes them."""
    clean, pred = tmp_path / "clean", tmp_path / "pred"
    rng = np.random.default_rng(0)
    for name in ("a", "b", "sub/c"):
        img = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
        write_image(clean / f"{name}.png", img)
        write_image(pred / f"{name}_denoised.png", img)
    return clean, pred


def test_no_matching_prediction_names_what_was_looked_for_and_the_suffix(suffixed: tuple[Path, Path]) -> None:
    clean, pred = suffixed
    with pytest.raises(UserError) as info:
        evaluate_folders(clean, pred)
    message = str(info.value)
    assert "looked for a.*, b.*, sub/c.*" in message and "a_denoised.png" in message
    assert message.endswith("add --pred-suffix _denoised") and "\n" not in message
    assert len(evaluate_folders(clean, pred, pred_suffix="_denoised").images) == 3  # the hint works


def test_no_match_without_a_common_suffix_still_hints_the_option(suffixed: tuple[Path, Path]) -> None:
    clean, pred = suffixed
    (pred / "a_denoised.png").rename(pred / "a_other.png")
    with pytest.raises(UserError, match=r"looked for .*give it with --pred-suffix$"):
        evaluate_folders(clean, pred)


def test_one_missing_prediction_is_named_and_the_others_scored(suffixed: tuple[Path, Path]) -> None:
    clean, pred = suffixed
    for p in pred.rglob("*_denoised.png"):
        p.rename(p.with_name(p.name.replace("_denoised", "")))
    (pred / "b.png").unlink()
    result = evaluate_folders(clean, pred)
    assert result.missing == ("b",) and [s.name for s in result.images] == ["a", "sub/c"]
    assert missing_text(result, pred).startswith(f"no prediction for 1 of 3 clean image(s) in {pred} (b.*)")


def test_some_predictions_under_other_names_still_get_the_suffix_hint(suffixed: tuple[Path, Path]) -> None:
    clean, pred = suffixed
    (pred / "a_denoised.png").rename(pred / "a.png")  # one renamed by hand, the others as denoise wrote them
    with pytest.raises(UserError, match=r"add --pred-suffix _denoised$"):
        evaluate_folders(clean, pred)


def test_one_stray_suffixed_file_beside_plainly_named_predictions_is_listed(suffixed: tuple[Path, Path]) -> None:
    """a.png and c.png pair, b_x.png does not: the run was refused with "add --pred-suffix _x", which un-paired
    the two good predictions. Now they are scored, b is missing and b_x.png unpaired."""
    clean, pred = suffixed
    for p in pred.rglob("*_denoised.png"):
        p.rename(p.with_name(p.name.replace("_denoised", "_x" if p.stem.startswith("b") else "")))
    result = evaluate_folders(clean, pred)
    assert [s.name for s in result.images] == ["a", "sub/c"] and result.missing == ("b",)
    assert result.unpaired == ("b_x.png",)


def test_as_many_suffixed_predictions_as_plain_ones_still_get_the_suffix_hint(suffixed: tuple[Path, Path]) -> None:
    """One plain name and one with the suffix (c's prediction not made yet): the suffix is as likely the rule, so the
    run stops with the hint rather than scoring a alone."""
    clean, pred = suffixed
    (pred / "a_denoised.png").rename(pred / "a.png")
    (pred / "sub" / "c_denoised.png").unlink()
    with pytest.raises(UserError, match=r"add --pred-suffix _denoised$"):
        evaluate_folders(clean, pred)


def test_one_extra_file_is_not_read_as_a_missing_name_with_a_suffix(tmp_path: Path) -> None:
    """extra.png beside a missing e is an extra file, not e with the suffix "xtra"."""
    clean, pred = tmp_path / "clean", tmp_path / "pred"
    img = np.zeros((24, 24, 3), np.uint8)
    for name in ("a", "e"):
        write_image(clean / f"{name}.png", img)
    for name in ("a", "extra"):
        write_image(pred / f"{name}.png", img)
    result = evaluate_folders(clean, pred)
    assert [s.name for s in result.images] == ["a"] and result.missing == ("e",) and result.unpaired == ("extra.png",)
    assert "--pred-suffix" not in missing_text(result, pred)


def test_predictions_for_part_of_the_set_still_get_the_suffix_hint(suffixed: tuple[Path, Path]) -> None:
    clean, pred = suffixed
    for name in ("b_denoised.png", "sub/c_denoised.png"):
        (pred / name).unlink()
    (pred / "a_denoised.png").rename(pred / "a_dn.png")  # one photo denoised so far, under another suffix
    with pytest.raises(UserError, match=r"\(found a_dn.png\).*add --pred-suffix _dn$"):
        evaluate_folders(clean, pred)


def test_a_suffix_naming_the_extension_is_looked_for_as_matched(suffixed: tuple[Path, Path]) -> None:
    """With --pred-suffix _denoised.png the messages asked for b_denoised.png.*, a name that is never paired."""
    clean, pred = suffixed
    (pred / "b_denoised.png").unlink()
    result = evaluate_folders(clean, pred, pred_suffix="_denoised.png")
    assert "(b_denoised.*)" in missing_text(result, pred, "_denoised.png")
    for name in ("a_denoised.png", "sub/c_denoised.png"):  # a second run's files: a_v2_denoised.png
        (pred / name).rename(pred / name.replace("_denoised", "_v2_denoised"))
    with pytest.raises(UserError) as info:
        evaluate_folders(clean, pred, pred_suffix="_denoised.png")
    assert "looked for a_denoised.*, b_denoised.*" in str(info.value)
    # the hint is the suffix the names carry (it read _denoised.png_v2, the guess after the suffix given)
    assert str(info.value).endswith("add --pred-suffix _v2_denoised")
    assert len(evaluate_folders(clean, pred, pred_suffix="_v2_denoised").images) == 2


def test_evaluate_command_hint_is_one_line(suffixed: tuple[Path, Path]) -> None:
    clean, pred = suffixed
    one_line_error(cli("evaluate", "--clean", clean, "--pred", pred), "looked for", "--pred-suffix _denoised")


# ---- benchmark report ----------------------------------------------------------------------------

LABELS = ["gaussian:sigma=25", "gaussian_sigma=25", "poisson-gaussian:peak=30,sigma=5",
          "gaussian:sigma=15+jpeg:quality=80", "gaussian:sigma=5-50 | poisson:peak=30", "astronaut.png",
          "sub/astronaut.png", "sub_astronaut.png", "my photo.jpg", "model", "model:G", "model_G",
          "G@strength=0.75", "refined/G", "refined_G", ".hidden", "x" * 80, "x" * 81, "a-b", "a b", "a:b"]


def test_a_float_prediction_against_8_bit_clean_names_its_float_samples(tmp_path: Path) -> None:
    import tifffile

    clean = np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    write_image(tmp_path / "clean" / "a.png", clean)
    (tmp_path / "pred").mkdir()
    tifffile.imwrite(tmp_path / "pred" / "a.tif", clean.astype(np.float32) / 255, photometric="rgb")
    scored_none(cli("evaluate", "--clean", tmp_path / "clean", "--pred", tmp_path / "pred"),
                "float32 samples", "read as 16-bit", "does not match the clean image's dtype uint8")
    write_image(tmp_path / "pred12" / "a.png", (clean // 16).astype(np.uint16))  # a note that says no type
    result = cli("evaluate", "--clean", tmp_path / "clean", "--pred", tmp_path / "pred12")
    scored_none(result, "dtype uint16 does not match the clean image's dtype uint8")
    assert "12-bit" not in result.output


def scored_none(result: object, *needles: str) -> None:
    """A lone pair that cannot be scored: exit 1 (2 is for bad arguments), its reason in one error line."""
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert result.exit_code == 1 and len(lines) == 1 and "Traceback" not in result.output, result.output
    assert lines[0].startswith("error: could not score 1 of 1 pair(s)") and lines[0].endswith("nothing was scored")
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_crop_names_are_readable() -> None:
    path = crop_relpath("gaussian:sigma=25", "astronaut.png", "bm3d")
    assert path == "crops/gaussian_sigma=25/astronaut.png/bm3d.png"
    assert slug("poisson-gaussian:peak=30,sigma=5") == "poisson-gaussian_peak=30,sigma=5"
    assert slug("G@strength=0.75") == "G@strength=0.75"
    assert slug("gaussian:sigma=5-50 | poisson:peak=30").startswith("gaussian_sigma=5-50_poisson_peak=30-")


def test_crop_names_are_collision_free_and_safe() -> None:
    labels = [*LABELS, "<x>", slug("<x>")]  # a file named as another label's hashed slug (x-79340245) shared its crops
    names = [slug(label) for label in labels]
    assert len(set(names)) == len(names), [(a, b) for a, b in itertools.combinations(labels, 2) if slug(a) == slug(b)]
    for name in names:
        assert name and not name.startswith(".") and len(name) <= 60
        assert not set(name) & set('/\\:*?"<>| ')  # valid on Windows and POSIX alike


def test_time_axis_has_plain_tick_labels() -> None:
    summary = [{"method": m, "noise": "n", "psnr": p, "mp_per_s": s}
               for m, p, s in (("bm3d", 30.0, 0.01), ("nlm", 28.0, 0.8), ("model", 29.0, 1.7))]
    fig = psnr_vs_time_figure(summary, ["n"], ["noisy", "bm3d", "nlm", "model"])
    fig.canvas.draw()
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    lo, hi = ax.get_xlim()
    shown = [t for t, v in zip(ax.get_xticklabels(), ax.get_xticks()) if lo <= v <= hi and t.get_text()]
    assert len(shown) >= 2, labels
    assert all("$" not in s and "^" not in s and "e" not in s for s in labels), labels  # no 10^x, no mathtext
    assert {"1", "10"} <= set(labels), labels


def test_a_resumed_report_still_finds_crops_written_under_the_old_hashed_names(tmp_path: Path) -> None:
    from denoise_gan.evaluation import report

    old = crop_relpath("gaussian:sigma=25", "a.png", "bm3d", legacy_slug)
    (tmp_path / old).parent.mkdir(parents=True)
    (tmp_path / old).write_bytes(b"\x89PNG\r\n\x1a\n")
    html = report._figure_html(tmp_path, crop_relpath("gaussian:sigma=25", "a.png", "bm3d"), "bm3d", False, old)
    assert "crop missing" not in html and report._data_uri((tmp_path / old).read_bytes()) in html


def test_predictions_inside_the_clean_folder_are_not_clean_images_nor_the_other_way_round(tmp_path: Path) -> None:
    """`evaluate --clean nest --pred nest/pred` took pred/a.png for a clean image with no prediction."""
    image = np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    write_image(tmp_path / "nest" / "a.png", image)
    write_image(tmp_path / "nest" / "pred" / "a.png", image)
    result = evaluate_folders(tmp_path / "nest", tmp_path / "nest" / "pred")
    assert [row.name for row in result.images] == ["a"] and result.missing == ()
    with pytest.raises(UserError, match="are the same folder .*: every image would be scored against itself"):
        evaluate_folders(tmp_path / "nest", tmp_path / "nest")  # it scored each image against itself: a perfect run
    (tmp_path / "link").symlink_to(tmp_path / "nest", target_is_directory=True)
    with pytest.raises(UserError, match="are the same folder"):
        evaluate_folders(tmp_path / "nest", tmp_path / "link")
    write_image(tmp_path / "outer" / "a.png", image)  # the other way round: the clean images inside the predictions'
    write_image(tmp_path / "outer" / "clean" / "a.png", image)
    result = evaluate_folders(tmp_path / "outer" / "clean", tmp_path / "outer")
    assert [row.name for row in result.images] == ["a"] and result.unpaired == ()  # was clean/a.png, exit 1
    with pytest.raises(UserError, match="a.png: not a folder"):  # was "the same folder", of a file
        evaluate_folders(tmp_path / "nest" / "a.png", tmp_path / "nest" / "a.png")


def test_the_all_identical_caption_says_scored_when_a_pair_failed(tmp_path: Path) -> None:
    """"every prediction equals its clean image" stood above "could not score 1 of 2 pair(s)"."""
    image = np.random.default_rng(1).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    for folder in ("clean", "pred"):
        write_image(tmp_path / folder / "a.png", image)
    write_image(tmp_path / "clean" / "b.png", image)
    write_image(tmp_path / "pred" / "b.png", image[:20])
    result = cli("evaluate", "--clean", tmp_path / "clean", "--pred", tmp_path / "pred")
    said = " ".join(result.output.split())
    assert result.exit_code == 1 and "every scored prediction equals its clean image" in said, said


def test_a_suffix_may_name_the_extension_and_an_unsuffixed_prediction_is_listed(suffixed: tuple[Path, Path]) -> None:
    """--pred-suffix _denoised.png was refused for names that end in it; one unsuffixed file stopped the run."""
    clean, pred = suffixed
    with_ext = evaluate_folders(clean, pred, pred_suffix="_denoised.png")
    assert [s.name for s in with_ext.images] == ["a", "b", "sub/c"]
    write_image(pred / "moon.png", np.zeros((24, 24, 3), np.uint8))
    result = evaluate_folders(clean, pred, pred_suffix="_denoised")
    assert len(result.images) == 3 and result.unpaired == ("moon.png",)
    for p in pred.rglob("*_denoised.png"):
        p.unlink()
    with pytest.raises(UserError, match="no image name ends in the prediction suffix '_denoised'"):
        evaluate_folders(clean, pred, pred_suffix="_denoised")


@pytest.mark.parametrize("suffix", ["/", "_dn/x", "a\\b", ".."])
def test_a_prediction_suffix_with_a_path_separator_is_refused_as_denoise_refuses_it(suffixed: tuple[Path, Path],
                                                                                      suffix: str) -> None:
    """--pred-suffix / said no name ends in '/', and its hint named `denoise --suffix /`, which denoise refuses."""
    clean, pred = suffixed
    one_line_error(cli("evaluate", "--clean", clean, "--pred", pred, "--pred-suffix", suffix),
                   f"the prediction suffix {suffix!r}: a suffix holds no path separator")


def test_a_noisy_set_pairs_file_by_file_or_names_the_one_that_does_not(tmp_path: Path) -> None:
    """noise-fit's pairs and a --val set: one clean image without its noisy partner was a KeyError traceback if
    only the first missing one were named, and a noisy file without a clean one must not be skipped silently."""
    from denoise_gan.evaluation.pairing import paired_files

    clean, noisy = tmp_path / "clean", tmp_path / "noisy"
    img = np.zeros((16, 16, 3), np.uint8)
    for name in ("a", "b", "c"):
        write_image(clean / f"{name}.png", img)
        write_image(noisy / f"{name}.png", img)
    assert [name for name, _, _ in paired_files(clean, noisy, "noisy image")] == ["a", "b", "c"]
    (noisy / "b.png").unlink()
    with pytest.raises(UserError, match=r"b\.png: no noisy image named b\.\* in"):
        paired_files(clean, noisy, "noisy image")
    write_image(noisy / "b.png", img)
    write_image(noisy / "extra.png", img)
    with pytest.raises(UserError, match=r"extra\.png: no clean image named extra\.\* in"):
        paired_files(clean, noisy, "noisy image")


def test_a_gray_prediction_of_a_colour_image_is_refused_naming_both_shapes(tmp_path: Path) -> None:
    """Same height and width is not the same image: a gray file scored against a colour one is an error."""
    write_image(tmp_path / "clean" / "a.png", np.zeros((24, 24, 3), np.uint8))
    write_image(tmp_path / "pred" / "a.png", np.zeros((24, 24), np.uint8))
    scored_none(cli("evaluate", "--clean", tmp_path / "clean", "--pred", tmp_path / "pred"),
                "shape (24, 24, 1) does not match the clean image's (24, 24, 3)")
    write_image(tmp_path / "gray" / "a.png", np.zeros((24, 24), np.uint8))  # a gray photo denoised to .webp
    write_image(tmp_path / "webp" / "a.webp", np.zeros((24, 24, 3), np.uint8))
    scored_none(cli("evaluate", "--clean", tmp_path / "gray", "--pred", tmp_path / "webp"),
                "a.webp: shape (24, 24, 3) does not match", ".webp holds no gray", "write .png to score it")


def test_two_photos_sharing_a_name_pair_by_their_whole_names(tmp_path: Path) -> None:
    """a.png and a.jpg in one folder (as `denoise` writes them back) refused the whole evaluation, and the whole
    benchmark: each now pairs by its whole name, and the rest of the folder is scored."""
    clean, pred = tmp_path / "clean", tmp_path / "pred"
    rng = np.random.default_rng(0)
    photos = {name: rng.integers(0, 256, (24, 24, 3), dtype=np.uint8) for name in ("a.png", "a.jpg", "b.png")}
    for name, img in photos.items():
        write_image(clean / name, img, quality=100)
        write_image(pred / ("a.png" if name == "a.jpg" else "a.jpg" if name == "a.png" else name), img, quality=100)
    scored = {s.name: s.psnr for s in evaluate_folders(clean, pred).images}
    assert set(scored) == {"a.png", "a.jpg", "b"}
    assert scored["b"] == float("inf") and scored["a.png"] < 20  # a.png against a.png, not against a.jpg's twin
    (pred / "a.jpg").unlink()  # one of the two predictions missing: listed, the others scored
    partial = evaluate_folders(clean, pred)
    assert [s.name for s in partial.images] == ["a.png", "b"] and list(partial.missing) == ["a.jpg"]
    bench = cli("benchmark", "--clean", clean, "-o", tmp_path / "bench", "--noise", "gaussian:sigma=5",
                "--methods", "noisy")
    assert bench.exit_code == 0, bench.output
    rows = json.loads((tmp_path / "bench" / "results.json").read_text())["rows"]
    assert sorted(r["image"] for r in rows) == ["a.jpg", "a.png", "b"]


def test_a_method_the_time_plot_cannot_draw_is_named_and_the_legend_is_beside_the_axes() -> None:
    """A method that returned every clean photo bit for bit (PSNR infinite) had no point and no word; the legend
    sat on the axes, over the points it names."""
    summary = [{"method": "nlm", "noise": "gaussian:sigma=0", "psnr": None, "psnr_finite": None, "identical_pairs": 2,
                "mp_per_s": 0.8},
               {"method": "model", "noise": "gaussian:sigma=0", "psnr": 50.0, "mp_per_s": 1.7}]
    fig = psnr_vs_time_figure(summary, ["gaussian:sigma=0"], ["noisy", "nlm", "model"])
    ax = fig.axes[0]
    assert ax.get_title(loc="left").startswith("not drawn (every output equals its clean image, PSNR infinite): nlm")
    assert fig.get_suptitle() == "PSNR vs time"
    fig.canvas.draw()
    legend, axes = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend.x0 >= axes.x1  # to the right of the axes, not on them


def test_a_whole_name_that_is_another_files_name_is_refused_and_messages_name_whole_names(tmp_path: Path) -> None:
    """a.png, a.jpg and a.png.jpg: two of them went by a.png, one silently dropped; and a missing partner of a
    name taken whole was looked for as a.png.* or a.png_dn.*."""
    from denoise_gan.evaluation.pairing import paired_files

    clean, pred = tmp_path / "clean", tmp_path / "pred"
    for name in ("a.png", "a.jpg", "a.png.jpg"):
        write_image(clean / name, np.zeros((16, 16, 3), np.uint8))
        write_image(pred / name, np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(UserError, match="goes by the name a.png, which is also another file's name"):
        evaluate_folders(clean, pred)
    one_line_error(cli("benchmark", "--clean", clean, "-o", tmp_path / "bench", "--noise", "gaussian:sigma=5",
                       "--methods", "noisy"), "goes by the name a.png")
    (pred / "a.png.jpg").unlink()  # the clash across the folders: a.png.jpg here, a.png and a.jpg there
    for name in ("a.png", "a.jpg"):
        (clean / name).unlink()
    with pytest.raises(UserError, match="goes by the name a.png, which is also another file's name"):
        evaluate_folders(clean, pred)
    (clean / "a.png.jpg").unlink()
    for name in ("a.png", "a.jpg"):
        write_image(clean / name, np.zeros((16, 16, 3), np.uint8))
    (pred / "a.jpg").unlink()
    with pytest.raises(UserError, match=r"no noisy twin named a\.jpg in"):
        paired_files(clean, pred, "noisy twin")
    (pred / "a.png").rename(pred / "b_dn.png")
    with pytest.raises(UserError, match=r"looked for a_dn\.jpg, a_dn\.png \(found b_dn\.png\)"):
        evaluate_folders(clean, pred, pred_suffix="_dn")


def test_a_name_written_in_another_unicode_form_still_pairs(tmp_path: Path) -> None:
    """café.png copied off a Mac (é as e plus an accent, NFD) beside its Linux twin (one é, NFC): the names look the
    same, yet evaluate said "no prediction named café.*" and suggested a --pred-suffix, which cannot pair them. A
    benchmark of a user's own clean/noisy folders pairs them by the same rule."""
    from denoise_gan.evaluation.pairing import paired_files

    nfc, nfd = "caf\u00e9", "cafe\u0301"
    clean, pred = tmp_path / "clean", tmp_path / "pred"
    rng = np.random.default_rng(0)
    for name, form in (("a", "a"), (nfc, nfd), ("tea", "tea")):
        img = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
        write_image(clean / f"{name}.png", img)
        write_image(pred / f"{form}.png", img)
    scored = evaluate_folders(clean, pred)
    assert sorted(s.name for s in scored.images) == sorted(["a", nfc, "tea"]) and not scored.missing
    assert [(name, partner.name) for name, _, partner in paired_files(clean, pred, "noisy image")] == [
        ("a", "a.png"), (nfc, f"{nfd}.png"), ("tea", "tea.png")]
