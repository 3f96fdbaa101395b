"""`calibrate` and the ``level_scale`` a weight file stores: fitted by the benchmark, applied by every loader and
engine, dropped where training goes on, refused when implausible."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from data_tools.images import write_image
from data_tools.samples import load_sample
from denoise_gan.cli.render import calibration_table
from denoise_gan.errors import WeightsError
from denoise_gan.evaluation.calibrate import Calibration, best_factor
from denoise_gan.inference.api import Denoiser
from denoise_gan.nets.export import load_exportable
from denoise_gan.nets.registry import build_generator
from denoise_gan.nets.run_folder import list_checkpoints
from denoise_gan.nets.shipped import resolve_weights
from denoise_gan.nets.weights import load_denoiser, load_generator, save_generator
from denoise_gan.training.refine_start import start_weights
from helpers import TINY_G, TINY_LEVEL, cli, one_line_error, random_level_net


def _saved(path: Path, scale: float, meta: dict | None = None) -> Path:
    net = random_level_net()
    net.level_scale = scale
    save_generator(path, net, TINY_LEVEL, {"role": "G noisy->clean", **(meta or {})})
    return path


def _noisy(seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    photo = torch.from_numpy(load_sample("chelsea")[:64, :64]).permute(2, 0, 1)[None].float() / 255
    return (photo + 0.1 * torch.randn_like(photo)).clamp(0, 1)


def test_a_stored_scale_multiplies_the_blind_level_map(tmp_path: Path) -> None:
    plain, _, _ = load_generator(_saved(tmp_path / "plain.safetensors", 1.0))
    scaled, _, meta = load_generator(_saved(tmp_path / "scaled.safetensors", 1.3))
    assert meta["level_scale"] == 1.3 and plain.level_scale == 1.0 and scaled.level_scale == 1.3
    x = _noisy()
    with torch.no_grad():
        torch.testing.assert_close(scaled.estimate(x), plain.estimate(x) * 1.3)
        torch.testing.assert_close(scaled(x), plain(x, strength=1.3))
        torch.testing.assert_close(scaled(x, sigma=25.0), plain(x, sigma=25.0))  # a given σ is not rescaled
    assert load_generator(tmp_path / "scaled.safetensors", calibrated=False)[0].level_scale == 1.0


def test_the_file_records_the_nets_own_scale_not_a_stale_meta_value(tmp_path: Path) -> None:
    path = _saved(tmp_path / "g.safetensors", 1.0, {"level_scale": 2.0})  # meta claims 2; the net says 1
    net, _, meta = load_generator(path)
    assert net.level_scale == 1.0 and "level_scale" not in meta


def test_training_from_calibrated_weights_starts_uncalibrated(tmp_path: Path) -> None:
    path = _saved(tmp_path / "g.safetensors", 1.3)
    assert load_denoiser(path)[0].level_scale == 1.3
    g, _ = start_weights(str(path), None)  # refine --init: the estimator is trained on, so the factor is dropped
    assert g.level_scale == 1.0


@pytest.mark.parametrize("value", ["1.2", 0.0, 10.0, True, None, float("nan")])
def test_an_implausible_scale_is_a_one_line_error(tmp_path: Path, value: object) -> None:
    path = tmp_path / "g.safetensors"
    save_generator(path, random_level_net(), TINY_LEVEL, {"role": "G noisy->clean"})
    _rewrite_meta(path, {"level_scale": value})
    with pytest.raises(WeightsError, match="implausible level_scale"):
        load_generator(path)
    write_image(tmp_path / "in" / "a.png", load_sample("chelsea")[:32, :32])
    one_line_error(cli("denoise", tmp_path / "in", "-o", tmp_path / "out", "-c", path), "implausible level_scale")


def test_a_scale_on_a_model_without_an_estimator_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "blind.safetensors"
    save_generator(path, build_generator(TINY_G), TINY_G)
    _rewrite_meta(path, {"level_scale": 1.2})
    with pytest.raises(WeightsError, match="no level estimator"):
        load_generator(path)


def _rewrite_meta(path: Path, extra: dict) -> None:
    """Edit a weight file's descriptive metadata in place, as a hand-made (or hostile) file would be."""
    with safe_open(path, "pt") as fh:
        header = dict(fh.metadata())
    header["meta"] = json.dumps({**json.loads(header["meta"]), **extra})
    save_file(load_file(path), path, metadata=header)


def _photos(folder: Path) -> Path:
    for name, (r, c) in {"chelsea": (0, 0), "coffee": (100, 200)}.items():
        write_image(folder / f"{name}.png", load_sample(name)[r:r + 128, c:c + 128])
    return folder


