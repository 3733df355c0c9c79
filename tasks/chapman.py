"""Task ``chapman-rhythm``: six rhythms of the Chapman-Shaoxing-Ningbo database.

Labels (multi-label, one 0/1 column each, :data:`LABELS`), named by the acronyms of the
database's ``ConditionNames_SNOMED-CT.csv`` and read from each record's ``#Dx:`` SNOMED CT
codes: ``SB`` sinus bradycardia (426177001), ``SR`` sinus rhythm (426783006), ``AFIB``
atrial fibrillation (164889003), ``ST`` sinus tachycardia (427084000), ``AF`` atrial flutter
(164890007) and ``SVT`` supraventricular tachycardia (426761007); the codes used are the
ones the user's condition table gives for each acronym. A record without a Dx code is left
out. Scored as macro AUROC/AUPRC over the six labels. The diagnoses are the database's
(physicians' labels, per its PhysioNet description), not machine reads.

Source ``chapman`` (PhysioNet "A large scale 12-lead electrocardiogram database for
arrhythmia study" v1.0.0, CC BY 4.0; ``--source-option chapman.path=DIR`` or
``BENCH_CHAPMAN_DIR``): 45,152 ECGs, one per patient, 12 leads, 10 s at 500 Hz.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bench.api import CohortError, TaskSpec, chapman_loader, hookimpl, label_column

if TYPE_CHECKING:  # pandas loads when a cohort is labelled, not at plugin import
    import pandas as pd

NAME = "chapman-rhythm"
VERSION = "chapman-rhythm-v1"
#: The six rhythm acronyms of ConditionNames_SNOMED-CT.csv.
LABELS: tuple[str, ...] = ("SB", "SR", "AFIB", "ST", "AF", "SVT")


def rhythm_rule(table: pd.DataFrame) -> pd.DataFrame:
    """``label:<ACRONYM>`` = the table's ``dx:<ACRONYM>`` column (NaN excludes)."""
    import pandas as pd

    missing = [a for a in LABELS if f"dx:{a}" not in table.columns]
    if missing:
        raise CohortError(
            f"ConditionNames_SNOMED-CT.csv has no acronym(s) {missing}; {NAME} needs {list(LABELS)}"
        )
    return pd.DataFrame({label_column(a): table[f"dx:{a}"] for a in LABELS}, index=table.index)


@hookimpl
def bench_register_tasks(register: Callable[[TaskSpec], None]) -> None:
    """Register ``chapman-rhythm``."""
    register(
        TaskSpec(
            name=NAME,
            loaders={"chapman": chapman_loader(NAME, rhythm_rule, LABELS)},
            definition=__doc__ or "",
            version=VERSION,
            positive_class="each rhythm present",
            description="Chapman-Shaoxing-Ningbo rhythms SB, SR, AFIB, ST, AF, SVT "
            "(multi-label, macro AUROC)",
            default_source="chapman",
            region="qrs",
            labels=LABELS,
        )
    )
