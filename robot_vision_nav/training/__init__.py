"""Training-side code: datasets and transforms, the training loop, checkpoints and their export, evaluation."""
