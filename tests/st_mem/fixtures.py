"""Paths and helpers of the ST-MEM tests: the committed upstream fixture
(tests/st_mem/fixtures/README.md) and the harness's view of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.api import STANDARD_LEADS, ECGSignal, ModelSpec, apply_recipe, real_segments

FIXTURES = Path(__file__).parent / "fixtures"
#: Raw input of the fixture: 2 records, 12 standard leads, 9 s at 500 Hz, in mV.
RAW = FIXTURES / "raw.npy"
#: Raw input of the windows fixture: 2 records, 12 standard leads, 11 s at 500 Hz, in mV.
RAW_11S = FIXTURES / "raw_11s.npy"
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


def reference_11s(what: str) -> np.ndarray:
    """Upstream's evaluation of :data:`RAW_11S`: ``window_embeddings`` ``(2, 3, 64)`` and
    ``window_logits`` ``(2, 3, 5)`` of each record's three crops, and ``probabilities``
    ``(2, 5)``, the mean of the crops' softmax (fixtures/README.md)."""
    return np.load(FIXTURES / f"11s_{what}.npy")


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


def window_embeddings(
    spec: ModelSpec, module: torch.nn.Module, records: np.ndarray, fs: float
) -> tuple[np.ndarray, np.ndarray]:
    """``spec``'s features contract on each window that its recipe makes of ``records``,
    mean over tokens (eval mode): ``(windows, D)``, and the filled-slot mask ``(n, k)``."""
    assert spec.features is not None
    windows, filled = real_segments(
        harness_inputs(spec, records, fs), spec.input.recipe.segment_samples
    )
    with torch.no_grad():
        return spec.features(module.eval())(windows).mean(1).numpy(), filled.numpy()


def embeddings(spec: ModelSpec, module: torch.nn.Module, fs: int = 250) -> np.ndarray:
    """The record embeddings of the fixture records at ``fs``: the mean of their windows'
    (each record of :data:`RAW` is 9 s: one window)."""
    per_window, filled = window_embeddings(spec, module, raw(fs), fs)
    assert filled.sum(1).tolist() == [1, 1]
    return per_window
