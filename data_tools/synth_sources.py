"""The clean photos a synthetic set is made from, after every check that must fail before anything is written:
an output folder that is, holds or sits inside the input, links that would send the set's files into others'
photos, and an input that is itself a set or half of one."""

from __future__ import annotations

from pathlib import Path

from data_tools.folder_scan import no_images_text, not_a_folder
from data_tools.images import collect_images
from data_tools.output_folders import refuse_output_inside_inputs
from data_tools.paths import real_path
from data_tools.synth_folder import (
    SET_FOLDERS,
    SynthError,
    refuse_incomplete_half,
    refuse_linked_folders,
    refuse_synth_sets_inside,
)


def checked_sources(clean_dir: Path, out_dir: Path, unpaired: bool) -> list[Path]:
    """The clean images to use, after the checks that must fail before anything is written."""
    if not clean_dir.is_dir():
        raise SynthError(f"{clean_dir}: {not_a_folder(clean_dir)}")
    if real_path(out_dir) == real_path(clean_dir):
        raise SynthError(f"{out_dir}: the output folder must not be the input folder")
    if real_path(clean_dir).is_relative_to(real_path(out_dir)):
        raise SynthError(f"{out_dir}: the output folder must not contain the input folder {clean_dir}")
    refuse_output_inside_inputs(out_dir, {"the input folder": clean_dir}, why="its noisy images would be read as "
                                "clean photos by the next command given that folder")
    for sub in SET_FOLDERS:  # a link there would send the set's files (and its clean-up) into others' photos
        target = real_path(out_dir / sub)
        if target != real_path(out_dir) / sub:
            photos = real_path(clean_dir)
            into = f", into the input folder {clean_dir}" if target.is_relative_to(photos) or \
                photos.is_relative_to(target) else "" if target.is_relative_to(real_path(out_dir)) \
                else ", out of the output folder"
            raise SynthError(f"{out_dir / sub} is a link to {target}{into}; a set's {sub}/ must be its own "
                             "folder: choose another -o")
        if (out_dir / sub).exists() and not (out_dir / sub).is_dir():
            raise SynthError(f"{out_dir / sub} is a file, where the set's {sub} images go; choose another -o")
    refuse_linked_folders(out_dir)
    refuse_synth_sets_inside(clean_dir, SynthError)
    refuse_incomplete_half(clean_dir, SynthError)  # a cut-short set's clean/ holds a few of its photos
    sources = collect_images(clean_dir, recursive=True)
    if not sources:
        raise SynthError(no_images_text(clean_dir))
    if unpaired and len(sources) < 2:
        raise SynthError(f"{clean_dir}: an unpaired set needs at least 2 images, found {len(sources)}")
    return sources
