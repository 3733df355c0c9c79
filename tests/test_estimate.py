"""The time and disk estimate every `bench run` prints before its cells run."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from bench.run import estimate
from bench.run.estimate import CHECKPOINT_BYTES_PER_PARAM, PREDICTION_ROW_BYTES, Throughput
from bench.training.config import TrainConfig
from bench.training.plan import Plan


def _cell(protocol: str, n_train: int = 100, n_val: int = 20, n_eval: int = 30):
    config = TrainConfig(epochs=3, batch_size=16, evaluations=3)
    plan = SimpleNamespace(
        key=SimpleNamespace(protocol=protocol),
        train_ids=[str(i) for i in range(n_train)],
        validation_ids=[str(i) for i in range(n_val)],
        train_config=config,
    )
    prepared = SimpleNamespace(eval_sets={"internal": [str(i) for i in range(n_eval)]})
    return prepared, plan


@pytest.mark.parametrize("protocol", ["finetune", "frozen-attn", "linear-probe"])
def test_a_cells_cost_is_its_planned_work_at_the_measured_speed(protocol: str) -> None:
    speed = Throughput(step_s=0.5, infer_s_per_ecg=0.01, params=1000)
    prepared, plan = _cell(protocol)
    seconds, disk = estimate.cell_cost(prepared, plan, speed)  # type: ignore[arg-type]
    rows = (20 + 30) * PREDICTION_ROW_BYTES
    if protocol == "linear-probe":
        assert (seconds, disk) == (pytest.approx((100 + 20 + 30) * 0.01), rows)
        return
    schedule = Plan.from_config(100, plan.train_config)
    step = 0.5 if protocol == "finetune" else 0.01 * 16  # a frozen encoder: forward only
    scoring = (len(schedule.eval_steps) * 20 + 20 + 30) * 0.01
    assert seconds == pytest.approx(schedule.total_steps * step + scoring)
    assert disk == rows + CHECKPOINT_BYTES_PER_PARAM * 1000


def _run(cli, tmp_path, *extra: str):
    args = ["run", "-m", "resnet1d", "-t", "stemi", "-p", "tiny", "-f", "1.0"]
    args += ["-o", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache"), *extra]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_every_run_prints_the_estimate_and_measures_a_model_once(
    cli, tmp_path, monkeypatch
) -> None:
    calls = []
    measure = estimate.measure
    monkeypatch.setattr(estimate, "measure", lambda *a: calls.append(a[2].spec.name) or measure(*a))
    dry = _run(cli, tmp_path, "--run-name", "dry", "--dry-run")
    assert "estimate: 1 cell(s) to train, at most ~" in dry
    assert "of input caches still to build" in dry and "0 B of input caches" not in dry
    assert not (tmp_path / "cache" / "throughput.json").exists()  # a dry run writes nothing
    real = _run(cli, tmp_path, "--run-name", "real")
    assert "estimate: 1 cell(s) to train" in real and "0 B of input caches" in real
    stored = json.loads((tmp_path / "cache" / "throughput.json").read_text())
    (speed,) = stored.values()
    assert speed["step_s"] > 0 and speed["infer_s_per_ecg"] > 0 and speed["params"] > 0
    again = _run(cli, tmp_path, "--run-name", "again", "-s", "1")
    assert "estimate: 1 cell(s) to train" in again
    assert calls == ["resnet1d", "resnet1d"]  # the dry run's, then once stored
    done = _run(cli, tmp_path, "--run-name", "real")
    assert "estimate: 0 cell(s) to train" in done


def test_a_model_that_cannot_be_measured_is_named_and_the_run_goes_on(
    cli, tmp_path, monkeypatch
) -> None:
    def broken(*_: object) -> Throughput:
        raise RuntimeError("no such kernel")

    monkeypatch.setattr(estimate, "measure", broken)
    text = _run(cli, tmp_path, "--run-name", "r")
    assert "resnet1d left out, its throughput could not be measured (RuntimeError" in text
    assert "finished 1 cell(s)" in text


@pytest.mark.parametrize(("load", "busy"), [(None, False), (1.2, False), (2.0, True), (3.5, True)])
def test_the_estimate_says_when_a_busy_machine_will_take_longer(load, busy) -> None:
    """The throughput is an idle machine's: at a load of the CPU count or more, the printed
    "at most" would be wrong without the warning."""
    grid = estimate.GridEstimate(cells=2, seconds=600.0, load=load, cores=2)
    text = grid.describe()
    assert text.startswith("estimate: 2 cell(s) to train, at most ~10 min")
    assert ("the machine is busy" in text) is busy
    if busy:
        assert f"(1-minute load {load:.1f} on 2 CPU(s))" in text and "expect longer" in text
