"""`denoise-gan benchmark`: rows scored by the protocol, reproducible, resumable, and an offline report."""

from __future__ import annotations

import base64
import csv
import dataclasses
import hashlib
import io
import json
import math
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from data_tools.images import read_image, write_image
from data_tools.noise import image_seed, parse_noise_spec
from data_tools.synth import synth
from denoise_gan.cli import app
from denoise_gan.config import GeneratorConfig
from denoise_gan.evaluation import metrics, noise_sigma, report, report_crops
from denoise_gan.evaluation.benchmark import inputs as bench_inputs
from denoise_gan.evaluation.benchmark import methods as bench_methods
from denoise_gan.evaluation.benchmark.methods import CLASSICAL
from denoise_gan.evaluation.report_crops import crop_png, crop_window
from denoise_gan.nets.registry import build_generator
from denoise_gan.nets.weights import save_generator
from helpers import cli, one_line_error, runner

torch.set_num_threads(1)
SPECS = ("gaussian:sigma=15", "gaussian:sigma=25")
METHODS = "noisy,nlm,wavelet,tv,model"
ROW_FIELDS = {"image", "noise", "method", "psnr", "ssim", "seconds", "mp_per_s", "megapixels", "sigma_used",
              "fingerprint"}


def _scene(h: int, w: int, c: int, dtype: type = np.uint8, seed: int = 0) -> np.ndarray:
    """Smooth gradients plus a few edges: denoisers have something to keep and something to smooth."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    base = 0.5 + 0.3 * np.sin(x / 7.0 + seed) * np.cos(y / 9.0) + 0.15 * (x > w / 2)
    img = np.stack([base * (0.8 + 0.2 * rng.random()) for _ in range(c)], axis=-1)
    peak = np.iinfo(dtype).max
    return np.clip(np.rint(img * peak), 0, peak).astype(dtype)


@pytest.fixture(scope="module")
def clean_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clean")
    write_image(folder / "rgb.png", _scene(48, 56, 3, seed=1))
    write_image(folder / "gray.png", _scene(56, 48, 1, seed=2))
    return folder


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    cfg = GeneratorConfig(width=4, depth=1, blocks=1)
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_generator(path, build_generator(cfg), cfg)
    return path


def bench(*args: str | Path) -> object:
    return runner.invoke(app, ["benchmark", *map(str, args)])


def noise_args(specs: tuple[str, ...] = SPECS) -> list[str]:
    return [a for spec in specs for a in ("--noise", spec)]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory, clean_dir: Path, weights: Path) -> Path:
    out = tmp_path_factory.mktemp("bench") / "out"
    result = bench("--clean", clean_dir, *noise_args(), "--methods", METHODS, "-c", weights, "-o", out,
                   "--seed", 3)
    assert result.exit_code == 0, result.stderr + result.stdout
    return out


# ---- results ----------------------------------------------------------------------------------------

def test_rows_are_scored_by_the_protocol_on_the_seeded_inputs(full_run: Path, clean_dir: Path) -> None:
    data = json.loads((full_run / "results.json").read_text())
    rows = data["rows"]
    assert len(rows) == 2 * 2 * 5
    assert all(set(r) == ROW_FIELDS for r in rows)
    assert {r["method"] for r in rows} == {"noisy", "nlm", "wavelet", "tv", "tiny"}  # model row: checkpoint stem
    assert {r["noise"] for r in rows} == set(SPECS) and {r["image"] for r in rows} == {"rgb", "gray"}
    assert data["protocol"]["ssim"]["sigma"] == 1.5 and data["config"]["seed"] == 3
    inputs = {(i["image"], i["noise"]): i for i in data["inputs"]}
    for r in rows:
        clean = read_image(clean_dir / f"{r['image']}.png").pixels
        noisy, stages = parse_noise_spec(r["noise"]).apply(clean, image_seed(3, r["image"]))
        entry = inputs[(r["image"], r["noise"])]
        assert entry["image_seed"] == image_seed(3, r["image"]) and entry["stages"] == stages
        if r["method"] == "noisy":
            assert r["psnr"] == pytest.approx(metrics.psnr(clean, noisy), abs=1e-12)
            assert r["ssim"] == pytest.approx(metrics.ssim(clean, noisy), abs=1e-12)
            assert r["seconds"] == 0.0 and r["sigma_used"] is None
        elif r["method"] == "tiny":
            assert r["sigma_used"] is None and r["seconds"] > 0
        else:
            assert r["sigma_used"] == entry["sigma_estimate"] and r["seconds"] > 0
    # classical methods must beat the noisy input on these smooth scenes
    by = {(r["image"], r["noise"], r["method"]): r["psnr"] for r in rows}
    for (image, noise, method), value in by.items():
        if method in ("nlm", "wavelet", "tv"):
            assert value > by[(image, noise, "noisy")] + 1.0, (image, noise, method)
    assert data["models"][0]["method"] == "tiny" and data["models"][0]["load_seconds"] > 0


def test_each_summary_row_is_the_mean_of_its_own_noise_and_method(full_run: Path) -> None:
    data = json.loads((full_run / "results.json").read_text())
    assert len(data["summary"]) == len(SPECS) * 5
    for entry in data["summary"]:
        mine = [r for r in data["rows"] if (r["noise"], r["method"]) == (entry["noise"], entry["method"])]
        assert entry["images"] == len(mine) == 2
        assert entry["psnr"] == pytest.approx(np.mean([r["psnr"] for r in mine]))
        assert entry["ssim"] == pytest.approx(np.mean([r["ssim"] for r in mine]))
        seconds = sum(r["seconds"] for r in mine)  # per image, and megapixels per second of all of them
        assert entry["seconds"] == pytest.approx(seconds / len(mine))
        assert entry["mp_per_s"] == (None if seconds == 0 else pytest.approx(sum(r["megapixels"] for r in mine)
                                                                           / seconds))
    noisy = [e["psnr"] for e in data["summary"] if e["method"] == "noisy"]
    assert abs(noisy[0] - noisy[1]) > 1  # the two noises differ, so pooling them could not pass


def test_a_summary_with_an_identical_pair_has_no_finite_mean_psnr() -> None:
    """As `evaluate`: one output equal to its clean image makes the PSNR mean infinite (null in JSON); the
    finite mean and the count stand beside it."""
    from denoise_gan.evaluation.benchmark.results import _summary

    rows = [{"noise": "n", "method": "m", "psnr": psnr, "ssim": 0.9, "seconds": 1.0, "megapixels": 0.5}
            for psnr in (None, 40.0, 42.0, 47.0)]
    entry = _summary(rows, ["n"], ["m"])[0]
    assert entry["psnr"] is None and entry["psnr_finite"] == 43.0 and entry["identical_pairs"] == 1  # the mean


def test_csv_writes_an_identical_pair_as_inf_as_evaluate_does() -> None:
    """One reader takes both CSV files: an empty cell read as missing data hid the perfect score."""
    from denoise_gan.evaluation.benchmark.results import csv_text

    row = {"image": "a", "noise": "n", "method": "m", "psnr": None, "ssim": 1.0, "seconds": 0.5, "mp_per_s": 2.0,
           "sigma_used": None}
    line = next(csv.DictReader(io.StringIO(csv_text({"rows": [row]}))))
    assert line["psnr"] == "inf" and float(line["psnr"]) == math.inf
    formula = next(csv.DictReader(io.StringIO(csv_text({"rows": [{**row, "image": "=HYPERLINK(1)"}]}))))
    assert formula["image"] == "./=HYPERLINK(1)"  # the same file, and no formula a spreadsheet runs
    model = next(csv.DictReader(io.StringIO(csv_text({"rows": [{**row, "method": "@SUM(1)"}]}))))
    assert model["method"] == "./@SUM(1)"  # a model named by its file: no formula either


def test_a_row_made_with_another_sigma_is_another_row() -> None:
    """A resume from blind σ 24.8 to --oracle-sigma 25 must not reuse the blind rows."""
    from denoise_gan.evaluation.benchmark.results import row_fingerprint

    tv = CLASSICAL["tv"]
    assert row_fingerprint("abc", tv, 25.0) == row_fingerprint("abc", tv, 25.0)
    assert len({row_fingerprint("abc", tv, s) for s in (24.8, 25.0, 25.1, 25.0001, None)}) == 5


def test_csv_matches_json(full_run: Path) -> None:
    data = json.loads((full_run / "results.json").read_text())
    table = list(csv.DictReader(io.StringIO((full_run / "results.csv").read_text())))
    assert len(table) == len(data["rows"])
    for line, row in zip(table, data["rows"]):
        assert (line["image"], line["noise"], line["method"]) == (row["image"], row["noise"], row["method"])
        assert float(line["psnr"]) == pytest.approx(row["psnr"], abs=1e-6)
        assert float(line["ssim"]) == pytest.approx(row["ssim"], abs=1e-6)
        assert line["sigma_used"] == ("" if row["sigma_used"] is None else f"{row['sigma_used']:.6f}")


def test_report_is_offline_and_its_images_exist(full_run: Path) -> None:
    page = (full_run / "report.html").read_text()
    sources = re.findall(r"src='([^']+)'", page)
    assert len(sources) == 2 + 2 * 2 * (5 + 1)  # two plots; each method's crop and the clean crop, per image
    prefix = "data:image/png;base64,"
    pngs = [base64.b64decode(src.removeprefix(prefix)) for src in sources if src.startswith(prefix)]
    assert len(pngs) == len(sources) and all(p[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)  # all embedded
    assert (full_run / "plots" / "psnr_vs_noise.png").is_file()  # still written beside it (for --resume)
    assert not re.search(r"(href|src)=['\"]?(https?:)?//", page)  # nothing fetched from the network
    assert "crop missing" not in page
    crop = cv2.imdecode(np.frombuffer(pngs[-1], np.uint8), cv2.IMREAD_UNCHANGED)
    assert crop.shape[0] == 2 * 48 or crop.shape[0] == 2 * 56  # whole small image, enlarged x2
    # so the heading does not promise a 128x128 window, and says the caption's PSNR is the whole image's
    assert "up to 128×128" in page and "the PSNR under each is the whole image's" in page


def test_same_seed_same_numbers_other_seed_other_noise(tmp_path: Path, clean_dir: Path, full_run: Path) -> None:
    def run(out: Path, seed: int) -> dict:
        result = bench("--clean", clean_dir, *noise_args(SPECS[:1]), "--methods", "tv", "-o", out, "--seed", seed)
        assert result.exit_code == 0, result.stderr
        return json.loads((out / "results.json").read_text())

    a, b, c = run(tmp_path / "a", 3), run(tmp_path / "b", 3), run(tmp_path / "c", 4)
    scores = [[(r["image"], r["method"], r["psnr"], r["ssim"], r["sigma_used"]) for r in d["rows"]] for d in (a, b)]
    assert scores[0] == scores[1]
    assert [i["noisy_sha256"] for i in a["inputs"]] == [i["noisy_sha256"] for i in b["inputs"]]
    assert [i["noisy_sha256"] for i in a["inputs"]] != [i["noisy_sha256"] for i in c["inputs"]]
    from denoise_gan.evaluation.benchmark.inputs import pixels_fingerprint

    assert "not of a file" in a["protocol"]["noise"]  # what the name alone would not say
    assert pixels_fingerprint(np.zeros((2, 3, 1), np.uint8)) == hashlib.sha256(b"|u1(2, 3, 1)" + bytes(6)).hexdigest()
    full = json.loads((full_run / "results.json").read_text())
    same = {(r["image"], r["psnr"]) for r in full["rows"] if r["method"] == "tv" and r["noise"] == SPECS[0]}
    assert {(r["image"], r["psnr"]) for r in a["rows"] if r["method"] == "tv"} == same  # other methods don't matter


def test_noisy_inputs_match_synth_and_a_synth_set_can_be_benchmarked(tmp_path: Path, clean_dir: Path) -> None:
    spec = "gaussian:sigma=20"
    synth(clean_dir, tmp_path / "set", spec, seed=5)
    from_clean = bench("--clean", clean_dir, "--noise", spec, "--methods", "noisy", "-o", tmp_path / "a", "--seed", 5)
    from_set = bench("--noisy", tmp_path / "set", "--methods", "noisy", "-o", tmp_path / "b")
    assert from_clean.exit_code == 0 and from_set.exit_code == 0, from_clean.stderr + from_set.stderr
    a, b = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("a", "b"))
    assert [i["noisy_sha256"] for i in a["inputs"]] == [i["noisy_sha256"] for i in b["inputs"]]
    assert b["config"]["noises"] == [spec] and {r["noise"] for r in b["rows"]} == {spec}
    assert b["config"]["seed"] is None  # it recorded --seed's default 0: the set's own seeds made the files
    assert "noisy files read from synth sets" in (tmp_path / "b" / "report.html").read_text()
    noisy = read_image(tmp_path / "set" / "noisy" / "rgb.png").pixels
    clean = read_image(tmp_path / "set" / "clean" / "rgb.png").pixels
    row = next(r for r in b["rows"] if r["image"] == "rgb")
    assert row["psnr"] == pytest.approx(metrics.psnr(clean, noisy), abs=1e-12)
    write_image(tmp_path / "set" / "clean" / "rgb.png", 255 - clean)  # the reference edited: its row is stale
    again = bench("--noisy", tmp_path / "set", "--methods", "noisy", "-o", tmp_path / "b", "--resume")
    assert again.exit_code == 0, again.output
    row = next(r for r in json.loads((tmp_path / "b" / "results.json").read_text())["rows"] if r["image"] == "rgb")
    assert row["psnr"] == pytest.approx(metrics.psnr(255 - clean, noisy), abs=1e-12)


def test_a_set_made_with_a_learned_noise_model_is_benchmarked_blind_or_at_its_residuals_std(
        tmp_path: Path, clean_dir: Path) -> None:
    """Its manifest names the model, not a spec: that was read as an unknown noise model 'noise-model'. Its clean
    file is the truth its noise was drawn onto, so ``--oracle-sigma`` gives it the residual's std, as a camera's."""
    synth(clean_dir, tmp_path / "set", "poisson:peak=20", seed=5)
    manifest = json.loads((tmp_path / "set" / "manifest.json").read_text())
    learned = "noise-model:F.safetensors sha256:0123456789abcdef"  # as a learned model labels the sets it makes
    manifest["noise"] = learned
    for entry in manifest["images"]:
        entry["stages"] = [{"model": "noise-model", "v": 0.5}]  # as a learned model records each image
    (tmp_path / "set" / "manifest.json").write_text(json.dumps(manifest))
    result = bench("--noisy", tmp_path / "set", "--methods", "noisy,tv", "-o", tmp_path / "b")
    assert result.exit_code == 0, result.stderr
    blind = json.loads((tmp_path / "b" / "results.json").read_text())
    assert {r["noise"] for r in blind["rows"]} == {learned}
    oracle = bench("--noisy", tmp_path / "set", "--methods", "tv", "-o", tmp_path / "c", "--oracle-sigma")
    assert oracle.exit_code == 0, oracle.stderr
    for record in json.loads((tmp_path / "c" / "results.json").read_text())["inputs"]:
        clean = read_image(tmp_path / "set" / "clean" / f"{record['image']}.png").pixels.astype(np.float64)
        noisy = read_image(tmp_path / "set" / "noisy" / f"{record['image']}.png").pixels.astype(np.float64)
        assert record["sigma_used"] == pytest.approx(float((noisy - clean).std()), rel=1e-9)
        assert record["sigma_used"] != pytest.approx(record["sigma_estimate"], rel=0.01)
    for entry in manifest["images"]:
        entry.pop("stages")  # a source that records nothing of its draws: the residual is there all the same
    (tmp_path / "set" / "manifest.json").write_text(json.dumps(manifest))
    again = bench("--noisy", tmp_path / "set", "--methods", "tv", "-o", tmp_path / "d", "--oracle-sigma")
    assert again.exit_code == 0, again.stderr
    assert [r["sigma_used"] for r in json.loads((tmp_path / "d" / "results.json").read_text())["inputs"]] == \
        [r["sigma_used"] for r in json.loads((tmp_path / "c" / "results.json").read_text())["inputs"]]
    manifest["noise"] = "poisson:peak=20"  # a spec's set without its draws: a mixture's part is not known
    (tmp_path / "set" / "manifest.json").write_text(json.dumps(manifest))
    refused = bench("--noisy", tmp_path / "set", "--methods", "tv", "-o", tmp_path / "e", "--oracle-sigma")
    assert refused.exit_code == 2 and "records no noise stages, so --oracle-sigma has no true σ" in refused.stderr


def test_own_pairs_whose_alpha_differs_are_scored_as_evaluate_scores_them(tmp_path: Path) -> None:
    """An editor's opaque RGBA clean PNG beside a noisy RGB file (and gray+alpha beside gray) failed in benchmark
    ("is (64, 64, 3), its clean file (64, 64, 4)") and left the means, though evaluate scored the pair: alpha is
    never scored."""
    rng = np.random.default_rng(3)
    for name, channels in (("rgba", 3), ("graya", 1)):
        clean = rng.integers(40, 200, (64, 64, channels), np.uint8)
        noisy = np.clip(clean + rng.normal(0, 12, clean.shape), 0, 255).astype(np.uint8)
        alpha = np.full((64, 64, 1), 255, np.uint8)
        write_image(tmp_path / "mine" / "clean" / f"{name}.png", np.concatenate([clean, alpha], axis=2))
        write_image(tmp_path / "mine" / "noisy" / f"{name}.png", noisy if channels == 3 else noisy[..., 0])
    result = bench("--noisy", tmp_path / "mine", "--methods", "noisy", "-o", tmp_path / "b")
    assert result.exit_code == 0, result.stderr
    rows = {r["image"]: r["psnr"] for r in json.loads((tmp_path / "b" / "results.json").read_text())["rows"]}
    scored = cli("evaluate", "--clean", tmp_path / "mine" / "clean", "--pred", tmp_path / "mine" / "noisy",
                 "--json", tmp_path / "e.json")
    assert scored.exit_code == 0, scored.stderr
    evaluated = {r["name"]: r["psnr"] for r in json.loads((tmp_path / "e.json").read_text())["images"]}
    assert set(rows) == {"rgba", "graya"} and all(abs(rows[n] - evaluated[n]) < 1e-6 for n in rows), \
        (rows, evaluated)


def test_a_folder_of_the_users_own_pairs_is_benchmarked_blind(tmp_path: Path, clean_dir: Path) -> None:
    """Real clean/noisy pairs (no manifest: no spec, no seeds) were refused as "no manifest.json", so no command
    compared the model with BM3D or NLM on a user's own photos."""
    import shutil

    synth(clean_dir, tmp_path / "set", "gaussian:sigma=20", seed=5)
    for part in ("clean", "noisy"):
        shutil.copytree(tmp_path / "set" / part, tmp_path / "mine" / part)
    scored = {}
    for name in ("set", "mine"):
        result = bench("--noisy", tmp_path / name, "--methods", "noisy,tv", "-o", tmp_path / f"b_{name}")
        assert result.exit_code == 0, result.stderr
        rows = json.loads((tmp_path / f"b_{name}" / "results.json").read_text())["rows"]
        scored[name] = {(r["image"], r["method"], r["psnr"], r["sigma_used"]) for r in rows}
        if name == "mine":
            assert {r["noise"] for r in rows} == {"pairs:mine"}
    assert scored["mine"] == scored["set"]  # blind σ either way: the same rows
    again = bench("--noisy", tmp_path / "set" / ".." / "mine", "--methods", "noisy,tv", "-o", tmp_path / "b_mine",
                  "--resume")  # the folder spelt another way: its rows are the same rows
    assert again.exit_code == 0 and "0 row(s) computed" in again.output, again.output
    refused = bench("--noisy", tmp_path / "mine", "--methods", "tv", "-o", tmp_path / "c", "--oracle-sigma")
    assert refused.exit_code == 2 and "real pairs record no σ" in refused.stderr
    (tmp_path / "mine" / "noisy" / "rgb.png").unlink()
    one_line_error(bench("--noisy", tmp_path / "mine", "-o", tmp_path / "d"), "no noisy twin named rgb.*")
    (tmp_path / "half" / "clean").mkdir(parents=True)
    one_line_error(bench("--noisy", tmp_path / "half", "-o", tmp_path / "e"), "nor a folder of your own pairs")


