"""Training-side code: datasets, evaluation (and, later, transforms, training and export entry points)."""
