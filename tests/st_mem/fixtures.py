"""Paths and helpers of the ST-MEM tests: the committed upstream fixture
(tests/st_mem/fixtures/README.md) and the harness's view of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.api import STANDARD_LEADS, ECGSignal, ModelSpec, apply_recipe

FIXTURES = Path(__file__).parent / "fixtures"
#: Raw input of the fixture: 2 records, 12 standard leads, 9 s at 500 Hz, in mV.
RAW = FIXTURES / "raw.npy"
#: The tiny random-init checkpoint in the authors' ``misc.save_model`` layout (5-class head).
CHECKPOINT = FIXTURES / "tiny.pth"


def raw(fs: int) -> np.ndarray:
    """The raw records at 500 Hz, or every second sample of them (250 Hz)."""
    records = np.load(RAW)
    return records if fs == 500 else np.ascontiguousarray(records[:, :, ::2])


def reference(fs: int, what: str) -> np.ndarray:
    """Upstream's ``embeddings`` (``forward_encoding``) or ``logits`` of :func:`raw` at
    ``fs`` Hz through their resampling and ``eval_transforms``."""
    return np.load(FIXTURES / f"{fs}hz_{what}.npy")


def harness_inputs(spec: ModelSpec, records: np.ndarray, fs: float) -> torch.Tensor:
    """``records`` through ``spec``'s own recipe (bench.api apply_recipe)."""
    recipe = spec.input.recipe
    return torch.from_numpy(
        np.stack([apply_recipe(ECGSignal(r, fs, STANDARD_LEADS), recipe) for r in records])
    )


def build(host, weights: Path | str = CHECKPOINT, num_classes: int = 2, profile: str = "paper"):
    """``st-mem``'s spec and the model it builds of ``weights``."""
    spec = host.registries.models.get("st-mem")
    built = spec.build(
        num_classes=num_classes, profile=profile, input_size=2250, weights=str(weights)
    )
    return spec, built


def embeddings(spec: ModelSpec, module: torch.nn.Module, fs: int = 250) -> np.ndarray:
    """``spec``'s features contract on the fixture records at ``fs``, mean over tokens."""
    assert spec.features is not None
    with torch.no_grad():
        return spec.features(module.eval())(harness_inputs(spec, raw(fs), fs)).mean(1).numpy()
