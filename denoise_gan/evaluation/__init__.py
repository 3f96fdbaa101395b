"""Evaluation: the metrics protocol, the benchmark against classical denoisers, its HTML report, and the demo."""
