"""Task ``ludb-lvh``: left ventricular hypertrophy on the real LUDB ECGs.

Positive when LUDB's "Hypertrophies" diagnosis mentions left ventricular hypertrophy
(108 of 200 subjects), negative otherwise. LVH is an ECG/anatomical finding with many
causes (hypertension, aortic stenosis, athletes); it is **not** HCM, which is one
specific genetic cardiomyopathy — this task exists so that at least one benchmark number
comes from real ECGs shipped with the project, not as a stand-in for ``hcm``.

Data: Lobachevsky University Electrocardiography Database 1.0.1 (Kalyakulina et al.,
IEEE Access 8, 2020; PhysioNet), ODC-By 1.0. Location: ``--source-option ludb.path=`` or
``BENCH_LUDB_DIR``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bench.api import CohortError, TaskSpec, hookimpl, ludb_loader, user_sources

if TYPE_CHECKING:  # numpy/pandas load when a cohort is labelled, not at plugin import
    import pandas as pd

VERSION = "ludb-lvh-v1"


def lvh_rule(table: pd.DataFrame) -> pd.Series:
    """1 when the Hypertrophies column mentions left ventricular hypertrophy."""
    if "Hypertrophies" not in table.columns:
        raise CohortError(f"LUDB table lacks the 'Hypertrophies' column; got {list(table.columns)}")
    text = table["Hypertrophies"].fillna("").astype(str).str.lower()
    return text.str.contains("left ventricular hypertrophy", regex=False).astype(int)


@hookimpl
def bench_register_tasks(register: Callable[[TaskSpec], None]) -> None:
    """Register ``ludb-lvh``."""
    register(
        TaskSpec(
            name="ludb-lvh",
            # user sources: LVH labels of the user's own ECGs (SOURCE.label_column / wfdb.codes)
            loaders={"ludb": ludb_loader("ludb-lvh", lvh_rule), **user_sources("ludb-lvh")},
            definition=__doc__ or "",
            version=VERSION,
            positive_class="left ventricular hypertrophy (not HCM)",
            description="LVH on 200 real LUDB ECGs",
            default_source="ludb",
            region="qrs",
        )
    )