def test_calibrate_restores_an_estimator_that_reads_half_the_noise(tmp_path: Path) -> None:
    """The shipped default made to read half the level: calibration must pick the factor that undoes it."""
    net, cfg, meta = load_generator(resolve_weights("default"))
    net.level_scale = 0.5
    low = tmp_path / "low.safetensors"
    save_generator(low, net, cfg, meta)
    out = tmp_path / "cal"
    result = cli("calibrate", "--clean", _photos(tmp_path / "photos"), "-o", out, "-c", low,
                 "--noise", "gaussian:sigma=25", "--scale", "1", "--scale", "2", "--engine", "torch")
    assert result.exit_code == 0, result.output
    assert "factor 2 (stored level_scale 1)" in result.output
    assert "the highest one tried" in result.stderr  # a factor past the grid may do better still
    calibrated, _, cal_meta = load_generator(out / "G.safetensors")
    assert calibrated.level_scale == 1.0 and "level_scale" not in cal_meta  # 0.5 x 2: back to the plain default
    assert cal_meta["calibration"]["chosen"] == 2.0 and cal_meta["calibration"]["images"] == 2
    rows = json.loads((out / "fit" / "results.json").read_text())["summary"]
    means = {r["method"].rsplit("=", 1)[1]: r["psnr"] for r in rows if "@strength=" in r["method"]}
    assert means["2"] > means["1"] + 1.0  # the benchmark the choice rests on, as written
    # the history says this calibration after the earlier one (the default's own ended "(level_scale 1)", which
    # then stood beside a stored 1.2), and the earlier record is kept
    assert cal_meta["trained_by"] == meta["trained_by"] + "; then denoise-gan calibrate (factor 2, level_scale 1)"
    assert cal_meta["calibration"]["previous"] == meta["calibration"]
    rule = next(m["rule"] for m in json.loads((out / "fit" / "results.json").read_text())["methods"]
                if m["name"].startswith("low"))
    assert "(on top of its calibration, level_scale 0.5)" in rule  # the map is read x 0.5 x each factor
    page = (out / "fit" / "report.html").read_text()  # the benchmark's page names what was chosen from it
    assert "calibrate chose 2 (the best mean over the noises" in page and "../G.safetensors" in page


def test_calibrated_weights_denoise_as_the_source_at_that_strength(tmp_path: Path) -> None:
    source = _saved(tmp_path / "g.safetensors", 1.0)
    out = tmp_path / "cal"
    result = cli("calibrate", "--clean", _photos(tmp_path / "photos"), "-o", out, "-c", source,
                 "--noise", "gaussian:sigma=25", "--scale", "0.5", "--scale", "1.5", "--engine", "torch")
    assert result.exit_code == 0, result.output
    chosen = load_generator(out / "G.safetensors")[2]["calibration"]["chosen"]
    image = (np.clip(load_sample("chelsea")[:64, :64] + 20 * np.random.default_rng(0).standard_normal((64, 64, 3)),
                     0, 255)).astype(np.uint8)
    for engine in ("torch", "onnxruntime"):
        if engine == "onnxruntime" and not (out / "G.onnx").is_file():
            continue
        calibrated = Denoiser.from_pretrained(out / "G.safetensors", engine=engine)(image)
        plain = Denoiser.from_pretrained(source, engine="torch")(image, strength=chosen)
        assert np.abs(calibrated.astype(int) - plain.astype(int)).max() <= 1, engine


