"""Multi-label tasks: cohort columns, BCE training and probing, macro metrics, records."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from bench.data.cohort import Cohort, CohortError
from bench.data.labels import label_columns, prediction_labels
from bench.host.specs import BuiltModel, MetricSpec, MetricValue
from bench.run.scoring import BootstrapRecipe, score_predictions
from bench.statistics.resampling import bootstrap_indices
from bench.training import TrainConfig
from bench.training.datasets import ArrayDataset
from bench.training.loop import fine_tune
from bench.training.probe import linear_probe
from bench.training.selection import auroc
from tests.engine.test_engine import SIZE, _built, _spec

LABELS = ("top", "bottom", "left")


def _manifest(n: int = 6) -> pd.DataFrame:
    rows = {"record_id": [f"r{i}" for i in range(n)], "patient_id": [f"p{i}" for i in range(n)]}
    frame = pd.DataFrame({**rows, "site": "A"})
    for k, name in enumerate(LABELS):
        frame[f"label:{name}"] = [(i + k) % 2 for i in range(n)]
    return frame


def _cohort(manifest: pd.DataFrame) -> Cohort:
    return Cohort("t", "test", "1", manifest, lambda r: None, "k", labels=LABELS)  # type: ignore[arg-type,return-value]


def test_cohort_derives_any_positive_and_validates_every_label_column() -> None:
    cohort = _cohort(_manifest())
    expected = cohort.manifest[label_columns(LABELS)].max(axis=1)
    assert cohort.manifest["label"].tolist() == expected.tolist()
    bad = _manifest()
    bad.loc[2, "label:bottom"] = 2
    with pytest.raises(CohortError, match=r"label:bottom must be 0 or 1, record 'r2' has .*2"):
        _cohort(bad)
    with pytest.raises(CohortError, match=r"lacks columns \['label', 'label:left'\]"):
        _cohort(_manifest().drop(columns="label:left"))
    # the label columns are part of the content hash
    flipped = _manifest()
    flipped["label:left"] = 1 - flipped["label:left"]
    assert _cohort(flipped).content_hash() != cohort.content_hash()


def stripe_matrix(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Grey images with independent bright stripes at the top, bottom and left edge."""
    rng = np.random.default_rng(seed)
    labels = rng.random((n, 3)) < 0.4
    images = rng.integers(90, 160, size=(n, SIZE, SIZE, 3)).astype(np.uint8)
    for i, (top, bottom, left) in enumerate(labels):
        if top:
            images[i, 2:6] = 240
        if bottom:
            images[i, -6:-2] = 240
        if left:
            images[i, :, 2:6] = 240
    return images, labels.astype(np.int64)


def _sets() -> tuple[ArrayDataset, ArrayDataset, dict[str, ArrayDataset]]:
    array, labels = stripe_matrix(200, 5)
    parts = {"train": range(0, 120), "val": range(120, 160), "internal": range(160, 200)}
    ds = {k: ArrayDataset(array, np.array(r), labels[list(r)], "image") for k, r in parts.items()}
    return ds["train"], ds["val"], {"internal": ds["internal"]}


def _built_k(k: int) -> BuiltModel:
    """TinyNet with K outputs (the runner builds multi-label models with num_classes=K)."""
    built = _built()
    built.module.head = torch.nn.Linear(16, k)  # type: ignore[assignment]
    return built


def test_fine_tune_trains_k_sigmoid_outputs_with_bce() -> None:
    train, val, evals = _sets()
    config = TrainConfig(epochs=8, batch_size=16, device="cpu", pos_weight=True)
    result = fine_tune(_built_k(3), _spec(), train, val, evals, config)
    scores = result.scores["internal"]
    assert scores.shape == (40, 3) and ((scores >= 0) & (scores <= 1)).all()
    assert auroc(evals["internal"].labels, scores) > 0.8
    assert result.details["loss"] == "bce" and len(result.details["pos_weight"]) == 3
    # the selected evaluation is the best macro validation AUROC
    best = max(h["validation_auroc"] for h in result.history)
    assert auroc(val.labels, result.scores["validation"]) == pytest.approx(best)


def test_multilabel_fine_tune_needs_k_outputs() -> None:
    train, val, evals = _sets()
    config = TrainConfig(epochs=1, batch_size=16, device="cpu")
    with pytest.raises(ValueError, match="size"):
        fine_tune(_built(), _spec(), train, val, evals, config)  # 2 outputs for 3 labels
    result = fine_tune(_built_k(3), _spec(), train, val, evals, config)
    assert result.scores["validation"].shape == (40, 3)


