"""A run checkpoint copied out of its run folder (kept, mailed, the run deleted): a `train` one holds its own
config and exports alone; a `refine` one holds only the refinement's, and says which file it needs."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from denoise_gan.nets.export import export_model
from denoise_gan.nets.run_folder import list_checkpoints
from denoise_gan.nets.weights import read_generator_file
from helpers import cli, one_line_error


def test_a_train_checkpoint_without_its_run_folder_exports_from_its_own_config(finished_run: Path,
                                                                                tmp_path: Path) -> None:
    ckpt = list_checkpoints(finished_run / "checkpoints")[-1][1]
    lone = tmp_path / "kept" / "checkpoints" / ckpt.name  # no G.safetensors beside its folder
    lone.parent.mkdir(parents=True)
    shutil.copy(ckpt, lone)
    tensors, cfg, _ = read_generator_file(export_model(lone, tmp_path / "lone.safetensors"))
    run_tensors, run_cfg, _ = read_generator_file(finished_run / "G.safetensors")
    assert cfg == run_cfg
    for key, value in tensors.items():
        torch.testing.assert_close(value, run_tensors[key])


def test_a_refine_checkpoint_without_its_run_folder_names_the_file_it_needs(finished_run: Path,
                                                                             tmp_path: Path) -> None:
    g = torch.load(list_checkpoints(finished_run / "checkpoints")[-1][1], weights_only=True)["nets"]["G"]
    lone = tmp_path / "kept" / "checkpoints" / "step_0000002.pt"
    lone.parent.mkdir(parents=True)
    torch.save({"kind": "refine", "g": g}, lone)
    one_line_error(cli("export", lone, "-o", tmp_path / "G.safetensors"),
                   "a refine checkpoint needs its run folder's G.safetensors for G's config",
                   f"looked for {tmp_path / 'kept' / 'G.safetensors'}")
    assert not (tmp_path / "G.safetensors").exists()
