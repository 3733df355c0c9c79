"""Paths and helpers of the ECG-JEPA tests: the committed upstream fixture
(tests/ecg_jepa/fixtures/README.md) and the harness's view of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.api import STANDARD_LEADS, ECGSignal, ModelSpec, apply_recipe

FIXTURES = Path(__file__).parent / "fixtures"
#: Raw input of the fixture: 2 records, leads I, II, V1–V6, 10 s at 500 Hz, in mV (float16).
RAW = FIXTURES / "raw.npy"
#: The tiny random-init encoder in the authors' ``pretrain_ECG_JEPA.py`` layout.
CHECKPOINT = FIXTURES / "tiny.pth"
#: The 5-class ``fc.fc`` head of the authors' ``FinetuningClassifier`` on that encoder.
HEAD = FIXTURES / "head.pth"


def raw(fs: int) -> np.ndarray:
    """The 12 standard leads (limb leads made from I and II by Einthoven's and Goldberger's
    relations, as the fixture script does) at 500 Hz, or every second sample (250 Hz)."""
    x8 = np.load(RAW).astype(np.float64)
    i, ii = x8[:, 0], x8[:, 1]
    limb = np.stack([ii - i, -(i + ii) / 2, i - ii / 2, ii - i / 2], axis=1)
    records = np.concatenate([x8[:, :2], limb, x8[:, 2:]], axis=1)
    return records if fs == 500 else np.ascontiguousarray(records[:, :, ::2])


def reference(fs: int, what: str) -> np.ndarray:
    """Upstream's ``embeddings`` (``representation``) or 5-class ``logits`` of :func:`raw`
    at ``fs`` Hz through their resampling and lead selection."""
    return np.load(FIXTURES / f"{fs}hz_{what}.npy")


def harness_inputs(spec: ModelSpec, records: np.ndarray, fs: float) -> torch.Tensor:
    """``records`` (12 standard leads) through ``spec``'s own recipe (bench.api
    apply_recipe)."""
    recipe = spec.input.recipe
    return torch.from_numpy(
        np.stack([apply_recipe(ECGSignal(r, fs, STANDARD_LEADS), recipe) for r in records])
    )


def build(host, weights: Path | str = CHECKPOINT, num_classes: int = 2, profile: str = "paper"):
    """``ecg-jepa``'s spec and the model it builds of ``weights``."""
    spec = host.registries.models.get("ecg-jepa")
    built = spec.build(
        num_classes=num_classes, profile=profile, input_size=2500, weights=str(weights)
    )
    return spec, built


def embeddings(spec: ModelSpec, module: torch.nn.Module, fs: int = 250) -> np.ndarray:
    """``spec``'s features contract on the fixture records at ``fs``, mean over tokens."""
    assert spec.features is not None
    with torch.no_grad():
        return spec.features(module.eval())(harness_inputs(spec, raw(fs), fs)).mean(1).numpy()
