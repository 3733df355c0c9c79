"""Which evaluation splits of a trained cell overlap its model's pretraining corpus.

The corpus is the one the built model declares (:attr:`bench.host.specs.BuiltModel.pretraining`,
from a checkpoint's metadata), else, for
pretrained weights, the corpora its spec names (:attr:`bench.host.specs.ModelMeta.pretrained_on`);
a randomly initialised model saw none. Each split is checked by
:func:`bench.weights.contamination.check`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.weights.contamination import Corpus, check

if TYPE_CHECKING:
    from bench.host.specs import BuiltModel, ModelSpec
    from bench.run.task_data import PreparedTask


def split_overlaps(
    prepared: PreparedTask, spec: ModelSpec, built: BuiltModel
) -> dict[str, str | None]:
    """Per evaluation split, why it overlaps the model's pretraining corpus (or None)."""
    declared = built.pretraining.corpus if built.pretraining else None
    if declared:
        corpora = [Corpus.from_metadata(declared)]
    elif built.init != "random":
        corpora = [Corpus.from_metadata(name) for name in spec.meta.pretrained_on]
    else:
        corpora = []
    synthetic = prepared.cohort.notes.get("config")
    n_patients = getattr(synthetic, "n_patients", None)
    out: dict[str, str | None] = {}
    for name, ids in prepared.eval_sets.items():
        sites = set(prepared.by_id.loc[ids, "site"])
        reasons = [check(c, prepared.cohort.source, sites, n_patients, name) for c in corpora]
        out[name] = "; ".join(r for r in reasons if r) or None
    return out
