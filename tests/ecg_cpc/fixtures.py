"""Paths and helpers of the ECG-CPC tests: the committed upstream fixture
(tests/ecg_cpc/fixtures/README.md) and the harness's view of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.api import STANDARD_LEADS, ECGSignal, ModelSpec, apply_recipe

FIXTURES = Path(__file__).parent / "fixtures"
#: Raw input: 2 records, the 12 standard leads, 10 s at 240 Hz, in mV (float16).
RAW = FIXTURES / "raw.npy"
#: The tiny random-init model in the authors' Lightning checkpoint layout.
CHECKPOINT = FIXTURES / "tiny.ckpt"


def raw() -> np.ndarray:
    """The fixture's records ``(2, 12, 2400)`` at 240 Hz, float64."""
    return np.load(RAW).astype(np.float64)


def reference_windows() -> np.ndarray:
    """Upstream's embedding of each 2.5 s window ``(2 records, 4 windows, 32)``."""
    return np.load(FIXTURES / "240hz_window_embeddings.npy")


def reference_tokens() -> np.ndarray:
    """Upstream's predictor tokens ``(300, 32)`` of the first record's first window."""
    return np.load(FIXTURES / "240hz_tokens_first_window.npy")


def harness_windows(spec: ModelSpec, records: np.ndarray, fs: float) -> torch.Tensor:
    """``records`` (12 standard leads) through ``spec``'s own recipe, cut into its windows:
    ``(records * n_segments, 12, segment_samples)``."""
    recipe = spec.input.recipe
    x = np.stack([apply_recipe(ECGSignal(r, fs, STANDARD_LEADS), recipe) for r in records])
    n, leads = x.shape[:2]
    windows = x.reshape(n, leads, recipe.n_segments, recipe.segment_samples).swapaxes(1, 2)
    return torch.from_numpy(np.ascontiguousarray(windows.reshape(-1, leads, windows.shape[-1])))


def build(host, weights: Path | str = CHECKPOINT, num_classes: int = 2, profile: str = "paper"):
    """``ecg-cpc``'s spec and the model it builds of ``weights``."""
    spec = host.registries.models.get("ecg-cpc")
    built = spec.build(
        num_classes=num_classes, profile=profile, input_size=600, weights=str(weights)
    )
    return spec, built


def window_embeddings(spec: ModelSpec, module: torch.nn.Module, fs: float = 240.0) -> np.ndarray:
    """``spec``'s features contract on the fixture's windows, mean over tokens ``(2, 4, D)``."""
    assert spec.features is not None
    with torch.no_grad():
        tokens = spec.features(module.eval())(harness_windows(spec, raw(), fs))
    return tokens.mean(1).reshape(2, 4, -1).numpy()
