"""Task ``mimic-iv-ecg-af``: atrial fibrillation in the machine reading of MIMIC-IV-ECG.

Label: 1 when any of the ECG cart's report statements (``report_0`` … ``report_17`` of
``machine_measurements.csv``, joined per ``study_id``) contains "atrial fibrillation"
(case-insensitive; "Atrial fibrillation with rapid ventricular response" counts, "Atrial
flutter" does not), 0 when the report has statements but none does; an ECG without any
report statement is left out. These are **machine-read labels** (the cart's automated
interpretation), not a cardiologist's reading, so the task measures agreement with the
cart's algorithm.

Source ``mimic-iv-ecg`` (PhysioNet MIMIC-IV-ECG v1.0, open access, ODbL;
``--source-option mimic-iv-ecg.path=DIR`` or ``BENCH_MIMIC_IV_ECG_DIR``): about 800,000
12-lead ECGs of about 160,000 patients (Beth Israel Deaconess Medical Center), 10 s at
500 Hz. Splits are grouped by ``subject_id``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bench.api import CohortError, TaskSpec, hookimpl, mimic_iv_ecg_loader

if TYPE_CHECKING:  # pandas loads when a cohort is labelled, not at plugin import
    import pandas as pd

NAME = "mimic-iv-ecg-af"
VERSION = "mimic-iv-ecg-af-v1"
#: The phrase whose presence in the machine report makes a record positive.
PHRASE = "atrial fibrillation"


def af_rule(table: pd.DataFrame) -> pd.Series:
    """1/0 by :data:`PHRASE` in ``machine_report``; NaN (excluded) for an empty report."""
    import numpy as np

    if "machine_report" not in table.columns:
        raise CohortError("MIMIC-IV-ECG table lacks the column 'machine_report'")
    report = table["machine_report"].fillna("").astype(str).str.strip()
    found = report.str.lower().str.contains(PHRASE, regex=False).astype(float)
    return found.where(report != "", np.nan)


@hookimpl
def bench_register_tasks(register: Callable[[TaskSpec], None]) -> None:
    """Register ``mimic-iv-ecg-af``."""
    register(
        TaskSpec(
            name=NAME,
            loaders={"mimic-iv-ecg": mimic_iv_ecg_loader(NAME, af_rule)},
            definition=__doc__ or "",
            version=VERSION,
            positive_class="machine report states atrial fibrillation",
            description="MIMIC-IV-ECG atrial fibrillation (machine-read report statements)",
            default_source="mimic-iv-ecg",
            region="qrs",
        )
    )
