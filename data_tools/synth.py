"""Synthetic clean/noisy sets with a manifest, so every noisy file can be reproduced exactly.

Paired mode writes ``OUT/clean/NAME.png`` and ``OUT/noisy/NAME.png`` for every source; unpaired mode splits
the sources into two disjoint halves (sorted, alternating) and writes clean files from one and noisy files
from the other, which is what an unpaired (CycleGAN) training set looks like. ``OUT/manifest.json``
records, per image, the source, the noise spec, the parameters drawn for each stage and the per-image
seed ``image_seed(seed, NAME)`` (NAME = the relative path without extension, so the seed does not depend
on file order, format or which other files are present).

The noise comes from a ``NoiseSource``: anything with ``apply(pixels, seed) -> (noisy, params)`` and a text
form for the manifest. A parsed spec (``NoiseSpec``) is one; a learned noise model (``denoise_gan``'s
``NoiseModel``, F of a run) is another, and adds a ``manifest()`` record (its file and sha256). One code path
writes both; data_tools never imports the model code.

Both outputs are lossless PNG, even when the spec ends in ``jpeg``: the jpeg stage already encodes and
decodes, so the PNG holds exactly the pixels the noise model produced (re-encoding them as a .jpg would
compress them a second time with another encoder, and a 16-bit image cannot be a JPEG at all). The clean
PNG holds exactly the pixels the noise was applied to (after EXIF orientation, resize and crop).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data_tools.atomic_files import OutputWriteError
from data_tools.case_folding import folds_case, name_on_disk
from data_tools.checks import whole_number
from data_tools.clean_shrink import SmallerThanCrop, refuse_crop_over_size, shrunk_clean
from data_tools.disk_names import refused_names
from data_tools.folder_lock import holding_folder
from data_tools.folder_scan import folders_not_read
from data_tools.images import ImageReadError, read_image, write_image
from data_tools.names import printable, refuse_empty_paths
from data_tools.noise import image_seed
from data_tools.noise_source import NoiseSource, as_noise_source, drawn_noise, noise_text, source_record
from data_tools.output_folders import prepare_output_dir
from data_tools.paths import real_path
from data_tools.synth_folder import (
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    SET_FOLDERS,
    SynthError,
    not_the_sets,
    refuse_photos_of_no_set,
    remove_empty_set,
    remove_stale,
    restore_manifest,
    same_set,
    set_files,
    set_hint,
    set_manifest,
    write_manifest,
)
from data_tools.synth_sources import checked_sources
from data_tools.temp_files import is_temp_file, remove_stale_parts
from data_tools.versions import tool_version

ProgressFn = Callable[[int, int, str], None]


@dataclass
class SynthSummary:
    """What a run wrote and what it skipped, so a caller can report and exit non-zero on failures."""

    out_dir: Path
    manifest: Path
    written: int = 0
    failures: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # smaller than --crop: left out as asked, no failure
    shrunk: int = 0  # of the skipped, photos --max-size shrank first
    unwritten: int = 0  # of the failures, outputs that could not be written (a full disk): the set is cut short
    kept: list[str] = field(default_factory=list)  # what --overwrite left of an earlier set: not the set's own files
    removed: list[str] = field(default_factory=list)  # images under clean/ and noisy/ no manifest listed, removed
    linked: list[Path] = field(default_factory=list)  # linked folders of photos under the source, never followed
    cautions: list[tuple[Path, str]] = field(default_factory=list)  # sources whose pixels a reader doubts (damaged
    # data, 12-bit values in a 16-bit file: noise on the 0-255 scale is 16 times too strong there)

    @property
    def ok(self) -> bool:
        return not self.failures


def _stem(path: Path, root: Path) -> str:
    return path.relative_to(root).with_suffix("").as_posix()


def synth(
    clean_dir: Path | str,
    out_dir: Path | str,
    spec: NoiseSource | str,
    seed: int,
    unpaired: bool = False,
    crop: int | None = None,
    max_size: int | None = None,
    progress: ProgressFn | None = None,
    overwrite: bool = False,
) -> SynthSummary:
    """Build a synthetic set from the clean images under ``clean_dir`` (recursive); see the module doc.

    ``spec`` is a noise spec (text or parsed) or any ``NoiseSource`` (a learned noise model).

    A source that cannot be read is recorded in the summary's and the manifest's failures, one smaller than
    ``crop`` in their ``skipped``; the rest still run. ``progress(done, total, name)`` is called after each source.
    Same inputs and seed give byte-identical files. The output folder follows the rule of every command that
    writes one: new or empty, or this same set (a manifest with the same source, noise, seed and options: the
    run is repeated), or anything with ``overwrite``. Once the new images are in, the earlier set's that this
    run did not write are removed (with ``overwrite``, every other image under clean/ and noisy/ too; a repeat
    keeps the user's files there, such as denoised copies in a subfolder).
    """
    refuse_empty_paths(clean_dir, out_dir)
    seed = whole_number(seed, "seed")
    crop, max_size = (None if v is None else whole_number(v, name, 1) for v, name in ((crop, "crop"),
                                                                                     (max_size, "max_size")))
    refuse_crop_over_size(crop, max_size)
    clean_dir, out_dir = Path(clean_dir), Path(out_dir)
    spec = as_noise_source(spec)
    sources = checked_sources(clean_dir, out_dir, unpaired)
    record = source_record(spec)
    settings = {"mode": "unpaired" if unpaired else "paired", "source_dir": str(real_path(clean_dir)),
                "noise": noise_text(spec), "seed": seed, "crop": crop, "max_size": max_size}
    if record.get("kind") != "spec":  # a learned model: the same file name with other weights is another set
        settings["noise_source"] = record
    with holding_folder(out_dir, "set"):  # a second synth into it would mix two sets under one manifest
        return _write_folder(sources, clean_dir, out_dir, spec, settings, overwrite, progress)


def _write_folder(sources: list[Path], clean_dir: Path, out_dir: Path, spec: NoiseSource, settings: dict[str, Any],
                  overwrite: bool, progress: ProgressFn | None) -> SynthSummary:
    """The set written into its folder (held by this run): checked, the request recorded, the images, then the
    earlier set's other images removed and the set marked complete."""
    was_empty = not any(p for p in out_dir.iterdir() if not is_temp_file(p.name))
    earlier = set_manifest(out_dir, SynthError)  # read once: nothing below changes it before the request
    same = same_set(earlier, settings)
    if overwrite and not same:
        refuse_photos_of_no_set(out_dir, earlier)
    prepare_output_dir(out_dir, overwrite=overwrite, own=same, hint=set_hint(earlier, settings),
                       known=(*SET_FOLDERS, MANIFEST_NAME))
    for sub in SET_FOLDERS:  # a killed run's temp files, in any folder of its images
        remove_stale_parts(out_dir / sub, recursive=True)
    summary = SynthSummary(out_dir=out_dir, manifest=out_dir / MANIFEST_NAME,
                           kept=[] if was_empty or same else not_the_sets(out_dir),
                           linked=folders_not_read([clean_dir], out_dir, recursive=True)[1])
    # the request first, marked incomplete and naming the earlier set's images and the ones this run plans: a
    # run cut short leaves a set that says so (benchmark refuses it), and the same command, seeing its own
    # settings, writes it again and still knows which images it may remove (a source that fails leaves none)
    replacing = sorted({*set_files(out_dir, earlier), *_planned_files(sources, clean_dir, settings)})
    write_manifest(summary.manifest, _manifest(settings, [], summary, complete=False, replacing=replacing))
    folds = folds_case(out_dir)  # A.png and a.png are one file on macOS', Windows' and exFAT disks
    entries = _write_set(sources, clean_dir, out_dir, spec, settings, summary, progress, folds)
    if not entries:  # every source failed or was left out: the folder is left as it was
        summary.kept = []
        if was_empty:
            remove_empty_set(out_dir)
        else:
            restore_manifest(summary.manifest, earlier)
        return summary
    _refuse_one_sided(entries, out_dir, was_empty, summary)
    _note_vanished(entries, clean_dir, out_dir, summary)
    if summary.unwritten:  # the output's fault, not a source's: the request manifest stays, marked incomplete,
        if not summary.manifest.is_file():  # removed with its folder: the same command must know the set again
            with contextlib.suppress(OSError, ValueError):
                write_manifest(summary.manifest, _manifest(settings, [], summary, complete=False, replacing=replacing))
        return summary  # so benchmark refuses the few pairs and the same command, with room, finishes the set
    summary.removed = remove_stale(out_dir, replacing, entries, every_image=overwrite, folds=folds)
    summary.kept = [k for k in summary.kept if _holds_anything(out_dir / k)]  # a folder of predictions just emptied
    write_manifest(summary.manifest, _manifest(settings, entries, summary, complete=True))
    return summary


def _holds_anything(path: Path) -> bool:
    """A file, or a folder with a file somewhere below it."""
    return path.is_file() or path.is_dir() and any(p.is_file() for p in path.rglob("*"))


def _note_vanished(entries: list[dict[str, Any]], clean_dir: Path, out_dir: Path, summary: SynthSummary) -> None:
    """Sources whose files this run wrote are gone by its end (the output folder removed, or a mount under it taken
    away, while it ran: each write makes its folder again): their outputs count as not written, one per source,
    and the set is not marked complete."""
    for entry in entries:
        gone = [entry[side] for side in SET_FOLDERS if entry.get(side) and not (out_dir / entry[side]).is_file()]
        if gone:
            summary.unwritten += 1
            summary.failures.append((clean_dir / entry["source"], f"{' and '.join(gone)} written, then gone from "
                                                                  "the output folder (removed while the run went on?)"))


def _split(index: int, unpaired: bool) -> str:
    """Which side a source goes to: both (paired), or by the manifest's ``split_rule`` (unpaired)."""
    return ("clean" if index % 2 == 0 else "noisy") if unpaired else "paired"


def _sides(split: str) -> tuple[str, ...]:
    """The set's halves a source of this split writes: both for a pair, its own half otherwise."""
    return SET_FOLDERS if split == "paired" else (split,)


def _set_file(side: str, name: str) -> str:
    return f"{side}/{name}.png"


def _planned_files(sources: list[Path], clean_dir: Path, settings: dict[str, Any]) -> list[str]:
    """The image files the set will hold, as its manifest names them (``_write_set`` makes them)."""
    unpaired = settings["mode"] == "unpaired"
    return [_set_file(side, _stem(source, clean_dir)) for index, source in enumerate(sources)
            for side in _sides(_split(index, unpaired))]


def _refuse_one_sided(entries: list[dict[str, Any]], out_dir: Path, was_empty: bool, summary: SynthSummary) -> None:
    """An unpaired set whose failures left one side empty is no training set: what this run wrote goes again
    (from a folder that was new or empty; otherwise the request manifest marks the set incomplete)."""
    missing = [side for side in SET_FOLDERS if not any(e.get(side) for e in entries)]
    left_out = summary.failures + summary.skipped
    if not missing or not left_out:  # (a paired set has both in every entry)
        return
    if was_empty:
        for entry in entries:
            for side in SET_FOLDERS:
                if entry.get(side):
                    (out_dir / entry[side]).unlink(missing_ok=True)
        remove_empty_set(out_dir)
    path, reason = left_out[0]
    raise SynthError(f"no unpaired set: with {len(left_out)} source(s) failing or left out (first "
                     f"{printable(str(path))}: {reason}), none is left for its {missing[0]} side; fix or remove them")


def _write_set(sources: list[Path], clean_dir: Path, out_dir: Path, spec: NoiseSource, settings: dict[str, Any],
               summary: SynthSummary, progress: ProgressFn | None, folds: bool) -> list[dict[str, Any]]:
    """Every source's clean and/or noisy file; a source that fails is recorded in the summary, the rest go on.
    ``folds``: whether the output's disk tells names apart by case only (``folds_case``)."""
    seed, crop, max_size = settings["seed"], settings["crop"], settings["max_size"]
    unpaired = settings["mode"] == "unpaired"
    entries: list[dict[str, Any]] = []
    seen: dict[Path, Path] = {}  # each name as the output's disk tells names apart, to its source
    written: dict[str, Path] = {}  # each set file written (clean/a.png), and each folder it needs, to its source
    folders: dict[str, Path] = {}
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="synth-write") as writer:
        for index, source in enumerate(sources):
            name = _stem(source, clean_dir)
            split = _split(index, unpaired)
            key = name_on_disk(Path(name), folds)
            try:
                if key in seen:
                    apart = "" if _stem(seen[key], clean_dir) == name else " where the set is written, a disk " \
                        "that does not tell case apart"
                    raise ValueError(f"same name as {seen[key]}{apart}; rename one of them")
                files = [_set_file(side, name) for side in _sides(split)]
                if refused := refused_names(out_dir, files[0].split("/")[1:]):  # (the half's name taken)
                    raise ValueError(refused)  # a FAT card's refusal said before the work, not "make room" after it
                if other := _file_and_folder(files, written, folders):
                    raise ValueError(f"its output and {other}'s would be a file and a folder of one name; rename one")
                entries.append(_one(source, name, split, out_dir, spec, seed, crop, max_size, clean_dir, writer))
                if "caution" in entries[-1]:
                    summary.cautions.append((source, entries[-1]["caution"]))
                seen[key] = source  # once written: a file that failed to read takes no name from the next
                written.update(dict.fromkeys(files, source))
                folders.update({"/".join(f.split("/")[:i]): source for f in files for i in range(2, f.count("/") + 1)})
                summary.written += 1
            except SmallerThanCrop as exc:
                summary.skipped.append((source, str(exc)))
                summary.shrunk += exc.shrunk
            except (ImageReadError, ValueError) as exc:
                summary.unwritten += isinstance(exc, OutputWriteError)
                reason = str(exc)
                prefix = f"{source}: "
                summary.failures.append((source, reason[len(prefix):] if reason.startswith(prefix) else reason))
            if progress is not None:
                progress(index + 1, len(sources), printable(name))
    return entries


