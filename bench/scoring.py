"""Metrics of a finished cell, computed from its saved predictions.

Score metrics are functions of the predictions alone, so adding a metric or changing the
bootstrap replicates never retrains: :func:`score_predictions` runs on a predictions table
(``record_id, patient_id, label, score, split``) and the shared resamples of each test set.
The bootstrap recipe stored in a record is the one the resamples were built with, not
whatever a metric plugin reports as its own default.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bench.resampling import bootstrap_indices
from bench.specs import MetricSpec, MetricValue, ScoreData


@dataclass(frozen=True)
class BootstrapRecipe:
    """How the shared resamples of every test set are drawn (goes into every record)."""

    replicates: int
    seed: int
    unit: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as stored under ``bootstrap`` in result records."""
        return {"replicates": self.replicates, "seed": self.seed, "unit": self.unit}

    def resamples(self, groups: np.ndarray) -> np.ndarray:
        """The multiplicity matrix of one test set with patient ids ``groups``."""
        return bootstrap_indices(
            groups,
            replicates=self.replicates,
            seed=self.seed,
            unit=self.unit,  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class Score:
    """One metric on one evaluation split of a cell."""

    split: str
    metric: MetricSpec
    value: MetricValue
    n: int
    n_positive: int
    bootstrap: dict[str, Any] = field(default_factory=dict)


def score_predictions(
    predictions: pd.DataFrame,
    metrics: Sequence[MetricSpec],
    resamples: Mapping[str, np.ndarray],
    recipe: BootstrapRecipe,
) -> list[Score]:
    """Every metric on every evaluation split present in ``predictions``.

    ``resamples[split]`` must be the shared matrix of that split's records, in the order
    they appear in ``predictions`` (the order the runner writes them).
    """
    out: list[Score] = []
    for split, rows in predictions.groupby("split", sort=False):
        data = ScoreData(
            y_true=rows["label"].to_numpy(),
            y_score=rows["score"].to_numpy(dtype=np.float64),
            groups=rows["patient_id"].astype(str).to_numpy(),
            replicate_indices=resamples[str(split)],
        )
        for metric in metrics:
            value = metric.compute(data)
            extra = {k: v for k, v in value.details.items() if k not in ("unit", "seed")}
            out.append(
                Score(
                    split=str(split),
                    metric=metric,
                    value=value,
                    n=len(rows),
                    n_positive=int(data.y_true.sum()),
                    bootstrap={**extra, **recipe.to_dict()},
                )
            )
    return out
