"""The example task's label rule over LUDB's diagnosis table (``bench.api.ludb_table``)."""

from __future__ import annotations

import pandas as pd

from bench.api import CohortError

AXIS_COLUMN = "Electric axis of the heart"


def lad_rule(table: pd.DataFrame) -> pd.Series:
    """1 for left axis deviation, 0 for any other stated axis, NaN (excluded) when blank."""
    if AXIS_COLUMN not in table.columns:
        raise CohortError(f"LUDB table lacks the {AXIS_COLUMN!r} column")
    text = table[AXIS_COLUMN].fillna("").astype(str).str.strip().str.lower()
    label = text.str.contains("left axis deviation", regex=False).astype(float)
    return label.where(text != "")
