"""Paths and helpers of the ECGFounder tests: the committed upstream fixture
(tests/ecgfounder/fixtures/README.md) and the harness's view of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.api import STANDARD_LEADS, ECGSignal, ModelSpec, apply_recipe

FIXTURES = Path(__file__).parent / "fixtures"
#: Raw input of the fixture: 2 records, 12 standard leads, 10 s at 500 Hz, in mV.
RAW = FIXTURES / "raw.npy"
#: Registered name → the tag of its fixture files.
TAGS = {"ecgfounder": "12lead", "ecgfounder-1lead": "1lead"}


def checkpoint(model: str) -> Path:
    """The tiny random-init checkpoint saved by the authors' code for ``model``."""
    return FIXTURES / f"{TAGS[model]}.pth"


def reference(model: str, pipeline: str, what: str) -> np.ndarray:
    """Upstream's ``embeddings`` or ``logits`` of the raw input through ``pipeline``:
    ``eval`` (ptbxl_eval.py) or ``filtered`` (dataset.py + util.filter_bandpass)."""
    return np.load(FIXTURES / f"{TAGS[model]}_{pipeline}_{what}.npy")


def harness_inputs(spec: ModelSpec) -> torch.Tensor:
    """The raw fixture records through ``spec``'s own recipe (bench.api apply_recipe)."""
    recipe = spec.input.recipe
    raw = np.load(RAW)
    return torch.from_numpy(
        np.stack([apply_recipe(ECGSignal(r, 500.0, STANDARD_LEADS), recipe) for r in raw])
    )


def embeddings(spec: ModelSpec, module: torch.nn.Module) -> np.ndarray:
    """``spec``'s features contract on the fixture records, mean over time (eval mode)."""
    assert spec.features is not None
    with torch.no_grad():
        return spec.features(module.eval())(harness_inputs(spec)).mean(1).numpy()
