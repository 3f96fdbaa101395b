"""Which seeds noise-fit's generated rows are drawn from. As synth draws (``image_seed(seed, name)``), so a
row is the noise a spec would give that set; but on a set synth made with that very seed the rows would repeat
its draws (a spec of its noise measured KL 0, a Gaussian fit the set's own normals scaled), so there they take
seeds of their own. Such a set is known by its manifest, or, copied away from it, by a row whose draw on the
first image follows the real noise sample for sample."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from data_tools.images import to_255
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


def replays_draws(name: str, clean: np.ndarray, noisy: np.ndarray, rows: Sequence[Any], seed: int) -> bool:
    """Whether a row drawn as synth draws follows the set's own noise on this (its first) image, as it does on a
    set copied away from its manifest that synth made with this seed: the residuals correlate far above
    chance."""
    clean255 = to_255(clean)
    real = (to_255(noisy) - clean255).ravel()
    if real.std() == 0:  # no noise to follow
        return False
    for row in rows:
        try:
            drawn = (to_255(row.source.apply(clean, image_seed(seed, name))[0]) - clean255).ravel()
        except ValueError:  # a stage's own limit: the main loop says it
            return False
        if drawn.std() > 0 and np.corrcoef(real, drawn)[0, 1] > REPLAY_CORRELATION:
            return True
    return False
