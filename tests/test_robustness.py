"""Robustness without retraining: the perturbations (bench.data.perturbations) and
``bench robustness`` on a finished tiny run (resnet1d, whose recipe zero-fills missing
leads, and the image test model tiny-cnn, whose input refuses them)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.data.perturbations import (
    CONDITIONS,
    LEAD_SUBSETS,
    SNRS_DB,
    condition_seed,
    perturb,
    perturbed_cohort,
    perturbed_hash,
)
from bench.data.signal import STANDARD_LEADS, ECGFormatError, ECGSignal

FS = 500.0


def ecg(seed: int, fs: float = FS, seconds: float = 10.0) -> ECGSignal:
    """A 12-lead ECG-like signal: a QRS-like pulse train of random rate and amplitude per
    lead, a T wave, a baseline offset, in mV (float32, as readers return them)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(fs * seconds)) / fs
    beats = np.arange(rng.uniform(0, 0.5), seconds, 60 / rng.uniform(50, 110))
    qrs = sum(np.exp(-(((t - b) / 0.012) ** 2)) for b in beats)
    wave = sum(np.exp(-(((t - b - 0.25) / 0.05) ** 2)) for b in beats)
    gains = rng.uniform(-2, 2, size=(12, 2))
    data = gains[:, :1] * qrs + 0.3 * gains[:, 1:] * wave + rng.uniform(-0.5, 0.5, (12, 1))
    return ECGSignal(data.astype(np.float32), fs, STANDARD_LEADS)


NOISES = [name for name, c in CONDITIONS.items() if c.kind == "noise"]


def snr_db(clean: np.ndarray, noisy: np.ndarray) -> np.ndarray:
    """Per lead: 10·log10(variance of the clean lead / mean square of what was added)."""
    x = clean.astype(np.float64)
    return 10 * np.log10(x.var(axis=1) / ((noisy.astype(np.float64) - x) ** 2).mean(axis=1))


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    record=st.text(min_size=1, max_size=12),
    name=st.sampled_from(NOISES),
    fs=st.sampled_from([360.0, 500.0, 1000.0]),
)
def test_noise_is_added_at_the_stated_snr_on_every_lead(
    seed: int, record: str, name: str, fs: float
) -> None:
    sig = ecg(seed, fs)
    noisy = perturb(sig, record, name)
    assert noisy.leads == sig.leads and noisy.data.dtype == np.float32
    measured = snr_db(sig.data, noisy.data)
    assert np.all(np.abs(measured - CONDITIONS[name].snr_db) < 0.5), measured


@pytest.mark.parametrize(
    ("prefix", "band"),
    [
        ("wander", (0.0, 1.0)),
        ("hum50", (49, 51)),
        ("hum60", (59, 61)),
        ("emg", (15.0, 160.0)),
    ],
)
def test_each_noise_lies_in_its_band(prefix: str, band: tuple[float, float]) -> None:
    """At least 95 % of the added noise's power lies in the condition's band."""
    sig = ecg(3)
    noise = perturb(sig, "r1", f"{prefix}-10db").data.astype(np.float64) - sig.data
    power = np.abs(np.fft.rfft(noise, axis=1)) ** 2
    freqs = np.fft.rfftfreq(noise.shape[1], 1 / FS)
    inside = power[:, (freqs >= band[0]) & (freqs <= band[1])].sum(axis=1)
    assert np.all(inside / power.sum(axis=1) > 0.95)


def test_perturbations_are_seeded_by_record_and_condition_only() -> None:
    sig = ecg(1)
    first = perturb(sig, "rec-1", "emg-10db").data
    assert np.array_equal(first, perturb(ecg(1), "rec-1", "emg-10db").data)
    assert not np.array_equal(first, perturb(sig, "rec-2", "emg-10db").data)
    assert condition_seed("rec-1", "emg-10db") != condition_seed("rec-1", "emg-5db")
    assert condition_seed("a\0b", "c") != condition_seed("a", "b\0c")


