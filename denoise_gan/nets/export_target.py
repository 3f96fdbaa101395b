"""Where an export goes: the format ``-o`` names, and the checks that keep an export from destroying anything.

Torch-free, so a bad ``-o`` is refused before the model loads. The written file must be one the product reads
back (``denoise``, ``Denoiser.from_pretrained``), which tell a file's format by its suffix: a file name without
one is refused, whatever ``--format`` says; without a suffix, only a model folder (``--format folder``) is written.
"""

from __future__ import annotations

from pathlib import Path

from data_tools import json_text
from data_tools.atomic_files import is_special_file
from data_tools.folder_lock import refuse_held
from data_tools.names import says_folder
from data_tools.paths import real_path
from data_tools.temp_files import is_temp_file, remove_stale_parts
from denoise_gan.errors import UserError, WeightsError
from denoise_gan.nets import shipped as shipped_models
from denoise_gan.nets.run_folder import folder_run_kind, graph_beside, run_own_files
from denoise_gan.nets.shipped import resolve_weights
from denoise_gan.nets.weight_header import CHECKPOINT_SUFFIXES

FORMATS = ("onnx", "folder", "safetensors")
FILE_SUFFIXES = {".onnx": "onnx", ".safetensors": "safetensors"}
FOLDER_FILES = ("config.json", "model.safetensors", "model.onnx", "README.md")  # what --format folder writes


def _refuse_special(out: Path) -> None:
    if is_special_file(out):
        raise UserError(f"{out} exists and is not a regular file or folder (a device, a pipe); choose another -o")


def export_format(out: Path | str, fmt: str | None) -> str:
    """The format asked for, or the one ``out`` names: its suffix (.onnx, .safetensors), or a model folder for a
    name ending in ``/`` or an existing folder. A file suffix of the other format is refused, so an ONNX graph
    is never saved under a weights file's name."""
    fmt = fmt.lower() if isinstance(fmt, str) else fmt  # --format ONNX is taken, so is fmt="ONNX"
    path, folder_named = Path(out), says_folder(out)
    _refuse_special(path)  # /dev/null was told to be named null.onnx
    implied = None if folder_named else FILE_SUFFIXES.get(path.suffix.lower())
    if folder_named and fmt not in (None, "folder"):
        raise UserError(f"-o {out} ends in / (a folder), but --format {fmt} writes one file; drop the / or the "
                        "--format")
    if fmt is None:
        if implied is not None and path.is_dir():  # `-o x.onnx` naming a folder: the suffix says one file
            raise UserError(f"-o {out} is a folder, and its {path.suffix} name says one {implied} file; choose a "
                            "file name, or end -o with / for a model folder")
        if implied is not None:
            return implied
        if folder_named or path.is_dir():
            return "folder"
        raise UserError(f"-o {out}: name the file {path.name}.onnx or {path.name}.safetensors (its suffix is how "
                        "denoise reads it back), or end -o with / for a model folder")
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt != "folder" and implied is None and not folder_named and not path.is_dir():  # unreadable back
        raise UserError(f"-o {out}: name the file {path.name}.{fmt} (its suffix is how denoise reads it back)")
    if implied is not None and implied != fmt:
        raise UserError(f"-o {out}: a {path.suffix} name for --format {fmt}; name it {path.with_suffix('').name}"
                        f"{'.onnx' if fmt == 'onnx' else '.safetensors' if fmt == 'safetensors' else ''} "
                        f"or drop --format")
    return fmt


def export_source(source: str | Path) -> Path:
    """The file an export reads: a run checkpoint as named, or the weights a file, folder or shipped name stands
    for. Its absence is one line before torch loads, and the file is what the output may never replace."""
    path = Path(source)
    if path.suffix in CHECKPOINT_SUFFIXES and not path.is_dir():
        if not path.is_file():
            raise WeightsError(f"{path}: not a regular file (a device or a pipe); give a checkpoint file" if
                               path.exists() else f"{path}: no such checkpoint file")
        return path
    return resolve_weights(source)


