"""Training throughput of the engine vs a bare forward/backward/step loop (quick profiles, CPU)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bench.datasets import ArrayDataset
from bench.engine import TrainConfig, fine_tune
from bench.specs import ModelSpec

SIZE, BATCH, STEPS = 112, 32, 8


def _specs() -> dict[str, ModelSpec]:
    found: list[ModelSpec] = []
    from bench.plugins.baselines import bench_register_models

    bench_register_models(found.append)
    try:
        from bench.plugins import heartbeit

        heartbeit.bench_register_models(found.append)
    except (ImportError, AttributeError):
        pass
    return {s.name: s for s in found}


def _bare_images_per_s(spec: ModelSpec, data: ArrayDataset, seed: int) -> float:
    """Forward + cross-entropy + backward + Adam step on pre-made batches: no engine."""
    torch.manual_seed(seed)
    module = spec.build(num_classes=2, profile="quick", input_size=SIZE, weights="random").module
    if spec.channels_last:
        module = module.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(module.parameters(), lr=3e-4)
    batches = [data.__getitems__(list(range(i * BATCH, (i + 1) * BATCH))) for i in range(STEPS)]
    if spec.channels_last:
        batches = [(x.contiguous(memory_format=torch.channels_last), y) for x, y in batches]
    module.train()
    start = time.perf_counter()
    for x, y in batches:
        loss = F.cross_entropy(module(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return STEPS * BATCH / (time.perf_counter() - start)


def _case(name: str) -> Callable[[], dict[str, Any]]:
    def case() -> dict[str, Any]:
        spec = _specs()[name]
        rng = np.random.default_rng(0)
        n = STEPS * BATCH
        images = rng.integers(0, 256, size=(n + 8, SIZE, SIZE, 3), dtype=np.uint8)
        labels = np.arange(n + 8) % 2
        train = ArrayDataset(images, np.arange(n), labels[:n], "image", spec.mean, spec.std)
        val = ArrayDataset(images, np.arange(n, n + 8), labels[n:], "image", spec.mean, spec.std)
        bare = _bare_images_per_s(spec, train, seed=0)
        torch.manual_seed(0)
        built = spec.build(num_classes=2, profile="quick", input_size=SIZE, weights="random")
        config = TrainConfig(
            epochs=1, batch_size=BATCH, max_steps=STEPS, evaluations=1, device="cpu"
        )
        result = fine_tune(built, spec, train, val, {}, config)
        ours = result.timings["images_per_s"]
        return {
            "name": f"engine train throughput {name} quick ({built.config.get('timm_arch', name)})",
            "value": ours,
            "unit": "images/s",
            "baseline_name": "bare forward+backward+Adam step",
            "baseline": bare,
            "ratio": ours / bare,
            "target": ">= 0.9 (overhead <= 10 %); >= ~100 images/s on 2 cores",
            "notes": f"{SIZE} px, batch {BATCH}, {STEPS} steps, CPU fp32, {torch.get_num_threads()} threads; GPU not measured",
        }

    case.__name__ = f"train_throughput_{name.replace('-', '_')}"
    return case


CASES = [_case(name) for name in ("vit-b16", "resnet152", "efficientnet-b4")]
