"""Full fine-tuning: the paper protocol with validation-based selection and resumption."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import Progress as RichProgress
from torch import Tensor

from bench.host.specs import BuiltModel, ModelSpec
from bench.training.config import MIN_CONVERGED_PATIENCE, TrainConfig, TrainResult
from bench.training.datasets import ArrayDataset
from bench.training.devices import autocast, resolve_device
from bench.training.objectives import Objective
from bench.training.plan import Plan
from bench.training.recipe import apply_drop_path, build_optimisation
from bench.training.runtime import (
    DeviceBatches,
    predict,
    seed_everything,
    sequential_batches,
    worker_count,
)
from bench.training.selection import INTERNAL, VALIDATION, check_policy, selection_score
from bench.training.state import Progress, StateStore
from bench.training.steps import StepOutput, Updater, run_steps


class _Trainer:
    """One fine-tuning run; see :func:`fine_tune`."""

    def __init__(
        self,
        built: BuiltModel,
        spec: ModelSpec,
        train: ArrayDataset,
        validation: ArrayDataset,
        evals: Mapping[str, ArrayDataset],
        config: TrainConfig,
        objective: Objective | None = None,
    ) -> None:
        check_policy(config.selection, evals)
        seed_everything(config.seed)
        self.config = config
        self.device = resolve_device(config.device)
        self.amp = config.autocast
        self.channels_last = spec.input.channels_last
        self.train_set, self.validation, self.evals = train, validation, evals
        self.module = built.module.to(self.device)
        if self.channels_last:
            self.module = self.module.to(memory_format=torch.channels_last)
        self.forward: Callable[[Tensor], Tensor] = (
            torch.compile(self.module) if config.compile else self.module
        )
        self.plan = Plan.from_config(len(train), config)
        self.drop_path_blocks = apply_drop_path(self.module, config.recipe.drop_path)
        optimisation = build_optimisation(
            self.module, config.recipe, config.batch_size, self.plan.total_steps, spec.optimizer
        )
        self.updater = Updater(optimisation.optimizer, optimisation.scheduler)
        self.optimisation = optimisation.details
        self.workers = worker_count(self.device, config.num_workers)
        self.objective = objective or Objective.for_task(
            "classification", train.labels, config.pos_weight
        )
        self.progress = Progress()
        self.best: dict[str, Tensor] | None = None
        self.timings = {"train_s": 0.0, "eval_s": 0.0, "train_images": 0.0}

    # -- evaluation ----------------------------------------------------------------
    def _batches(self, dataset: ArrayDataset, batches: list[list[int]]) -> DeviceBatches:
        return DeviceBatches(dataset, batches, self.device, self.workers, self.channels_last)

    def score(self, dataset: ArrayDataset) -> tuple[np.ndarray, float]:
        """Each row's score (see :meth:`Objective.scores`) and the mean loss of ``dataset``."""
        batches = self._batches(
            dataset, sequential_batches(len(dataset), 2 * self.config.batch_size)
        )
        logits, labels = predict(self.forward, self.module, batches, self.device, self.amp)
        return self.objective.evaluate(logits, labels)

    def evaluate(self, train_loss: float) -> dict[str, Any]:
        """One history entry: validation (and, for selection='test', internal) metrics."""
        start = time.perf_counter()
        step = self.progress.step
        entry: dict[str, Any] = {
            "evaluation": len(self.progress.history) + 1,
            "step": step,
            "epoch": step / self.plan.steps_per_epoch,
            "lr": self.updater.scheduler.get_last_lr()[0],
            "train_loss": train_loss,
        }
        sets = {VALIDATION: self.validation}
        if self.config.selection == "test":
            sets[INTERNAL] = self.evals[INTERNAL]
        for name, dataset in sets.items():
            scores, loss = self.score(dataset)
            if self.objective.kind == "classification":
                entry[f"{name}_auroc"] = self.objective.quality(dataset.labels, scores)
            entry[f"{name}_loss"] = loss
        self.timings["eval_s"] += time.perf_counter() - start
        return entry

    def record(self, entry: dict[str, Any], store: StateStore | None) -> None:
        """Add ``entry`` to the history, keep the best weights, save the state."""
        progress = self.progress
        progress.history.append(entry)
        value = selection_score(self.config.selection, entry, self.config.monitor)
        if progress.best_index is None or value > progress.best_score:
            progress.best_index, progress.best_score = len(progress.history) - 1, value
            self.best = {k: v.detach().clone() for k, v in self.module.state_dict().items()}
            if store is not None:
                meta = {"step": str(entry["step"]), "selection": self.config.selection}
                store.save_best(self.best, meta)
        if store is not None:
            store.save(self.module, self.updater, progress)

    # -- training ------------------------------------------------------------------
    def train_step(self, x: Tensor, y: Tensor) -> StepOutput:
        """The training loss of one batch (the model's forward under autocast)."""
        with autocast(self.device, self.amp):
            logits = self.forward(x)
        return StepOutput(self.objective.loss(logits.float(), y), {}, len(y))

    def train_batches(self, step: int) -> Iterator[tuple[Tensor, Tensor]]:
        """The plan's training batches from optimiser step ``step`` (0-based) on, epoch
        after epoch (each epoch's loader starts when its first batch is needed)."""
        steps_per_epoch = self.plan.steps_per_epoch
        while True:
            epoch, skip = divmod(step, steps_per_epoch)
            yield from self._batches(self.train_set, self.plan.epoch_batches(epoch)[skip:])
            step = (epoch + 1) * steps_per_epoch

    def since_best(self) -> int:
        """Evaluations since the validation ``monitor`` last improved on its best so far
        by more than ``min_delta`` (0: the last evaluation did)."""
        since, best = 0, -math.inf
        for entry in self.progress.history:
            value = selection_score("validation", entry, self.config.monitor)
            if value > best + self.config.min_delta or best == -math.inf:
                since, best = 0, value
            else:
                since += 1
        return since

    def stopped_early(self) -> bool:
        """Whether the patience rule has ended training."""
        patience = self.config.patience
        return patience is not None and self.since_best() >= patience

    def run(self, store: StateStore | None, bar: RichProgress | None, label: str) -> None:
        """Train until the plan's last step or an early stop, evaluating at the plan's
        points."""
        plan, progress = self.plan, self.progress
        task = bar.add_task(label, total=plan.total_steps, completed=progress.step) if bar else None
        eval_steps = set(plan.eval_steps)
        self.module.train()
        loss_sum, loss_n = torch.zeros((), device=self.device), 0
        batches = self.train_batches(progress.step)
        start = time.perf_counter()

        def step(_: int) -> StepOutput:
            return self.train_step(*next(batches))

        def after(done: int, output: StepOutput) -> bool:
            nonlocal loss_n, start
            loss_sum.add_(output.loss.detach())
            loss_n += 1
            progress.step = done
            self.timings["train_images"] += output.items
            if bar is not None and task is not None:
                bar.advance(task)
            if done not in eval_steps and done < plan.total_steps:
                return False
            self.timings["train_s"] += time.perf_counter() - start
            self.record(self.evaluate(float(loss_sum) / loss_n), store)
            self.module.train()
            loss_sum.zero_()
            loss_n = 0
            start = time.perf_counter()
            return self.stopped_early()  # the history changes only here

        if not self.stopped_early():
            run_steps(step, self.updater, progress.step, plan.total_steps, after)
        self.timings["train_s"] += time.perf_counter() - start
        if bar is not None and task is not None:
            bar.update(task, completed=plan.total_steps)

    def stopped_by(self) -> str:
        """What ended training: the patience rule, the step cap, or the planned epochs."""
        if self.stopped_early():
            return "early_stopping"
        cap = self.config.max_steps
        if cap is not None and self.plan.total_steps == cap:
            uncapped = max(
                self.config.epochs * self.plan.steps_per_epoch, self.config.min_steps or 0
            )
            if uncapped > cap:
                return "max_steps"
        return "epochs"

    def finish(self) -> TrainResult:
        """Load the selected weights and score validation and every evaluation set."""
        progress = self.progress
        if self.best is not None:
            self.module.load_state_dict(self.best)
        assert progress.best_index is not None, "training ended without an evaluation"
        start = time.perf_counter()
        scores = {VALIDATION: self.score(self.validation)[0]}
        scores.update({name: self.score(ds)[0] for name, ds in self.evals.items()})
        self.timings["final_eval_s"] = time.perf_counter() - start
        selected = progress.history[progress.best_index]
        train_s = self.timings["train_s"]
        self.timings["images_per_s"] = (
            self.timings["train_images"] / train_s if train_s else math.nan
        )
        stopped_by = self.stopped_by()
        return TrainResult(
            scores=scores,
            selected_epoch=self.plan.epoch_of(selected["step"]),
            history=progress.history,
            timings=self.timings,
            device=str(self.device),
            selection=self.config.selection,
            selected_step=selected["step"],
            converged=self.since_best() >= MIN_CONVERGED_PATIENCE,
            stopped_by=stopped_by,
            details={
                **self.optimisation,
                "recipe": self.config.recipe.name,
                "stopping_rule": self.config.stopping_rule(
                    None if self.objective.kind == "classification" else "loss"
                ),
                "stopped_by": stopped_by,
                "steps_run": progress.step,
                "epochs_run": round(progress.step / self.plan.steps_per_epoch, 3),
                "evaluations_since_best": self.since_best(),
                "drop_path_blocks": self.drop_path_blocks,
                "steps_per_epoch": self.plan.steps_per_epoch,
                "total_steps": self.plan.total_steps,
                "eval_steps": list(self.plan.eval_steps),
                "channels_last": self.channels_last,
                "num_workers": self.workers,
                **self.objective.details(),
            },
        )


