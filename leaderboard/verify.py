"""``bench verify LEADERBOARD_DIR``: recompute every number of the published board from the
records and predictions published beside it, and diff them against the board's files.

1. Every bundle the board lists under ``records`` (``records/<run>.zip``) is opened safely
   and verified (:func:`bench.api.verify_bundle`: integrity, each record re-derived from
   its predictions by the independent reference scorer, split membership,
   contamination). A listed bundle that is missing, or whose size differs, fails.
2. The board is rebuilt from the bundles' records with
   :mod:`bench.leaderboard.reference_stats` (no code shared with the board's kernels): the
   latest record per cell and seed, each cell's seed values, mean, sd, min, max and CI
   pooled over the seeds on the board's shared resamples (``resamples`` in the JSON),
   identical seeds and seeds whose interval misses their value; each published paired
   comparison's values, difference, relative difference, pooled CI, p, Holm-adjusted p
   (per table), seed differences, seed agreement, Finding (†) and, for single-label
   AUROC, the paired permutation p (:mod:`bench.leaderboard.reference_permutation`).
3. The recomputed numbers are diffed against ``leaderboard.json`` (within 1e-9),
   ``leaderboard.csv`` (at its printed 6 significant digits) and the main tables of
   ``LEADERBOARD.md`` (:mod:`bench.leaderboard.verify_files`); the Findings must state
   exactly the recomputed findings (:mod:`bench.leaderboard.verify_findings`). Every
   difference is one ``[FAIL]`` line: file, row, field, published vs recomputed.
4. The saliency section (cells, differences, overlay figures) is recomputed from the
   bundles' ``bench saliency`` records (:mod:`bench.leaderboard.verify_saliency`); those
   records themselves are not re-derivable (they need the weights and rendered images),
   and a saliency number with no bundled record behind it fails.
5. "Does the paper hold here?": every claim's lines and verdict are generated again from
   the recomputed numbers (:mod:`bench.leaderboard.verify_claims`); each table's caption
   (steps, kept evaluations, early stops) and the limits' counts from the records
   (:mod:`bench.leaderboard.verify_budget`); the clinical profile's AUROC, calibration and
   subgroup numbers (:mod:`bench.leaderboard.verify_clinical`); the header's cells per
   harness commit (:mod:`bench.leaderboard.verify_provenance`).

Measured quantities (wall time, parameter counts from the cost measurement, the clinical
profile's latency) are listed as not re-derivable and never compared (docs/leaderboard.md).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from bench.leaderboard.reference_permutation import permutation_p
from bench.leaderboard.reference_stats import (
    CellNumbers,
    PairedNumbers,
    Resamples,
    SeedResample,
    cell_numbers,
    finding,
    holm_adjusted,
    paired_numbers,
    relative_pct,
)
from bench.leaderboard.verify_budget import verify_budget
from bench.leaderboard.verify_claims import compare_claims
from bench.leaderboard.verify_clinical import verify_clinical
from bench.leaderboard.verify_files import BOARD_JSON, compare_csv, compare_markdown, differ
from bench.leaderboard.verify_findings import compare_findings
from bench.leaderboard.verify_provenance import verify_provenance
from bench.leaderboard.verify_saliency import verify_saliency

from bench.api import (
    FAIL,
    NOT_DERIVABLE,
    PASS,
    Bundle,
    BundleError,
    Check,
    NotDerivable,
    ResultRecord,
    Verdict,
    cell_dir_of,
    get_host,
    verify_bundle,
)

#: Measured, not derived from predictions: shown by the board, never compared.
MEASURED = (
    "summary.wall_minutes",
    "summary.train_hours",
    "cells[].n_params",
    "rows[].n_params",
    "clinical_profile[].latency_ms",
)

Predictions = dict[tuple[str, str], pd.DataFrame]  # (bundle, cell dir) → predictions


def _open_bundles(
    folder: Path,
    data: dict[str, Any],
    verdict: Verdict,
    saliency: list[ResultRecord],
    submitted: list[ResultRecord],
) -> tuple[list[ResultRecord], Callable[[ResultRecord], pd.DataFrame]]:
    """Verify every listed bundle; their records and a reader of a record's predictions
    (their ``bench saliency`` records are appended to ``saliency``, and the records of
    bundles listed as ``submitted`` to ``submitted`` as well)."""
    host = get_host()
    listed = (data.get("records") or {}).get("bundles")
    if listed is None:
        message = "no 'records' list of bundles (published before its records were)"
        verdict.checks.append(Check(BOARD_JSON, "board", FAIL, message))
        return [], lambda r: pd.DataFrame()
    records: list[ResultRecord] = []
    owner: dict[int, Bundle] = {}
    for entry in listed:
        path = folder / entry["bundle"]
        if not path.is_file():
            verdict.checks.append(Check(entry["bundle"], "records", FAIL, "bundle missing"))
            continue
        if path.stat().st_size != entry["bytes"]:
            message = f"size {path.stat().st_size} bytes, the board says {entry['bytes']}"
            verdict.checks.append(Check(entry["bundle"], "records", FAIL, message))
        try:
            bundle = Bundle.open(path, host)
        except BundleError as exc:
            verdict.checks.append(Check(entry["bundle"], "records", FAIL, str(exc)))
            continue
        checked = verify_bundle(bundle, host)
        for check in checked.checks:
            subject = f"{entry['bundle']}: {check.subject}"
            verdict.checks.append(Check(subject, check.check, check.status, check.message))
        for record in bundle.records:
            owner[id(record)] = bundle
            records.append(record)
        if entry.get("submitted"):
            submitted += bundle.records
        saliency += bundle.saliency
    cache: Predictions = {}

    def read(record: ResultRecord) -> pd.DataFrame:
        bundle = owner[id(record)]
        key = (str(bundle.files.path), cell_dir_of(record))
        if key not in cache:
            cache[key] = bundle.predictions(key[1])
        frame = cache[key]
        return frame[frame["split"] == record.split]

    return records, read


def _latest(records: list[ResultRecord]) -> list[ResultRecord]:
    """The latest record (by ``created``, ties: read last) per cell, seed and metric."""
    best: dict[tuple[Any, ...], ResultRecord] = {}
    for r in records:
        key = (*r.cell, r.metric, r.model, r.init, r.selection, r.arch, r.experiment, r.protocol)
        if key not in best or r.created >= best[key].created:
            best[key] = r
    return list(best.values())


class _Board:
    """The recomputation state of one board."""

    def __init__(self, data: dict[str, Any], records: list[ResultRecord], read: Any) -> None:
        resamples = data.get("resamples") or {"replicates": 500, "seed": 0}
        self.resamples = Resamples(int(resamples["replicates"]), int(resamples["seed"]))
        self.records = _latest(records)
        self.read = read
        self.seeds: dict[int, list[SeedResample] | str] = {}

    def records_of(self, table: dict[str, Any], cell: dict[str, Any]) -> list[ResultRecord]:
        """The records behind one published cell, by seed."""
        key = (table["task"], table["source"], table["split"], table["metric"])
        found = [
            r
            for r in self.records
            if (r.task, r.source, r.split, r.metric) == key
            and (r.model, r.init, r.selection, r.arch, r.protocol, r.fraction)
            == (cell["model"], cell["init"], cell["selection"], cell["arch"], cell["protocol"],
                cell["fraction"])
            and r.run_id in cell.get("run_ids", [r.run_id])
        ]  # fmt: skip
        return sorted(found, key=lambda r: r.seed)

    def seeds_of(self, table: dict[str, Any], cell: dict[str, Any]) -> list[SeedResample] | None:
        """A published cell's seeds as :meth:`seed_values` recomputed them, or None."""
        seeds = self.seeds.get(id(cell))
        return seeds if isinstance(seeds, list) else None

    def seed_values(
        self, cell: dict[str, Any], records: list[ResultRecord]
    ) -> list[SeedResample] | str:
        """Each record's values on the board's resamples, or why they cannot be derived."""
        key = id(cell)
        if key not in self.seeds:
            try:
                self.seeds[key] = [
                    self.resamples.values(
                        self.read(r),
                        r.metric,
                        r.seed,
                        min_label_positives=int(r.bootstrap.get("min_label_positives", 1)),
                        regression=r.task_kind == "regression",
                    )
                    for r in records
                ]
            except NotDerivable as exc:
                self.seeds[key] = str(exc)
        return self.seeds[key]


