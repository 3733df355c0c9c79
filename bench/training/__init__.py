"""The training engine: full fine-tuning (:func:`bench.training.loop.fine_tune`, the paper
protocol), the linear probe (:func:`bench.training.probe.linear_probe`) and the pretraining
loop (:mod:`bench.training.pretraining`), all on the step loop of
:mod:`bench.training.steps`.

The package exports only its light configuration objects (:class:`TrainConfig`,
:class:`TrainResult`); the torch-backed entry points are imported from their modules.
"""

from __future__ import annotations

from bench.training.config import TrainConfig, TrainResult

__all__ = ["TrainConfig", "TrainResult"]
