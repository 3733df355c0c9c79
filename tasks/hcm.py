"""Task ``hcm``: hypertrophic cardiomyopathy.

The label comes from a 0/1 ``hcm`` column in a manifest CSV or a MUSE label table (or
the column named by ``SOURCE.label_column``), or from the SNOMED CT codes of WFDB header
``#Dx:`` lines (``wfdb.codes=``, e.g. 233873004 hypertrophic cardiomyopathy); on the
synthetic cohort the generator's label is used. The paper's Mount Sinai cohort is private.
"""

from __future__ import annotations

from collections.abc import Callable

from bench.api import TaskSpec, hookimpl, synthetic_loader, user_sources

VERSION = "hcm-v1"


@hookimpl
def bench_register_tasks(register: Callable[[TaskSpec], None]) -> None:
    """Register ``hcm``."""
    register(
        TaskSpec(
            name="hcm",
            loaders={
                "synthetic": synthetic_loader("hcm"),
                **user_sources("hcm", "hcm"),
            },
            definition=__doc__ or "",
            version=VERSION,
            positive_class="hypertrophic cardiomyopathy",
            description="HCM vs no HCM",
            region="qrs",
            external_site="D",
        )
    )
