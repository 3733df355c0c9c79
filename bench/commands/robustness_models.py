"""The models ``bench robustness`` re-runs: a done cell's selected model reloaded from its
kept weights (:class:`CellModel`), or a linear-probe cell's probe fitted again as the cell
fitted it (:class:`ProbeModel`; see :mod:`bench.commands.robustness_eval`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import torch

from bench.executors.worker import intra_op_threads
from bench.run.execution import build_cell_model
from bench.training.devices import resolve_device
from bench.training.objectives import Objective
from bench.training.probe import linear_probe
from bench.training.runtime import DeviceBatches, predict, sequential_batches, worker_count
from bench.training.state import BEST_FILE
from bench.weights.checkpoints import load_state_dict_file

if TYPE_CHECKING:
    from bench.run.cells import CellPlan
    from bench.run.context import CellContext
    from bench.run.task_data import PreparedTask
    from bench.training.datasets import ArrayDataset


class CellModel:
    """A done cell's selected model, ready to score datasets as its training run did."""

    def __init__(self, context: CellContext, prepared: PreparedTask, plan: CellPlan) -> None:
        cell = plan.key.id
        path = context.store.root / "cells" / cell / "checkpoint" / BEST_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: the cell's selected weights are not kept (a run with "
                "--keep-weights none, or a cell finished before weights were kept)"
            )
        built, train, _ = build_cell_model(prepared, plan, context.config.protocol)
        self.config = plan.train_config
        self.device = resolve_device(self.config.device)
        self.channels_last = plan.spec.input.channels_last
        module = built.module
        module.load_state_dict(load_state_dict_file(path))
        self.module = module.to(self.device)
        if self.channels_last:
            self.module = self.module.to(memory_format=torch.channels_last)
        self.objective = Objective.for_task(
            prepared.task.kind, train.labels, self.config.pos_weight
        )
        self.workers = worker_count(self.device, self.config.num_workers)
        self.threads = context.cell_threads

    def scores(self, sets: Mapping[str, ArrayDataset]) -> dict[str, np.ndarray]:
        """Each set's scores per record (P(positive), ``(n, K)`` for multi-label; a
        regression's targets, a survival risk), batched as training scored and with the
        cell's intra-op threads (CPU reductions depend on their number)."""
        out = {}
        for name, dataset in sets.items():
            order = sequential_batches(len(dataset), 2 * self.config.batch_size)
            batches = DeviceBatches(dataset, order, self.device, self.workers, self.channels_last)
            with intra_op_threads(self.threads):
                logits, labels = predict(
                    self.module, self.module, batches, self.device, self.config.autocast
                )
            out[name] = self.objective.evaluate(logits, labels)[0]
        return out


class ProbeModel:
    """A done linear-probe cell's probe, fitted again as the cell fitted it (the module
    docstring), ready to score datasets."""

    def __init__(self, context: CellContext, prepared: PreparedTask, plan: CellPlan) -> None:
        self.built, self.train, _ = build_cell_model(prepared, plan, "linear-probe")
        self.validation = prepared.dataset(plan.spec, plan.validation_ids)
        self.spec, self.config, self.kind = plan.spec, plan.train_config, prepared.task.kind
        self.threads = context.cell_threads

    def scores(self, sets: Mapping[str, ArrayDataset]) -> dict[str, np.ndarray]:
        """Each set's scores from one fit of the probe on the cell's clean training
        features (one fit for all sets: the features of the training set are extracted
        once)."""
        with intra_op_threads(self.threads):
            result = linear_probe(
                self.built,
                self.spec,
                self.train,
                self.validation,
                sets,
                self.config,
                criterion=self.config.probe_criterion,
                kind=self.kind,
            )
        return {name: result.scores[name] for name in sets}
