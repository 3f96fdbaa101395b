"""Ship a CycleGAN run's noise model and discriminators beside a model's G, so `adapt` can fine-tune them.

    python -m denoise_gan.nets.ship RUN_DIR [--name default] [--dest checkpoints]

Writes ``<name>-F.safetensors`` (the run's F), ``<name>-D_noisy.safetensors`` and ``<name>-D_clean.safetensors``
(the discriminators of the run's newest checkpoint) into DEST. Every file is safetensors with its config and
the descriptive fields of the model card (licence, noise family, training data) in its metadata, taken from
``<name>.safetensors`` in DEST when it is there. The run folder is only read.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from denoise_gan.config import TrainConfig
from denoise_gan.errors import UserError, WeightsError
from denoise_gan.nets.discriminators import build_discriminator
from denoise_gan.nets.run_folder import RunFolder
from denoise_gan.nets.shipped import shipped_dir
from denoise_gan.nets.weights import (
    list_checkpoints,
    load_checkpoint,
    load_generator,
    load_state,
    read_generator_config,
    save_discriminator,
    save_generator,
)

CARD_FIELDS = ("license", "noise_family", "training_data")


def ship_parts(run_dir: Path | str, dest: Path | str, name: str = "default") -> list[Path]:
    """Write the run's F and both discriminators as ``dest/<name>-<part>.safetensors``; returns the paths."""
    run, dest = RunFolder(run_dir), Path(dest)
    try:
        cfg = run.read_config(TrainConfig, what="train", missing="not a `denoise-gan train` run (no config.json)")
    except UserError as exc:
        raise WeightsError(str(exc)) from None
    found = list_checkpoints(run.checkpoints)
    if not found:
        raise WeightsError(f"{run_dir}: no checkpoints/step_*.pt to take the discriminators from")
    step, path = found[-1]
    state = load_checkpoint(path)
    card: dict[str, Any] = {}
    g_file = dest / f"{name}.safetensors"
    if g_file.is_file():
        meta = read_generator_config(g_file)[1]  # the card's fields only: the header is enough
        card = {k: meta[k] for k in CARD_FIELDS if k in meta}
    if "noise_family" not in card and cfg.data.noise:
        card["noise_family"] = cfg.data.noise
    common = {**card, "source_run": str(run_dir), "companion_of": f"{name}.safetensors"}
    f, f_cfg, f_meta = load_generator(run.f)
    written = [dest / f"{name}-F.safetensors"]
    save_generator(written[0], f, f_cfg, {**f_meta, **common, "role": "F clean->noisy"})
    for part in ("D_noisy", "D_clean"):
        net = build_discriminator(cfg.model.d)
        try:
            load_state(net, state["nets"][part], f"{path} ({part})")
        except (KeyError, TypeError):
            raise WeightsError(f"{path}: not a CycleGAN checkpoint (no {part})") from None
        target = dest / f"{name}-{part}.safetensors"
        save_discriminator(target, net, cfg.model.d, {**common, "role": f"{part} (PatchGAN)", "step": step,
                                                      "trained_by": "denoise-gan train (CycleGAN)"})
        written.append(target)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--name", default="default")
    parser.add_argument("--dest", type=Path, default=shipped_dir(), help="default: the shipped models' folder")
    args = parser.parse_args()
    for path in ship_parts(args.run_dir, args.dest, args.name):
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
