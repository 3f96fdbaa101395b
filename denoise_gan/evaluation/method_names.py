"""The benchmark's method names, default set and ``--methods`` help, without importing a single method.

The registry in ``benchmark/methods.py`` imports torch, scikit-image and OpenCV to build its methods; the CLI
needs only their names to parse options and print ``--help``, which must answer at once. A test holds these
names equal to the registry's, entry by entry, so the two cannot drift apart.
"""

from __future__ import annotations

MODEL = "model"  # one row per --checkpoint
BASELINE = "noisy"  # the noisy input itself: scored, never timed, never marked best
REAL_PAIRS = "pairs:"  # the noise label of a folder of the user's own pairs (its path follows)
# the registry's classical methods in its order, and the ones run when --methods is not given
CLASSICAL_NAMES = (BASELINE, "bm3d", "nlm", "skimage-nlm", "wavelet", "ffdnet", "tv")
CLASSICAL_DEFAULTS = ("bm3d", "nlm", "wavelet", "tv")

METHOD_NAMES = (BASELINE, MODEL, *(name for name in CLASSICAL_NAMES if name != BASELINE))
DEFAULT_METHODS = ",".join([MODEL, *CLASSICAL_DEFAULTS])


def methods_help() -> str:
    """The --methods help: every selectable name, and that the noisy baseline is always reported."""
    return (f"Comma-separated: {', '.join(n for n in METHOD_NAMES if n != BASELINE)} ({BASELINE} is always "
            "included; bm3d and ffdnet need the \\[bench] extra).")