@pytest.mark.parametrize("name", list(LEAD_SUBSETS))
def test_lead_subsets_keep_exactly_the_named_leads(name: str) -> None:
    sig = ecg(2)
    out = perturb(sig, "r", name)
    assert set(out.leads) == set(LEAD_SUBSETS[name])
    for lead in out.leads:
        assert np.array_equal(out.lead(lead), sig.lead(lead))
    with pytest.raises(ECGFormatError, match="has none of the leads of lead-I"):
        perturb(ECGSignal(sig.data[6:], FS, STANDARD_LEADS[6:]), "r", "lead-I")


def test_the_250_hz_round_trip_keeps_40_hz_and_removes_what_lies_above_125_hz() -> None:
    t = np.arange(5000) / FS
    inner = slice(250, -250)  # away from the record's ends

    def after(freq: float) -> tuple[np.ndarray, np.ndarray]:
        x = np.tile(np.sin(2 * np.pi * freq * t), (12, 1)).astype(np.float32)
        y = perturb(ECGSignal(x, FS, STANDARD_LEADS), "r", "roundtrip-250hz").data
        assert y.shape == x.shape
        return x[:, inner], y[:, inner]

    x, y = after(40.0)
    assert np.sqrt(np.mean((y - x) ** 2) / np.mean(x**2)) < 0.01
    for freq in (150.0, 200.0):
        x, y = after(freq)
        assert np.sqrt(np.mean(y**2) / np.mean(x**2)) < 0.01
    low = ecg(4, fs=250.0)  # nothing above 125 Hz to remove
    assert np.array_equal(perturb(low, "r", "roundtrip-250hz").data, low.data)


def test_scaling_multiplies_every_sample() -> None:
    sig = ecg(5)
    for factor in (0.8, 1.2):
        out = perturb(sig, "r", f"scale-{factor:g}").data
        np.testing.assert_allclose(out, sig.data * np.float32(factor), rtol=1e-6)


def test_conditions_are_the_issues_twenty() -> None:
    noises = {f"{p}-{s}db" for p in ("wander", "hum50", "hum60", "emg") for s in SNRS_DB}
    expected = {*LEAD_SUBSETS, *noises, "roundtrip-250hz", "scale-0.8", "scale-1.2"}
    assert set(CONDITIONS) == expected and len(CONDITIONS) == 20


# -- bench robustness on a finished tiny run ---------------------------------------------

CONDITIONS_RUN = ("lead-I", "emg-10db")


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """A tiny run of resnet1d and tiny-cnn on the synthetic stemi task, then `bench
    robustness` with two conditions; (run directory, the robustness CLI result)."""
    from bench.cli import make_cli
    from bench.host.manager import PluginHost
    from tests.conftest import TinyModels

    root = tmp_path_factory.mktemp("robust")
    host = PluginHost()
    host.load_default_plugins()
    host.register(TinyModels(), "tiny-models")
    cli = make_cli(host)
    args = ["run", "-m", "resnet1d", "-m", "tiny-cnn", "-t", "stemi", "-p", "tiny", "-f", "1.0",
            "--device", "cpu", "--output", str(root / "runs"), "--cache-dir",
            str(root / "cache"), "--run-name", "r"]  # fmt: skip
    run = CliRunner().invoke(cli, args)
    assert run.exit_code == 0, run.output
    run_dir = root / "runs" / "r"
    conditions = [a for name in CONDITIONS_RUN for a in ("--condition", name)]
    result = CliRunner().invoke(
        cli, ["robustness", str(run_dir), *conditions, "--device", "cpu"], env={"COLUMNS": "200"}
    )
    return run_dir, result, cli


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_robustness_scores_every_cell_condition_and_split(finished) -> None:
    run_dir, result, _ = finished
    assert result.exit_code == 0, result.output
    results = _records(run_dir / "results.jsonl")
    assert not any("condition" in r["details"] for r in results)
    clean = {(r["model"], r["split"]): r for r in results if r["metric"] == "auroc"}
    records = _records(run_dir / "robustness.jsonl")
    keys = {(r["model"], r["split"], r["details"]["condition"]) for r in records}
    assert keys == {(m, s, c) for (m, s) in clean for c in CONDITIONS_RUN}
    for record in records:
        details = record["details"]
        assert record["metric"] == "auroc"
        assert record["identity"] == clean[record["model"], record["split"]]["identity"]
        if details["status"] == "scored":
            # the run's own record, to the last bit: the same predictions, the same resamples
            assert details["clean_value"] == clean[record["model"], record["split"]]["value"]
            assert details["clean_reinference_max_abs_diff"] < 1e-6
            assert details["drop"] == pytest.approx(details["clean_value"] - record["value"])
            assert details["drop_definition"].startswith("clean - perturbed")
            assert details["drop_ci_low"] <= details["drop"] <= details["drop_ci_high"]
    text = " ".join(result.output.split())
    assert "AUROC drop under perturbation (clean - perturbed, positive: worse" in text
    assert "lead-I" in text and "emg-10db" in text
    assert re.search(r"perturbed inputs cached in \S+robustness: \d+\.\d\d GB", text)