def _file_and_folder(files: list[str], written: dict[str, Path], folders: dict[str, Path]) -> Path | None:
    """The source written before whose set file is a folder one of ``files`` needs, or the reverse: x.jpg is
    written as clean/x.png, and x.png/a.png needs clean/x.png/ as a folder (in one half of the set)."""
    for file in files:
        parts = file.split("/")
        for i in range(2, len(parts)):  # (the first part is the half, clean or noisy)
            if (folder := "/".join(parts[:i])) in written:
                return written[folder]
        if file in folders:
            return folders[file]
    return None


def _manifest(settings: dict[str, Any], entries: list[dict[str, Any]], summary: SynthSummary,
              complete: bool, replacing: list[str] | None = None) -> dict[str, Any]:
    unpaired = settings["mode"] == "unpaired"
    return {
        "format": MANIFEST_FORMAT,
        "tool": "denoise-gan",
        "version": tool_version(),
        "complete": complete,  # false while the set is written, and after a run that was cut short
        "mode": settings["mode"],
        "split_rule": "sources sorted by path; even positions -> clean, odd -> noisy" if unpaired else None,
        "source_dir": settings["source_dir"],
        "noise": settings["noise"],
        **({"noise_source": settings["noise_source"]} if "noise_source" in settings else {}),
        "seed": settings["seed"],
        "seed_rule": "per-image seed = data_tools.noise.image_seed(seed, name)",
        "crop": settings["crop"],
        "max_size": settings["max_size"],
        "preprocess": "EXIF orientation, then downscale longest side to max_size (INTER_AREA), then center "
                      "crop; applied to clean images before noise, never to noisy ones",
        "storage": "lossless PNG; noisy pixels clipped and rounded to the source dtype",
        "images": entries,
        "failures": [{"source": str(p), "reason": r} for p, r in summary.failures],
        "skipped": [{"source": str(p), "reason": r} for p, r in summary.skipped],
        **({"replacing": replacing} if replacing else {}),  # while written: the earlier set's images still there
    }


