"""One rule for every command that writes a folder: new or empty, its own resumable output, or --overwrite;
a file in the way, a read-only folder or a folder given as a file path is a one-line error before any work."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from data_tools.images import read_image, write_image
from data_tools.synth import synth
from helpers import cli, noise_image, one_line_error, tiny_train_flags


@pytest.fixture
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    for name in ("a", "b"):
        write_image(folder / f"{name}.png", noise_image(24, 24, seed=ord(name)))
    return folder


def read_only(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make `folder` unwritable for the code under test (the suite may run as root, where chmod does not)."""
    real = tempfile.mkstemp

    def mkstemp(*args: object, **kwargs: object) -> tuple[int, str]:
        if Path(str(kwargs.get("dir"))).resolve() == folder.resolve():
            raise PermissionError(13, "Permission denied")
        return real(*args, **kwargs)

    monkeypatch.setattr("data_tools.atomic_files.tempfile.mkstemp", mkstemp)


def test_samples_never_overwrites_a_users_files_silently(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    write_image(out / "astronaut.png", noise_image(8, 8))
    mine = (out / "astronaut.png").read_bytes()
    one_line_error(cli("samples", "-o", out, "--names", "astronaut"), "not empty", "--overwrite")
    assert (out / "astronaut.png").read_bytes() == mine
    assert cli("samples", "-o", out, "--names", "astronaut", "--overwrite").exit_code == 0
    assert read_image(out / "astronaut.png").pixels.shape[:2] == (512, 512)


def test_samples_into_a_read_only_folder_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    read_only(monkeypatch, tmp_path / "ro")
    one_line_error(cli("samples", "-o", tmp_path / "ro", "--names", "camera"), "cannot write", "Permission denied")


def test_demo_refuses_a_non_empty_folder_and_a_file(tmp_path: Path, weights: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The folder rules, not the pictures: the photos are cut to 48x48 (a whole demo took seconds each time)."""
    from data_tools.samples import load_sample

    monkeypatch.setattr("denoise_gan.evaluation.demo.load_sample", lambda name: load_sample(name)[:48, :48])
    out = tmp_path / "out"
    write_image(out / "chelsea.png", noise_image(8, 8))
    mine = (out / "chelsea.png").read_bytes()
    one_line_error(cli("demo", "-o", out, "--checkpoint", weights, "--device", "cpu"), "not empty")
    assert (out / "chelsea.png").read_bytes() == mine
    again = tmp_path / "again"  # the README's first command, run twice: it replaces its own strips
    for _ in range(2):
        assert cli("demo", "-o", again, "--checkpoint", weights, "--device", "cpu").exit_code == 0
    record = json.loads((again / "demo.json").read_text())
    assert sorted(p.name for p in again.iterdir()) == sorted(["demo.json", *(i["file"] for i in record["images"])])
    clean = tmp_path / "clean_demo"  # no noise: an infinite PSNR, written as null (strict JSON)
    assert cli("demo", "-o", clean, "--noise", "gaussian:sigma=0", "-c", weights, "--device", "cpu").exit_code == 0
    assert json.loads((clean / "demo.json").read_text(), parse_constant=lambda c: 1 / 0)["images"][0]["noisy_psnr"] \
        is None
    (again / "notes.txt").write_text("mine")  # anything else there: refused, named first
    line = one_line_error(cli("demo", "-o", again, "--checkpoint", weights, "--device", "cpu"), "not empty")
    assert "(7 entries: notes.txt," in line and (again / "notes.txt").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    one_line_error(cli("demo", "-o", tmp_path / "file", "--checkpoint", weights, "--device", "cpu"),
                   "not a folder")


def test_the_earlier_sets_own_images_are_replaced_without_being_named_as_the_users(src: Path, tmp_path: Path) -> None:
    """Only images no manifest listed are named as removed (a user's, maybe); the earlier set's, which the new one
    does not hold, go without a word."""
    out = tmp_path / "set"
    assert synth(src, out, "gaussian:sigma=10", 0).ok
    fewer = tmp_path / "fewer"
    fewer.mkdir()
    shutil.copy(src / "a.png", fewer / "a.png")
    ok = cli("synth", fewer, "-o", out, "--noise", "gaussian:sigma=30", "--seed", "0", "--overwrite")
    assert ok.exit_code == 0 and "removed" not in ok.stderr, ok.output
    assert sorted(p.name for p in (out / "noisy").iterdir()) == ["a.png"]


def test_synth_into_another_set_is_refused_and_overwrite_replaces_the_whole_set(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "set"
    assert synth(src, out, "gaussian:sigma=10", 0).ok
    write_image(out / "clean" / "old.png", noise_image(24, 24))  # images no manifest lists: removed, and named
    write_image(out / "noisy" / "old.png", noise_image(24, 24))
    result = cli("synth", src, "-o", out, "--noise", "gaussian:sigma=30", "--seed", "0")
    one_line_error(result, "not empty", "--overwrite")
    ok = cli("synth", src, "-o", out, "--noise", "gaussian:sigma=30", "--seed", "0", "--overwrite")
    assert ok.exit_code == 0, ok.output
    assert sorted(p.name for p in (out / "noisy").iterdir()) == ["a.png", "b.png"]  # evaluate sees only these
    assert sorted(p.name for p in (out / "clean").iterdir()) == ["a.png", "b.png"]
    said = " ".join(ok.stderr.split())
    assert "removed 2 image(s)" in said and "clean/old.png, noisy/old.png" in said and "still holds" not in said
    (out / "denoised").mkdir()  # predictions for this set's noise, and a note
    write_image(out / "denoised" / "a.png", noise_image(24, 24))
    (out / "notes.txt").write_text("sigma 30")
    again = cli("synth", src, "-o", out, "--noise", "gaussian:sigma=5", "--seed", "0", "--overwrite")
    assert again.exit_code == 0, again.output
    assert (out / "denoised" / "a.png").is_file() and (out / "notes.txt").is_file()  # not the set's: kept
    said = " ".join(again.output.split())
    assert "still holds denoised/, notes.txt from before" in said and "earlier set's noise" in said, said
    rerun = cli("synth", src, "-o", out, "--noise", "gaussian:sigma=5", "--seed", "0")  # the same set again
    assert rerun.exit_code == 0 and "warning" not in rerun.output, rerun.output


def test_synth_never_writes_or_deletes_through_a_link_into_the_input(src: Path, tmp_path: Path) -> None:
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    out = tmp_path / "set"
    out.mkdir()
    (out / "clean").symlink_to(src)  # a set whose clean/ is the photo library itself
    one_line_error(cli("synth", src, "-o", out, "--noise", "gaussian:sigma=5", "--overwrite"), "into the input folder")
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before
    elsewhere = tmp_path / "elsewhere"  # a link out of the set: refused too (it replaced a user's a.png there)
    write_image(elsewhere / "a.png", noise_image(8, 8))
    mine = (elsewhere / "a.png").read_bytes()
    (out / "clean").unlink()
    (out / "clean").symlink_to(elsewhere)
    one_line_error(cli("synth", src, "-o", out, "--noise", "gaussian:sigma=5", "--overwrite"),
                   "out of the output folder")
    assert (elsewhere / "a.png").read_bytes() == mine and not (out / "noisy").exists()


def test_synth_never_writes_through_a_linked_folder_inside_its_set(tmp_path: Path) -> None:
    """A subfolder of a set's clean/ replaced by a link to another folder: the same synth command again (a repeat,
    which rewrites the set without --overwrite) wrote the source's photo over the user's file of that name there."""
    src, out, elsewhere = tmp_path / "src", tmp_path / "set", tmp_path / "elsewhere"
    write_image(src / "a.png", noise_image(16, 16, seed=1))
    write_image(src / "trip" / "b.png", noise_image(16, 16, seed=2))
    write_image(elsewhere / "b.png", noise_image(16, 16, seed=3))
    mine = (elsewhere / "b.png").read_bytes()
    args = ("synth", src, "-o", out, "--noise", "gaussian:sigma=5")
    assert cli(*args).exit_code == 0
    for sub in ("clean", "noisy"):
        for entry in (out / sub / "trip").iterdir():
            entry.unlink()
        (out / sub / "trip").rmdir()
        (out / sub / "trip").symlink_to(elsewhere)
        for extra in ((), ("--overwrite",)):
            one_line_error(cli(*args, *extra), f"set/{sub}/trip is a link to", "remove the link or choose another -o")
            assert (elsewhere / "b.png").read_bytes() == mine
            assert sorted(p.name for p in elsewhere.iterdir()) == ["b.png"]
        (out / sub / "trip").unlink()
        (out / sub / "trip").mkdir()


def test_a_clean_image_that_fails_to_write_takes_its_noisy_twin_with_it(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The clean copy is written on another thread while the noise is drawn: when it fails (a disk error), the
    source is a failure and its noisy image goes at once, so a set cut short later holds no noisy image without
    its clean twin (the end of a whole run would tidy it; a Ctrl-C never reaches that end)."""
    import data_tools.synth as synth_module
    from data_tools.atomic_files import OutputWriteError

    src = tmp_path / "src"
    for name in ("a", "b", "c"):
        write_image(src / f"{name}.png", noise_image(16, 16, seed=ord(name)))
    real = synth_module.write_image

    def failing(path: Path, *args: object, **kw: object) -> None:
        if Path(path).parent.name == "clean" and Path(path).stem == "b":
            raise OutputWriteError(f"{path}: cannot write (Input/output error)")
        if Path(path).parent.name == "noisy" and Path(path).stem == "c":
            raise KeyboardInterrupt  # the run cut short before its end tidies the set
        real(path, *args, **kw)

    monkeypatch.setattr(synth_module, "write_image", failing)
    with pytest.raises(KeyboardInterrupt):
        synth(src, tmp_path / "set", "gaussian:sigma=5", 0)
    assert sorted(p.name for p in (tmp_path / "set" / "noisy").iterdir()) == ["a.png"]
    monkeypatch.undo()
    assert synth(src, tmp_path / "set", "gaussian:sigma=5", 0).written == 3  # the same command finishes it


def test_a_set_cut_short_by_a_full_disk_is_marked_incomplete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Five of twenty pairs written on a full disk was marked complete: benchmark then scored the five as the
    set. An output that cannot be written is the run cut short, not a bad source."""
    import data_tools.synth as synth_module
    from data_tools.atomic_files import OutputWriteError

    src = tmp_path / "src"
    for name in ("a", "b", "c"):
        write_image(src / f"{name}.png", noise_image(16, 16, seed=ord(name)))
    (src / "broken.png").write_bytes(b"not a png")  # a bad source: a failure that leaves the set complete
    real = synth_module.write_image

    def disk_full(path: Path, *args: object, **kw: object) -> None:
        if Path(path).stem in ("b", "c"):
            raise OutputWriteError(f"{path}: cannot write (No space left on device)")
        real(path, *args, **kw)

    monkeypatch.setattr(synth_module, "write_image", disk_full)
    result = cli("synth", src, "-o", tmp_path / "set", "--noise", "gaussian:sigma=5")
    assert result.exit_code == 1 and "2 output(s) could not be written: the set is marked incomplete" in \
        " ".join(result.stderr.split()) and "1 input(s) failed" in result.stderr, result.output
    assert json.loads((tmp_path / "set" / "manifest.json").read_text())["complete"] is False
    refused = cli("benchmark", "--noisy", tmp_path / "set", "--methods", "tv", "-o", tmp_path / "b")
    one_line_error(refused, "an incomplete set")
    monkeypatch.undo()
    assert synth(src, tmp_path / "set", "gaussian:sigma=5", 0).written == 3  # with room, the same command finishes
    assert json.loads((tmp_path / "set" / "manifest.json").read_text())["complete"] is True

    def nothing_fits(path: Path, *args: object, **kw: object) -> None:
        raise OutputWriteError(f"{path}: cannot write (No space left on device)")

    monkeypatch.setattr(synth_module, "write_image", nothing_fits)  # no pair at all: no set, not "incomplete"
    result = cli("synth", src, "-o", tmp_path / "none", "--noise", "gaussian:sigma=5")
    assert result.exit_code == 1 and "no set was made" in " ".join(result.stderr.split()), result.output
    assert not (tmp_path / "none").exists()


def test_a_disk_with_room_for_one_clean_file_leaves_no_half_pair_and_a_folder_as_it_was(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The clean file of the first pair fitted, its noisy twin did not: the clean file stayed, the run said "the
    folder is as it was", and the folder was then refused as the user's photos, even with --overwrite."""
    import data_tools.synth as synth_module
    from data_tools.atomic_files import OutputWriteError

    src = tmp_path / "src"
    for name in ("a", "b"):
        write_image(src / f"{name}.png", noise_image(16, 16, seed=ord(name)))
    real = synth_module.write_image

    def one_clean_fits(path: Path, *args: object, **kw: object) -> None:
        if Path(path).parent.name == "noisy" or Path(path).stem == "b":
            raise OutputWriteError(f"{path}: cannot write (No space left on device)")
        real(path, *args, **kw)

    monkeypatch.setattr(synth_module, "write_image", one_clean_fits)
    result = cli("synth", src, "-o", tmp_path / "set", "--noise", "gaussian:sigma=5")
    assert result.exit_code == 1 and "no set was made" in " ".join(result.stderr.split()), result.output
    assert not (tmp_path / "set").exists()
    monkeypatch.undo()
    assert synth(src, tmp_path / "set", "gaussian:sigma=5", 0).written == 2
    before = {p.relative_to(tmp_path / "set"): p.read_bytes() for p in (tmp_path / "set").rglob("*.png")}

    def no_noisy_fits(path: Path, *args: object, **kw: object) -> None:
        if Path(path).parent.name == "noisy":
            raise OutputWriteError(f"{path}: cannot write (No space left on device)")
        real(path, *args, **kw)

    monkeypatch.setattr(synth_module, "write_image", no_noisy_fits)
    assert synth(src, tmp_path / "set", "gaussian:sigma=5", 0).unwritten == 2  # the same command, the disk full again
    after = {p.relative_to(tmp_path / "set"): p.read_bytes() for p in (tmp_path / "set").rglob("*.png")}
    assert after == before  # the earlier set's pairs stay whole: its clean files were not this run's to remove


def test_a_set_whose_folder_is_removed_mid_run_is_not_marked_complete(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Each write makes its folder again, so a set removed (or unmounted) while synth ran came back with the later
    pairs only and a manifest marked complete: benchmark took it and failed pair by pair."""
    import shutil

    import data_tools.synth as synth_module

    src = tmp_path / "src"
    for name in ("a", "b", "c"):
        write_image(src / f"{name}.png", noise_image(16, 16, seed=ord(name)))
    real = synth_module._one

    def removed_before_c(source: Path, *args: object, **kw: object) -> dict:
        if source.stem == "c":  # between two sources: no write of the run is under way
            shutil.rmtree(tmp_path / "set")
        return real(source, *args, **kw)

    monkeypatch.setattr(synth_module, "_one", removed_before_c)
    result = cli("synth", src, "-o", tmp_path / "set", "--noise", "gaussian:sigma=5")
    assert result.exit_code == 1 and "2 output(s) could not be written" in " ".join(result.stderr.split())
    assert "written, then gone from the output folder" in " ".join(result.stderr.split())
    assert json.loads((tmp_path / "set" / "manifest.json").read_text())["complete"] is False
    monkeypatch.undo()
    assert synth(src, tmp_path / "set", "gaussian:sigma=5", 0).written == 3  # the same command finishes it
    assert json.loads((tmp_path / "set" / "manifest.json").read_text())["complete"] is True


def test_synth_overwrite_never_deletes_photos_in_a_folder_that_is_no_set(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "mine"  # clean/ and noisy/ of the user's own photos, no manifest: no earlier set
    write_image(out / "clean" / "photo.png", noise_image(24, 24))
    write_image(out / "noisy" / "shot.png", noise_image(24, 24))
    refused = cli("synth", src, "-o", out, "--noise", "gaussian:sigma=5", "--overwrite")
    one_line_error(refused, "not a synth set", "photo.png", "choose another -o")
    (out / "manifest.json").write_text('{"dataset": "my camera pairs", "version": 3}')  # another program's
    one_line_error(cli("synth", src, "-o", out, "--noise", "gaussian:sigma=5", "--overwrite"), "not a synth set")
    assert (out / "clean" / "photo.png").is_file() and (out / "noisy" / "shot.png").is_file()


@pytest.mark.parametrize("damage", ["cut", "utf16"])
def test_a_set_whose_manifest_is_damaged_is_called_so_not_a_folder_of_photos(src: Path, tmp_path: Path,
                                                                              damage: str) -> None:
    """A cut-short or re-encoded manifest read as no manifest at all: synth said "not a synth set ... its clean/
    holds image(s) of yours", and evaluate read an incomplete set's half as complete."""
    out = tmp_path / "set"
    synth(src, out, "gaussian:sigma=25", 0)
    manifest = out / "manifest.json"
    text = manifest.read_text()
    if damage == "cut":
        manifest.write_text(text[: len(text) // 2])
    else:
        manifest.write_bytes(text.replace('"complete": true', '"complete": false').encode("utf-16"))
    for args in ([src, "-o", out, "--noise", "gaussian:sigma=25"], [src, "-o", out, "--noise", "gaussian:sigma=25",
                                                                      "--overwrite"]):
        one_line_error(cli("synth", *args), f"{manifest}: the set's manifest cannot be read (")
    one_line_error(cli("evaluate", "--clean", out / "clean", "--pred", out / "noisy"), "manifest cannot be read")
    assert len(list((out / "clean").iterdir())) == len(list(src.iterdir()))  # nothing deleted


def test_synth_into_a_read_only_folder_is_one_line(src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    read_only(monkeypatch, tmp_path / "ro")
    result = cli("synth", src, "-o", tmp_path / "ro", "--noise", "gaussian:sigma=5", "--seed", "0")
    one_line_error(result, "cannot write")


def test_synth_reads_names_that_are_not_utf8(tmp_path: Path) -> None:
    folder = tmp_path / "src"
    write_image(folder / "ok.png", noise_image(16, 16))
    (folder / "ok.png").rename(os.fsdecode(os.fsencode(folder) + b"/caf\xe9.png"))
    write_image(folder / "ok.png", noise_image(16, 16, seed=3))
    result = cli("synth", folder, "-o", tmp_path / "out", "--noise", "gaussian:sigma=5", "--seed", "0")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert len(manifest["images"]) == 2 and not manifest["failures"]


def test_evaluate_output_paths_that_cannot_be_written_are_one_line(src: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    one_line_error(cli("evaluate", "--clean", src, "--pred", src, "--json", tmp_path), "is a folder")
    read_only(monkeypatch, tmp_path / "ro")
    one_line_error(cli("evaluate", "--clean", src, "--pred", src, "--csv", tmp_path / "ro" / "r.csv"),
                   "cannot write")
    (tmp_path / "afile").write_text("")  # the advice names the option that gave the folder, not an -o it lacks
    one_line_error(cli("evaluate", "--clean", src, "--pred", src, "--json", tmp_path / "afile" / "r.json"),
                   "afile: exists and is not a folder; choose another --json")


def test_evaluate_refused_leaves_no_folder_it_made_for_its_reports(src: Path, tmp_path: Path) -> None:
    """A report's folder is made before the work, to prove it writable: a run then refused for its inputs (no such
    --pred folder, no pair to score) left it behind, empty, where the user had asked for a file."""
    (tmp_path / "kept").mkdir()
    (tmp_path / "empty").mkdir()
    for pred in (tmp_path / "typo", tmp_path / "empty"):
        one_line_error(cli("evaluate", "--clean", src, "--pred", pred, "--json", tmp_path / "new" / "deep" / "r.json",
                           "--csv", tmp_path / "kept" / "r.csv"))
        assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "kept", "src"]
        assert not any((tmp_path / "kept").iterdir())


def test_evaluate_refused_for_a_later_report_option_leaves_no_folder_made_for_an_earlier(src: Path,
                                                                                          tmp_path: Path) -> None:
    """--json's folder was made before --csv was refused (an existing file, an image's name): it stayed, empty."""
    (tmp_path / "taken.csv").write_text("mine")
    for csv in (tmp_path / "taken.csv", tmp_path / "new" / "r.png"):
        one_line_error(cli("evaluate", "--clean", src, "--pred", src, "--json", tmp_path / "new" / "deep" / "r.json",
                           "--csv", csv))
        assert sorted(p.name for p in tmp_path.iterdir()) == ["src", "taken.csv"]


def test_evaluate_never_writes_its_report_over_the_manifest_of_the_set_it_scores(src: Path, tmp_path: Path) -> None:
    """`evaluate --clean s/clean --pred s/noisy --json s/manifest.json --overwrite` replaced the set's record
    (its noise, seed and images), which evaluate itself reads: benchmark then refused the set."""
    assert cli("synth", src, "-o", tmp_path / "s", "--noise", "gaussian:sigma=5").exit_code == 0
    manifest = tmp_path / "s" / "manifest.json"
    before = manifest.read_bytes()
    for option, name in (("--json", "manifest.json"), ("--csv", "./manifest.json")):
        one_line_error(cli("evaluate", "--clean", tmp_path / "s" / "clean", "--pred", tmp_path / "s" / "noisy",
                           option, tmp_path / "s" / name, "--overwrite"),
                       f"{option} ", "the manifest of the synth set that --pred is a half of, which this command "
                       "reads; give the report its own name")
    assert manifest.read_bytes() == before
    result = cli("evaluate", "--clean", tmp_path / "s" / "clean", "--pred", tmp_path / "s" / "noisy", "--json",
                 tmp_path / "s" / "results.json")
    assert result.exit_code == 0, result.output  # a report of its own name beside it is fine


def test_evaluate_removes_the_temp_files_a_killed_run_left_for_its_reports(src: Path, tmp_path: Path) -> None:
    """Every folder-writing command removes a killed writer's temp files; evaluate's --json and --csv left them."""
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()
    pred = shutil.copytree(src, src.parent / "pred")
    (tmp_path / "reports" / "sub").mkdir(parents=True)
    left = [tmp_path / "reports" / f".r.json.{gone.pid}-abcdefgh.part",
            tmp_path / "reports" / "sub" / f".r.csv.{gone.pid}-abcdefgh.part"]
    other = tmp_path / "reports" / f".other.json.{gone.pid}-abcdefgh.part"  # another file's: not this command's
    for path in (*left, other):
        path.write_text("half")
    result = cli("evaluate", "--clean", src, "--pred", pred, "--json", tmp_path / "reports" / "r.json", "--csv",
                 tmp_path / "reports" / "sub" / "r.csv")
    assert result.exit_code == 0, result.output
    assert not any(path.exists() for path in left) and other.exists()


def test_evaluate_reports_never_replace_an_image_or_an_existing_file(src: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    pred = shutil.copytree(src, src.parent / "pred")  # the same folder as --pred is refused
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    for option in ("--json", "--csv"):  # an input image named as the report: refused, even with --overwrite
        one_line_error(cli("evaluate", "--clean", src, "--pred", pred, option, src / "a.png", "--overwrite"),
                       "an image file name")
    one_line_error(cli("evaluate", "--clean", src, "--pred", pred, "--json", tmp_path / "shot.PNG"),
                   "an image file name")  # a camera's upper-case extension too
    one_line_error(cli("evaluate", "--clean", src, "--pred", pred, "--json", tmp_path / "r.out", "--csv",
                       tmp_path / "r.out"), "both name")
    monkeypatch.chdir(tmp_path)
    dash = cli("evaluate", "--clean", src, "--pred", pred, "--json", "-")  # no standard output here: a file named "-"
    one_line_error(dash, "--json -: give a file path")
    assert not (tmp_path / "-").exists()
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before
    report = tmp_path / "r.json"
    report.write_text("keep")
    one_line_error(cli("evaluate", "--clean", src, "--pred", pred, "--json", report), "pass --overwrite")
    assert report.read_text() == "keep"
    result = cli("evaluate", "--clean", src, "--pred", pred, "--json", report, "--overwrite")
    assert result.exit_code == 0, result.output
    assert json.loads(report.read_text())["images"]


def test_an_identical_pair_leaves_a_finite_mean_and_is_counted(src: Path, tmp_path: Path) -> None:
    pred = tmp_path / "pred"
    write_image(pred / "a.png", read_image(src / "a.png").pixels)  # identical: infinite PSNR
    write_image(pred / "b.png", np.clip(read_image(src / "b.png").pixels.astype(int) + 3, 0, 255).astype(np.uint8))
    result = cli("evaluate", "--clean", src, "--pred", pred, "--json", tmp_path / "r.json", "--csv", tmp_path / "r.csv")
    assert result.exit_code == 0, result.output
    assert "inf" not in result.stdout.split("mean", 1)[1].splitlines()[0]
    assert "PSNR mean is over the other 1, the SSIM mean over all 2" in " ".join(result.stdout.split())
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["mean"]["identical_pairs"] == 1
    assert data["mean"]["psnr_finite"] == pytest.approx(data["images"][1]["psnr"])
    mean_row = (tmp_path / "r.csv").read_text().splitlines()[-1]
    assert "inf" not in mean_row


def test_a_pair_equal_only_in_luma_is_counted_apart_from_the_psnr_y_mean(tmp_path: Path) -> None:
    """Its PSNR-Y is infinite where its PSNR is not: the JSON's PSNR-Y mean was null with no finite mean beside
    it, and the table's was over fewer images than it said."""
    clean, pred = tmp_path / "clean", tmp_path / "pred"
    write_image(clean / "a.png", np.full((16, 16, 3), (254, 0, 0), np.uint8))
    write_image(pred / "a.png", np.full((16, 16, 3), (0, 122, 38), np.uint8))  # 65.481 dR + 128.553 dG + 24.966 dB = 0
    write_image(clean / "b.png", noise_image(16, 16))
    write_image(pred / "b.png", np.clip(noise_image(16, 16).astype(int) + 3, 0, 255).astype(np.uint8))
    result = cli("evaluate", "--clean", clean, "--pred", pred, "--y-channel", "--json", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    assert "1 pair(s) equal in Y (PSNR-Y infinite): the PSNR-Y mean is over the other 1" in " ".join(
        result.stdout.split())
    data = json.loads((tmp_path / "r.json").read_text())
    mean = data["mean"]
    assert "identical_pairs" not in mean and mean["psnr"] is not None and mean["psnr_y"] is None
    assert mean["identical_y_pairs"] == 1 and mean["psnr_y_finite"] == pytest.approx(data["images"][1]["psnr_y"])
    for half in (clean, pred):
        (half / "b.png").unlink()
    alone = cli("evaluate", "--clean", clean, "--pred", pred, "--y-channel")  # every pair equal in Y: said too
    assert "1 pair(s) equal in Y (PSNR-Y infinite): the PSNR-Y mean is infinite" in " ".join(alone.stdout.split())


def test_reports_name_files_that_are_not_utf8_as_their_own_bytes(tmp_path: Path) -> None:
    """evaluate --csv, benchmark and noise-fit crashed with a traceback (UnicodeEncodeError) writing such a name."""
    clean = tmp_path / "clean"
    write_image(clean / "ok.png", noise_image(32, 32))
    (clean / "ok.png").rename(os.fsdecode(os.fsencode(clean) + b"/caf\xe9.png"))
    write_image(clean / "ok.png", noise_image(32, 32, seed=3))
    assert cli("synth", clean, "-o", tmp_path / "set", "--noise", "gaussian:sigma=10").exit_code == 0
    result = cli("evaluate", "--clean", tmp_path / "set" / "clean", "--pred", tmp_path / "set" / "noisy", "--csv",
                 tmp_path / "e.csv")
    assert result.exit_code == 0, result.output
    assert b"\ncaf\xe9," in (tmp_path / "e.csv").read_bytes()  # the name as the file system holds it
    named = Path(os.fsdecode(os.fsencode(tmp_path) + b"/s\xe9t"))  # the folders are in the report's settings
    (tmp_path / "set").rename(named)
    result = cli("noise-fit", "--clean", named / "clean", "--noisy", named / "noisy", "-o", tmp_path / "fit")
    assert result.exit_code in (0, 1) and (tmp_path / "fit" / "noise_fit.md").is_file(), result.output
    json.loads((tmp_path / "fit" / "noise_fit.json").read_bytes().decode("utf-8"))  # valid UTF-8 JSON still
    result = cli("benchmark", "--clean", clean, "--noise", "gaussian:sigma=10", "--methods", "noisy,tv", "-o",
                 tmp_path / "bench")
    assert result.exit_code == 0 and (tmp_path / "bench" / "report.html").is_file(), result.output
    from denoise_gan.evaluation.pictures import as_label

    assert as_label("run\udce9") == "run\\xe9"  # a checkpoint's name in a plot (matplotlib refused it)


def test_a_synth_into_a_folder_another_synth_writes_is_refused(src: Path, tmp_path: Path) -> None:
    """Two synth runs into one new folder at once mixed their noises under one manifest marked complete."""
    from data_tools.atomic_files import OutputWriteError
    from data_tools.folder_lock import holding_folder

    with holding_folder(tmp_path / "set", "set"), pytest.raises(OutputWriteError, match="another process"):
        synth(src, tmp_path / "set", "gaussian:sigma=5", 0)
    assert list((tmp_path / "set").iterdir()) == []


def test_a_repeated_synth_keeps_the_users_files_beside_its_images(src: Path, tmp_path: Path) -> None:
    """The same command again (no --overwrite needed) deleted the denoised copies a user kept in noisy/dn/."""
    out = tmp_path / "set"
    assert synth(src, out, "gaussian:sigma=10", 0).ok
    write_image(out / "noisy" / "dn" / "a.png", noise_image(24, 24))
    assert cli("synth", src, "-o", out, "--noise", "gaussian:sigma=10", "--seed", "0").exit_code == 0
    assert (out / "noisy" / "dn" / "a.png").is_file()


def test_a_set_from_another_folder_of_the_same_name_is_another_set(tmp_path: Path) -> None:
    """The manifest recorded the source as typed ("photos"), so the same -o from another working folder counted
    as a repeat and replaced the set without --overwrite."""
    for where, name in (("A", "a"), ("B", "b")):
        write_image(tmp_path / where / "photos" / f"{name}.png", noise_image(24, 24))
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path / "A")
        assert synth("photos", "../set", "gaussian:sigma=10", 0).ok
        os.chdir(tmp_path / "B")
        result = cli("synth", "photos", "-o", "../set", "--noise", "gaussian:sigma=10", "--seed", "0")
    finally:
        os.chdir(cwd)
    one_line_error(result, "not empty", "--overwrite")
    assert (tmp_path / "set" / "noisy" / "a.png").is_file()


def test_a_set_is_marked_complete_only_once_the_earlier_sets_images_are_gone(src: Path, tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "set"
    write_image(src / "c.png", noise_image(24, 24))
    assert synth(src, out, "gaussian:sigma=50", 0).ok
    (src / "c.png").unlink()
    import data_tools.synth as synth_module

    real = synth_module.remove_stale
    seen: list[bool] = []

    def remove_stale(*args: object, **kwargs: object) -> None:  # a kill here left a "complete" set with c.png
        seen.append(json.loads((out / "manifest.json").read_text())["complete"])
        real(*args, **kwargs)

    monkeypatch.setattr(synth_module, "remove_stale", remove_stale)
    assert synth(src, out, "gaussian:sigma=5", 0, overwrite=True).ok
    assert seen == [False] and not (out / "noisy" / "c.png").exists()
    assert json.loads((out / "manifest.json").read_text())["complete"] is True


def test_a_synth_whose_every_source_fails_leaves_the_earlier_set_as_it_was(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "set"
    assert synth(src, out, "gaussian:sigma=10", 0).ok
    manifest = json.loads((out / "manifest.json").read_text())
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.png").write_bytes(b"not a png")
    result = cli("synth", bad, "-o", out, "--noise", "gaussian:sigma=30", "--overwrite")
    assert result.exit_code == 1 and "skipped" in result.stderr and "unpaired" not in result.output
    assert "left as it was" in result.stdout
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert sorted(p.name for p in (out / "noisy").iterdir()) == ["a.png", "b.png"]


def test_synth_cleans_a_killed_runs_temp_files_and_refuses_a_file_in_place_of_a_set_folder(src: Path,
                                                                                          tmp_path: Path) -> None:
    import subprocess

    out = tmp_path / "set"
    assert synth(src, out, "gaussian:sigma=10", 0).ok
    gone = subprocess.Popen(["true"])
    gone.wait()
    left = out / "noisy" / f".a.png.{gone.pid}-abcdefgh.part"
    left.write_bytes(b"half")
    assert synth(src, out, "gaussian:sigma=10", 0).ok and not left.exists()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "clean").write_text("x")
    one_line_error(cli("synth", src, "-o", tmp_path / "other", "--noise", "gaussian:sigma=5", "--overwrite"),
                   "is a file")
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == ["clean"]


def test_a_set_recorded_with_a_relative_or_linked_source_is_still_repeated(src: Path, tmp_path: Path) -> None:
    """Sets made before the source was recorded resolved name it as typed, relative or through a link (macOS's
    /tmp): their same command is a repeat."""
    out = tmp_path / "set"
    assert synth(src, out, "gaussian:sigma=10", 0).ok
    manifest = json.loads((out / "manifest.json").read_text())
    (tmp_path / "link").symlink_to(src)
    for typed in ("src", str(tmp_path / "link")):
        (out / "manifest.json").write_text(json.dumps({**manifest, "source_dir": typed}))
        cwd = os.getcwd()
        try:
            os.chdir(tmp_path)
            result = cli("synth", typed, "-o", "set", "--noise", "gaussian:sigma=10", "--seed", "0")
        finally:
            os.chdir(cwd)
        assert result.exit_code == 0, result.output


def test_a_cut_short_set_rerun_removes_every_image_it_no_longer_makes(src: Path, tmp_path: Path) -> None:
    """A run cut short listed no image; rerun from fewer photos (or after an earlier version's request, which
    names none) it left the images the set no longer holds, of another noise, for `train --noisy` to read."""
    out = tmp_path / "set"
    write_image(src / "c.png", noise_image(24, 24, seed=3))
    assert synth(src, out, "gaussian:sigma=10", 0).ok
    request = json.loads((out / "manifest.json").read_text())
    request.update(complete=False, images=[])  # an earlier version's request: no "replacing"
    (out / "manifest.json").write_text(json.dumps(request))
    (src / "c.png").unlink()
    assert synth(src, out, "gaussian:sigma=10", 0).ok
    assert sorted(p.name for p in (out / "noisy").iterdir()) == ["a.png", "b.png"]
    write_image(src / "c.png", noise_image(24, 24, seed=3))  # today's request names what it planned
    assert synth(src, out, "gaussian:sigma=30", 0, overwrite=True).ok
    request = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**request, "complete": False, "images": [],
                                                   "replacing": ["clean/c.png", "noisy/c.png"]}))
    (src / "c.png").unlink()
    assert synth(src, out, "gaussian:sigma=30", 0).ok
    assert sorted(p.name for p in (out / "clean").iterdir()) == ["a.png", "b.png"]
    write_image(tmp_path / "mine.png", noise_image(8, 8))  # a hand-edited manifest never reaches out of the set
    request = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**request, "complete": False, "images": [],
                                                   "replacing": ["clean/../../mine.png", "noisy/../../mine.png"]}))
    assert synth(src, out, "gaussian:sigma=30", 0).ok
    assert (tmp_path / "mine.png").is_file()


def test_a_source_whose_noise_fails_leaves_no_clean_image(src: Path, tmp_path: Path) -> None:
    from data_tools.noise import parse_noise_spec

    spec = parse_noise_spec("gaussian:sigma=10")

    class Fussy:
        def apply(self, image: np.ndarray, seed: int) -> tuple[np.ndarray, list]:
            if image[0, 0, 0] == FIRST_PIXEL_OF_B:
                raise ValueError("this one cannot be noised")
            return spec.apply(image, seed)

        def __str__(self) -> str:
            return str(spec)

    FIRST_PIXEL_OF_B = int(noise_image(24, 24, seed=ord("b"))[0, 0, 0])
    summary = synth(src, tmp_path / "set", Fussy(), 0)
    assert [reason for _, reason in summary.failures] == ["this one cannot be noised"]
    assert sorted(p.name for p in (tmp_path / "set" / "clean").iterdir()) == ["a.png"]


def test_a_synth_whose_every_source_fails_names_nothing_as_kept(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "set"
    assert synth(src, out, "gaussian:sigma=10", 0).ok
    (out / "notes.txt").write_text("mine")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.png").write_bytes(b"not a png")
    result = cli("synth", bad, "-o", out, "--noise", "gaussian:sigma=30", "--overwrite")
    assert result.exit_code == 1 and "still holds" not in result.output and "left as it was" in result.stdout


def test_a_report_or_an_export_file_that_appears_during_the_run_is_kept(src: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The "exists" check ran only at the start: another run's report or graph written meanwhile was replaced,
    and both runs said "wrote"."""
    pred = shutil.copytree(src, src.parent / "pred")  # the same folder as --pred is refused
    import denoise_gan.evaluation.metrics as metrics
    import denoise_gan.nets.export as export

    report, graph = tmp_path / "r.json", tmp_path / "m.onnx"
    real_evaluate, real_graph = metrics.evaluate_folders, export.onnx_bytes

    def meanwhile(path: Path, real):  # noqa: ANN001, ANN202 - another run writes the same name mid-run
        def run(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            path.write_text("another run's")
            return real(*args, **kwargs)
        return run

    monkeypatch.setattr(metrics, "evaluate_folders", meanwhile(report, real_evaluate))
    # exit 1, as a file that failed: the arguments were good (2 told a script to fix them)
    one_line_error(cli("evaluate", "--clean", src, "--pred", pred, "--json", report), "appeared while", code=1)
    monkeypatch.setattr(export, "onnx_bytes", meanwhile(graph, real_graph))
    one_line_error(cli("export", "default", "-o", graph), "appeared while", code=1)
    assert report.read_text() == graph.read_text() == "another run's"


def test_running_out_of_memory_is_one_line(src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a `ulimit -v`, evaluate and synth ended in numpy's traceback (denoise fails the file in one line)."""
    pred = shutil.copytree(src, src.parent / "pred")  # the same folder as --pred is refused
    from denoise_gan.evaluation import metrics

    def too_big(*_: object, **__: object) -> None:
        raise MemoryError("Unable to allocate 275. MiB for an array with shape (3000, 4000, 3) and data type float64")

    monkeypatch.setattr(metrics, "_prepare", too_big)
    result = cli("evaluate", "--clean", src, "--pred", pred)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: out of memory (Unable to allocate 275. MiB"), lines

    def no_room_to_load(*_: object, **__: object) -> None:  # `import torch` under the same limit
        raise ImportError("libtorch_cpu.so: failed to map segment from shared object")

    monkeypatch.setattr(metrics, "_prepare", no_room_to_load)
    result = cli("evaluate", "--clean", src, "--pred", pred)
    assert result.exit_code == 1 and result.stderr.startswith("error: out of memory (libtorch_cpu.so"), result.output


def test_torch_running_out_of_memory_in_training_is_one_line(src: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """torch's CPU allocator says it in a RuntimeError, not a MemoryError: `train` under a `ulimit -v` ended in
    a traceback."""
    from denoise_gan.training import cyclegan

    said = ["[enforce fail at alloc_cpu.cpp:127] data. DefaultCPUAllocator: can't allocate memory: you tried to "
            "allocate 150994944 bytes. Error code 12 (Cannot allocate memory)",
            "CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 79.11 GiB total capacity)"]

    def no_room(*_: object, **__: object) -> None:
        raise RuntimeError(said[0])

    monkeypatch.setattr(cyclegan, "train", no_room)
    shutil.copytree(src, tmp_path / "noisy")
    for text in list(said):
        said[0] = text
        result = cli("train", "--clean", src, "--noisy", tmp_path / "noisy", "-o", tmp_path / "run", "--steps", "1")
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith(f"error: out of memory ({text[:12]}"), lines


def test_a_decoder_out_of_memory_is_memory_not_a_corrupt_photo(src: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenCV's and Pillow's failed allocations were read as "truncated or corrupt image data": training went on
    without the photos memory ran out on, naming good files corrupt, and denoise failed them as damaged."""
    import cv2
    from PIL import Image

    from data_tools import image_decode

    def opencv_full(*_: object, **__: object) -> None:
        raise cv2.error("OpenCV(4.10.0) alloc.cpp:73: error: (-4:Insufficient memory) Failed to allocate 36000000 "
                        "bytes in function 'OutOfMemoryError'")

    monkeypatch.setattr(image_decode.cv2, "imdecode", opencv_full)
    with pytest.raises(MemoryError, match="Insufficient memory"):
        read_image(next(src.iterdir()))
    result = cli("train", "--clean", src, "--noise", "gaussian:sigma=25", "-o", tmp_path / "run", "--steps", "1",
                 *tiny_train_flags())
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: out of memory (decoding the image: "), lines
    monkeypatch.undo()

    def pillow_full(*_: object, **__: object) -> None:
        raise MemoryError()

    palette = tmp_path / "palette.png"  # a palette PNG is Pillow's to decode
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).convert("P").save(palette)
    monkeypatch.setattr(Image.Image, "convert", pillow_full)
    with pytest.raises(MemoryError):
        read_image(palette)


@pytest.mark.parametrize("where", ["open", "seek", "frames", "exif", "tiff"])
def test_running_out_of_memory_in_a_files_header_is_memory_not_a_bad_file(tmp_path: Path, where: str,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening a file's header, turning to its page, reading its EXIF and counting its frames took a MemoryError
    for "not a readable image file", a photo without metadata or orientation, or a still image."""
    import tifffile
    from PIL import Image, PngImagePlugin

    def full(*_: object, **__: object) -> None:
        raise MemoryError()

    path = tmp_path / ("photo.tif" if where == "tiff" else "photo.png")
    write_image(path, noise_image(16, 16))
    if where == "open":
        monkeypatch.setattr(Image, "open", full)
    elif where == "seek":
        monkeypatch.setattr(PngImagePlugin.PngImageFile, "seek", full)
    elif where == "exif":
        monkeypatch.setattr(Image.Image, "getexif", full)
    elif where == "frames":
        from data_tools import images

        class CountingFails:  # Pillow's view of the file, whose count of frames runs out of memory
            def __init__(self, header: Image.Image) -> None:
                self.header = header

            def __getattr__(self, name: str) -> object:
                return full() if name == "is_animated" else getattr(self.header, name)

        opened = images.open_header
        monkeypatch.setattr(images, "open_header", lambda data: CountingFails(opened(data)))
    else:  # the size's read of the IFD only: the decoder's own read of it would fail the file anyway
        real, calls = tifffile.TiffFile, []

        def full_once(*args: object, **kwargs: object) -> object:
            calls.append(1)
            return full() if len(calls) == 1 else real(*args, **kwargs)

        monkeypatch.setattr(tifffile, "TiffFile", full_once)
    with pytest.raises(MemoryError):
        read_image(path)
    monkeypatch.undo()
    assert read_image(path).pixels.shape == (16, 16, 3)


@pytest.mark.parametrize("fmt", ["tif", "png"])
def test_running_out_of_memory_in_a_files_exif_on_writing_is_memory_not_a_photo_without_metadata(
        tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The EXIF block rebuilt for an output (always for a TIFF) took a MemoryError for a damaged block: the output
    was written without the photo's EXIF, without a word."""
    from PIL import Image

    tags = Image.Exif()
    tags[0x010F] = "Maker"
    tags[0x0112] = 6
    pixels, exif = noise_image(8, 12), tags.tobytes()

    def full(*_: object, **__: object) -> None:
        raise MemoryError()

    monkeypatch.setattr(Image.Exif, "load", full)
    with pytest.raises(MemoryError):
        write_image(tmp_path / f"out.{fmt}", pixels, exif=exif)
    monkeypatch.undo()
    write_image(tmp_path / f"out.{fmt}", pixels, exif=exif)
    assert read_image(tmp_path / f"out.{fmt}").exif is not None



@pytest.mark.parametrize("step", ["load", "tobytes"])
def test_running_out_of_memory_while_rebuilding_a_files_exif_is_memory(tmp_path: Path, step: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the check of what the block holds, rebuilding it (parsing, then serialising) took a MemoryError for
    a damaged block as well: the PNG was written without the photo's EXIF."""
    from PIL import Image

    from data_tools import image_metadata

    tags = Image.Exif()
    tags[0x010F] = "Maker"
    exif = tags.tobytes()

    def full(*_: object, **__: object) -> None:
        raise MemoryError()

    monkeypatch.setattr(image_metadata, "_describes", lambda _exif: True)  # (its own refusal is tested above)
    monkeypatch.setattr(image_metadata, "upright_exif", lambda *_: None)  # a block edited by rebuilding it
    monkeypatch.setattr(Image.Exif, step, full)
    with pytest.raises(MemoryError):
        write_image(tmp_path / "out.png", noise_image(8, 12), exif=exif)

def test_training_names_the_images_it_cannot_read(src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """train and adapt read their folders recursively and passed over GIF and HEIC files without a word."""
    from denoise_gan.training import adapt, cyclegan

    monkeypatch.setattr(cyclegan, "train", lambda *_, **__: tmp_path / "G.safetensors")
    monkeypatch.setattr(adapt, "adapt", lambda *_, **__: tmp_path / "run" / "G.safetensors")
    shutil.copytree(src, tmp_path / "noisy")
    (tmp_path / "noisy" / "photo.heic").write_bytes(b"")
    result = cli("train", "--clean", src, "--noisy", tmp_path / "noisy", "-o", tmp_path / "run", "--steps", "1")
    assert result.exit_code == 0 and "not read: 1 image(s) in a format this tool does not read" in result.stderr
    result = cli("adapt", "--noisy", tmp_path / "noisy", "-o", tmp_path / "ad", "--steps", "2")
    assert "not read: 1 image(s) in a format this tool does not read" in result.stderr, result.output
    (tmp_path / "noisy" / "photo.heic").rename(tmp_path / "photo.heic")  # in adapt's --clean photos instead
    shutil.copytree(src, tmp_path / "clean")
    (tmp_path / "photo.heic").rename(tmp_path / "clean" / "photo.heic")
    result = cli("adapt", "--noisy", tmp_path / "noisy", "--clean", tmp_path / "clean", "-o", tmp_path / "ad2",
                 "--steps", "2")
    assert "not read: 1 image(s) in a format this tool does not read" in result.stderr, result.output


def test_a_validation_set_and_benchmarked_pairs_name_the_images_they_cannot_read(
        src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """train --val and benchmark --noisy read a set's clean/ and noisy/ and passed over a GIF in them without a
    word, where every other command that reads a folder names it."""
    from data_tools.synth import synth
    from denoise_gan.training import cyclegan

    monkeypatch.setattr(cyclegan, "train", lambda *_, **__: tmp_path / "G.safetensors")
    synth(src, tmp_path / "val", "gaussian:sigma=10", 1)
    (tmp_path / "val" / "noisy" / "extra.gif").write_bytes(b"GIF89a")
    result = cli("train", "--clean", src, "--noise", "gaussian:sigma=10", "--val", tmp_path / "val", "-o",
                 tmp_path / "run", "--steps", "1")
    assert result.exit_code == 0 and "not read: 1 image(s) in a format this tool does not read" in result.stderr, \
        result.output
    result = cli("benchmark", "--noisy", tmp_path / "val", "--methods", "noisy", "-o", tmp_path / "bench")
    assert result.exit_code == 0 and "not read: 1 image(s) in a format this tool does not read" in result.stderr, \
        result.output


def test_the_onnx_engine_out_of_memory_while_loading_is_said_as_such(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a `ulimit -v` the shipped graph was "not a loadable ONNX graph" (bad_alloc), onnxruntime "installed
    but does not import" (its library could not be mapped), or a traceback when printing the line itself ran
    out of memory: each is the one out-of-memory line, exit 1."""
    import importlib
    import sys

    from denoise_gan.inference import onnx_engine

    errors = sys.modules["denoise_gan.cli.friendly_errors"]

    write_image(tmp_path / "a.png", np.zeros((40, 40, 3), np.uint8))
    args = ("denoise", tmp_path / "a.png", "-o", tmp_path / "out/", "--engine", "onnxruntime")

    def bad_alloc(*_: object, **__: object) -> None:
        raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Exception during initialization: "
                           "std::bad_alloc")

    monkeypatch.setattr(onnx_engine, "open_session", bad_alloc)
    result = cli(*args)
    assert result.exit_code == 1 and result.stderr.startswith("error: out of memory ([ONNXRuntimeError]"), \
        result.output
    monkeypatch.undo()
    real_import = importlib.import_module

    def unmappable(name: str, *rest: object) -> object:
        if name == "onnxruntime":
            raise ImportError("onnxruntime_pybind11_state.so: failed to map segment from shared object")
        return real_import(name, *rest)

    monkeypatch.setattr(importlib, "import_module", unmappable)
    result = cli(*args)
    assert result.exit_code == 1 and result.stderr.startswith("error: out of memory (onnxruntime_pybind11"), \
        result.output
    monkeypatch.undo()

    def no_room_to_print(*_: object, **__: object) -> None:
        raise MemoryError

    monkeypatch.setattr(onnx_engine, "open_session", bad_alloc)
    monkeypatch.setattr(errors, "say_error", no_room_to_print)
    result = cli(*args)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith("error: out of memory ("), result.output


def test_synth_overwrite_names_the_unlisted_images_it_removes_and_the_files_it_keeps(src: Path,
                                                                                    tmp_path: Path) -> None:
    """--overwrite removed an image of the user's under clean/ without a word, and kept a note under noisy/
    without naming it, where it names what it keeps beside the set."""
    out = tmp_path / "set"
    assert cli("synth", src, "-o", out, "--noise", "gaussian:sigma=5").exit_code == 0
    write_image(out / "clean" / "extra.png", noise_image(24, 24, seed=9))
    (out / "noisy" / "notes.txt").write_text("mine")
    result = cli("synth", src, "-o", out, "--noise", "gaussian:sigma=7", "--overwrite")
    said = " ".join(result.stderr.split())
    assert result.exit_code == 0 and "removed 1 image(s)" in said and "clean/extra.png" in said, said
    assert "still holds noisy/notes.txt" in said and (out / "noisy" / "notes.txt").read_text() == "mine"
    assert not (out / "clean" / "extra.png").exists()
    write_image(out / "noisy" / "denoised" / "a.png", noise_image(24, 24, seed=3))  # predictions of the old noise
    result = cli("synth", src, "-o", out, "--noise", "gaussian:sigma=9", "--overwrite")
    said = " ".join(result.stderr.split())
    assert result.exit_code == 0 and "noisy/denoised/a.png" in said
    assert not (out / "noisy" / "denoised" / "a.png").exists()
    assert "still holds noisy/notes.txt from before" in said, said  # not the folder it just emptied
