"""``bench verify`` checks the board's statement of which harness commits trained its cells
against the records in its bundles (each cell identity once)."""

from __future__ import annotations

from dataclasses import replace

from bench.leaderboard.verify_provenance import verify_provenance

from bench.api import ResultRecord

BASE = ResultRecord(run_id="r", model="heartbeit", task="stemi", source="synthetic",
                    fraction=0.01, seed=0, split="internal", metric="auroc", value=0.7)  # fmt: skip


def _records() -> list[ResultRecord]:
    """Two cells of commit aaa (AUROC and AUPRC records each) and one of bbb."""
    return [
        replace(BASE, identity=cell, git_sha=sha, metric=metric)
        for cell, sha in (("c1", "aaa"), ("c2", "aaa"), ("c3", "bbb"))
        for metric in ("auroc", "auprc")
    ]


def test_a_true_statement_passes() -> None:
    data = {"summary": {"cells": 3, "harness_commits": {"aaa": 2, "bbb": 1}}}
    check = verify_provenance(data, _records(), [])
    assert check.status == "pass" and "3 cells from 2 commit(s)" in check.message


def test_a_wrong_commit_or_count_fails_naming_both() -> None:
    for summary in (
        {"cells": 3, "harness_commits": {"aaa": 3}},
        {"cells": 4, "harness_commits": {"aaa": 2, "bbb": 1}},
        {"cells": 3, "harness_commits": {"aaa": 2, "ccc": 1}},
    ):
        check = verify_provenance({"summary": summary}, _records(), [])
        assert check.status == "FAIL", summary
        assert "the bundles' records hold 3 from {'aaa': 2, 'bbb': 1}" in check.message


def test_submitted_cells_are_stated_apart_from_the_grids() -> None:
    """A submitter's cells are neither the grid's commits nor its compute: a board that
    counts them with its own cells, or leaves them unstated, fails."""
    theirs = [replace(BASE, identity="s1", git_sha="ccc", metric=m) for m in ("auroc", "auprc")]
    apart = {"cells": 3, "harness_commits": {"aaa": 2, "bbb": 1},
             "submitted_cells": 1, "submitted_commits": {"ccc": 1}}  # fmt: skip
    check = verify_provenance({"summary": apart}, _records(), theirs)
    assert check.status == "pass" and "1 submitted cells" in check.message
    merged = {"cells": 4, "harness_commits": {"aaa": 2, "bbb": 1, "ccc": 1}}
    check = verify_provenance({"summary": merged}, _records(), theirs)
    assert check.status == "FAIL"
    assert "summary says 0 submitted cells from {}" in check.message
