"""What a synth output folder holds besides the set being written: an earlier set to replace (known by its
manifest), the user's own files to keep and name, and images that are not the new set's to remove; and the sets
a folder of clean photos must not hold. Kept apart from the writing so every rule about a set's folder lives in
one place."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from data_tools import json_text
from data_tools.atomic_files import atomic_write_text
from data_tools.case_folding import name_on_disk
from data_tools.errors import DataError
from data_tools.folder_lock import held_by_another_process, reading_folder, refuse_held
from data_tools.images import collect_images
from data_tools.names import printable
from data_tools.paths import real_path
from data_tools.set_halves import MANIFEST_NAME, SET_FOLDERS, synth_sets_under
from data_tools.temp_files import is_temp_file

MANIFEST_FORMAT = "denoise-gan-synth/1"


class SynthError(DataError):
    """A run that cannot start (no inputs, output inside the input...); the message is one line."""


def not_the_sets(out_dir: Path) -> list[str]:
    """What else a folder holds besides a set's own files (predictions, notes): --overwrite replaces the set and
    keeps these, which may belong to the set it replaces."""
    own = {*SET_FOLDERS, MANIFEST_NAME}
    images = {p for sub in SET_FOLDERS for p in images_inside(out_dir, sub)}  # the set's, or removed and named
    inside = [p.relative_to(out_dir).as_posix() + "/" * p.is_dir() for sub in SET_FOLDERS if (out_dir / sub).is_dir()
              for p in sorted((out_dir / sub).iterdir()) if p not in images and not is_temp_file(p.name)]
    return sorted(p.name + "/" * p.is_dir() for p in out_dir.iterdir()
                  if p.name not in own and not is_temp_file(p.name)) + inside


def refuse_photos_of_no_set(out_dir: Path, manifest: dict[str, Any] | None) -> None:
    """--overwrite replaces an earlier set's images; a clean/ or noisy/ of images without a set's manifest (the
    folder's, as ``manifest_of`` reads it) holds the user's own photos, which it would delete (never those behind a
    link out of the folder)."""
    for sub in SET_FOLDERS if manifest is None else ():
        found = images_inside(out_dir, sub)
        if found:
            raise SynthError(f"{out_dir}: not a synth set (no {MANIFEST_NAME} of one), and its {sub}/ holds "
                             f"{len(found)} image(s) of yours ({printable(found[0].name)}, ...) that --overwrite "
                             "would delete; choose another -o")


def remove_empty_set(out_dir: Path) -> None:
    """The folders and request manifest of a run that wrote no image, from a folder that was new or empty."""
    (out_dir / MANIFEST_NAME).unlink(missing_ok=True)
    for folder in (*(out_dir / sub for sub in SET_FOLDERS), out_dir):
        try:
            folder.rmdir()
        except OSError:  # not there, or holds something this run did not write: left as it is
            pass


def refuse_linked_folders(out_dir: Path) -> None:
    """A link to a folder inside a set's clean/ or noisy/ would have the set's images (a repeat of the same set
    writes them without --overwrite) written through it, over the photos of the folder it points to."""
    for sub in SET_FOLDERS:
        for top, dirs, _ in os.walk(out_dir / sub):  # links are listed, not followed
            for link in (Path(top) / name for name in sorted(dirs)):
                if link.is_symlink():
                    raise SynthError(f"{link} is a link to {real_path(link)}; a set's {sub}/ must hold its own "
                                     "folders, or its images would be written through it: remove the link or "
                                     "choose another -o")


def manifest_of(manifest: Path) -> dict[str, Any] | None:
    """The folder's synth manifest, or None where there is none (or another program's file of that name)."""
    return _synth_manifest(_read_manifest(manifest)[0])


def set_manifest(set_dir: Path, error: type[Exception], label: str = "") -> dict[str, Any] | None:
    """``manifest_of`` the set's, read once; one that is there but cannot be read (cut short, not UTF-8 text, not
    JSON) is refused: such a set is not "no set", and its images are not the user's own photos."""
    data, why = _read_manifest(set_dir / MANIFEST_NAME)
    if why:
        raise error(f"{label}{set_dir / MANIFEST_NAME}: the set's manifest cannot be read ({why}); restore it, or "
                    "make the set again with synth into a new folder")
    return _synth_manifest(data)


def _read_manifest(manifest: Path) -> tuple[Any, str]:
    """A manifest file's JSON, and why a file that is there cannot be read ("" where it reads, or is not there)."""
    try:
        return json_text.loads(manifest.read_bytes().decode("utf-8")), ""
    except FileNotFoundError:
        return None, ""
    except IsADirectoryError:
        return None, "a folder, not a file"
    except UnicodeDecodeError:
        return None, "not UTF-8 text (re-saved by an editor in another encoding?)"
    except (OSError, ValueError) as exc:
        return None, (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]


def _synth_manifest(data: Any) -> dict[str, Any] | None:
    return data if isinstance(data, dict) and data.get("format") == MANIFEST_FORMAT else None


