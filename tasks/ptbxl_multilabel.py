"""Tasks ``ptbxl-super`` and ``ptbxl-diag``: PTB-XL's multi-label diagnostic benchmarks.

The two diagnostic tasks of the PTB-XL benchmark (Strodthoff et al., "Deep learning for ECG
analysis: benchmarks and insights from PTB-XL", IEEE JBHI 25(5), 2021), for users who have
PTB-XL 1.0.3 (``--source-option ptbxl.path=`` or ``BENCH_PTBXL_DIR``):

- ``ptbxl-super``: the 5 diagnostic superclasses NORM, MI, STTC, CD, HYP — a record carries
  a superclass when any of its SCP statements (at any likelihood) is a diagnostic statement
  of that ``diagnostic_class`` in ``scp_statements.csv``;
- ``ptbxl-diag``: the 44 diagnostic statements of PTB-XL 1.0.3 (:data:`DIAGNOSTIC`), each a
  label when the record carries that statement.

As in the benchmark, records without any label of the task are left out, and the split is
PTB-XL's recommended one by patient: folds 1-8 train, 9 validation, 10 test. Scored as macro
AUROC/AUPRC over the labels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bench.api import CohortError, TaskSpec, hookimpl, label_column, ptbxl_loader

if TYPE_CHECKING:  # pandas loads when a cohort is labelled, not at plugin import
    import pandas as pd

SUPER_VERSION = "ptbxl-super-v1"
DIAG_VERSION = "ptbxl-diag-v1"
#: The diagnostic superclasses (``diagnostic_class`` values of ``scp_statements.csv``).
SUPERCLASSES: tuple[str, ...] = ("NORM", "MI", "STTC", "CD", "HYP")
#: The 44 diagnostic SCP statements of PTB-XL 1.0.3, grouped by superclass.
DIAGNOSTIC: tuple[str, ...] = (
    "NORM",
    # MI
    "IMI", "ASMI", "ILMI", "AMI", "ALMI", "INJAS", "LMI", "INJAL", "IPLMI", "IPMI", "INJIN",
    "INJLA", "PMI", "INJIL",
    # STTC
    "NDT", "NST_", "DIG", "LNGQT", "ISC_", "ISCAL", "ISCIN", "ISCIL", "ISCAS", "ISCLA",
    "ANEUR", "EL", "ISCAN",
    # CD
    "LAFB", "IRBBB", "1AVB", "IVCD", "CRBBB", "CLBBB", "LPFB", "WPW", "ILBBB", "3AVB", "2AVB",
    # HYP
    "LVH", "LAO/LAE", "RVH", "RAO/RAE", "SEHYP",
)  # fmt: skip


def _statements(table: pd.DataFrame) -> pd.DataFrame:
    statements = table.attrs.get("scp_statements")
    if statements is None or not {"diagnostic", "diagnostic_class"} <= set(statements.columns):
        raise CohortError(
            "PTB-XL scp_statements.csv with 'diagnostic' and 'diagnostic_class' columns is required"
        )
    return statements


def _label_frame(
    table: pd.DataFrame, labels: Sequence[str], labels_of: Callable[[dict[str, float]], set[str]]
) -> pd.DataFrame:
    """0/1 columns ``label:<name>`` from each record's label set; NaN rows (excluded) for
    records with none of ``labels``."""
    import pandas as pd

    found = [labels_of(codes) for codes in table["scp_codes"]]
    columns = {
        label_column(name): [float(name in f) if f else float("nan") for f in found]
        for name in labels
    }
    return pd.DataFrame(columns, index=table.index)


def superclass_rule(table: pd.DataFrame) -> pd.DataFrame:
    """``label:<superclass>`` for the 5 superclasses (see the module docstring)."""
    statements = _statements(table)
    diagnostic = statements[statements["diagnostic"].fillna(0).astype(float) == 1]
    superclass = diagnostic["diagnostic_class"].dropna().astype(str).to_dict()
    return _label_frame(
        table, SUPERCLASSES, lambda codes: {superclass[c] for c in codes if c in superclass}
    )


def diagnostic_rule(table: pd.DataFrame) -> pd.DataFrame:
    """``label:<statement>`` for the 44 diagnostic statements of :data:`DIAGNOSTIC`."""
    statements = _statements(table)
    unknown = sorted(set(DIAGNOSTIC) - set(statements.index))
    if unknown:
        raise CohortError(
            f"PTB-XL scp_statements.csv lacks diagnostic statement(s) {unknown}; "
            "ptbxl-diag needs PTB-XL 1.0.3's statements"
        )
    wanted = set(DIAGNOSTIC)
    return _label_frame(table, DIAGNOSTIC, lambda codes: set(codes) & wanted)


@hookimpl
def bench_register_tasks(register: Callable[[TaskSpec], None]) -> None:
    """Register ``ptbxl-super`` and ``ptbxl-diag``."""
    for name, rule, version, labels, what in (
        ("ptbxl-super", superclass_rule, SUPER_VERSION, SUPERCLASSES, "5 superclasses"),
        ("ptbxl-diag", diagnostic_rule, DIAG_VERSION, DIAGNOSTIC, "44 diagnostic statements"),
    ):
        register(
            TaskSpec(
                name=name,
                loaders={"ptbxl": ptbxl_loader(name, rule, version, labels)},
                definition=__doc__ or "",
                version=version,
                positive_class="each label present",
                description=f"PTB-XL {what} (multi-label, macro AUROC; folds 1-8/9/10)",
                default_source="ptbxl",
                region="qrs",
                labels=labels,
            )
        )
