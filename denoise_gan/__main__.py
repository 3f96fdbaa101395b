"""`python -m denoise_gan ...` (and `torchrun -m denoise_gan ...`) run the CLI."""

from denoise_gan.launch import main

main()
