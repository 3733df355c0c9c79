"""Linear probe: logistic regression on frozen, mean-pooled token features (the features
contract of :mod:`bench.engine.features`, the same vectors ``bench embed`` writes)."""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
from rich.progress import Progress as RichProgress
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from bench.datasets import ArrayDataset
from bench.devices import resolve_device
from bench.engine.config import TrainConfig, TrainResult
from bench.engine.features import FEATURES_VERSION, extract_features, frozen_encoder
from bench.engine.runtime import (
    seed_everything,
    worker_count,
)
from bench.engine.selection import INTERNAL, VALIDATION, auroc, check_policy
from bench.specs import BuiltModel, ModelSpec

#: Inverse regularisation strengths tried; the best on the selection set wins.
C_GRID: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


class Probe:
    """Logistic regression with inverse regularisation ``c``: one model for binary labels
    ``(n,)``, one per label for a multi-label matrix ``(n, K)`` (a label with one class in
    training scores that class's constant)."""

    def __init__(self, c: float, x: np.ndarray, labels: np.ndarray) -> None:
        self.c = c
        self.multilabel = labels.ndim == 2
        columns = labels.T if self.multilabel else [labels]
        self.models: list[LogisticRegression | float] = [
            LogisticRegression(C=c, max_iter=2000).fit(x, y)
            if len(np.unique(y)) > 1
            else float(y[0])
            for y in columns
        ]

    def scores(self, x: np.ndarray) -> np.ndarray:
        """P(positive) per row (``(n, K)`` for multi-label)."""
        columns = [
            m.predict_proba(x)[:, 1] if isinstance(m, LogisticRegression) else np.full(len(x), m)
            for m in self.models
        ]
        return np.stack(columns, axis=1) if self.multilabel else columns[0]


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
) -> TrainResult:
    """Freeze the backbone, fit logistic regression on standardised pooled features
    (:func:`bench.engine.features.extract_features`).

    ``C`` is chosen from :data:`C_GRID` by validation AUROC (by internal-test AUROC with
    ``selection="test"``; ``"last"`` has no meaning here and selects on validation).
    Returns P(positive) for ``validation`` and every set in ``evals`` (multi-label: one
    regression per label, ``C`` chosen on the macro AUROC).
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
            module, spec, dataset, device, probe_batch_size(config), workers, config.amp
        )
        if progress is not None and task is not None:
            progress.advance(task)
    extract_s = time.perf_counter() - start
    scaler = StandardScaler().fit(features["train"])
    scaled = {name: scaler.transform(f) for name, f in features.items()}
    select_on = INTERNAL if config.selection == "test" else VALIDATION
    history, best, best_value = [], None, -np.inf
    for c in C_GRID:
        clf = Probe(c, scaled["train"], train.labels)
        entry = {"C": c}
        for name in (VALIDATION, INTERNAL) if config.selection == "test" else (VALIDATION,):
            entry[f"{name}_auroc"] = auroc(sets[name].labels, clf.scores(scaled[name]))
        history.append(entry)
        value = entry[f"{select_on}_auroc"]
        if best is None or value > best_value:
            best, best_value = clf, value
    assert best is not None
    scores = {name: best.scores(scaled[name]) for name in (VALIDATION, *evals)}
    n_images = sum(len(d) for d in sets.values())
    return TrainResult(
        scores=scores,
        selected_epoch=0,
        history=history,
        timings={
            "extract_s": extract_s,
            "fit_s": time.perf_counter() - start - extract_s,
            "images_per_s": n_images / extract_s if extract_s else float("nan"),
        },
        device=str(device),
        selection="test" if config.selection == "test" else "validation",
        details={
            "protocol": "linear-probe",
            "features_version": FEATURES_VERSION,
            "C": float(best.c),
            "features": scaled["train"].shape[1],
        },
    )