def _shipped_file(out: Path) -> bool:
    """Whether ``out`` is one of the shipped models' files (a new one there is a model added), or their folder."""
    shipped = real_path(shipped_models.shipped_dir())  # looked up when asked (a test's own folder)
    where = real_path(out)
    return where == shipped or (where.parent == shipped and where.is_file()
                                and where.suffix.lower() in (".safetensors", ".onnx"))


def check_target(out: Path, fmt: str, overwrite: bool, read: Path | None) -> None:
    """Refuse, before any work, an ``out`` that would destroy something: the weights being exported, a run
    folder's own files (but for the graph beside the weights exported, which is what the run keeps there), a
    device or a pipe (replaced by a regular file under --overwrite: /dev/null was), another folder's files, an existing
    output without --overwrite; and one that cannot be written (a file where its folder should be)."""
    source = real_path(read) if read is not None else None
    if source is not None and real_path(out) in (source, *((source.parent,) if fmt == "folder" else ())):
        raise UserError(f"-o {out} would overwrite the weights being exported ({read}); choose another -o")
    own_graph = source is not None and real_path(out) == real_path(graph_beside(source))  # what training writes
    if out.name in run_own_files() and not own_graph and (kind := folder_run_kind(out.parent)) is not None:
        raise UserError(f"-o {out} is a file of the {kind} run {out.parent}, which its training writes and "
                        "refine, --resume and adapt read back; choose another -o")
    if not own_graph and _shipped_file(out):  # `denoise`, `demo` and `adapt` read it, with no -c at all
        raise UserError(f"-o {out} is a shipped model's file, which denoise, demo and adapt read; choose another -o")
    _check_parent(out)
    if not out.exists():
        if out.is_symlink():  # writing would replace the link, whatever the flags say, as `denoise` refuses to
            raise UserError(f"{out} is a link to nothing, in the way of the export; move it or choose another -o")
        return
    _refuse_special(out)
    if fmt == "folder" and not out.is_dir():
        raise UserError(f"{out} is a file; --format folder writes a folder (choose another -o)")
    if fmt != "folder" and out.is_dir():
        raise UserError(f"{out} is a folder; --format {fmt} writes one file (choose a file name for -o)")
    entries = []
    if fmt == "folder":
        refuse_held(out, "export")  # first: not "pass --overwrite", which the running export's lock refuses
        remove_stale_parts(out)  # a killed export's temp folder inside it
        # a live export's temp folder is not an entry, nor is what a hub's clone keeps beside the model (.git,
        # .gitattributes) or a file manager's .DS_Store: hidden entries are left as they are
        entries = [p for p in out.iterdir() if not is_temp_file(p.name) and not p.name.startswith(".")]
        others = sorted(p.name for p in entries if p.name not in FOLDER_FILES or not p.is_file())
        if others:
            raise UserError(f"{out} holds other files ({', '.join(others[:3])}{', ...' if len(others) > 3 else ''}); "
                            "--format folder writes into a new or empty folder, or replaces an exported one")
        if entries and not _exported_folder(out):  # a user's README.md and config.json, say
            raise UserError(f"{out} is not a folder `denoise-gan export` made (its config.json does not say so); "
                            "--format folder writes into a new or empty folder, or replaces an exported one")
    if not overwrite and (out.is_file() or entries):
        raise UserError(f"{out} exists; choose another -o or pass --overwrite")


def _exported_folder(out: Path) -> bool:
    """Whether a folder's config.json is the one an export writes (``"library": "denoise-gan"``)."""
    try:
        config = json_text.loads((out / "config.json").read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(config, dict) and config.get("library") == "denoise-gan"


def _check_parent(out: Path) -> None:
    """The nearest existing folder above ``out`` must be one: a file in its place would fail the write."""
    for parent in out.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"-o {out}: {parent} is a file, not a folder")
            return
