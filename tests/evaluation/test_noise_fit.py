"""noise-fit: statistics with known answers (KL of a histogram with itself, white noise's σ, correlation and flat
spectrum, a Poisson-Gaussian fit that finds its parameters), the paired and blind reports, and the command."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from data_tools.images import read_image, write_image
from data_tools.synth import synth
from denoise_gan.config import GeneratorConfig
from denoise_gan.errors import UserError
from denoise_gan.evaluation.noise_fit import (
    BLIND_CLEAN,
    BLIND_REFERENCE,
    HIST_HALF,
    REFERENCE,
    ResidualStats,
    band_index,
    banded_histograms,
    blind_fit,
    figure,
    fit_poisson_gaussian,
    kl_divergence,
    load_candidates,
    paired_fit,
)
from denoise_gan.nets.registry import build_generator
from denoise_gan.nets.weights import save_generator
from helpers import cli, noise_image, one_line_error

RNG = np.random.default_rng(0)


def _scene(h: int = 64, w: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth colour image inside 40..215 (no clipping for moderate noise)."""
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.uniform(40, 215, (h, w, 3)).astype(np.float32), (0, 0), 4)
    lo, hi = base.min(), base.max()
    return np.rint(40 + (base - lo) / max(hi - lo, 1e-6) * 175).astype(np.uint8)


def _stats(clean: np.ndarray, residual: np.ndarray) -> ResidualStats:
    stats = ResidualStats()
    stats.add(clean.astype(np.float32), residual.astype(np.float32))
    return stats


# ---- the statistics, on data with known answers -------------------------------------------------

def test_kl_of_a_histogram_with_itself_is_zero_and_grows_with_the_difference() -> None:
    counts = np.bincount(np.rint(RNG.normal(0, 10, 50_000)).astype(int) + 128, minlength=257)
    assert kl_divergence(counts, counts) == 0.0
    wider = np.bincount(np.clip(np.rint(RNG.normal(0, 12, 50_000)).astype(int) + 128, 0, 256), minlength=257)
    much_wider = np.bincount(np.clip(np.rint(RNG.normal(0, 20, 50_000)).astype(int) + 128, 0, 256), minlength=257)
    # KL(N(0, 10^2) || N(0, 12^2)) = log(12/10) + 100 / (2 * 144) - 1/2 = 0.0296 nats
    assert kl_divergence(counts, wider) == pytest.approx(math.log(1.2) + 100 / 288 - 0.5, abs=0.008)
    assert kl_divergence(counts, much_wider) > 4 * kl_divergence(counts, wider)


def test_white_gaussian_noise_has_its_sigma_no_correlation_and_a_flat_spectrum() -> None:
    clean = np.full((256, 256, 3), 128.0)
    stats = _stats(clean, np.random.default_rng(2).normal(0, 10, clean.shape))  # its own draw: order-independent
    assert stats.std == pytest.approx(10, rel=0.02)
    assert abs(stats.lag1) < 0.02 and abs(stats.rg_corr) < 0.02
    cast = _stats(clean, np.random.default_rng(5).normal(0, 10, clean.shape) + np.array([-20.0, 0.0, 20.0]))  # no
    assert abs(cast.lag1) < 0.02  # correlation from a colour cast: each channel's own mean is removed
    freqs, power = stats.spectrum()
    assert freqs[0] > 0 and freqs[-1] < 0.5
    assert np.all(np.abs(power / 100 - 1) < 0.12)  # white noise of variance 100: 100 at every frequency


def test_blurred_and_luma_only_noise_are_correlated() -> None:
    clean = np.full((128, 128, 3), 128.0)
    white = RNG.normal(0, 10, (128, 128, 3)).astype(np.float32)
    blurred = cv2.GaussianBlur(white, (0, 0), 1.5)
    stats = _stats(clean, blurred)
    assert stats.lag1 > 0.7
    freqs, power = stats.spectrum()
    assert power[0] > 20 * power[-1]  # low-pass: power falls with frequency
    luma_only = np.repeat(white[..., :1], 3, axis=2)
    assert _stats(clean, luma_only).rg_corr == pytest.approx(1.0, abs=1e-6)


def test_bands_follow_the_clean_intensity() -> None:
    assert band_index(np.array([0.0, 50.9, 51.2, 254.9, 255.0])).tolist() == [0, 0, 1, 4, 4]
    assert band_index(np.array([51.0, 102.0, 153.0, 204.0])).tolist() == [0, 1, 2, 3]  # as band_edges: 51.2 ...
    hist = banded_histograms(np.array([0.0, 200.0, -3.2]), np.array([0, 1, 4]))
    assert hist.shape == (5, 257) and hist.sum() == 3
    assert hist[1, -1] == 1 and hist[4, 125] == 1  # beyond +128 in the end bin; -3.2 rounds to -3
    halves = banded_histograms(np.arange(-8, 8.5, 0.5), np.zeros(33, np.int64))[0]
    assert set(halves[HIST_HALF - 7:HIST_HALF + 8].tolist()) == {2}  # half levels: two per bin, no comb


def test_poisson_gaussian_fit_recovers_peak_and_sigma() -> None:
    ramp = np.tile(np.linspace(20, 235, 512, dtype=np.float32)[None, :, None], (256, 1, 3))
    peak, sigma = 30.0, 5.0
    noisy = RNG.poisson(ramp * peak / 255) * (255 / peak) + RNG.normal(0, sigma, ramp.shape)
    fitted_peak, fitted_sigma = fit_poisson_gaussian(_stats(ramp, noisy - ramp))
    assert fitted_peak == pytest.approx(peak, rel=0.1)
    assert fitted_sigma == pytest.approx(sigma, rel=0.25)


@pytest.mark.parametrize(("peak", "sigma"), [(30.0, 5.0), (10.0, 0.0)])
def test_the_fit_sees_through_clipping_at_both_ends(peak: float, sigma: float) -> None:
    """A file holds 0..255: the clipped ends had less variance and pulled this fit to peak 54, σ 17 (for 30, 5)
    and 26, 32 (for 10, 0). A faint σ beside strong shot noise stays loosely fitted."""
    rng = np.random.default_rng(0)  # its own draws, whichever tests ran before
    ramp = np.tile(np.linspace(0, 255, 512, dtype=np.float32)[None, :, None], (256, 1, 3))
    noisy = np.clip(rng.poisson(ramp * peak / 255) * (255 / peak) + rng.normal(0, sigma, ramp.shape), 0, 255)
    fitted_peak, fitted_sigma = fit_poisson_gaussian(_stats(ramp, noisy - ramp))
    assert fitted_peak == pytest.approx(peak, rel=0.2)  # (peak 10: 11.7, a discrete count the fit reads as normal)
    assert fitted_sigma <= sigma + (5 if peak > 10 else 20)  # (peak 10, no read noise: 17.8, where it was 32)


