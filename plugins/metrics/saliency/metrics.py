"""The saliency metrics as :class:`bench.specs.MetricSpec` objects (kind ``"saliency"``).

Each metric scores every image of a :class:`SaliencyData` set and reports the mean over
images with a percentile-bootstrap CI over images.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
from bench.plugins.metrics.bootstrap import percentile_ci
from bench.plugins.metrics.saliency.scores import entropy, gini, localisation, pointing_game

from bench.specs import MetricSpec, MetricValue

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
    """Mean of the finite ``values`` with a 95 % percentile-bootstrap CI over them."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    details = {
        "n_images": int(values.size),
        "n_scored": int(finite.size),
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


#: name → (per-image scorer, higher_is_better, description)
PER_IMAGE: dict[str, tuple[Callable[[SaliencyData], np.ndarray], bool, str]] = {
    "saliency_localisation": (
        lambda d: localisation(d.maps, d.masks),
        True,
        "saliency mass in the task's ECG region / the region's image share (1 = chance)",
    ),
    "saliency_pointing": (
        lambda d: pointing_game(d.maps, d.masks),
        True,
        "pointing game: share of maps whose peak lies in the task's ECG region",
    ),
    "saliency_entropy": (
        lambda d: entropy(d.maps),
        False,
        "normalised entropy of the saliency map (1 = diffuse, 0 = one pixel)",
    ),
    "saliency_gini": (
        lambda d: gini(d.maps),
        True,
        "Gini coefficient of the saliency map (0 = diffuse, ~1 = focused)",
    ),
    "saliency_faithfulness": (
        _faithfulness,
        True,
        "ROAD: drop in target probability when the 20 % most salient pixels are imputed",
    ),
}


def compute_saliency_metric(
    name: str, data: SaliencyData, replicates: int = DEFAULT_REPLICATES, seed: int = 0
) -> MetricValue:
    """Mean of metric ``name`` over the images of ``data`` with its bootstrap CI."""
    scorer = PER_IMAGE[name][0]
    return mean_with_ci(scorer(data), replicates=replicates, seed=seed)


def saliency_metric_specs() -> list[MetricSpec]:
    """The saliency :class:`MetricSpec` list (``compute(data, replicates=, seed=)``)."""
    return [
        MetricSpec(
            name=name,
            kind="saliency",
            compute=partial(compute_saliency_metric, name),
            description=description,
            higher_is_better=higher,
        )
        for name, (_, higher, description) in PER_IMAGE.items()
    ]
