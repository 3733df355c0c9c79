"""Linear probes of regression and survival tasks on frozen features: ridge regression, and
a Cox proportional-hazards model with an L2 (ridge) penalty, their penalty chosen on the
validation loss as the classification probe's is (:mod:`bench.training.probe`).

- Regression: one :class:`sklearn.linear_model.Ridge` per target on targets standardised
  by the training set (:class:`bench.training.objectives.Objective`), the penalty of each
  target chosen from :data:`RIDGE_ALPHAS` by validation mean squared error (standardised).
- Survival: the Cox partial likelihood (Breslow ties) per event plus ``alpha / 2 ·
  ||beta||²``, minimised by L-BFGS (scipy) with the exact gradient (torch autograd,
  float64), ``alpha`` chosen from :data:`COX_ALPHAS` by the validation partial-likelihood
  loss per event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.optimize import minimize
from sklearn.linear_model import Ridge

from bench.training.objectives import Objective, cox_loss

#: Ridge penalties tried (features standardised, targets standardised).
RIDGE_ALPHAS: tuple[float, ...] = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4)
#: Cox L2 penalties tried (on the per-event partial likelihood of standardised features).
COX_ALPHAS: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
#: L-BFGS iterations per Cox fit; a fit that needs them all did not converge.
COX_MAX_ITER = 500


@dataclass
class TargetProbe:
    """A fitted probe: ``scores(x)`` gives predictions in the target's unit (risk scores
    for survival), ``converged`` whether every solver converged."""

    objective: Objective
    coefficients: np.ndarray  # (D, K)
    intercepts: np.ndarray  # (K,)
    converged: bool

    def scores(self, x: np.ndarray) -> np.ndarray:
        """The objective's scores of features ``x``."""
        return self.objective.scores(x @ self.coefficients + self.intercepts)


@dataclass
class TargetProbeSelection:
    """The chosen probe, the grid's validation values and each target's penalty."""

    probe: TargetProbe
    selected_on: str
    grid: list[dict[str, Any]]
    alphas: list[float]

    def details(self) -> dict[str, Any]:
        """The choice for result records (as :meth:`bench.training.probe.ProbeSelection.details`)."""
        multi = len(self.alphas) > 1
        return {
            "criterion": "loss",
            "selected_on": self.selected_on,
            "alpha": self.alphas if multi else self.alphas[0],
            "grid": self.grid,
            "solver_converged": self.probe.converged,
            **self.probe.objective.details(),
        }


def _standardised(objective: Objective, labels: np.ndarray) -> np.ndarray:
    return (labels.reshape(len(labels), -1) - objective.mean) / objective.scale


def select_ridge(
    objective: Objective,
    train: tuple[np.ndarray, np.ndarray],
    sets: Mapping[str, tuple[np.ndarray, np.ndarray]],
    selected_on: str,
) -> TargetProbeSelection:
    """Ridge per :data:`RIDGE_ALPHAS` point; each target keeps the penalty with the lowest
    standardised mean squared error on ``sets[selected_on]``."""
    x, y = train[0], _standardised(objective, train[1])
    fits = [Ridge(alpha=alpha).fit(x, y) for alpha in RIDGE_ALPHAS]
    errors = {
        name: np.array(
            [
                ((f.predict(fx).reshape(len(fx), -1) - _standardised(objective, fy)) ** 2).mean(0)
                for f in fits
            ]
        )
        for name, (fx, fy) in sets.items()
    }  # (alphas, K)
    grid = [
        {"alpha": alpha, **{f"{name}_mse": float(e[g].mean()) for name, e in errors.items()}}
        for g, alpha in enumerate(RIDGE_ALPHAS)
    ]
    chosen = np.argmin(errors[selected_on], axis=0)
    coefficients = np.stack(
        [fits[g].coef_.reshape(y.shape[1], -1)[k] for k, g in enumerate(chosen)], 1
    )
    intercepts = np.array([np.ravel(fits[g].intercept_)[k] for k, g in enumerate(chosen)])
    probe = TargetProbe(objective, coefficients, intercepts, converged=True)
    return TargetProbeSelection(probe, selected_on, grid, [RIDGE_ALPHAS[g] for g in chosen])


def _cox_value(
    beta: np.ndarray, x: torch.Tensor, times: torch.Tensor, events: torch.Tensor, alpha: float
) -> tuple[float, np.ndarray]:
    b = torch.from_numpy(beta).requires_grad_(True)
    loss = cox_loss(x @ b, times, events) + 0.5 * alpha * (b * b).sum()
    loss.backward()
    assert b.grad is not None
    return float(loss.detach()), b.grad.numpy().copy()


def fit_cox(x: np.ndarray, labels: np.ndarray, alpha: float) -> tuple[np.ndarray, bool]:
    """Coefficients of the L2-penalised Cox model of features ``x`` and ``(n, 2)`` rows of
    (time, event), and whether L-BFGS converged."""
    tx = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
    times = torch.from_numpy(labels[:, 0].astype(np.float64))
    events = torch.from_numpy(labels[:, 1].astype(np.float64))
    result = minimize(
        _cox_value,
        np.zeros(x.shape[1]),
        args=(tx, times, events, alpha),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": COX_MAX_ITER},
    )
    return np.asarray(result.x), bool(result.success)


def cox_validation_loss(risk: np.ndarray, labels: np.ndarray) -> float:
    """Partial-likelihood loss per event of ``risk`` on ``(n, 2)`` (time, event) rows."""
    y = torch.from_numpy(labels.astype(np.float64))
    return float(cox_loss(torch.from_numpy(risk.astype(np.float64)), y[:, 0], y[:, 1]))


def select_cox(
    objective: Objective,
    train: tuple[np.ndarray, np.ndarray],
    sets: Mapping[str, tuple[np.ndarray, np.ndarray]],
    selected_on: str,
) -> TargetProbeSelection:
    """Penalised Cox per :data:`COX_ALPHAS` point, keeping the lowest validation loss."""
    fits = [fit_cox(train[0], train[1], alpha) for alpha in COX_ALPHAS]
    losses = {
        name: [cox_validation_loss(fx @ beta, fy) for beta, _ in fits]
        for name, (fx, fy) in sets.items()
    }
    grid = [
        {"alpha": alpha, **{f"{name}_loss": losses[name][g] for name in sets}}
        for g, alpha in enumerate(COX_ALPHAS)
    ]
    g = int(np.argmin(losses[selected_on]))
    beta, converged = fits[g]
    probe = TargetProbe(objective, beta[:, None], np.zeros(1), converged)
    return TargetProbeSelection(probe, selected_on, grid, [COX_ALPHAS[g]])


def select_target_probe(
    objective: Objective,
    train: tuple[np.ndarray, np.ndarray],
    sets: Mapping[str, tuple[np.ndarray, np.ndarray]],
    selected_on: str,
) -> TargetProbeSelection:
    """The probe of ``objective``'s kind (regression or survival) chosen on ``selected_on``."""
    select = select_ridge if objective.kind == "regression" else select_cox
    return select(objective, train, sets, selected_on)
