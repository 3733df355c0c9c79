"""Task ``code15-rhythm``: the six rhythm and conduction labels of CODE-15% / CODE-test.

Labels (multi-label, one 0/1 column each, :data:`LABELS`): 1st degree AV block (``1dAVb``),
right bundle branch block (``RBBB``), left bundle branch block (``LBBB``), sinus
bradycardia (``SB``), atrial fibrillation (``AF``) and sinus tachycardia (``ST``), as
defined by Ribeiro et al., "Automatic diagnosis of the 12-lead ECG using a deep neural
network", Nat Commun 11:1760 (2020). Scored as macro AUROC/AUPRC over the six labels.

Sources:

- ``code15`` (CODE-15%, Zenodo record 4916206, CC BY 4.0; ``--source-option
  code15.path=DIR`` or ``BENCH_CODE15_DIR``): 345,779 exams of 233,770 patients; the labels
  are the ``exams.csv`` columns of the same names, which the dataset's authors derived from
  the telehealth service's routine reports (see the paper's Methods), not a research
  re-reading by cardiologists as on ``code-test``. An exam with any label cell empty is left
  out. Splits are grouped by ``patient_id`` (a
  patient has up to several exams).
- ``code-test`` (CODE-test, 827 exams of 827 patients; ``--source-option
  code-test.path=DIR`` or ``BENCH_CODE_TEST_DIR``): the labels are the cardiologists' gold
  standard (``annotations/gold_standard.csv``: two cardiologists, disagreements settled by a
  third, senior one).

Signals: 12 leads at 400 Hz, 7 or 10 s after the zero padding is stripped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bench.api import CohortError, TaskSpec, code15_loader, code_test_loader, hookimpl, label_column

if TYPE_CHECKING:  # pandas loads when a cohort is labelled, not at plugin import
    import pandas as pd

NAME = "code15-rhythm"
VERSION = "code15-rhythm-v1"
#: The six labels, columns of the same names in ``exams.csv`` and ``gold_standard.csv``.
LABELS: tuple[str, ...] = ("1dAVb", "RBBB", "LBBB", "SB", "AF", "ST")


def rhythm_rule(table: pd.DataFrame) -> pd.DataFrame:
    """``label:<name>`` = the table's 0/1 column ``<name>`` (NaN, an empty cell, excludes)."""
    import pandas as pd

    missing = [c for c in LABELS if c not in table.columns]
    if missing:
        raise CohortError(f"CODE table lacks the label column(s) {missing}")
    return pd.DataFrame({label_column(n): table[n] for n in LABELS}, index=table.index)


@hookimpl
def bench_register_tasks(register: Callable[[TaskSpec], None]) -> None:
    """Register ``code15-rhythm``."""
    register(
        TaskSpec(
            name=NAME,
            loaders={
                "code15": code15_loader(NAME, rhythm_rule, LABELS),
                "code-test": code_test_loader(NAME, rhythm_rule, LABELS),
            },
            definition=__doc__ or "",
            version=VERSION,
            positive_class="each label present",
            description="CODE-15% / CODE-test: 1dAVb, RBBB, LBBB, SB, AF, ST "
            "(multi-label, macro AUROC; code-test: cardiologists' gold standard)",
            default_source="code15",
            region="qrs",
            labels=LABELS,
        )
    )
