"""Bootstrap resamples and exact vectorised AUROC / average precision / calibration."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from bench.plugins.metrics import ranking
from bench.plugins.metrics.bootstrap import (
    bootstrap_indices,
    bootstrap_metric,
    bootstrap_metrics,
    replicate_values,
)
from bench.plugins.metrics.calibration import (
    DEFAULT_BINS,
    brier_replicates,
    ece_replicates,
)
from bench.plugins.metrics.ranking import kernel_threads, ranking_replicates
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    auc,
    average_precision_score,
    brier_score_loss,
    precision_recall_curve,
    roc_auc_score,
)


def _sklearn(y: np.ndarray, s: np.ndarray) -> dict[str, float]:
    precision, recall, _ = precision_recall_curve(y, s)
    return {
        "auroc": roc_auc_score(y, s),
        "auprc": average_precision_score(y, s),
        "auprc_trapezoid": auc(recall, precision),
    }


@st.composite
def score_sets(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(2, 80))
    seed = draw(st.integers(0, 2**31))
    levels = draw(st.sampled_from([2, 3, 5, 1000]))  # few levels = heavy ties
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < draw(st.floats(0.05, 0.95))).astype(int)
    s = rng.integers(0, levels, n) / levels + (0.1 * y if draw(st.booleans()) else 0)
    groups = rng.integers(0, max(1, n // draw(st.integers(1, 4))), n)
    return y, s, groups


@settings(max_examples=40, deadline=None)
@given(data=score_sets(), unit=st.sampled_from(["record", "patient"]), seed=st.integers(0, 99))
def test_every_replicate_equals_sklearn(data, unit, seed):
    y, s, groups = data
    resamples = bootstrap_indices(groups, replicates=12, seed=seed, unit=unit)
    values = ranking_replicates(y, s, resamples)
    for r, counts in enumerate(resamples):
        idx = np.repeat(np.arange(len(y)), counts)
        if len(np.unique(y[idx])) < 2:
            assert all(np.isnan(v[r]) for v in values.values())
            continue
        for name, expected in _sklearn(y[idx], s[idx]).items():
            assert abs(values[name][r] - expected) <= 1e-12, (name, r)


@pytest.mark.parametrize("threads", ["1", "3"])
def test_replicates_shared_among_threads_equal_sklearn(monkeypatch, threads):
    monkeypatch.setenv("BENCH_KERNEL_THREADS", threads)
    rng = np.random.default_rng(5)
    y = (rng.random(400) < 0.2).astype(int)
    s = np.round(rng.normal(size=400) + y, 1)
    resamples = bootstrap_indices(rng.integers(0, 300, 400), replicates=150, seed=2)
    values = ranking_replicates(y, s, resamples)
    for r in (0, 63, 64, 149):  # both sides of a part boundary, and the last part
        idx = np.repeat(np.arange(len(y)), resamples[r])
        for name, expected in _sklearn(y[idx], s[idx]).items():
            assert abs(values[name][r] - expected) <= 1e-12, (name, r)


def test_ranking_weights_must_be_whole_multiplicities():
    y, s = np.array([0, 1, 0, 1]), np.array([0.1, 0.4, 0.35, 0.8])
    whole = ranking_replicates(y, s, np.array([[1.0, 2.0, 0.0, 1.0]]))
    assert whole["auroc"][0] == ranking_replicates(y, s, np.array([[1, 2, 0, 1]]))["auroc"][0]
    with pytest.raises(ValueError, match="whole multiplicities"):
        ranking_replicates(y, s, np.array([[0.5, 1.0, 1.0, 1.0]]))
    with pytest.raises(ValueError, match=">= 0"):
        ranking_replicates(y, s, np.array([[-1, 1, 1, 1]]))
    with pytest.raises(ValueError, match=r"\(replicates, n=4\)"):
        ranking_replicates(y, s, np.ones((2, 3), dtype=int))


def test_record_unit_resamples_n_records_per_replicate():
    counts = bootstrap_indices(np.arange(50), replicates=40, seed=3, unit="record")
    assert counts.shape == (40, 50)
    assert (counts.sum(axis=1) == 50).all()
    assert (counts >= 0).all()


def test_patient_unit_takes_all_records_of_a_drawn_patient():
    groups = np.array(["p1", "p1", "p1", "p2", "p3", "p3", "p4"])
    counts = bootstrap_indices(groups, replicates=200, seed=1, unit="patient")
    for patient in np.unique(groups):
        cols = counts[:, groups == patient]
        assert (cols == cols[:, :1]).all()  # a patient's records move together
    patient_draws = counts[:, [0, 3, 4, 6]]  # one record per patient
    assert (patient_draws.sum(axis=1) == 4).all()  # 4 patients drawn per replicate
    assert len(np.unique(counts.sum(axis=1))) > 1  # replicate sizes differ


def test_resamples_are_deterministic_in_seed():
    groups = np.repeat(np.arange(30), 2)
    a = bootstrap_indices(groups, replicates=10, seed=7)
    assert np.array_equal(a, bootstrap_indices(groups, replicates=10, seed=7))
    assert not np.array_equal(a, bootstrap_indices(groups, replicates=10, seed=8))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"unit": "visit"}, "unit must be"), ({"replicates": 0}, "replicates must be")],
)
def test_bad_bootstrap_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_indices(np.arange(5), **kwargs)


def test_bootstrap_metric_point_ci_and_valid_replicates():
    rng = np.random.default_rng(0)
    y = np.zeros(40, dtype=int)
    y[:2] = 1  # two positives: some replicates draw none
    s = rng.random(40) + y
    resamples = bootstrap_indices(np.arange(40), replicates=300, seed=0, unit="record")
    result = bootstrap_metric("auroc", y, s, resamples)
    assert result.point == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    has_positive = (resamples[:, :2].sum(axis=1) > 0).sum()
    assert result.valid_replicates == has_positive < 300
    assert result.replicates == 300
    finite = result.values[np.isfinite(result.values)]
    assert result.ci_low == pytest.approx(np.quantile(finite, 0.025))
    assert result.ci_high == pytest.approx(np.quantile(finite, 0.975))


def test_unknown_metric_and_bad_labels_are_named():
    resamples = np.ones((2, 3), dtype=int)
    with pytest.raises(ValueError, match="unknown bootstrap metrics"):
        bootstrap_metrics(("auroc", "f1"), [0, 1, 1], [0.1, 0.2, 0.3], resamples)
    with pytest.raises(ValueError, match="binary labels"):
        bootstrap_metric("auroc", [0, 2, 1], [0.1, 0.2, 0.3], resamples)
    with pytest.raises(ValueError, match="multiplicity matrix"):
        bootstrap_metric("auroc", [0, 1, 1], [0.1, 0.2, 0.3], np.ones((2, 4), dtype=int))


def _ece(y: np.ndarray, p: np.ndarray, bins: int) -> float:
    """ECE by its definition: Σ over non-empty equal-width bins of |mean y − mean p| · share."""
    bin_of = np.minimum((p * bins).astype(int), bins - 1)
    return sum(
        abs(y[bin_of == k].mean() - p[bin_of == k].mean()) * (bin_of == k).mean()
        for k in range(bins)
        if (bin_of == k).any()
    )


@settings(max_examples=20, deadline=None)
@given(data=score_sets(), bins=st.integers(1, 20))
def test_calibration_replicates_equal_materialised_resamples(data, bins):
    y, s, groups = data
    p = np.clip(s, 0, 1)
    resamples = bootstrap_indices(groups, replicates=10, seed=0)
    brier = brier_replicates(y, p, resamples)
    ece = ece_replicates(y, p, resamples, bins=bins)
    for r, counts in enumerate(resamples):
        idx = np.repeat(np.arange(len(y)), counts)
        yy, pp = y[idx], p[idx]
        assert brier[r] == pytest.approx(brier_score_loss(yy, pp), abs=1e-12)
        assert ece[r] == pytest.approx(_ece(yy, pp, bins), abs=1e-12)


def test_perfectly_calibrated_bins_have_zero_ece_and_probabilities_are_checked():
    y = np.array([0, 0, 0, 1, 1, 1, 1, 0])
    p = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 0.5, 0.5, 0.5])  # the 0.5 bin holds 2 of 3 ones
    ones = np.ones((1, len(y)))
    assert ece_replicates(y, p, ones, bins=10)[0] == pytest.approx(abs(2 / 3 - 0.5) * 3 / 8)
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        ece_replicates(y, p * 3, ones)


def _reference_multiplicities(groups: np.ndarray, replicates: int, seed: int, unit: str):
    """The documented definition: one int32 draw matrix from default_rng(seed), counted."""
    _, unit_of = np.unique(groups, return_inverse=True)
    units = len(groups) if unit == "record" else int(unit_of.max()) + 1
    draws = np.random.default_rng(seed).integers(0, units, (replicates, units), dtype=np.int32)
    counts = np.stack([np.bincount(row, minlength=units) for row in draws])
    return counts if unit == "record" else counts[:, unit_of]


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 300),
    patients=st.integers(1, 300),
    replicates=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
    unit=st.sampled_from(["record", "patient"]),
)
def test_matrix_is_the_documented_draw_and_identical_for_a_seed(
    n, patients, replicates, seed, unit
):
    groups = np.random.default_rng(seed).integers(0, patients, n)
    counts = bootstrap_indices(groups, replicates=replicates, seed=seed, unit=unit)
    assert counts.dtype == np.uint8  # multiplicities this small always fit
    assert np.array_equal(counts, _reference_multiplicities(groups, replicates, seed, unit))
    # Every model of a test set gets this same matrix (paired comparisons).
    assert np.array_equal(
        counts, bootstrap_indices(groups, replicates=replicates, seed=seed, unit=unit)
    )


@pytest.mark.parametrize("block_draws", [1, 3_000, 10_000])
def test_matrix_built_in_blocks_equals_one_draw(monkeypatch, block_draws):
    from bench.statistics import resampling

    monkeypatch.setattr(resampling, "BLOCK_DRAWS", block_draws)  # 1 row per block and more
    groups = np.random.default_rng(0).integers(0, 700, 1000)
    for unit in ("record", "patient"):
        counts = bootstrap_indices(groups, replicates=25, seed=3, unit=unit)
        assert np.array_equal(counts, _reference_multiplicities(groups, 25, 3, unit))


def test_multiplicities_above_255_widen_the_matrix(monkeypatch):
    from bench.statistics import resampling

    # Draws of one row per block: the first row draws every unit once, later rows draw
    # unit 0 every time, so the matrix must widen after a uint8 row was written.
    class Draws:
        calls = 0

        def integers(self, low, high, size, dtype):
            Draws.calls += 1
            row = np.arange(high) if Draws.calls == 1 else np.zeros(high)
            return np.broadcast_to(row, size).astype(dtype)

    monkeypatch.setattr(resampling, "BLOCK_DRAWS", 1)
    for groups, unit in ((np.arange(300), "record"), (np.repeat(np.arange(300), 2), "patient")):
        Draws.calls = 0
        monkeypatch.setattr(resampling.np.random, "default_rng", lambda seed: Draws())
        counts = bootstrap_indices(groups, replicates=3, unit=unit)
        assert counts.dtype == np.int32
        assert (counts[0] == 1).all()
        first = counts[1:, groups == groups[0]]
        assert (first == 300).all() and (counts[1:, groups != groups[0]] == 0).all()


def test_default_resamples_are_500_replicates_drawn_with_seed_0():
    groups = np.repeat(np.arange(6), 2)
    counts = bootstrap_indices(groups)
    assert counts.shape == (500, 12)
    assert np.array_equal(counts, _reference_multiplicities(groups, 500, 0, "patient"))


@pytest.mark.parametrize(
    ("groups", "shape"),
    [(np.array([], dtype=int), r"\(0,\)"), (np.arange(6).reshape(2, 3), r"\(2, 3\)")],
)
@pytest.mark.parametrize("unit", ["record", "patient"])
def test_groups_that_are_not_a_non_empty_vector_are_refused_by_shape(groups, shape, unit):
    with pytest.raises(
        ValueError, match=rf"^groups must be a non-empty 1-D array of patient ids, got {shape}$"
    ):
        bootstrap_indices(groups, replicates=3, unit=unit)


@pytest.mark.parametrize(
    ("y", "s", "message"),
    [
        ([0, 1, 1], [0.1, 0.2, 0.3, 0.4], r"1-D of equal length, got shapes \(3,\) and \(4,\)$"),
        ([[0], [1], [1]], [0.1, 0.2, 0.3], r"1-D of equal length, got shapes \(3, 1\) and \(3,\)$"),
        ([0, 1, 1], [[0.1, 0.2, 0.3]], r"1-D of equal length, got shapes \(3,\) and \(1, 3\)$"),
        (
            np.arange(12),
            np.linspace(0, 1, 12),
            r"binary labels 0/1, got values \[0 1 2 3 4 5 6 7 8 9\]$",
        ),
        ([0, 1, 1], [0.1, np.nan, 0.3], r"^y_score contains NaN or infinite values$"),
        ([0, 1, 1], [0.1, np.inf, 0.3], r"^y_score contains NaN or infinite values$"),
        ([0, 1, 1], [0.1, None, 0.3], r"^y_score contains NaN or infinite values$"),  # missing
    ],
)
def test_label_and_score_errors_name_what_was_expected(y, s, message):
    n = len(np.asarray(y))
    with pytest.raises(ValueError, match=message):
        ranking_replicates(y, s, np.ones((2, n), dtype=int))


def test_unknown_ranking_metric_is_named_with_the_choices():
    y, s = np.array([0, 1, 0, 1]), np.array([0.1, 0.4, 0.35, 0.8])
    choices = r"\['auprc', 'auprc_trapezoid', 'auroc'\]"
    with pytest.raises(
        ValueError, match=rf"^unknown ranking metrics \['f1'\]; choose from {choices}$"
    ):
        ranking_replicates(y, s, np.ones((1, 4), dtype=int), ("auroc", "f1"))


def test_negative_multiplicities_are_refused_in_words():
    y, s = np.array([0, 1, 0, 1]), np.array([0.1, 0.4, 0.35, 0.8])
    with pytest.raises(
        ValueError, match=r"^weights must hold multiplicities >= 0, got a negative value$"
    ):
        ranking_replicates(y, s, np.array([[2, -1, 1, 1]]))


def test_kernel_threads_come_from_bench_kernel_threads(monkeypatch):
    monkeypatch.setenv("BENCH_KERNEL_THREADS", "11")  # above the default's cap of 8
    assert kernel_threads() == 11


@pytest.mark.parametrize(
    ("threads", "replicates", "pool", "parts"),
    [("1", 150, [], [150]), ("3", 150, [3], [22, 64, 64]), ("8", 100, [2], [36, 64])],
)
def test_kernel_threads_share_the_rows_in_parts_of_64_each_computed_once(
    monkeypatch, threads, replicates, pool, parts
):
    monkeypatch.setenv("BENCH_KERNEL_THREADS", threads)
    calls: list[tuple[int, int]] = []
    pools: list[int] = []
    kernel = ranking._ranking_rows

    def counted(w, *args):
        calls.append((threading.get_ident(), len(w)))
        kernel(w, *args)

    class Pool(ThreadPoolExecutor):
        def __init__(self, max_workers):
            pools.append(max_workers)
            super().__init__(max_workers)

    monkeypatch.setattr(ranking, "_ranking_rows", counted)
    monkeypatch.setattr(ranking, "ThreadPoolExecutor", Pool)
    rng = np.random.default_rng(1)
    y, s = (rng.random(30) < 0.5).astype(int), rng.random(30)
    resamples = bootstrap_indices(np.arange(30), replicates=replicates, seed=4, unit="record")
    values = ranking_replicates(y, s, resamples, ("auroc",))["auroc"]
    assert pools == pool
    assert sorted(rows for _, rows in calls) == parts
    in_caller = [ident == threading.get_ident() for ident, _ in calls]
    assert in_caller == [not pool] * len(parts)
    for r in (0, 64, replicates - 1):
        idx = np.repeat(np.arange(30), resamples[r])
        assert values[r] == pytest.approx(roc_auc_score(y[idx], s[idx]), abs=1e-12)


def test_bootstrap_metrics_calibration_and_ranking_equal_materialised_resamples():
    rng = np.random.default_rng(4)
    y = (rng.random(60) < 0.4).astype(int)
    p = np.clip(rng.random(60) * 0.6 + 0.4 * y, 0, 1)
    resamples = bootstrap_indices(rng.integers(0, 40, 60), replicates=30, seed=1)
    results = bootstrap_metrics(("brier", "auroc", "ece"), y, p, resamples, level=0.5)
    expected = {
        "brier": lambda yy, pp: brier_score_loss(yy, pp),
        "ece": lambda yy, pp: _ece(yy, pp, DEFAULT_BINS),
        "auroc": roc_auc_score,
    }
    for name, metric in expected.items():
        result = results[name]
        assert result.point == pytest.approx(metric(y, p), abs=1e-12)
        for r, counts in enumerate(resamples):
            idx = np.repeat(np.arange(60), counts)
            assert result.values[r] == pytest.approx(metric(y[idx], p[idx]), abs=1e-12)
        quartiles = np.quantile(result.values, [0.25, 0.75])  # level 0.5: the middle half
        assert (result.ci_low, result.ci_high) == pytest.approx(tuple(quartiles))
        single = bootstrap_metric(name, y, p, resamples, level=0.5)
        assert (single.ci_low, single.ci_high) == (result.ci_low, result.ci_high)


def test_replicate_values_returns_only_the_metrics_asked_for():
    y, p = np.array([0, 1, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8, 0.6])
    values = replicate_values(("auprc", "brier"), y, p, np.ones((3, 5), dtype=int))
    assert sorted(values) == ["auprc", "brier"]
    assert values["auprc"] == pytest.approx([average_precision_score(y, p)] * 3)


def test_calibration_metrics_alone_take_fractional_weights():
    # Only the ranking pass needs whole multiplicities; Brier alone is a weighted mean.
    y, p = np.array([0, 1, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8, 0.6])
    weights = np.random.default_rng(0).dirichlet(np.ones(5), size=4)
    brier = replicate_values(("brier",), y, p, weights)["brier"]
    assert brier == pytest.approx(weights @ (p - y) ** 2 / weights.sum(axis=1))
