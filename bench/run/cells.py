"""Grid cells and their identity: what a cell's results are a pure function of.

A cell is one (model, task, source, fraction, seed, protocol) of a grid. Its *identity* is
everything its trained predictions depend on — model spec and weights content, profile,
task and label version, the usable cohort, the exact record ids it trains, selects and
evaluates on, fraction, seed, protocol and training configuration — as a JSON object.
The identity's hash

- seeds every random draw of the cell (:func:`cell_seed`), so a cell gives the same
  predictions whatever ran before it in the process, on resume, or on another executor;
- is stored with the cell (``identity.json``) and checked on resume: a cell whose
  identity changed is re-run, and the fields that changed are named.

Evaluation-only settings (metrics, bootstrap replicates, ``--strict``) are not part of the
identity: metrics are recomputed from the saved predictions (see :mod:`bench.run.scoring`).
:func:`plan_cell` is the one place a cell's identity is built, in the driver and in an
executor's worker alike.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from bench.run.provenance import stable_hash

if TYPE_CHECKING:
    from bench.host.specs import ModelSpec
    from bench.run.context import CellContext
    from bench.run.task_data import PreparedTask
    from bench.training import TrainConfig
    from bench.training.config import EvalProtocol
    from bench.weights.initial import ResolvedWeights

#: Version of the identity recipe itself (bump when its fields change meaning).
IDENTITY_VERSION = 1
#: Engine settings that do not change what a cell computes (kept out of identities).
RUNTIME_TRAIN_FIELDS = ("seed", "device", "num_workers", "compile")


@dataclass(frozen=True)
class CellKey:
    """The coordinates of a cell in the grid (also its directory name, :attr:`id`)."""

    model: str
    task: str
    source: str
    fraction: float
    seed: int
    protocol: EvalProtocol

    @property
    def id(self) -> str:
        """A filesystem-safe, human-readable identifier of the cell."""
        return cell_id(self.model, self.task, self.source, self.fraction, self.seed, self.protocol)


def cell_id(model: str, task: str, source: str, fraction: float, seed: int, protocol: str) -> str:
    """A filesystem-safe, human-readable identifier of one grid cell (its directory name)."""
    raw = f"{model}__{task}__{source}__f{fraction:g}__s{seed}__{protocol}"
    return re.sub(r"[^A-Za-z0-9_.=-]", "-", raw)


def identity_hash(identity: Mapping[str, Any]) -> str:
    """16 hex digits of SHA-256 over the canonical JSON of ``identity``."""
    return stable_hash({"identity_version": IDENTITY_VERSION, **identity}, length=16)


def cell_seed(identity_digest: str) -> int:
    """The seed of every random draw in a cell: 31 bits derived from its identity hash."""
    return int(hashlib.sha256(identity_digest.encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


def ids_hash(ids: list[str]) -> str:
    """Order-independent hash of a set of record ids (split membership in identities)."""
    return stable_hash(sorted(ids), length=16)


@dataclass(frozen=True)
class CellPlan:
    """A cell ready to run: key, identity (and its hash), records and settings."""

    key: CellKey
    spec: ModelSpec
    identity: dict[str, Any]
    digest: str
    experiment: str
    train_ids: list[str]
    validation_ids: list[str]
    train_config: TrainConfig
    weights: ResolvedWeights
    model_profile: str
    input_size: int
    validation_rule: str
    split_hash: str


def plan_cell(
    context: CellContext,
    prepared: PreparedTask,
    spec: ModelSpec,
    key: CellKey,
    train_ids: list[str],
) -> CellPlan:
    """The identity of one cell and everything it runs with."""
    from bench import __version__
    from bench.training.features import FEATURES_VERSION

    config, profile = context.config, context.config.profile_spec
    weights = context.weights(spec)
    validation_ids = prepared.validation_ids(key.fraction, key.seed, config.validation_rule)
    base = replace(context.train_config(), recipe=context.fine_tune_recipe(spec))
    if not prepared.labels or key.protocol == "linear-probe":  # BCE weights unused
        base = replace(base, pos_weight=False)
    train = {k: v for k, v in base.to_dict().items() if k not in RUNTIME_TRAIN_FIELDS}
    if key.protocol == "linear-probe":  # the probe optimises no encoder: no recipe
        del train["recipe"]
    else:  # fine-tuning fits no regression
        del train["probe_criterion"]
    experiment = {
        "harness_version": __version__,
        "model": {
            "name": spec.name,
            "plugin": spec.plugin,
            "plugin_version": context.host.versions.get(spec.plugin, ""),
            **spec.input.identity(),
            "optimizer": spec.optimizer,
            "representation": context.inputs.representation_hash(spec),
        },
        "profile": config.profile,
        "model_profile": profile.model_profile,
        "input_size": spec.input_size(profile.image_size),
        "weights": weights.identity,
        "protocol": key.protocol,
        "selection": config.selection,
        "validation_rule": config.validation_rule,
        "train": train,
    }
    if key.protocol != "finetune":  # token-based modes read the features contract
        experiment["features"] = FEATURES_VERSION
    eval_ids = {name: ids_hash(ids) for name, ids in prepared.eval_sets.items()}
    membership = {
        "train": ids_hash(train_ids),
        "validation": ids_hash(validation_ids),
        "eval": eval_ids,
    }
    identity = {
        **experiment,
        "task": key.task,
        "task_version": prepared.task_version,
        "source": key.source,
        "source_version": prepared.cohort.source_version,
        "cohort": prepared.usable_hash,
        "membership": membership,
        "fraction": key.fraction,
        "seed": key.seed,
    }
    if prepared.labels:  # multi-label tasks (binary identities are unchanged)
        identity["labels"] = list(prepared.labels)
    digest = identity_hash(identity)
    return CellPlan(
        key=key,
        spec=spec,
        identity=identity,
        digest=digest,
        experiment=stable_hash(experiment),
        train_ids=train_ids,
        validation_ids=validation_ids,
        train_config=replace(base, seed=cell_seed(digest)),
        weights=weights,
        model_profile=profile.model_profile,
        input_size=spec.input_size(profile.image_size),
        validation_rule=config.validation_rule,
        split_hash=stable_hash(membership, length=16),
    )
