"""Weights: where a model's initial weights come from, safe checkpoint files, what a cell
starts from, and the pretraining corpora checked against evaluation sets."""
