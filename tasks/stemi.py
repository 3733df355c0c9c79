"""Tasks ``stemi`` (ST-elevation myocardial infarction, HeartBEiT's task) and
``ptbxl-stemi`` (the same on PTB-XL, HeartBEiT's public-data STEMI task).

``ptbxl-stemi``, definition ``ptbxl-stemi-v1`` (pre-registered here, since the HeartBEiT
code does not publish its own):

- positive: an acute myocardial infarction — an MI-class SCP statement (diagnostic_class
  ``MI`` in ``scp_statements.csv``) with ``infarction_stadium1`` "Stadium I" or
  "Stadium I-II" — or a current-of-injury statement (INJAS, INJAL, INJIN, INJLA, INJIL);
- negative: no MI-class statement at all;
- excluded: every other record with an MI-class statement (older infarcts).

The MI-class statements are those of ``scp_statements.csv`` (PTB-XL 1.0.3: AMI, ASMI, ALMI,
INJAS, ILMI, IMI, INJIL, INJIN, INJLA, IPLMI, IPMI, LMI, PMI, INJAL; the INJ* codes are the
current-of-injury ones). A statement counts whatever its likelihood, as in the PTB-XL
benchmark (Strodthoff et al., 2021), where 0 means "not stated" rather than "absent";
``--source-option ptbxl.min_likelihood=N`` counts only statements of likelihood ≥ N
(recorded in the label version, e.g. ``ptbxl-stemi-v1:stemi-v1:min_likelihood=50``).
Alternatives for sensitivity analyses, chosen with ``--source-option ptbxl.definition=``:
``injury-only`` (positive = current-of-injury codes only) and ``any-mi`` (positive =
any MI-class statement, negative = none). Splits follow PTB-XL's folds (1-8 train, 9
validation, 10 test), grouped by patient.

``stemi`` runs on the synthetic cohort (the generator's label), on LUDB (a diagnosis
containing "Stemi:" is positive, 8 of 200) and on a user's data: a manifest CSV or MUSE
label table gives it in a 0/1 ``stemi`` column (or the column named by
``SOURCE.label_column``); WFDB folders by the SNOMED CT codes of their ``#Dx:`` header
lines (``wfdb.codes=``). Labels from a user's column or codes are recorded as such in the
label version (e.g. ``stemi:wfdb.codes=164865005``), not as ``stemi-v1``. PTB-XL is the task
``ptbxl-stemi``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from bench.api import (
    Cohort,
    CohortError,
    TaskSpec,
    hookimpl,
    ludb_loader,
    ptbxl_loader,
    synthetic_loader,
    user_sources,
)

if TYPE_CHECKING:  # numpy/pandas load when a cohort is labelled, not at plugin import
    import pandas as pd

VERSION = "stemi-v1"
PTBXL_VERSION = "ptbxl-stemi-v1"
PTBXL_NAME = "ptbxl-stemi"
INJURY_CODES = frozenset({"INJAS", "INJAL", "INJIN", "INJLA", "INJIL"})
ACUTE_STADIA = frozenset({"Stadium I", "Stadium I-II"})


def _mi_codes(table: pd.DataFrame) -> set[str]:
    statements = table.attrs.get("scp_statements")
    if statements is None or "diagnostic_class" not in statements.columns:
        raise CohortError("PTB-XL scp_statements.csv with a diagnostic_class column is required")
    return set(statements.index[statements["diagnostic_class"] == "MI"].astype(str))


def _row_label(
    codes: dict[str, float], stadium: object, mi: set[str], definition: str, min_likelihood: float
) -> float:
    stated = {code for code, likelihood in codes.items() if likelihood >= min_likelihood}
    has_injury = bool(INJURY_CODES & stated)
    has_mi = bool(mi & stated)
    if definition == "injury-only":
        return 1.0 if has_injury else (0.0 if not has_mi else math.nan)
    if definition == "any-mi":
        return 1.0 if has_mi or has_injury else 0.0
    if has_injury or (has_mi and str(stadium) in ACUTE_STADIA):
        return 1.0
    return 0.0 if not has_mi else math.nan


DEFINITIONS = ("stemi-v1", "injury-only", "any-mi")


def ptbxl_rule(
    definition: str = "stemi-v1", min_likelihood: float = 0.0
) -> Callable[[pd.DataFrame], pd.Series]:
    """Label rule for PTB-XL under one of :data:`DEFINITIONS`, counting the statements of
    likelihood ≥ ``min_likelihood``."""
    if definition not in DEFINITIONS:
        raise CohortError(f"unknown STEMI definition {definition!r}; choose from {DEFINITIONS}")
    if not 0 <= min_likelihood <= 100:
        raise CohortError(f"ptbxl.min_likelihood must be in [0, 100], got {min_likelihood!r}")

    def rule(table: pd.DataFrame) -> pd.Series:
        import pandas as pd

        mi = _mi_codes(table)
        return pd.Series(
            [
                _row_label(codes, stadium, mi, definition, min_likelihood)
                for codes, stadium in zip(
                    table["scp_codes"], table["infarction_stadium1"], strict=True
                )
            ],
            index=table.index,
        )

    return rule


def ludb_rule(table: pd.DataFrame) -> pd.Series:
    """LUDB: positive when a diagnosis line starts with "Stemi:" (8 of 200 subjects)."""
    text = table.drop(columns=["record_id", "patient_id", "site"], errors="ignore").astype(str)
    # case-sensitive at the start of a diagnosis line: "supp.nstemi:" lines must not match
    starts_stemi = text.apply(lambda col: col.str.contains(r"(?:^|\n)Stemi:", regex=True))
    return starts_stemi.any(axis=1).astype(int)


def _ptbxl(options: Mapping[str, Any]) -> Cohort:
    definition = str(options.get("definition", "stemi-v1"))
    try:
        min_likelihood = float(options.get("min_likelihood", 0))
    except ValueError:
        raise CohortError(
            f"ptbxl.min_likelihood must be a number, got {options['min_likelihood']!r}"
        ) from None
    version = f"{PTBXL_VERSION}:{definition}"
    if min_likelihood:
        version += f":min_likelihood={min_likelihood:g}"
    rule = ptbxl_rule(definition, min_likelihood)
    return ptbxl_loader(PTBXL_NAME, rule, version)(options)


@hookimpl
def bench_register_tasks(register: Callable[[TaskSpec], None]) -> None:
    """Register ``stemi`` and ``ptbxl-stemi``."""
    register(
        TaskSpec(
            name="stemi",
            default=True,
            loaders={
                "synthetic": synthetic_loader("stemi"),
                "ludb": ludb_loader("stemi", ludb_rule),
                **user_sources("stemi", "stemi"),
            },
            definition=__doc__ or "",
            version=VERSION,
            positive_class="ST-elevation myocardial infarction",
            description="STEMI vs no infarction (PTB-XL: the task ptbxl-stemi)",
            region="st",
            external_site="D",
        )
    )
    register(
        TaskSpec(
            name=PTBXL_NAME,
            loaders={"ptbxl": _ptbxl},
            definition=__doc__ or "",
            version=PTBXL_VERSION,
            positive_class="acute MI (stadium I/I-II) or current of injury",
            description="PTB-XL STEMI: acute MI or current of injury vs no MI (ptbxl-stemi-v1)",
            default_source="ptbxl",
            region="st",
        )
    )
