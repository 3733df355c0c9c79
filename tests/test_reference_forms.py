"""The verifier's replicate-loop forms of AUROC and average precision equal scikit-learn's
(they replace it inside the bootstrap loop only, for speed)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score

from bench.submission.reference import replicate_value


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(2, 300),
    levels=st.integers(1, 40),  # few distinct scores: many ties
    seed=st.integers(0, 2**32 - 1),
)
def test_replicate_forms_equal_scikit_learn(n: int, levels: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(float)
    s = rng.integers(0, levels, n) / levels
    if len(np.unique(y)) < 2:
        assert np.isnan(replicate_value("auroc", y, s))
        assert np.isnan(replicate_value("auprc", y, s))
        return
    assert abs(replicate_value("auroc", y, s) - roc_auc_score(y, s)) < 1e-12
    assert abs(replicate_value("auprc", y, s) - average_precision_score(y, s)) < 1e-12


def test_a_metric_without_a_form_uses_the_point_definition() -> None:
    y, s = np.array([0.0, 1.0, 1.0]), np.array([0.2, 0.4, 0.9])
    assert abs(replicate_value("brier", y, s) - np.mean((s - y) ** 2)) < 1e-15
