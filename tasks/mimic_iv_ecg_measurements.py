"""Task ``mimic-iv-ecg-measurements``: regression of the ECG cart's QRS duration, QT
interval and heart rate, MIMIC-IV-ECG.

Targets (:data:`TARGETS`), from ``machine_measurements.csv`` joined per ``study_id``:
``qrs_duration_ms`` = ``qrs_end - qrs_onset``, ``qt_ms`` = ``t_end - qrs_onset`` (ms) and
``heart_rate_bpm`` = ``60000 / rr_interval``. These are **machine measurements** (the cart's
own algorithm), so the task measures agreement with it; they are cheap labels for a large
regression task. An ECG is left out when any target is missing or outside its plausible
range (:data:`PLAUSIBLE`; the file marks an absent wave with out-of-range sentinels such as
29999). Scored per target by MAE, RMSE, R² and Pearson's r, each target in its own unit;
the record value is the mean over the three targets.

Source ``mimic-iv-ecg`` (PhysioNet MIMIC-IV-ECG v1.0, open access, ODbL;
``--source-option mimic-iv-ecg.path=DIR`` or ``BENCH_MIMIC_IV_ECG_DIR``). Splits are grouped
by ``subject_id``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bench.api import CohortError, TaskSpec, hookimpl, label_column, mimic_iv_ecg_loader

if TYPE_CHECKING:  # pandas loads when a cohort is labelled, not at plugin import
    import pandas as pd

NAME = "mimic-iv-ecg-measurements"
VERSION = "mimic-iv-ecg-measurements-v1"
#: The targets: derived columns of the MIMIC-IV-ECG table.
TARGETS: tuple[str, ...] = ("qrs_duration_ms", "qt_ms", "heart_rate_bpm")
#: Plausible range of each target (inclusive); values outside are treated as missing.
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "qrs_duration_ms": (40.0, 250.0),
    "qt_ms": (200.0, 700.0),
    "heart_rate_bpm": (20.0, 300.0),
}


def measurements_rule(table: pd.DataFrame) -> pd.DataFrame:
    """``label:<target>`` per :data:`TARGETS`, NaN (excluded) outside :data:`PLAUSIBLE`."""
    import pandas as pd

    missing = [c for c in TARGETS if c not in table.columns]
    if missing:
        raise CohortError(f"MIMIC-IV-ECG table lacks the column(s) {missing}")
    out = {}
    for name in TARGETS:
        low, high = PLAUSIBLE[name]
        values = pd.to_numeric(table[name], errors="coerce")
        out[label_column(name)] = values.where(values.between(low, high))
    return pd.DataFrame(out, index=table.index)


@hookimpl
def bench_register_tasks(register: Callable[[TaskSpec], None]) -> None:
    """Register ``mimic-iv-ecg-measurements``."""
    register(
        TaskSpec(
            name=NAME,
            loaders={
                "mimic-iv-ecg": mimic_iv_ecg_loader(
                    NAME, measurements_rule, TARGETS, kind="regression"
                )
            },
            definition=__doc__ or "",
            version=VERSION,
            positive_class="(regression: no positive class)",
            description="MIMIC-IV-ECG machine QRS duration, QT and heart rate (regression)",
            default_source="mimic-iv-ecg",
            region="qrs",
            labels=TARGETS,
            kind="regression",
            unit="ms, ms, bpm",
        )
    )