def test_lead_subsets_follow_each_models_input_contract(finished) -> None:
    """resnet1d's recipe zero-fills the removed leads; tiny-cnn's image input refuses the
    record (every one of them): reported as refused, never a crash."""
    run_dir, result, _ = finished
    by = {(r["model"], r["split"], r["details"]["condition"]): r
          for r in _records(run_dir / "robustness.jsonl")}  # fmt: skip
    image = by["tiny-cnn", "internal", "lead-I"]
    assert image["details"]["status"] == "refused" and image["details"]["refused"] > 0
    assert "missing plotted lead(s)" in image["details"]["reason"]
    assert np.isnan(image["value"])
    assert image["details"]["lead_contract"].startswith("refuses a record without")
    signal = by["resnet1d", "internal", "lead-I"]
    assert signal["details"]["status"] == "scored" and signal["details"]["refused"] == 0
    assert set(signal["details"]["zero_filled"]) == set(STANDARD_LEADS) - {"I"}
    assert set(signal["details"]["zero_filled"].values()) == {signal["n"]}
    assert "tiny-cnn: refuses a record without" in " ".join(result.output.split())
    emg = by["tiny-cnn", "internal", "emg-10db"]
    assert emg["details"]["status"] == "scored" and emg["details"]["refused"] == 0


def test_both_models_see_the_same_perturbed_ecgs(finished) -> None:
    """Per condition, both models' records carry one hash of the perturbed evaluation
    ECGs, and it equals the hash of the task's cohort perturbed here, independently."""
    from bench.commands.rescore import run_config_of
    from bench.host.manager import PluginHost
    from bench.run.preparation import load_cohort

    run_dir = finished[0]
    records = _records(run_dir / "robustness.jsonl")
    plugins = PluginHost()
    plugins.load_default_plugins()
    options = run_config_of(run_dir).profile_spec.synthetic_options("stemi")
    cohort = load_cohort(plugins.registries.tasks.get("stemi"), "synthetic", {}, synthetic=options)
    for name in CONDITIONS_RUN:
        per_model = {}
        for r in records:
            if r["details"]["condition"] == name:
                per_model.setdefault(r["model"], set()).add(r["details"]["perturbed_inputs_hash"])
        assert per_model["resnet1d"] == per_model["tiny-cnn"] and len(per_model["resnet1d"]) == 1
    (scored,) = run_dir.glob("robustness/resnet1d*/emg-10db.csv")  # every record scored
    header, *lines = scored.read_text().splitlines()
    assert header == "record_id,patient_id,label,score,split,condition"
    ids = list(dict.fromkeys(line.split(",")[0] for line in lines))
    emg = {r["details"]["perturbed_inputs_hash"] for r in records
           if r["details"]["condition"] == "emg-10db"}  # fmt: skip
    assert emg == {perturbed_hash(cohort, ids, "emg-10db")}
    loaded = perturbed_cohort(cohort, "emg-10db").load_signal(ids[0])
    expected = perturb(cohort.load_signal(ids[0]), ids[0], "emg-10db")
    assert np.array_equal(loaded.data, expected.data)


