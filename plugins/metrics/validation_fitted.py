"""Metrics fitted on a cell's validation predictions and applied to its test set.

A cell keeps its validation predictions (``ScoreData.reference``), so that what a user
would fit before deploying a model is fitted where it belongs, never on the test set:

- **temperature scaling** (Guo et al., 2017): one temperature ``T`` minimising the
  validation log-loss of ``sigmoid(logit(p) / T)``; ``ece_ts`` and ``brier_ts`` are the
  test set's ECE and Brier score after it (the raw ones, ``ece`` and ``brier``, beside them);
- **a decision threshold**: Youden's point on validation (the score threshold maximising
  sensitivity + specificity − 1; predicted positive when ``score >= threshold``);
  ``sensitivity``, ``specificity``, ``ppv`` and ``npv`` are the test set's at it.

Each value comes with its 95 % CI over the shared patient-level resamples of the test set,
the fitted temperature or threshold held fixed (the uncertainty of the fit itself is not in
the interval; its validation size is in the details). A cell stored without validation
predictions, or a validation set with one class, gives NaN with the reason in the details.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from bench.plugins.metrics.bootstrap import resamples_of
from bench.plugins.metrics.calibration import brier_replicates, ece_replicates

from bench.api import MetricValue, ScoreData, percentile_ci

#: Probabilities are clipped to [EPS, 1 - EPS] before taking logits.
EPS = 1e-7
#: Temperatures searched (bounded, on log T).
TEMPERATURE_RANGE: tuple[float, float] = (0.05, 20.0)
Calibrated = Literal["ece_ts", "brier_ts"]
Decision = Literal["sensitivity", "specificity", "ppv", "npv"]


def _undefined(reason: str) -> MetricValue:
    return MetricValue(float("nan"), details={"undefined": reason})


def usable_reference(data: ScoreData) -> tuple[np.ndarray, np.ndarray] | str:
    """The validation labels and scores, or why they cannot be fitted on."""
    ref = data.reference
    if ref is None or len(ref.y_true) == 0:
        return "no validation predictions stored for this cell (re-run it to keep them)"
    y = np.asarray(ref.y_true, dtype=np.float64)
    if y.min() == y.max():
        return "the validation set has one class only"
    return y, np.asarray(ref.y_score, dtype=np.float64)


def logits(p: np.ndarray) -> np.ndarray:
    """``log(p / (1 - p))`` of probabilities clipped to ``[EPS, 1 - EPS]``."""
    q = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(q) - np.log1p(-q)


def fit_temperature(y: np.ndarray, p: np.ndarray) -> float:
    """The temperature minimising the log-loss of ``sigmoid(logit(p) / T)`` on ``(y, p)``."""
    from scipy.optimize import minimize_scalar

    z = logits(p)

    def loss(log_t: float) -> float:
        s = z / np.exp(log_t)
        return float(np.mean(np.logaddexp(0.0, s) - y * s))  # binary cross-entropy of logits

    low, high = np.log(TEMPERATURE_RANGE[0]), np.log(TEMPERATURE_RANGE[1])
    found = minimize_scalar(loss, bounds=(low, high), method="bounded", options={"xatol": 1e-6})
    return float(np.exp(found.x))


def rescale(p: np.ndarray, temperature: float) -> np.ndarray:
    """``sigmoid(logit(p) / temperature)``."""
    return 1.0 / (1.0 + np.exp(-logits(p) / temperature))


def calibrated(name: Calibrated, data: ScoreData) -> MetricValue:
    """``ece_ts`` or ``brier_ts``: the test set's ECE or Brier score after temperature
    scaling fitted on the cell's validation predictions, with the raw value beside it."""
    reference = usable_reference(data)
    if isinstance(reference, str):
        return _undefined(reference)
    temperature = fit_temperature(*reference)
    kernel = ece_replicates if name == "ece_ts" else brier_replicates
    y = np.asarray(data.y_true)
    resamples = resamples_of(data)
    scaled = rescale(data.y_score, temperature)
    values = kernel(y, scaled, resamples)
    whole = np.ones((1, len(y)))
    low, high = percentile_ci(values)
    return MetricValue(
        float(kernel(y, scaled, whole)[0]),
        low,
        high,
        {
            "temperature": temperature,
            "raw": float(kernel(y, np.asarray(data.y_score, dtype=np.float64), whole)[0]),
            "n_validation": len(reference[0]),
            "valid_replicates": int(np.isfinite(values).sum()),
        },
    )


def youden_threshold(y: np.ndarray, score: np.ndarray) -> float:
    """The score threshold (predict positive when ``score >= t``) maximising sensitivity +
    specificity − 1 on ``(y, score)``; ties go to the highest such threshold."""
    order = np.argsort(-score, kind="stable")
    ranked, positive = score[order], (y == 1)[order]
    last = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))  # end of each tie
    youden = (
        np.cumsum(positive)[last] / positive.sum() - np.cumsum(~positive)[last] / (~positive).sum()
    )  # sensitivity + specificity - 1 at each threshold, highest threshold first
    return float(ranked[last[int(np.argmax(youden))]])


def decision_replicates(
    name: Decision, y: np.ndarray, predicted: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Sensitivity, specificity, PPV or NPV of 0/1 ``predicted`` on every row of the
    multiplicity matrix ``weights``; NaN where its denominator is empty."""
    positive = np.asarray(y) == 1
    w = np.asarray(weights, dtype=np.float64)
    tp, fp = w @ (predicted & positive), w @ (predicted & ~positive)
    fn, tn = w @ (~predicted & positive), w @ (~predicted & ~positive)
    numerator, denominator = {
        "sensitivity": (tp, tp + fn),
        "specificity": (tn, tn + fp),
        "ppv": (tp, tp + fp),
        "npv": (tn, tn + fn),
    }[name]
    with np.errstate(invalid="ignore", divide="ignore"):
        return numerator / denominator


def at_validation_threshold(name: Decision, data: ScoreData) -> MetricValue:
    """``name`` on the test set at the Youden threshold of the cell's validation set."""
    reference = usable_reference(data)
    if isinstance(reference, str):
        return _undefined(reference)
    threshold = youden_threshold(*reference)
    y = np.asarray(data.y_true)
    predicted = np.asarray(data.y_score, dtype=np.float64) >= threshold
    values = decision_replicates(name, y, predicted, resamples_of(data))
    point = decision_replicates(name, y, predicted, np.ones((1, len(y))))[0]
    low, high = percentile_ci(values)
    return MetricValue(
        float(point),
        low,
        high,
        {
            "threshold": threshold,
            "rule": "Youden on validation",
            "n_validation": len(reference[0]),
            "valid_replicates": int(np.isfinite(values).sum()),
        },
    )
