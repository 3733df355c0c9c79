"""Regression and survival tasks end to end: cohorts, splits, the objectives' losses and
probes against independent implementations, and `bench run` on fixtures written in the
real layouts of MIMIC-IV-ECG (machine measurements) and CODE-15% (death, follow-up)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.data.cohort import Cohort, CohortError
from bench.data.splits import SplitConfig, make_split
from bench.data.trainable import fraction_problem
from bench.training.objectives import Objective, cox_loss, head_outputs
from bench.training.probe_targets import fit_cox
from bench.training.segments import RecordRule
from tests.data.fixtures_code15 import make_code15_dir
from tests.data.fixtures_physionet import make_mimic_iv_ecg_dir


def _breslow(risk: np.ndarray, times: np.ndarray, events: np.ndarray) -> float:
    """Negative Cox partial log-likelihood per event, Breslow ties, by its definition."""
    terms = [
        np.log(np.exp(risk[times >= times[i]]).sum()) - risk[i]
        for i in range(len(risk))
        if events[i]
    ]
    return float(np.sum(terms) / max(len(terms), 1))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(-3, 3), st.integers(1, 6), st.booleans()
        ),  # risk, time (ties likely), event
        min_size=1,
        max_size=30,
    )
)
def test_cox_loss_is_the_breslow_partial_likelihood(rows) -> None:
    risk, times, events = (np.array(column, dtype=np.float64) for column in zip(*rows, strict=True))
    got = cox_loss(torch.from_numpy(risk), torch.from_numpy(times), torch.from_numpy(events))
    assert float(got) == pytest.approx(_breslow(risk, times, events), rel=1e-9, abs=1e-12)


def test_the_penalised_cox_probe_equals_scikit_survival() -> None:
    """Per-event loss + alpha/2 |b|² is scikit-survival's summed loss + (alpha·events)/2 |b|²."""
    from sksurv.linear_model import CoxPHSurvivalAnalysis

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    times = np.round(rng.exponential(np.exp(-x @ np.array([1.0, -0.5, 0.0, 0.3]))), 1) + 0.1
    events = rng.random(200) < 0.7
    beta, converged = fit_cox(x, np.stack([times, events], 1), alpha=0.01)
    outcome = np.array(list(zip(events, times, strict=True)), dtype=[("e", bool), ("t", float)])
    reference = CoxPHSurvivalAnalysis(alpha=0.01 * events.sum(), ties="breslow").fit(x, outcome)
    assert converged
    np.testing.assert_allclose(beta, reference.coef_, atol=1e-4)


def test_a_regression_objective_trains_on_standardised_targets() -> None:
    targets = np.array([[100.0, 60.0], [120.0, 80.0], [140.0, 100.0]])
    objective = Objective.for_task("regression", targets)
    assert objective.outputs == 2 == head_outputs("regression", ("a", "b"))
    standardised = (targets - targets.mean(0)) / targets.std(0)
    loss = objective.loss(torch.from_numpy(standardised).float(), torch.from_numpy(targets))
    assert float(loss) == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(objective.scores(standardised), targets)
    single = Objective.for_task("regression", targets[:, 0])
    assert single.scores(standardised[:, :1]).shape == (3,)


def test_head_outputs_per_kind() -> None:
    assert head_outputs("classification", ()) == 2
    assert head_outputs("classification", ("a", "b", "c")) == 3
    assert head_outputs("regression", ()) == 1
    assert head_outputs("survival", ()) == 1


def test_a_segment_model_averages_its_windows_outputs_for_regression() -> None:
    rule = RecordRule(("mean", "max"), multilabel=True, kind="regression")
    logits = torch.tensor([[[1.0, 5.0], [3.0, -1.0], [100.0, 100.0]]])
    filled = torch.tensor([[True, True, False]])  # the third slot is empty
    np.testing.assert_allclose(rule.combine(logits, filled).numpy(), [[2.0, 5.0]])


