"""Benchmark: the model against classical denoisers on the same held-out noisy inputs, by the protocol.

``methods`` is the registry of what is compared (a new method is one entry there), ``inputs`` plans the run
and makes the noisy pixels and σ every method shares, ``run`` runs, times and scores each (image, noise,
method) row, and ``results`` writes results.json/.csv, the protocol and the summary. Every noise level of
one run shares the same underlying noise pattern (less variance between levels).
"""

from denoise_gan.evaluation.benchmark.inputs import BenchmarkConfig
from denoise_gan.evaluation.benchmark.results import BenchmarkResult
from denoise_gan.evaluation.benchmark.run import run_benchmark

__all__ = ["BenchmarkConfig", "BenchmarkResult", "run_benchmark"]