def _one(source: Path, name: str, split: str, out_dir: Path, spec: NoiseSource, seed: int,
         crop: int | None, max_size: int | None, clean_dir: Path, writer: Executor) -> dict[str, Any]:
    """Read, prepare and write one source; returns its manifest entry. The clean file is encoded on the writer
    thread while the noise is drawn (a learned model's pass and a PNG encoding take similar time); its errors
    still fail this source."""
    loaded = read_image(source)
    pixels = loaded.pixels
    pixels = shrunk_clean(pixels, crop, max_size)
    entry: dict[str, Any] = {
        "name": name,
        "source": source.relative_to(clean_dir).as_posix(),
        "split": split,
        "shape": list(pixels.shape),
        "dtype": str(pixels.dtype),
        "clean": None,
        "noisy": None,
        **({"caution": loaded.caution} if loaded.caution else {}),
    }
    clean_written: Future[None] | None = None
    made_clean = False  # whether this call makes the clean file (a rerun rewrites an earlier set's, which stays)
    if "clean" in _sides(split):
        entry["clean"] = _set_file("clean", name)
        made_clean = not (out_dir / entry["clean"]).exists()
        clean_written = writer.submit(write_image, out_dir / entry["clean"], pixels, exif=loaded.exif,
                                      icc=loaded.icc)
    try:
        if "noisy" in _sides(split):
            per_image = image_seed(seed, name)
            noisy, stages = drawn_noise(spec, pixels, per_image)
            entry["noisy"] = _set_file("noisy", name)
            entry["image_seed"] = per_image
            entry["stages"] = stages
            write_image(out_dir / entry["noisy"], noisy, exif=loaded.exif, icc=loaded.icc)
    except BaseException:  # no clean file without its noisy twin either (a disk with room for one of them)
        if made_clean and clean_written is not None and clean_written.exception() is None:
            with contextlib.suppress(OSError):
                (out_dir / entry["clean"]).unlink(missing_ok=True)
        raise
    finally:
        if clean_written is not None:
            try:
                clean_written.result()  # its error, if any, is this source's
            except BaseException:
                if entry["noisy"]:  # no noisy file without its clean twin
                    with contextlib.suppress(OSError):  # its own error (a folder in the way) is the clean file's
                        (out_dir / entry["noisy"]).unlink(missing_ok=True)
                raise
    return entry
