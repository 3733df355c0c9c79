"""Paths and helpers of the MERL tests: the committed upstream fixture
(tests/merl/fixtures/README.md) and the harness's view of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.api import STANDARD_LEADS, ECGSignal, ModelSpec, apply_recipe

FIXTURES = Path(__file__).parent / "fixtures"
#: Raw input of the fixture: 2 records, 12 standard leads, 10.2 s at 500 Hz, in mV.
RAW = FIXTURES / "raw.npy"
#: The two architectures of the fixture: ResNet18 (widths 8–64) and ResNet34 (widths 4–32).
ARCHS = ("resnet18", "resnet34")


def checkpoint(arch: str = "resnet18") -> Path:
    """The tiny random-init encoder saved in the authors' ``*_encoder.pth`` layout."""
    return FIXTURES / f"{arch}_encoder.pth"


def reference(arch: str, what: str) -> np.ndarray:
    """Upstream's pooled ``embeddings`` or linear-probe ``logits`` (10 classes) of the raw
    input through their ``finetune_dataset.py``."""
    return np.load(FIXTURES / f"{arch}_{what}.npy")


def harness_inputs(spec: ModelSpec) -> torch.Tensor:
    """The raw fixture records through ``spec``'s own recipe (bench.api apply_recipe)."""
    raw = np.load(RAW)
    recipe = spec.input.recipe
    return torch.from_numpy(
        np.stack([apply_recipe(ECGSignal(r, 500.0, STANDARD_LEADS), recipe) for r in raw])
    )


def build(host, weights: Path | str, num_classes: int = 2, profile: str = "paper"):
    """``merl``'s spec and the model it builds of ``weights``."""
    spec = host.registries.models.get("merl")
    built = spec.build(
        num_classes=num_classes, profile=profile, input_size=5000, weights=str(weights)
    )
    return spec, built


def embeddings(spec: ModelSpec, module: torch.nn.Module) -> np.ndarray:
    """``spec``'s features contract on the fixture records, mean over time (eval mode)."""
    assert spec.features is not None
    with torch.no_grad():
        return spec.features(module.eval())(harness_inputs(spec)).mean(1).numpy()
