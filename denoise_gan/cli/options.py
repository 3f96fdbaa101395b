"""Option aliases shared by several commands, so one option reads the same everywhere.

Each alias is an ``Annotated`` type: a command declares ``device: Device = "auto"`` and gets the flag, its
help and its parsing. Defaults stay with the command (``train`` and ``refine`` differ in some). Importing this
module also makes every command's ``--help`` read as click's conventions have it (``readable_help``), and
every command refuse an empty path (``refuse_empty_paths``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

# ---- where and how it runs (train, refine, denoise, benchmark, demo) ------------------------------
Device = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]


def lowered(value: str | None) -> str | None:
    """A word option read in any case, as --device and --engine are: --precision FP32 is fp32."""
    return value.strip().lower() if isinstance(value, str) else value


Precision = Annotated[str, typer.Option("--precision", help="auto (bf16 on CUDA, fp16 on a GPU without "
                                                            "native bf16, fp32 on CPU), fp32, or fp16 or bf16 on CUDA.",
                                        callback=lowered)]
MAX_SEED = 2**32 - 1  # config.MAX_SEED, written out: the option modules import only light ones (a test holds both)


def seed_option(help: str = "Run seed: the same seed gives the same result.") -> Any:
    """--seed with one range in every command (what every random generator a run seeds accepts)."""
    return typer.Option("--seed", min=0, max=MAX_SEED, help=help)


Seed = Annotated[int, seed_option()]
Threads = Annotated[int, typer.Option("--threads", min=0, help="CPU threads inside each operator (torch or ONNX "
                                      "Runtime); 0 = the runtime's default (one per core). On a busy machine 1 "
                                      "can be faster.")]

# ---- tiled inference (denoise, benchmark) ---------------------------------------------------------
Tile = Annotated[str, typer.Option("--tile", help="Tile size in pixels, 0 for the whole image, or auto.")]
Overlap = Annotated[int, typer.Option("--overlap", help="Pixels shared by neighbouring tiles.")]
TileBatch = Annotated[int, typer.Option("--batch-size", help="Tiles per forward pass.")]
Strength = Annotated[float, typer.Option("--strength", help="Scale the noise level the model is given (its estimate, "
                                         "or --sigma when given: --strength 0.5 --sigma 25 is --sigma 12.5): below 1 "
                                         "keeps more detail, above 1 smooths more (0 to 10; level-aware models; the "
                                         "level is capped at the model's highest, σ 100 for the default).")]
Ensemble = Annotated[bool, typer.Option("--ensemble", help="Average the eight flips and quarter turns of each "
                                        "image: a little cleaner, eight times the work.")]
LevelPerTile = Annotated[bool, typer.Option("--level-per-tile", help="Level-aware models: read the blind noise "
                                            "level per tile, not once per photo (for a photo whose noise differs "
                                            "between regions of the same brightness, such as a composite; with a "
                                            "smaller --tile).")]
Engine = Annotated[str, typer.Option("--engine", help="auto (ONNX Runtime on the CPU when the model has its graph, "
                                    "torch on CUDA or otherwise), onnxruntime or torch.")]
Sigma = Annotated[float | None, typer.Option("--sigma", help="Assume this noise σ (0-255 scale) everywhere "
                                             "instead of estimating it (level-aware models; above the model's "
                                             "cap, σ 100 for the default, higher for one trained higher, it runs "
                                             "as the cap).",
                                             show_default=False)]

# ---- training runs (train, refine, adapt): generated from their config fields (cli/config_options.py) ------
TensorBoard = Annotated[bool, typer.Option("--tensorboard", help="Also log to tensorboard/ in the output folder, for "
                                           "TensorBoard (needs the tensorboard extra).")]


def parse_tile(text: str | int | None) -> int | None:
    """``--tile``: auto (None), 0 (whole image) or a size, by the engine's own rule, worded for the flag."""
    from denoise_gan.inference.infer_config import tile_size  # not needed for --help

    return tile_size(text, "--tile")


# ---- how --help shows parameters (every command) ----------------------------------------------------

_LIST_TYPE = re.compile(r"<list\[(.+)\]>")


def _value_type(shown: str | None) -> str | None:
    """``<list[Path]>`` -> ``<path>``: a repeatable option or a variadic argument takes one value at a time."""
    match = _LIST_TYPE.fullmatch(shown or "")
    return f"<{match.group(1).lower()}>" if match else shown


