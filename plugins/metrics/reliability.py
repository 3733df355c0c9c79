"""Reliability diagram of a cell's probabilities, with its expected calibration error.

Bins: the ``ece`` metric's (:mod:`.calibration`): :data:`~.calibration.DEFAULT_BINS` (15)
equal-width bins, bin ``k`` holding ``[k/15, (k+1)/15)`` and the last also 1.0. Per bin, on
the whole test set: the record count ``n_k``, the mean predicted probability and the
observed positive rate, the latter with its 95 % percentile CI over the shared patient-level
resamples (over the replicates in which the bin holds a record). A perfectly calibrated
model's observed rates lie on the diagonal ``observed = mean predicted``.

The value is the ECE, ``Σ_k (n_k / n) · |observed_k − mean predicted_k|``, computed by the
``ece`` metric's own kernel (so the two are equal), with its CI. When the cell kept its
validation predictions, the details hold the same diagram and ECE after temperature scaling
fitted there (:func:`.validation_fitted.fit_temperature`, as ``ece_ts``). See
:func:`reliability` for the details' layout.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from bench.plugins.metrics.bootstrap import BootstrapResult, resamples_of
from bench.plugins.metrics.calibration import (
    DEFAULT_BINS,
    bin_indicators,
    check_probabilities,
    ece_replicates,
)
from bench.plugins.metrics.curves import json_floats, pointwise
from bench.plugins.metrics.ranking import integer_weights
from bench.plugins.metrics.validation_fitted import fit_temperature, rescale, usable_reference

from bench.api import MetricValue, ScoreData


def reliability_bins(
    y_true: np.ndarray, y_prob: np.ndarray, weights: np.ndarray, bins: int = DEFAULT_BINS
) -> dict[str, np.ndarray]:
    """Per row of the multiplicity matrix ``weights`` ``(R, n)`` and per equal-width bin:
    ``count`` (records, with multiplicity), ``mean_predicted`` and ``observed`` (positive
    rate), each ``(R, bins)``; the means are NaN where the bin is empty."""
    y, p = check_probabilities(y_true, y_prob)
    w = integer_weights(weights, len(y))
    onehot = bin_indicators(p, bins)
    sums = w @ np.hstack([onehot, onehot * p[:, None], onehot * y[:, None]])
    count, predicted, positive = np.split(sums, 3, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"count": count, "mean_predicted": predicted / count, "observed": positive / count}


def diagram(
    y: np.ndarray, p: np.ndarray, resamples: np.ndarray
) -> tuple[BootstrapResult, dict[str, Any]]:
    """The ECE of probabilities ``p`` (with its CI over ``resamples``) and their reliability
    diagram: ``{"count", "mean_predicted", "observed"}`` per bin (``observed`` with its CI,
    as :func:`.curves.pointwise`)."""
    ones = np.ones((1, len(y)), dtype=np.int64)
    whole = reliability_bins(y, p, ones)
    replicated = reliability_bins(y, p, resamples)
    ece = BootstrapResult.of(ece_replicates(y, p, ones)[0], ece_replicates(y, p, resamples))
    return ece, {
        "count": [int(c) for c in whole["count"][0]],
        "mean_predicted": json_floats(whole["mean_predicted"][0]),
        "observed": pointwise(whole["observed"][0], replicated["observed"]),
    }


def _temperature_scaled(data: ScoreData, resamples: np.ndarray) -> dict[str, Any]:
    """The diagram and ECE after temperature scaling fitted on the cell's validation
    predictions, or why there is none."""
    reference = usable_reference(data)
    if isinstance(reference, str):
        return {"undefined": reference}
    temperature = fit_temperature(*reference)
    ece, scaled = diagram(np.asarray(data.y_true), rescale(data.y_score, temperature), resamples)
    return {
        "temperature": temperature,
        "n_validation": len(reference[0]),
        "ece": {
            "value": ece.point,
            "ci_low": ece.ci_low,
            "ci_high": ece.ci_high,
            "valid_replicates": ece.valid_replicates,
        },
        "diagram": scaled,
    }


def reliability(data: ScoreData) -> MetricValue:
    """The ``reliability`` metric: the ECE (equal to ``ece``'s) with its CI, and the
    reliability diagram in the details:

    - ``bins`` (15) and ``edges`` (``bins + 1`` bin edges from 0 to 1); ``rule``: which bin
      a probability falls in;
    - ``diagram``: ``count`` (records per bin), ``mean_predicted`` (per bin, ``None`` when
      empty) and ``observed`` (the positive rate per bin as
      ``{"value", "ci_low", "ci_high", "valid_replicates"}`` lists, ``None`` when empty);
    - ``temperature_scaled``: ``temperature``, ``n_validation``, ``ece``
      (``{"value", "ci_low", "ci_high", "valid_replicates"}``) and a ``diagram`` as above,
      after temperature scaling fitted on the cell's validation predictions; or
      ``{"undefined": reason}`` without usable validation predictions.
    """
    y = np.asarray(data.y_true)
    resamples = resamples_of(data)
    ece, raw = diagram(y, np.asarray(data.y_score, dtype=np.float64), resamples)
    return MetricValue(
        ece.point,
        ece.ci_low,
        ece.ci_high,
        {
            "bins": DEFAULT_BINS,
            "edges": json_floats(np.linspace(0.0, 1.0, DEFAULT_BINS + 1)),
            "rule": "bin k holds probabilities in [k/bins, (k+1)/bins), the last also 1.0",
            "diagram": raw,
            "temperature_scaled": _temperature_scaled(data, resamples),
            "valid_replicates": ece.valid_replicates,
            "replicates": ece.replicates,
        },
    )
