"""Result records (schema, old files) and the crash-safe run store."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bench.cells import cell_id
from bench.records import (
    SCHEMA_VERSION,
    RecordError,
    ResultRecord,
    load_records,
    read_jsonl,
    record_from_dict,
)
from bench.store import RunStore


def record(**kw) -> ResultRecord:
    base = dict(
        run_id="r",
        model="m",
        task="stemi",
        source="synthetic",
        fraction=0.1,
        seed=0,
        split="internal",
        metric="auroc",
        value=0.8,
        ci_low=0.7,
        ci_high=0.9,
    )
    return ResultRecord(**{**base, **kw})


def test_old_minimal_v1_record_still_loads(tmp_path):
    # the smallest record a v1 writer could have produced, plus a field from a newer tool
    path = tmp_path / "results.jsonl"
    path.write_text(
        json.dumps(
            {
                "schema_version": 1,
                "model": "resnet152",
                "task": "lvef",
                "metric": "auroc",
                "value": 0.84,
                "future_field": 3,
            }
        )
        + "\n"
    )
    (r,) = list(read_jsonl(path))
    assert (r.model, r.task, r.value, r.split) == ("resnet152", "lvef", 0.84, "internal")
    assert r.details["unknown_fields"] == {"future_field": 3}


def test_newer_schema_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text(
        json.dumps(
            {
                "schema_version": SCHEMA_VERSION + 1,
                "model": "m",
                "task": "t",
                "metric": "auroc",
                "value": 1,
            }
        )
        + "\n"
    )
    with pytest.raises(RecordError, match="newer than this harness"):
        list(read_jsonl(path))


def test_torn_last_line_is_ignored_but_corruption_elsewhere_is_an_error(tmp_path):
    good = json.dumps(record().to_dict())
    path = tmp_path / "results.jsonl"
    path.write_text(good + "\n" + good[:40])
    assert len(list(read_jsonl(path))) == 1
    path.write_text(good[:40] + "\n" + good + "\n")
    with pytest.raises(RecordError, match=r"results.jsonl:1: not valid JSON"):
        list(read_jsonl(path))


def test_store_round_trip_and_done_marker(tmp_path):
    store = RunStore(tmp_path / "run")
    cell = cell_id("heartbeit", "stemi", "synthetic", 0.01, 0, "finetune")
    identity = {"model": "heartbeit", "fraction": 0.01, "train": {"lr_max": 1e-3}}
    assert store.status(cell, identity).state == "new"
    store.start_cell(cell, identity)
    assert store.status(cell, identity).state == "partial"
    preds = pd.DataFrame(
        {
            "record_id": ["a"],
            "patient_id": ["p"],
            "label": [1],
            "score": [0.3],
            "split": ["internal"],
        }
    )
    store.write_cell(cell, [record(), record(metric="auprc")], preds)
    assert store.status(cell, identity).state == "done"
    changed = {**identity, "train": {"lr_max": 3e-3}}
    status = store.status(cell, changed)
    assert status.state == "stale" and status.changed == ["train.lr_max"]
    assert store.cell_predictions(cell)["record_id"].tolist() == ["a"]
    assert [r.metric for r in load_records([tmp_path])] == ["auroc", "auprc"]
    assert pd.read_csv(store.root / store.predictions_path(cell)).shape == (1, 5)
    # a second cell appends to the regenerated results file, never duplicating the first
    store.write_cell(
        cell_id("m2", "stemi", "synthetic", 0.01, 0, "finetune"), [record(model="m2")], preds
    )
    assert len(load_records([tmp_path])) == 3
    assert not list(store.root.rglob("*.tmp-*"))


def test_start_cell_discards_what_another_identity_stored(tmp_path):
    store = RunStore(tmp_path / "run")
    store.start_cell("c", {"seed": 0})
    (store.cell_dir("c") / "checkpoint").mkdir()
    store.start_cell("c", {"seed": 1})
    assert not (store.cell_dir("c") / "checkpoint").exists()
    assert store.status("c", {"seed": 1}).state == "partial"


def test_v1_records_load_with_current_defaults():
    old = record_from_dict({"model": "m", "task": "t", "metric": "auroc", "value": 0.7})
    assert old.schema_version == SCHEMA_VERSION == 3
    assert old.arch == "m" and old.experiment == "" and old.identity == ""
    assert old.recipe == "paper" and old.converged is None


def test_v2_records_name_the_paper_recipe_and_unknown_convergence():
    fine_tuned = {"model": "m", "task": "t", "metric": "auroc", "value": 0.7, "schema_version": 2}
    probe = {**fine_tuned, "protocol": "linear-probe"}
    assert record_from_dict(fine_tuned).recipe == "paper"
    assert record_from_dict(probe).recipe == ""
    assert record_from_dict(fine_tuned).converged is None
    newer = {**fine_tuned, "schema_version": SCHEMA_VERSION + 1}
    with pytest.raises(RecordError, match="newer"):
        record_from_dict(newer)


def test_cell_ids_are_filesystem_safe():
    assert "/" not in cell_id("org/model v2", "t", "s", 0.25, 1, "finetune")
