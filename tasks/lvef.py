"""Task ``lvef``: low left-ventricular ejection fraction, LVEF ≤ 40 % (right-inclusive).

The label comes from a numeric echocardiographic LVEF column (``lvef``, in %) paired
with each ECG — in a manifest CSV or a MUSE label table — compared with a threshold
(default 40, ``--source-option manifest.threshold=35`` to change it). On the synthetic
cohort the generator's label is used. The Mount Sinai data of the paper are private.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from bench import hookimpl
from bench.cohort import Cohort, CohortError
from bench.data.sources import manifest_loader, muse_loader, synthetic_loader
from bench.specs import TaskSpec

if TYPE_CHECKING:  # numpy/pandas load when a cohort is labelled, not at plugin import
    import pandas as pd

VERSION = "lvef-v1"
DEFAULT_THRESHOLD = 40.0


def lvef_rule(threshold: float = DEFAULT_THRESHOLD) -> Callable[[pd.DataFrame], pd.Series]:
    """1 when ``lvef`` ≤ threshold, 0 above it, NaN (excluded) when missing."""

    def rule(table: pd.DataFrame) -> pd.Series:
        import pandas as pd

        if "lvef" not in table.columns:
            raise CohortError(
                f"an 'lvef' column (echo LVEF, %) is required; got {list(table.columns)}"
            )
        values = pd.to_numeric(table["lvef"], errors="coerce")
        bad = table["lvef"].notna() & values.isna()
        if bad.any():
            row = table.loc[bad].iloc[0]
            raise CohortError(
                f"lvef must be numeric; record {row['record_id']!r} has {row['lvef']}"
            )
        out_of_range = (values < 0) | (values > 100)
        if out_of_range.any():
            row = table.loc[out_of_range].iloc[0]
            raise CohortError(
                f"lvef must be a percentage in [0, 100]; record {row['record_id']!r} has {row['lvef']}"
            )
        return (values <= threshold).astype(float).where(values.notna())

    return rule


def _with_threshold(
    factory: Callable[..., Callable[[Mapping[str, Any]], Cohort]],
) -> Callable[[Mapping[str, Any]], Cohort]:
    def load(options: Mapping[str, Any]) -> Cohort:
        threshold = float(options.get("threshold", DEFAULT_THRESHOLD))
        return factory("lvef", lvef_rule(threshold))(options)

    return load


@hookimpl
def bench_register_tasks(register: Callable[[TaskSpec], None]) -> None:
    """Register ``lvef``."""
    register(
        TaskSpec(
            name="lvef",
            loaders={
                "synthetic": synthetic_loader("lvef"),
                "manifest": _with_threshold(manifest_loader),
                "muse": _with_threshold(muse_loader),
            },
            definition=__doc__ or "",
            version=VERSION,
            positive_class="LVEF ≤ 40 %",
            description="Low LVEF (≤ 40 %) from the ECG",
            region="qrs",
            external_site="D",
        )
    )
