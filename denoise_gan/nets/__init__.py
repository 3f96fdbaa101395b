"""The networks (one registry of generators), the CycleGAN losses and self-describing weight files."""
