"""Linear probe: logistic regression on frozen, mean-pooled token features (the features
contract of :mod:`bench.training.features`, the same vectors ``bench embed`` writes), with its
regularisation and class weighting selected as the strongest published probe protocols do:
on validation log-loss."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
from rich.progress import Progress as RichProgress
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.preprocessing import StandardScaler

from bench.host.specs import BuiltModel, ModelSpec
from bench.training.config import PROBE_CRITERIA, TrainConfig, TrainResult
from bench.training.datasets import ArrayDataset
from bench.training.devices import resolve_device
from bench.training.features import FEATURES_VERSION, extract_features, frozen_encoder
from bench.training.objectives import Objective
from bench.training.probe_targets import TargetProbeSelection, select_target_probe
from bench.training.runtime import seed_everything, worker_count
from bench.training.selection import INTERNAL, VALIDATION, auroc, check_policy

#: Inverse regularisation strengths tried.
C_GRID: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
#: Class weightings tried: none, or each class weighted inversely to its training frequency.
CLASS_WEIGHTS: tuple[str | None, ...] = (None, "balanced")
#: The grid of (C, class_weight) points, in the order ties are broken (earlier wins:
#: stronger regularisation first, unweighted before balanced).
GRID: tuple[tuple[float, str | None], ...] = tuple(itertools.product(C_GRID, CLASS_WEIGHTS))
#: Solver iterations per regression; a fit that needs them all did not converge.
MAX_ITER = 2000

#: One label's fitted regression, or the constant P(positive) of a one-class label.
Model: TypeAlias = LogisticRegression | float


def _fit(x: np.ndarray, y: np.ndarray, c: float, class_weight: str | None) -> Model:
    """One label's regression, or the training class as a constant when it has one class."""
    if len(np.unique(y)) < 2:
        return float(y[0])
    return LogisticRegression(C=c, class_weight=class_weight, max_iter=MAX_ITER).fit(x, y)


def _predict(model: Model, x: np.ndarray) -> np.ndarray:
    if isinstance(model, LogisticRegression):
        return np.asarray(model.predict_proba(x)[:, 1])
    return np.full(len(x), model)


class Probe:
    """Fitted logistic regressions, one per label (a single one for binary labels)."""

    def __init__(self, models: Sequence[Model], multilabel: bool) -> None:
        self.models = list(models)
        self.multilabel = multilabel

    def scores(self, x: np.ndarray) -> np.ndarray:
        """P(positive) per row (``(n, K)`` for multi-label)."""
        columns = [_predict(m, x) for m in self.models]
        return np.stack(columns, axis=1) if self.multilabel else columns[0]

    @property
    def converged(self) -> bool:
        """Whether every regression's solver converged within :data:`MAX_ITER`."""
        return all(
            int(np.max(m.n_iter_)) < MAX_ITER
            for m in self.models
            if isinstance(m, LogisticRegression)
        )


@dataclass
class ProbeSelection:
    """The probe chosen on the grid and the evidence for the choice.

    ``grid`` has one entry per :data:`GRID` point: ``C``, ``class_weight`` and, for each
    evaluated set ``s``, ``s_log_loss`` and ``s_auroc`` (multi-label: their means over the
    labels, AUROC over the labels with both classes, and the per-label values in
    ``s_log_loss_per_label`` / ``s_auroc_per_label``). ``choices`` holds the chosen
    ``(C, class_weight)`` of each label.
    """

    probe: Probe
    criterion: str
    selected_on: str
    grid: list[dict[str, Any]]
    choices: list[tuple[float, str | None]]

    def details(self) -> dict[str, Any]:
        """The choice for result records: criterion, set, ``C`` and ``class_weight`` (one
        value per label for multi-label), the whole grid and the solver's convergence."""
        c = [float(point[0]) for point in self.choices]
        weight = [point[1] for point in self.choices]
        multilabel = self.probe.multilabel
        return {
            "criterion": self.criterion,
            "selected_on": self.selected_on,
            "C": c if multilabel else c[0],
            "class_weight": weight if multilabel else weight[0],
            "grid": self.grid,
            "solver_converged": self.probe.converged,
        }


def _columns(labels: np.ndarray) -> np.ndarray:
    """Labels as one row per label: ``(K, n)`` for multi-label, ``(1, n)`` for binary."""
    return labels.T if labels.ndim == 2 else labels[None]


