"""Task ``lvef``: low left-ventricular ejection fraction, LVEF ≤ 40 % (right-inclusive).

The label comes from a numeric echocardiographic LVEF column (``lvef``, in %) paired
with each ECG — in a manifest CSV or a MUSE label table; ``SOURCE.label_column=`` names
another column — compared with a threshold (default 40, ``--source-option
manifest.threshold=35`` to change it). WFDB folders are labelled by the SNOMED CT codes of
their ``#Dx:`` header lines instead (``wfdb.codes=``). On the synthetic cohort the
generator's label is used. The Mount Sinai data of the paper are private.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from bench.api import (
    Cohort,
    CohortError,
    CohortLoader,
    TaskSpec,
    hookimpl,
    synthetic_loader,
    user_sources,
    wfdb_loader,
)

if TYPE_CHECKING:  # numpy/pandas load when a cohort is labelled, not at plugin import
    import pandas as pd

VERSION = "lvef-v1"
DEFAULT_THRESHOLD = 40.0


def lvef_rule(
    threshold: float = DEFAULT_THRESHOLD, column: str = "lvef"
) -> Callable[[pd.DataFrame], pd.Series]:
    """1 when LVEF (``column``, in %) ≤ threshold, 0 above it, NaN (excluded) when missing."""

    def rule(table: pd.DataFrame) -> pd.Series:
        import pandas as pd

        if column not in table.columns:
            raise CohortError(
                f"an {column!r} column (echo LVEF, %) is required; got {list(table.columns)}"
            )
        values = pd.to_numeric(table[column], errors="coerce")
        bad = table[column].notna() & values.isna()
        if bad.any():
            row = table.loc[bad].iloc[0]
            raise CohortError(
                f"{column} must be numeric; record {row['record_id']!r} has {row[column]}"
            )
        out_of_range = (values < 0) | (values > 100)
        if out_of_range.any():
            row = table.loc[out_of_range].iloc[0]
            raise CohortError(
                f"{column} must be a percentage in [0, 100]; record {row['record_id']!r} "
                f"has {row[column]}"
            )
        return (values <= threshold).astype(float).where(values.notna())

    return rule


def _with_threshold(source: str) -> CohortLoader:
    """The ``source`` loader with the threshold option applied to the LVEF column (the
    task's ``lvef`` or the user's ``SOURCE.label_column``)."""

    def load(options: Mapping[str, Any]) -> Cohort:
        threshold = float(options.get("threshold", DEFAULT_THRESHOLD))
        loaders = user_sources("lvef", "lvef", lambda column: lvef_rule(threshold, column))
        return loaders[source](options)

    return load


@hookimpl
def bench_register_tasks(register: Callable[[TaskSpec], None]) -> None:
    """Register ``lvef``."""
    register(
        TaskSpec(
            name="lvef",
            loaders={
                "synthetic": synthetic_loader("lvef"),
                "manifest": _with_threshold("manifest"),
                "muse": _with_threshold("muse"),
                "wfdb": wfdb_loader("lvef"),
            },
            definition=__doc__ or "",
            version=VERSION,
            positive_class="LVEF ≤ 40 %",
            description="Low LVEF (≤ 40 %) from the ECG",
            region="qrs",
            external_site="D",
        )
    )
