"""Training throughput of the engine vs a like-for-like bare step loop (quick profiles, CPU).

The bare loop is what the engine does minus the engine: the same module and memory format
(channels_last where the spec asks for it), dtype (fp32 on CPU; the engine's bf16 autocast
applies on CUDA only), batch size, optimiser class, loss, and the same images — already in
memory as ready batches, so the engine's batched memmap reads, normalisation, OneCycle
scheduler and bookkeeping are its overhead. Each repeat builds a fresh module for both and
times every step (the first included) of each.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from harness import Load, Paired, Stats, pick, repeats, result

from bench.host.specs import ModelSpec
from bench.training import TrainConfig
from bench.training.datasets import ArrayDataset
from bench.training.devices import autocast
from bench.training.loop import fine_tune

SIZE, BATCH = 112, 32
STEPS = pick(8, 4)


def _specs() -> dict[str, ModelSpec]:
    found: list[ModelSpec] = []
    from bench.plugins.baselines import bench_register_models

    bench_register_models(found.append)
    return {s.name: s for s in found}


def _bare_images_per_s(spec: ModelSpec, data: ArrayDataset) -> float:
    """Forward + cross-entropy + backward + optimiser step on ready in-memory batches."""
    torch.manual_seed(0)
    module = spec.build(num_classes=2, profile="quick", input_size=SIZE, weights="random").module
    fmt = torch.channels_last if spec.input.channels_last else torch.contiguous_format
    module = module.to(memory_format=fmt)
    cls = torch.optim.AdamW if spec.optimizer == "adamw" else torch.optim.Adam
    optimizer = cls(module.parameters(), lr=3e-4)
    batches = [data.__getitems__(list(range(i * BATCH, (i + 1) * BATCH))) for i in range(STEPS)]
    batches = [(x.contiguous(memory_format=fmt), y) for x, y in batches]
    module.train()
    device = torch.device("cpu")
    start = time.perf_counter()
    for x, y in batches:
        with autocast(device, True):
            logits = module(x)
        loss = F.cross_entropy(logits.float(), y)
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
        train = ArrayDataset(
            images, np.arange(n), labels[:n], "image", spec.input.mean, spec.input.std
        )
        val = ArrayDataset(
            images, np.arange(n, n + 8), labels[n:], "image", spec.input.mean, spec.input.std
        )
        config = TrainConfig(
            epochs=1, batch_size=BATCH, max_steps=STEPS, evaluations=1, device="cpu"
        )
        arch = name

        def engine() -> float:
            nonlocal arch
            torch.manual_seed(0)
            built = spec.build(num_classes=2, profile="quick", input_size=SIZE, weights="random")
            arch = built.config.get("timm_arch", name)
            return fine_tune(built, spec, train, val, {}, config).timings["images_per_s"]

        with Load() as load:
            engine(), _bare_images_per_s(spec, train)  # warm-up
            ours, bare = [], []
            for _ in range(repeats()):
                bare.append(_bare_images_per_s(spec, train))
                ours.append(engine())
        # Rates: turn them into seconds per image so the harness's ratio is ours / bare.
        timing = Paired(
            Stats(tuple(1 / r for r in ours)),
            Stats(tuple(1 / r for r in bare)),
            Stats(tuple(o / b for o, b in zip(ours, bare, strict=True))),
        )
        ratio = timing.ratio.median
        return result(
            f"engine train throughput {name} quick ({arch})",
            timing,
            load,
            unit="images/s",
            per=1.0,
            baseline_name="bare step: same module, memory format, dtype, batch, optimiser; "
            "batches ready in memory",
            target=">= 0.9 (overhead <= 10 %)",
            ok=ratio >= 0.9,
            notes=f"engine overhead {1 - ratio:+.1%} (median); {SIZE} px, batch {BATCH}, "
            f"{STEPS} steps per repeat, CPU fp32, {torch.get_num_threads()} threads, "
            f"channels_last={spec.input.channels_last}; GPU not measured",
        )

    case.__name__ = f"train_throughput_{name.replace('-', '_')}"
    return case


CASES = [_case(name) for name in ("vit-b16", "resnet152", "efficientnet-b4")]
