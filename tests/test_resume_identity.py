"""Resuming a run re-runs a cell whose inputs changed: the cohort, the exact record ids it
trains, selects and evaluates on, and the model's input representation are each part of
the cell's stored identity, so a change in any one alone is not served stale results.

Each test runs one cheap cell, changes exactly one input, runs again and checks that the
cell was re-run and that its stored identity differs in that field alone (issue 25).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from unittest.mock import Mock

import numpy as np
import pandas as pd
import pytest

from bench.data.signal_recipe import SignalRecipe
from tests.clustered_cells import CELL, CellRun, TinySignalModel, write_clustered_cohort


def leaves(identity: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """The identity flattened to dotted names of its non-mapping values."""
    out: dict[str, Any] = {}
    for key, value in identity.items():
        if isinstance(value, Mapping):
            out.update(leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def differing(before: Mapping[str, Any], after: Mapping[str, Any]) -> set[str]:
    """Dotted names of the identity values that differ (or exist on one side only)."""
    a, b = leaves(before), leaves(after)
    return {name for name in a.keys() | b.keys() if a.get(name) != b.get(name)}


@pytest.fixture
def cell(tmp_path: Path) -> CellRun:
    """The cell, run once to completion on a 60-patient cohort (two ECGs each)."""
    manifest = write_clustered_cohort(tmp_path / "cohort", n_patients=60, records_per_patient=2)
    cell = CellRun(manifest, tmp_path)
    first = cell.run()
    assert (first["finished"], first["resumed"]) == (1, 0)
    return cell


def rerun_changes(cell: CellRun, before: dict[str, Any], report: dict[str, Any]) -> set[str]:
    """The identity fields that changed, after checking that the second run re-ran the
    cell (not resumed it) and named the same fields as changed."""
    changed = differing(before, cell.identity())
    assert (report["finished"], report["resumed"]) == (1, 0)
    (stale,) = report["rerun_stale"]
    assert stale["cell"] == CELL and set(stale["changed"]) == changed
    return changed


def test_a_rewritten_manifest_reruns_the_cell_and_changes_only_the_cohort_hash(cell):
    before = cell.identity()
    table = pd.read_csv(cell.manifest)
    first = cell.manifest.parent / table.loc[0, "path"]
    np.save(first.with_name("rerecorded.npy"), np.load(first) * 0.5)
    table.loc[0, "path"] = "rerecorded.npy"  # same ids, patients, sites, labels
    table.to_csv(cell.manifest, index=False)
    # the input cache knows a changed manifest by its modification time: move the time on
    # explicitly, so the test does not depend on the file system's timestamp resolution
    stat = cell.manifest.stat()
    os.utime(cell.manifest, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert rerun_changes(cell, before, cell.run()) == {"cohort"}


def test_another_external_site_reruns_the_cell_and_changes_only_its_record_ids(cell):
    before = cell.identity()
    report = cell.run("--source-option", "manifest.external_site=C")  # default: D
    changed = rerun_changes(cell, before, report)
    assert {"membership.train", "membership.eval.external"} <= changed
    assert {name.split(".")[0] for name in changed} == {"membership"}


def test_another_signal_recipe_reruns_the_cell_and_changes_only_the_representation_hash(cell):
    before = cell.identity()
    report = cell.run(recipe=SignalRecipe(normalise="none"))  # default: zscore
    assert rerun_changes(cell, before, report) == {"model.representation"}


def test_a_signal_file_rewritten_in_place_reruns_the_cell_and_changes_only_the_cohort_hash(cell):
    before = cell.identity()
    first = cell.manifest.parent / pd.read_csv(cell.manifest).loc[0, "path"]
    np.save(first, np.load(first) * 0.5)  # the manifest itself is untouched
    stat = first.stat()  # a new modification time, whatever the timestamp resolution
    os.utime(first, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert rerun_changes(cell, before, cell.run()) == {"cohort"}


def test_another_fine_tune_recipe_reruns_the_cell_and_changes_only_its_training_recipe(cell):
    before = cell.identity()
    report = cell.run("--recipe-option", "lr=0.0123")
    changed = rerun_changes(cell, before, report)
    assert changed and {name.rsplit(".", 1)[0] for name in changed} == {"train.recipe"}


def test_a_stale_cell_whose_rerun_fails_leaves_no_superseded_records_in_the_results(
    cell, monkeypatch
):
    assert cell.records()
    monkeypatch.setattr(
        TinySignalModel, "build", staticmethod(Mock(side_effect=RuntimeError("out of memory")))
    )
    report = cell.run("--recipe-option", "lr=0.0123", exit_code=1)
    (stale,) = report["rerun_stale"]
    (failed,) = report["failed"]
    assert stale["cell"] == failed["cell"] == CELL and "out of memory" in failed["error"]
    # the records of the old recipe are gone from results.jsonl, not served as current
    assert cell.records() == []


def test_an_unreadable_stored_identity_reruns_the_cell_naming_the_file_not_a_traceback(cell):
    before = cell.identity()
    (cell.cell_dir / "identity.json").write_text('{"cohort": ')  # a disk that lost the tail
    report = cell.run()
    assert (report["finished"], report["resumed"]) == (1, 0)
    (stale,) = report["rerun_stale"]
    (reason,) = stale["changed"]
    assert reason.startswith("identity (unreadable: ") and "identity.json" in reason
    assert cell.identity() == before  # the re-run stored the same identity again
