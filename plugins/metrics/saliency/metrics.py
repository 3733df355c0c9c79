"""The saliency metrics as :class:`bench.host.specs.MetricSpec` objects (kind ``"saliency"``).

Each metric scores every image of a :class:`SaliencyData` set and reports the mean over
images with a percentile-bootstrap CI over images.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from bench.plugins.metrics.saliency.scores import entropy, gini, localisation, pointing_game

from bench.api import MetricValue, percentile_ci

DEFAULT_REPLICATES = 1000


@dataclass(frozen=True)
class SaliencyData:
    """One image set's saliency maps ``(B, S, S)``, region masks ``(B, S, S)`` and, when
    measured, per-image faithfulness scores ``(B,)``."""

    maps: np.ndarray
    masks: np.ndarray
    faithfulness: np.ndarray | None = None


def mean_with_ci(
    values: np.ndarray, replicates: int = DEFAULT_REPLICATES, seed: int = 0
) -> MetricValue:
    """Mean of the finite ``values`` with a 95 % percentile-bootstrap CI over them;
    ``details["per_image"]`` keeps every value (``None`` where not finite), so that two
    models explained on the same images can be compared image by image."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    details = {
        "n_images": int(values.size),
        "n_scored": int(finite.size),
        "per_image": [float(v) if np.isfinite(v) else None for v in values],
        "bootstrap": {"replicates": replicates, "seed": seed, "unit": "image"},
    }
    if finite.size == 0:
        return MetricValue(float("nan"), details=details)
    draws = np.random.default_rng(seed).integers(finite.size, size=(replicates, finite.size))
    low, high = percentile_ci(finite[draws].mean(axis=1))
    return MetricValue(float(finite.mean()), low, high, details)


def _faithfulness(data: SaliencyData) -> np.ndarray:
    if data.faithfulness is None:
        raise ValueError("saliency_faithfulness: the SaliencyData has no faithfulness scores")
    return data.faithfulness


#: name → per-image scorer (names, directions and descriptions:
#: :data:`bench.plugins.metrics.saliency.SALIENCY_METRICS`).
PER_IMAGE: dict[str, Callable[[SaliencyData], np.ndarray]] = {
    "saliency_localisation": lambda d: localisation(d.maps, d.masks),
    "saliency_pointing": lambda d: pointing_game(d.maps, d.masks),
    "saliency_entropy": lambda d: entropy(d.maps),
    "saliency_gini": lambda d: gini(d.maps),
    "saliency_faithfulness": _faithfulness,
}


def compute_saliency_metric(
    name: str, data: SaliencyData, replicates: int = DEFAULT_REPLICATES, seed: int = 0
) -> MetricValue:
    """Mean of metric ``name`` over the images of ``data`` with its bootstrap CI."""
    scorer = PER_IMAGE[name]
    return mean_with_ci(scorer(data), replicates=replicates, seed=seed)
