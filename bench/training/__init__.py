"""The training engine: full fine-tuning (the paper protocol) and a linear probe.

``fine_tune`` and ``linear_probe`` take a built model, its spec, the train/validation
datasets and named evaluation sets, and return a :class:`TrainResult`. They load torch,
so they are imported on first access (PEP 562): the configuration objects of this package
(:class:`TrainConfig`, :mod:`bench.training.recipe`) stay light for ``bench.api``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bench.training.config import TrainConfig, TrainResult

if TYPE_CHECKING:
    from bench.training.loop import fine_tune
    from bench.training.probe import linear_probe

_LAZY = {"fine_tune": "bench.training.loop", "linear_probe": "bench.training.probe"}

__all__ = ["TrainConfig", "TrainResult", "fine_tune", "linear_probe"]


def __getattr__(name: str) -> Any:
    """Import the torch-backed entry points on first access."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
