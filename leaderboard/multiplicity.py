"""Multiplicity: Holm's step-down correction of the p-values of one table's comparisons.

Every table (task, source, split, metric) makes many comparisons (each pair of rows at
each fraction); testing each at 5 % would find "significant" differences by chance alone.
Holm's method controls the family-wise error rate of the table at :data:`ALPHA` without
assuming the tests are independent: sort the ``m`` p-values, multiply the ``i``-th
smallest by ``m − i + 1``, make the sequence non-decreasing and cap it at 1.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Family-wise error rate of each table's comparisons.
ALPHA = 0.05
HOLM_NOTE = (
    "Holm: the pooled p-values of all comparisons of this table are adjusted with Holm's "
    "step-down method (family-wise error rate 5 % per table); † needs the adjusted p < 0.05."
)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the order of ``p_values``."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
