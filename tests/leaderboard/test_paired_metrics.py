"""The paired test covers any registered score metric (a plugin's too), and a Δ row stays
when the other model scored 0."""

from __future__ import annotations

import math
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from bench.leaderboard.aggregate import SourcedRecord, aggregate, load_store
from bench.leaderboard.paired import differences, relative_difference_pct
from bench.leaderboard.replicates import registered_metrics
from bench.plugins.metrics import compute_score_metric
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.host.specs import MetricSpec, MetricValue, ScoreData
from bench.statistics.intervals import metric_replicates
from bench.statistics.resampling import bootstrap_indices
from tests.leaderboard.conftest import write_store

#: A third-party metric with only ``compute`` (no vectorised ``replicates``).
PLUGIN_AUROC = MetricSpec(
    name="plugin_auroc", kind="scores", compute=partial(compute_score_metric, "auroc")
)


def _accuracy(data: ScoreData) -> MetricValue:
    return MetricValue(float(((data.y_score > 0.5) == data.y_true).mean()))


@settings(max_examples=20, deadline=None)
@given(st.integers(20, 60), st.integers(0, 2**16))
def test_per_replicate_fallback_equals_the_vectorised_kernel(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = np.r_[0, 1, (rng.random(n - 2) < 0.4).astype(int)]
    scores = rng.normal(size=n) + y
    groups = np.array([f"p{i // 2}" for i in range(n)])
    weights = bootstrap_indices(groups, replicates=30, seed=seed, unit="patient")
    builtin = registered_metrics()["auroc"]
    assert builtin.replicates is not None
    fast = metric_replicates(builtin, y, scores, groups, weights)
    slow = metric_replicates(PLUGIN_AUROC, y, scores, groups, weights)
    np.testing.assert_allclose(slow, fast, equal_nan=True)


def _cells(root: Path, metric: str) -> list:
    """Cells of ``root``'s AUROC records, renamed to ``metric`` (same predictions)."""
    records = [
        SourcedRecord(replace(item.record, metric=metric), item.base)
        for item in load_store([root])
        if item.record.metric == "auroc"
    ]
    return aggregate(records)


def test_a_plugin_metric_gets_paired_differences(tmp_path: Path) -> None:
    models = {"heartbeit": ("mim", 2.0), "weak": ("random", 0.2)}
    write_store(tmp_path, models=models, seeds=(0, 1), fractions=(1.0,), splits=("internal",))
    for spec in (PLUGIN_AUROC, MetricSpec(name="accuracy", kind="scores", compute=_accuracy)):
        diffs = differences(
            _cells(tmp_path, spec.name), "heartbeit", replicates=100, metrics={spec.name: spec}
        )
        (diff,) = diffs
        assert diff.row[0] == "weak" and diff.note == ""
        assert diff.significant is True and diff.p_value is not None and diff.p_value < 0.05


#: Signs of a metric's values on 19 resamples: 3 of them flip the difference's sign.
SIGNS = np.array([1.0] * 8 + [-1.0] * 3 + [1.0] * 8)


def _signed_mean(y_true: np.ndarray, y_score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The mean score times :data:`SIGNS` (sign +1 for the point estimate, one row)."""
    return float(np.mean(y_score)) * SIGNS[: len(weights)]


def test_a_table_difference_carries_the_paired_bootstrap_p_value(tmp_path: Path) -> None:
    """With values ``m · s_r`` on resample ``r`` (``m`` a model's mean score), the two rows
    differ by ``(m_a − m_b) · s_r``: 3 of the 19 differences fall on one side of 0 and 16
    on the other on every seed; pooled over the two seeds the differences are
    ``(m_a − m_b)_seed · s_r``, and the table reports the normal-approximation p-value
    with their standard deviation (one comparison: Holm leaves it)."""
    models = {"heartbeit": ("mim", 2.0), "weak": ("random", 0.2)}
    write_store(tmp_path, models=models, seeds=(0, 1), fractions=(1.0,), splits=("internal",))
    spec = MetricSpec(name="signed_mean", kind="scores", compute=_accuracy,
                      replicates=_signed_mean)  # fmt: skip
    (diff,) = differences(
        _cells(tmp_path, spec.name), "heartbeit", replicates=len(SIGNS), metrics={spec.name: spec}
    )
    assert diff.note == "" and diff.seeds_tested == (0, 1)
    pooled = np.concatenate([d * SIGNS for d in diff.seed_diffs])
    z = abs(np.mean(diff.seed_diffs)) / pooled.std(ddof=1)
    assert diff.p_value == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-9)
    assert diff.p_holm == diff.p_value
    assert diff.significant is False  # the interval of the differences spans 0


def test_an_unregistered_metric_is_reported_not_tested(tmp_path: Path) -> None:
    write_store(tmp_path, fractions=(1.0,), splits=("internal",))
    diffs = differences(_cells(tmp_path, "mystery"), "heartbeit", replicates=20, metrics={})
    assert diffs and all(d.significant is None for d in diffs)
    assert "not a registered score metric" in diffs[0].note


def test_a_difference_row_stays_when_the_other_value_is_zero(tmp_path: Path) -> None:
    write_store(tmp_path, fractions=(1.0,), splits=("internal",))
    cells = [replace(c, mean=0.0) if c.model == "vit_b16" else c for c in _cells(tmp_path, "auroc")]
    by_model = {d.row[0]: d for d in differences(cells, "heartbeit", replicates=20)}
    assert set(by_model) == {"resnet152", "vit_b16"}
    assert by_model["vit_b16"].rel_diff_pct == math.inf
    assert by_model["vit_b16"].significant is not None  # still tested on the predictions


def test_relative_difference() -> None:
    assert relative_difference_pct(0.9, 0.6) == pytest.approx(50.0)
    assert math.isnan(relative_difference_pct(0.0, 0.0))  # printed "—", never "+0.0 %"
    assert relative_difference_pct(-0.2, 0.0) == -math.inf
