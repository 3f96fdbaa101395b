"""The benchmark as a hostile user drives it: resumes that ask for less or for other settings, degenerate
images, crafted manifests and folders that cannot be used."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from data_tools.images import write_image
from data_tools.synth import synth
from denoise_gan.evaluation.benchmark import BenchmarkConfig, run_benchmark
from denoise_gan.inference.infer_config import InferConfig
from helpers import cli, noise_image, one_line_error


@pytest.fixture(scope="module")
def clean_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bench_clean")
    for i in range(2):
        write_image(folder / f"img{i}.png", noise_image(40, 48, seed=i))
    return folder


def rows(out: Path) -> list[tuple[str, str, str]]:
    return sorted((r["image"], r["noise"], r["method"]) for r in json.loads((out / "results.json").read_text())["rows"])


def test_resume_with_fewer_noises_keeps_the_other_rows(clean_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    both = BenchmarkConfig(methods=("noisy", "tv"), clean_dir=clean_dir,
                           noises=("gaussian:sigma=15", "gaussian:sigma=25"))
    run_benchmark(both, out)
    assert len(rows(out)) == 8 and (out / "plots" / "psnr_vs_noise.png").is_file()
    one = run_benchmark(BenchmarkConfig(methods=("noisy", "tv"), clean_dir=clean_dir,
                                        noises=("gaussian:sigma=25",), resume=True), out)
    assert {r["noise"] for r in one.rows} == {"gaussian:sigma=25"}  # reported: what was asked
    assert not (out / "plots" / "psnr_vs_noise.png").exists()  # one condition draws none: the first run's went
    again = run_benchmark(dataclasses_replace(both, resume=True), out)  # the earlier condition comes back
    assert again.computed == 0 and again.reused == 8


def dataclasses_replace(cfg: BenchmarkConfig, **kw: object) -> BenchmarkConfig:
    import dataclasses

    return dataclasses.replace(cfg, **kw)


def test_resume_recomputes_model_rows_made_with_other_inference_settings(clean_dir: Path, tmp_path: Path,
                                                                         weights: Path) -> None:
    out = tmp_path / "bench"
    cfg = BenchmarkConfig(methods=("model",), clean_dir=clean_dir, noises=("gaussian:sigma=25",),
                          checkpoints=(str(weights),), infer=InferConfig(tile=0, device="cpu"))
    run_benchmark(cfg, out)
    tiled = run_benchmark(dataclasses_replace(cfg, resume=True, infer=InferConfig(tile=32, overlap=8, device="cpu")),
                          out)
    assert tiled.computed == 2  # both model rows again (the noisy baseline's rows are reused)
    same = run_benchmark(dataclasses_replace(cfg, resume=True, infer=InferConfig(tile=32, overlap=8, device="cpu")),
                         out)
    assert same.computed == 0


def test_a_1x1_image_is_a_failure_not_a_traceback(clean_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "clean"
    shutil.copytree(clean_dir, folder)
    write_image(folder / "dot.png", np.full((1, 1, 3), 128, np.uint8))
    result = cli("benchmark", "--clean", folder, "--noise", "gaussian:sigma=25", "--methods", "noisy,tv",
                 "-o", tmp_path / "out")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    data = json.loads((tmp_path / "out" / "results.json").read_text())  # strict JSON, no NaN
    assert [f["image"] for f in data["failures"]] == ["dot"]
    assert len(data["rows"]) == 4


@pytest.mark.parametrize("strength", ["11", "-1", "nan"])
def test_a_model_strength_out_of_range_is_refused_before_any_work(clean_dir: Path, tmp_path: Path,
                                                                   strength: str) -> None:
    result = cli("benchmark", "--clean", clean_dir, "--noise", "gaussian:sigma=25", "--methods", "noisy,model",
                 "--model-strength", "1", "--model-strength", strength, "-o", tmp_path / "out")
    one_line_error(result, "--model-strength must be between 0 and 10")
    assert not (tmp_path / "out").exists()


def test_a_manifest_cannot_name_files_outside_its_set(clean_dir: Path, tmp_path: Path) -> None:
    pairs = tmp_path / "pairs"
    synth(clean_dir, pairs, "gaussian:sigma=25", 0)
    manifest = json.loads((pairs / "manifest.json").read_text())
    manifest["images"][0]["clean"] = "../../../etc/hostname"
    (pairs / "manifest.json").write_text(json.dumps(manifest))
    result = cli("benchmark", "--noisy", pairs, "--methods", "noisy", "-o", tmp_path / "out")
    one_line_error(result, "outside its set")
    manifest["images"][0]["clean"] = "/etc/hostname"
    (pairs / "manifest.json").write_text(json.dumps(manifest))
    one_line_error(cli("benchmark", "--noisy", pairs, "--methods", "noisy", "-o", tmp_path / "out"), "outside")


@pytest.mark.parametrize("noise", ["gausian:sigma=25", None, 7])
def test_a_manifests_bad_noise_is_named_as_the_manifests(clean_dir: Path, tmp_path: Path, noise: object) -> None:
    """A typo made while relabelling a set read "unknown noise model 'gausian'" as if the user had given a spec on
    this command line (null: "unknown noise model 'none' in 'None'")."""
    pairs = tmp_path / "pairs"
    synth(clean_dir, pairs, "gaussian:sigma=25", 0)
    manifest = json.loads((pairs / "manifest.json").read_text())
    manifest["noise"] = noise
    (pairs / "manifest.json").write_text(json.dumps(manifest))
    result = cli("benchmark", "--noisy", pairs, "--methods", "noisy", "-o", tmp_path / "out")
    one_line_error(result, f"{pairs / 'manifest.json'}: ")


@pytest.mark.parametrize("field", ["stages", "image_seed"])
def test_a_manifest_entrys_nan_is_refused_naming_the_manifest(clean_dir: Path, tmp_path: Path, field: str) -> None:
    """A NaN token in an entry's stages (its σ) or image_seed ran the rows, then stopped at the first save with
    a ValueError traceback (results.json records both, and strict JSON holds no NaN)."""
    pairs = tmp_path / "pairs"
    synth(clean_dir, pairs, "gaussian:sigma=25", 0)
    text = (pairs / "manifest.json").read_text()
    manifest = json.loads(text)
    entry = manifest["images"][0]
    if field == "stages":
        entry["stages"][0]["sigma"] = float("nan")
    else:
        entry["image_seed"] = float("nan")
    (pairs / "manifest.json").write_text(json.dumps(manifest))  # (Python writes NaN, as a hand edit may)
    result = cli("benchmark", "--noisy", pairs, "--methods", "noisy", "-o", tmp_path / "out")
    one_line_error(result, f"{pairs / 'manifest.json'}: its entry for", "a hand-edited manifest?")


def test_a_manifest_entry_without_its_pair_is_said_to_be_left_out(clean_dir: Path, tmp_path: Path) -> None:
    """An entry that names no noisy file (a hand edit: synth writes none such into a paired set) was skipped
    without a word, and the means covered fewer pairs than the set holds."""
    pairs = tmp_path / "pairs"
    synth(clean_dir, pairs, "gaussian:sigma=25", 0)
    manifest = json.loads((pairs / "manifest.json").read_text())
    manifest["images"][0]["noisy"] = None
    (pairs / "manifest.json").write_text(json.dumps(manifest))
    result = run_benchmark(BenchmarkConfig(methods=("noisy",), noisy_sets=(str(pairs),)), tmp_path / "out")
    assert len(result.rows) == 1
    assert any(note.startswith(f"{pairs / 'manifest.json'}: 1 entry(ies) name no clean/noisy pair and are left out")
               for note in result.notes), result.notes


def test_an_output_inside_a_noisy_sets_image_folders_is_refused(clean_dir: Path, tmp_path: Path) -> None:
    pairs = tmp_path / "pairs"  # its crops were denoised and evaluated as the set's images afterwards
    synth(clean_dir, pairs, "gaussian:sigma=25", 0)
    for part in ("clean", "noisy"):
        result = cli("benchmark", "--noisy", pairs, "--methods", "noisy", "-o", pairs / part / "bench")
        one_line_error(result, f"is inside --noisy {pairs}'s {part}/")
        assert not (pairs / part / "bench").exists()
    assert cli("benchmark", "--noisy", pairs, "--methods", "noisy", "-o", pairs / "bench").exit_code == 0


def test_a_benchmark_stopped_before_its_first_row_is_run_again_or_resumed(clean_dir: Path, tmp_path: Path) -> None:
    args = ["benchmark", "--clean", clean_dir, "--noise", "gaussian:sigma=25", "--methods", "noisy"]
    for extra in ([], ["--resume"]):  # Ctrl-C after the first crop, before results.json: both were refused
        out = tmp_path / f"out{len(extra)}"
        write_image(out / "crops" / "gaussian_sigma=25" / "a" / "clean.png", noise_image(8, 8))
        temp = out / "crops" / "gaussian_sigma=25" / "a" / ".noisy.png.999999999-abcd1234.part"  # a killed write's
        temp.write_bytes(b"half")
        result = cli(*args, "-o", out, *extra)
        assert result.exit_code == 0, result.output
        assert (out / "results.json").is_file() and not temp.exists()
    (out / "plots").mkdir(exist_ok=True)
    plot_temp = out / "plots" / ".img00.png.999999999-abcd1234.part"  # a write killed beside the plots
    plot_temp.write_bytes(b"half")
    assert cli(*args, "-o", out, "--resume").exit_code == 0 and not plot_temp.exists()


def test_two_model_rows_of_one_name_are_refused(clean_dir: Path, tmp_path: Path) -> None:
    result = cli("benchmark", "--clean", clean_dir, "--noise", "gaussian:sigma=25", "--methods", "model", "-o",
                 tmp_path / "out", "--model-strength", "0.5", "--model-strength", "0.5000001")
    one_line_error(result, "would both be named 'default@strength=0.5'", "alike to 6 digits")  # as rows name them
    assert not (tmp_path / "out").exists()


def test_a_non_empty_or_read_only_output_folder_is_refused(clean_dir: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    args = ["--clean", clean_dir, "--noise", "gaussian:sigma=25", "--methods", "noisy"]
    one_line_error(cli("benchmark", *args, "-o", mine), "not empty")
    import tempfile

    real = tempfile.mkstemp
    ro = tmp_path / "ro"

    def mkstemp(*a: object, **kw: object) -> tuple[int, str]:
        if Path(str(kw.get("dir"))).resolve() == ro.resolve():
            raise PermissionError(13, "Permission denied")
        return real(*a, **kw)

    monkeypatch.setattr("data_tools.atomic_files.tempfile.mkstemp", mkstemp)
    one_line_error(cli("benchmark", *args, "-o", ro), "cannot write")


def test_resume_into_a_folder_without_results_says_there_is_nothing_to_resume(clean_dir: Path,
                                                                              tmp_path: Path) -> None:
    """It said "or --resume to continue the benchmark whose results.json it holds" to a user who gave --resume."""
    write_image(tmp_path / "photos" / "a.png", noise_image(16, 16))
    result = cli("benchmark", "--clean", clean_dir, "--noise", "gaussian:sigma=25", "--methods", "noisy",
                 "-o", tmp_path / "photos", "--resume")
    line = one_line_error(result, "holds no results.json: no benchmark to --resume")
    assert "to continue the benchmark" not in line
    missing = tmp_path / "mistyped"  # a new benchmark started there without a word, as other commands refuse
    one_line_error(cli("benchmark", "--clean", clean_dir, "--noise", "gaussian:sigma=25", "--methods", "noisy",
                       "-o", missing, "--resume"), "no such folder, so no benchmark to --resume")
    assert not missing.exists()


def test_a_seed_given_with_only_noisy_sets_is_refused(clean_dir: Path, tmp_path: Path) -> None:
    """`benchmark --noisy SET --seed 3` recorded the seed as none and drew nothing with it, without a word."""
    pairs = tmp_path / "pairs"
    synth(clean_dir, pairs, "gaussian:sigma=25", 0)
    one_line_error(cli("benchmark", "--noisy", pairs, "--methods", "tv", "--seed", "3", "-o", tmp_path / "b"),
                   "--seed draws the noise on --clean photos", "drop --seed")
    assert not (tmp_path / "b").exists()
    assert cli("benchmark", "--noisy", pairs, "--methods", "tv", "-o", tmp_path / "b").exit_code == 0


def test_a_set_is_not_benchmarked_while_synth_writes_it_nor_rewritten_while_benchmarked(
        clean_dir: Path, tmp_path: Path) -> None:
    """`synth --overwrite` into a set a benchmark was reading went on: 39 of 40 rows scored the new noise under
    the old noise's name, both runs exit 0."""
    import subprocess
    import sys

    from data_tools.folder_lock import holding_folder, reading_folder
    from helpers import CHILD_ENV

    synth(clean_dir, tmp_path / "set", "gaussian:sigma=25", 1)
    benchmark = [sys.executable, "-m", "denoise_gan", "benchmark", "--noisy", str(tmp_path / "set"), "--methods",
                 "noisy", "-o", str(tmp_path / "b")]
    with holding_folder(tmp_path / "set", "set"):  # a synth writing it now
        done = subprocess.run(benchmark, env=CHILD_ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "another process is writing this set now" in done.stderr, done.stderr
    assert not (tmp_path / "b").exists()
    with reading_folder(tmp_path / "set"):  # a benchmark reading it now
        done = subprocess.run([sys.executable, "-m", "denoise_gan", "synth", str(clean_dir), "-o",
                               str(tmp_path / "set"), "--noise", "gaussian:sigma=50", "--overwrite"],
                              env=CHILD_ENV, capture_output=True, text=True, timeout=120)
        assert done.returncode == 1 and "another process is reading this set now" in done.stderr, done.stderr
    assert json.loads((tmp_path / "set" / "manifest.json").read_text())["noise"] == "gaussian:sigma=25"
    assert subprocess.run(benchmark, env=CHILD_ENV, capture_output=True, timeout=120).returncode == 0


def test_evaluate_and_noise_fit_hold_the_set_whose_halves_they_read(clean_dir: Path, tmp_path: Path) -> None:
    """Only benchmark held the sets it read: evaluate or noise-fit of a set's halves scored a set that a
    `synth --overwrite` was rewriting meanwhile."""
    import subprocess
    import sys

    from data_tools.folder_lock import holding_folder
    from data_tools.synth_folder import reading_set_half
    from helpers import CHILD_ENV

    synth(clean_dir, tmp_path / "set", "gaussian:sigma=25", 1)
    halves = ["--clean", str(tmp_path / "set" / "clean")]
    for command in (["evaluate", *halves, "--pred", str(tmp_path / "set" / "noisy")],
                    ["noise-fit", *halves, "--noisy", str(tmp_path / "set" / "noisy"), "--spec", "gaussian:sigma=25",
                     "-o", str(tmp_path / "fit")]):
        with holding_folder(tmp_path / "set", "set"):  # a synth writing it now
            done = subprocess.run([sys.executable, "-m", "denoise_gan", *command], env=CHILD_ENV, capture_output=True,
                                  text=True, timeout=300)
        assert done.returncode == 1 and "another process is writing this set now" in done.stderr, done.stderr
    with reading_set_half(tmp_path / "set" / "noisy"):
        done = subprocess.run([sys.executable, "-m", "denoise_gan", "synth", str(clean_dir), "-o",
                               str(tmp_path / "set"), "--noise", "gaussian:sigma=50", "--overwrite"],
                              env=CHILD_ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "another process is reading this set now" in done.stderr, done.stderr
    with reading_set_half(clean_dir):  # a folder of photos, no set: nothing held
        assert synth(clean_dir, tmp_path / "other", "gaussian:sigma=5", 1).ok


def test_a_hand_edited_results_file_is_named_plainly_on_resume(clean_dir: Path, tmp_path: Path) -> None:
    """A results.json without its rows said "cannot resume from it ('rows')", and a seed edited to the text "0" said
    "this run's --seed 0 where it has 0"."""
    from denoise_gan.errors import UserError

    out = tmp_path / "bench"
    cfg = BenchmarkConfig(methods=("noisy",), clean_dir=clean_dir, noises=("gaussian:sigma=15",))
    run_benchmark(cfg, out)
    stored = json.loads((out / "results.json").read_text())
    (out / "results.json").write_text(json.dumps({**stored, "config": {**stored["config"], "seed": "0"}}))
    with pytest.raises(UserError, match="this run's --seed 0 where it has '0'"):
        run_benchmark(dataclasses_replace(cfg, resume=True), out)
    (out / "results.json").write_text(json.dumps({k: v for k, v in stored.items() if k != "rows"}))
    with pytest.raises(UserError, match=r"cannot resume from it \(no 'rows' entry\)"):
        run_benchmark(dataclasses_replace(cfg, resume=True), out)


def _saves_counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many rows results.json held at each write of it."""
    from denoise_gan.evaluation.benchmark import run as bench_run

    held: list[int] = []
    original = bench_run.atomic_write_text

    def counted(path: Path, text: str) -> None:
        if path.name == "results.json":
            held.append(len(json.loads(text)["rows"]))
        original(path, text)

    monkeypatch.setattr(bench_run, "atomic_write_text", counted)
    return held


def test_results_are_saved_now_and_then_not_after_every_row(clean_dir: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Each save rewrites every row, and a save after each made a run of thousands of images quadratic (a
    1,000-image run spent most of its time there). The first row is saved at once (a run with a row is one to
    resume), then at most every SAVE_GAP_S, and at the end."""
    from denoise_gan.evaluation.benchmark import run as bench_run

    cfg = BenchmarkConfig(methods=("noisy", "tv"), clean_dir=clean_dir, noises=("gaussian:sigma=15",
                                                                                 "gaussian:sigma=25"))
    held = _saves_counted(monkeypatch)
    monkeypatch.setattr(bench_run, "SAVE_GAP_S", 1e9)
    run_benchmark(cfg, tmp_path / "rare")
    assert held == [1, 8]


def test_a_stopped_benchmark_keeps_every_row_it_made(clean_dir: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows made since the last save are saved as a Ctrl-C stops the run; the row being made when it came is not
    one, and a stored row it was to replace stays stored (other_rows), for a --resume with the old settings."""
    import dataclasses

    from denoise_gan.evaluation.benchmark import run as bench_run
    from denoise_gan.evaluation.benchmark.methods import CLASSICAL

    out = tmp_path / "bench"
    cfg = BenchmarkConfig(methods=("noisy", "tv"), clean_dir=clean_dir, noises=("gaussian:sigma=15",), seed=3)
    run_benchmark(cfg, out)
    stored = json.loads((out / "results.json").read_text())["rows"]
    before = {(r["image"], r["method"]): r["fingerprint"] for r in stored}
    original, calls = CLASSICAL["tv"], []

    def stopped_at_the_second(noisy: np.ndarray, sigma: float) -> np.ndarray:
        if noisy.shape[0] > 32:  # (not the warm-up's corner)
            calls.append(noisy.shape)
            if len(calls) == 2:
                raise KeyboardInterrupt
        return original.run(noisy, sigma)

    monkeypatch.setitem(CLASSICAL, "tv", dataclasses.replace(original, run=stopped_at_the_second))
    monkeypatch.setattr(bench_run, "SAVE_GAP_S", 1e9)
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(dataclasses.replace(cfg, oracle_sigma=True, resume=True), out)  # tv's rows made again
    cut = json.loads((out / "results.json").read_text())
    made = {(r["image"], r["method"]): r["fingerprint"] for r in cut["rows"]}
    assert sorted(made) == [("img0", "noisy"), ("img0", "tv"), ("img1", "noisy")]
    assert made[("img0", "tv")] != before[("img0", "tv")]  # the row made since the last save
    assert [((r["image"], r["method"]), r["fingerprint"]) for r in cut["other_rows"]] == [
        (("img1", "tv"), before[("img1", "tv")])]


def test_a_link_inside_a_results_folder_is_refused_before_anything_is_written(clean_dir: Path, tmp_path: Path) -> None:
    """A results folder handed over to be resumed, whose crops/ was a link: the new crops were written through
    it (an existing file there replaced) and the report embedded whatever the links led to."""
    out, victim = tmp_path / "bench", tmp_path / "victim"
    args = ("benchmark", "--clean", clean_dir, "--noise", "gaussian:sigma=15", "-o", out)
    assert cli(*args, "--methods", "noisy").exit_code == 0
    (victim / "kept").mkdir(parents=True)
    (victim / "kept" / "tv.png").write_text("precious")
    shutil.rmtree(out / "crops")
    (out / "crops").symlink_to(victim, target_is_directory=True)
    one_line_error(cli(*args, "--methods", "noisy,tv", "--resume"), f"{out / 'crops'}: a link to {victim}",
                   "remove the link")
    assert sorted(p.name for p in victim.rglob("*")) == ["kept", "tv.png"]
    assert (victim / "kept" / "tv.png").read_text() == "precious"
    (out / "crops").unlink()
    (out / "crops" / "gaussian_sigma=15").mkdir(parents=True)  # a file's link inside: its crop read through it
    (out / "crops" / "gaussian_sigma=15" / "tv.png").symlink_to(victim / "kept" / "tv.png")
    one_line_error(cli(*args, "--methods", "noisy,tv", "--resume"), "tv.png: a link to")
    shutil.rmtree(out / "crops")
    (tmp_path / "notes.md").write_text("mine")
    (out / "notes.md").symlink_to(tmp_path / "notes.md")  # a link of the user's where the benchmark writes nothing
    assert cli(*args, "--methods", "noisy,tv", "--resume").exit_code == 0
    assert (out / "notes.md").is_symlink() and (tmp_path / "notes.md").read_text() == "mine"