def test_done_cells_keep_only_their_selected_weights(finished) -> None:
    run_dir, _, _ = finished
    for checkpoint in run_dir.glob("cells/*/checkpoint"):
        assert sorted(p.name for p in checkpoint.iterdir()) == ["best.safetensors"]


@pytest.mark.slow
def test_a_cell_without_weights_is_reported_and_the_others_still_run(finished, tmp_path) -> None:
    run_dir, _, cli = finished
    copy = tmp_path / "r"
    shutil.copytree(run_dir, copy)
    (copy / "robustness.jsonl").unlink()
    for best in copy.glob("cells/tiny-cnn*/checkpoint/best.safetensors"):
        best.unlink()
    result = CliRunner().invoke(cli, ["robustness", str(copy), "--condition", "scale-0.8"])
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "the cell's selected weights are not kept" in text and "1 failure(s)" in text
    records = _records(copy / "robustness.jsonl")
    assert {r["model"] for r in records} == {"resnet1d"}
    assert {r["details"]["condition"] for r in records} == {"scale-0.8"}


def _scored(path: Path) -> list[dict]:
    records = _records(path)
    assert records and all(r["details"]["status"] == "scored" for r in records)
    return records


@pytest.mark.slow
def test_a_linear_probe_cell_refits_its_probe_and_scores_perturbed_features(
    finished, tmp_path
) -> None:
    """The probe, which the cell does not keep, is fitted again as the cell fitted it: its
    clean scores equal the saved predictions, and the perturbed frozen features give
    other scores, whose AUROC is the record's value."""
    from sklearn.metrics import roc_auc_score

    cli = finished[2]
    args = ["run", "-m", "resnet1d", "-t", "stemi", "-p", "tiny", "-f", "1.0", "--device", "cpu",
            "--protocol", "linear-probe", "--output", str(tmp_path), "--cache-dir",
            str(tmp_path / "cache"), "--run-name", "lp"]  # fmt: skip
    assert CliRunner().invoke(cli, args).exit_code == 0
    run_dir = tmp_path / "lp"
    conditions = ["--condition", "lead-I", "--condition", "emg-5db"]
    result = CliRunner().invoke(cli, ["robustness", str(run_dir), *conditions])
    assert result.exit_code == 0, result.output
    clean = {r["split"]: r for r in _records(run_dir / "results.jsonl") if r["metric"] == "auroc"}
    records = _scored(run_dir / "robustness.jsonl")
    assert {(r["split"], r["details"]["condition"]) for r in records} == {
        (s, c) for s in clean for c in ("lead-I", "emg-5db")
    }
    (saved,) = run_dir.glob("cells/*/predictions.csv")
    saved_scores = pd.read_csv(saved, dtype={"record_id": str}).set_index(["split", "record_id"])
    for record in records:
        details = record["details"]
        assert record["protocol"] == "linear-probe"
        assert details["clean_reinference_max_abs_diff"] < 1e-9  # the same probe, refitted
        assert details["clean_value"] == clean[record["split"]]["value"]
        assert details["drop"] == pytest.approx(details["clean_value"] - record["value"])
        (path,) = run_dir.glob(f"robustness/*/{details['condition']}.csv")
        table = pd.read_csv(path, dtype={"record_id": str}).query(f"split == '{record['split']}'")
        assert record["value"] == pytest.approx(roc_auc_score(table["label"], table["score"]))
        before = saved_scores.loc[[(record["split"], r) for r in table["record_id"]], "score"]
        assert np.abs(before.to_numpy() - table["score"].to_numpy()).max() > 1e-3
    assert "not supported" not in result.output


