"""ptbxl-super, ptbxl-diag and cinc2021 on collections the tests write in each dataset's
real layout (PTB-XL CSVs + WFDB records; CinC .hea/.mat records with #Dx lines), and
``bench run --pos-weight`` in cell identities."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bench.tasks.cinc2021 import SCORED_CLASSES
from bench.tasks.ptbxl_multilabel import DIAGNOSTIC, SUPERCLASSES
from click.testing import CliRunner

from bench.data.cohort import CohortError
from bench.data.labels import label_column, label_columns
from bench.data.splits import split_cohort
from bench.host.manager import PluginHost
from bench.host.registry import Registry
from bench.host.specs import TaskSpec
from tests.data.fixtures import make_ptbxl_dir, synthetic_ecg, write_cinc_record

#: Superclass of each diagnostic statement (PTB-XL 1.0.3's scp_statements.csv).
CLASS_OF = {
    code: cls
    for cls, codes in {
        "NORM": DIAGNOSTIC[:1],
        "MI": DIAGNOSTIC[1:15],
        "STTC": DIAGNOSTIC[15:28],
        "CD": DIAGNOSTIC[28:39],
        "HYP": DIAGNOSTIC[39:],
    }.items()
    for code in codes
}
STATEMENTS = {code: (code, 1.0, None, None, cls, code) for code, cls in CLASS_OF.items()}
#: Per record: SCP codes (likelihoods as in PTB-XL; 0 still counts, as in the benchmark).
CODES = [
    {"NORM": 100.0, "SR": 0.0},
    {"IMI": 15.0, "LVH": 50.0, "SR": 0.0},
    {"ASMI": 0.0, "CRBBB": 100.0},
    {"NDT": 100.0},
    {"SR": 0.0},  # no diagnostic statement: left out
    {"1AVB": 100.0, "LAO/LAE": 100.0},
]


@pytest.fixture(scope="module")
def tasks() -> Registry[TaskSpec]:
    host = PluginHost()
    host.load_default_plugins()
    return host.registries.tasks


@pytest.fixture(scope="module")
def ptbxl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    n = 40
    codes = [CODES[i % len(CODES)] for i in range(n)]
    patients = [2000 + i // 2 for i in range(n)]  # two records per patient
    folds = [(i // 2) % 10 + 1 for i in range(n)]  # one patient's records share a fold
    return make_ptbxl_dir(
        tmp_path_factory.mktemp("ptbxl"),
        n_records=n,
        scp_codes_list=codes,
        patient_ids=patients,
        strat_folds=folds,
        statements=STATEMENTS,
    )


def test_ptbxl_super_labels_are_the_diagnostic_superclasses(tasks, ptbxl: Path) -> None:
    task = tasks.get("ptbxl-super")
    assert task.labels == SUPERCLASSES
    cohort = task.loaders["ptbxl"]({"path": str(ptbxl)})
    m = cohort.manifest.set_index("record_id")
    assert cohort.labels == SUPERCLASSES
    assert len(m) == sum(1 for i in range(40) if i % len(CODES) != 4)  # no SR-only records
    assert "5" not in m.index  # record 5 has SR only
    assert m.loc["2", label_columns(SUPERCLASSES)].tolist() == [0, 1, 0, 0, 1]  # IMI + LVH
    assert m.loc["3", label_columns(SUPERCLASSES)].tolist() == [0, 1, 0, 1, 0]  # ASMI at 0 %
    assert m.loc["4", label_column("STTC")] == 1 and m.loc["6", label_column("HYP")] == 1
    assert cohort.notes["task_version"] == "ptbxl-super-v1"


def test_ptbxl_tasks_use_the_standard_folds(tasks, ptbxl: Path) -> None:
    task = tasks.get("ptbxl-super")
    cohort = task.loaders["ptbxl"]({"path": str(ptbxl)})
    split = split_cohort(task, cohort)
    fold = cohort.manifest.set_index("record_id")["strat_fold"]
    assert set(fold[split.sets["test"]]) == {10} and set(fold[split.sets["validation"]]) == {9}
    assert set(fold[split.sets["train"]]) <= set(range(1, 9))
    assert not split.sets["external"]


def test_ptbxl_diag_has_the_44_statements(tasks, ptbxl: Path) -> None:
    task = tasks.get("ptbxl-diag")
    assert len(task.labels) == 44 and len(set(task.labels)) == 44
    cohort = task.loaders["ptbxl"]({"path": str(ptbxl)})
    m = cohort.manifest.set_index("record_id")
    assert m.loc[
        "2", [label_column("IMI"), label_column("LVH"), label_column("NORM")]
    ].tolist() == [
        1,
        1,
        0,
    ]
    assert m.loc["6", label_column("LAO/LAE")] == 1
    assert m[label_columns(task.labels)].to_numpy().sum() == sum(
        len(set(c) & set(DIAGNOSTIC)) for c in (CODES[i % len(CODES)] for i in range(40))
    )


def test_ptbxl_diag_names_missing_statements(tasks, tmp_path: Path) -> None:
    root = make_ptbxl_dir(tmp_path / "p", n_records=2)  # only the fixture's few statements
    with pytest.raises(CohortError, match=r"lacks diagnostic statement\(s\) \['1AVB'"):
        tasks.get("ptbxl-diag").loaders["ptbxl"]({"path": str(root)})


def test_cinc2021_reads_scored_classes_with_equivalent_codes(tasks, tmp_path: Path) -> None:
    root = tmp_path / "cinc"
    dx = {
        "georgia/E01": ["164909002"],  # LBBB ≡ CLBBB
        "georgia/E02": ["426783006", "59118001"],  # NSR + RBBB ≡ CRBBB
        "cpsc_2018/g1/A01": ["17338001", "164889003"],  # VPB ≡ PVC, AF
        "cpsc_2018/g1/A02": ["251180001"],  # an unscored code: kept, every label 0
        "cpsc_2018/g1/A03": [],  # no Dx code: left out
    }
    for n, (record, codes) in enumerate(dx.items()):
        write_cinc_record(root / record, synthetic_ecg(n, seconds=6), dx=codes)
    task = tasks.get("cinc2021")
    assert len(task.labels) == 26 == len(SCORED_CLASSES)
    assert sum(len(c) for c in SCORED_CLASSES.values()) == 30  # 4 classes merge 2 codes
    cohort = task.loaders["wfdb"]({"path": str(root)})
    m = cohort.manifest.set_index("record_id")
    assert sorted(m.index) == sorted(r for r, c in dx.items() if c)
    assert m.loc["georgia/E01", label_column("CLBBB|LBBB")] == 1
    assert m.loc["georgia/E02", [label_column("NSR"), label_column("CRBBB|RBBB")]].tolist() == [
        1,
        1,
    ]
    assert m.loc["cpsc_2018/g1/A01", [label_column("PVC|VPB"), label_column("AF")]].tolist() == [
        1,
        1,
    ]
    assert m.loc["cpsc_2018/g1/A02", label_columns(task.labels)].sum() == 0
    assert m.loc["cpsc_2018/g1/A02", "label"] == 0
    assert set(m["site"]) == {"georgia", "cpsc_2018"}
    assert "task_version" not in cohort.notes  # the task's own version applies


@pytest.mark.slow
def test_bench_run_on_ptbxl_super_fixture(cli, run_args, ptbxl: Path, tmp_path: Path) -> None:
    args = ["run", "-m", "tiny-cnn", "-t", "ptbxl-super", "--source-option"]
    args += [f"ptbxl.path={ptbxl}", *run_args, "--run-name", "px"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    records = [
        json.loads(line)
        for line in (tmp_path / "runs" / "px" / "results.jsonl").read_text().splitlines()
    ]
    assert {r["split"] for r in records} == {"internal"}
    record = next(r for r in records if r["metric"] == "auroc" and r["fraction"] == 1.0)
    scored = [v["value"] for v in record["details"]["per_label"].values() if v["value"] is not None]
    assert record["value"] == pytest.approx(np.mean(scored))
    assert record["task_version"] == "ptbxl-super-v1"
    cell = tmp_path / "runs" / "px" / "cells"
    predictions = pd.read_csv(next(cell.iterdir()) / "predictions.csv")
    assert {f"score:{c}" for c in SUPERCLASSES} <= set(predictions.columns)


def _one_cell(
    cli, tmp_path: Path, task: str, *extra: str, model: str = "tiny-cnn"
) -> tuple[str, dict]:
    """`bench run` of one cell of ``task`` into run ``pw-TASK``; its output and identity."""
    args = ["run", "-m", model, "-t", task, "--profile", "tiny", "--fraction", "1.0"]
    args += ["--output", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache")]
    result = CliRunner().invoke(cli, [*args, "--run-name", f"pw-{task}", *extra])
    assert result.exit_code == 0, result.output
    cells = tmp_path / "runs" / f"pw-{task}" / "cells"
    (cell,) = [c for c in cells.iterdir() if task in c.name]
    return result.output, json.loads((cell / "identity.json").read_text())


def test_pos_weight_makes_a_multilabel_cell_another_experiment(cli, ptbxl, tmp_path):
    source = ["--source-option", f"ptbxl.path={ptbxl}"]
    _, weighted = _one_cell(cli, tmp_path, "ptbxl-super", *source, "--pos-weight")
    assert weighted["train"]["pos_weight"] is True
    records = (tmp_path / "runs" / "pw-ptbxl-super" / "results.jsonl").read_text().splitlines()
    assert all(json.loads(r)["details"]["train_config"]["pos_weight"] for r in records)
    # without the flag the multi-label cell is another experiment: it re-runs, never resumes
    output, plain = _one_cell(cli, tmp_path, "ptbxl-super", *source)
    assert "pos_weight" not in plain["train"] and "1 re-run because" in output


def test_a_binary_task_ignores_pos_weight_and_keeps_its_cell(cli, tmp_path) -> None:
    _, binary = _one_cell(cli, tmp_path, "stemi")
    output, again = _one_cell(cli, tmp_path, "stemi", "--pos-weight")
    assert (
        again == binary and "finished 0 cell(s)" in output and "pos_weight" not in binary["train"]
    )


def test_the_linear_probe_ignores_pos_weight_and_keeps_its_cell(cli, ptbxl, tmp_path) -> None:
    args = ["--source-option", f"ptbxl.path={ptbxl}", "--protocol", "linear-probe"]
    _, plain = _one_cell(cli, tmp_path, "ptbxl-super", *args, model="resnet152")
    output, again = _one_cell(
        cli, tmp_path, "ptbxl-super", *args, "--pos-weight", model="resnet152"
    )
    assert again == plain and "finished 0 cell(s)" in output
