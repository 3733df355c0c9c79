"""Whether a training fraction's labels can train a model at all (enough positives and
negatives, events, or distinct regression targets); the grid skips a fraction that
cannot, with the reason."""

from __future__ import annotations

import numpy as np


def fraction_problem(
    labels: np.ndarray, min_positives: int, kind: str = "classification"
) -> str | None:
    """Why a training fraction cannot be trained (too few positives/negatives), or None.

    Multi-label ``(n, K)`` labels can be trained when at least one label has
    ``min_positives`` positive and one negative ECG (rarer labels train on what they have).
    Regression targets need two distinct values (each target of ``(n, K)``); survival
    labels are the event indicators, needing ``min_positives`` events.
    """
    if kind == "regression":
        columns = labels.reshape(len(labels), -1)
        if len(labels) < 2 or (np.ptp(columns, axis=0) == 0).any():
            return "a target takes a single value in the training ECGs"
        return None
    if labels.ndim == 2:
        positives_k = labels.sum(axis=0)
        usable = (positives_k >= min_positives) & (positives_k < len(labels))
        if not usable.any():
            return (
                f"no label has {min_positives} positive and 1 negative ECG(s) "
                f"(most positives: {int(positives_k.max(initial=0))})"
            )
        return None
    positives = int(np.sum(labels == 1))
    negatives = int(np.sum(labels == 0))
    what = "event" if kind == "survival" else "positive"
    if positives < min_positives:
        return f"only {positives} {what} ECG(s) (minimum {min_positives})"
    if negatives < 1 and kind != "survival":
        return "no negative ECGs"
    return None
