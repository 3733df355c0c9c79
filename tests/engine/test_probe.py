"""The linear probe's selection of C × class weight: on validation log-loss by default, on
AUROC as an option, per label for multi-label tasks; the choice is recorded."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score

from bench.training.probe import C_GRID, GRID, linear_probe, select_probe
from tests.engine.test_engine import FAST, _built, _sets, _spec

#: The grid as the test spells it: every C with no class weights, then balanced ones.
POINTS = list(itertools.product(C_GRID, (None, "balanced")))


def _features(seed: int, n: int = 120, d: int = 8, labels: int = 1) -> tuple[np.ndarray, ...]:
    """Train and validation features with noisy linear labels (``labels`` columns)."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(d, labels))

    def draw() -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(n, d))
        signal = x @ weights + rng.normal(scale=2.0, size=(n, labels))
        y = (signal > np.quantile(x @ weights, 0.75, axis=0)).astype(int)
        return x, (y[:, 0] if labels == 1 else y)

    return (*draw(), *draw())


def _sklearn_choice(
    xt: np.ndarray, yt: np.ndarray, xv: np.ndarray, yv: np.ndarray
) -> tuple[dict[str, tuple[float, str | None]], list[float], list[float]]:
    """The grid point each criterion picks from scikit-learn fits of one label (the earlier
    point winning ties), and every point's validation log-loss and AUROC."""
    losses, aurocs = [], []
    for c, weight in POINTS:
        model = LogisticRegression(C=c, class_weight=weight, max_iter=2000).fit(xt, yt)
        p = model.predict_proba(xv)[:, 1]
        losses.append(log_loss(yv, p))
        aurocs.append(roc_auc_score(yv, p))
    order = range(len(POINTS))
    choice = {
        "log_loss": POINTS[min(order, key=lambda i: (losses[i], i))],
        "auroc": POINTS[min(order, key=lambda i: (-aurocs[i], i))],
    }
    return choice, losses, aurocs


def test_the_grid_is_c_by_class_weight() -> None:
    assert list(GRID) == POINTS


def test_each_criterion_picks_what_scikit_learn_says() -> None:
    xt, yt, xv, yv = _features(seed=1)
    expected, losses, aurocs = _sklearn_choice(xt, yt, xv, yv)
    assert expected["log_loss"] != expected["auroc"]  # the fixture tells the criteria apart
    for criterion in ("log_loss", "auroc"):
        chosen = select_probe(xt, yt, {"validation": (xv, yv)}, "validation", criterion)
        assert chosen.choices == [expected[criterion]]
        details = chosen.details()
        assert (details["C"], details["class_weight"]) == expected[criterion]
        assert details["criterion"] == criterion and details["selected_on"] == "validation"
        grid = details["grid"]
        assert [(g["C"], g["class_weight"]) for g in grid] == POINTS
        np.testing.assert_allclose([g["validation_log_loss"] for g in grid], losses)
        np.testing.assert_allclose([g["validation_auroc"] for g in grid], aurocs)
        assert details["solver_converged"] is True


def test_multilabel_choices_are_per_label() -> None:
    xt, yt, xv, yv = _features(seed=3, n=200, labels=3)
    for criterion in ("log_loss", "auroc"):
        chosen = select_probe(xt, yt, {"validation": (xv, yv)}, "validation", criterion)
        expected = [_sklearn_choice(xt, yt[:, k], xv, yv[:, k])[0][criterion] for k in range(3)]
        assert len(set(expected)) > 1  # the labels want different points
        assert chosen.choices == expected
        details = chosen.details()
        assert details["C"] == [c for c, _ in expected]
        assert details["class_weight"] == [w for _, w in expected]
        first = details["grid"][0]
        assert len(first["validation_log_loss_per_label"]) == 3
        assert first["validation_log_loss"] == pytest.approx(
            np.mean(first["validation_log_loss_per_label"])
        )


def test_auroc_falls_back_to_log_loss_for_a_one_class_label() -> None:
    xt, yt, xv, yv = _features(seed=3, n=200, labels=2)
    yv[:, 1] = 0
    by_auroc = select_probe(xt, yt, {"validation": (xv, yv)}, "validation", "auroc")
    by_loss = select_probe(xt, yt, {"validation": (xv, yv)}, "validation", "log_loss")
    assert by_auroc.choices[1] == by_loss.choices[1]
    assert math.isnan(by_auroc.grid[0]["validation_auroc_per_label"][1])


def test_unknown_criterion_is_named() -> None:
    xt, yt, xv, yv = _features(seed=1)
    with pytest.raises(ValueError, match="probe criterion 'brier'"):
        select_probe(xt, yt, {"validation": (xv, yv)}, "validation", "brier")


def test_linear_probe_records_its_choice() -> None:
    train, val, evals = _sets()
    result = linear_probe(_built(), _spec(), train, val, evals, FAST)
    details = result.details
    assert details["protocol"] == "linear-probe" and details["criterion"] == "log_loss"
    best = min(details["grid"], key=lambda g: g["validation_log_loss"])
    assert (details["C"], details["class_weight"]) == (best["C"], best["class_weight"])
    assert result.history == details["grid"] and len(details["grid"]) == len(POINTS)
    by_auroc = linear_probe(_built(), _spec(), train, val, evals, FAST, criterion="auroc")
    chosen = by_auroc.details
    assert chosen["criterion"] == "auroc"
    point = chosen["grid"][POINTS.index((chosen["C"], chosen["class_weight"]))]
    assert point["validation_auroc"] == max(g["validation_auroc"] for g in chosen["grid"])