def _cell_expected(numbers: CellNumbers, records: list[ResultRecord]) -> dict[str, Any]:
    return {
        "mean": numbers.mean, "std": numbers.std, "min": numbers.min, "max": numbers.max,
        "ci_low": numbers.ci_low, "ci_high": numbers.ci_high,
        "seeds": [r.seed for r in records],
        "seed_values": {str(s): v for s, v in sorted(numbers.seed_values.items())},
        "identical_seeds": numbers.identical_seeds,
        "interval_flags": list(numbers.flagged_seeds),
        "n": records[0].n, "n_positive": records[0].n_positive,
    }  # fmt: skip


def _flagged(published: list[str]) -> list[int]:
    return [int(text.split(":")[0].removeprefix("seed ")) for text in published]


def _diff_expected(
    first: CellNumbers, second: CellNumbers, paired: PairedNumbers | None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "reference_value": first.mean, "value": second.mean, "diff": first.mean - second.mean,
        "rel_diff_pct": relative_pct(first.mean, second.mean),
    }  # fmt: skip
    if paired is not None:
        out |= {
            "ci_low": paired.ci_low, "ci_high": paired.ci_high, "p_value": paired.p_value,
            "seed_diffs": list(paired.seed_diffs), "seeds_agree": paired.seeds_agree,
            "seeds_tested": list(paired.seeds),
        }  # fmt: skip
    return out


