"""What every training command leaves beside a run's weights: G's ONNX graph, so `denoise` runs it without
torch, and the words its metadata records about the data it learnt from."""

from __future__ import annotations

from pathlib import Path

from denoise_gan.config import TrainConfig
from denoise_gan.errors import UserError
from denoise_gan.nets.export import write_graph_beside
from denoise_gan.nets.run_folder import graph_beside
from denoise_gan.runtime import world_from_env
from denoise_gan.warning_line import say_for_the_run


def write_graph(weights: Path) -> Path:
    """G's ONNX graph beside its weights (``G.onnx``), so `denoise` runs it without torch; only the main
    process writes it, only where the exporter is installed and works (else a warning). Returns the weights' path."""
    if world_from_env().is_main and weights.is_file():
        try:
            write_graph_beside(weights)
        except UserError as exc:  # the weights are saved: a run is not failed for want of their optional graph
            say_for_the_run(None, f"no {graph_beside(weights).name} beside {weights}: {exc}; `denoise` runs the "
                            "weights on torch")
    return weights


def run_description(cfg: TrainConfig) -> dict[str, str]:
    """What a run's weights record about their data: the noise family and the training images (absolute)."""
    d = cfg.data
    if d.noisy_dir:
        return {"noise_family": f"the real noise of the photos in {d.noisy_dir}",
                "training_data": f"clean: {d.clean_dir}; noisy: {d.noisy_dir} (unpaired)"}
    return {"noise_family": d.noise,
            "training_data": f"{d.clean_dir}, split into two disjoint halves (clean domain; noisy domain "
                             "synthesised from the other half)"}