def _manifest(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base = {"record_id": [f"r{i}" for i in range(n)], "patient_id": [f"p{i}" for i in range(n)]}
    return pd.DataFrame({**base, "site": "a", **columns})


def _cohort(manifest: pd.DataFrame, kind: str, labels: tuple[str, ...] = ()) -> Cohort:
    return Cohort("t", "test", "1", manifest, lambda r: None, "k", labels=labels, kind=kind)  # type: ignore[arg-type,return-value]


def test_cohorts_check_targets_and_follow_up_times() -> None:
    with pytest.raises(CohortError, match=r"label must be a finite number, record 'r1' has 'x'"):
        _cohort(_manifest(label=[1.5, "x"]), "regression")
    with pytest.raises(CohortError, match=r"time must be a finite number > 0, record 'r0'"):
        _cohort(_manifest(label=[1, 0], time=[0.0, 2.0]), "survival")
    with pytest.raises(CohortError, match=r"lacks columns \['time'\]"):
        _cohort(_manifest(label=[1, 0]), "survival")
    cohort = _cohort(_manifest(**{"label:a": [1.5, 2.5]}), "regression", ("a",))
    assert cohort.manifest["label"].tolist() == [1.5, 2.5]  # the first target
    with_times = _cohort(_manifest(label=[1, 0], time=[1.0, 2.0]), "survival")
    changed = with_times.manifest.assign(time=[1.0, 3.0])
    assert with_times.content_hash() != with_times.content_hash(changed)


def test_a_regression_split_keeps_each_target_quartile_in_every_set() -> None:
    n = 400
    manifest = _manifest(label=np.arange(n, dtype=float))
    split = make_split(manifest, SplitConfig(), kind="regression")
    for name in ("train", "validation", "test"):
        values = manifest.set_index("record_id").loc[split.sets[name], "label"]
        counts = np.bincount((values // (n / 4)).astype(int), minlength=4)
        assert counts.max() - counts.min() <= 1, (name, counts)


def test_a_fraction_is_skipped_for_a_constant_target_or_too_few_events() -> None:
    assert fraction_problem(np.array([1.0, 1.0]), 2, "regression") is not None
    assert fraction_problem(np.array([[1.0, 2.0], [1.5, 2.0]]), 2, "regression") is not None
    assert fraction_problem(np.array([1.0, 2.0]), 2, "regression") is None
    assert "event" in str(fraction_problem(np.array([1, 0, 0]), 2, "survival"))
    assert fraction_problem(np.array([1, 1]), 2, "survival") is None  # no censoring is fine


def _records(root: Path, run: str) -> list[dict]:
    return [json.loads(line) for line in (root / run / "results.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def mimic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_mimic_iv_ecg_dir(tmp_path_factory.mktemp("mimic"), n_patients=30).root


@pytest.fixture(scope="module")
def code15(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_code15_dir(tmp_path_factory.mktemp("code15"), n_patients=80).root


def _run(cli, tmp_path: Path, task: str, source: str, root: Path, *extra: str):
    args = ["run", "-m", "resnet1d", "-t", task, "--source", source, "-p", "tiny", "-f", "1.0"]
    args += ["--source-option", f"{source}.path={root}", "--output", str(tmp_path / "runs")]
    args += ["--cache-dir", str(tmp_path / "cache"), "--run-name", "k", *extra]
    return CliRunner().invoke(cli, args)


def test_a_tiny_regression_run_reports_mae_with_cis_per_target(cli, mimic, tmp_path) -> None:
    result = _run(cli, tmp_path, "mimic-iv-ecg-measurements", "mimic-iv-ecg", mimic)
    assert result.exit_code == 0, result.output
    records = {r["metric"]: r for r in _records(tmp_path / "runs", "k")}
    assert set(records) == {"mae", "rmse", "r2", "pearson"}
    mae = records["mae"]
    assert mae["higher_is_better"] is False and mae["n_positive"] == 0
    assert mae["task_kind"] == "regression" and mae["schema_version"] == 5
    per_target = mae["details"]["per_label"]
    assert set(per_target) == {"qrs_duration_ms", "qt_ms", "heart_rate_bpm"}
    assert mae["value"] == pytest.approx(np.mean([v["value"] for v in per_target.values()]))
    assert mae["ci_low"] < mae["value"] < mae["ci_high"]
    assert mae["details"]["n_train_positive"] == 0
    assert mae["details"]["training"]["loss"].startswith("mse")
    predictions = pd.read_csv(tmp_path / "runs" / "k" / mae["details"]["predictions"])
    test = predictions[predictions["split"] == "internal"]
    errors = (test["score:qt_ms"] - test["label:qt_ms"]).abs().mean()
    assert per_target["qt_ms"]["value"] == pytest.approx(errors)


def test_a_tiny_survival_run_reports_the_c_index_and_keeps_follow_up(cli, code15, tmp_path) -> None:
    result = _run(cli, tmp_path, "code15-mortality", "code15", code15)
    assert result.exit_code == 0, result.output
    records = {r["metric"]: r for r in _records(tmp_path / "runs", "k")}
    assert set(records) == {"c_index", "td_auroc"}
    assert records["c_index"]["task_kind"] == "survival"
    c_index = records["c_index"]
    predictions = pd.read_csv(tmp_path / "runs" / "k" / c_index["details"]["predictions"])
    test = predictions[predictions["split"] == "internal"]
    assert (test["time"] > 0).all() and c_index["n_positive"] == int(test["label"].sum())
    assert c_index["ci_low"] <= c_index["value"] <= c_index["ci_high"]
    assert len(test) == c_index["n"]  # one (first) exam per patient: death/timey only there


def test_a_linear_probe_fits_ridge_and_penalised_cox(cli, mimic, code15, tmp_path) -> None:
    probe = ("--protocol", "linear-probe")
    regression = _run(cli, tmp_path, "mimic-iv-ecg-measurements", "mimic-iv-ecg", mimic, *probe)
    assert regression.exit_code == 0, regression.output
    survival = _run(cli, tmp_path, "code15-mortality", "code15", code15, *probe)
    assert survival.exit_code == 0, survival.output
    training = {r["task"]: r["details"]["training"] for r in _records(tmp_path / "runs", "k")}
    assert len(training["mimic-iv-ecg-measurements"]["alpha"]) == 3  # one per target
    assert training["code15-mortality"]["solver_converged"] is True
    assert training["code15-mortality"]["loss"].startswith("cox")


def test_metrics_of_another_kind_and_stratified_regression_are_refused(cli, mimic, tmp_path):
    auroc = _run(
        cli, tmp_path, "mimic-iv-ecg-measurements", "mimic-iv-ecg", mimic, "--metric", "auroc"
    )
    assert auroc.exit_code == 1 and "scores classification tasks" in auroc.output
    stratified = _run(
        cli, tmp_path, "mimic-iv-ecg-measurements", "mimic-iv-ecg", mimic, "--bootstrap-stratified"
    )
    assert stratified.exit_code == 2 and "regression task has no positives" in stratified.output


def test_tasks_are_listed_with_their_kind(cli) -> None:
    output = CliRunner().invoke(cli, ["list", "tasks"]).output
    assert "code15-mortality" in output and "survival" in output
    assert "regression (3)" in output and "multi-label (6)" in output


@pytest.mark.slow
def test_models_trained_on_learnable_fixtures_beat_constant_predictors(cli, tmp_path) -> None:
    """The fixtures' heart rate and QT follow the beat interval of the signal, and death's
    hazard AF and tachycardia: a fine-tuned model beats the constant predictors (C-index
    0.5; MAE of the training mean)."""
    mimic = make_mimic_iv_ecg_dir(tmp_path / "mimic", n_patients=150).root
    code15 = make_code15_dir(tmp_path / "code15", n_patients=400).root
    grid = tmp_path / "grid.yaml"
    grid.write_text("train: {epochs: 30, max_steps: null, evaluations: 15, batch_size: 32}\n")
    for task, source, root in (
        ("mimic-iv-ecg-measurements", "mimic-iv-ecg", mimic),
        ("code15-mortality", "code15", code15),
    ):
        result = _run(cli, tmp_path, task, source, root, "--config", str(grid))
        assert result.exit_code == 0, result.output
    records = {r["metric"]: r for r in _records(tmp_path / "runs", "k")}
    assert records["c_index"]["ci_low"] > 0.5
    mae = records["mae"]
    predictions = pd.read_csv(tmp_path / "runs" / "k" / mae["details"]["predictions"])
    test = predictions[predictions["split"] == "internal"]
    mean = mae["details"]["training"]["target_mean"]
    for k, target in enumerate(("qrs_duration_ms", "qt_ms", "heart_rate_bpm")):
        if target == "qrs_duration_ms":
            continue  # the fixture's QRS duration does not follow its signal
        constant = (test[f"label:{target}"] - mean[k]).abs().mean()
        assert mae["details"]["per_label"][target]["value"] < constant, target


def test_describe_checks_each_fixture_with_its_kinds_outcome(cli, mimic, code15) -> None:
    for task, source, root, column in (
        ("mimic-iv-ecg-measurements", "mimic-iv-ecg", mimic, "first target mean"),
        ("code15-mortality", "code15", code15, "median follow-up"),
    ):
        args = ["data", "describe", "--task", task, "--source", source, "--check", "--json"]
        result = CliRunner().invoke(cli, [*args, "--source-option", f"{source}.path={root}"])
        assert result.exit_code == 0, result.output
        report = json.loads(result.output)
        assert report["checked"] is True and report["usable"] == report["records"] > 0
        train = next(row for row in report["rows"] if row["set"] == "train")
        assert train[column] > 0


@pytest.mark.parametrize(
    ("model", "protocol", "task", "source"),
    [
        ("ecg-fm", "finetune", "mimic-iv-ecg-measurements", "mimic-iv-ecg"),  # segment head
        ("resnet1d", "frozen-attn", "code15-mortality", "code15"),
        pytest.param(
            "resnet1d", "finetune-attn", "mimic-iv-ecg-measurements", "mimic-iv-ecg",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            "ecg-fm", "finetune", "code15-mortality", "code15", marks=pytest.mark.slow
        ),
    ],
)  # fmt: skip
def test_every_protocol_and_segment_models_train_both_kinds(
    cli, mimic, code15, tmp_path, model, protocol, task, source
) -> None:
    root = mimic if source == "mimic-iv-ecg" else code15
    args = ["run", "-m", model, "-t", task, "--source", source, "-p", "tiny", "-f", "1.0"]
    args += ["--source-option", f"{source}.path={root}", "--protocol", protocol]
    args += ["-o", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache")]
    result = CliRunner().invoke(cli, [*args, "--run-name", "p"])
    assert result.exit_code == 0, result.output
    assert "left out, its throughput could not be measured" not in result.output
    records = _records(tmp_path / "runs", "p")
    assert records and all(r["value"] == r["value"] for r in records)  # no NaN
    if model == "ecg-fm":
        rules = records[0]["details"]["model_config"]["segment_rules"]
        assert rules == ["mean"] * (3 if source == "mimic-iv-ecg" else 1)
