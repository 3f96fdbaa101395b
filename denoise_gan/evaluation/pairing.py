"""Which clean file goes with which prediction (or noisy input): files are paired by relative path without
extension, so a misnamed, missing or extra file is named rather than scored against the wrong image."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from pathlib import Path

import numpy as np

from data_tools.folder_scan import no_images_text, not_a_folder
from data_tools.images import IMAGE_EXTENSIONS, LoadedImage, collect_images, colour_channels, read_image
from data_tools.names import SUFFIX_RULE, makes_a_path, refuse_empty_paths
from data_tools.paths import real_path
from data_tools.synth_folder import refuse_other_half
from denoise_gan.errors import UserError


def suffix_stem(suffix: str) -> str:
    """A prediction suffix without the image extension it may name (``_dn.png`` pairs ``a_dn.tif`` too)."""
    extension = Path(suffix).suffix
    return suffix[: -len(extension)] if extension.lower() in IMAGE_EXTENSIONS else suffix


def by_stem(folder: Path, suffix: str = "", exclude: Path | None = None,
            unsuffixed: list[str] | None = None, taken: Callable[[str], bool] | None = None) -> dict[str, list[Path]]:
    """Relative path without extension (and without ``suffix``, as ``suffix_stem`` leaves it) -> the files of
    that name (a.png and a.jpg share one: ``keyed`` tells them apart). Files under ``exclude`` (the predictions'
    folder, inside the clean one) are not clean images; with ``taken``, only the names it takes are read (the
    clean images or the predictions where both sit in one folder). A name without the suffix goes to
    ``unsuffixed`` when given (the caller lists it), else it is an error."""
    if not folder.is_dir():
        raise UserError(f"{folder}: {not_a_folder(folder)}")
    stems: dict[str, list[Path]] = {}
    for path in collect_images(folder, recursive=True, exclude=exclude):
        stem = path.relative_to(folder).with_suffix("").as_posix()
        if taken is not None and not taken(stem):
            continue
        if suffix:
            if not stem.endswith(suffix) and unsuffixed is not None:
                unsuffixed.append(path.relative_to(folder).as_posix())
                continue
            if not stem.endswith(suffix):
                raise UserError(f"{path}: name does not end in the prediction suffix {suffix!r}")
            stem = stem[: -len(suffix)]
        stems.setdefault(stem, []).append(path)
    if not stems and unsuffixed and suffix.lower() in IMAGE_EXTENSIONS:  # ".png" (a dotfile's name to Path): the
        return by_stem(folder, "", exclude)  # suffix of a.png.png, else no suffix but the extension itself
    if not stems and unsuffixed:
        raise UserError(f"{folder}: no image name ends in the prediction suffix {suffix!r} (found "
                        f"{', '.join(unsuffixed[:3])}{', ...' if len(unsuffixed) > 3 else ''})")
    if not stems:
        raise UserError(no_images_text(folder))
    return stems


def keyed(first: dict[str, list[Path]], second: dict[str, list[Path]]
          ) -> tuple[dict[str, Path], dict[str, Path], set[str]]:
    """Both folders' files by name without extension, and the keys taken whole: a name two files share in either
    folder (a.png and a.jpg, as `denoise` writes them back) is taken with its extension in both, so a.png pairs
    with a.png and a.jpg with a.jpg. A whole name that is another file's name without extension, in either folder
    (a.png beside a.png.jpg), cannot tell the files apart: an error."""
    shared = {stem for stems in (first, second) for stem, paths in stems.items() if len(paths) > 1}
    whole = {stem + path.suffix for stems in (first, second) for stem, paths in stems.items() if stem in shared
             for path in paths}
    plain = {stem: paths[0] for stems in (first, second) for stem, paths in stems.items() if stem not in shared}
    if clash := sorted(whole & set(plain)):
        raise UserError(f"{plain[clash[0]]} goes by the name {clash[0]}, which is also another file's name with its "
                        "extension; cannot tell them apart: rename one of them")

    def by_key(stems: dict[str, list[Path]]) -> dict[str, Path]:
        return {stem + path.suffix if stem in shared else stem: path for stem, paths in stems.items() for path in paths}

    return by_key(first), by_key(second), whole


def named_like(key: str, suffix: str, whole: set[str]) -> str:
    """The file name a partner of ``key`` is looked for by, in messages: any extension (``a_dn.*``), or the
    key's own where the name is taken whole (``a_dn.png``)."""
    if key in whole:
        extension = Path(key).suffix
        return f"{key[: -len(extension)]}{suffix}{extension}"
    return f"{key}{suffix}.*"