@pytest.mark.parametrize("gain", [1.01, 0.98])
def test_the_fit_holds_for_a_pair_a_little_apart_in_gain(gain: float) -> None:
    """A gain of 1 % between clean and noisy moved every band's mean past the unclipped test, and the line was
    fitted through two neighbouring bands ("no shot term", σ 38 for peak 30, σ 5)."""
    rng = np.random.default_rng(0)
    ramp = np.tile(np.linspace(2, 253, 512, dtype=np.float32)[None, :, None], (256, 1, 3))
    noisy = np.clip(np.round(rng.poisson(ramp * gain * 30 / 255) * (255 / 30) + rng.normal(0, 5, ramp.shape)), 0, 255)
    peak, sigma = fit_poisson_gaussian(_stats(ramp, noisy - ramp))
    assert peak == pytest.approx(30, rel=0.15) and sigma < 10


def test_flat_patches_with_one_unclipped_band_fit_that_bands_sigma() -> None:
    """Grey-card patches at 16, 128 and 240 with σ 25: the ends' bands clip a quarter of their samples, and the
    fit fell back to every band, the clipped ones too (σ 21.5)."""
    rng = np.random.default_rng(0)
    flat = np.concatenate([np.full((64, 64, 3), level, np.float32) for level in (16, 128, 240)], axis=1)
    noisy = np.clip(np.round(flat + rng.normal(0, 25, flat.shape)), 0, 255)
    peak, sigma = fit_poisson_gaussian(_stats(flat, noisy - flat))
    assert peak > 2000 and sigma == pytest.approx(25, rel=0.05)


def test_pure_gaussian_noise_fits_no_shot_term() -> None:
    ramp = np.tile(np.linspace(20, 235, 256, dtype=np.float32)[None, :, None], (128, 1, 3))
    peak, sigma = fit_poisson_gaussian(_stats(ramp, RNG.normal(0, 8, ramp.shape)))
    assert peak > 2000 and sigma == pytest.approx(8, rel=0.1)


# ---- the reports --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A paired set with Gaussian noise σ 10 (synth's own files)."""
    root = tmp_path_factory.mktemp("pairs")
    for i in range(3):
        write_image(root / "src" / f"img{i}.png", _scene(64, 80, seed=i))
    write_image(root / "src" / "gray.png", _scene(64, 64, seed=9)[..., :1])
    synth(root / "src", root / "set", "gaussian:sigma=10", 1)
    return root / "set"


