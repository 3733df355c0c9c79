"""The CI a cell records with ``unit: patient`` is a patient-cluster bootstrap of its saved
predictions: recomputed here independently (numpy draws, scikit-learn's AUROC), it
matches; a record-level bootstrap of the same predictions does not (issue 25)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from tests.clustered_cells import CellRun, write_clustered_cohort


def cluster_bootstrap_ci(
    y_true: np.ndarray, y_score: np.ndarray, clusters: np.ndarray, replicates: int, seed: int
) -> tuple[float, float]:
    """95 % percentile interval of the AUROC over ``replicates`` cluster resamples.

    The draws follow the harness's documented resampling contract (``bench.statistics.resampling``):
    clusters indexed in sorted order, ``default_rng(seed).integers(0, k, (replicates, k))``,
    each drawn cluster bringing all of its records; a resample with one class has no AUROC
    and is left out of the interval.
    """
    _, cluster_of = np.unique(clusters, return_inverse=True)
    members = [np.flatnonzero(cluster_of == c) for c in range(cluster_of.max() + 1)]
    draws = np.random.default_rng(seed).integers(
        0, len(members), size=(replicates, len(members)), dtype=np.int32
    )
    values = []
    for draw in draws:
        rows = np.concatenate([members[c] for c in draw])
        if len(np.unique(y_true[rows])) == 2:
            values.append(roc_auc_score(y_true[rows], y_score[rows]))
    low, high = np.quantile(values, [0.025, 0.975])
    return float(low), float(high)


def test_recorded_auroc_ci_is_the_patient_cluster_bootstrap_of_the_saved_predictions_not_a_record_one(
    tmp_path: Path,
):
    # 100 patients with five ECGs each, one signal file and one label per patient: the five
    # records score alike, so resampling patients gives an interval about sqrt(5) times as
    # wide as resampling records
    manifest = write_clustered_cohort(tmp_path / "cohort", n_patients=100, records_per_patient=5)
    cell = CellRun(manifest, tmp_path)
    cell.run("--replicates", "400")
    predictions = cell.predictions()
    recorded = {r.split: r for r in cell.records() if r.metric == "auroc"}
    assert set(recorded) == {"internal", "external"}
    for split, record in recorded.items():
        assert record.bootstrap["unit"] == "patient" and record.bootstrap["replicates"] == 400
        rows = predictions[predictions["split"] == split]
        y_true, y_score = rows["label"].to_numpy(), rows["score"].to_numpy()
        draws = (record.bootstrap["replicates"], record.bootstrap["seed"])
        by_patient = cluster_bootstrap_ci(y_true, y_score, rows["patient_id"].to_numpy(), *draws)
        by_record = cluster_bootstrap_ci(y_true, y_score, rows["record_id"].to_numpy(), *draws)
        # the same draws give the same replicates: equal up to floating-point rounding
        assert (record.ci_low, record.ci_high) == pytest.approx(by_patient, rel=1e-9)
        # and the data tell the units apart far beyond that: the record-level interval
        # is well under the patient-level one (about 1/sqrt(5) of its width)
        patient_width, record_width = by_patient[1] - by_patient[0], by_record[1] - by_record[0]
        assert record_width < 0.75 * patient_width
