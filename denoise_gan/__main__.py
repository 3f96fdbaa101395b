"""`python -m denoise_gan ...` (and `torchrun -m denoise_gan ...`) run the CLI."""

from denoise_gan.cli import app

app(prog_name="denoise-gan")