def partial_pairs(clean_dir: Path | str, pred_dir: Path | str, pred_suffix: str = ""
                  ) -> tuple[list[tuple[str, Path, Path]], list[str], list[str]]:
    """(name, clean file, prediction) for every clean file that has a prediction, sorted by name, the names of
    those that have none, and the predictions (relative path) without a clean file. No pair at all, or names
    that differ by a suffix, is an error."""
    clean_dir, pred_dir = _folders(clean_dir, pred_dir)
    if not isinstance(pred_suffix, str):
        raise UserError(f"the prediction suffix must be text such as '_denoised', not {type(pred_suffix).__name__}")
    if makes_a_path(pred_suffix):  # as denoise --suffix refuses it
        raise UserError(f"the prediction suffix {pred_suffix!r}: {SUFFIX_RULE} (e.g. _denoised)")
    refuse_other_half(clean_dir, UserError)  # a set's noisy/ as the clean images: scores against the noise
    pred_suffix = suffix_stem(pred_suffix)  # `_dn.png` pairs `a_dn.tif` too, and messages name `a_dn.*`
    unsuffixed: list[str] = []  # predictions without the suffix: no clean image is named like them
    # `denoise X -o X --suffix _dn` writes the predictions beside the clean images: a prediction is a name that
    # is another's plus the suffix (so c_dn.png without a c.png is a clean image, and c_dn_dn.png its prediction)
    one_folder = real_path(clean_dir) == real_path(pred_dir)
    if one_folder and not pred_suffix and Path(clean_dir).is_dir():  # a mistyped --pred scored a perfect run
        raise UserError(f"--clean and --pred are the same folder ({clean_dir}): every image would be scored against "
                        "itself; give the predictions' folder (or --pred-suffix, for predictions written beside "
                        "the clean images)")
    beside = one_folder and bool(pred_suffix)
    predicted = _predictions_beside(clean_dir, pred_suffix) if beside else set()
    if beside and not predicted:
        raise UserError(f"{pred_dir}: no image there is another's name plus the prediction suffix {pred_suffix!r} "
                        f"(as `denoise -o` the same folder `--suffix {pred_suffix}` names them)")
    clean_stems = by_stem(clean_dir, exclude=None if beside else pred_dir,
                           taken=(lambda stem: stem not in predicted) if beside else None)
    clean_inside = not beside and real_path(clean_dir).is_relative_to(real_path(pred_dir))  # --pred X --clean X/clean
    clean, pred, whole = keyed(clean_stems, by_stem(pred_dir, pred_suffix, unsuffixed=unsuffixed,
                                                      exclude=clean_dir if clean_inside else None,
                                                      taken=(lambda stem: stem in predicted) if beside else None))
    pred = _unicode_twins_rekeyed(clean, pred)
    missing = sorted(stem for stem in clean if stem not in pred)
    stray = [stem for stem in pred if stem not in clean]
    if len(missing) == len(clean) or _mostly_suffixed(missing, stray, len(clean) - len(missing)):
        raise UserError(_no_prediction(clean, pred, missing, pred_dir, pred_suffix, whole))
    unpaired = sorted([*unsuffixed, *(pred[stem].relative_to(pred_dir).as_posix() for stem in stray)])
    return [(stem, clean[stem], pred[stem]) for stem in sorted(clean) if stem in pred], missing, unpaired


def _predictions_beside(folder: Path, suffix: str) -> set[str]:
    """The names (relative, without extension) in a folder that are another name there plus ``suffix``."""
    if not folder.is_dir():
        raise UserError(f"{folder}: {not_a_folder(folder)}")
    stems = {p.relative_to(folder).with_suffix("").as_posix() for p in collect_images(folder, recursive=True)}
    return {stem for stem in stems if stem.endswith(suffix) and stem[: -len(suffix)] in stems}


def paired_files(clean_dir: Path | str, other_dir: Path | str, role: str) -> list[tuple[str, Path, Path]]:
    """(name, clean file, partner file: its ``role`` in messages) sorted by name; a file without a partner is an
    error naming it. A synth set's halves given the wrong way round are refused."""
    clean_dir, other_dir = _folders(clean_dir, other_dir)
    refuse_other_half(clean_dir, UserError)
    refuse_other_half(other_dir, UserError, "noisy")
    clean, other, whole = keyed(by_stem(clean_dir, exclude=other_dir), by_stem(other_dir))
    other = _unicode_twins_rekeyed(clean, other)
    missing = [stem for stem in clean if stem not in other]
    if missing:
        raise UserError(f"{clean[missing[0]]}: no {role} named {named_like(missing[0], '', whole)} in {other_dir}")
    for stem, path in other.items():  # a partner file without a clean image: an error naming it, not a silent skip
        if stem not in clean:
            raise UserError(f"{path}: no clean image named {named_like(stem, '', whole)} in {clean_dir}")
    return [(stem, clean[stem], other[stem]) for stem in sorted(clean)]