def _kind_run(cli, root: Path, task: str, source: str, data: Path, *conditions: str):
    """A tiny resnet1d run of ``task`` on the fixture ``data``, then `bench robustness`."""
    args = ["run", "-m", "resnet1d", "-t", task, "--source", source, "-p", "tiny", "-f", "1.0",
            "--source-option", f"{source}.path={data}", "--device", "cpu", "--no-external",
            "--output", str(root), "--cache-dir", str(root / "cache"), "--run-name", "k"]  # fmt: skip
    run = CliRunner().invoke(cli, args)
    assert run.exit_code == 0, run.output
    flags = [a for name in conditions for a in ("--condition", name)]
    result = CliRunner().invoke(cli, ["robustness", str(root / "k"), *flags],
                                env={"COLUMNS": "200"})  # fmt: skip
    assert result.exit_code == 0, result.output
    clean = {r["metric"]: r for r in _records(root / "k" / "results.jsonl")}
    return root / "k", result, clean


@pytest.mark.slow
def test_a_regression_run_reports_the_mae_increase_as_the_drop(cli, tmp_path) -> None:
    from tests.data.fixtures_physionet import make_mimic_iv_ecg_dir

    data = make_mimic_iv_ecg_dir(tmp_path / "mimic", n_patients=30).root
    run_dir, result, clean = _kind_run(
        cli, tmp_path, "mimic-iv-ecg-measurements", "mimic-iv-ecg", data, "lead-I"
    )
    (record,) = _scored(run_dir / "robustness.jsonl")
    details = record["details"]
    assert (record["metric"], record["higher_is_better"]) == ("mae", False)
    assert details["clean_value"] == clean["mae"]["value"]
    assert details["clean_reinference_max_abs_diff"] < 1e-4  # targets in ms and bpm
    # lower is better: the drop is perturbed − clean, positive when the MAE grew
    assert details["drop_definition"].startswith("perturbed - clean")
    assert details["drop"] == pytest.approx(record["value"] - details["clean_value"])
    assert details["drop_ci_low"] <= details["drop"] <= details["drop_ci_high"]
    (path,) = run_dir.glob("robustness/*/lead-I.csv")
    table = pd.read_csv(path)
    targets = [c.removeprefix("label:") for c in table.columns if c.startswith("label:")]
    errors = [(table[f"score:{t}"] - table[f"label:{t}"]).abs().mean() for t in targets]
    assert len(targets) == 3 and record["value"] == pytest.approx(np.mean(errors))
    text = " ".join(result.output.split())
    assert "MAE drop under perturbation (perturbed - clean, positive: worse" in text


@pytest.mark.slow
def test_a_survival_run_reports_the_c_index_drop(cli, tmp_path) -> None:
    from sksurv.metrics import concordance_index_censored

    from tests.data.fixtures_code15 import make_code15_dir

    data = make_code15_dir(tmp_path / "code15", n_patients=80).root
    run_dir, result, clean = _kind_run(cli, tmp_path, "code15-mortality", "code15", data, "emg-5db")
    (record,) = _scored(run_dir / "robustness.jsonl")
    details = record["details"]
    assert (record["metric"], record["higher_is_better"]) == ("c_index", True)
    assert details["clean_value"] == clean["c_index"]["value"]
    assert details["clean_reinference_max_abs_diff"] < 1e-6
    assert details["drop"] == pytest.approx(details["clean_value"] - record["value"])
    (path,) = run_dir.glob("robustness/*/emg-5db.csv")
    table = pd.read_csv(path)
    expected = concordance_index_censored(
        table["label"].astype(bool), table["time"], table["score"]
    )[0]
    assert record["value"] == pytest.approx(expected)
    assert "C-index drop under perturbation (clean - perturbed" in " ".join(result.output.split())
