"""Decision curve analysis: the net benefit of treating by a model's predicted probability
(Vickers & Elkin, Med Decis Making 2006;26:565-74).

At a threshold probability ``pt`` a patient is treated when the predicted probability is
``>= pt`` (as the ``dcurves`` package does). Of ``n`` records, treating the ``TP`` positives
and ``FP`` negatives above the threshold has the net benefit

    NB(pt) = TP/n − FP/n · pt / (1 − pt),

true positives gained per record, a false positive weighed by the odds at which a patient
would be indifferent to treatment. The two default strategies: **treat all**,
``NB = prevalence − (1 − prevalence) · pt / (1 − pt)``, and **treat none**, ``NB = 0``.

The curves are read on :data:`THRESHOLDS` (0.05, 0.10, …, 0.50). The metric's value is the
**mean net benefit gain**: the mean over those thresholds of
``NB_model(pt) − max(NB_treat_all(pt), 0)``, the model's curve above the better default
strategy at each threshold (the area between the curves per unit threshold, on the grid).
Positive: using the model beats both defaults on average over the range; 0: no gain;
negative: a default strategy is better. A perfect classifier's gain is the mean of
``min(prevalence, (1 − prevalence) · pt / (1 − pt))``.

Every curve point and the value get a 95 % percentile CI over the shared patient-level
resamples (a replicate's counts are its multiplicity-weighted sums); see
:func:`net_benefit` for the details' layout. Scores must be probabilities in [0, 1].
"""

from __future__ import annotations

import numpy as np
from bench.plugins.metrics.bootstrap import BootstrapResult, resamples_of
from bench.plugins.metrics.calibration import check_probabilities
from bench.plugins.metrics.curves import pointwise
from bench.plugins.metrics.ranking import integer_weights

from bench.api import MetricValue, ScoreData

#: Threshold probabilities of the decision curve: 0.05 to 0.50 in steps of 0.05.
THRESHOLDS: tuple[float, ...] = tuple(round(0.05 * k, 2) for k in range(1, 11))


def net_benefit_curves(
    y_true: np.ndarray,
    y_prob: np.ndarray,
    weights: np.ndarray,
    thresholds: tuple[float, ...] = THRESHOLDS,
) -> dict[str, np.ndarray]:
    """Net benefit of the model (treat when ``y_prob >= pt``) and of treating all, on every
    row of the multiplicity matrix ``weights`` ``(R, n)`` at every threshold ``pt``:
    ``{"model": (R, T), "treat_all": (R, T)}``."""
    y, p = check_probabilities(y_true, y_prob)
    t = np.asarray(thresholds, dtype=np.float64)
    if t.ndim != 1 or not len(t) or t.min() <= 0 or t.max() >= 1:
        raise ValueError(f"net benefit needs thresholds in (0, 1), got {list(thresholds)}")
    w = integer_weights(weights, len(y))
    positive = (y == 1)[:, None]
    treated = p[:, None] >= t[None, :]
    columns = np.hstack([treated & positive, treated & ~positive, positive, np.ones_like(positive)])
    sums = w @ columns.astype(np.float64)  # (R, 2T + 2): TP per pt, FP per pt, P, n
    tp, fp, total_pos, total = sums[:, : len(t)], sums[:, len(t) : -2], sums[:, -2:-1], sums[:, -1:]
    odds = t / (1 - t)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "model": (tp - fp * odds) / total,
            "treat_all": (total_pos - (total - total_pos) * odds) / total,
        }


def net_benefit_gain(curves: dict[str, np.ndarray]) -> np.ndarray:
    """``NB_model − max(NB_treat_all, 0)`` at each threshold, from :func:`net_benefit_curves`."""
    return curves["model"] - np.maximum(curves["treat_all"], 0.0)


def net_benefit_replicates(
    y_true: np.ndarray, y_score: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """The mean net benefit gain over :data:`THRESHOLDS` on every row of ``weights``."""
    return net_benefit_gain(net_benefit_curves(y_true, y_score, weights)).mean(axis=1)


def net_benefit(data: ScoreData) -> MetricValue:
    """The ``net_benefit`` metric: the mean net benefit gain over :data:`THRESHOLDS` with
    its CI on the shared resamples, and the decision curve in the details:

    - ``thresholds``: the threshold probabilities ``pt`` (ascending), every list below
      aligned with them; ``rule``: when a patient counts as treated; ``prevalence``;
    - ``curves``: ``model``, ``treat_all`` and ``treat_none``, each
      ``{"value", "ci_low", "ci_high", "valid_replicates"}`` (lists, net benefit per pt);
    - ``gain``: the same for ``NB_model − max(NB_treat_all, 0)`` per pt (its CI paired:
      both curves on the same replicate), the value being its mean.
    """
    y = np.asarray(data.y_true)
    whole = net_benefit_curves(y, data.y_score, np.ones((1, len(y)), dtype=np.int64))
    replicated = net_benefit_curves(y, data.y_score, resamples_of(data))
    result = BootstrapResult.of(
        float(net_benefit_gain(whole).mean()), net_benefit_gain(replicated).mean(axis=1)
    )
    return MetricValue(
        result.point,
        result.ci_low,
        result.ci_high,
        {
            "thresholds": list(THRESHOLDS),
            "rule": "treated when the predicted probability >= pt",
            "prevalence": float(np.mean(y == 1)) if len(y) else float("nan"),
            "curves": {
                "model": pointwise(whole["model"][0], replicated["model"]),
                "treat_all": pointwise(whole["treat_all"][0], replicated["treat_all"]),
                "treat_none": pointwise(
                    np.zeros(len(THRESHOLDS)), np.zeros_like(replicated["model"])
                ),
            },
            "gain": pointwise(net_benefit_gain(whole)[0], net_benefit_gain(replicated)),
            "valid_replicates": result.valid_replicates,
            "replicates": result.replicates,
        },
    )
