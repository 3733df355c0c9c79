"""Result records (schema, old files) and the crash-safe run store."""

from __future__ import annotations

import dataclasses
import json
import re

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.run.cells import cell_id
from bench.run.records import (
    SCHEMA_VERSION,
    RecordError,
    ResultRecord,
    dumps,
    load_records,
    read_jsonl,
    record_from_dict,
)
from bench.run.store import RunStore


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
    assert old.schema_version == SCHEMA_VERSION == 5
    assert old.arch == "m" and old.experiment == "" and old.identity == ""
    assert old.recipe == "paper" and old.converged is None
    assert old.compute == {}  # schema 4: not measured before
    assert old.task_kind == "classification"  # schema 5: the only kind before it


def test_v3_records_load_with_no_compute_cost():
    v3 = {"model": "m", "task": "t", "metric": "auroc", "value": 0.7, "schema_version": 3}
    assert record_from_dict(v3).compute == {} and record_from_dict(v3).schema_version == 5


def test_v4_records_are_classification_records():
    v4 = {"model": "m", "task": "t", "metric": "auroc", "value": 0.7, "schema_version": 4}
    assert record_from_dict(v4).task_kind == "classification"


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


def _minimal(**kw: object) -> dict[str, object]:
    """The JSON of the smallest record any schema version accepts, plus ``kw``."""
    return {"model": "resnet152", "task": "lvef", "metric": "auroc", "value": 0.84, **kw}


def test_a_record_without_schema_version_is_read_as_v1_with_every_default():
    old = record_from_dict(_minimal())
    assert old == ResultRecord(
        run_id="", model="resnet152", task="lvef", source="", fraction=1.0, seed=0,
        split="internal", metric="auroc", value=0.84, arch="resnet152", recipe="paper",
    )  # fmt: skip
    assert (old.schema_version, old.protocol, old.converged) == (SCHEMA_VERSION, "finetune", None)


def test_only_older_records_get_the_model_as_arch_and_the_paper_recipe():
    current = record_from_dict(_minimal(schema_version=SCHEMA_VERSION, details={"a": 1}))
    assert (current.arch, current.recipe, current.details) == ("", "", {"a": 1})
    v2_probe = record_from_dict(_minimal(schema_version=2, protocol="linear-probe"))
    assert (v2_probe.arch, v2_probe.recipe) == ("", "")
    v1_probe = record_from_dict(_minimal(schema_version=1, protocol="linear-probe"))
    assert (v1_probe.arch, v1_probe.recipe) == ("resnet152", "")


def test_unknown_fields_join_the_records_own_details():
    data = _minimal(schema_version=1, details={"predictions": "p.csv"}, added_later=[1, 2])
    as_read = json.loads(json.dumps(data))
    assert record_from_dict(data).details == {
        "predictions": "p.csv",
        "unknown_fields": {"added_later": [1, 2]},
    }
    assert data == as_read  # upgrading leaves the caller's dict alone


@pytest.mark.parametrize("version", [SCHEMA_VERSION + 1, "3"])
def test_a_newer_or_malformed_schema_version_is_named_with_the_supported_one(version):
    with pytest.raises(RecordError) as info:
        record_from_dict(_minimal(schema_version=version))
    assert str(info.value) == (
        f"schema_version {version!r} is newer than this harness supports "
        f"({SCHEMA_VERSION}); upgrade ecg-bench"
    )


def test_a_record_lacking_required_fields_names_them():
    with pytest.raises(RecordError) as info:
        record_from_dict({"model": "m", "value": 0.5})
    assert str(info.value) == "record lacks required fields ['task', 'metric']"


def test_dumps_writes_one_sorted_json_object_per_line_that_reads_back(tmp_path):
    records = [record(), record(metric="auprc", details={"z": 1, "a": [2]}, bootstrap={"seed": 4})]
    text = dumps(records)
    lines = text.split("\n")
    assert lines[-1] == "" and len(lines) == 3
    for line, r in zip(lines, records, strict=False):
        assert line == json.dumps(r.to_dict(), sort_keys=True)
        assert list(json.loads(line)) == sorted(dataclasses.asdict(r))
    path = tmp_path / "results.jsonl"
    path.write_text(text)
    assert list(read_jsonl(path)) == records
    assert dumps([]) == ""


def test_blank_lines_are_skipped_and_errors_name_file_and_line(tmp_path):
    good = json.dumps(record().to_dict())
    path = tmp_path / "results.jsonl"
    path.write_text(f"{good}\n\n   \n{good}\n")
    assert len(list(read_jsonl(path))) == 2
    path.write_text(f"{good}\n{{broken\n{good}\n")
    with pytest.raises(RecordError) as info:
        list(read_jsonl(path))
    assert (
        str(info.value)
        == f"{path}:2: not valid JSON (Expecting property name enclosed in double quotes)"
    )
    lacking = json.dumps({"model": "m", "task": "t", "value": 1})
    path.write_text(f"{good}\n{lacking}\n")
    with pytest.raises(RecordError) as info:
        list(read_jsonl(path))
    assert str(info.value) == f"{path}:2: record lacks required fields ['metric']"


def test_a_malformed_field_is_an_error_naming_file_and_line(tmp_path):
    # details that are not a mapping cannot take the unknown fields (a TypeError inside)
    bad = json.dumps(_minimal(details=[1], extra=2))
    path = tmp_path / "results.jsonl"
    path.write_text(f"{bad}\n{json.dumps(_minimal())}\n")
    with pytest.raises(RecordError, match=rf"^{re.escape(str(path))}:1: .*not a mapping"):
        list(read_jsonl(path))


def test_load_records_reads_results_files_below_folders_in_path_order(tmp_path):
    for run, model in (("b", "m2"), ("a/deep", "m1")):
        (tmp_path / run).mkdir(parents=True)
        (tmp_path / run / "results.jsonl").write_text(dumps([record(model=model)]))
    (tmp_path / "a" / "other.jsonl").write_text(dumps([record(model="ignored")]))
    assert [r.model for r in load_records([tmp_path])] == ["m1", "m2"]
    single = tmp_path / "a" / "other.jsonl"
    assert [r.model for r in load_records([str(single), tmp_path / "b"])] == ["ignored", "m2"]


@settings(max_examples=30, deadline=None)
@given(
    value=st.floats(allow_nan=False, allow_infinity=False),
    seed=st.integers(0, 2**31),
    text=st.text(max_size=12),
    details=st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
)
def test_any_record_round_trips_through_jsonl(tmp_path_factory, value, seed, text, details):
    r = record(value=value, seed=seed, model=text, details=details, converged=seed % 2 == 0)
    path = tmp_path_factory.mktemp("jsonl") / "results.jsonl"
    path.write_text(dumps([r, r]))
    assert list(read_jsonl(path)) == [r, r]
