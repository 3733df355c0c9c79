"""Scoring saved predictions (bench.run.scoring): metric values, bootstrap CIs, macro averages
over labels and the record fields a score determines, checked against sklearn's AUROC and
the Mann-Whitney AUROC from scipy's ranks on every shared patient resample."""

from __future__ import annotations

import warnings
from functools import partial
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from bench.plugins.metrics import compute_score_metric, score_replicates
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from bench import hookimpl
from bench.errors import RunError
from bench.host.specs import MetricSpec, MetricValue, ScoreData
from bench.run.scoring import (
    BootstrapRecipe,
    Score,
    macro_score,
    macro_values,
    score_predictions,
    select_metrics,
)
from bench.statistics.resampling import bootstrap_indices

#: the shared resamples of every test here: patient clusters, 40 replicates, seed 5
RECIPE = BootstrapRecipe(replicates=40, seed=5, unit="patient")
#: multi-label layout: a common label, one with a single class, one with one positive patient
LABELS = ("common", "absent", "rare")


def rank_auroc(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """AUROC as the Mann-Whitney statistic from scipy's midranks (ties count one half);
    NaN where ``y_true`` holds one class."""
    positives = y_true == 1
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(y_score)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def on_resample(counts: np.ndarray, *arrays: np.ndarray) -> list[np.ndarray]:
    """``arrays`` with record ``i`` repeated ``counts[i]`` times (one bootstrap resample)."""
    idx = np.repeat(np.arange(len(counts)), counts)
    return [a[idx] for a in arrays]


def expected_ci(values: np.ndarray) -> tuple[float, float]:
    """95 % percentile interval of the finite ``values`` (numpy's default interpolation)."""
    finite = values[np.isfinite(values)]
    low, high = np.quantile(finite, [0.025, 0.975])
    return float(low), float(high)


def builtin_auroc() -> MetricSpec:
    """The built-in bootstrap AUROC as the metrics plugin registers it (vectorised)."""
    return MetricSpec(
        name="auroc",
        kind="scores",
        compute=partial(compute_score_metric, "auroc"),
        replicates=partial(score_replicates, "auroc"),
    )


def per_resample_auroc() -> MetricSpec:
    """An AUROC metric without ``replicates``: scoring calls ``compute`` once per resample."""

    def compute(data: ScoreData) -> MetricValue:
        value = rank_auroc(data.y_true, data.y_score)
        if np.isnan(value):
            raise ValueError("one class only")  # as the built-in metrics do
        return MetricValue(value)

    return MetricSpec(name="auroc_ranks", kind="scores", compute=compute)


class RecordingMetric:
    """A metric that keeps the :class:`ScoreData` it was given and reports fixed details,
    among them a ``seed``/``unit``/``replicates`` of its own that the recipe must override."""

    details: ClassVar[dict[str, object]] = {
        "seed": 99,
        "unit": "record",
        "valid_replicates": 3,
        "replicates": 7,
    }

    def __init__(self) -> None:
        self.seen: list[ScoreData] = []
        self.spec = MetricSpec(
            name="recorded", kind="scores", compute=self.compute, higher_is_better=False
        )

    def compute(self, data: ScoreData) -> MetricValue:
        self.seen.append(data)
        return MetricValue(0.25, 0.125, 0.5, details=dict(self.details))


def binary_predictions() -> pd.DataFrame:
    """Internal rows first, then external; integer scores and integer patient ids, two
    records per patient."""
    rng = np.random.default_rng(3)
    frames = []
    for split, n in (("internal", 30), ("external", 20)):
        labels = (np.arange(n) % 3 == 0).astype(int)
        frames.append(
            pd.DataFrame(
                {
                    "record_id": [f"{split}{i}" for i in range(n)],
                    "patient_id": 1000 + np.arange(n) // 2,
                    "label": labels,
                    "score": labels * 4 + rng.integers(0, 8, n),
                    "split": split,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def split_resamples(predictions: pd.DataFrame) -> dict[str, np.ndarray]:
    """The recipe's shared resamples of each split, rows in prediction order."""
    return {
        str(split): RECIPE.resamples(rows["patient_id"].astype(str).to_numpy())
        for split, rows in predictions.groupby("split", sort=False)
    }


def multilabel_predictions(seed: int, n: int = 24, split: str = "internal") -> pd.DataFrame:
    """``LABELS`` for ``n`` records of ``n // 2`` patients: ``common`` balanced, ``absent``
    never positive, ``rare`` positive for the first patient's two records only."""
    rng = np.random.default_rng(seed)
    common = (np.arange(n) % 2).astype(int)
    rare = (np.arange(n) < 2).astype(int)
    frame = pd.DataFrame(
        {"record_id": [f"r{i}" for i in range(n)], "patient_id": [f"p{i // 2}" for i in range(n)]}
    )
    for name, labels in zip(LABELS, (common, np.zeros(n, dtype=int), rare), strict=True):
        frame[f"label:{name}"] = labels
        frame[f"score:{name}"] = labels * 0.8 + rng.random(n)
    frame["split"] = split
    return frame


def expected_macro(
    y_true: np.ndarray, y_score: np.ndarray, resamples: np.ndarray
) -> dict[str, object]:
    """The macro AUROC worked out label by label from ranks: per-label points and
    resample values, the macro on every resample with undefined label values filled by
    the label's point, and how many were filled."""
    n_labels = y_true.shape[1]
    points = np.array([rank_auroc(y_true[:, k], y_score[:, k]) for k in range(n_labels)])
    reps = np.full((n_labels, len(resamples)), np.nan)
    for k in range(n_labels):
        if np.isnan(points[k]):
            continue
        for r, counts in enumerate(resamples):
            reps[k, r] = rank_auroc(*on_resample(counts, y_true[:, k], y_score[:, k]))
    scored = [k for k in range(n_labels) if not np.isnan(points[k])]
    macro = np.array(
        [
            np.mean([reps[k, r] if np.isfinite(reps[k, r]) else points[k] for k in scored])
            for r in range(len(resamples))
        ]
    )
    filled = sum(int(np.isnan(reps[k, r])) for k in scored for r in range(len(resamples)))
    return {
        "point": float(np.mean(points[scored])),
        "replicates": macro,
        "label_points": points,
        "label_replicates": reps,
        "filled": filled,
    }


def label_arrays(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(y_true, y_score, groups)`` of a multi-label predictions frame, labels in order."""
    y_true = frame[[f"label:{n}" for n in LABELS]].to_numpy()
    y_score = frame[[f"score:{n}" for n in LABELS]].to_numpy()
    return y_true, y_score, frame["patient_id"].to_numpy()


def test_recipe_to_dict_is_the_bootstrap_entry_of_records() -> None:
    assert RECIPE.to_dict() == {
        "replicates": 40, "seed": 5, "unit": "patient", "stratified": False
    }  # fmt: skip


def test_recipe_resamples_whole_patients_with_its_replicates_and_seed() -> None:
    groups = np.array(["a", "a", "b", "c", "c", "c", "d", "e"])
    counts = RECIPE.resamples(groups)
    assert counts.shape == (40, 8)
    patients = {"a": [0, 1], "b": [2], "c": [3, 4, 5], "d": [6], "e": [7]}
    for columns in patients.values():  # a patient's records come and go together
        assert (counts[:, columns] == counts[:, columns[:1]]).all()
    drawn = sum(counts[:, columns[0]] for columns in patients.values())
    assert (drawn == len(patients)).all()  # each replicate draws five patients
    assert np.array_equal(counts, bootstrap_indices(groups, replicates=40, seed=5))
    assert np.array_equal(counts, RECIPE.resamples(groups))
    assert not np.array_equal(counts, BootstrapRecipe(40, 6, "patient").resamples(groups))


def test_recipe_with_record_unit_draws_records_independently() -> None:
    groups = np.array(["a"] * 6 + ["b"] * 6)
    recipe = BootstrapRecipe(replicates=30, seed=2, unit="record")
    counts = recipe.resamples(groups)
    assert counts.shape == (30, 12) and (counts.sum(axis=1) == 12).all()
    assert (counts[:, :6] != counts[:, :1]).any()  # one patient's records are split up
    expected = bootstrap_indices(groups, replicates=30, seed=2, unit="record")
    assert np.array_equal(counts, expected)


def test_score_record_fields_name_the_metric_value_ci_counts_and_bootstrap() -> None:
    spec = MetricSpec(name="brier", kind="scores", compute=print, higher_is_better=False)
    score = Score("external", spec, MetricValue(0.2, 0.1, 0.3), 50, 7, {"replicates": 40})
    assert score.record_fields() == {
        "split": "external",
        "metric": "brier",
        "value": 0.2,
        "ci_low": 0.1,
        "ci_high": 0.3,
        "n": 50,
        "n_positive": 7,
        "higher_is_better": False,
        "bootstrap": {"replicates": 40},
    }


def test_binary_scores_are_sklearn_auroc_with_the_percentile_ci_of_the_shared_resamples() -> None:
    predictions = binary_predictions()
    resamples = split_resamples(predictions)
    scores = score_predictions(predictions, [builtin_auroc()], resamples, RECIPE)
    assert [s.split for s in scores] == ["internal", "external"]  # order of appearance
    for score in scores:
        rows = predictions[predictions["split"] == score.split]
        y, s = rows["label"].to_numpy(), rows["score"].to_numpy()
        assert score.value.value == pytest.approx(roc_auc_score(y, s))
        values = np.array([rank_auroc(*on_resample(c, y, s)) for c in resamples[score.split]])
        low, high = expected_ci(values)
        assert (score.value.ci_low, score.value.ci_high) == (
            pytest.approx(low),
            pytest.approx(high),
        )
        assert (score.n, score.n_positive) == (len(rows), int(y.sum()))
        assert score.per_label is None
        assert score.bootstrap == {
            "valid_replicates": int(np.isfinite(values).sum()),
            "replicates": 40,
            "seed": 5,
            "unit": "patient",
            "stratified": False,
        }


def test_binary_metric_receives_float_scores_string_patients_and_the_split_resamples() -> None:
    predictions = binary_predictions()
    resamples = split_resamples(predictions)
    recorder = RecordingMetric()
    scores = score_predictions(predictions, [builtin_auroc(), recorder.spec], resamples, RECIPE)
    assert [(s.split, s.metric.name) for s in scores] == [
        ("internal", "auroc"),
        ("internal", "recorded"),
        ("external", "auroc"),
        ("external", "recorded"),
    ]
    for split, data in zip(("internal", "external"), recorder.seen, strict=True):
        rows = predictions[predictions["split"] == split]
        assert np.array_equal(data.y_true, rows["label"].to_numpy())
        assert data.y_score.dtype == np.float64
        assert np.array_equal(data.y_score, rows["score"].to_numpy())
        assert data.groups.tolist() == [str(p) for p in rows["patient_id"]]
        assert data.replicate_indices is resamples[split]
    recorded = scores[1]
    assert (recorded.value.value, recorded.n, recorded.n_positive) == (0.25, 30, 10)
    # the metric's own seed, unit and replicate count give way to the recipe's, whose
    # entries follow the metric's other details
    assert recorded.bootstrap == {
        "valid_replicates": 3,
        "replicates": 40,
        "seed": 5,
        "unit": "patient",
        "stratified": False,
    }
    assert list(recorded.bootstrap) == [
        "valid_replicates", "replicates", "seed", "unit", "stratified"
    ]  # fmt: skip


@pytest.mark.parametrize("metric", [builtin_auroc(), per_resample_auroc()], ids=lambda m: m.name)
def test_macro_values_fill_undefined_label_values_with_the_label_point(metric: MetricSpec) -> None:
    y_true, y_score, groups = label_arrays(multilabel_predictions(seed=1))
    resamples = RECIPE.resamples(groups)
    expected = expected_macro(y_true, y_score, resamples)
    macro = macro_values(metric, y_true, y_score, groups, resamples)
    for k in (0, 2):  # the independent AUROC agrees with sklearn's
        assert expected["label_points"][k] == pytest.approx(
            roc_auc_score(y_true[:, k], y_score[:, k])
        )
    assert macro.point == pytest.approx(expected["point"])
    assert macro.replicates.shape == (40,)
    assert macro.replicates == pytest.approx(expected["replicates"])
    assert macro.label_points == pytest.approx(expected["label_points"], nan_ok=True)
    assert macro.label_replicates == pytest.approx(expected["label_replicates"], nan_ok=True)
    assert 0 < macro.filled == expected["filled"] < 40  # the rare label is sometimes left out


def test_macro_values_of_one_class_labels_are_nan_everywhere_without_warnings() -> None:
    frame = multilabel_predictions(seed=2)
    frame[[f"label:{n}" for n in LABELS]] = 1
    y_true, y_score, groups = label_arrays(frame)
    resamples = RECIPE.resamples(groups)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "mean of empty slice" from numpy
        macro = macro_values(per_resample_auroc(), y_true, y_score, groups, resamples)
    assert np.isnan(macro.point) and macro.filled == 0
    assert macro.replicates.shape == (40,) and np.isnan(macro.replicates).all()
    assert np.isnan(macro.label_points).all() and macro.label_replicates.shape == (3, 40)
    assert np.isnan(macro.label_replicates).all()


def test_macro_score_reports_macro_ci_and_every_label_with_its_positives() -> None:
    frame = multilabel_predictions(seed=1, split="external")
    y_true, y_score, groups = label_arrays(frame)
    resamples = RECIPE.resamples(groups)
    expected = expected_macro(y_true, y_score, resamples)
    score = macro_score("external", frame, LABELS, per_resample_auroc(), resamples, RECIPE)
    assert (score.split, score.metric.name) == ("external", "auroc_ranks")
    low, high = expected_ci(expected["replicates"])
    assert score.value == MetricValue(
        pytest.approx(expected["point"]), pytest.approx(low), pytest.approx(high)
    )
    assert (score.n, score.n_positive) == (24, 13)  # 12 common positives + the other rare one
    label_ci = [expected_ci(expected["label_replicates"][k]) for k in (0, 2)]
    assert score.per_label == {
        "common": {
            "n_positive": 12,
            "value": pytest.approx(expected["label_points"][0]),
            "ci_low": pytest.approx(label_ci[0][0]),
            "ci_high": pytest.approx(label_ci[0][1]),
        },
        "absent": {"n_positive": 0, "value": None},
        "rare": {
            "n_positive": 2,
            "value": pytest.approx(expected["label_points"][2]),
            "ci_low": pytest.approx(label_ci[1][0]),
            "ci_high": pytest.approx(label_ci[1][1]),
        },
    }
    assert score.bootstrap == {
        "valid_replicates": 40,
        "labels_scored": 2,
        "filled_label_values": expected["filled"],
        "labels": 3,
        "replicates": 40,
        "seed": 5,
        "unit": "patient",
        "stratified": False,
    }


def test_macro_score_without_a_two_class_label_is_nan_without_ci() -> None:
    frame = multilabel_predictions(seed=2)
    frame[[f"label:{n}" for n in LABELS]] = 0
    resamples = RECIPE.resamples(frame["patient_id"].to_numpy())
    score = macro_score("internal", frame, LABELS, builtin_auroc(), resamples, RECIPE)
    assert np.isnan(score.value.value)
    assert (score.value.ci_low, score.value.ci_high) == (None, None)
    assert score.n_positive == 0
    assert score.per_label == {name: {"n_positive": 0, "value": None} for name in LABELS}
    assert score.bootstrap["valid_replicates"] == 0 and score.bootstrap["labels_scored"] == 0


def test_multilabel_metric_receives_float_scores_and_string_patients() -> None:
    frame = multilabel_predictions(seed=4)
    for k, name in enumerate(LABELS):
        frame[f"score:{name}"] = (np.arange(24) * (k + 1)) % 7  # integer scores
    frame["patient_id"] = np.arange(24) // 2  # integer patient ids
    resamples = RECIPE.resamples(frame["patient_id"].astype(str).to_numpy())
    recorder = RecordingMetric()
    (score,) = score_predictions(frame, [recorder.spec], {"internal": resamples}, RECIPE)
    assert score.value.value == 0.25 and score.bootstrap["labels_scored"] == 2
    # once per scored label on the whole set, then on every resample
    assert len(recorder.seen) == 2 * (1 + 40)
    assert all(data.y_score.dtype == np.float64 for data in recorder.seen)
    whole = recorder.seen[-1]  # the last label's value on the whole set
    assert whole.groups.tolist() == [str(i // 2) for i in range(24)]


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_multilabel_predictions_score_every_split_and_metric_as_the_rank_auroc_macro(
    seed: int,
) -> None:
    predictions = pd.concat(
        [
            multilabel_predictions(seed, 20, "internal"),
            multilabel_predictions(seed + 1, 16, "external"),
        ],
        ignore_index=True,
    )
    resamples = split_resamples(predictions)
    metrics = [builtin_auroc(), per_resample_auroc()]
    scores = score_predictions(predictions, metrics, resamples, RECIPE)
    assert [(s.split, s.metric.name) for s in scores] == [
        (split, m.name) for split in ("internal", "external") for m in metrics
    ]
    for score in scores:
        rows = predictions[predictions["split"] == score.split]
        y_true, y_score, _ = label_arrays(rows)
        expected = expected_macro(y_true, y_score, resamples[score.split])
        assert score.value.value == pytest.approx(expected["point"])
        low, high = expected_ci(expected["replicates"])
        assert (score.value.ci_low, score.value.ci_high) == (
            pytest.approx(low),
            pytest.approx(high),
        )
        assert score.bootstrap["filled_label_values"] == expected["filled"]


class _RunlessMetric:
    """A saliency metric without a run-level implementation."""

    @hookimpl
    def bench_register_metrics(self, register):
        register(MetricSpec("runless", "saliency", compute=lambda data: None))


def test_select_metrics_takes_the_defaults_then_the_requested_once(host) -> None:
    chosen = [m.name for m in select_metrics(host, ["brier", "auroc", "saliency_gini"])]
    assert chosen == ["auprc", "auroc", "brier", "saliency_gini"]
    assert [m.name for m in select_metrics(host, ["ece"], defaults=False)] == ["ece"]


@pytest.mark.parametrize(
    ("requested", "defaults", "message"),
    [
        (["wasserstein_w1"], True, "compares image sets and cannot run per cell"),
        (["runless"], True, r"'runless' \(saliency\) has no run-level implementation"),
        ([], False, "no metric to compute: with --no-default-metrics pass --metric NAME"),
    ],
)
def test_select_metrics_refuses_what_a_run_cannot_compute(
    host, requested: list[str], defaults: bool, message: str
) -> None:
    host.register(_RunlessMetric(), "runless-metric")
    try:
        with pytest.raises(RunError, match=message):
            select_metrics(host, requested, defaults)
    finally:
        host.unregister("runless-metric")
