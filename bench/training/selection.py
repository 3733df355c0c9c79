"""Which evaluation point's weights are reported: the epoch-selection policies."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from bench.training.config import Selection

INTERNAL = "internal"
VALIDATION = "validation"


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve, NaN when only one class is present.

    Multi-label ``(n, K)`` labels and scores give the macro AUROC: the mean over the
    labels that have both classes (NaN when none has).
    """
    if np.ndim(labels) == 2:
        values = [auroc(labels[:, k], scores[:, k]) for k in range(labels.shape[1])]
        finite = [v for v in values if not math.isnan(v)]
        return float(np.mean(finite)) if finite else math.nan
    if len(np.unique(labels)) < 2:
        return math.nan
    return float(roc_auc_score(labels, scores))


def check_policy(selection: Selection, eval_names: Mapping[str, Any]) -> None:
    """Fail early when a policy cannot be applied to the given evaluation sets."""
    if VALIDATION in eval_names:
        raise ValueError(f"evals: the name {VALIDATION!r} is reserved for the validation set")
    if selection == "test" and INTERNAL not in eval_names:
        raise ValueError(
            f"selection='test' picks the epoch on evals[{INTERNAL!r}], which is missing "
            f"(got {sorted(eval_names)})"
        )


def selection_score(
    selection: Selection, entry: Mapping[str, float], monitor: str = "auroc"
) -> float:
    """The number a policy maximises for one history entry.

    ``validation``: with ``monitor="auroc"`` the validation AUROC, macro over labels for
    multi-label tasks (minus validation loss when the validation set holds one class, and
    for regression and survival tasks, whose entries have no AUROC); with
    ``monitor="loss"`` minus the validation loss. ``test``: internal-test AUROC (minus its
    loss without one); ``last``: the step, so the latest wins.
    """
    if selection == "last":
        return float(entry["step"])
    if selection == "test":
        value = entry.get(f"{INTERNAL}_auroc", -entry[f"{INTERNAL}_loss"])
        return -math.inf if math.isnan(value) else value
    value = entry.get(f"{VALIDATION}_auroc", math.nan)
    if monitor == "loss" or math.isnan(value):
        return -entry[f"{VALIDATION}_loss"]
    return value
