"""Paths and helpers of the HuBERT-ECG tests: the committed upstream fixture
(tests/hubert_ecg/fixtures/README.md) and the harness's view of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.api import STANDARD_LEADS, ECGSignal, ModelSpec, apply_recipe

FIXTURES = Path(__file__).parent / "fixtures"
#: Raw input of the fixture: 2 records, 12 standard leads, 10 s at 500 Hz, in mV (float16).
RAW = FIXTURES / "raw.npy"
#: The tiny random-init model as the Hugging Face folder and as the legacy ``.pt``.
HF_FOLDER = FIXTURES / "hf"
SAFETENSORS = HF_FOLDER / "model.safetensors"
LEGACY = FIXTURES / "legacy.pt"


def raw(fs: int) -> np.ndarray:
    """The raw records (float32) at 500 Hz, or every second sample of them (250 Hz)."""
    records = np.load(RAW).astype(np.float32)
    return records if fs == 500 else np.ascontiguousarray(records[:, :, ::2])


def reference(fs: int) -> np.ndarray:
    """Upstream's embeddings ``(record, window, 32)`` of :func:`raw` at ``fs`` Hz."""
    return np.load(FIXTURES / f"{fs}hz_window_embeddings.npy")


def harness_inputs(spec: ModelSpec, records: np.ndarray, fs: float) -> torch.Tensor:
    """``records`` through ``spec``'s own recipe (bench.api apply_recipe): ``(n, 12, 5000)``."""
    recipe = spec.input.recipe
    return torch.from_numpy(
        np.stack([apply_recipe(ECGSignal(r, fs, STANDARD_LEADS), recipe) for r in records])
    )


def windows(records: torch.Tensor) -> torch.Tensor:
    """``(n, 12, 2 * 2500)`` records → their 5 s windows ``(2 n, 12, 2500)``, record-major."""
    n, leads, samples = records.shape
    per = records.reshape(n, leads, samples // 2500, 2500).transpose(1, 2)
    return per.reshape(-1, leads, 2500)


def build(host, weights: Path | str = SAFETENSORS, model: str = "hubert-ecg", **kwargs):
    """``model``'s spec and the model it builds of ``weights`` (paper profile)."""
    spec = host.registries.models.get(model)
    options = {"num_classes": 2, "profile": "paper", "input_size": 2500, **kwargs}
    return spec, spec.build(weights=str(weights), **options)


def window_embeddings(spec: ModelSpec, module: torch.nn.Module, fs: int = 500) -> np.ndarray:
    """``spec``'s features contract on each window of the fixture records at ``fs``, mean
    over tokens (eval mode): ``(record, window, D)``."""
    assert spec.features is not None
    with torch.no_grad():
        tokens = spec.features(module.eval())(windows(harness_inputs(spec, raw(fs), fs)))
    return tokens.mean(1).reshape(2, 2, -1).numpy()
