"""Saliency on the board: where each model looks, from the ``saliency_*`` records of
``bench saliency``.

Per task and source, one table of every model's localisation (the share of saliency mass
in the task's clinical region, the ST segment for STEMI and the QRS complex elsewhere, from
the fiducials, divided by the region's share of the input: 1 is chance) and pointing score
(share of images whose saliency peak falls in the region),
each the mean over the explained test images with its 95 % bootstrap CI over images;
then HeartBEiT against each CNN (:data:`CNN_MODELS`, and resnet1d when present). Rows are
the board's rows (model, init, …): a pretrained model's saliency and its random-init
twin's are two rows, and the paper's claim is about the pretrained HeartBEiT, so only
HeartBEiT rows whose init is not ``random`` are compared.

Two rows explained on the same test ECGs (run-level saliency explains the same ones for
every model of a task) are compared image by image: each shared ECG's score (averaged
over the row's explained seeds) minus the other row's, the mean of those differences and
its 95 % percentile-bootstrap CI over the shared ECGs (:data:`PAIRED_REPLICATES`
resamples drawn with :data:`PAIRED_SEED`). Records without per-image scores (written
before the records kept them) fall back to the unpaired ``d ± 1.96 √(se_a² + se_b²)``,
each ``se`` read off its 95 % CI, and the line says which it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from bench.leaderboard.aggregate import Cell, RowKey, cell_labels, fraction_label

from bench.api import percentile_ci

#: The metrics tabulated, with their column names.
SALIENCY_COLUMNS = {"saliency_localisation": "localisation", "saliency_pointing": "pointing"}
HEARTBEIT = "heartbeit"
#: The CNNs HeartBEiT's saliency is compared with (the paper's, and the signal CNN).
CNN_MODELS = ("resnet152", "efficientnet-b4", "resnet1d")
Z95 = 1.959964
#: The paired bootstrap over shared images: resamples and the seed they are drawn with.
PAIRED_REPLICATES, PAIRED_SEED = 1000, 0
PAIRED, UNPAIRED = "paired bootstrap", "unpaired normal"
REGIONS = {"st": "ST segment", "qrs": "QRS complex"}
CAPTION = (
    "Localisation: the share of the saliency map's mass inside the task's region (from the "
    "ECGs' fiducials) divided by the region's share of the input, so 1 is chance (a uniform "
    "map) and above 1 the map concentrates on the region; pointing: share of images whose "
    "saliency peak lies in it. Mean over the explained test images [95 % bootstrap CI over "
    "images], each averaged over the explained seeds (the seeds column: the cell of each "
    "seed is explained on the same ECGs); the largest training fraction with saliency "
    "records per row. Differences "
    "are paired on the ECGs both rows explained: the mean of the per-ECG differences [95 % "
    "percentile bootstrap CI over those ECGs, 1,000 resamples]; a line marked unpaired "
    "(records without per-image scores) is d [d ± 1.96 √(se₁² + se₂²)], each se from its CI."
)


@dataclass(frozen=True)
class SaliencyDifference:
    """HeartBEiT's score minus a CNN's on one task's saliency metric: paired over the ECGs
    both explained (``n_pairs`` of them), or unpaired where a record has no per-image
    scores (``method``)."""

    task: str
    source: str
    metric: str
    first: RowKey
    second: RowKey
    diff: float
    ci_low: float
    ci_high: float
    method: str = PAIRED
    n_pairs: int | None = None

    @property
    def how(self) -> str:
        """How the interval was computed, as the board prints it."""
        return f"paired over {self.n_pairs} ECGs" if self.method == PAIRED else "unpaired"

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval excludes zero."""
        return self.ci_low > 0 or self.ci_high < 0

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "task": self.task, "source": self.source, "metric": self.metric,
            "first": self.first[0], "second": self.second[0],
            "first_row": list(self.first), "second_row": list(self.second),
            "diff": self.diff, "ci_low": self.ci_low, "ci_high": self.ci_high,
            "method": self.method, "n_pairs": self.n_pairs,
        }  # fmt: skip


def interval_se(low: float, high: float) -> float:
    """The standard error a normal 95 % interval ``[low, high]`` implies."""
    return (high - low) / (2 * Z95)


def _se(cell: Cell) -> float | None:
    if cell.ci_low is None or cell.ci_high is None:
        return None
    return interval_se(cell.ci_low, cell.ci_high)


def unpaired_difference(a: Cell, b: Cell) -> SaliencyDifference | None:
    """``a − b`` with its unpaired normal 95 % CI (None when a CI is missing)."""
    se_a, se_b = _se(a), _se(b)
    if se_a is None or se_b is None:
        return None
    d, half = a.mean - b.mean, Z95 * math.hypot(se_a, se_b)
    return SaliencyDifference(
        a.task, a.source, a.metric, a.row, b.row, d, d - half, d + half, UNPAIRED
    )


def per_image_scores(cell: Cell) -> dict[str, float] | None:
    """Explained ECG id → its score, averaged over the cell's records (seeds) that scored
    it; ``None`` when a record holds no per-image scores."""
    scored: dict[str, list[float]] = {}
    for item in cell.records:
        details = item.record.details
        ids, scores = details.get("record_ids"), details.get("per_image")
        if ids is None or scores is None or len(ids) != len(scores):
            return None
        for record_id, score in zip(ids, scores, strict=True):
            if score is not None:
                scored.setdefault(str(record_id), []).append(float(score))
    return {record_id: math.fsum(v) / len(v) for record_id, v in scored.items()}