def knowable(settings: dict[str, Any]) -> bool:
    """Whether a set made with these settings (or a manifest's) can be known again by a rerun: not one from a
    source of the user's own that says nothing of itself (a custom class without ``__str__``)."""
    record = settings.get("noise_source")
    return not (isinstance(record, dict) and record.get("named") is False)


REPLACE_HINT = ("pass --overwrite to replace it (images in its clean/ and noisy/ that this set does not write are "
                "deleted)")


def set_hint(earlier: dict[str, Any] | None, settings: dict[str, Any]) -> str:
    """What a refusal of a folder holding a set says: that another learned model made it (the manifest records
    another sha256: a rerun of the command that made the set, with a model changed since, is another set), how an
    unfinished set is finished, and how a set is replaced."""
    old = (earlier or {}).get("noise_source")
    new = settings.get("noise_source")
    if isinstance(old, dict) and isinstance(new, dict) and old.get("sha256") != new.get("sha256"):
        said = str(old.get("sha256"))[:12]
        return (f"its set was made by another noise model (sha256 {said}…; this one's is "
                f"{str(new.get('sha256'))[:12]}…); " + REPLACE_HINT)
    return (finish_hint(earlier) if (earlier or {}).get("complete") is False else "") + REPLACE_HINT


def finish_hint(earlier: dict[str, Any]) -> str:
    """How an unfinished set in the folder is finished, where a rerun can know it as its own."""
    if knowable(earlier):
        return "run the command that made its unfinished set (its manifest.json records it) to finish it, or "
    return ("its unfinished set's noise source is a class of your own that says nothing of itself (no __str__), so "
            "no run can know it as its own; ")


def same_set(old: dict[str, Any] | None, settings: dict[str, Any]) -> bool:
    """Whether the folder's manifest (``manifest_of``'s, None without one) is of a set made with these very
    settings (so writing it again is a repeat). Sets made before the source was recorded resolved name it as
    typed (relative, or through a link), resolved here from the working folder. A source that does not name
    itself (a custom class without ``__str__``) is never known to be the same: its parameters are recorded
    nowhere."""
    if old is None or not knowable(settings):
        return False
    typed = old.get("source_dir")
    if isinstance(typed, str) and typed:
        old = {**old, "source_dir": str(real_path(typed))}
    # a learned model's text names its file (noise-model:F.safetensors sha256:...): its record's sha256 and config
    # say what draws the noise, whatever the file is called
    learned = isinstance(settings.get("noise_source"), dict) and settings["noise_source"].get("kind") == "learned"
    return all(_drawn_by(old.get(k)) == _drawn_by(v) for k, v in settings.items() if not (learned and k == "noise"))


def _drawn_by(value: Any) -> Any:
    """A setting as far as the set's images depend on it: a learned model's record without where its file lies
    (a moved or copied model of the same sha256 draws the same noise, and finishes or repeats its set)."""
    return {k: v for k, v in value.items() if k != "file"} if isinstance(value, dict) else value


def images_inside(out_dir: Path, sub: str) -> list[Path]:
    """Image files under the set's clean/ or noisy/ that lie inside ``out_dir``: a link out of it is never followed
    to delete anything."""
    inside = real_path(out_dir)
    return [p for p in collect_images(out_dir / sub, recursive=True) if real_path(p.parent).is_relative_to(inside)] \
        if (out_dir / sub).is_dir() else []


def set_files(out_dir: Path, manifest: dict[str, Any] | None) -> list[str]:
    """The image files a set's manifest names (its own, and while it was written, those it planned and those of
    the set it replaced), as paths under its folder: what replacing it may delete. Anything else there is the
    user's; but a request cut short by an earlier version named none, so all its images count."""
    if manifest is None:
        return []
    if manifest.get("complete") is False and "replacing" not in manifest:
        return sorted(p.relative_to(out_dir).as_posix() for sub in SET_FOLDERS for p in images_inside(out_dir, sub))
    entries = manifest.get("images") if isinstance(manifest.get("images"), list) else []
    named = [e.get(side) for e in entries if isinstance(e, dict) for side in SET_FOLDERS]
    earlier = manifest.get("replacing") if isinstance(manifest.get("replacing"), list) else []
    return sorted({p for p in [*named, *earlier] if isinstance(p, str) and _in_set_folder(p)})


def _in_set_folder(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return len(parts) >= 2 and parts[0] in SET_FOLDERS and ".." not in parts


def remove_stale(out_dir: Path, replacing: list[str], entries: list[dict[str, Any]], every_image: bool,
                 folds: bool) -> list[str]:
    """The image files under clean/ and noisy/ that the new set does not list: the earlier set's (``replacing``,
    from its manifest), and with ``every_image`` (--overwrite, whose refusal says so) any other image there;
    never a file behind a link out of the folder. A repeat of the same set keeps the user's files there.
    Returns the images removed that no manifest listed (a user's, maybe): the run names them. ``folds``: the disk
    tells names apart by case only, where removing clean/a.png removes a kept clean/A.png."""
    kept = {e[side] for e in entries for side in SET_FOLDERS if e.get(side)}
    listed = kept | set(replacing)  # sets: a list here made replacing a set of 20,000 images quadratic
    inside = real_path(out_dir)
    kept_on_disk = {name_on_disk(Path(name), folds) for name in kept}
    named = [out_dir / name for name in replacing if name_on_disk(Path(name), folds) not in kept_on_disk]
    others = {p for sub in SET_FOLDERS for p in images_inside(out_dir, sub)
              if p.relative_to(out_dir).as_posix() not in listed} if every_image else set()
    removed = []
    for path in (*named, *sorted(others)):
        if path.is_file() and real_path(path.parent).is_relative_to(inside):
            path.unlink(missing_ok=True)
            removed += [path.relative_to(out_dir).as_posix()] if path in others else []
    return sorted(removed)


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(manifest, indent=2) + "\n")