def _unicode_twins_rekeyed(clean: dict[str, Path], other: dict[str, Path]) -> dict[str, Path]:
    """``other`` with a name that matches a clean one only in its Unicode form keyed by the clean name: "café"
    written on a Mac (é as e and an accent, NFD) and on Linux (one é, NFC) look the same, and `--pred-suffix`
    cannot pair them. A name with no partner of its own, and one twin only, is taken; any other stays apart."""
    lone: dict[str, str | None] = {}  # a clean name without a partner, by its NFC form (None: two share it)
    for name in clean:
        if name not in other:
            form = unicodedata.normalize("NFC", name)
            lone[form] = None if form in lone else name
    twins: dict[str, list[str]] = {}
    for name in other:
        if name not in clean and (partner := lone.get(unicodedata.normalize("NFC", name))):
            twins.setdefault(partner, []).append(name)
    taken = {found[0]: name for name, found in twins.items() if len(found) == 1}
    return {taken.get(name, name): path for name, path in other.items()}


def _folders(*given: Path | str) -> list[Path]:
    refuse_empty_paths(*given, error=UserError)
    return [Path(folder) for folder in given]


def _no_prediction(clean: dict[str, Path], pred: dict[str, Path], missing: list[str], pred_dir: Path,
                   suffix: str, whole: set[str]) -> str:
    """What was looked for and not found, with the --pred-suffix that would pair the files when one would."""
    looked = ", ".join(named_like(stem, suffix, whole) for stem in missing[:3]) + (", ..." if len(missing) > 3
                                                                                    else "")
    if len(missing) < len(clean):
        text = f"{clean[missing[0]]}: no prediction named {named_like(missing[0], suffix, whole)} in {pred_dir}"
    else:
        found = ", ".join(p.relative_to(pred_dir).as_posix() for p in list(pred.values())[:3]) \
            + (", ..." if len(pred) > 3 else "")
        text = f"no prediction in {pred_dir} matches a clean image: looked for {looked} (found {found})"
    guess = _common_suffix(missing, [s for s in pred if s not in clean])
    if guess:
        return f"{text}; the predictions' names seem to carry a suffix: add --pred-suffix {guess}{suffix}"
    if len(missing) < len(clean):
        return text
    return text + "; if the predictions' names carry a suffix (a_denoised.png for a.png), give it with --pred-suffix"


def _mostly_suffixed(missing: list[str], stray: list[str], paired: int) -> bool:
    """Whether the predictions' names carry a suffix: as many of them are a missing name plus one suffix as pair
    by their plain names (a stray coffee_x.png beside plainly named ones is listed, not taken for the rule)."""
    guess = _common_suffix(missing, stray) if missing else ""
    strays = set(stray)
    return bool(guess) and sum(stem + guess in strays for stem in missing) >= paired


def _common_suffix(missing: list[str], unmatched: list[str]) -> str:
    """The suffix that turns missing clean names into the unmatched predictions' names, when every unmatched
    prediction that starts with a missing name agrees on one (each read against the longest name it starts
    with); a few predictions of a larger set are enough to name it. One prediction alone names a suffix only
    when it starts with a separator (``_dn``): ``extra`` beside a missing ``e`` is an extra file, not ``e`` with
    a suffix ``xtra``."""
    endings, explained, names = set(), 0, set(missing)
    for name in unmatched:  # its prefixes looked up, not every missing name tried (20,000 each took half a minute)
        longest = next((end for end in range(len(name) - 1, 0, -1) if name[:end] in names), 0)
        if longest:
            endings.add(name[longest:])
            explained += 1
    if len(endings) != 1:
        return ""
    ending = next(iter(endings))
    return ending if explained > 1 or not ending[0].isalnum() else ""


def read_pair(clean_path: Path, other_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Both images' pixels, checked to match in dtype and shape (alpha aside)."""
    clean, other = read_checked_pair(clean_path, other_path)
    return clean.pixels, other.pixels


def read_checked_pair(clean_path: Path, other_path: Path) -> tuple[LoadedImage, LoadedImage]:
    """Both images, checked to match in dtype and shape (alpha aside); their cautions (damaged data, 12-bit
    values in a 16-bit file) are for a scorer to say, since they make a score mean less than it seems."""
    clean, other = read_image(clean_path), read_image(other_path)
    a, b = clean.pixels, other.pixels
    if a.dtype != b.dtype:  # a float file is read as 16-bit: its note says so, and the message names the file's type
        raise UserError(f"{other_path}: {_depth(other)} does not match the clean image's {_depth(clean)} "
                        f"({clean_path})")
    if colour_channels(a).shape != colour_channels(b).shape:
        gray_as_colour = colour_channels(a).shape[2:] == (1,) and other_path.suffix.lower() == ".webp"
        raise UserError(f"{other_path}: shape {b.shape} does not match the clean image's {a.shape} ({clean_path})"
                        + ("; .webp holds no gray, so a gray photo comes back colour: write .png to score it"
                           if gray_as_colour else ""))
    return clean, other


def _depth(image: LoadedImage) -> str:
    """An image's sample type as its file holds it (a float file is read as 16-bit)."""
    read_as = [part.strip() for part in image.note.split(";") if "read as 16-bit" in part]  # a float file's
    return f"dtype {image.pixels.dtype}" + (f" ({read_as[0]})" if read_as else "")
