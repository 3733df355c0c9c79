"""Task ``cinc2021``: the scored diagnoses of the PhysioNet/CinC Challenge 2021, multi-label.

Labels are the 26 scored classes of the Challenge (:data:`SCORED_CLASSES`), read from the
SNOMED CT codes of each record's ``#Dx:`` header line; four classes merge codes the
Challenge scores as equivalent (CLBBB|LBBB, CRBBB|RBBB, PAC|SVPB, PVC|VPB). Source: the
column header of the Challenge's ``weights.csv`` (github.com/physionetchallenges/
evaluation-2021; Reyna et al., "Will Two Do? Varying Dimensions in Electrocardiography: The
PhysioNet/Computing in Cardiology Challenge 2021", CinC 2021). A record without a Dx code is
left out; one whose codes are all unscored is kept with every label 0, as the Challenge
scores it.

For users who have the Challenge's training data (``--source-option wfdb.path=`` or
``BENCH_WFDB_DIR``, the folder holding the per-source folders ``cpsc_2018``,
``georgia``, ``ptb-xl``, …). The site of a record is its first folder under the path, so an
external site can be held out with ``--source-option wfdb.external_site=georgia``; one
patient per record (the headers carry no patient id). Scored as macro AUROC/AUPRC.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from bench.api import TaskSpec, hookimpl, wfdb_loader

if TYPE_CHECKING:
    from bench.api import Cohort

VERSION = "cinc2021-v1"

#: Class abbreviation → SNOMED CT codes scored as that class (weights.csv, 2021).
SCORED_CLASSES: dict[str, tuple[str, ...]] = {
    "AF": ("164889003",),
    "AFL": ("164890007",),
    "BBB": ("6374002",),
    "Brady": ("426627000",),
    "CLBBB|LBBB": ("733534002", "164909002"),
    "CRBBB|RBBB": ("713427006", "59118001"),
    "IAVB": ("270492004",),
    "IRBBB": ("713426002",),
    "LAD": ("39732003",),
    "LAnFB": ("445118002",),
    "LPR": ("164947007",),
    "LQRSV": ("251146004",),
    "LQT": ("111975006",),
    "NSIVCB": ("698252002",),
    "NSR": ("426783006",),
    "PAC|SVPB": ("284470004", "63593006"),
    "PR": ("10370003",),
    "PRWP": ("365413008",),
    "PVC|VPB": ("427172004", "17338001"),
    "QAb": ("164917005",),
    "RAD": ("47665007",),
    "SA": ("427393009",),
    "SB": ("426177001",),
    "STach": ("427084000",),
    "TAb": ("164934002",),
    "TInv": ("59931005",),
}
LABELS: tuple[str, ...] = tuple(SCORED_CLASSES)


def cinc_loader(options: Mapping[str, Any]) -> Cohort:
    """The WFDB source over the Challenge layout: sites from the first folder by default."""
    return wfdb_loader("cinc2021", SCORED_CLASSES)({"site": "folder", **options})


@hookimpl
def bench_register_tasks(register: Callable[[TaskSpec], None]) -> None:
    """Register ``cinc2021``."""
    register(
        TaskSpec(
            name="cinc2021",
            loaders={"wfdb": cinc_loader},
            definition=__doc__ or "",
            version=VERSION,
            positive_class="each scored class present",
            description="PhysioNet/CinC 2021: 26 scored SNOMED classes from #Dx headers "
            "(multi-label, macro AUROC)",
            default_source="wfdb",
            region="qrs",
            labels=LABELS,
        )
    )