def _option_type(original: Callable[..., str | None]) -> Callable[..., str | None]:
    def display_type_rich(self: Any, ctx: Any) -> str | None:
        if (self.is_flag or self.count) and self.metavar is None:
            return None  # a flag takes no value: nothing to show after it
        return _value_type(original(self, ctx)) if self.multiple else original(self, ctx)

    return display_type_rich


def _argument_type(original: Callable[..., str | None]) -> Callable[..., str | None]:
    def display_type_rich(self: Any, ctx: Any) -> str | None:
        shown = original(self, ctx)
        return _value_type(shown) if self.nargs != 1 else shown

    return display_type_rich


def _argument_name(self: Any) -> str:
    return self.metavar if self.metavar is not None else self.name.upper()


def _argument_usage(self: Any) -> str:
    """``INPUTS...`` when required, ``[INPUTS]...`` when not, as click writes a usage line."""
    name = _argument_name(self)
    return (name if self.required else f"[{name}]") + ("..." if self.nargs != 1 else "")


def readable_help() -> None:
    """Make ``--help`` read as click's conventions have it, once for every command.

    typer 0.2x prints each parameter's Python type in angle brackets, also on flags, which take no value
    (``--recursive -r <bool>``, ``--help <bool>``), and writes a required argument as ``{inputs}...`` in the
    usage line. Here flags show no type, a repeatable option or a variadic argument the type of one value,
    and an argument its upper-case metavar (``INPUTS...``, ``CLEAN_DIR``; also in "Missing argument"). A
    typer without these hooks (before 0.2x, which used click's metavars) is left as it is.
    """
    from typer import core

    option, argument = getattr(core, "TyperOption", None), getattr(core, "TyperArgument", None)
    hooks = ("display_type_rich", "display_name_raw", "_usage_display_name")
    if option is None or argument is None or not all(hasattr(argument, h) for h in hooks):
        return
    if getattr(option, "_denoise_gan_help", False):
        return  # already applied
    option.display_type_rich = _option_type(option.display_type_rich)
    argument.display_type_rich = _argument_type(argument.display_type_rich)
    argument.display_name_raw = property(_argument_name)
    argument._usage_display_name = _argument_usage
    option._denoise_gan_help = True


readable_help()


# ---- values every command refuses ---------------------------------------------------------------------

# options typed as text that name a folder or a run (a config field: its "" means "not given", never a value)
PATH_OPTIONS = frozenset({"clean", "noisy", "val", "init", "start"})
MODEL_OPTIONS = frozenset({"init", "start"})  # these name a model too: a shipped one by its name


def _names_a_path(param: Any) -> bool:
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    return annotation in (Path, list[Path]) or param.metavar == "<path>" or param.name in PATH_OPTIONS


def _refusing_empty_paths(original: Callable[..., Any]) -> Callable[..., Any]:
    def process_value(self: Any, ctx: Any, value: Any) -> Any:
        given = value if isinstance(value, (list, tuple)) else [value]
        if _names_a_path(self) and any(v == "" for v in given):
            what = "a weight file, a run folder or a shipped model's name" if self.name in MODEL_OPTIONS else \
                "'.' for the current folder"
            raise typer.BadParameter(f"an empty path (an unset variable?); give {what}", ctx=ctx, param=self)
        if "-o" in getattr(self, "opts", ()) and any(str(v) == "-" for v in given if v is not None):
            # the shell's "standard output": taken as a path, it made a folder named "-" and wrote into it
            raise typer.BadParameter("- (standard output): every command writes files; give a file or folder path",
                                     ctx=ctx, param=self)
        return original(self, ctx, value)

    return process_value


def refuse_empty_paths() -> None:
    """An empty path given on the command line ("$DIR" with DIR unset) is refused: as a Path it is the current
    folder, so `benchmark --clean ""` scored whatever photos were there and `denoise a.png -o ""` wrote into it.
    So is ``-o -``, which no command writes to standard output.
    Applied once to every command's parameters (typer 0.2x's own classes; an older typer is left as it is)."""
    from typer import core

    for cls in (getattr(core, "TyperOption", None), getattr(core, "TyperArgument", None)):
        if cls is None or not hasattr(cls, "process_value") or getattr(cls, "_denoise_gan_paths", False):
            continue
        cls.process_value = _refusing_empty_paths(cls.process_value)
        cls._denoise_gan_paths = True


refuse_empty_paths()
