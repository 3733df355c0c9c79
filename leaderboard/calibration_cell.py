"""The reliability diagram or decision curve of one finished cell, from its saved predictions
(``bench leaderboard --cell CELL_DIR --plot reliability|decision -o FILE.png``).

The cell's ``predictions.csv`` is scored with the registered ``reliability`` or
``net_benefit`` metric on each test split (validation predictions, when kept, are what
temperature scaling is fitted on), the shared resamples drawn as the runner draws them by
default (:data:`bench.api.DEFAULT_REPLICATES` patient-level replicates, seed 0). A panel per
test split: the reliability diagram raw and after temperature scaling, with each bin's
observed-rate CI as whiskers; or the model's decision curve with its pointwise CI band,
treat all and treat none. Binary tasks only (probabilities in [0, 1]).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from bench.leaderboard.calibration_plots import (
    NET_BENEFIT,
    RELIABILITY,
    Series,
    draw_decision,
    draw_reliability,
)
from bench.leaderboard.curves import palette
from bench.leaderboard.plots import _grid, _panel_legend
from matplotlib.figure import Figure

from bench.api import DEFAULT_REPLICATES, MetricValue, ScoreData, bootstrap_indices, get_host

PREDICTIONS = "predictions.csv"
COLUMNS = ("patient_id", "label", "score", "split")
VALIDATION = "validation"
#: ``--plot`` choice → the metric whose details the figure draws.
PLOTS = {"reliability": RELIABILITY, "decision": NET_BENEFIT}
NOTES = {
    "reliability": "Dashed: perfect calibration. Marker area: the bin's share of the test "
    "records; whiskers: the observed rate's 95 % CI (patient bootstrap).",
    "decision": "Net benefit = TP/n − FP/n · pt/(1 − pt). Dashed: treat all; dotted: treat "
    "none; band: the model's pointwise 95 % CI (patient bootstrap).",
}


def read_cell(cell_dir: Path) -> pd.DataFrame:
    """The binary predictions of the cell at ``cell_dir`` (its ``predictions.csv``)."""
    path = cell_dir / PREDICTIONS
    if not path.is_file():
        raise ValueError(f"{cell_dir}: no {PREDICTIONS} (expected a finished cell's directory)")
    frame = pd.read_csv(path, dtype={"patient_id": str, "split": str})
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{path}: columns {missing} missing; expected a binary task's {list(COLUMNS)}"
        )
    if not frame["score"].between(0.0, 1.0).all():
        raise ValueError(
            f"{path}: field 'score' holds values outside [0, 1]; expected probabilities"
        )
    return frame


def _data(rows: pd.DataFrame, reference: ScoreData | None = None) -> ScoreData:
    """A split's scores with the shared resamples of its patients, ``reference`` attached."""
    groups = rows["patient_id"].to_numpy()
    return ScoreData(
        y_true=rows["label"].to_numpy(),
        y_score=rows["score"].to_numpy(dtype=np.float64),
        groups=groups,
        replicate_indices=bootstrap_indices(groups, replicates=DEFAULT_REPLICATES, seed=0),
        reference=reference,
    )


def score_cell(frame: pd.DataFrame, metric: str) -> dict[str, MetricValue]:
    """``metric`` on every test split of a cell's predictions, validation as reference."""
    spec = get_host().registries.metrics.get(metric)
    validation = frame[frame["split"] == VALIDATION]
    reference = _data(validation) if len(validation) else None
    return {
        str(split): spec.compute(_data(rows, reference))
        for split, rows in frame[frame["split"] != VALIDATION].groupby("split", sort=True)
    }


def _floats(values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _diagram_series(label: str, colour: str, diagram: dict) -> Series:
    observed = diagram["observed"]
    return Series(label, colour, _floats(diagram["mean_predicted"]), _floats(observed["value"]),
                  np.array(diagram["count"], dtype=np.float64), _floats(observed["ci_low"]),
                  _floats(observed["ci_high"]))  # fmt: skip


def cell_figure(cell_dir: Path, plot: str = "reliability") -> Figure:
    """The ``plot`` (``reliability`` or ``decision``) figure of the cell at ``cell_dir``."""
    scores = score_cell(read_cell(cell_dir), PLOTS[plot])
    if not scores:
        raise ValueError(f"{cell_dir / PREDICTIONS}: field 'split' names no test split")
    raw, scaled = palette(2)
    panels: dict[str, tuple[list[Series], np.ndarray | None]] = {}
    for split, value in scores.items():
        details = value.details
        if plot == "reliability":
            lines = [_diagram_series(f"raw, ECE {value.value:.3f}", raw, details["diagram"])]
            ts = details["temperature_scaled"]
            if "diagram" in ts:
                name = f"temperature {ts['temperature']:.2f}, ECE {ts['ece']['value']:.3f}"
                lines.append(_diagram_series(name, scaled, ts["diagram"]))
            panels[split] = (lines, None)
        else:
            curves = details["curves"]
            model = curves["model"]
            thresholds = np.array(details["thresholds"], dtype=np.float64)
            line = Series(f"model, mean gain {value.value:+.3f}", raw, thresholds,
                          _floats(model["value"]), None, _floats(model["ci_low"]),
                          _floats(model["ci_high"]))  # fmt: skip
            panels[split] = ([line], _floats(curves["treat_all"]["value"]))
    labels = [line.label for lines, _ in panels.values() for line in lines]
    fig, axes = _grid(1, len(panels), f"{cell_dir.name}: {plot}", labels, per_panel=4)
    for ax, (split, (lines, treat_all)) in zip(axes[0], panels.items(), strict=True):
        if treat_all is None:
            draw_reliability(ax, lines)
        else:
            draw_decision(ax, lines, treat_all)
        ax.set_title(split, pad=12)
        _panel_legend(ax)
    fig.supxlabel(NOTES[plot], fontsize="small")
    return fig


def write_cell_figure(cell_dir: Path, plot: str, output: Path) -> Path:
    """Draw :func:`cell_figure` into ``output`` (``.png`` or ``.svg``)."""
    if output.suffix not in (".png", ".svg"):
        raise ValueError(f"{output}: expected a .png or .svg file to draw the {plot} figure into")
    return save_figure(cell_figure(cell_dir, plot), output)


def save_figure(fig: Figure, path: Path) -> Path:
    """Write ``fig`` to ``path`` (format from its suffix), without a date, reproducibly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata: dict[str, None] = {"Date": None} if path.suffix == ".svg" else {"Software": None}
    with mpl.rc_context({"svg.hashsalt": "ecg-bench"}):
        fig.savefig(path, dpi=110, metadata=metadata)
    return path
