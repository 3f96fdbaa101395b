"""Image files, noise models, training datasets and the bundled photos."""