def test_linear_probe_fits_one_regression_per_label() -> None:
    train, val, evals = _sets()
    result = linear_probe(_built(), _spec(), train, val, evals, TrainConfig(device="cpu"))
    assert result.scores["internal"].shape == (40, 3)
    assert auroc(evals["internal"].labels, result.scores["internal"]) > 0.8


def _predictions(rng: np.random.Generator, n: int) -> pd.DataFrame:
    frame = pd.DataFrame(
        {"record_id": [f"r{i}" for i in range(n)], "patient_id": [f"p{i // 2}" for i in range(n)]}
    )
    for name in LABELS:
        y = (rng.random(n) < 0.3).astype(int)
        y[:2] = [0, 1]
        frame[f"label:{name}"] = y
        frame[f"score:{name}"] = np.clip(y * 0.3 + rng.random(n), 0, 1)
    frame["split"] = "internal"
    return frame


def _auroc_metric() -> MetricSpec:
    return MetricSpec(
        name="auroc",
        kind="scores",
        compute=lambda d: _value(auroc(d.y_true, d.y_score)),
    )


def _value(v: float) -> MetricValue:
    return MetricValue(float(v))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(20, 80))
def test_macro_metric_is_the_mean_of_per_label_values(seed: int, n: int) -> None:
    predictions = _predictions(np.random.default_rng(seed), n)
    assert prediction_labels(predictions) == list(LABELS)
    recipe = BootstrapRecipe(replicates=50, seed=0, unit="patient")
    resamples = {"internal": recipe.resamples(predictions["patient_id"].to_numpy())}
    (score,) = score_predictions(predictions, [_auroc_metric()], resamples, recipe)
    expected = [roc_auc_score(predictions[f"label:{n}"], predictions[f"score:{n}"]) for n in LABELS]
    assert score.value.value == pytest.approx(np.mean(expected))
    assert score.per_label is not None
    for name, value in zip(LABELS, expected, strict=True):
        assert score.per_label[name]["value"] == pytest.approx(value)
    assert score.value.ci_low is not None and score.value.ci_high is not None
    assert score.value.ci_low <= score.value.ci_high
    assert score.n_positive == int(predictions[label_columns(LABELS)].any(axis=1).sum())


@settings(max_examples=10, deadline=None)
@given(minimum=st.integers(12, 22))
def test_labels_with_too_few_test_positives_are_left_out_and_listed(minimum: int) -> None:
    predictions = _predictions(np.random.default_rng(3), 60)
    counts = {n: int(predictions[f"label:{n}"].sum()) for n in LABELS}
    recipe = BootstrapRecipe(replicates=20, seed=0, unit="patient", min_label_positives=minimum)
    resamples = {"internal": recipe.resamples(predictions["patient_id"].to_numpy())}
    (score,) = score_predictions(predictions, [_auroc_metric()], resamples, recipe)
    kept = [n for n in LABELS if counts[n] >= minimum]
    assert score.per_label is not None and score.bootstrap["labels_scored"] == len(kept)
    assert score.bootstrap["min_label_positives"] == minimum
    for name in LABELS:
        if name not in kept:
            assert score.per_label[name]["value"] is None
            assert score.per_label[name]["left_out"] == f"fewer than {minimum} test positives"
    expected = [roc_auc_score(predictions[f"label:{n}"], predictions[f"score:{n}"]) for n in kept]
    assert score.value.value == pytest.approx(np.mean(expected) if kept else np.nan, nan_ok=True)
    # the rule is part of the recipe's key: records scored without it are re-scored
    assert recipe.key() != BootstrapRecipe(20, 0, "patient").key()
    assert BootstrapRecipe.stored_key(recipe.to_dict()) == recipe.key()


def test_a_one_class_label_is_left_out_of_the_macro() -> None:
    predictions = _predictions(np.random.default_rng(0), 40)
    predictions["label:left"] = 0
    recipe = BootstrapRecipe(replicates=20, seed=0, unit="patient")
    resamples = {
        "internal": bootstrap_indices(predictions["patient_id"].to_numpy(), replicates=20, seed=0)
    }
    (score,) = score_predictions(predictions, [_auroc_metric()], resamples, recipe)
    assert score.per_label is not None and score.per_label["left"]["value"] is None
    assert score.bootstrap["labels_scored"] == 2 and score.bootstrap["labels"] == 3
    expected = [
        roc_auc_score(predictions[f"label:{n}"], predictions[f"score:{n}"]) for n in LABELS[:2]
    ]
    assert score.value.value == pytest.approx(np.mean(expected))


