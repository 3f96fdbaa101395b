"""`export`: a generator as ONNX, a self-describing model folder, or a safetensors file."""

from __future__ import annotations

from typing import Annotated

import typer

from denoise_gan.cli.say import console, say_warning


def export_command(
    checkpoint: Annotated[str, typer.Argument(help="Generator weights (.safetensors path or shipped model name), "
                                              "a run folder, or a run checkpoint (step_N.pt).",
                                              metavar="CHECKPOINT", show_default=False)],
    output: Annotated[str, typer.Option("-o", "--output", help="The .onnx or .safetensors file, or the folder "
                                        "(a name ending in /).", metavar="<path>", show_default=False)],
    fmt: Annotated[str | None, typer.Option("--format", "-f", help="onnx: float32 NxCxHxW in [0,1] in and out, "
                                            "any size (a level-aware model's graph also takes strength and "
                                            "sigma); folder: config.json + model.safetensors + model.onnx + "
                                            "README.md model card; safetensors: the weights `denoise "
                                            "--checkpoint` loads. "
                                            "Default: from -o's suffix (.onnx, .safetensors), or folder for a "
                                            "name ending in / or an existing folder.",
                                            show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
) -> None:
    """Export a generator for other runtimes and model hubs (needs torch: the \\[train] extra)."""
    from pathlib import Path

    from denoise_gan.nets.export_target import check_target, export_format, export_source

    # a bad -o, a missing model or an output in the way is refused before torch loads
    chosen = export_format(output, fmt.lower() if fmt else None)
    source = export_source(checkpoint)
    check_target(Path(output), chosen, overwrite, source)

    from denoise_gan.nets.export import export_model
    from denoise_gan.nets.run_state import unfinished_note
    from denoise_gan.nets.shipped import shadowed_note

    out = export_model(checkpoint, output, chosen, overwrite=overwrite)
    console.print(f"wrote {out} ({chosen})", markup=False, highlight=False, soft_wrap=True)
    for note in (shadowed_note(checkpoint), unfinished_note(source)):  # exported all the same: a local model
        if note:                                                       # or an early G may be the one wanted
            say_warning(note)
