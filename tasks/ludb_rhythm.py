"""Task ``ludb-rhythm-morphology``: LUDB's rhythm and morphology statements, multi-label.

Every statement of LUDB's diagnosis table (rhythm, electrical axis, conduction,
extrasystoles, hypertrophies, pacing, ischaemia, repolarisation) that at least
:data:`MIN_POSITIVES` of the 200 subjects carry, as one label each (:data:`STATEMENTS`,
versioned by :data:`VERSION`). A statement matches a diagnosis-table line that starts with
one of its prefixes (case-insensitive); several localisations of one finding (e.g.
"Stemi: anterior wall", "Stemi: septal") are one statement. Scored as macro AUROC/AUPRC
over the statements.

Data: Lobachevsky University Electrocardiography Database 1.0.1 (Kalyakulina et al.,
IEEE Access 8, 2020; PhysioNet), ODC-By 1.0. Location: ``--source-option ludb.path=`` or
``BENCH_LUDB_DIR``. With 200 subjects the rarest statements have a handful of positives in
each evaluation set: their per-label values are noisy, the macro is the number to read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.api import CohortError, TaskSpec, hookimpl, label_column, ludb_loader

if TYPE_CHECKING:  # pandas loads when a cohort is labelled, not at plugin import
    import pandas as pd

VERSION = "ludb-rhythm-morphology-v1"
#: Fewest positive subjects a statement needs to be a label (checked on the real data).
MIN_POSITIVES = 5


@dataclass(frozen=True)
class Statement:
    """One label: the LUDB column it is read from and the line prefixes that assert it."""

    name: str
    column: str
    prefixes: tuple[str, ...]


def _s(name: str, column: str, *prefixes: str) -> Statement:
    return Statement(name, column, tuple(p.lower() for p in prefixes))


#: The statements of :data:`VERSION` (LUDB 1.0.1 counts over 200 subjects in comments).
STATEMENTS: tuple[Statement, ...] = (
    _s("sinus-rhythm", "Rhythms", "Sinus rhythm"),  # 143
    _s("sinus-bradycardia", "Rhythms", "Sinus bradycardia"),  # 25
    _s("atrial-fibrillation", "Rhythms", "Atrial fibrillation"),  # 15
    _s("sinus-arrhythmia", "Rhythms", "Sinus arrhythmia"),  # 8
    _s("axis-normal", "Electric axis of the heart", "Electric axis of the heart: normal"),  # 75
    _s("axis-left", "Electric axis of the heart", "Electric axis of the heart: left axis"),  # 66
    _s("axis-vertical", "Electric axis of the heart", "Electric axis of the heart: vertical"),
    _s("axis-horizontal", "Electric axis of the heart", "Electric axis of the heart: horizont"),
    _s("irbbb", "Conduction abnormalities", "Incomplete right bundle branch block"),  # 29
    _s("left-anterior-hemiblock", "Conduction abnormalities", "Left anterior hemiblock"),  # 16
    _s("first-degree-av-block", "Conduction abnormalities", "I degree av block"),  # 10
    _s("ilbbb", "Conduction abnormalities", "Incomplete left bundle branch block"),  # 6
    _s("third-degree-av-block", "Conduction abnormalities", "Iii degree av-block"),  # 5
    _s("ventricular-extrasystole", "Extrasystolies", "Ventricular extrasystole"),
    _s("atrial-extrasystole", "Extrasystolies", "Atrial extrasystole"),
    _s("lvh", "Hypertrophies", "Left ventricular hypertrophy"),  # 108
    _s("left-atrial-hypertrophy", "Hypertrophies", "Left atrial hypertrophy"),  # 102
    _s("right-atrial-overload", "Hypertrophies", "Right atrial overload"),  # 17
    _s("left-ventricular-overload", "Hypertrophies", "Left ventricular overload"),  # 11
    _s("left-atrial-overload", "Hypertrophies", "Left atrial overload"),  # 11
    _s("pacemaker", "Cardiac pacing", ""),  # any pacing statement
    _s("stemi", "Ischemia", "Stemi:"),
    _s("scar", "Ischemia", "Scar formation:"),
    _s("ischemia", "Ischemia", "Ischemia:"),
    _s("ischemia-scar-undefined", "Ischemia", "Undefined ischemia/scar/supp.nstemi:"),
    _s(
        "non-specific-repolarization",
        "Non-specific repolarization abnormalities",
        "Non-specific repolarization abnormalities",
    ),
    _s("early-repolarization", "Other states", "Early repolarization syndrome"),  # 9
)
LABELS: tuple[str, ...] = tuple(s.name for s in STATEMENTS)


def statement_rule(table: pd.DataFrame) -> pd.DataFrame:
    """One 0/1 column ``label:<statement>`` per statement of :data:`STATEMENTS`."""
    import pandas as pd

    missing = sorted({s.column for s in STATEMENTS} - set(table.columns))
    if missing:
        raise CohortError(f"LUDB table lacks the column(s) {missing}; got {list(table.columns)}")
    out = {}
    for statement in STATEMENTS:
        lines = table[statement.column].fillna("").astype(str).str.lower().str.split("\n")
        out[label_column(statement.name)] = [
            int(any(ln.strip() and ln.strip().startswith(statement.prefixes) for ln in cell))
            for cell in lines
        ]
    return pd.DataFrame(out, index=table.index)


@hookimpl
def bench_register_tasks(register: Callable[[TaskSpec], None]) -> None:
    """Register ``ludb-rhythm-morphology``."""
    register(
        TaskSpec(
            name="ludb-rhythm-morphology",
            loaders={"ludb": ludb_loader("ludb-rhythm-morphology", statement_rule, LABELS)},
            definition=__doc__ or "",
            version=VERSION,
            positive_class="each statement present",
            description=f"{len(LABELS)} rhythm and morphology statements on 200 real LUDB ECGs "
            "(multi-label, macro AUROC)",
            default_source="ludb",
            region="qrs",
            labels=LABELS,
        )
    )