@pytest.fixture(scope="module")
def tiny_f(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    cfg = GeneratorConfig(arch="noise", width=4, depth=1)
    path = tmp_path_factory.mktemp("f") / "F.safetensors"
    save_generator(path, build_generator(cfg), cfg, {"role": "F clean->noisy"})
    return path


def test_a_spec_given_twice_is_one_row() -> None:
    """Two identical rows came out of `--spec gaussian:sigma=5 --spec gaussian:sigma=5` (benchmark merges them)."""
    rows = load_candidates(specs=["gaussian:sigma=5", "gaussian:sigma=5", "gaussian:sigma=7"])
    assert [c.label for c in rows] == ["spec gaussian:sigma=5", "spec gaussian:sigma=7"]


def test_paired_report_ranks_the_true_model_first(pairs: Path) -> None:
    candidates = load_candidates(specs=["gaussian:sigma=10", "gaussian:sigma=30", "correlated:sigma=10,scale=2"])
    report = paired_fit(pairs / "clean", pairs / "noisy", candidates, seed=5)
    rows = {r.label: r.values for r in report.rows}
    assert rows[REFERENCE]["kl_mean"] == 0.0 and rows[REFERENCE]["std"] == pytest.approx(10, rel=0.05)
    true, loud, blurred = (rows[c.label] for c in candidates)
    assert true["kl_mean"] < 0.05 < loud["kl_mean"]
    assert blurred["lag1"] > 0.5 > abs(true["lag1"]) + 0.4
    gauss = next(r for r in report.rows if r.label.startswith("Gaussian fit")).values
    assert gauss["std"] == pytest.approx(10, rel=0.05) and gauss["kl_mean"] < 0.05
    assert report.settings["fitted"]["gaussian"].startswith("gaussian:sigma=")
    assert report.settings["pairs"] == 4


def test_generated_rows_are_seeded(pairs: Path) -> None:
    def run(seed: int) -> float:
        report = paired_fit(pairs / "clean", pairs / "noisy", load_candidates(specs=["gaussian:sigma=10"]), seed)
        return report.rows[1].values["std"]

    assert run(3) == run(3) and run(3) != run(4)


def test_no_row_repeats_the_sets_own_draws_and_kl_reads_real_against_the_row(pairs: Path) -> None:
    """`pairs` was made with gaussian:sigma=10 at seed 1. Rows drew with synth's per-image seeds, so at seed 1
    that spec gave back the set's very residual (KL 0) and a Gaussian fit its draws scaled (KL near 0, the
    correlations copied), without a word for the fit. Now each row is a fresh draw at any seed. KL is
    KL(real ‖ row), per band, as the report says."""
    report = paired_fit(pairs / "clean", pairs / "noisy", load_candidates(specs=["gaussian:sigma=10",
                                                                                  "gaussian:sigma=30"]), seed=1)
    reference, same, loud, fit = report.rows[:4]
    assert fit.label.startswith("Gaussian fit")
    for row in (same, fit):
        assert 0 < row.values["kl_mean"] < 0.05 and row.values["lag1"] != reference.values["lag1"]
        assert row.values["std"] == pytest.approx(reference.values["std"], rel=0.05)
    for band, kl in enumerate(loud.values["kl_per_band"]):
        if kl is not None:
            assert kl == pytest.approx(kl_divergence(reference.hist[band], loud.hist[band]))
            assert kl != pytest.approx(kl_divergence(loud.hist[band], reference.hist[band]))


def test_the_set_is_known_as_synths_however_its_noisy_folder_is_named(pairs: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The manifest was looked for beside the path as typed: `--noisy .` and a link to the noisy folder missed
    it, and a spec of the set's noise gave back its very draws (KL exactly 0, the row equal to the reference)."""
    from denoise_gan.evaluation.noise_fit.seeds import made_with_seed

    (tmp_path / "link").symlink_to(pairs / "noisy", target_is_directory=True)
    monkeypatch.chdir(pairs / "noisy")
    for noisy in (Path("."), tmp_path / "link", pairs / "noisy"):
        assert made_with_seed(noisy, 1) and not made_with_seed(noisy, 2), noisy
        report = paired_fit(pairs / "clean", noisy, load_candidates(specs=["gaussian:sigma=10"]), seed=1)
        reference, row = report.rows[:2]
        assert row.values["kl_mean"] > 0 and row.values["lag1"] != reference.values["lag1"], noisy


def test_an_incomplete_set_is_refused_as_benchmark_refuses_it(pairs: Path, tmp_path: Path) -> None:
    """A set whose synth run was cut short (an --overwrite: a blend of the old noise and the new) was fitted as one
    noise, exit 0, without a word."""
    shutil.copytree(pairs, tmp_path / "set")
    manifest = json.loads((tmp_path / "set" / "manifest.json").read_text())
    (tmp_path / "set" / "manifest.json").write_text(json.dumps({**manifest, "complete": False}))
    one_line_error(cli("noise-fit", "--clean", tmp_path / "set" / "clean", "--noisy", tmp_path / "set" / "noisy",
                       "-o", tmp_path / "fit"), "an incomplete set (its synth run was cut short)")
    with pytest.raises(UserError, match="^--noisy .*set: an incomplete set"):
        blind_fit(tmp_path / "set" / "noisy", [])
    assert not (tmp_path / "fit").exists()


def test_a_sets_noisy_images_copied_away_from_its_manifest_are_still_not_replayed(pairs: Path,
                                                                                   tmp_path: Path) -> None:
    """Copied anywhere without the set's manifest beside them, the noisy images were drawn again as synth drew
    them: a spec of their noise measured KL 0.0000 and the reference's very σ, lag-1 and R-G, without a word."""
    import shutil

    shutil.copytree(pairs / "noisy", tmp_path / "copied")
    report = paired_fit(pairs / "clean", tmp_path / "copied", load_candidates(specs=["gaussian:sigma=10"]), seed=1)
    reference, row, fit = report.rows[:3]
    for drawn in (row, fit):
        assert drawn.values["kl_mean"] > 0 and drawn.values["lag1"] != reference.values["lag1"]
    other = paired_fit(pairs / "clean", tmp_path / "copied", load_candidates(specs=["gaussian:sigma=10"]), seed=2)
    assert other.rows[1].values["kl_mean"] > 0  # at another seed the rows were fresh draws all along


def test_pairs_of_a_set_merged_with_others_are_not_replayed(pairs: Path, tmp_path: Path) -> None:
    """Only the first image was checked: a set's pairs merged with one of another seed that sorts first were drawn
    again as synth drew them (KL 0.0026 against 0.0045 at other seeds), without a word."""
    write_image(tmp_path / "src" / "aaa.png", _scene(64, 80, seed=5))
    synth(tmp_path / "src", tmp_path / "other", "gaussian:sigma=10", 5)
    for half in ("clean", "noisy"):
        for folder in (pairs / half, tmp_path / "other" / half):
            for image in folder.iterdir():
                (tmp_path / "merged" / half).mkdir(parents=True, exist_ok=True)
                shutil.copy(image, tmp_path / "merged" / half / image.name)
    merged = paired_fit(tmp_path / "merged" / "clean", tmp_path / "merged" / "noisy",
                        load_candidates(specs=["gaussian:sigma=10"]), seed=1)
    alone = paired_fit(pairs / "clean", pairs / "noisy", load_candidates(specs=["gaussian:sigma=10"]), seed=1)
    assert merged.rows[1].values["kl_mean"] > 0.5 * alone.rows[1].values["kl_mean"] > 0


def test_a_mixture_spec_row_is_one_markdown_cell(pairs: Path) -> None:
    """A mixture's `|` split its label, and every figure of the row sat one column right of its heading."""
    import re

    from denoise_gan.evaluation.noise_fit import markdown

    mixture = "gaussian:sigma=10 | poisson:peak=30"
    for report in (paired_fit(pairs / "clean", pairs / "noisy", load_candidates(specs=[mixture])),
                   blind_fit(pairs / "noisy", load_candidates(specs=[mixture]), seed=0)):
        table = [line for line in markdown(report).splitlines() if line.startswith("|")]
        widths = {len(re.split(r"(?<!\\)\|", line)) for line in table}
        assert len(widths) == 1 and any("poisson:peak=30" in line for line in table)


def test_names_in_the_markdown_are_shown_as_written(pairs: Path, tmp_path: Path) -> None:
    """A folder named `set_<b>` made the rest of noise_fit.md bold, `<img src=x>` a live element, `*x*` italics:
    names went into the page as Markdown."""
    import shutil

    from denoise_gan.evaluation.noise_fit import markdown

    odd = tmp_path / "set_<b>*x*"
    for half in ("clean", "noisy"):
        shutil.copytree(pairs / half, odd / half)
    text = markdown(paired_fit(odd / "clean", odd / "noisy", load_candidates(specs=["gaussian:sigma=10"])))
    assert "set\\_\\<b\\>\\*x\\*" in text.splitlines()[0] and "<b>" not in text, text.splitlines()[0]


def test_the_tables_put_each_figure_under_its_own_heading(pairs: Path) -> None:
    """The terminal table and the Markdown name σ, lag-1, R-G, the blind median by their columns."""
    from denoise_gan.evaluation.noise_fit import iter_rows, markdown, table_columns

    paired = paired_fit(pairs / "clean", pairs / "noisy", load_candidates(specs=["correlated:sigma=10,scale=2"]))
    blind = blind_fit(pairs / "noisy", load_candidates(specs=["gaussian:sigma=10"]), seed=0)
    for report, expected in ((paired, {"σ": ("std", 2), "lag-1 corr": ("lag1", 3), "R-G corr": ("rg_corr", 3)}),
                             (blind, {"blind σ median": ("blind_sigma_median", 2)})):
        values = {r.label: r.values for r in report.rows}
        for label, cells in iter_rows(report):
            shown = dict(zip(table_columns(report), cells))
            for column, (key, digits) in expected.items():
                assert shown[column] == f"{values[label][key]:.{digits}f}", (label, column)

    def markdown_rows(report: object) -> dict[str, dict[str, str]]:
        text = markdown(report).splitlines()
        columns = [c.strip() for c in next(line for line in text if line.startswith("| row |")).strip("|").split("|")]
        return {r.label: dict(zip(columns, (c.strip() for c in next(
            line for line in text if line.startswith(f"| {r.label} |")).strip("|").split("|")))) for r in report.rows}

    for r in paired.rows:
        cells = markdown_rows(paired)[r.label]
        assert (cells["σ"], cells["lag-1 corr"], cells["R-G corr"]) == (
            f"{r.values['std']:.2f}", f"{r.values['lag1']:.3f}", f"{r.values['rg_corr']:.3f}")
    for r in blind.rows:
        cells = markdown_rows(blind)[r.label]
        assert (cells["blind σ p10"], cells["median"], cells["p90"]) == tuple(
            f"{r.values[k]:.2f}" for k in ("blind_sigma_p10", "blind_sigma_median", "blind_sigma_p90"))


def test_stripes_read_as_correlated_down_columns_not_along_rows(tmp_path: Path) -> None:
    """A per-column offset (sensor stripes) is the same all the way down a column: vertical lag-1 near 1,
    horizontal near 0."""
    clean = _scene(64, 80, seed=3)
    offsets = np.random.default_rng(1).normal(0, 8, (1, 80, 1))
    write_image(tmp_path / "clean" / "a.png", clean)
    write_image(tmp_path / "noisy" / "a.png", np.clip(np.rint(clean + offsets), 0, 255).astype(np.uint8))
    reference = paired_fit(tmp_path / "clean", tmp_path / "noisy", []).rows[0].values
    assert reference["lag1_vertical"] > 0.9 and abs(reference["lag1_horizontal"]) < 0.2


def test_the_blind_figures_are_on_the_0_255_scale_and_draw_colour_noise_on_colour_photos(pairs: Path) -> None:
    """σ per octave reads luma's σ on the σ 10 set at its finest octave; each crop's brightness is on 0-255; a
    folder of colour photos with one gray photo gets colour noise from a spec (gray only on the gray photo)."""
    report = blind_fit(pairs / "noisy", load_candidates(specs=["gaussian:sigma=10"]), seed=0)
    rows = {r.label: r.values for r in report.rows}
    folder, spec = rows[BLIND_REFERENCE], rows["spec gaussian:sigma=10"]
    assert folder["sigma_per_octave"][0] == pytest.approx(10 * 0.67, rel=0.25)  # luma's: 0.67 of each channel's
    assert all(30 < b < 230 for b in folder["brightness_per_crop"])
    assert spec["luma_vs_colour"] == pytest.approx(folder["luma_vs_colour"], rel=0.2)


def test_the_poisson_gaussian_fit_row_draws_the_noise_it_names(tmp_path: Path) -> None:
    for i in range(3):
        write_image(tmp_path / "src" / f"img{i}.png", _scene(96, 96, seed=i))
    synth(tmp_path / "src", tmp_path / "set", "poisson-gaussian:peak=30,sigma=5", 2)
    report = paired_fit(tmp_path / "set" / "clean", tmp_path / "set" / "noisy", [])
    reference = report.rows[0].values
    fitted = next(r for r in report.rows if r.label.startswith("Poisson-Gaussian fit")).values
    assert fitted["std"] == pytest.approx(reference["std"], rel=0.1)


def test_blind_report_reads_the_folder_and_the_models(pairs: Path, tiny_f: Path) -> None:
    candidates = load_candidates(models=[str(tiny_f)], specs=["gaussian:sigma=10"])
    report = blind_fit(pairs / "noisy", candidates, clean_dir=pairs / "clean", seed=0)
    rows = {r.label: r.values for r in report.rows}
    assert list(rows)[:2] == [BLIND_REFERENCE, BLIND_CLEAN]
    folder, clean, spec = rows[BLIND_REFERENCE], rows[BLIND_CLEAN], rows["spec gaussian:sigma=10"]
    assert clean["blind_sigma_median"] < 3 < folder["blind_sigma_median"]
    assert spec["blind_sigma_median"] == pytest.approx(folder["blind_sigma_median"], rel=0.2)
    assert spec["added_std"] == pytest.approx(10, rel=0.1)
    assert spec["detail_kl_mean"] < rows[BLIND_CLEAN]["detail_kl_mean"]
    assert rows[f"model {tiny_f}"]["added_std"] > 1


@pytest.mark.parametrize("mode", ["paired", "blind"])
def test_every_panel_of_the_picture_is_labelled(pairs: Path, mode: str) -> None:
    candidates = load_candidates(specs=["gaussian:sigma=12"])
    report = (paired_fit(pairs / "clean", pairs / "noisy", candidates) if mode == "paired"
              else blind_fit(pairs / "noisy", candidates, clean_dir=pairs / "clean"))
    fig = figure(report)
    assert fig._suptitle is not None and fig._suptitle.get_text()
    assert len(fig.axes) >= 5 + 2 + len(report.rows)
    assert all(ax.get_title() for ax in fig.axes)


@pytest.mark.parametrize("mode", ["paired", "blind"])
def test_the_pictures_rows_differ_in_more_than_colour_and_its_text_is_legible(pairs: Path, mode: str) -> None:
    """Rows were told apart by tab10 colours alone, orange and green or green and red alike to a reader with
    red-green colour blindness; and a legend at 5 pt on an 80 dpi picture was 6 px high, not to be read."""
    from denoise_gan.evaluation.noise_fit import output

    candidates = load_candidates(specs=["gaussian:sigma=12", "gaussian:sigma=8", "poisson:peak=30"])
    report = (paired_fit(pairs / "clean", pairs / "noisy", candidates) if mode == "paired"
              else blind_fit(pairs / "noisy", candidates, clean_dir=pairs / "clean"))
    fig = figure(report)
    for ax in fig.axes:
        lines = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
        drawn = [(line.get_linestyle(), line.get_marker()) for line in lines if line.get_color() != "gray"]
        assert len(set(drawn)) == len(drawn), (ax.get_title(), drawn)
        shapes = [c.get_paths()[0].vertices.tobytes() for c in ax.collections if len(c.get_offsets())]
        assert len(set(shapes)) == len(shapes), ax.get_title()
    fig.canvas.draw()
    sizes = [t.get_fontsize() for t in fig.findobj(lambda a: hasattr(a, "get_fontsize") and a.get_text())]
    assert min(sizes) * output.PICTURE_DPI / 72 >= 9  # pixels of the smallest text


# ---- the command --------------------------------------------------------------------------------

def test_cli_paired_writes_table_and_picture(pairs: Path, tiny_f: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "fit"
    result = cli("noise-fit", "--clean", pairs / "clean", "--noisy", pairs / "noisy", "--model", tiny_f,
                 "--spec", "gaussian:sigma=10", "-o", out)
    assert result.exit_code == 0, result.output
    assert "real noise (reference)" in result.stdout and "Poisson-Gaussian fit" in result.stdout
    assert "noise fit (paired: KL of the residual" in result.stdout
    data = json.loads((out / "noise_fit.json").read_text())
    labels = [r["label"] for r in data["rows"]]
    assert labels[0] == REFERENCE and labels[1] == f"model {tiny_f}" and labels[2] == "spec gaussian:sigma=10"
    assert data["settings"]["sources"][f"model {tiny_f}"]["sha256"]
    assert "| real noise (reference) | 0.0000 |" in (out / "noise_fit.md").read_text()
    assert read_image(out / "noise_fit.png").pixels.shape[0] > 300
    odd = Path("$\\bad$") / "F.safetensors"  # a path matplotlib would read as mathtext (short: the label keeps it)
    monkeypatch.chdir(tmp_path)
    odd.parent.mkdir()
    shutil.copy(tiny_f, odd)
    again = cli("noise-fit", "--clean", pairs / "clean", "--noisy", pairs / "noisy", "--model", odd, "-o",
                tmp_path / "fit2")
    assert again.exit_code == 0, again.output
    assert (tmp_path / "fit2" / "noise_fit.png").is_file()
    refused = cli("noise-fit", "--clean", pairs / "clean", "--noisy", pairs / "noisy", "-o", out)
    one_line_error(refused, "not empty", "--overwrite")
    same = cli("noise-fit", "--clean", pairs / "noisy", "--noisy", pairs / "noisy", "-o", tmp_path / "same")
    one_line_error(same, "the same folder", "its own clean twin")  # it reported sigma 0.00
    assert not (tmp_path / "same").exists()


def test_a_full_disk_leaves_no_half_report_and_the_same_command_then_writes_it(
        pairs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The picture and the table were written under their names before the record failed: the folder held half
    a report, and the same command refused it as not empty."""
    import errno

    from data_tools.atomic_files import write_error
    from denoise_gan.evaluation.noise_fit import output

    real = output.atomic_write_text

    def full(path: Path, text: str) -> None:
        if path.name == "noise_fit.md":
            raise write_error(path, OSError(errno.ENOSPC, "No space left on device"))
        real(path, text)

    args = ("noise-fit", "--clean", pairs / "clean", "--noisy", pairs / "noisy", "--spec", "gaussian:sigma=10", "-o",
            tmp_path / "fit")
    monkeypatch.setattr(output, "atomic_write_text", full)
    one_line_error(cli(*args), "noise_fit.md: cannot write (No space left on device)", code=1)
    assert not (tmp_path / "fit").exists() or not list((tmp_path / "fit").iterdir())
    monkeypatch.setattr(output, "atomic_write_text", real)
    again = cli(*args)
    assert again.exit_code == 0, again.output
    assert sorted(p.name for p in (tmp_path / "fit").iterdir()) == ["noise_fit.json", "noise_fit.md", "noise_fit.png"]
    (tmp_path / "fit" / "noise_fit.png").unlink()  # a folder where the picture goes: refused before any file moves
    (tmp_path / "fit" / "noise_fit.png").mkdir()
    before = {p.name: p.read_bytes() for p in (tmp_path / "fit").iterdir() if p.is_file()}
    one_line_error(cli(*args, "--seed", "1", "--overwrite"), "noise_fit.png: is a folder, where this file goes")
    assert {p.name: p.read_bytes() for p in (tmp_path / "fit").iterdir() if p.is_file()} == before
    assert not [p for p in (tmp_path / "fit").iterdir() if p.name.startswith(".")]


def test_cli_blind_mode(pairs: Path, tmp_path: Path) -> None:
    out = tmp_path / "blind"
    result = cli("noise-fit", "--noisy", pairs / "noisy", "--clean-photos", pairs / "clean", "--spec",
                 "gaussian:sigma=10", "-o", out)
    assert result.exit_code == 0, result.output
    assert "noisy folder (reference)" in result.stdout
    assert "noise fit (blind: no clean twins)" in result.stdout and "paired" not in result.stdout
    assert json.loads((out / "noise_fit.json").read_text())["mode"] == "blind"
    assert (out / "noise_fit.png").is_file() and "blind σ" in (out / "noise_fit.md").read_text()


@pytest.mark.parametrize("extra, needle", [
    (["--clean-photos", "."], "--clean-photos is for blind mode"),
    (["--spec", "gaussain:sigma=3"], "unknown noise model"),
    (["--model", "no-such-model"], "no shipped noise model"),
])
def test_cli_bad_options_fail_in_one_line(pairs: Path, tmp_path: Path, extra: list[str], needle: str) -> None:
    one_line_error(cli("noise-fit", "--clean", pairs / "clean", "--noisy", pairs / "noisy", "-o", tmp_path / "o",
                       *extra), needle)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("mode", ["paired", "blind"])
def test_cli_bad_inputs_leave_no_output_folder(pairs: Path, tmp_path: Path, mode: str) -> None:
    (tmp_path / "empty").mkdir()
    clean = ["--clean", pairs / "clean"] if mode == "paired" else []
    one_line_error(cli("noise-fit", *clean, "--noisy", tmp_path / "empty", "-o", tmp_path / "o"), "no image files")
    assert not (tmp_path / "o").exists()
    (tmp_path / "kept").mkdir()  # a folder the user made before is theirs: left in place
    one_line_error(cli("noise-fit", *clean, "--noisy", tmp_path / "empty", "-o", tmp_path / "kept"), "no image files")
    assert (tmp_path / "kept").is_dir()


def test_a_set_with_empty_brightness_bands_draws_its_picture_without_warnings(tmp_path: Path) -> None:
    import warnings

    for i in range(2):
        write_image(tmp_path / "src" / f"flat{i}.png", np.full((48, 48, 3), 128, np.uint8))
    synth(tmp_path / "src", tmp_path / "set", "gaussian:sigma=10", 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's "no artists with labels" printed its source path
        result = cli("noise-fit", "--clean", tmp_path / "set" / "clean", "--noisy", tmp_path / "set" / "noisy",
                     "--spec", "gaussian:sigma=10", "-o", tmp_path / "fit")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fit" / "noise_fit.png").is_file()


def test_a_set_too_small_for_the_poisson_gaussian_fit_leaves_out_that_row_only(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)  # one 80x80 gray pair: 6400 samples over many fine bands, none with enough
    clean = (rng.random((80, 80)) * 250).astype(np.uint8)
    write_image(tmp_path / "c" / "a.png", clean)
    write_image(tmp_path / "n" / "a.png", np.clip(clean + rng.normal(0, 8, clean.shape), 0, 255).astype(np.uint8))
    result = cli("noise-fit", "--clean", tmp_path / "c", "--noisy", tmp_path / "n", "--spec", "gaussian:sigma=8",
                 "-o", tmp_path / "fit")
    assert result.exit_code in (0, 1), result.output  # 1: the gate's verdict, not a refusal
    said = " ".join(result.output.split())
    assert "too few pixels" in said and "its row is left out" in said and "KL column" not in said, said
    report = json.loads((tmp_path / "fit" / "noise_fit.json").read_text())
    labels = [row["label"] for row in report["rows"]]
    assert any(label.startswith("Gaussian fit") for label in labels) and "gaussian:sigma=8" in " ".join(labels)
    assert not any(label.startswith("Poisson-Gaussian fit") for label in labels)
    assert report["settings"]["fitted"]["poisson_gaussian"] is None


def test_a_pair_too_small_for_the_kl_says_so(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)  # a 6x6 pair: 36 samples, a KL needs 500 in a band
    clean = (rng.random((6, 6)) * 250).astype(np.uint8)
    write_image(tmp_path / "c" / "a.png", clean)
    write_image(tmp_path / "n" / "a.png", np.clip(clean + rng.normal(0, 8, clean.shape), 0, 255).astype(np.uint8))
    result = cli("noise-fit", "--clean", tmp_path / "c", "--noisy", tmp_path / "n", "--spec", "gaussian:sigma=8",
                 "-o", tmp_path / "fit")
    said = " ".join(result.output.split())
    assert "for the KL column" in said and "36 in all" in said, said
    report = json.loads((tmp_path / "fit" / "noise_fit.json").read_text())
    assert all(row["kl_mean"] is None for row in report["rows"]), report["rows"]


def test_noisy_images_equal_to_their_clean_twins_are_refused_or_said(pairs: Path, tmp_path: Path) -> None:
    """The clean photos given as --noisy too (a copy, not the same folder) measured σ 0 and fitted nothing."""
    copy = tmp_path / "copy"
    shutil.copytree(pairs / "clean", copy)
    one_line_error(cli("noise-fit", "--clean", pairs / "clean", "--noisy", copy, "-o", tmp_path / "fit"),
                   "every noisy image equals its clean twin")
    assert not (tmp_path / "fit").exists()
    mixed = tmp_path / "mixed"
    shutil.copytree(pairs / "noisy", mixed)
    first = sorted(p for p in mixed.rglob("*") if p.is_file())[0]
    shutil.copy(pairs / "clean" / first.relative_to(mixed), first)
    result = cli("noise-fit", "--clean", pairs / "clean", "--noisy", mixed, "-o", tmp_path / "fit2")
    assert result.exit_code in (0, 1), result.output  # 1: the gate's verdict, not a refusal
    assert f"1 of {len(list(mixed.rglob('*.png')))} noisy images equal their clean twins" in \
        " ".join(result.output.split()), result.output


@pytest.mark.parametrize("inside", ["noisy", "clean"])
def test_cli_output_inside_an_input_folder_is_refused(pairs: Path, inside: str) -> None:
    """Its picture would be read as a noisy (or clean) image by the next run."""
    out = pairs / inside / "fit"
    one_line_error(cli("noise-fit", "--clean", pairs / "clean", "--noisy", pairs / "noisy", "-o", out),
                   f"is inside --{inside}")
    assert not out.exists()


def test_cli_unpaired_names_fail_in_one_line(pairs: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    write_image(other / "unrelated.png", _scene(16, 16))
    one_line_error(cli("noise-fit", "--clean", pairs / "clean", "--noisy", other, "-o", tmp_path / "o"),
                   "no noisy image")


def test_blind_mode_skips_an_unreadable_file_as_training_does(pairs: Path, tmp_path: Path) -> None:
    """One broken file in a folder of photos is skipped with a warning (as `train` and `adapt` read folders);
    a folder with nothing readable is a one-line error."""
    from denoise_gan.evaluation.noise_fit import folder_photos

    noisy = tmp_path / "noisy"
    shutil.copytree(pairs / "noisy", noisy)
    (noisy / "broken.png").write_bytes(b"not a png")
    photos = folder_photos(noisy)
    assert len(photos.images) == len(folder_photos(pairs / "noisy").images)
    assert len(photos.left_out) == 1 and "broken.png" in photos.left_out[0]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "broken.png").write_bytes(b"not a png")
    with pytest.raises(UserError, match="no image files found"):
        folder_photos(empty)


def test_blind_mode_skips_a_photo_too_small_to_measure_by_name(pairs: Path, tmp_path: Path) -> None:
    """One 1x1 file among photos refused the whole folder without naming it; now it is left out, named."""
    noisy = tmp_path / "noisy"
    shutil.copytree(pairs / "noisy", noisy)
    write_image(noisy / "dot.png", np.zeros((1, 1, 3), np.uint8))
    result = cli("noise-fit", "--noisy", noisy, "--clean-photos", pairs / "clean", "-o", tmp_path / "fit")
    assert result.exit_code == 0, result.output
    assert "skipping" in result.stderr and "dot.png" in result.stderr
    used = json.loads((tmp_path / "fit" / "noise_fit.json").read_text())["settings"]["noisy_photos"]
    assert used["left_out"] == ["dot.png (1x1): under 32 px on a side"] and used["used"] >= 1
    assert f"Photos: {used['used']} of {used['used'] + 1} noisy (left out: dot.png (1x1)" in \
        (tmp_path / "fit" / "noise_fit.md").read_text()
    only = tmp_path / "only"
    write_image(only / "dot.png", np.zeros((1, 1, 3), np.uint8))
    one_line_error(cli("noise-fit", "--noisy", only, "--clean-photos", pairs / "clean", "-o", tmp_path / "o"),
                   "every image is under")


def test_blind_mode_reads_photos_with_black_areas(pairs: Path, tmp_path: Path) -> None:
    """A product shot on black (or a black noisy photo) crashed the blind report with a traceback: a black crop
    has no σ to read. Such crops are left out of the statistics; an all-black set reads σ 0."""
    clean = tmp_path / "clean"
    shutil.copytree(pairs / "clean", clean)
    product = np.zeros((256, 256, 3), np.uint8)
    product[200:248, 200:248] = 180
    write_image(clean / "product.png", product)
    noisy = tmp_path / "noisy"
    shutil.copytree(pairs / "noisy", noisy)
    write_image(noisy / "black.png", np.zeros((200, 200, 3), np.uint8))
    result = cli("noise-fit", "--noisy", noisy, "--clean-photos", clean, "-o", tmp_path / "fit")
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "fit" / "noise_fit.json").read_text())["rows"]
    assert all(math.isfinite(r["blind_sigma_median"]) for r in rows), rows
    black = tmp_path / "black"
    write_image(black / "a.png", np.zeros((200, 200, 3), np.uint8))
    result = cli("noise-fit", "--noisy", black, "--clean-photos", clean, "-o", tmp_path / "fit2")
    assert result.exit_code == 0, result.output


def test_blind_mode_draws_gray_noise_on_gray_photos_as_synth_does(tmp_path: Path) -> None:
    """The candidates were drawn on gray crops copied to three channels, so the very noise that made a gray set
    read about 0.7 of its σ (three independent channels averaged into the luma)."""
    for i in range(2):
        write_image(tmp_path / "src" / f"g{i}.png", _scene(96, 96, seed=i)[..., :1])
    synth(tmp_path / "src", tmp_path / "set", "gaussian:sigma=25", 0)
    report = blind_fit(tmp_path / "set" / "noisy", load_candidates(specs=["gaussian:sigma=25"]),
                       clean_dir=tmp_path / "set" / "clean", seed=3)
    rows = {r.label: r.values for r in report.rows}
    folder, spec = rows[BLIND_REFERENCE]["sigma_per_octave"][0], rows["spec gaussian:sigma=25"]["sigma_per_octave"][0]
    assert spec == pytest.approx(folder, rel=0.1)
    for i in range(2):  # a colour folder: colour noise, even where the clean photos (the bundled pool) are gray
        write_image(tmp_path / "colour" / f"c{i}.png", _scene(96, 96, seed=i))
    synth(tmp_path / "colour", tmp_path / "colour_set", "gaussian:sigma=25", 0)
    report = blind_fit(tmp_path / "colour_set" / "noisy", load_candidates(specs=["gaussian:sigma=25"]), seed=3)
    rows = {r.label: r.values for r in report.rows}
    folder, spec = rows[BLIND_REFERENCE]["sigma_per_octave"][0], rows["spec gaussian:sigma=25"]["sigma_per_octave"][0]
    assert spec == pytest.approx(folder, rel=0.1)


def test_a_model_named_twice_is_one_row_and_the_same_folder_twice_is_refused(pairs: Path, tiny_f: Path,
                                                                              tmp_path: Path) -> None:
    (tmp_path / "link.safetensors").symlink_to(tiny_f)
    assert len(load_candidates(models=[str(tiny_f), str(tmp_path / "link.safetensors")])) == 1
    one_line_error(cli("noise-fit", "--noisy", pairs / "noisy", "--clean-photos", pairs / "noisy", "-o",
                       tmp_path / "o"), "the same folder")
    assert not (tmp_path / "o").exists()


def test_the_sets_own_seed_needs_no_warning_and_warnings_go_to_stderr(pairs: Path, tmp_path: Path) -> None:
    """`pairs` was made with seed 1: noise-fit --seed 1 no longer draws its very noise, so nothing is said; a
    warning (a pair without noise) goes to stderr."""
    same = cli("noise-fit", "--clean", pairs / "clean", "--noisy", pairs / "noisy", "--spec", "gaussian:sigma=10",
               "--seed", "1", "-o", tmp_path / "same")
    assert same.exit_code == 0 and "warning" not in same.output
    noiseless = tmp_path / "noisy"
    shutil.copytree(pairs / "noisy", noiseless)
    first = sorted(noiseless.iterdir())[0]
    shutil.copy(pairs / "clean" / first.name, first)
    said = cli("noise-fit", "--clean", pairs / "clean", "--noisy", noiseless, "-o", tmp_path / "said")
    assert said.exit_code == 0 and "equal their clean twins" in said.stderr and "warning" not in said.stdout


def test_an_interrupt_while_the_report_is_drawn_leaves_the_earlier_report_whole(pairs: Path, tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import denoise_gan.evaluation.noise_fit.output as output

    out = tmp_path / "fit"
    assert cli("noise-fit", "--clean", pairs / "clean", "--noisy", pairs / "noisy", "-o", out).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def interrupted(*args: object, **kwargs: object) -> bytes:
        raise KeyboardInterrupt

    monkeypatch.setattr(output, "figure_png", interrupted)
    again = cli("noise-fit", "--clean", pairs / "clean", "--noisy", pairs / "noisy", "--spec", "gaussian:sigma=50",
                "-o", out, "--overwrite")
    assert again.exit_code != 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_report_folder_another_run_is_writing_is_refused(pairs: Path, tmp_path: Path) -> None:
    """Two noise-fits into one folder both said "wrote", one report silently replacing the other; so did two
    `samples --set photos` builds, whose sources.json then listed a part of the photos."""
    from data_tools.folder_lock import holding_folder

    out = tmp_path / "fit"
    with holding_folder(out):
        one_line_error(cli("noise-fit", "--clean", pairs / "clean", "--noisy", pairs / "noisy", "-o", out),
                       "another process is writing", code=1)
        one_line_error(cli("samples", "--set", "photos", "--debs", tmp_path, "-o", out), "another process is writing",
                       code=1)
    assert list(out.iterdir()) == []


def test_an_output_folder_that_is_the_set_it_reads_is_refused_as_such(tmp_path: Path) -> None:
    """`noise-fit --noisy s/noisy --clean s/clean -o s --overwrite` said "another process is writing this set now":
    its own lock on -o against its own read of the set, which no waiting ends."""
    from data_tools.synth import synth

    write_image(tmp_path / "photos" / "a.png", noise_image(48, 48, seed=1))
    synth(tmp_path / "photos", tmp_path / "s", "gaussian:sigma=10", seed=1)
    for extra in ((), ("--clean", tmp_path / "s" / "clean")):
        one_line_error(cli("noise-fit", "--noisy", tmp_path / "s" / "noisy", *extra, "-o", tmp_path / "s",
                           "--overwrite"), "is the synth set that --noisy", "give the report a folder of its own")
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["clean", "manifest.json", "noisy"]


def test_a_run_refused_by_one_that_started_meanwhile_leaves_that_runs_folder(pairs: Path, tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Two noise-fits started together both found no folder; the one refused by the other's lock removed the
    folder the other held (still empty: its report is written last), so a third ran unrefused and the second's
    report then replaced the third's without a word."""
    from contextlib import ExitStack

    from data_tools.folder_lock import holding_folder
    from denoise_gan.evaluation import noise_fit

    out, other = tmp_path / "fit", ExitStack()
    load = noise_fit.load_candidates

    def the_other_run_starts_meanwhile(*args: object, **kwargs: object) -> object:
        other.enter_context(holding_folder(out))  # made and held by it while this run loads its models
        return load(*args, **kwargs)

    monkeypatch.setattr(noise_fit, "load_candidates", the_other_run_starts_meanwhile)
    with other:
        one_line_error(cli("noise-fit", "--clean", pairs / "clean", "--noisy", pairs / "noisy", "-o", out),
                       "another process is writing", code=1)
        assert out.is_dir()  # the other run's folder, still held


def test_lag_one_correlation_is_read_along_rows_and_down_columns_apart() -> None:
    """Stripes: noise that varies across a row but not down a column (a sensor's column noise) is uncorrelated
    between horizontal neighbours and fully correlated between vertical ones, and the two sums tell them apart."""
    from denoise_gan.evaluation.noise_fit import lag1_sums
    from denoise_gan.evaluation.noise_fit.statistics import correlation

    columns = np.random.default_rng(0).normal(0, 5, (1, 4000, 1))
    sums = lag1_sums(np.repeat(columns, 20, axis=0))
    assert abs(correlation(sums[:3])) < 0.1 and correlation(sums[3:]) == pytest.approx(1.0)
    rows = np.random.default_rng(1).normal(0, 5, (4000, 1, 1))
    sums = lag1_sums(np.repeat(rows, 20, axis=1))
    assert correlation(sums[:3]) == pytest.approx(1.0) and abs(correlation(sums[3:])) < 0.1


def test_residual_statistics_read_known_noise() -> None:
    """The report's numbers on noise whose truth is known: a biased residual's std is its spread alone, white
    noise's spectrum is flat at its variance with no leak from the bias or DC into the lowest bands, and noise
    correlated only down the columns (row to row) reads as correlated, not white."""
    from denoise_gan.evaluation.noise_fit.statistics import ResidualStats, radial_average

    rng = np.random.default_rng(0)
    clean = np.full((256, 256, 3), 128.0)
    white = ResidualStats()
    white.add(clean, 5.0 + rng.normal(0.0, 2.0, clean.shape))
    assert white.std == pytest.approx(2.0, abs=0.05)
    assert white.lag1 == pytest.approx(0.0, abs=0.02)
    power = white.spectrum()[1]
    assert np.all(np.abs(power[1:] / 4.0 - 1.0) < 0.06), power  # flat at σ² = 4
    assert 3.2 < power[0] < 4.2, power  # each window's own mean removed takes a little of the lowest band, no more
    flat = np.ones((64, 64))
    flat[0, 0] = 1e6  # DC is not a frequency of the noise
    assert radial_average(flat)[1][0] == 1.0
    x = rng.normal(0.0, 1.0, (257, 256, 3))
    rows = ResidualStats()
    rows.add(clean, x[1:] + x[:-1])  # each value shares a term with the one below it: lag-1 ρ 0.5 vertically
    assert rows.lag1 == pytest.approx(0.25, abs=0.03)  # the mean of horizontal (0) and vertical (0.5)


def test_a_long_row_label_in_the_picture_keeps_its_end() -> None:
    """Cut to its first 43 characters, two --model files in sibling folders drew the same legend and title."""
    from denoise_gan.evaluation.noise_fit.output import _short

    a, b = (f"/home/someone/experiments/noise_models/{run}/F.safetensors" for run in ("run_a", "run_b"))
    assert _short(a) != _short(b) and len(_short(a)) == 44 and _short(a).endswith("run_a/F.safetensors")
    assert _short("gaussian:sigma=10") == "gaussian:sigma=10"


def test_a_spectrum_of_photos_too_small_for_a_window_says_so(tmp_path: Path) -> None:
    """Photos under 64 px left the spectrum panel blank without a word, its legend still listing every row."""
    from denoise_gan.evaluation.noise_fit.output import figure

    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        clean = rng.integers(60, 200, (40, 48, 3), np.uint8)
        write_image(tmp_path / "clean" / f"{name}.png", clean)
        write_image(tmp_path / "noisy" / f"{name}.png", np.clip(clean + rng.normal(0, 10, clean.shape), 0, 255)
                    .astype(np.uint8))
    fig = figure(paired_fit(tmp_path / "clean", tmp_path / "noisy", load_candidates(specs=["gaussian:sigma=10"])))
    said = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "no photo holds a 64x64 window" in said, said
