"""The clinical-profile table: clean AUROC beside the worst subgroup, the worst robustness
condition, ECE and compute cost, per task."""

from __future__ import annotations

import json

import pytest
from bench.leaderboard.aggregate import SourcedRecord
from bench.leaderboard.clinical import clinical_profile, profile_markdown
from click.testing import CliRunner

from bench.run.records import ResultRecord


def _record(metric: str, value: float, fraction: float, seed: int, **fields) -> SourcedRecord:
    base = {"run_id": "r", "model": "heartbeit", "task": "stemi", "source": "synthetic"}
    base["split"] = "internal"
    return SourcedRecord(
        ResultRecord(**base, metric=metric, value=value, fraction=fraction, seed=seed, **fields)
    )


def test_the_profile_takes_each_rows_largest_fraction_and_its_worst_axes() -> None:
    compute = {"gflops_per_ecg": 0.3, "latency_s_per_ecg": {"1": 0.004, "64": 0.001}}
    gap = {"largest_gap": {"dimension": "sex", "pair": ["f", "m"]}}
    records = [
        _record("auroc", 0.60, 0.1, 0, compute=compute),  # a smaller fraction: not shown
        _record("auroc", 0.80, 1.0, 0, compute=compute),
        _record("auroc", 0.90, 1.0, 1, compute=compute),
        _record("subgroup_auroc", 0.04, 1.0, 0, bootstrap=gap, ci_low=-0.01, ci_high=0.09),
        _record("subgroup_auroc", 0.06, 1.0, 1, bootstrap=gap, ci_low=0.01, ci_high=0.11),
        _record("ece", 0.10, 1.0, 0, ci_low=0.05, ci_high=0.15),
        _record("ece", 0.20, 1.0, 1, ci_low=0.11, ci_high=0.27),
        *(_record(metric, value, 1.0, seed) for seed in (0, 1)
          for metric, value in (("ece_ts", 0.04 + seed / 100), ("brier", 0.2), ("brier_ts", 0.18))),
    ]  # fmt: skip
    robustness = [
        _record("auroc", 0.7, 1.0, seed, details={"condition": condition, "drop": drop,
                                                  "drop_ci_low": drop - 0.05,
                                                  "drop_ci_high": drop + 0.07})
        for seed, condition, drop in (
            (0, "lead-I", 0.10),
            (1, "lead-I", 0.20),
            (0, "emg-5db", 0.12),
            (1, "emg-5db", 0.14),
            (0, "lead-I", 0.90),  # another split below: ignored
        )
    ] + [
        _record("auroc", float("nan"), 1.0, seed, details={"condition": "limb-6", "drop": None,
                                                           "status": "refused"})
        for seed in (0, 1)
    ]  # fmt: skip
    robustness[4] = SourcedRecord(
        ResultRecord(**{**robustness[4].record.to_dict(), "split": "external"})
    )
    (row,) = clinical_profile(records, robustness)
    assert (row.fraction, row.seeds) == (1.0, 2)
    assert row.auroc == pytest.approx(0.85) and row.ece == pytest.approx(0.15)
    assert row.subgroup == "sex: m vs f" and row.gap == pytest.approx(0.05)
    assert row.gap_ci == pytest.approx((0.0, 0.1))
    assert row.condition == "lead-I" and row.drop == pytest.approx(0.15)
    assert row.refused == ("limb-6",)  # refused on every seed: listed, never ranked
    assert row.gflops == pytest.approx(0.3) and row.latency_ms == pytest.approx(4.0)
    text = profile_markdown([row])
    assert "## Clinical profile" in text and "| heartbeit | 100 % | 2 | 0.850 |" in text
    # without the board's replicates, two seeds' ECE CI is the mean of their bounds
    assert row.ece_ci == pytest.approx((0.08, 0.21))
    assert "| 0.150 (0.080–0.210) | 0.045 | 0.200 | 0.180 |" in text
    assert row.drop_ci == pytest.approx((0.10, 0.22))
    assert "| lead-I; refuses limb-6 | +0.150 (0.100–0.220) |" in text
    assert "| sex: m vs f | 0.050 (0.000–0.100) |" in text
    assert "not measured" not in text


def test_bench_leaderboard_prints_the_profile_and_what_fills_its_gaps(cli, tmp_path) -> None:
    args = ["run", "-m", "resnet1d", "-t", "stemi", "-p", "tiny", "-f", "1.0"]
    args += ["--metric", "subgroup_auroc", "--metric", "ece"]
    args += ["-o", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache")]
    result = CliRunner().invoke(cli, [*args, "--run-name", "r"])
    assert result.exit_code == 0, result.output
    board = CliRunner().invoke(cli, ["leaderboard", str(tmp_path / "runs")])
    assert board.exit_code == 0, board.output
    section = board.output[board.output.index("## Clinical profile") :]
    row = next(line for line in section.splitlines() if line.startswith("| resnet1d"))
    auroc = next(
        json.loads(line)
        for line in (tmp_path / "runs" / "r" / "results.jsonl").read_text().splitlines()
        if '"metric": "auroc"' in line and '"split": "internal"' in line
    )
    assert f"| {auroc['value']:.3f} |" in row
    assert "robustness: `bench robustness RUN`" in section
    json_board = CliRunner().invoke(
        cli, ["leaderboard", str(tmp_path / "runs"), "--format", "json"]
    )
    (profile,) = json.loads(json_board.output)["clinical_profile"]
    assert profile["auroc"] == pytest.approx(auroc["value"])
    assert profile["gflops"] == pytest.approx(auroc["compute"]["gflops_per_ecg"])
