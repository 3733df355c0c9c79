"""What a model is trained to predict, per task kind: its outputs, loss, scores and the
validation value that selects its weights.

- ``classification``: a binary task's 2-logit head with cross-entropy (the score is
  P(positive)), or K sigmoid outputs with BCE for a multi-label task (optionally with
  per-label positive weights); selection maximises validation AUROC (macro over labels).
- ``regression``: one output per target, trained with the mean squared error of targets
  standardised by the training set's mean and standard deviation (so that targets in ms
  and in bpm weigh alike); the score is the prediction in the target's unit; selection
  minimises the validation loss.
- ``survival``: one output, the log relative hazard (risk score), trained with the negative
  Cox partial log-likelihood (Breslow's handling of tied times) over each batch, as DeepSurv
  (Katzman et al., 2018); the score is the risk; selection minimises the validation
  partial-likelihood loss over the whole validation set.

Training labels (:class:`bench.training.datasets.ArrayDataset`) are the task's label
columns, and for a survival task ``(n, 2)`` rows of (follow-up time, event).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from bench.training.selection import auroc


def positive_weights(labels: np.ndarray) -> Tensor:
    """Per-label BCE ``pos_weight``: negatives / positives in ``labels`` ``(n, K)`` (1 for
    a label without positives)."""
    positives = labels.sum(axis=0)
    negatives = len(labels) - positives
    weights = np.where(positives > 0, negatives / np.maximum(positives, 1), 1.0)
    return torch.as_tensor(weights, dtype=torch.float32)


def cox_loss(risk: Tensor, times: Tensor, events: Tensor) -> Tensor:
    """Negative Cox partial log-likelihood per event (Breslow ties): for each event ``i``,
    ``log sum_{j: t_j >= t_i} exp(r_j) - r_i``, averaged over the events (0 without any)."""
    order = torch.argsort(times, descending=True)
    risk, times, events = risk[order], times[order], events[order]
    log_at_risk = torch.logcumsumexp(risk, dim=0)
    # tied times share the risk set of the last of them in this order (all with t_j >= t_i)
    last = torch.searchsorted(-times.contiguous(), -times.contiguous(), right=True) - 1
    terms = (log_at_risk[last] - risk) * events
    return terms.sum() / events.sum().clamp(min=1)


def head_outputs(kind: str, labels: Sequence[str]) -> int:
    """Outputs a model's head needs for a task of ``kind`` with ``labels``: 2 logits for a
    binary task, else one per label (multi-label), per target (regression), or 1 (survival)."""
    if kind == "survival":
        return 1
    return len(labels) or (2 if kind == "classification" else 1)


@dataclass
class Objective:
    """The objective of one training run; see the module docstring. Build it with
    :meth:`for_task` from the training labels."""

    kind: str
    targets: int  # labels of a multi-label task, targets of a regression task; 1 otherwise
    multilabel: bool = False
    pos_weight: Tensor | None = None
    mean: np.ndarray = field(default_factory=lambda: np.zeros(1))
    scale: np.ndarray = field(default_factory=lambda: np.ones(1))

    @classmethod
    def for_task(cls, kind: str, train_labels: np.ndarray, pos_weight: bool = True) -> Objective:
        """The objective of a task of ``kind`` trained on ``train_labels`` (``pos_weight``:
        per-label positive weights for a multi-label task)."""
        if kind == "regression":
            columns = train_labels.reshape(len(train_labels), -1).astype(np.float64)
            scale = columns.std(axis=0)
            return cls(
                kind,
                columns.shape[1],
                multilabel=train_labels.ndim == 2,
                mean=columns.mean(axis=0),
                scale=np.where(scale > 0, scale, 1.0),
            )
        if kind == "survival":
            return cls(kind, 1)
        multilabel = train_labels.ndim == 2
        weights = positive_weights(train_labels) if multilabel and pos_weight else None
        return cls(kind, train_labels.shape[1] if multilabel else 1, multilabel, weights)

    @property
    def outputs(self) -> int:
        """Outputs the model's head needs: 2 logits for a binary task, else one per target."""
        return 2 if self.kind == "classification" and not self.multilabel else self.targets

    def loss(self, logits: Tensor, y: Tensor) -> Tensor:
        """The training loss of ``logits`` ``(B, outputs)`` against labels ``y``."""
        if self.kind == "regression":
            mean = torch.as_tensor(self.mean, dtype=logits.dtype, device=logits.device)
            scale = torch.as_tensor(self.scale, dtype=logits.dtype, device=logits.device)
            target = (y.to(logits).reshape(len(y), -1) - mean) / scale
            return F.mse_loss(logits, target)
        if self.kind == "survival":
            y = y.to(logits)
            return cox_loss(logits[:, 0], y[:, 0], y[:, 1])
        if not self.multilabel:
            return F.cross_entropy(logits, y)
        weight = None if self.pos_weight is None else self.pos_weight.to(logits)
        return F.binary_cross_entropy_with_logits(logits, y.to(logits), pos_weight=weight)

    def scores(self, logits: np.ndarray) -> np.ndarray:
        """Each row's score: P(positive) (``(n, K)`` for multi-label), the prediction in
        the target's unit (``(n, K)`` for several targets) or the risk score."""
        if self.kind == "regression":
            values = logits * self.scale + self.mean
            return values if self.multilabel else values[:, 0]
        if self.kind == "survival":
            return logits[:, 0].astype(np.float64)
        out = torch.from_numpy(logits)
        if self.multilabel:
            return torch.sigmoid(out).numpy()
        return torch.log_softmax(out, dim=1)[:, 1].exp().numpy()

    def evaluate(self, logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, float]:
        """Scores of ``logits`` and the loss against ``labels`` over the whole set."""
        y = torch.from_numpy(labels)
        if self.kind == "classification" and not self.multilabel:
            log_probs = torch.log_softmax(torch.from_numpy(logits), dim=1)
            return log_probs[:, 1].exp().numpy(), float(F.nll_loss(log_probs, y))
        loss = self.loss(torch.from_numpy(logits).float(), y)
        return self.scores(logits), float(loss)

    def quality(self, labels: np.ndarray, scores: np.ndarray) -> float:
        """The validation value selection maximises (AUROC); NaN for the kinds that select
        on the validation loss."""
        return auroc(labels, scores) if self.kind == "classification" else math.nan

    def details(self) -> dict[str, Any]:
        """What a result record states of the objective."""
        if self.kind == "regression":
            return {
                "loss": "mse (targets standardised on the training set)",
                "target_mean": self.mean.tolist(),
                "target_sd": self.scale.tolist(),
            }
        if self.kind == "survival":
            return {"loss": "cox partial likelihood (Breslow ties, per batch)"}
        out: dict[str, Any] = {"loss": "bce" if self.multilabel else "cross-entropy"}
        if self.pos_weight is not None:
            out["pos_weight"] = self.pos_weight.tolist()
        return out