def _table(
    board: _Board, table: dict[str, Any], where: str, verdict: Verdict
) -> list[dict[str, Any]]:
    """Recompute one table, diff it against the JSON; the recomputed lines (cells, then
    differences, in the JSON's order; None where not re-derivable) for the CSV and MD."""
    numbers: dict[tuple[Any, ...], tuple[CellNumbers, list[SeedResample], bool] | None] = {}
    lines: list[dict[str, Any]] = []
    for cell in table["cells"]:
        label = f"{where} cell {cell['model']} ({cell['init']}, {cell['protocol']}) {cell['fraction']:g}"
        records = board.records_of(table, cell)
        row = (cell["model"], cell["init"], cell["selection"], cell["arch"], cell["protocol"])
        numbers[(*row, cell["fraction"])] = None
        lines.append({})
        if [r.seed for r in records] != cell["seeds"]:
            message = f"published {cell['seeds']} vs records {[r.seed for r in records]}"
            verdict.checks.append(Check(label, "seeds", FAIL, message))
            continue
        seeds = board.seed_values(cell, records)
        if isinstance(seeds, str):
            verdict.checks.append(Check(label, "cell", NOT_DERIVABLE, seeds))
            continue
        got = cell_numbers(seeds, [(r.ci_low, r.ci_high) for r in records])
        stopped = any(r.converged is False for r in records)
        numbers[(*row, cell["fraction"])] = (got, seeds, stopped)
        expected = _cell_expected(got, records)
        published = {**cell, "interval_flags": _flagged(cell.get("interval_flags", []))}
        verdict.checks += differ(BOARD_JSON, label, published, expected)
        lines[-1] = expected
    tested = []
    for d in table["differences"]:
        label = (f"{where} Δ {d['reference']} ({d['reference_init']}) vs {d['model']} "
                 f"({d['init']}) [{d['kind']}] {d['fraction']:g}")  # fmt: skip
        second = numbers.get((d["model"], d["init"], d["selection"], d["arch"], d["protocol"],
                              d["fraction"]))  # fmt: skip
        firsts = [v for k, v in numbers.items() if (k[0], k[1], k[4], k[5]) == (
            d["reference"], d["reference_init"], d["reference_protocol"], d["fraction"])]  # fmt: skip
        lines.append({})
        if len(firsts) != 1 or firsts[0] is None or second is None:
            why = (
                "its cells are not re-derivable"
                if len(firsts) == 1
                else "its first row is ambiguous"
            )
            verdict.checks.append(Check(label, "difference", NOT_DERIVABLE, why))
            continue
        (a, seeds_a, stop_a), (b, seeds_b, stop_b) = firsts[0], second
        common = sorted({s.seed for s in seeds_a} & {s.seed for s in seeds_b})
        pair_a = [s for s in seeds_a if s.seed in common]
        pair_b = [s for s in seeds_b if s.seed in common]
        pairable = common and all(
            x.record_ids == y.record_ids and x.labels.shape == y.labels.shape
            and bool((x.labels == y.labels).all()) for x, y in zip(pair_a, pair_b, strict=True)
        )  # fmt: skip
        testable = pairable and not (stop_a or stop_b)
        paired = paired_numbers(pair_a, pair_b) if testable else None
        if (d["p_value"] is None) != (paired is None):
            said = "untested" if d["p_value"] is None else "tested"
            message = f"published {said} ({d['note']}), recomputed {'un' * (paired is None)}tested"
            verdict.checks.append(Check(label, "difference", FAIL, message))
        expected = _diff_expected(a, b, paired)
        if paired is not None:
            seed = board.resamples.seed
            expected["permutation_p"] = permutation_p(table["metric"], pair_a, pair_b, seed)
        lines[-1] = expected
        if paired is not None:
            tested.append((d, expected, paired, label))
        else:
            verdict.checks += differ(BOARD_JSON, label, d, expected)
    adjusted = holm_adjusted([t[2].p_value for t in tested])
    for (d, expected, paired, label), p_holm in zip(tested, adjusted, strict=True):
        expected |= {"p_holm": p_holm, "significant": finding(paired, p_holm)}
        verdict.checks += differ(BOARD_JSON, label, d, expected)
    return lines


