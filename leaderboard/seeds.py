"""Checks on a cell's seeds: identical replicates, and intervals that miss their own value.

- **Identical seeds.** Several seeds whose predictions are identical (the same scores on
  the same records) are one replicate shown as several: their spread is no evidence of
  stability and the "n seeds" of a Finding overstates it. Without predictions, identical
  recorded values stand in for identical predictions.
- **Intervals that exclude their own value.** A seed's percentile bootstrap interval
  (recomputed on the shared resamples from its predictions, else the record's own) should
  contain the seed's value. On small test sets it need not: the bootstrap distribution of
  a skewed statistic (AUPRC of a label with a handful of positives, whose duplicated
  positives in a resample raise the precision at their rank) is shifted away from the
  point estimate, and the percentile interval inherits the shift. Such seeds are flagged,
  not hidden.
- **Small samples.** A table whose test set has fewer than :data:`SMALL_SAMPLE` ECGs gets
  a caption saying so (:func:`small_sample_caption`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from bench.leaderboard.aggregate import Cell, RowKey, cell_labels, fraction_label
from bench.leaderboard.replicates import Replicates

from bench.api import percentile_ci

#: Test sets below this many ECGs get the small-sample caption.
SMALL_SAMPLE = 100


def identical_seeds(cell: Cell, values: Replicates) -> bool:
    """Whether ``cell`` has several seeds and they all produced the same predictions
    (the same recorded values where predictions are missing)."""
    if len(cell.records) < 2:
        return False
    got = [values.of(item) for item in cell.records]
    if any(isinstance(g, str) for g in got):
        return len(set(cell.seed_values.values())) == 1
    first = got[0]
    return all(
        not isinstance(g, str)
        and not isinstance(first, str)
        and g.index.equals(first.index)
        and np.array_equal(g.scores, first.scores)
        for g in got[1:]
    )


def interval_flags(cell: Cell, values: Replicates) -> tuple[str, ...]:
    """One sentence per seed whose own 95 % bootstrap interval excludes its own value."""
    flags = []
    for item in cell.records:
        got = values.of(item)
        r = item.record
        if isinstance(got, str):
            point, low, high = r.value, r.ci_low, r.ci_high
        else:
            point, (low, high) = got.point, percentile_ci(got.values)
        if low is None or high is None or not np.isfinite([point, low, high]).all():
            continue
        if point < low or point > high:
            side = "above" if point < low else "below"
            flags.append(
                f"seed {r.seed}: its bootstrap interval [{low:.3f}–{high:.3f}] lies {side} "
                f"its own value {point:.3f}"
            )
    return tuple(flags)


def check_seeds(cells: Sequence[Cell], values: Replicates) -> list[Cell]:
    """``cells`` with :attr:`Cell.identical_seeds` and :attr:`Cell.interval_flags` set."""
    return [
        replace(
            cell,
            identical_seeds=identical_seeds(cell, values),
            interval_flags=interval_flags(cell, values),
        )
        for cell in cells
    ]


def small_sample_caption(cells: Sequence[Cell]) -> str:
    """The small-sample caption of one table's cells ("" when every test set is large)."""
    sizes = sorted({c.n for c in cells if 0 < c.n < SMALL_SAMPLE})
    if not sizes:
        return ""
    size = str(sizes[0]) if len(sizes) == 1 else f"{sizes[0]}–{sizes[-1]}"
    return (
        f"Small sample: {size} test ECGs. Intervals are wide and differences are hard to "
        "detect; the percentile bootstrap of a skewed statistic (AUPRC of labels with few "
        "positives) can lie beside its own point estimate, and each seed's interval is "
        "checked against the seed's value (◊)."
    )


def seed_notes(cells: Sequence[Cell], labels: dict[RowKey, str]) -> list[str]:
    """Notes naming the identical-seed cells and the flagged intervals of one table."""
    notes = []
    for cell in cells:
        where = f"{labels[cell.row]} at {fraction_label(cell.fraction)}"
        if cell.identical_seeds:
            n = len(cell.records)
            notes.append(
                f"≡ {where}: all {n} seeds produced identical predictions: one replicate "
                f"shown as {n}."
            )
        if cell.interval_flags:
            notes.append(f"◊ {where}: " + "; ".join(cell.interval_flags) + ".")
    return notes


def per_seed_markdown(tables: Sequence[tuple[str, Sequence[Cell]]]) -> str:
    """The ``## Per-seed values`` appendix: for each (title, cells) table, every seed's
    own value per row and fraction."""
    lines = [
        "## Per-seed values",
        "",
        "Each seed's own value (seed: value), per table and row.",
        "",
    ]
    for title, cells in tables:
        labels = cell_labels(cells)
        fractions = sorted({c.fraction for c in cells})
        lines += [
            f"### {title}",
            "",
            "| row | " + " | ".join(map(fraction_label, fractions)) + " |",
        ]
        lines.append("|---|" + "--:|" * len(fractions))
        by_row: dict[RowKey, dict[float, Cell]] = {}
        for cell in cells:
            by_row.setdefault(cell.row, {})[cell.fraction] = cell
        for row, got in by_row.items():
            texts = [
                " ".join(f"{s}: {v:.3f}" for s, v in sorted(got[f].seed_values.items()))
                if f in got
                else ""
                for f in fractions
            ]
            lines.append(f"| {labels[row]} | " + " | ".join(texts) + " |")
        lines.append("")
    return "\n".join(lines)
