"""Label layout of binary and multi-label tasks (manifest and predictions columns).

A binary task (``TaskSpec.labels == ()``) keeps the original layout: the manifest's 0/1
``label`` column, and predictions ``record_id, patient_id, label, score, split``.

A multi-label task declares K label names; then

- the cohort manifest carries one 0/1 column ``label:<name>`` per label (and ``label``,
  derived as "any label positive" when the loader does not set it, so record counts and
  patient strata keep a meaning);
- the predictions table has ``label:<name>`` and ``score:<name>`` per label (scores are
  independent sigmoid probabilities) instead of ``label``/``score``;
- each score metric's record value is the macro mean over labels (labels whose evaluation
  set holds one class only are left out and listed), with its bootstrap CI from the same
  shared patient resamples, and ``details["per_label"]`` holding every label's value.

A segment model's predictions also hold the score of each window (segment) scored alone,
``window<j>:score`` (``window<j>:score:<name>``), empty where the record's slot ``j`` is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

LABEL_PREFIX = "label:"
SCORE_PREFIX = "score:"


def label_column(name: str) -> str:
    """Manifest/predictions column of label ``name``: ``label:<name>``."""
    return f"{LABEL_PREFIX}{name}"


def score_column(name: str) -> str:
    """Predictions column of label ``name``'s score: ``score:<name>``."""
    return f"{SCORE_PREFIX}{name}"


def window_score_column(slot: int, name: str | None = None) -> str:
    """Predictions column of the score of a segment model's window ``slot`` (that segment
    scored alone): ``window<slot>:score``, or ``window<slot>:score:<name>`` for label
    ``name`` of a multi-label task."""
    return f"window{slot}:" + ("score" if name is None else score_column(name))


def label_columns(labels: Sequence[str]) -> list[str]:
    """The label columns of a task: ``["label"]`` for a binary task, else ``label:<name>``."""
    return [label_column(n) for n in labels] if labels else ["label"]


def prediction_labels(predictions: pd.DataFrame) -> list[str]:
    """Label names of a multi-label predictions table (``[]`` for the binary layout)."""
    columns = [str(c) for c in predictions.columns]
    return [c.removeprefix(SCORE_PREFIX) for c in columns if c.startswith(SCORE_PREFIX)]