def verify_board(folder: Path) -> Verdict:
    """Every check of the module docstring on the board in ``folder``."""
    verdict = Verdict(str(folder))
    try:
        data = json.loads((folder / BOARD_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"{folder / BOARD_JSON}: not a leaderboard's JSON ({exc})") from None
    saliency: list[ResultRecord] = []
    submitted: list[ResultRecord] = []
    records, read = _open_bundles(folder, data, verdict, saliency, submitted)
    if "records" not in data:  # a board published before its records were: nothing to use
        return verdict
    board = _Board(data, records, read)
    recomputed = []
    for table in data.get("tables", []):
        where = "/".join(table[k] for k in ("task", "source", "split", "metric"))
        recomputed.append((table, _table(board, table, where, verdict)))
    verdict.checks += compare_csv(folder / "leaderboard.csv", recomputed)
    verdict.checks += compare_markdown(folder / "LEADERBOARD.md", recomputed)
    verdict.checks += compare_findings(folder / "LEADERBOARD.md", data, recomputed)
    verdict.checks += compare_claims(folder / "LEADERBOARD.md", data, recomputed, board.seeds_of)
    verdict.checks += verify_budget(folder / "LEADERBOARD.md", data, board.records_of)
    verdict.checks += verify_clinical(
        folder / "LEADERBOARD.md", data, board.records, read, board.resamples
    )
    verdict.checks += verify_saliency(folder, data, _latest(saliency))
    theirs = {id(r) for r in submitted}
    own = [r for r in records if id(r) not in theirs]
    verdict.checks.append(verify_provenance(data, own, submitted))
    present = [m for m in MEASURED if _present(data, m)]
    if present:
        message = "measured, shown but not re-derivable: " + ", ".join(present)
        verdict.checks.append(Check(BOARD_JSON, "measured", NOT_DERIVABLE, message))
    if not verdict.failures:
        n = sum(len(t["cells"]) + len(t["differences"]) for t, _ in recomputed)
        verdict.checks.append(Check(BOARD_JSON, "board", PASS, f"{n} cells and differences agree"))
    return verdict


def _present(data: dict[str, Any], path: str) -> bool:
    head, _, field = path.partition(".")
    if head.endswith("[]"):
        key = head[:-2]
        items = data.get(key, []) if key != "cells" else [
            c for t in data.get("tables", []) for c in t["cells"]]  # fmt: skip
        return any(item.get(field) is not None for item in items)
    value = data.get(head) or {}
    return value.get(field) is not None and not (
        isinstance(value.get(field), float) and math.isnan(value[field])
    )
