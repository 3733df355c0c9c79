"""``bench verify``'s check of the board's provenance: which harness commits trained its
cells, counted from the records of its own bundles, apart from the submitted rows' cells."""

from __future__ import annotations

from typing import Any

from bench.leaderboard.verify_files import BOARD_JSON

from bench.api import FAIL, NOTE, PASS, Check, ResultRecord


def _commits(records: list[ResultRecord]) -> dict[str, int]:
    """Cells per ``git_sha`` of ``records``, each identity once (counted here, apart from
    the board's own code): a record without an identity is its own cell, as on the board."""
    commits: dict[str, set[str | int]] = {}
    for record in records:
        commits.setdefault(record.git_sha or "unknown", set()).add(record.identity or id(record))
    return {sha: len(ids) for sha, ids in commits.items()}


def verify_provenance(
    data: dict[str, Any], records: list[ResultRecord], submitted: list[ResultRecord]
) -> Check:
    """The board's statement of which harness commits trained its cells (``summary``:
    ``cells``, ``harness_commits``) against the records of its own bundles, and of its
    submitted rows' cells (``submitted_cells``, ``submitted_commits``; none when absent)
    against the submitted bundles' records, each identity once."""
    summary = data.get("summary") or {}
    stated = summary.get("harness_commits")
    if stated is None:
        return Check(BOARD_JSON, "provenance", NOTE, "the board states no harness commits")
    problems = []
    for what, rows, cells_key, commits_key in (
        ("", records, "cells", "harness_commits"),
        ("submitted ", submitted, "submitted_cells", "submitted_commits"),
    ):
        expected = _commits(rows)
        cells = sum(expected.values())
        said_cells = summary.get(cells_key, 0 if what else None)
        said_commits = summary.get(commits_key, {} if what else None)
        if said_commits != expected or said_cells != cells:
            problems.append(
                f"summary says {said_cells} {what}cells from {said_commits}; the {what}bundles' "
                f"records hold {cells} from {expected}"
            )
    if problems:
        return Check(BOARD_JSON, "provenance", FAIL, "; ".join(problems))
    own = _commits(records)
    message = f"{sum(own.values())} cells from {len(own)} commit(s)"
    if submitted:
        message += f", {sum(_commits(submitted).values())} submitted cells"
    return Check(BOARD_JSON, "provenance", PASS, message)
