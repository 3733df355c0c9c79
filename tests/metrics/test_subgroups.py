"""``subgroup_auroc`` / ``subgroup_auprc``: per-subgroup metrics with patient-level CIs and
the largest gap with a paired CI, checked against an independent bootstrap (scikit-learn with
sample weights on every row of the shared resample matrix) and end to end on LUDB."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bench.plugins.metrics.subgroups import MIN_POSITIVES, subgroup_breakdown
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score

from bench.api import MetricValue, ScoreData, bootstrap_indices
from bench.run.records import load_records

SKLEARN = {"auroc": roc_auc_score, "auprc": average_precision_score}
#: Raw manifest values → the subgroup each must land in (None: unknown, left out).
SEX = {"M": "m", "F": "f", " f ": "f", "": None, "unknown": None}
AGE = {"25": "<40", "40": "40-65", "52": "40-65", "65": "40-65", "70.5": ">65", ">89": ">65",
       "": None, "n/a": None}  # fmt: skip


def cohort(seed: int = 0, patients: int = 500, replicates: int = 200) -> dict:
    """Records of 1-3 per patient with raw sex/age/site manifest values, labels, scores that
    separate the classes better for men than for women, and the shared patient resamples."""
    rng = np.random.default_rng(seed)
    per_patient = rng.integers(1, 4, patients)
    patient = np.repeat(np.arange(patients), per_patient)
    sex = rng.choice(list(SEX), patients, p=[0.4, 0.3, 0.1, 0.1, 0.1])[patient]
    age = rng.choice(list(AGE), patients)[patient]
    site = rng.choice(["A", "B", "C"], patients, p=[0.5, 0.4, 0.1])[patient]
    y = (rng.random(len(patient)) < 0.3).astype(int)
    separation = np.where(np.isin(sex, ["M"]), 2.0, 0.4)
    score = rng.normal(size=len(y)) + y * separation
    groups = patient.astype(str)
    return {
        "y": y,
        "score": score,
        "groups": groups,
        "covariates": {"sex": sex.astype(object), "age": age.astype(object), "site": site},
        "truth": {
            "sex": np.array([SEX[v] for v in sex], dtype=object),
            "age": np.array([AGE[v] for v in age], dtype=object),
            "site": site.astype(object),
        },
        "resamples": bootstrap_indices(groups, replicates=replicates, seed=seed + 1),
    }


def independent_values(metric: str, y, score, weights) -> np.ndarray:
    """``metric`` by scikit-learn on every row of ``weights`` (NaN where a class is absent)."""
    values = np.full(len(weights), np.nan)
    for r, w in enumerate(weights):
        if w[y == 1].sum() and w[y == 0].sum():
            values[r] = SKLEARN[metric](y, score, sample_weight=w)
    return values


def compute(host, name: str, data: dict) -> MetricValue:
    spec = host.registries.metrics.get(name)
    return spec.compute(
        ScoreData(data["y"], data["score"], data["groups"], data["resamples"], data["covariates"])
    )


def test_specs_are_registered_as_optional_lower_is_better_score_metrics(host):
    for name in ("subgroup_auroc", "subgroup_auprc"):
        spec = host.registries.metrics.get(name)
        assert (spec.kind, spec.default, spec.higher_is_better) == ("scores", False, False)


@pytest.mark.parametrize("metric", ["auroc", "auprc"])
def test_subgroup_ci_equals_an_independent_patient_bootstrap(host, metric):
    data = cohort()
    value = compute(host, f"subgroup_{metric}", data)
    checked = 0
    for dimension, truth in data["truth"].items():
        entries = value.details["dimensions"][dimension]["subgroups"]
        for name, entry in entries.items():
            members = truth == name
            y, score = data["y"][members], data["score"][members]
            assert (entry["n"], entry["n_positive"]) == (members.sum(), y.sum())
            if "not scored" in entry:
                continue
            values = independent_values(metric, y, score, data["resamples"][:, members])
            low, high = np.percentile(values[np.isfinite(values)], [2.5, 97.5])
            assert entry["value"] == pytest.approx(SKLEARN[metric](y, score), abs=1e-12)
            assert (entry["ci_low"], entry["ci_high"]) == pytest.approx((low, high), abs=1e-12)
            assert entry["valid_replicates"] == np.isfinite(values).sum()
            checked += 1
    assert checked >= 6  # m, f, three age bands, sites A and B at least


def test_unknown_sex_and_age_are_left_out_and_over_89_is_over_65(host):
    data = cohort(seed=2)
    details = compute(host, "subgroup_auroc", data).details["dimensions"]
    assert set(details["sex"]["subgroups"]) == {"m", "f"}
    assert details["sex"]["unknown"] == sum(v is None for v in data["truth"]["sex"])
    assert set(details["age"]["subgroups"]) == {"<40", "40-65", ">65"}
    assert details["age"]["unknown"] == sum(v is None for v in data["truth"]["age"])
    over_65 = np.isin(data["covariates"]["age"], [">89", "70.5"]).sum()
    assert details["age"]["subgroups"][">65"]["n"] == over_65
    assert details["site"]["unknown"] == 0


@settings(max_examples=25, deadline=None)
@given(positives=st.integers(0, 14), negatives=st.integers(0, 3))
def test_subgroups_under_the_minimum_are_listed_not_scored(positives, negatives):
    rng = np.random.default_rng(positives * 10 + negatives)
    n_big = 60
    y = np.r_[np.tile([0, 1], n_big // 2), np.ones(positives, int), np.zeros(negatives, int)]
    site = np.array(["big"] * n_big + ["small"] * (positives + negatives), dtype=object)
    groups = np.arange(len(y)).astype(str)
    resamples = bootstrap_indices(groups, replicates=20, seed=0)
    value = subgroup_breakdown("auroc", y, rng.random(len(y)), {"site": site}, resamples)
    entries = value.details["dimensions"]["site"]["subgroups"]
    assert entries["big"]["n_positive"] == n_big // 2 and "value" in entries["big"]
    if positives + negatives == 0:
        assert set(entries) == {"big"}
    else:
        small = entries["small"]
        assert (small["n"], small["n_positive"]) == (positives + negatives, positives)
        assert ("value" in small) == (positives >= MIN_POSITIVES and negatives >= 1)
        assert ("not scored" in small) != ("value" in small)
    two_scored = positives >= MIN_POSITIVES and negatives >= 1
    assert math.isnan(value.value) != two_scored
    assert ("undefined" in value.details) != two_scored


@pytest.mark.parametrize("metric", ["auroc", "auprc"])
def test_gap_ci_is_the_paired_difference_of_the_same_two_subgroups(host, metric):
    data = cohort(seed=1)
    value = compute(host, f"subgroup_{metric}", data)
    dimensions = value.details["dimensions"]
    gap = dimensions["sex"]["gap"]
    assert gap["pair"] == ["m", "f"]  # the scores separate men's classes far better
    best, worst = (data["truth"]["sex"] == name for name in gap["pair"])
    points = [SKLEARN[metric](data["y"][m], data["score"][m]) for m in (best, worst)]
    assert gap["value"] == pytest.approx(points[0] - points[1], abs=1e-12)
    a, b = (
        independent_values(metric, data["y"][m], data["score"][m], data["resamples"][:, m])
        for m in (best, worst)
    )
    valid = np.isfinite(a) & np.isfinite(b)
    diffs = a[valid] - b[valid]
    assert (gap["ci_low"], gap["ci_high"]) == pytest.approx(
        tuple(np.percentile(diffs, [2.5, 97.5])), abs=1e-12
    )
    assert gap["ci_low"] <= gap["value"] <= gap["ci_high"]
    tail = min((diffs <= 0).sum(), (diffs >= 0).sum())
    assert gap["p_value"] == pytest.approx(min(1.0, 2 * (tail + 1) / (valid.sum() + 1)))
    gaps = {d: e["gap"]["value"] for d, e in dimensions.items() if e["gap"] is not None}
    largest = max(gaps, key=lambda d: gaps[d])
    assert value.details["largest_gap"]["dimension"] == largest
    assert (value.value, value.ci_low, value.ci_high) == (
        gaps[largest],
        dimensions[largest]["gap"]["ci_low"],
        dimensions[largest]["gap"]["ci_high"],
    )


def test_without_a_scorable_dimension_the_value_is_nan_and_says_why(host):
    data = cohort()
    empty = ScoreData(data["y"], data["score"], data["groups"], data["resamples"])
    value = host.registries.metrics.get("subgroup_auroc").compute(empty)
    assert math.isnan(value.value) and value.ci_low is None
    assert "none in the covariates" in value.details["undefined"]
    one_site = {"site": np.full(len(data["y"]), "X", dtype=object)}
    value = compute(host, "subgroup_auroc", {**data, "covariates": one_site})
    assert math.isnan(value.value)
    assert value.details["dimensions"]["site"]["no gap"].startswith("1 scored subgroup")


def test_a_covariate_of_the_wrong_length_is_an_error(host):
    data = cohort()
    short = {**data["covariates"], "age": data["covariates"]["age"][:-1]}
    with pytest.raises(ValueError, match=r"covariates\['age'\] has \d+ values for \d+ records"):
        compute(host, "subgroup_auroc", {**data, "covariates": short})


def test_bench_rescore_adds_subgroup_auroc_to_a_finished_ludb_run(cli, tmp_path):
    subset = Path(__file__).resolve().parents[1] / "ludb_subset"
    run = ["run", "-m", "resnet1d", "-t", "ludb-lvh", "--source", "ludb", "--source-option",
           f"ludb.path={subset}", "-p", "tiny", "-f", "1.0", "--no-external",
           "-o", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache"),
           "--run-name", "r"]  # fmt: skip
    result = CliRunner().invoke(cli, run, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "runs" / "r"
    rescore = ["rescore", str(run_dir), "--metric", "subgroup_auroc"]
    result = CliRunner().invoke(cli, rescore, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (record,) = [r for r in load_records([run_dir]) if r.metric == "subgroup_auroc"]
    (predictions,) = run_dir.glob("cells/*/predictions.csv")
    rows = pd.read_csv(predictions, dtype={"record_id": str}).query("split == 'internal'")
    table = pd.read_csv(subset / "ludb.csv", dtype=str).set_index("ID")
    sex = table.loc[rows["record_id"], "Sex"].str.strip().str.lower().to_numpy()
    expected = {
        s: {"n": int((sex == s).sum()), "n_positive": int(rows["label"][sex == s].sum())}
        for s in np.unique(sex)
    }
    listed = record.bootstrap["dimensions"]["sex"]["subgroups"]
    assert {s: {k: e[k] for k in ("n", "n_positive")} for s, e in listed.items()} == expected
    assert all(e["not scored"].endswith(f"fewer than {MIN_POSITIVES}") for e in listed.values())
    assert math.isnan(record.value) and "undefined" in record.bootstrap
    json.dumps(record.to_dict())  # the breakdown is plain JSON


LABELS = ("common", "other", "rare")


def multilabel_cohort(seed: int = 3, patients: int = 400, replicates: int = 50) -> dict:
    """Three labels on the sex/age/site cohort of :func:`cohort`; ``rare`` has its positives
    among men only (>= MIN_POSITIVES), so it is scorable for men and not for women."""
    data = cohort(seed=seed, patients=patients, replicates=replicates)
    rng = np.random.default_rng(seed + 10)
    n, men = len(data["y"]), data["truth"]["sex"] == "m"
    other = (rng.random(n) < 0.4).astype(int)
    rare = (men & (rng.random(n) < 0.2)).astype(int)
    women = np.flatnonzero(data["truth"]["sex"] == "f")
    rare[women[: MIN_POSITIVES - 3]] = 1  # listed with its few positives, not scored
    y = np.stack([data["y"], other, rare], axis=1)
    separation = np.where(men, 2.0, 0.5)[:, None]
    score = rng.normal(size=y.shape) + y * separation
    return {**data, "y": y, "score": score}


def independent_macro(metric: str, y, score, weights) -> tuple[float, np.ndarray, list[int]]:
    """A subgroup's macro by scikit-learn: over the labels with >= MIN_POSITIVES positives
    and a negative, on the full set and on every row of ``weights`` (a label undefined on
    a replicate counts its full-set value), and which labels it covers."""
    scorable = [
        k for k in range(y.shape[1]) if y[:, k].sum() >= MIN_POSITIVES and (y[:, k] == 0).any()
    ]
    points, rows = [], []
    for k in scorable:
        point = SKLEARN[metric](y[:, k], score[:, k])
        values = independent_values(metric, y[:, k], score[:, k], weights)
        points.append(point)
        rows.append(np.where(np.isfinite(values), values, point))
    return float(np.mean(points)), np.mean(rows, axis=0), scorable


@pytest.mark.parametrize("metric", ["auroc", "auprc"])
def test_multilabel_subgroups_equal_an_independent_macro_bootstrap(host, metric):
    data = multilabel_cohort()
    spec = host.registries.metrics.get(f"subgroup_{metric}")
    score_data = ScoreData(
        data["y"], data["score"], data["groups"], data["resamples"], data["covariates"]
    )
    value = spec.compute(score_data)
    assert value.details["labels"] == ["0", "1", "2"]  # named by column without names
    value = subgroup_breakdown(
        metric, data["y"], data["score"], data["covariates"], data["resamples"], labels=LABELS
    )
    dimensions, macros, checked = value.details["dimensions"], {}, 0
    for dimension, truth in data["truth"].items():
        for name, entry in dimensions[dimension]["subgroups"].items():
            members = truth == name
            y, score = data["y"][members], data["score"][members]
            assert (entry["n"], entry["n_positive"]) == (members.sum(), y.any(axis=1).sum())
            assert [e["n_positive"] for e in entry["labels"].values()] == list(y.sum(axis=0))
            point, reps, scorable = independent_macro(
                metric, y, score, data["resamples"][:, members]
            )
            assert entry["labels_scored"] == [LABELS[k] for k in scorable]
            if not scorable:
                assert "not scored" in entry
                continue
            low, high = np.percentile(reps, [2.5, 97.5])
            assert entry["value"] == pytest.approx(point, abs=1e-12)
            assert (entry["ci_low"], entry["ci_high"]) == pytest.approx((low, high), abs=1e-12)
            for k in scorable:
                label = entry["labels"][LABELS[k]]
                assert label["value"] == pytest.approx(SKLEARN[metric](y[:, k], score[:, k]))
            macros[dimension, name] = (point, reps)
            checked += 1
    assert checked >= 6
    gap = dimensions["sex"]["gap"]
    assert gap["pair"] == ["m", "f"]
    (best, a), (worst, b) = macros["sex", "m"], macros["sex", "f"]
    diffs = a - b
    assert gap["value"] == pytest.approx(best - worst, abs=1e-12)
    assert (gap["ci_low"], gap["ci_high"]) == pytest.approx(
        tuple(np.percentile(diffs, [2.5, 97.5])), abs=1e-12
    )
    assert gap["same_labels"] is False  # men's macro has "rare", women's does not
    gaps = {d: e["gap"]["value"] for d, e in dimensions.items() if e["gap"] is not None}
    assert value.value == pytest.approx(max(gaps.values()))


def test_a_label_unscorable_in_one_subgroup_is_listed_and_left_out_of_its_macro():
    data = multilabel_cohort(seed=4)
    value = subgroup_breakdown(
        "auroc", data["y"], data["score"], data["covariates"], data["resamples"], labels=LABELS
    )
    sex = value.details["dimensions"]["sex"]["subgroups"]
    women, men = sex["f"], sex["m"]
    assert women["labels"]["rare"] == {
        "n": women["n"],
        "n_positive": MIN_POSITIVES - 3,
        "not scored": f"{MIN_POSITIVES - 3} positive record(s), fewer than {MIN_POSITIVES}",
    }
    assert women["labels_scored"] == ["common", "other"]
    assert men["labels_scored"] == ["common", "other", "rare"]
    scored = [women["labels"][k]["value"] for k in women["labels_scored"]]
    assert women["value"] == pytest.approx(np.mean(scored), abs=1e-12)
    # a subgroup where no label is scorable is listed, not scored
    few = data["resamples"][:, :40]
    small = subgroup_breakdown(
        "auroc", data["y"][:40], data["score"][:40], {"site": data["covariates"]["site"][:40]},
        few, labels=LABELS,
    )  # fmt: skip
    entries = small.details["dimensions"]["site"]["subgroups"].values()
    assert all(e["not scored"].startswith("no label with") for e in entries)
    assert math.isnan(small.value) and "a label of" in small.details["undefined"]


def test_multilabel_scores_of_another_shape_or_label_count_are_errors():
    data = multilabel_cohort()
    with pytest.raises(ValueError, match=r"y_score has shape \(\d+, 2\); expected \(\d+, 3\)"):
        subgroup_breakdown(
            "auroc", data["y"], data["score"][:, :2], data["covariates"], data["resamples"]
        )
    with pytest.raises(ValueError, match="2 label names for 3 label columns"):
        subgroup_breakdown(
            "auroc",
            data["y"],
            data["score"],
            data["covariates"],
            data["resamples"],
            labels=LABELS[:2],
        )


def test_bench_scoring_hands_a_multilabel_task_s_matrix_to_the_subgroup_metrics(host):
    """Through the run's scoring: one subgroup_auroc score per split from the whole label
    matrix with the label names and covariates, while auroc stays macro-averaged."""
    from bench.run.scoring import BootstrapRecipe, score_predictions

    data = multilabel_cohort()
    ids = [f"r{i}" for i in range(len(data["y"]))]
    table = pd.DataFrame({"record_id": ids, "patient_id": data["groups"], "split": "internal"})
    for k, name in enumerate(LABELS):
        table[f"label:{name}"], table[f"score:{name}"] = data["y"][:, k], data["score"][:, k]
    covariates = pd.DataFrame(data["covariates"], index=ids)
    metrics = [host.registries.metrics.get(n) for n in ("auroc", "subgroup_auroc")]
    recipe = BootstrapRecipe(len(data["resamples"]), 0, "patient")
    auroc, subgroups = score_predictions(
        table, metrics, {"internal": data["resamples"]}, recipe, covariates
    )
    assert auroc.per_label is not None and set(auroc.per_label) == set(LABELS)
    expected = subgroup_breakdown(
        "auroc", data["y"], data["score"], data["covariates"], data["resamples"], labels=LABELS
    )
    assert subgroups.per_label is None and subgroups.bootstrap["labels"] == list(LABELS)
    assert subgroups.value.value == expected.value
    assert subgroups.bootstrap["dimensions"] == expected.details["dimensions"]
