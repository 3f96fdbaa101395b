"""Which seeds noise-fit's generated rows are drawn from. As synth draws (``image_seed(seed, name)``), so a
row is the noise a spec would give that set; but on a set synth made with that very seed the rows would repeat
its draws (a spec of its noise measured KL 0, a Gaussian fit the set's own normals scaled), so there they take
seeds of their own. Such a set is known by its manifest, or, copied away from it (or merged with pairs of other
seeds), by a row whose draw on an image follows that image's real noise sample for sample: that draw is made
again from a seed of its own."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from data_tools.noise import image_seed
from data_tools.paths import real_path

REPLAY_CORRELATION = 0.5  # independent draws correlate at ~0 with the real residual; a replay at ~1


def made_with_seed(noisy_dir: Path | str, seed: int) -> bool:
    """Whether synth made the set with this very seed (its manifest says so): then the rows, drawn as synth draws
    (``image_seed(seed, name)``), would repeat its draws: a spec of its noise gave KL 0, and a Gaussian fit the
    set's standard normals scaled (KL 0.0006 on unclipped images against 0.0040 at another seed)."""
    from data_tools.synth_folder import manifest_of

    made = manifest_of(real_path(noisy_dir).parent / "manifest.json")  # `.` and a link to it too
    return made is not None and made.get("seed") == seed


def fit_seed(seed: int, name: str) -> int:
    """An image's seed for the rows on a set made with the same seed: never the one synth drew its noise with
    (a NUL is in no file name)."""
    return image_seed(seed, f"\0noise-fit:{name}")


def follows(real: np.ndarray, drawn: np.ndarray) -> bool:
    """Whether a drawn residual replays the real one (0-255 residuals of one image): independent draws correlate
    at ~0, a replay at ~1."""
    real, drawn = real.ravel(), drawn.ravel()
    return bool(real.std() > 0 and drawn.std() > 0 and np.corrcoef(real, drawn)[0, 1] > REPLAY_CORRELATION)
