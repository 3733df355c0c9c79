"""The training engine: full fine-tuning (the paper protocol) and a linear probe.

``fine_tune`` and ``linear_probe`` take a built model, its spec, the train/validation
datasets and named evaluation sets, and return a :class:`TrainResult`.
"""

from bench.engine.config import TrainConfig, TrainResult
from bench.engine.loop import fine_tune
from bench.engine.probe import linear_probe

__all__ = ["TrainConfig", "TrainResult", "fine_tune", "linear_probe"]
