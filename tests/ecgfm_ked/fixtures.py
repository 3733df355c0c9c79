"""Paths and helpers of the ECGFM-KED tests: the committed upstream fixture
(tests/ecgfm_ked/fixtures/README.md) and the harness's view of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from bench.plugins.ecgfm_ked import KED_LEADS

from bench.api import STANDARD_LEADS, ECGSignal, ModelSpec, apply_recipe

FIXTURES = Path(__file__).parent / "fixtures"
#: Raw input of the fixture: 2 records, 12 standard leads, 10 s at 500 Hz, in mV.
RAW = FIXTURES / "raw.npy"
#: Upstream's preprocessed input of the same records: MIMIC-IV-ECG lead order, 100 Hz
#: (``scipy.signal.resample``), 1,000 samples, mV.
UPSTREAM_INPUT = FIXTURES / "upstream_input.npy"
#: The tiny random-init checkpoint in the authors' ``save_obj`` layout.
CHECKPOINT = FIXTURES / "ked_tiny.pt"


def reference() -> np.ndarray:
    """Upstream's pooled ``ecg_features.mean(-1)`` of the preprocessed input."""
    return np.load(FIXTURES / "embeddings.npy")


def through_recipe(spec: ModelSpec, records: np.ndarray, fs: float, leads) -> torch.Tensor:
    """``records`` ``(N, leads, T)`` at ``fs`` through ``spec``'s recipe (bench.api)."""
    recipe = spec.input.recipe
    return torch.from_numpy(
        np.stack([apply_recipe(ECGSignal(r, fs, tuple(leads)), recipe) for r in records])
    )


def upstream_resampled(spec: ModelSpec) -> torch.Tensor:
    """Upstream's 100 Hz records, given to the harness as 100 Hz records in MIMIC order."""
    return through_recipe(spec, np.load(UPSTREAM_INPUT), 100.0, KED_LEADS)


def raw_500hz(spec: ModelSpec) -> torch.Tensor:
    """The raw 500 Hz records (standard order) through the recipe."""
    return through_recipe(spec, np.load(RAW), 500.0, STANDARD_LEADS)


def build(host, weights: Path | str, num_classes: int = 2, profile: str = "paper"):
    """``ecgfm-ked``'s spec and the model it builds of ``weights``."""
    spec = host.registries.models.get("ecgfm-ked")
    built = spec.build(
        num_classes=num_classes, profile=profile, input_size=1000, weights=str(weights)
    )
    return spec, built


def embeddings(spec: ModelSpec, module: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    """``spec``'s features contract on ``x``, mean over time (eval mode)."""
    assert spec.features is not None
    with torch.no_grad():
        return spec.features(module.eval())(x).mean(1).numpy()