def paired_difference(a: Cell, b: Cell) -> SaliencyDifference | None:
    """``a − b`` over the ECGs both explained, with its paired percentile-bootstrap 95 %
    CI; unpaired (:func:`unpaired_difference`) where either has no per-image scores, and
    ``None`` when they share no scored ECG."""
    first, second = per_image_scores(a), per_image_scores(b)
    if first is None or second is None:
        return unpaired_difference(a, b)
    shared = sorted(first.keys() & second.keys())
    if not shared:
        return None
    d = np.array([first[k] - second[k] for k in shared])
    draws = np.random.default_rng(PAIRED_SEED).integers(d.size, size=(PAIRED_REPLICATES, d.size))
    low, high = percentile_ci(d[draws].mean(axis=1))
    return SaliencyDifference(
        a.task, a.source, a.metric, a.row, b.row, float(d.mean()), low, high, PAIRED, d.size
    )


def latest_by_row(cells: Sequence[Cell]) -> dict[tuple[str, str, str, RowKey], Cell]:
    """(task, source, metric, row) → the cell of the row's largest fraction."""
    out: dict[tuple[str, str, str, RowKey], Cell] = {}
    for cell in sorted(cells, key=lambda c: (c.fraction, c.row), reverse=True):
        if cell.metric in SALIENCY_COLUMNS:
            out.setdefault((cell.task, cell.source, cell.metric, cell.row), cell)
    return out


def saliency_differences(cells: Sequence[Cell]) -> list[SaliencyDifference]:
    """Each pretrained HeartBEiT row (init not ``random``) minus every CNN row present, per
    task, source and tabulated metric."""
    latest = latest_by_row(cells)
    out = []
    for (task, source, metric, row), first in sorted(latest.items()):
        if row[0] != HEARTBEIT or row[1] == "random":
            continue
        for cnn in CNN_MODELS:
            for (t, src, m, other), second in sorted(latest.items()):
                if (t, src, m, other[0]) != (task, source, metric, cnn):
                    continue
                got = paired_difference(first, second)
                if got is not None:
                    out.append(got)
    return out


def saliency_labels(cells: Sequence[Cell]) -> dict[RowKey, str]:
    """The printed name of each row the ``## Saliency`` section shows (the board's row
    labels: the init where a model has several, the stand-in and submitted marks)."""
    return cell_labels(latest_by_row(cells).values())


def _cell_data(c: Cell) -> dict[str, Any]:
    return {
        "task": c.task, "source": c.source, "split": c.split, "metric": c.metric,
        "model": c.model, "init": c.init, "selection": c.selection, "arch": c.arch,
        "experiment": c.experiment, "protocol": c.protocol, "fraction": c.fraction,
        "seeds": list(c.seeds),
        "seed_values": {str(s): v for s, v in sorted(c.seed_values.items())},
        "mean": c.mean, "std": c.std, "ci_low": c.ci_low, "ci_high": c.ci_high,
        "n": c.n, "n_positive": c.n_positive, "run_ids": list(c.runs),
    }  # fmt: skip


def saliency_data(cells: Sequence[Cell]) -> list[dict[str, Any]]:
    """The JSON's ``saliency``: every cell the ``## Saliency`` section shows (each model's
    largest fraction per task, source and tabulated metric), with its seeds' values, their
    mean, sd and the mean of the seeds' CI bounds, and the runs its records came from (what
    ``bench verify`` checks against the published saliency records)."""
    return [_cell_data(c) for _, c in sorted(latest_by_row(cells).items())]


def _region(cells: Sequence[Cell]) -> str:
    regions = {str(item.record.details.get("region", "")) for c in cells for item in c.records} - {
        ""
    }
    return ", ".join(REGIONS.get(r, r) for r in sorted(regions)) or "not recorded"


def _value(cell: Cell | None) -> str:
    if cell is None:
        return ""
    ci = "" if cell.ci_low is None else f" [{cell.ci_low:.2f}–{cell.ci_high:.2f}]"
    return f"{cell.mean:.2f}{ci}"


def saliency_markdown(cells: Sequence[Cell]) -> str:
    """The ``## Saliency`` section ("" without saliency records), one line per row
    (printed as :func:`saliency_labels` names it)."""
    latest = latest_by_row(cells)
    if not latest:
        return ""
    labels = saliency_labels(cells)
    lines = ["## Saliency", "", CAPTION, ""]
    diffs = saliency_differences(cells)
    for task, source in sorted({(k[0], k[1]) for k in latest}):
        mine = {k: c for k, c in latest.items() if k[:2] == (task, source)}
        rows = sorted({k[3] for k in mine}, key=lambda r: (labels[r], r))
        region = _region(list(mine.values()))
        lines += [f"### {task} · {source} (region: {region})", ""]
        lines += [
            "| model | fraction | seeds | images | localisation | pointing |",
            "|---|--:|--:|--:|--:|--:|",
        ]
        for row in rows:
            got = {m: mine.get((task, source, m, row)) for m in SALIENCY_COLUMNS}
            any_cell = next(c for c in got.values() if c is not None)
            lines.append(
                f"| {labels[row]} | {fraction_label(any_cell.fraction)} | "
                f"{','.join(map(str, any_cell.seeds))} | {any_cell.n} | "
                + " | ".join(_value(got[m]) for m in SALIENCY_COLUMNS)
                + " |"
            )
        lines.append("")
        for d in (d for d in diffs if (d.task, d.source) == (task, source)):
            verdict = "excludes zero" if d.excludes_zero else "includes zero"
            lines.append(
                f"- {SALIENCY_COLUMNS[d.metric]}: {labels[d.first]} − {labels[d.second]} = "
                f"{d.diff:+.3f} [{d.ci_low:+.3f}, {d.ci_high:+.3f}] ({d.how}, 95 % CI; "
                f"{verdict})"
            )
        lines.append("")
    return "\n".join(lines)
