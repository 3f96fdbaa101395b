"""The `denoise-gan` command: parse, call one library function, print. No logic lives here.

A new command is a function in the module of its group (or a new one) and one ``command(...)`` line
below; shared options come from ``options``, tables and progress bars from ``render``.
"""

from denoise_gan.cli import adapt, calibrate, data, denoise, evaluate, export, noise_fit, train
from denoise_gan.cli.app import app, command

# in --help's order: the everyday job first, then measuring, data, training, shipping
command("denoise", denoise.denoise_command)
command("demo", evaluate.demo_command)
command("evaluate", evaluate.evaluate_command)
command("benchmark", evaluate.benchmark_command)
command("synth", data.synth_command)
command("samples", data.samples_command)
command("noise-fit", noise_fit.noise_fit_command)
command("train", train.train_command)
command("refine", train.refine_command)
command("adapt", adapt.adapt_command)
command("calibrate", calibrate.calibrate_command)
command("export", export.export_command)

__all__ = ["app"]
