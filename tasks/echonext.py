"""Tasks ``echonext-lvef``, ``echonext-lvwt`` and ``echonext-shd`` on EchoNext (PhysioNet).

EchoNext pairs 100,000 12-lead ECGs (36,286 patients, Columbia University Irving Medical
Center; 10 s at 250 Hz) with flags read from a matched echocardiogram. Users with
credentialed access point ``--source-option echonext.path=DIR`` or ``BENCH_ECHONEXT_DIR``
at their copy (docs/data.md, "EchoNext").

- ``echonext-lvef``: ``lvef_lte_45_flag`` = 1, LVEF ≤ 45 % on the echocardiogram. The public
  stand-in for the paper's low-LVEF task (LVEF ≤ 40 % on private Mount Sinai data): the
  threshold is EchoNext's, 45 %, not the paper's.
- ``echonext-lvwt``: ``lvwt_gte_13_flag`` = 1, left-ventricular wall thickness ≥ 13 mm. The
  public stand-in for the paper's HCM task: thick walls include hypertrophy of any cause
  (hypertension, aortic stenosis, ...), not hypertrophic cardiomyopathy alone.
- ``echonext-shd``: the 11 per-condition flags as a multi-label task (labels named as the
  columns without ``_flag``): LVEF ≤ 45 %, LV wall thickness ≥ 13 mm, moderate or greater
  aortic stenosis, aortic, mitral, tricuspid or pulmonary regurgitation, moderate or greater
  RV systolic dysfunction, moderate or large pericardial effusion, PASP ≥ 45 mmHg, TR peak
  velocity ≥ 3.2 m/s. The release's composite ``shd_moderate_or_greater_flag`` is not one
  of them.

Every flag is 0 or 1 as published; a 0 also stands for a measurement the echocardiogram did
not report (reported for the TR, PASP, effusion and LVEF flags), so a negative is "not
found", not "measured normal". The split is the publisher's (``split`` column: ``train``,
``val``, ``test``; patient-disjoint); its ``no_split`` records, earlier ECGs of validation
and test patients, are left out. The waveforms are the publisher's standardised values
(z-scores), not millivolts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bench.api import (
    ECHONEXT_FLAGS,
    TaskSpec,
    column_rule,
    echonext_loader,
    hookimpl,
    label_column,
)

if TYPE_CHECKING:  # pandas loads when a cohort is labelled, not at plugin import
    import pandas as pd

LVEF_VERSION = "echonext-lvef-v1"
LVWT_VERSION = "echonext-lvwt-v1"
SHD_VERSION = "echonext-shd-v1"
#: ``echonext-shd``'s label names: the flag columns without ``_flag``.
SHD_LABELS: tuple[str, ...] = tuple(c.removesuffix("_flag") for c in ECHONEXT_FLAGS)


def shd_rule(table: pd.DataFrame) -> pd.DataFrame:
    """``label:<name>`` for each of the 11 flags (:data:`bench.api.ECHONEXT_FLAGS`)."""
    import pandas as pd

    return pd.DataFrame(
        {
            label_column(name): column_rule(column)(table)
            for name, column in zip(SHD_LABELS, ECHONEXT_FLAGS, strict=True)
        },
        index=table.index,
    )


@hookimpl
def bench_register_tasks(register: Callable[[TaskSpec], None]) -> None:
    """Register ``echonext-lvef``, ``echonext-lvwt`` and ``echonext-shd``."""
    for name, column, version, positive, what in (
        ("echonext-lvef", "lvef_lte_45_flag", LVEF_VERSION, "LVEF ≤ 45 %", "low LVEF"),
        ("echonext-lvwt", "lvwt_gte_13_flag", LVWT_VERSION, "LV wall ≥ 13 mm", "thick LV wall"),
    ):
        register(
            TaskSpec(
                name=name,
                loaders={"echonext": echonext_loader(name, column_rule(column), version)},
                definition=__doc__ or "",
                version=version,
                positive_class=positive,
                description=f"EchoNext {what} ({positive}, echo-derived; published split)",
                default_source="echonext",
                region="qrs",
            )
        )
    register(
        TaskSpec(
            name="echonext-shd",
            loaders={
                "echonext": echonext_loader("echonext-shd", shd_rule, SHD_VERSION, SHD_LABELS)
            },
            definition=__doc__ or "",
            version=SHD_VERSION,
            positive_class="each flag present",
            description="EchoNext 11 structural heart disease flags (multi-label; published split)",
            default_source="echonext",
            region="qrs",
            labels=SHD_LABELS,
        )
    )
