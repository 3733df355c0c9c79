"""Task ``hcm``: hypertrophic cardiomyopathy.

The label comes from a 0/1 ``hcm`` column in a manifest CSV or a MUSE label table; on
the synthetic cohort the generator's label is used. The paper's Mount Sinai cohort is
private.
"""

from __future__ import annotations

from collections.abc import Callable

from bench import hookimpl
from bench.data.sources import column_rule, manifest_loader, muse_loader, synthetic_loader
from bench.specs import TaskSpec

VERSION = "hcm-v1"


@hookimpl
def bench_register_tasks(register: Callable[[TaskSpec], None]) -> None:
    """Register ``hcm``."""
    register(
        TaskSpec(
            name="hcm",
            loaders={
                "synthetic": synthetic_loader("hcm"),
                "manifest": manifest_loader("hcm", column_rule("hcm")),
                "muse": muse_loader("hcm", column_rule("hcm")),
            },
            definition=__doc__ or "",
            version=VERSION,
            positive_class="hypertrophic cardiomyopathy",
            description="HCM vs no HCM",
            region="qrs",
            external_site="D",
        )
    )