# ---- resume ---------------------------------------------------------------------------------------


def _count_calls(monkeypatch: pytest.MonkeyPatch, name: str) -> list[tuple[int, ...]]:
    """Replace a method by a wrapper that records the shape of every full-size (non warm-up) call."""
    calls: list[tuple[int, ...]] = []
    original = CLASSICAL[name]

    def counted(noisy: np.ndarray, sigma: float) -> np.ndarray:
        if noisy.shape[0] > 32:
            calls.append(noisy.shape)
        return original.run(noisy, sigma)

    monkeypatch.setitem(CLASSICAL, name, dataclasses.replace(original, run=counted))
    return calls


def test_resume_recomputes_only_missing_rows(tmp_path: Path, clean_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    args = ["--clean", clean_dir, *noise_args(), "--methods", "tv,wavelet", "-o", out]
    assert bench(*args).exit_code == 0
    first = json.loads((out / "results.json").read_text())

    again = bench(*args)
    assert again.exit_code == 2 and "--resume" in one_line_error(again)

    calls = _count_calls(monkeypatch, "tv")
    resumed = bench(*args, "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert calls == [] and "0 row(s) computed, 12 reused" in resumed.stdout
    second = json.loads((out / "results.json").read_text())
    assert second["rows"] == first["rows"]

    # an interrupted run: one row never written -> only that one is computed
    second["rows"] = [r for r in second["rows"] if not (r["image"] == "gray" and r["method"] == "tv"
                                                        and r["noise"] == SPECS[1])]
    (out / "results.json").write_text(json.dumps(second))
    resumed = bench(*args, "--resume")
    assert resumed.exit_code == 0 and calls == [(56, 48, 1)]

    def untimed(rows: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k not in ("seconds", "mp_per_s")} for r in rows]

    assert untimed(json.loads((out / "results.json").read_text())["rows"]) == untimed(first["rows"])

    # rows edited by hand into other types are computed again (they were a traceback when the run saved)
    edited = json.loads((out / "results.json").read_text())
    tv_rows = [r for r in edited["rows"] if r["method"] == "tv"]
    tv_rows[0]["psnr"], tv_rows[1]["seconds"], tv_rows[3]["sigma_used"] = "high", None, "25"
    del tv_rows[2]["ssim"]
    wavelet_rows = [r for r in edited["rows"] if r["method"] == "wavelet"]  # a key that may hold null, missing:
    for row, key in zip(wavelet_rows, ("psnr", "mp_per_s", "sigma_used")):  # a KeyError at every resume after
        del row[key]
    (out / "results.json").write_text(json.dumps(edited))
    calls.clear()
    resumed = bench(*args, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert len(calls) == 4 and untimed(json.loads((out / "results.json").read_text())["rows"]) == untimed(first["rows"])

    crop = out / report_crops.crop_relpath(SPECS[0], "rgb", "tv")  # a crop deleted: its row is made again, crop and all
    crop.unlink()
    calls.clear()
    assert bench(*args, "--resume").exit_code == 0
    assert len(calls) == 1 and crop.is_file()


def test_crops_are_written_only_for_the_images_the_report_shows(tmp_path: Path, clean_dir: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Every image's crops were written (two fsyncs each), half a 300-image run, and again at each --resume, for
    a report that shows the first twelve."""
    for module in (report, report_crops):  # the run writes the crops, the page shows them
        monkeypatch.setattr(module, "MAX_CROP_IMAGES", 1)
    out = tmp_path / "out"
    args = ["--clean", clean_dir, "--noise", SPECS[0], "--methods", "wavelet", "-o", out]
    assert bench(*args).exit_code == 0
    first = json.loads((out / "results.json").read_text())["inputs"][0]["image"]
    written = sorted(p.relative_to(out).as_posix() for p in (out / "crops").rglob("*.png"))
    assert written == sorted(report_crops.crop_relpath(SPECS[0], first, m) for m in ("clean", "noisy", "wavelet"))
    page = (out / "report.html").read_text()
    assert "crop missing" not in page and "Crops shown for the first 1 of 2 images" in page
    saved: list[str] = []
    monkeypatch.setattr(report_crops, "save_crop", lambda *a, **k: saved.append(a[3]))
    resumed = bench(*args, "--resume")
    assert resumed.exit_code == 0 and saved == [], resumed.output


def test_two_noisy_sets_sharing_names_show_the_crops_their_run_wrote(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The report took each noise's first images in the order names first came over all sets, the run in that
    set's own order: the second set's section showed "crop missing" where the other set's names came first."""
    for module in (report, report_crops):  # the run writes the crops, the page shows them
        monkeypatch.setattr(module, "MAX_CROP_IMAGES", 1)
    for folder, names in (("a", ("m0", "m1")), ("b", ("a0", "m0", "m1"))):
        for i, name in enumerate(names):
            write_image(tmp_path / folder / f"{name}.png", _scene(48, 56, 3, seed=i))
    synth(tmp_path / "a", tmp_path / "set_a", "gaussian:sigma=25", 0)
    synth(tmp_path / "b", tmp_path / "set_b", "gaussian:sigma=15", 0)
    out = tmp_path / "out"
    done = bench("--noisy", tmp_path / "set_a", "--noisy", tmp_path / "set_b", "--methods", "wavelet", "-o", out)
    assert done.exit_code == 0, done.output
    page = (out / "report.html").read_text()
    assert "crop missing" not in page and page.count("Crops shown for the first 1 of") == 2


def test_a_folder_named_like_the_shipped_model_is_said_to_be_taken(tmp_path: Path, clean_dir: Path,
                                                                    weights: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """`-c default` with a folder `default` where it runs scored that folder's model under the shipped model's
    name without a word (denoise, demo and export say it); calibrate too."""
    (tmp_path / "default").mkdir()
    (tmp_path / "default" / "G.safetensors").write_bytes(weights.read_bytes())
    monkeypatch.chdir(tmp_path)
    done = cli("benchmark", "--clean", clean_dir, "--noise", SPECS[0], "--methods", "model", "-c", "default",
               "-o", tmp_path / "out")
    assert done.exit_code == 0 and "'default' is the folder of that name in the working folder" in done.output
    refused = cli("calibrate", "-c", "default", "--clean", clean_dir, "-o", tmp_path / "cal")
    assert "no level estimator" in one_line_error(refused, warned=1)
    assert "'default' is the folder of that name in the working folder" in refused.stderr


def test_the_models_options_in_a_run_without_the_model_are_said_to_change_nothing(tmp_path: Path,
                                                                                  clean_dir: Path) -> None:
    """--tile, --ensemble and the like were taken without a word by a wavelet-only run, and recorded as if used."""
    done = bench("--clean", clean_dir, "--noise", SPECS[0], "--methods", "wavelet", "--tile", "256", "--ensemble",
                 "--engine", "torch", "-o", tmp_path / "out")
    assert done.exit_code == 0, done.output
    assert ("--tile, --ensemble, --engine set how the model runs, and 'model' is not in --methods: they change "
            "nothing here") in " ".join(done.output.split())
    assert "change nothing" not in bench("--clean", clean_dir, "--noise", SPECS[0], "--methods", "wavelet",
                                         "-o", tmp_path / "plain").output


def test_an_inference_setting_added_to_infer_config_keys_records_and_names_itself_in_the_benchmark() -> None:
    """The benchmark spelt InferConfig's fields out three times (a model row's resume key, results.json's record,
    the options a run without the model ignores): a field added to InferConfig and given to benchmark was left
    out of all three, so --resume reused rows made with the other value and results.json never said it."""
    from denoise_gan.evaluation.benchmark.results import _header
    from denoise_gan.inference.infer_config import InferConfig

    @dataclasses.dataclass(frozen=True)
    class WithBlend(InferConfig):
        blend: str = "cosine"

    plain, flat = WithBlend(), WithBlend(blend="flat")
    assert bench_inputs.inference_key(plain, "auto", 0) == bench_inputs.inference_key(InferConfig(), "auto", 0)
    assert bench_inputs.inference_key(flat, "auto", 0) != bench_inputs.inference_key(plain, "auto", 0)
    assert bench_inputs.inference_key(InferConfig(tile=128, ensemble=True), "torch", 2) == (
        "tile=128|overlap=32|precision=auto|strength=1.0|sigma=None|engine=torch|ensemble|threads=2|batch_size=4|"
        "device=auto")  # the key rows stored before carry: they are still reused
    cfg = bench_inputs.BenchmarkConfig(infer=flat)
    the_plan = bench_inputs.Plan(methods=("noisy",), conditions=(), sources=())
    assert _header(cfg, the_plan, [], [])["config"]["infer"]["blend"] == "flat"
    assert bench_inputs._unused_model_options(cfg, ("noisy", "wavelet")) == [
        "--blend set how the model runs, and 'model' is not in --methods: they change nothing here"]


def test_an_interrupted_resume_with_other_settings_never_reports_two_runs_at_once(
        tmp_path: Path, clean_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A seed-3 benchmark resumed with other settings (then --seed 4, now refused; here --oracle-sigma) and
    interrupted: results.json described the new settings over rows mostly of the old, and results.csv and
    report.html still showed the old run. A stored row is reported once this run has checked it; the others wait
    in other_rows, and the CSV and report are written when the run ends."""
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    args = ["--clean", clean_dir, "--noise", SPECS[0], "--methods", "tv"]
    assert bench(*args, "-o", out, "--seed", "3").exit_code == 0
    seed3 = {r["fingerprint"] for r in json.loads((out / "results.json").read_text())["rows"]}
    original, calls = CLASSICAL["tv"], []

    def stopped_at_the_second(noisy: np.ndarray, sigma: float) -> np.ndarray:
        if noisy.shape[0] > 32:
            calls.append(noisy.shape)
            if len(calls) == 2:
                raise KeyboardInterrupt
        return original.run(noisy, sigma)

    monkeypatch.setitem(CLASSICAL, "tv", dataclasses.replace(original, run=stopped_at_the_second))
    assert bench(*args, "-o", out, "--seed", "3", "--oracle-sigma", "--resume").exit_code == 130
    cut = json.loads((out / "results.json").read_text())
    tv_rows = {r["fingerprint"] for r in cut["rows"] if r["method"] == "tv"}
    assert tv_rows and not tv_rows & seed3  # only the new settings' rows reported (the noisy input's are the same)
    assert {r["fingerprint"] for r in cut["other_rows"]} <= seed3 and cut["other_rows"]
    assert not (out / "results.csv").exists() and not (out / "report.html").exists()
    monkeypatch.setitem(CLASSICAL, "tv", original)
    assert bench(*args, "-o", out, "--seed", "3", "--oracle-sigma", "--resume").exit_code == 0
    assert bench(*args, "-o", fresh, "--seed", "3", "--oracle-sigma").exit_code == 0

    def scores(folder: Path) -> list[tuple]:
        return [(r["image"], r["method"], r["psnr"]) for r in json.loads((folder / "results.json").read_text())["rows"]]

    assert scores(out) == scores(fresh) and (out / "results.csv").is_file() and (out / "report.html").is_file()


def test_resume_with_other_photos_or_another_seed_is_refused_and_a_moved_folder_resumes(
        tmp_path: Path, clean_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--resume with another --clean (or --seed) threw the stored rows away and wrote the new ones in their place:
    an overwrite without --overwrite. It continues the benchmark it finds, or is refused."""
    import shutil

    out, photos, other = tmp_path / "out", tmp_path / "photos", tmp_path / "other"
    shutil.copytree(clean_dir, photos)
    shutil.copytree(clean_dir, other)
    args = ["--noise", SPECS[0], "--methods", "tv", "-o", out]
    monkeypatch.chdir(tmp_path)
    assert bench("--clean", "photos", *args, "--seed", "3").exit_code == 0  # a relative path, stored
    stored = (out / "results.json").read_bytes()
    one_line_error(bench("--clean", other, *args, "--seed", "3", "--resume"), f"--clean {other} where it has "
                   f"{photos}: its rows would be replaced")
    one_line_error(bench("--clean", photos, *args, "--seed", "4", "--resume"), "--seed 4 where it has 3")
    shutil.copytree(clean_dir, other / "photos")
    monkeypatch.chdir(other)  # "photos" from another folder is another folder
    one_line_error(bench("--clean", "photos", *args, "--seed", "3", "--resume"), "its rows would be replaced")
    assert (out / "results.json").read_bytes() == stored
    same = bench("--clean", "../photos", *args, "--seed", "3", "--resume")  # the same folder, spelt from elsewhere
    assert same.exit_code == 0 and "0 row(s) computed" in same.stdout, same.output
    photos.rename(tmp_path / "moved")  # the stored folder is gone: moved, and its rows are checked image by image
    resumed = bench("--clean", tmp_path / "moved", *args, "--seed", "3", "--resume")
    assert resumed.exit_code == 0 and "0 row(s) computed" in resumed.stdout, resumed.output


def test_resume_recomputes_rows_made_with_another_sigma(tmp_path: Path, clean_dir: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    args = ["--clean", clean_dir, "--noise", SPECS[0], "--methods", "tv", "-o", out]
    assert bench(*args).exit_code == 0
    calls = _count_calls(monkeypatch, "tv")
    resumed = bench(*args, "--resume", "--oracle-sigma")
    assert resumed.exit_code == 0 and len(calls) == 2 and "recomputed" in resumed.stderr
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert {r["sigma_used"] for r in rows if r["method"] == "tv"} == {15.0}


def test_resume_recomputes_rows_whose_clean_photo_changed_under_the_same_noisy_input(tmp_path: Path) -> None:
    """Rows of --clean photos were known by their noisy input alone: salt-pepper:amount=1 draws the same noisy
    image from any photo, and a photo replaced under its name kept the scores measured against the old one."""
    from data_tools.images import write_image

    write_image(tmp_path / "photos" / "p.png", np.full((32, 32, 3), 60, np.uint8))
    args = ["--clean", tmp_path / "photos", "--noise", "salt-pepper:amount=1", "--methods", "tv", "-o", tmp_path / "o"]
    assert bench(*args).exit_code == 0
    before = json.loads((tmp_path / "o" / "results.json").read_text())["rows"]
    write_image(tmp_path / "photos" / "p.png", np.full((32, 32, 3), 200, np.uint8))
    resumed = bench(*args, "--resume")
    assert resumed.exit_code == 0 and "0 reused" in resumed.stdout, resumed.stdout
    after = json.loads((tmp_path / "o" / "results.json").read_text())["rows"]
    assert [r["psnr"] for r in after] != [r["psnr"] for r in before]


def test_resume_with_other_threads_times_the_model_rows_again(tmp_path: Path, clean_dir: Path,
                                                                weights: Path) -> None:
    """Rows timed with --threads 1 were reused beside rows timed with 2, so seconds and MP/s mixed two
    settings; a classical method outside torch does not run on those threads and is still reused."""
    out = tmp_path / "out"
    args = ["--clean", clean_dir, "--noise", SPECS[0], "--methods", "model,tv", "-c", weights, "-o", out]
    assert bench(*args, "--threads", "1").exit_code == 0
    assert json.loads((out / "results.json").read_text())["config"]["infer"]["threads"] == 1
    for more in (["--threads", "2"], ["--threads", "2", "--batch-size", "2"]):
        resumed = bench(*args, *more, "--resume")
        assert resumed.exit_code == 0, resumed.output
        assert "2 row(s) computed, 4 reused" in resumed.stdout  # the model's two rows; tv's and noisy's reused


# ---- errors and failures ----------------------------------------------------------------------------

def test_argument_errors_are_one_line(tmp_path: Path, clean_dir: Path) -> None:
    out = tmp_path / "out"
    unknown = bench("--clean", clean_dir, "--noise", SPECS[0], "--methods", "tv,median", "-o", out)
    assert unknown.exit_code == 2
    line = one_line_error(unknown)
    assert "'median'" in line and all(m in line for m in bench_methods.METHOD_NAMES)

    bad_spec = bench("--clean", clean_dir, "--noise", "gauss:sigma=5", "--methods", "tv", "-o", out)
    assert bad_spec.exit_code == 2 and "unknown noise model" in one_line_error(bad_spec)

    missing = bench("--clean", tmp_path / "nope", "--noise", SPECS[0], "--methods", "tv", "-o", out)
    assert missing.exit_code == 2 and "nope: no such folder" in one_line_error(missing)  # as evaluate says it

    inside = bench("--clean", clean_dir, "--noise", SPECS[0], "--methods", "tv", "-o", clean_dir / "bench")
    assert inside.exit_code == 2 and "is inside --clean" in one_line_error(inside)  # its crops read as photos
    assert not (clean_dir / "bench").exists()

    model_options = bench("--clean", clean_dir, "--noise", SPECS[0], "--methods", "tv", "--model-sigma",
                          "--model-strength", "0.5", "-o", out)  # were ignored without a word
    one_line_error(model_options, "--model-strength, --model-sigma given but 'model' is not in --methods")

    for option, value, needle in (("--device", "bogus", "unknown device 'bogus'"), ("--device", "cuda:", "'cuda:'"),
                                  ("--engine", "bogus", "unknown engine 'bogus'")):  # ran, and went into results.json
        one_line_error(bench("--clean", clean_dir, "--noise", SPECS[0], "--methods", "tv", option, value, "-o", out),
                       needle)

    broken_weights = tmp_path / "broken.safetensors"
    broken_weights.write_bytes(b"not weights")
    model = bench("--clean", clean_dir, "--noise", SPECS[0], "--methods", "model", "-c", broken_weights, "-o", out)
    assert model.exit_code == 2 and "broken.safetensors" in one_line_error(model)
    assert not out.exists()  # nothing written before the arguments are known to be good


def test_oracle_sigma_gives_the_true_sigma(tmp_path: Path, clean_dir: Path) -> None:
    result = bench("--clean", clean_dir, "--noise", "gaussian:sigma=10-30", "--methods", "tv", "--oracle-sigma",
                   "-o", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    drawn = {i["image"]: i["stages"][0]["sigma"] for i in data["inputs"]}
    assert {r["image"]: r["sigma_used"] for r in data["rows"] if r["method"] == "tv"} == drawn
    assert len(set(drawn.values())) == 2  # a range draws one σ per image
    # correlated noise: the per-pixel σ, which the blind estimate reads far lower
    result = bench("--clean", clean_dir, "--noise", "correlated:sigma=20,scale=1", "--methods", "tv",
                   "--oracle-sigma", "-o", tmp_path / "corr")
    assert result.exit_code == 0, result.stderr
    rows = json.loads((tmp_path / "corr" / "results.json").read_text())["rows"]
    assert {r["sigma_used"] for r in rows if r["method"] == "tv"} == {20.0}
    # camera noise (with its JPEG): the std of the true residual noisy - clean, per image
    result = bench("--clean", clean_dir, "--noise", "camera:peak=40+jpeg:quality=90", "--methods", "tv",
                   "--oracle-sigma", "-o", tmp_path / "cam")
    assert result.exit_code == 0, result.stderr
    data = json.loads((tmp_path / "cam" / "results.json").read_text())
    used = {r["image"]: r["sigma_used"] for r in data["rows"] if r["method"] == "tv"}
    noisy = {r["image"]: r for r in data["rows"] if r["method"] == "noisy"}
    for image, sigma in used.items():  # the noisy row's PSNR is that residual's: 20 log10(255 / rms)
        assert sigma == pytest.approx(255.0 / 10 ** (noisy[image]["psnr"] / 20), rel=0.02)
    # Poisson noise and a Gaussian then JPEG (refused before): the residual's std too, which the protocol says
    result = bench("--clean", clean_dir, "--noise", "poisson:peak=30", "--noise", "gaussian:sigma=15+jpeg:quality=80",
                   "--methods", "tv", "--oracle-sigma", "-o", tmp_path / "other")
    assert result.exit_code == 0, result.stderr
    data = json.loads((tmp_path / "other" / "results.json").read_text())
    noisy = {(r["image"], r["noise"]): r for r in data["rows"] if r["method"] == "noisy"}
    for row in (r for r in data["rows"] if r["method"] == "tv"):
        rms = 255.0 / 10 ** (noisy[row["image"], row["noise"]]["psnr"] / 20)
        assert row["sigma_used"] == pytest.approx(rms, rel=0.02) and row["sigma_used"] != 15.0
    assert "Poisson" in data["protocol"]["sigma"]
    # a mixture: each image's σ is the one drawn for it, as its stages record
    result = bench("--clean", clean_dir, "--noise", "gaussian:sigma=5 | gaussian:sigma=40", "--methods", "tv",
                   "--oracle-sigma", "-o", tmp_path / "mix")
    assert result.exit_code == 0, result.stderr
    data = json.loads((tmp_path / "mix" / "results.json").read_text())
    drawn = {i["image"]: i["stages"][0]["sigma"] for i in data["inputs"]}
    assert {r["image"]: r["sigma_used"] for r in data["rows"] if r["method"] == "tv"} == drawn
    assert set(drawn.values()) <= {5.0, 40.0}


def test_noise_no_single_sigma_describes_gets_the_true_residual_s_std() -> None:
    """A lone Gaussian or correlated stage has its `sigma`; Poisson noise, a Gaussian then JPEG, a JPEG before a
    camera had none, and --oracle-sigma refused them, while a camera then JPEG took the residual's std: now every
    such chain does (a JPEG'd Gaussian's σ is not the noise left in the file)."""
    rng = np.random.default_rng(0)
    clean = rng.integers(40, 200, (32, 32, 3)).astype(np.uint8)
    noisy = np.clip(clean + rng.normal(0, 9, clean.shape).round(), 0, 255).astype(np.uint8)
    residual = float((noisy.astype(float) - clean).std())
    for stages in ([{"model": "gaussian", "sigma": 15.0}, {"model": "jpeg", "quality": 80}],
                   [{"model": "poisson", "peak": 30.0}], [{"model": "jpeg", "quality": 90}, {"model": "camera"}]):
        assert bench_inputs.oracle_sigma(stages, clean, noisy) == pytest.approx(residual), stages
    assert bench_inputs.oracle_sigma([{"model": "gaussian", "sigma": 15.0}], clean, noisy) == 15.0



class _Speckle:
    """A noise source of one's own: it records its draw as its own dict, naming no ``model``."""

    def __str__(self) -> str:
        return "speckle:k=0.2"

    def apply(self, image: np.ndarray, seed: int) -> tuple[np.ndarray, list[dict[str, object]]]:
        gain = 1 + 0.2 * np.random.default_rng(seed).standard_normal(image.shape)
        return np.clip(np.rint(image * gain), 0, 255).astype(image.dtype), [{"kind": "speckle", "k": 0.2}]


def test_a_set_of_ones_own_noise_source_gets_its_residuals_std_whatever_its_stage_records(
        tmp_path: Path, clean_dir: Path) -> None:
    """Its lone stage names no model (the README asks only for JSON-ready dicts): --oracle-sigma failed every
    image as "its recorded noise stage is unreadable (KeyError: 'model')" and scored none."""
    synth(clean_dir, tmp_path / "set", _Speckle(), seed=5)
    result = bench("--noisy", tmp_path / "set", "--methods", "tv", "-o", tmp_path / "b", "--oracle-sigma")
    assert result.exit_code == 0, result.output
    inputs = json.loads((tmp_path / "b" / "results.json").read_text())["inputs"]
    assert inputs
    for record in inputs:
        clean = read_image(tmp_path / "set" / "clean" / f"{record['image']}.png").pixels.astype(np.float64)
        noisy = read_image(tmp_path / "set" / "noisy" / f"{record['image']}.png").pixels.astype(np.float64)
        assert record["sigma_used"] == pytest.approx(float((noisy - clean).std()), rel=1e-9)

def test_a_recorded_sigma_outside_the_scale_is_refused() -> None:
    """A hand-edited manifest's σ feeds --oracle-sigma: 300 or -5 fails that input, it is not used."""
    image = np.zeros((16, 16, 3), np.uint8)
    for sigma in (300, -5):
        with pytest.raises(ValueError, match="outside 0..255"):
            bench_inputs.oracle_sigma([{"model": "gaussian", "sigma": sigma}], image, image)
    assert bench_inputs.oracle_sigma([{"model": "gaussian", "sigma": 255}], image, image) == 255.0


def test_the_smallest_image_benchmarked_is_the_ssim_window() -> None:
    from denoise_gan.evaluation.metrics import SSIM_MIN_SIDE

    assert noise_sigma.too_small_to_benchmark(SSIM_MIN_SIDE, 40) == ""
    assert "too small" in noise_sigma.too_small_to_benchmark(SSIM_MIN_SIDE - 1, 40)
    assert "too small" in noise_sigma.too_small_to_benchmark(40, SSIM_MIN_SIDE - 1)


def test_a_mean_with_identical_pairs_is_reported_as_evaluate_reports_it(tmp_path: Path, clean_dir: Path) -> None:
    """The noisy baseline of σ 0 is the clean image itself (infinite PSNR) and wavelet denoising changes it a
    little: the table showed "inf" for any method with one identical pair."""
    result = bench("--clean", clean_dir, "-o", tmp_path / "b", "--methods", "wavelet", "--noise", "gaussian:sigma=0")
    assert result.exit_code == 0, result.output
    summary = {s["method"]: s for s in json.loads((tmp_path / "b" / "results.json").read_text())["summary"]}
    assert summary["noisy"]["identical_pairs"] == summary["noisy"]["images"] and summary["noisy"]["psnr"] is None
    assert summary["noisy"]["psnr_finite"] is None
    wavelet = summary["wavelet"]
    rows = [r for r in json.loads((tmp_path / "b" / "results.json").read_text())["rows"] if r["method"] == "wavelet"]
    finite = [r["psnr"] for r in rows if r["psnr"] is not None]
    assert wavelet["identical_pairs"] == len(rows) - len(finite)
    assert wavelet["psnr_finite"] == pytest.approx(np.mean(finite))
    line = next(line for line in result.output.splitlines() if line.strip("| ").startswith("wavelet"))
    assert f"{wavelet['psnr_finite']:.2f}" in line and "inf" not in line
    from types import SimpleNamespace

    from rich.console import Console

    from denoise_gan.cli.render import benchmark_summary

    mixed = {"noise": "gaussian:sigma=0", "method": "m", "images": 3, "psnr": None, "identical_pairs": 1,
             "psnr_finite": 47.5, "ssim": 0.99, "seconds": 0.1, "mp_per_s": 1.0}
    data = {"config": {"oracle_sigma": False, "noises": ["gaussian:sigma=0"]}, "summary": [mixed], "models": []}
    console = Console(record=True, width=200)
    console.print(benchmark_summary(SimpleNamespace(data=data, failures=[], notes=[], computed=3, reused=0)))
    text = console.export_text()
    assert "47.50*" in text and "inf" not in text.split("47.50*")[0] and "the PSNR mean is over the others" in text


def test_a_broken_image_is_reported_and_skipped(tmp_path: Path, clean_dir: Path) -> None:
    folder = tmp_path / "clean"
    write_image(folder / "good.png", _scene(40, 40, 3))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    result = bench("--clean", folder, "--noise", SPECS[0], "--methods", "tv", "-o", tmp_path / "out")
    assert result.exit_code == 1
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [(f["image"], f["method"]) for f in data["failures"]] == [("broken", None)]
    assert {r["image"] for r in data["rows"]} == {"good"} and len(data["rows"]) == 2
    assert "broken" in (tmp_path / "out" / "report.html").read_text()
    (folder / "good.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken since")  # a resume: its old rows go with it
    result = bench("--clean", folder, "--noise", SPECS[0], "--methods", "tv", "-o", tmp_path / "out", "--resume")
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert result.exit_code == 1 and data["rows"] == [] and data["summary"] == []
    assert sorted(f["image"] for f in data["failures"]) == ["broken", "good"]


def test_a_wide_images_megapixels_are_its_width_times_its_height(tmp_path: Path) -> None:
    write_image(tmp_path / "clean" / "wide.png", _scene(40, 64, 3))
    result = bench("--clean", tmp_path / "clean", "--noise", SPECS[0], "--methods", "tv", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "out" / "results.json").read_text())["rows"]
    assert {r["megapixels"] for r in rows} == {40 * 64 / 1e6}


def test_a_method_failing_on_one_image_does_not_stop_the_others(tmp_path: Path, clean_dir: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    original = CLASSICAL["tv"]

    def fragile(noisy: np.ndarray, sigma: float) -> np.ndarray:
        if noisy.shape[2] == 1 and noisy.shape[0] > 32:
            raise RuntimeError("cannot do gray today")
        return original.run(noisy, sigma)

    monkeypatch.setitem(CLASSICAL, "tv", dataclasses.replace(original, run=fragile))
    result = bench("--clean", clean_dir, "--noise", SPECS[0], "--methods", "tv,wavelet", "-o", tmp_path / "out")
    assert result.exit_code == 1 and "cannot do gray today" in result.stdout
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert data["failures"] == [{"image": "gray", "noise": SPECS[0], "method": "tv",
                                 "reason": "RuntimeError: cannot do gray today"}]
    assert len(data["rows"]) == 2 * 3 - 1
    assert {s["method"]: s["images"] for s in data["summary"]} == {"noisy": 2, "tv": 1, "wavelet": 2}


# ---- methods and crops ------------------------------------------------------------------------------

def test_ffdnet_without_torch_names_the_extra_that_brings_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from denoise_gan.errors import UserError

    bench_methods._ffdnet_model.cache_clear()
    monkeypatch.setitem(sys.modules, "torch", None)  # as on a base install (ONNX Runtime only)
    with pytest.raises(UserError, match=re.escape("needs the 'torch' package: pip install -e '.[train]' in the "
                                                  "denoise-gan clone")):
        bench_methods._ffdnet(np.zeros((8, 8, 3), np.uint8), 10.0)
    bench_methods._ffdnet_model.cache_clear()


@pytest.mark.parametrize(("channels", "dtype"), [(1, np.uint8), (3, np.uint8), (4, np.uint8), (3, np.uint16)])
def test_classical_methods_keep_shape_dtype_and_alpha(channels: int, dtype: type) -> None:
    clean = _scene(40, 44, channels, dtype)
    if channels == 4:
        clean[..., 3] = np.arange(44, dtype=dtype)[None, :]
    noisy, _ = parse_noise_spec("gaussian:sigma=20").apply(clean, 1)
    sigma = noise_sigma.estimate_noise_sigma(noisy)
    assert 15 < sigma < 25  # blind estimate on the 0-255 scale whatever the bit depth
    # every method of the registry that runs here (a hand list of four left a new one unchecked on 16 bits and alpha)
    for name in (n for n, m in CLASSICAL.items() if m.uses_sigma and not bench_methods.missing_packages(n)):
        out = CLASSICAL[name].run(noisy, sigma)
        assert out.shape == noisy.shape and out.dtype == noisy.dtype, name
        assert metrics.psnr(clean, out) > metrics.psnr(clean, noisy) + 1.0, name
        if channels == 4:
            assert np.array_equal(out[..., 3], noisy[..., 3]), name


def test_bm3d_denoises_a_gray_photo_stored_as_rgb_and_a_nan_never_scores_as_black() -> None:
    """CBM3D's colour transform divides by the spread of R, G and B: on a gray photo stored as RGB every pixel was
    NaN, cast to black and scored as BM3D's output (4.5 dB where the noisy input had 36.9), without a failure."""
    if bench_methods.missing_packages("bm3d"):
        pytest.skip("needs the bm3d package")
    gray = _scene(40, 44, 1, np.uint8)
    noisy, _ = parse_noise_spec("gaussian:sigma=20").apply(gray, 1)
    as_rgb = CLASSICAL["bm3d"].run(np.repeat(noisy, 3, axis=-1), 20.0)
    assert np.array_equal(as_rgb, np.repeat(CLASSICAL["bm3d"].run(noisy, 20.0), 3, axis=-1))
    assert metrics.psnr(np.repeat(gray, 3, axis=-1), as_rgb) > metrics.psnr(gray, noisy) + 3
    with pytest.raises(ValueError, match="not finite"):
        bench_methods._from_unit(np.full((4, 4, 3), np.nan), np.zeros((4, 4, 3), np.uint8))


def test_the_blind_sigma_is_skimage_s_estimate_on_the_0_255_scale_averaged_over_the_colours() -> None:
    """The σ every blind baseline is given: a scale a level off (256, or 65536 for 16-bit) or one channel read for
    three moved each baseline's input by 0.4 % or by half, unseen by a 15-25 window."""
    from skimage.restoration import estimate_sigma

    rng = np.random.default_rng(0)
    flat = np.full((64, 64, 3), 128.0) + rng.standard_normal((64, 64, 3)) * np.array([5.0, 10.0, 20.0])
    noisy = np.clip(np.rint(flat), 0, 255).astype(np.uint8)
    expected = float(np.mean([estimate_sigma(noisy[..., c] / 255.0) for c in range(3)])) * 255.0
    assert noise_sigma.estimate_noise_sigma(noisy) == pytest.approx(expected, rel=1e-6)
    assert noise_sigma.estimate_noise_sigma(noisy.astype(np.uint16) * 257) == pytest.approx(expected, rel=1e-3)


def test_a_flat_image_reads_sigma_zero_and_every_method_leaves_it_as_it_came() -> None:
    """A flat gray or white image read σ 1e-31 (a black one exactly 0), so the methods ran on a perfect input and
    changed it (FFDNet 62-67 dB, NLM 48 dB of it)."""
    for value in (0, 128, 255):
        flat = np.full((64, 64, 3), value, np.uint8)
        assert noise_sigma.estimate_noise_sigma(flat, flat_as_zero=True) == 0.0
        for name, method in CLASSICAL.items():
            if method.uses_sigma and not bench_methods.missing_packages(name):
                assert np.array_equal(method.run(flat, 0.0), flat), (name, value)


def test_classical_methods_at_a_faint_sigma_leave_a_colour_photo_as_it_came() -> None:
    """σ reaches each library on its own scale and colours stay in their channels: at σ 1 every method all but
    returns a textured colour photo (a σ 255 times too large smooths it to about 20 dB; OpenCV's colour NLM fed
    RGB as BGR swaps red and blue)."""
    from data_tools.samples import load_sample

    photo = load_sample("astronaut")[100:164, 200:264].copy()
    for name, method in CLASSICAL.items():
        if method.uses_sigma and not bench_methods.missing_packages(name):
            assert metrics.psnr(photo, method.run(photo, 1.0)) > 40.0, name
    gray16 = np.full((16, 16, 1), 200 * 257, np.uint16)  # 16-bit NLM goes through an 8-bit copy and back exactly
    assert np.array_equal(CLASSICAL["nlm"].run(gray16, 0.5), gray16)


def test_opencv_nlm_on_colour_beats_opencv_s_colored_variant_at_any_h() -> None:
    """The baseline is run as well as OpenCV runs it: its Colored variant converts the sRGB bytes to Lab as if
    they were linear light, where no h fits shadows and highlights at once; each channel on its own at h = σ
    scores over a dB above it (the benchmark ran that variant at 0.6σ)."""
    import cv2

    from data_tools.samples import load_sample

    clean = load_sample("rocket")[200:328, 150:278].copy()  # a training photo: the rule was chosen on those
    noisy, _ = parse_noise_spec("gaussian:sigma=20").apply(clean, 3)
    sigma = noise_sigma.estimate_noise_sigma(noisy)
    bgr = np.ascontiguousarray(noisy[..., ::-1])
    colored = max(metrics.psnr(clean, cv2.fastNlMeansDenoisingColored(bgr, None, h, h, 7, 21)[..., ::-1])
                  for h in (0.4 * sigma, 0.6 * sigma, 0.8 * sigma, sigma))
    assert metrics.psnr(clean, CLASSICAL["nlm"].run(noisy, sigma)) > colored + 0.5


def test_a_method_named_without_its_package_is_refused_and_a_default_one_left_out(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Named with --methods, a method whose package is missing stops the run before any work; among the
    defaults it is left out with a note (a base install has no bm3d)."""
    from denoise_gan.errors import UserError

    monkeypatch.setattr(bench_methods, "installed", lambda package: package != "bm3d")
    with pytest.raises(UserError, match=r"--methods bm3d needs the 'bm3d' package: pip install"):
        bench_methods.installed_methods(("noisy", "bm3d", "tv"), asked=True)
    kept, notes = bench_methods.installed_methods(("noisy", "bm3d", "tv"), asked=False)
    assert kept == ("noisy", "tv") and len(notes) == 1 and notes[0].startswith("bm3d left out of the default")


def test_bm3d_runs_on_a_small_gray_image() -> None:
    clean = _scene(32, 32, 1)
    noisy, _ = parse_noise_spec("gaussian:sigma=25").apply(clean, 2)
    out = CLASSICAL["bm3d"].run(noisy, 25.0)
    assert out.shape == noisy.shape and out.dtype == np.uint8
    assert metrics.psnr(clean, out) > metrics.psnr(clean, noisy) + 3.0


def test_crop_window_finds_the_textured_region() -> None:
    img = np.full((300, 260, 3), 128, np.uint8)
    img[150:230, 40:120] = np.random.default_rng(0).integers(0, 255, (80, 80, 3), dtype=np.uint8)
    top, left, h, w = crop_window(img)
    assert (h, w) == (128, 128) and top <= 150 and top + 128 >= 230 and left <= 40 and left + 128 >= 120
    assert crop_window(img[:50, :70]) == (0, 0, 50, 70)


def test_crops_are_8bit_colour_enlarged_by_pixel_repetition(tmp_path: Path) -> None:
    deep = (np.random.default_rng(1).integers(0, 65535, (40, 50, 4))).astype(np.uint16)  # RGBA, 16-bit
    (tmp_path / "crop.png").write_bytes(crop_png(deep, (5, 7, 20, 30)))
    crop = read_image(tmp_path / "crop.png").pixels
    assert crop.shape == (40, 60, 3) and crop.dtype == np.uint8  # alpha dropped, ZOOM = 2
    expected = np.clip(np.rint(deep[5:25, 7:37, :3] / 257.0), 0, 255).astype(np.uint8)
    assert np.array_equal(crop[::2, ::2], expected) and np.array_equal(crop[1::2, 1::2], expected)


def test_model_rows_are_named_after_checkpoints_without_clashes() -> None:
    names = bench_methods.model_row_names([Path("run1/G.safetensors"), Path("run2/G.safetensors"),
                                        Path("x/tv.safetensors")])
    assert names == ["run1", "run2", "model:tv"]  # a run's (or an adaptation's) G by its folder: it said "G"
    assert bench_methods.model_row_names([Path("hub/model.safetensors")]) == ["hub"]  # an exported folder, by name
    assert bench_methods.model_row_names([Path("run1/refine/G.safetensors"), Path("my_camera/G.safetensors")]) == \
        ["run1/refine", "my_camera"]
    assert bench_methods.model_row_names([Path("a/x/G.safetensors"), Path("b/x/G.safetensors")]) == ["a/x/G", "b/x/G"]
    assert bench_methods.model_row_names([Path("ck/clean.safetensors")]) == ["model:clean"]  # the reference's name


def test_model_strength_given_twice_is_one_row_and_a_blind_model_says_it_does_not_apply(
        tmp_path: Path, clean_dir: Path, weights: Path) -> None:
    result = bench("--clean", clean_dir, "--noise", SPECS[0], "--methods", "model", "-c", weights,
                   "--model-strength", "0.5", "--model-strength", "0.5", "-o", tmp_path / "b")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "b" / "results.json").read_text())["summary"]
    assert [s["method"] for s in summary] == ["noisy", "tiny"]  # blind: one plain row
    assert "--model-strength does not apply" in " ".join(result.output.split())
    result = bench("--clean", clean_dir, "--noise", SPECS[0], "--methods", "model", "-c", weights, "--model-sigma",
                   "-o", tmp_path / "sigma")  # a row with the true σ: none for a blind model, and that is said
    assert result.exit_code == 0 and "--model-sigma does not apply" in " ".join(result.output.split())
    result = bench("--clean", clean_dir, "--noise", SPECS[0], "--methods", "model", "-c", "default",
                   "--model-strength", "0.5", "--model-strength", "0.5", "-o", tmp_path / "level")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "level" / "results.json").read_text())["summary"]
    assert [s["method"] for s in summary] == ["noisy", "default@strength=0.5"]  # was two identical rows


def test_ensemble_changes_the_model_rows_and_is_recorded(tmp_path: Path, clean_dir: Path, weights: Path) -> None:
    rows = {}
    for name, extra in (("plain", []), ("ensemble", ["--ensemble"])):
        result = bench("--clean", clean_dir, "--noise", SPECS[0], "--methods", "model", "-c", weights,
                       "-o", tmp_path / name, *extra)
        assert result.exit_code == 0, result.output
        data = json.loads((tmp_path / name / "results.json").read_text())
        assert data["config"]["infer"]["ensemble"] is bool(extra) and data["config"]["infer"]["engine"] == "auto"
        rows[name] = [r["psnr"] for r in data["rows"] if r["method"] == ("tiny@x8" if extra else "tiny")]
        assert rows[name] and ("tiny@x8" in result.stdout) is bool(extra)  # eight passes said in the row's name
        assert ("tiny@x8" in (tmp_path / name / "results.csv").read_text()) is bool(extra)
    assert rows["plain"] != rows["ensemble"]
    assert bench_methods.model_row_names([Path("ck/tiny.safetensors")], ensemble=True) == ["tiny@x8"]
    # a folder an earlier version wrote, whose ensemble rows had the plain name: resumed, they are reused
    results = tmp_path / "ensemble" / "results.json"
    data = json.loads(results.read_text())
    for row in data["rows"] + data["models"]:
        row["method"] = row["method"].replace("@x8", "")
    results.write_text(json.dumps(data))
    resumed = bench("--clean", clean_dir, "--noise", SPECS[0], "--methods", "model", "-c", weights, "-o",
                    tmp_path / "ensemble", "--ensemble", "--resume")
    assert resumed.exit_code == 0 and "0 row(s) computed, 4 reused" in resumed.stdout, resumed.output


def test_a_clean_folder_that_is_a_set_half_being_written_or_cut_short_is_refused(tmp_path: Path,
                                                                                 clean_dir: Path) -> None:
    """benchmark (and calibrate) --clean SET/clean scored the part a running synth had written, or a cut-short
    set's few photos, without a word; synth from it said "cut short, run the synth again" while it ran."""
    from data_tools.folder_lock import holding_folder

    assert cli("synth", clean_dir, "-o", tmp_path / "s", "--noise", "gaussian:sigma=10").exit_code == 0
    manifest = tmp_path / "s" / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "complete": False}))  # as a synth leaves it
    args = ("--clean", tmp_path / "s" / "clean", "--noise", "gaussian:sigma=25", "--methods", "noisy")
    with holding_folder(tmp_path / "s", "set"):  # a synth writing it now
        one_line_error(bench(*args, "-o", tmp_path / "b"), "another process is writing this set now", code=1)
        one_line_error(cli("synth", tmp_path / "s" / "clean", "-o", tmp_path / "again", "--noise",
                           "gaussian:sigma=5"), "another process is writing this set now", code=1)
    one_line_error(bench(*args, "-o", tmp_path / "b"), "--clean ", "an incomplete set (its synth run was cut short)")


def test_a_set_another_process_only_reads_is_no_busy_set(tmp_path: Path, clean_dir: Path) -> None:
    """Readers do not exclude each other: with a benchmark or training run reading a set, synth from its clean/ and
    calibrate on it were refused as busy, and denoise of its half was told a synth was writing it."""
    from data_tools.folder_lock import reading_folder
    from data_tools.synth_folder import incomplete_half_note

    assert cli("synth", clean_dir, "-o", tmp_path / "s", "--noise", "gaussian:sigma=10").exit_code == 0
    with reading_folder(tmp_path / "s"):  # another process reading it
        assert cli("synth", tmp_path / "s" / "clean", "-o", tmp_path / "again", "--noise",
                   "gaussian:sigma=5").exit_code == 0
        assert incomplete_half_note(tmp_path / "s" / "noisy") == ""
        result = bench("--clean", tmp_path / "s" / "clean", "--noise", "gaussian:sigma=25", "--methods", "noisy",
                       "-o", tmp_path / "b")
        assert result.exit_code == 0, result.output


def test_an_output_folder_that_is_a_noisy_set_it_reads_is_refused_as_such(tmp_path: Path, clean_dir: Path) -> None:
    """`benchmark --noisy S -o S` said another process was writing it: its own read of the set, which no waiting
    ends."""
    assert cli("synth", clean_dir, "-o", tmp_path / "s", "--noise", "gaussian:sigma=10").exit_code == 0
    one_line_error(bench("--noisy", tmp_path / "s", "--methods", "noisy", "-o", tmp_path / "s"),
                   "is the --noisy set", "give the report a folder of its own")


def test_a_second_benchmark_into_a_folder_in_use_is_refused(tmp_path: Path, clean_dir: Path) -> None:
    """Two --resume runs into one -o both wrote results.json: the rows of one were lost, and the report and the
    JSON told different stories."""
    from data_tools.folder_lock import holding_folder

    out = tmp_path / "b"
    args = ("--clean", clean_dir, "--noise", "gaussian:sigma=25", "--methods", "noisy", "-o", out)
    assert bench(*args).exit_code == 0
    with holding_folder(out):  # another benchmark running in it
        one_line_error(bench(*args, "--resume"), "another process is writing this benchmark", code=1)
        one_line_error(bench(*args), "another process is writing this benchmark", code=1)  # not "pass --resume"
    from data_tools.folder_lock import reading_folder

    with reading_folder(out):  # a process reading it (as a set): said as reading
        one_line_error(bench(*args, "--resume"), "another process is reading this benchmark", code=1)


def test_a_resume_keeps_the_rows_a_run_stored_until_it_let_go_of_the_folder(
        tmp_path: Path, clean_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A --resume read results.json before it took the folder's lock: a run that ended in between lost the rows it
    had stored since, replaced by that earlier snapshot, without a word."""
    import shutil
    from contextlib import contextmanager

    from denoise_gan.evaluation.benchmark import run as run_module

    out, other = tmp_path / "b", tmp_path / "other"
    args = ("--clean", clean_dir, "--noise", "gaussian:sigma=25")
    assert bench(*args, "--methods", "noisy", "-o", out).exit_code == 0
    assert bench(*args, "--methods", "noisy,wavelet", "-o", other).exit_code == 0  # what that run stored at its end
    held = run_module.holding_folder

    @contextmanager
    def taken_as_the_other_run_ends(folder: Path, what: str = "run"):
        shutil.copy(other / "results.json", out / "results.json")
        with held(folder, what):
            yield

    monkeypatch.setattr(run_module, "holding_folder", taken_as_the_other_run_ends)
    assert bench(*args, "--methods", "noisy", "-o", out, "--resume").exit_code == 0
    data = json.loads((out / "results.json").read_text())
    assert "wavelet" in {row["method"] for row in data["rows"] + data.get("other_rows", [])}


def test_an_all_black_photo_is_benchmarked_not_failed(tmp_path: Path, weights: Path) -> None:
    """Its blind σ has nothing to read: every row of it failed ('cannot estimate σ'), rows that need no σ too,
    and a calibration with one black photo stopped after all its work. It reads σ 0, as a flat gray one does."""
    from data_tools.images import write_image

    write_image(tmp_path / "photos" / "black.png", np.zeros((48, 48, 3), np.uint8))
    out = tmp_path / "b"
    result = bench("--clean", tmp_path / "photos", "--noise", "poisson:peak=30", "--methods", "noisy,tv", "-o", out)
    assert result.exit_code == 0, result.stderr + result.stdout
    data = json.loads((out / "results.json").read_text())
    assert not data["failures"] and {r["method"] for r in data["rows"]} == {"noisy", "tv"}
    assert data["inputs"][0]["sigma_estimate"] == 0.0


def test_a_hand_edited_manifest_fails_its_input_or_the_set_in_one_line(tmp_path: Path, clean_dir: Path) -> None:
    """--oracle-sigma on a stage without its sigma raised KeyError; a name listed twice overwrote one pair's score
    with the other's."""
    synth(clean_dir, tmp_path / "set", "gaussian:sigma=20", seed=5)
    path = tmp_path / "set" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["images"][0]["stages"] = [{"model": "gaussian"}]
    path.write_text(json.dumps(manifest))
    result = bench("--noisy", tmp_path / "set", "--methods", "noisy", "--oracle-sigma", "-o", tmp_path / "a")
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    failures = json.loads((tmp_path / "a" / "results.json").read_text())["failures"]
    assert [f["image"] for f in failures] == [manifest["images"][0]["name"]] and "sigma" in failures[0]["reason"]
    manifest["images"][1]["name"] = manifest["images"][0]["name"]
    path.write_text(json.dumps(manifest))
    one_line_error(bench("--noisy", tmp_path / "set", "--methods", "noisy", "-o", tmp_path / "b"), "twice")
    for key, value in (("name", None), ("stages", 3)):  # a traceback (KeyError, TypeError)
        edited = json.loads(json.dumps(manifest))
        edited["images"][1]["name"] = "other"
        edited["images"][0].pop(key) if value is None else edited["images"][0].update({key: value})
        path.write_text(json.dumps(edited))
        one_line_error(bench("--noisy", tmp_path / "set", "--methods", "noisy", "-o", tmp_path / "c"),
                       "no name or no list of stages")


def test_a_models_note_that_names_its_folder_is_not_named_twice() -> None:
    """`benchmark -c ri` on a stopped adaptation said "note: ri: ri: its adaptation stopped partway"."""
    from denoise_gan.evaluation.benchmark.run import _model_note

    assert _model_note("ri", "ri: its adaptation stopped partway") == "ri: its adaptation stopped partway"
    assert _model_note("ri", "/runs/ri: a `train` run is training in this folder now") == \
        "/runs/ri: a `train` run is training in this folder now"
    assert _model_note("default", "tiles are whole multiples of 8 px") == "default: tiles are whole multiples of 8 px"
    assert _model_note("ri", "tiles are whole multiples of this model's stride (8 px)").startswith("ri: tiles")