@pytest.mark.ludb
def test_ludb_rhythm_morphology_statements_have_their_positives(host, ludb_dir, ludb_facts) -> None:
    """All 27 statements have 5 positives in the full set (the task's rule); 26 are present
    in the committed subset."""
    task = host.registries.tasks.get("ludb-rhythm-morphology")
    cohort = task.loaders["ludb"]({"path": str(ludb_dir)})
    assert cohort.labels == task.labels and len(task.labels) >= 20
    counts = cohort.manifest[label_columns(task.labels)].sum()
    common = counts >= ludb_facts.statement_positives
    assert common.sum() == ludb_facts.statements, counts[~common]
    assert counts["label:lvh"] == ludb_facts.lvh
    assert counts["label:sinus-rhythm"] == ludb_facts.sinus_rhythm


@pytest.mark.ludb
def test_bench_run_on_a_multilabel_task_writes_macro_records(cli, run_args, ludb_dir, tmp_path):
    from click.testing import CliRunner

    args = ["run", "-m", "tiny-cnn", "-t", "ludb-rhythm-morphology"]
    args += ["--source-option", f"ludb.path={ludb_dir}", *run_args, "--run-name", "ml"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "AUROC" in result.output
    run = tmp_path / "runs" / "ml"
    records = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    auroc_records = [r for r in records if r["metric"] == "auroc"]
    assert auroc_records and all(r["ci_low"] <= r["ci_high"] for r in auroc_records)
    per_label = auroc_records[0]["details"]["per_label"]
    scored = [v["value"] for v in per_label.values() if v["value"] is not None]
    assert auroc_records[0]["value"] == pytest.approx(np.mean(scored))
    cell = next((run / "cells").iterdir())
    predictions = pd.read_csv(cell / "predictions.csv")
    assert {"score:lvh", "label:lvh"} <= set(predictions.columns)
    assert "score" not in predictions.columns


def _multilabel_store(root: Path) -> Path:
    """Two models' multi-label predictions on one test set for two seeds (a Finding needs
    two), scored as the runner scores them, with records as the runner writes them."""
    from dataclasses import replace

    from bench.host.manager import PluginHost
    from bench.run.records import ResultRecord, dumps

    host = PluginHost()
    host.load_default_plugins()
    metrics = [host.registries.metrics.get(m) for m in ("auroc", "auprc")]
    rng = np.random.default_rng(1)
    base = _predictions(rng, 200)
    recipe = BootstrapRecipe(replicates=50, seed=0, unit="patient")
    resamples = {"internal": recipe.resamples(base["patient_id"].to_numpy())}
    template = ResultRecord(
        run_id="ml", model="", task="ml-task", source="s", fraction=1.0, seed=0,
        split="internal", metric="", value=0.0, task_version="1", source_version="1",
        render_hash="r", protocol="finetune", created="2026-01-01T00:00:00",
    )  # fmt: skip
    records = []
    (root / "predictions").mkdir(parents=True)
    for seed, (model, strength) in itertools.product((0, 1), (("good", 2.0), ("weak", 0.0))):
        frame = base.copy()
        for name in LABELS:
            frame[f"score:{name}"] = frame[f"label:{name}"] * strength + rng.normal(size=200)
        path = f"predictions/{model}_{seed}.csv"
        frame.to_csv(root / path, index=False)
        for s in score_predictions(frame, metrics, resamples, recipe):
            records.append(
                replace(
                    template, model=model, seed=seed, init="random", arch=model, experiment=model,
                    metric=s.metric.name, value=s.value.value, ci_low=s.value.ci_low,
                    ci_high=s.value.ci_high, n=s.n, n_positive=s.n_positive,
                    bootstrap=s.bootstrap,
                    details={"predictions": path, "per_label": s.per_label},
                )
            )  # fmt: skip
    (root / "results.jsonl").write_text(dumps(records))
    return root


def test_leaderboard_pairs_macro_values_and_drills_down_per_label(tmp_path: Path) -> None:
    import click
    from bench.leaderboard.plugin import bench_register_commands
    from click.testing import CliRunner

    run = _multilabel_store(tmp_path / "runs" / "ml")
    cli = click.Group("bench")
    bench_register_commands(cli)
    common = [str(tmp_path / "runs"), "--reference", "good", "--replicates", "50"]
    md = CliRunner().invoke(cli, ["leaderboard", *common])
    assert md.exit_code == 0, md.output
    assert "Δ good vs weak" in md.output
    assert "no paired test" not in md.output and "do not cover" not in md.output
    assert "†" in md.output.split("Δ good vs weak")[1].splitlines()[0]  # paired CI excludes 0
    html = CliRunner().invoke(cli, ["leaderboard", *common, "--format", "html"])
    assert html.exit_code == 0, html.output
    page = html.output
    assert page.count("Per-label values (3 labels") == 2  # AUROC and AUPRC tables
    for label in LABELS:
        assert f"<td>{label}</td>" in page
    assert run.is_dir()