def _values(model: Model, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Log-loss and AUROC of one label's regression on ``x`` (AUROC NaN with one class)."""
    p = _predict(model, x)
    return float(log_loss(y, p, labels=[0, 1])), auroc(y, p)


def _evaluate(fitted: Sequence[Sequence[Model]], x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``(grid point, label, [log-loss, AUROC])`` of every fitted regression on ``x``."""
    return np.array(
        [
            [_values(model, x, y) for model, y in zip(models, _columns(labels), strict=True)]
            for models in fitted
        ]
    )


def select_probe(
    train_x: np.ndarray,
    train_y: np.ndarray,
    sets: Mapping[str, tuple[np.ndarray, np.ndarray]],
    selected_on: str,
    criterion: str = "log_loss",
) -> ProbeSelection:
    """Fit a regression per :data:`GRID` point and keep, per label, the point with the best
    ``criterion`` on ``sets[selected_on]``: the lowest log-loss, or the highest AUROC (the
    lowest log-loss for a label whose selection set holds one class). ``sets`` maps names
    to ``(features, labels)``; each grid point is scored on all of them.

    Multi-label ``(n, K)`` labels are chosen per label. Each label has its own regression,
    so per-label choices minimise the summed (mean) validation log-loss over labels exactly
    as a joint search over all labels' settings would, while a single shared point would
    force a rare label to the regularisation that suits a common one.
    """
    if criterion not in PROBE_CRITERIA:
        raise ValueError(f"probe criterion {criterion!r}: expected one of {PROBE_CRITERIA}")
    multilabel = train_y.ndim == 2
    fitted = [[_fit(train_x, y, c, weight) for y in _columns(train_y)] for c, weight in GRID]
    values = {name: _evaluate(fitted, x, y) for name, (x, y) in sets.items()}
    grid: list[dict[str, Any]] = []
    for g, (c, weight) in enumerate(GRID):
        entry: dict[str, Any] = {"C": c, "class_weight": weight}
        for name, table in values.items():
            losses, aurocs = table[g, :, 0], table[g, :, 1]
            finite = aurocs[~np.isnan(aurocs)]
            entry[f"{name}_log_loss"] = float(losses.mean())
            entry[f"{name}_auroc"] = float(finite.mean()) if len(finite) else math.nan
            if multilabel:
                entry[f"{name}_log_loss_per_label"] = losses.tolist()
                entry[f"{name}_auroc_per_label"] = aurocs.tolist()
        grid.append(entry)
    chosen = []
    for k in range(len(fitted[0])):
        losses, aurocs = values[selected_on][:, k, 0], values[selected_on][:, k, 1]
        by_auroc = criterion == "auroc" and not np.isnan(aurocs).all()
        chosen.append(int(np.argmax(aurocs) if by_auroc else np.argmin(losses)))
    return ProbeSelection(
        probe=Probe([fitted[g][k] for k, g in enumerate(chosen)], multilabel),
        criterion=criterion,
        selected_on=selected_on,
        grid=grid,
        choices=[GRID[g] for g in chosen],
    )


def probe_batch_size(config: TrainConfig) -> int:
    """Batch size of the probe's feature extraction (``bench embed`` uses the same, so its
    vectors equal the probe's bit for bit)."""
    return 2 * config.batch_size


def linear_probe(
    built: BuiltModel,
    spec: ModelSpec,
    train: ArrayDataset,
    validation: ArrayDataset,
    evals: Mapping[str, ArrayDataset],
    config: TrainConfig,
    progress: RichProgress | None = None,
    criterion: str = "log_loss",
    kind: str = "classification",
) -> TrainResult:
    """Freeze the backbone, fit logistic regression on standardised pooled features
    (:func:`bench.training.features.extract_features`).

    ``C`` × class weight is chosen from :data:`GRID` by :func:`select_probe` on the
    validation set by ``criterion`` (validation log-loss by default, AUROC as an option;
    on the internal test set with ``selection="test"``; ``"last"`` has no meaning here and
    selects on validation). Returns P(positive) for ``validation`` and every set in
    ``evals`` (multi-label: one regression per label, each with its own choice); the
    choice and every grid point's values are in ``details`` (and the grid in ``history``).
    A regression task fits ridge regression and a survival task a penalised Cox model
    instead (:mod:`bench.training.probe_targets`), chosen on the validation loss.
    """
    check_policy(config.selection, evals)
    seed_everything(config.seed)
    device = resolve_device(config.device)
    module = frozen_encoder(built.module, spec, device)
    workers = worker_count(device, config.num_workers)
    sets = {"train": train, VALIDATION: validation, **evals}
    task = progress.add_task(f"probe {spec.name}", total=len(sets)) if progress else None
    start = time.perf_counter()
    features: dict[str, np.ndarray] = {}
    for name, dataset in sets.items():
        features[name] = extract_features(
            module, spec, dataset, device, probe_batch_size(config), workers, config.autocast
        )
        if progress is not None and task is not None:
            progress.advance(task)
    extract_s = time.perf_counter() - start
    scaler = StandardScaler().fit(features["train"])
    scaled = {name: scaler.transform(f) for name, f in features.items()}
    select_on = INTERNAL if config.selection == "test" else VALIDATION
    scored = (VALIDATION, INTERNAL) if config.selection == "test" else (VALIDATION,)
    targets = {name: (scaled[name], sets[name].labels) for name in scored}
    selection: ProbeSelection | TargetProbeSelection
    if kind == "classification":
        selection = select_probe(scaled["train"], train.labels, targets, select_on, criterion)
    else:
        objective = Objective.for_task(kind, train.labels)
        selection = select_target_probe(
            objective, (scaled["train"], train.labels), targets, select_on
        )
    scores = {name: selection.probe.scores(scaled[name]) for name in (VALIDATION, *evals)}
    n_images = sum(len(d) for d in sets.values())
    return TrainResult(
        scores=scores,
        selected_epoch=0,
        history=selection.grid,
        timings={
            "extract_s": extract_s,
            "fit_s": time.perf_counter() - start - extract_s,
            "images_per_s": n_images / extract_s if extract_s else float("nan"),
        },
        device=str(device),
        selection="test" if config.selection == "test" else "validation",
        converged=selection.probe.converged,
        stopped_by="solver",
        details={
            "protocol": "linear-probe",
            "features_version": FEATURES_VERSION,
            "features": scaled["train"].shape[1],
            **selection.details(),
        },
    )