def test_calibrate_refuses_bad_requests_in_one_line(weights: Path, tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos")
    one_line_error(cli("calibrate", "--clean", photos, "-o", tmp_path / "a", "-c", weights), "no level estimator")
    level = _saved(tmp_path / "g.safetensors", 2.0)
    one_line_error(cli("calibrate", "--clean", photos, "-o", tmp_path / "b", "-c", level, "--scale", "3"),
                   "--scale 3", "4")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    one_line_error(cli("calibrate", "--clean", photos, "-o", tmp_path / "full", "-c", level), "not empty")
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    one_line_error(cli("calibrate", "--clean", photos, "-o", tmp_path / "c", "-c", level, "--noise", "bogus:x=1"))
    # its crops would be read as calibration photos by the next run on this folder
    one_line_error(cli("calibrate", "--clean", photos, "-o", photos / "fit1", "-c", level), "is inside --clean")
    assert not (photos / "fit1").exists()


def test_a_photo_returned_exactly_is_said_to_count_as_the_cap(tmp_path: Path) -> None:
    """Under σ 0 every cell printed 100.00 as if measured; the means hold the cap for infinite PSNR."""
    from data_tools.images import write_image

    for name, value in (("a", 90), ("b", 160)):  # flat: the default reads level 0 and returns them exactly
        write_image(tmp_path / "photos" / f"{name}.png", np.full((48, 48, 3), value, np.uint8))
    result = cli("calibrate", "--clean", tmp_path / "photos", "-o", tmp_path / "cal", "-c", "default",
                 "--noise", "gaussian:sigma=0", "--scale", "1", "--scale", "1.2", "--engine", "torch")
    assert result.exit_code == 0, result.output
    assert "came back exactly (infinite PSNR) and count as 100 dB" in " ".join(result.output.split())
    page = (tmp_path / "cal" / "fit" / "report.html").read_text()  # where its page's means differ, it says so
    assert "Its means count a photo returned exactly as 100 dB" in page
    assert "<title>calibration: cal</title>" in page  # not "benchmark: fit", as every calibration's page was


def test_calibrate_never_writes_over_its_source_or_beside_another_calibration(tmp_path: Path) -> None:
    """`-c OUT -o OUT --resume` replaced the source G.safetensors in place; two calibrations into one folder
    mixed their fits."""
    from data_tools.folder_lock import holding_folder

    photos = _photos(tmp_path / "photos")
    (tmp_path / "out" / "fit").mkdir(parents=True)
    source = _saved(tmp_path / "out" / "G.safetensors", 1.0)
    before = source.read_bytes()
    one_line_error(cli("calibrate", "--clean", photos, "-o", tmp_path / "out", "-c", tmp_path / "out", "--resume",
                       "--noise", "gaussian:sigma=25", "--scale", "1"), "would overwrite the weights being calibrated")
    assert source.read_bytes() == before
    level = _saved(tmp_path / "g.safetensors", 1.0)
    (tmp_path / "busy").mkdir()
    with holding_folder(tmp_path / "busy"):
        one_line_error(cli("calibrate", "--clean", photos, "-o", tmp_path / "busy", "-c", level, "--noise",
                           "gaussian:sigma=25", "--scale", "1"), "another process is writing this calibration", code=1)
        (tmp_path / "busy" / "fit").mkdir()  # its fit begun: "not empty ... --resume" was advice its lock refuses
        one_line_error(cli("calibrate", "--clean", photos, "-o", tmp_path / "busy", "-c", level, "--noise",
                           "gaussian:sigma=25", "--scale", "1"), "another process is writing this calibration", code=1)
    assert not (tmp_path / "busy" / "G.safetensors").exists()


def test_an_interrupted_calibration_resumes_from_its_fit_and_a_finished_one_is_kept(tmp_path: Path) -> None:
    source = _saved(tmp_path / "g.safetensors", 1.0)
    photos = _photos(tmp_path / "photos")
    args = ("--clean", photos, "-c", source, "--noise", "gaussian:sigma=25", "--scale", "0.5", "--scale", "1.5",
            "--engine", "torch")
    first = cli("calibrate", "-o", tmp_path / "a", *args)
    assert first.exit_code == 0, first.output
    (tmp_path / "b").mkdir()  # b: stopped after the benchmark, before the weights were written
    shutil.copytree(tmp_path / "a" / "fit", tmp_path / "b" / "fit")  # its rows and their crops
    resumed = cli("calibrate", "-o", tmp_path / "b", "--resume", *args)
    assert resumed.exit_code == 0, resumed.output
    assert "6 benchmark row(s) reused" in resumed.output  # 2 photos x (noisy + 2 factors)
    assert load_generator(tmp_path / "b" / "G.safetensors")[0].level_scale == \
        load_generator(tmp_path / "a" / "G.safetensors")[0].level_scale
    before = (tmp_path / "a" / "G.safetensors").read_bytes()
    one_line_error(cli("calibrate", "-o", tmp_path / "a", "--resume", *args), "has finished")
    again = one_line_error(cli("calibrate", "-o", tmp_path / "a", *args), "use the finished calibration it holds")
    assert "--resume" not in again  # which would only be told the calibration has finished
    (tmp_path / "export").mkdir()  # weights and their graph, but no fit/: not a calibration at all
    for name in ("G.safetensors", "G.onnx"):
        shutil.copy(tmp_path / "a" / name, tmp_path / "export" / name)
    other = one_line_error(cli("calibrate", "-o", tmp_path / "export", *args), "not empty", "or empty it")
    assert "finished calibration" not in other and "--resume" not in other
    one_line_error(cli("calibrate", "-o", tmp_path / "c", "--resume", *args), "no calibration to resume")
    assert (tmp_path / "a" / "G.safetensors").read_bytes() == before and not (tmp_path / "c").exists()
    (tmp_path / "a" / "G.onnx").unlink()  # stopped between the weights and their graph: --resume writes it
    finished = cli("calibrate", "-o", tmp_path / "a", "--resume", *args)
    assert finished.exit_code == 0 and (tmp_path / "a" / "G.onnx").is_file(), finished.output
    assert (tmp_path / "a" / "G.safetensors").read_bytes() == before


def test_a_graph_or_an_out_of_range_factor_is_refused_before_any_work(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos")
    one_line_error(cli("calibrate", "--clean", photos, "-o", tmp_path / "a", "-c", resolve_weights("default")
                       .with_suffix(".onnx")), "give the .safetensors")
    source = _saved(tmp_path / "g.safetensors", 1.0)
    one_line_error(cli("calibrate", "--clean", photos, "-o", tmp_path / "b", "-c", source, "--scale", "8"),
                   "--scale 8")
    one_line_error(cli("calibrate", "--clean", tmp_path / "nowhere", "-o", tmp_path / "c", "-c", source))
    calibrated = _saved(tmp_path / "cal.safetensors", 0.25)  # the default factors 0.8... would store under 0.25
    one_line_error(cli("calibrate", "--clean", photos, "-o", tmp_path / "d", "-c", calibrated),
                   "(a factor to try)", "give --scale values within 1..")
    low = _saved(tmp_path / "low.safetensors", 0.3)  # 0.25 / 0.3 = 0.8333...: 0.833 would store 0.2499, refused
    one_line_error(cli("calibrate", "--clean", photos, "-o", tmp_path / "d", "-c", low, "--scale", "0.5"),
                   "within 0.834..")
    (photos / "zz_broken.png").write_text("x")  # found only after every factor had been run on the others
    one_line_error(cli("calibrate", "--clean", photos, "-o", tmp_path / "e", "-c", source), "zz_broken.png",
                   "remove it from --clean")
    (photos / "zz_broken.png").unlink()
    write_image(photos / "dot.png", np.zeros((8, 8, 3), np.uint8))
    one_line_error(cli("calibrate", "--clean", photos, "-o", tmp_path / "f", "-c", source), "dot.png", "too small")
    assert not any((tmp_path / name).exists() for name in "abcdef")  # no folder left behind


def test_a_run_checkpoint_exports_without_its_run_files_calibration(finished_run: Path, tmp_path: Path) -> None:
    """The factor belongs to the run's weight file (adapt's start copy carries one until its first save); a
    checkpoint's tensors run uncalibrated, so the export must not claim the factor."""
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    _rewrite_meta(run / "G.safetensors", {"level_scale": 1.2, "calibration": {"chosen": 1.2}})
    ckpt = list_checkpoints(run / "checkpoints")[-1][1]
    model = load_exportable(ckpt)
    assert "level_scale" not in model.meta and "calibration" not in model.meta


def test_calibration_table_numbers_long_specs_on_a_narrow_terminal() -> None:
    """A spec folded into fragments is unreadable: when the table would not fit, the columns are numbered and
    a legend names each spec whole; when it fits, even by one column, the specs head their columns whole."""
    def shown(noises: tuple[str, ...], width: int) -> list[str]:
        psnr = {k: {n: 30.0 + k for n in noises} for k in (0.9, 1.0, 1.1)}
        cal = Calibration(source=Path("g"), weights=Path("o"), graph=None, scales=(0.9, 1.0, 1.1), noises=noises,
                          psnr=psnr, best=1.1, level_scale=1.1, images=2)
        console = Console(width=width, record=True, color_system=None)
        console.print(calibration_table(cal, console.width))
        return console.export_text().splitlines()

    four = ("gaussian:sigma=5", "gaussian:sigma=25", "poisson:peak=30", "camera:peak=40,read=2+jpeg:quality=90")
    narrow = shown(four, 80)
    assert all(any(line.strip() == f"({i}) {n}" for line in narrow) for i, n in enumerate(four, 1))
    assert any("31.10" in line for line in narrow)
    assert all(any(n in line and "(" not in line for line in shown(four, 200)) for n in four)  # headers, whole

    two = ("gaussian:sigma=25", "camera:peak=40,read=2+jpeg:quality=90")  # the table is 79 columns wide
    assert any(two[1] in line and "(2)" not in line for line in shown(two, 79))  # fits exactly: a header
    assert any(line.strip() == f"(2) {two[1]}" for line in shown(two, 78))  # one short: the legend, whole


def test_the_best_factor_wins_and_a_tie_keeps_the_estimator_as_trained() -> None:
    assert best_factor({0.9: 30.0, 1.0: 30.0, 1.1: 30.0}) == 1.0
    assert best_factor({1.1: 30.0, 1.3: 30.0}) == 1.1  # the nearest to 1
    assert best_factor({0.9: 30.2, 1.0: 30.0, 1.1: 30.1}) == 0.9
    assert best_factor({1.0: 30.0, 1.05: 30.0000001}) == 1.0  # below a millionth of a dB: a tie
    assert best_factor({0.8: 19.234959, 1.0: 19.234884}) == 1.0  # both shown as 19.235: a tie, as the table says
    assert best_factor({0.8: 19.236, 1.0: 19.235}) == 0.8  # a thousandth apart, as shown: a win
    assert best_factor({0.8: 19.23451, 1.0: 19.23449}) == 1.0  # rounded apart (19.235, 19.234) yet 0.00002 dB
    assert best_factor({0.75: 30.0003, 1.25: 30.0}) == 0.75  # tied and as near 1: the higher PSNR
    from denoise_gan.evaluation.calibrate import DEFAULT_SCALES

    assert DEFAULT_SCALES == (0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2, 1.25, 1.3)  # the README's grid
    assert best_factor({0.75: 30.0, 1.25: 30.0003}) == 1.25


def test_the_criterion_is_each_noises_mean_over_photos_then_the_plain_mean_over_noises() -> None:
    """Every noise weighs the same, by its mean: a factor far better on one noise and a little worse on the other
    two wins when its mean over the noises is higher (the median would pick the other), and an exact image (None:
    infinite PSNR) counts as PSNR_CAP."""
    from denoise_gan.evaluation.benchmark.methods import strength_row
    from denoise_gan.evaluation.calibrate import PSNR_CAP, _mean_over_noises, _mean_psnr

    table = {0.9: {"a": (30.0, 30.0), "b": (30.0, 30.0), "c": (40.0, 40.0)},
             1.1: {"a": (31.0, 31.0), "b": (31.0, 31.0), "c": (31.0, 31.0)}}
    rows = [{"method": strength_row("model", k), "noise": noise, "image": f"p{i}", "psnr": value}
            for k, noises in table.items() for noise, values in noises.items() for i, value in enumerate(values)]
    rows.append({"method": "noisy", "noise": "a", "image": "p0", "psnr": 20.0})  # the input's row: no factor
    psnr, capped = _mean_psnr(rows, (0.9, 1.1))
    assert capped == 0 and psnr[0.9] == {"a": 30.0, "b": 30.0, "c": 40.0}
    assert best_factor({k: _mean_over_noises(psnr[k]) for k in (0.9, 1.1)}) == 0.9  # 33.3 against 31
    rows[0]["psnr"] = None
    psnr, capped = _mean_psnr(rows, (0.9, 1.1))
    assert capped == 1 and psnr[0.9]["a"] == (PSNR_CAP + 30.0) / 2
    rows[1]["psnr"] = PSNR_CAP + 1.07  # a finite PSNR past the cap (one level off in a 256² photo) counts as the
    rows.append({"method": strength_row("model", 0.9), "noise": "a", "image": "p2", "psnr": 30.0})  # cap, but was
    psnr, capped = _mean_psnr(rows, (0.9, 1.1))  # no exact return, which the caption counts
    assert capped == 1 and psnr[0.9]["a"] == (2 * PSNR_CAP + 30.0) / 3  # the mean over the photos, not the median


def test_the_edge_warning_is_for_a_best_factor_at_an_end_of_several_tried(tmp_path: Path) -> None:
    """One --scale tried is no grid: it has no edge to warn about (it said "lowest" before)."""
    def calibration(scales: tuple[float, ...], best: float) -> Calibration:
        return Calibration(source=tmp_path, weights=tmp_path, graph=None, scales=scales, noises=("n",),
                           psnr={k: {"n": 30.0} for k in scales}, best=best, level_scale=best, images=1)

    assert calibration((1.0,), 1.0).at_the_edge() == ""
    assert calibration((0.9, 1.0, 1.1), 1.0).at_the_edge() == ""
    assert calibration((0.9, 1.0, 1.1), 0.9).at_the_edge() == "lowest"
    assert calibration((0.9, 1.0, 1.1), 1.1).at_the_edge() == "highest"
    # at the end of the factors allowed (0.25..4) there is nothing beyond to try: "try beyond it" was refused
    assert calibration((0.25, 0.5), 0.25).at_the_edge() == "" and calibration((2.0, 4.0), 4.0).at_the_edge() == ""