def fine_tune(
    built: BuiltModel,
    spec: ModelSpec,
    train: ArrayDataset,
    validation: ArrayDataset,
    evals: Mapping[str, ArrayDataset],
    config: TrainConfig,
    checkpoint_dir: Path | None = None,
    progress: RichProgress | None = None,
    kind: str = "classification",
) -> TrainResult:
    """Fine-tune ``built.module`` under ``config`` for a task of ``kind``
    (:mod:`bench.training.objectives`): a binary task's 2-logit head with cross-entropy.

    With multi-label datasets (``(n, K)`` labels) the module has K outputs trained with BCE
    (``config.pos_weight``: per-label positive weights from the training split), scores are
    per-label sigmoid probabilities and selection uses the macro validation AUROC.
    Regression and survival tasks train their objective's loss and select on the
    validation loss.

    Evaluates at the plan's points, keeps the weights chosen by ``config.selection`` and
    returns P(positive) for ``validation`` and every set in ``evals`` (``"internal"`` is
    the test set that ``selection="test"`` optimistically selects on). With
    ``checkpoint_dir``, the selected weights go to ``best.safetensors`` and the training
    state is saved after each evaluation; a later call with the same directory and
    hyperparameters continues from it and reproduces the uninterrupted result.
    """
    objective = Objective.for_task(kind, train.labels, config.pos_weight)
    trainer = _Trainer(built, spec, train, validation, evals, config, objective)
    store = StateStore(checkpoint_dir, config) if checkpoint_dir is not None else None
    if store is not None and store.exists():
        trainer.progress, trainer.best = store.restore(trainer.module, trainer.updater)
        trainer.timings["resumed_at_step"] = float(trainer.progress.step)
    trainer.run(store, progress, f"fine-tune {spec.name}")
    return trainer.finish()
