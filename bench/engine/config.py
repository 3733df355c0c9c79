"""Training hyperparameters (the paper protocol by default) and what a training run returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from bench.provenance import stable_hash

SELECTIONS = ("validation", "test", "last")
OPTIMIZERS = ("adam", "adamw")


@dataclass(frozen=True)
class TrainConfig:
    """Fine-tuning hyperparameters; defaults are the HeartBEiT paper protocol.

    2-logit head, cross-entropy, Adam (AdamW for HeartBEiT through ``ModelSpec.optimizer``
    when ``optimizer`` is None), OneCycle from ``lr_start`` up to ``lr_max``, 30 epochs,
    batch 32, no augmentation. ``max_steps`` caps the total optimiser steps (a CPU budget:
    the schedule shrinks to fit). ``evaluations`` spreads that many validation points
    evenly over training (None: after every epoch). ``selection`` picks the reported
    weights: ``"validation"`` (best validation AUROC), ``"test"`` (best AUROC on the
    ``internal`` test set: the paper's optimistic choice, flagged in results) or ``"last"``.
    ``num_workers`` None means 0 on CPU and a few worker processes on CUDA.
    ``pos_weight`` (multi-label tasks only) weighs each label's positives in the BCE loss by
    its negatives/positives ratio in the training split.
    """

    epochs: int = 30
    batch_size: int = 32
    lr_start: float = 3e-4
    lr_max: float = 1e-3
    optimizer: str | None = None
    weight_decay: float = 0.0
    max_steps: int | None = None
    evaluations: int | None = None
    selection: str = "validation"
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    compile: bool = False
    num_workers: int | None = None
    pos_weight: bool = False

    def __post_init__(self) -> None:
        if self.selection not in SELECTIONS:
            raise ValueError(f"TrainConfig.selection {self.selection!r}: expected {SELECTIONS}")
        if self.optimizer is not None and self.optimizer not in OPTIMIZERS:
            raise ValueError(f"TrainConfig.optimizer {self.optimizer!r}: expected {OPTIMIZERS}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1")
        for name in ("max_steps", "evaluations"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1 or None")
        if not 0 < self.lr_start <= self.lr_max:
            raise ValueError("TrainConfig: expected 0 < lr_start <= lr_max")
        if not isinstance(self.pos_weight, bool):
            raise ValueError(
                f"TrainConfig.pos_weight must be true or false, got {self.pos_weight!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """All hyperparameters, for result records (``pos_weight`` only when set, so the
        identities of cells trained before it existed are unchanged)."""
        out = asdict(self)
        if not self.pos_weight:
            del out["pos_weight"]
        return out

    def hash(self) -> str:
        """A short stable hash of :meth:`to_dict`."""
        return stable_hash(self.to_dict())


@dataclass
class TrainResult:
    """Scores at the selected evaluation point and how training went.

    ``scores`` maps each evaluation set (``"validation"`` and the names passed in
    ``evals``) to P(positive), aligned with that dataset's rows (multi-label: an ``(n, K)``
    matrix of per-label probabilities). ``selected_epoch`` is the
    1-based epoch in which the selected evaluation happened (0 for a linear probe),
    ``selected_step`` its optimiser step; ``history`` has one dict per evaluation point.
    """

    scores: dict[str, np.ndarray]
    selected_epoch: int
    history: list[dict[str, Any]]
    timings: dict[str, float]
    device: str
    selection: str
    selected_step: int = 0
    details: dict[str, Any] = field(default_factory=dict)
