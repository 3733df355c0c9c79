"""Task ``code15-mortality``: all-cause death after the ECG (survival), CODE-15%.

Outcome: ``death`` (1 = died during follow-up, 0 = censored) and ``timey``, the follow-up
time in years from the exam, as published in CODE-15%'s ``exams.csv``. The dataset gives
both on each patient's first exam only, so the task has one ECG per patient: the exams
without them (later exams) are left out, as is an exam with a follow-up time of 0 or less.
The model predicts a risk score (the log relative hazard, trained with the Cox partial
likelihood); it is scored by Harrell's C-index and the time-dependent (cumulative/dynamic)
AUROC at 1, 3 and 5 years (:data:`HORIZONS`). This is the outcome studied by Lima et al.,
"Deep neural network-estimated electrocardiographic age as a mortality predictor", Nat
Commun 12:5117 (2021), whose death and follow-up come from linkage to the Brazilian
national mortality registry (see the dataset's description).

Source ``code15`` (CODE-15%, Zenodo record 4916206, CC BY 4.0; ``--source-option
code15.path=DIR`` or ``BENCH_CODE15_DIR``). Splits are grouped by ``patient_id``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bench.api import CohortError, TaskSpec, code15_loader, hookimpl

if TYPE_CHECKING:  # pandas loads when a cohort is labelled, not at plugin import
    import pandas as pd

NAME = "code15-mortality"
VERSION = "code15-mortality-v1"
#: Horizons (years) of the time-dependent AUROC.
HORIZONS: tuple[float, ...] = (1.0, 3.0, 5.0)


def mortality_rule(table: pd.DataFrame) -> pd.DataFrame:
    """``label`` = ``death`` and ``time`` = ``timey`` (NaN, an empty cell or a time of 0
    or less, excludes the exam)."""
    import pandas as pd

    missing = [c for c in ("death", "timey") if c not in table.columns]
    if missing:
        raise CohortError(f"CODE-15% table lacks the column(s) {missing}")
    time = pd.to_numeric(table["timey"], errors="coerce")
    return pd.DataFrame({"label": table["death"], "time": time.where(time > 0)}, index=table.index)


@hookimpl
def bench_register_tasks(register: Callable[[TaskSpec], None]) -> None:
    """Register ``code15-mortality``."""
    register(
        TaskSpec(
            name=NAME,
            loaders={"code15": code15_loader(NAME, mortality_rule, kind="survival")},
            definition=__doc__ or "",
            version=VERSION,
            positive_class="death during follow-up",
            description="CODE-15% all-cause mortality (survival: C-index, AUROC at 1/3/5 y)",
            default_source="code15",
            region="qrs",
            kind="survival",
            horizons=HORIZONS,
            unit="years",
        )
    )
