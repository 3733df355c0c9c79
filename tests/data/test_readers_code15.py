"""CODE-15% and CODE-test sources on folders written in their published layouts
(tests/data/fixtures_code15.py): exact values, streaming one row, one-line errors, the
``code15-rhythm`` task through ``bench data describe`` and ``bench run``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
import pytest
from bench.tasks.code15 import LABELS, NAME, rhythm_rule
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.api import STANDARD_LEADS, CohortError, ECGFormatError, code15_loader, code_test_loader
from bench.data.readers.code15 import strip_padding
from tests.data.fixtures_code15 import (
    Written,
    labelled_ecg,
    make_code15_dir,
    make_code_test_dir,
    pad,
)

load_code15 = code15_loader(NAME, rhythm_rule, LABELS)
load_code_test = code_test_loader(NAME, rhythm_rule, LABELS)


@pytest.fixture(scope="module")
def code15(tmp_path_factory: pytest.TempPathFactory) -> Written:
    return make_code15_dir(tmp_path_factory.mktemp("code15"))


@pytest.fixture(scope="module")
def code_test(tmp_path_factory: pytest.TempPathFactory) -> Written:
    return make_code_test_dir(tmp_path_factory.mktemp("code-test"))


def _one_line(error: pytest.ExceptionInfo[BaseException], *parts: str) -> None:
    text = str(error.value)
    assert "\n" not in text
    for part in parts:
        assert part in text, text


def test_code15_signals_decode_exactly_without_padding(code15: Written) -> None:
    cohort = load_code15({"path": str(code15.root)})
    assert (cohort.n_records, cohort.n_patients) == (30, 15)
    lengths = set()
    for record_id, written in code15.signals.items():
        signal = cohort.load_signal(record_id)
        assert signal.leads == STANDARD_LEADS and signal.fs == 400.0 and signal.units == "mV"
        assert signal.data.shape == written.shape and not signal.notices
        np.testing.assert_allclose(signal.data, written, rtol=0, atol=1e-6)
        lengths.add(signal.n_samples)
    assert lengths == {2800, 4000}  # 7 s and 10 s exams, 648 and 48 zeros stripped per end


def test_code15_manifest_keeps_labels_demographics_and_survival(code15: Written) -> None:
    cohort = load_code15({"path": str(code15.root)})
    m = cohort.manifest.set_index("record_id")
    exams = pd.read_csv(code15.root / "exams.csv").set_index("exam_id")
    exams.index = exams.index.astype(str)
    for record_id, labels in code15.labels.items():
        assert {n: m.loc[record_id, f"label:{n}"] for n in LABELS} == labels
    assert (m["sex"] == np.where(exams.loc[m.index, "is_male"], "M", "F")).all()
    assert (m["patient_id"] == exams.loc[m.index, "patient_id"].astype(str)).all()
    np.testing.assert_array_equal(m["age"], exams.loc[m.index, "age"])
    # death and timey are given on a patient's first exam only (empty elsewhere)
    first = ~m["patient_id"].duplicated()
    assert m.loc[first, "timey"].notna().all() and m.loc[~first, "timey"].isna().all()
    assert set(m.loc[first, "death"]) <= {0.0, 1.0} and m.loc[~first, "death"].isna().all()
    assert cohort.source == "code15" and cohort.labels == LABELS


def test_code_test_reads_gold_standard_and_documented_lead_order(code_test: Written) -> None:
    cohort = load_code_test({"path": str(code_test.root)})
    m = cohort.manifest.set_index("record_id")
    gold = pd.read_csv(code_test.root / "annotations" / "gold_standard.csv")
    attributes = pd.read_csv(code_test.root / "attributes.csv")
    for i, record_id in enumerate(m.index):
        assert int(record_id) == i and m.loc[record_id, "patient_id"] == record_id
        assert [m.loc[record_id, f"label:{n}"] for n in LABELS] == gold.loc[
            i, list(LABELS)
        ].tolist()
        assert (m.loc[record_id, "age"], m.loc[record_id, "sex"]) == tuple(attributes.loc[i])
        signal = cohort.load_signal(record_id)
        assert not signal.notices and signal.leads == STANDARD_LEADS
        np.testing.assert_allclose(signal.data, code_test.signals[record_id], rtol=0, atol=1e-6)


def test_augmented_leads_are_read_in_the_order_the_data_satisfy(tmp_path: Path) -> None:
    written = make_code_test_dir(tmp_path, n=3)
    with h5py.File(tmp_path / "ecg_tracings.hdf5", "r+") as f:  # stored in standard order
        f["tracings"][...] = np.stack([pad(s) for s in written.signals.values()])
    signal = load_code_test({"path": str(tmp_path)}).load_signal("1")
    np.testing.assert_allclose(signal.data, written.signals["1"], rtol=0, atol=1e-6)
    (notice,) = signal.notices
    assert "ecg_tracings.hdf5: row 1" in notice and "as aVR, aVL, aVF" in notice
    assert "documented aVL, aVF, aVR" in notice


@settings(max_examples=50, deadline=None)
@given(
    before=st.integers(0, 40),
    after=st.integers(0, 40),
    inner=st.lists(st.integers(1, 18), max_size=4),
    seed=st.integers(0, 2**16),
)
def test_strip_padding_removes_only_the_zero_edges(
    before: int, after: int, inner: list[int], seed: int
) -> None:
    core = np.random.default_rng(seed).normal(size=(12, 20)).astype(np.float32)
    core[:, inner] = 0  # all-zero samples inside the signal stay
    padded = np.concatenate([np.zeros((12, before)), core, np.zeros((12, after))], axis=1)
    np.testing.assert_array_equal(strip_padding(padded), core)


def test_a_record_is_one_row_of_tracings_never_the_part(
    code15: Written, monkeypatch: pytest.MonkeyPatch
) -> None:
    cohort = load_code15({"path": str(code15.root)})
    reads: list[Any] = []
    getitem = h5py.Dataset.__getitem__

    def spy(self: h5py.Dataset, key: Any, *args: Any, **kwargs: Any) -> Any:
        if self.name == "/tracings":
            reads.append(key)
        return getitem(self, key, *args, **kwargs)

    def refuse(self: h5py.Dataset, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"{self.name} read whole")

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    monkeypatch.setattr(h5py.Dataset, "__array__", refuse)
    monkeypatch.setattr(h5py.Dataset, "read_direct", refuse)
    for record_id in list(code15.signals)[:5]:
        cohort.load_signal(record_id)
    assert len(reads) == 5 and all(isinstance(k, int) for k in reads), reads


def test_missing_part_is_an_error_or_left_out_with_parts_present(code15: Written, tmp_path):
    root = tmp_path / "c15"
    make_code15_dir(root)
    (root / "exams_part1.hdf5").unlink()
    with pytest.raises(FileNotFoundError) as error:
        load_code15({"path": str(root)})
    _one_line(error, "exams_part1.hdf5", "exams.csv", "'trace_file'", "code15.parts=present")
    cohort = load_code15({"path": str(root), "parts": "present"})
    exams = pd.read_csv(root / "exams.csv")
    assert cohort.n_records == (exams["trace_file"] == "exams_part0.hdf5").sum() > 0


def test_wrong_shape_absent_exam_and_bad_cell_are_one_line_errors(tmp_path: Path) -> None:
    root = tmp_path / "c15"
    make_code15_dir(root)
    part = root / "exams_part0.hdf5"
    with h5py.File(part, "r") as f:
        tracings, ids = f["tracings"][()], f["exam_id"][()]
    with h5py.File(part, "w") as f:  # leads before samples: the transposed layout
        f.create_dataset("tracings", data=tracings.transpose(0, 2, 1))
        f.create_dataset("exam_id", data=ids)
    with pytest.raises(ECGFormatError) as error:
        load_code15({"path": str(root)})
    _one_line(error, str(part), "'tracings'", f"({len(ids)}, 12, 4096)", "expected (")
    with h5py.File(part, "w") as f:  # exam ids that exams.csv does not find
        f.create_dataset("tracings", data=tracings)
        f.create_dataset("exam_id", data=ids + 7)
    with pytest.raises(ECGFormatError) as error:
        load_code15({"path": str(root)})
    _one_line(error, str(part), "'exam_id'", "lacks exam_id", "exams.csv")
    exams = pd.read_csv(root / "exams.csv", dtype=str, keep_default_na=False)
    exams.loc[3, "is_male"] = "maybe"
    exams.to_csv(root / "exams.csv", index=False)
    with pytest.raises(ECGFormatError) as error:
        load_code15({"path": str(root)})
    _one_line(error, "exams.csv: row 4, column 'is_male'", "True/False", "'maybe'")


def test_code_test_row_counts_must_agree(tmp_path: Path) -> None:
    make_code_test_dir(tmp_path, n=4)
    gold = tmp_path / "annotations" / "gold_standard.csv"
    pd.read_csv(gold).iloc[:3].to_csv(gold, index=False)
    with pytest.raises(ECGFormatError) as error:
        load_code_test({"path": str(tmp_path)})
    _one_line(error, "gold_standard.csv: 3 rows, expected 4", "ecg_tracings.hdf5")


def test_missing_h5py_names_the_extra(code15: Written, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py now raises ImportError
    with pytest.raises(
        CohortError, match=r"source 'code15' needs h5py: pip install 'ecg-bench\[hdf5\]'"
    ):
        load_code15({"path": str(code15.root)})


def test_directory_from_the_environment(code_test: Written, monkeypatch) -> None:
    monkeypatch.setenv("BENCH_CODE_TEST_DIR", str(code_test.root))
    assert load_code_test({}).n_records == 30
    monkeypatch.delenv("BENCH_CODE_TEST_DIR")
    with pytest.raises(FileNotFoundError, match="BENCH_CODE_TEST_DIR"):
        load_code_test({})


@pytest.mark.parametrize("source", ["code15", "code-test"])
def test_bench_data_describe_check(cli, source, code15: Written, code_test: Written) -> None:
    root = code15.root if source == "code15" else code_test.root
    args = ["data", "describe", "--task", NAME, "--source", source]
    result = CliRunner().invoke(cli, [*args, "--source-option", f"{source}.path={root}", "--check"])
    assert result.exit_code == 0, result.output
    assert "30 usable" in " ".join(result.output.split())


def test_bench_run_resnet1d_end_to_end(cli, tmp_path: Path) -> None:
    root = make_code15_dir(tmp_path / "code15", n_patients=40).root  # 15 leave no validation
    args = ["run", "-m", "resnet1d", "-t", NAME, "--source", "code15", "--source-option"]
    args += [f"code15.path={root}", "-p", "tiny", "-f", "1.0", "--no-external"]
    args += ["--output", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache")]
    result = CliRunner().invoke(cli, [*args, "--run-name", "c15"])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "runs" / "c15" / "results.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    auroc = next(r for r in records if r["metric"] == "auroc")
    assert auroc["task_version"] == "code15-rhythm-v1" and auroc["source"] == "code15"
    assert set(auroc["details"]["per_label"]) == set(LABELS)
    assert 0.0 <= auroc["value"] <= 1.0 and auroc["ci_low"] <= auroc["value"] <= auroc["ci_high"]


def test_fixture_signals_follow_their_labels() -> None:
    """The fixture's labels are learnable: SB is slower than ST, AF has no P wave."""
    slow = labelled_ecg({"SB": 1}, seed=1, seconds=10)
    fast = labelled_ecg({"ST": 1}, seed=1, seconds=10)

    def beats(x: np.ndarray) -> int:
        lead = x[STANDARD_LEADS.index("II")]
        return int(((lead[1:] > 0.6) & (lead[:-1] <= 0.6)).sum())

    # a QRS at 0.32 s + k RR within the 10 s: RR 1.3 s (SB) gives 8, RR 0.55 s (ST) 18
    assert beats(slow) == 8 and beats(fast) == 18