def restore_manifest(path: Path, earlier: dict[str, Any] | None) -> None:
    """Put back the manifest a run that wrote nothing replaced with its request (none where there was none)."""
    if earlier is None:
        path.unlink(missing_ok=True)
    else:
        write_manifest(path, earlier)


def refuse_incomplete_set(manifest: dict[str, Any], set_dir: Path | str, error: type[Exception],
                          label: str = "") -> None:
    """A set whose synth run was cut short holds a few of its pairs: scored, they would pass for the set."""
    if manifest.get("complete") is False:
        finish = "run the same synth command again to finish it" if knowable(manifest) else \
            "its noise source says nothing of itself, so no run can finish it: make it again with overwrite"
        raise error(f"{label}{set_dir}: an incomplete set (its synth run was cut short); {finish}")


def refuse_incomplete_half(folder: Path | str, error: type[Exception], label: str = "") -> None:
    """A set's clean/ or noisy/ given as a folder of pairs: after a cut-short run it holds a few pairs, and after a
    cut-short --overwrite a blend of the old noise and the new."""
    if (set_dir := set_of_half(folder)) is not None:
        refuse_held(set_dir, "set", other="")  # a synth writing it now keeps it marked incomplete: busy (exit 1),
        refuse_incomplete_set(set_manifest(set_dir, error, label) or {}, set_dir, error, label)  # not "cut short"


def set_of_half(folder: Path | str) -> Path | None:
    """The set folder whose clean/ or noisy/ ``folder`` really is (by name: its manifest may be gone), or None;
    None too for what is no path, which the reader's own checks refuse."""
    if not isinstance(folder, str | os.PathLike) or not str(folder):
        return None
    real = real_path(folder)
    return real.parent if real.name in SET_FOLDERS else None


@contextmanager
def reading_set_half(folder: Path | str) -> Iterator[None]:
    """While a set's clean/ or noisy/ half is read (``evaluate``, ``noise-fit``): its set held shared, as
    ``benchmark`` holds the sets it reads, so a ``synth --overwrite`` into it meanwhile is refused (and one
    writing it now refuses this). Any other folder is read as it is, and what is no path is left to the
    reader's own checks to refuse."""
    set_dir = set_of_half(folder)
    if set_dir is not None and (set_dir / MANIFEST_NAME).is_file():
        with reading_folder(set_dir):
            yield
    else:
        yield


def incomplete_half_note(folder: Path | str) -> str:
    """For a command that reads any photos (``denoise``): the refusal above as a note, "" where it does not apply;
    of a set a synth is writing now, that its images are not all there yet (not "run the synth again", which
    that run's lock would refuse)."""
    if (set_dir := set_of_half(folder)) is None:
        return ""
    if held_by_another_process(set_dir):  # asked once: not again by ``refuse_incomplete_half``'s own probe
        return (f"{set_dir}: a synth is writing this set now, so this folder (one of its halves) holds only "
                "the images made so far; once it ends, denoise it again with --overwrite")
    try:
        refuse_incomplete_set(set_manifest(set_dir, SynthError) or {}, set_dir, SynthError)
    except SynthError as exc:
        return f"{exc} (this folder is one of its halves)"
    return ""


def refuse_synth_sets_inside(folder: Path | str, error: type[Exception], role: str = "clean") -> None:
    """A folder of clean (or of noisy) photos must hold no synth set (the set's own folder given for one of its
    halves, or a set moved in by hand): its other half would be read as photos of this kind."""
    other = "noisy" if role == "clean" else "clean"
    refuse_other_half(folder, error, role)
    found = synth_sets_under(Path(folder))
    if found:
        hint = f"give its {found[0] / role} instead" if found[0] == Path(folder) else \
            "move it out, or give a folder without it"
        raise error(f"{found[0]}: a synth set inside {folder} (its {MANIFEST_NAME}); its {other} images would be "
                    f"read as {role} photos: {hint}")


def refuse_other_half(folder: Path | str, error: type[Exception], role: str = "clean") -> None:
    """A synth set's other half given for ``role``: its noisy/ as clean photos (scores against the noise, a
    noise measured backwards), or its clean/ as noisy ones."""
    other = "noisy" if role == "clean" else "clean"
    real = real_path(folder)
    if real.name == other and synth_sets_under(real.parent, deep=False):
        raise error(f"{folder}: the {other} images of the synth set {real.parent} (its {MANIFEST_NAME}), given as "
                    f"{role} photos: give {real.parent / role} instead")
