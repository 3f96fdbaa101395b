"""Training: the CycleGAN step, pseudo-pair refinement, and the run loop that makes both safe to kill and resume."""
