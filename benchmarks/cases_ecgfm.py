"""ECG-FM throughput at the released architecture (``benchmarks/run.py ecgfm``, issue #14).

Ours is the harness's ECG-FM classifier (records of two 5 s segments in, record-level
log-probabilities out: segment split, present-slot mask, encoder, padding-aware pooling,
head, mean of segment probabilities); the baseline is the bare torch forward of the same
module's encoder + head on the same segments, without the record bookkeeping. Both run in
the same process on the same inputs, alternately. GPU bf16 figures need a GPU and are
measured only where one is present.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from harness import Load, paired, pick, result

RECORDS = pick(2, 1)  # two 5 s segments each: the released model is ~26 GFLOP per segment


def _modules() -> tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor]:
    from bench.plugins.ecgfm.model import EcgFmClassifier, EcgFmConfig

    torch.manual_seed(0)
    model = EcgFmClassifier(EcgFmConfig(), num_classes=2)
    records = torch.randn(RECORDS, 12, 5000)
    segments = records.view(RECORDS, 12, 2, 2500).permute(0, 2, 1, 3).reshape(-1, 12, 2500)
    labels = torch.randint(0, 2, (RECORDS,))
    return model, records, segments, labels


def _bare(model: Any, segments: torch.Tensor) -> torch.Tensor:
    """The same module's encoder + mean pooling + head, called directly on segments."""
    tokens = model.encoder(segments)
    return model.proj(tokens.mean(dim=1))


def ecgfm_inference_segments_per_s_cpu() -> dict[str, Any]:
    """Released ECG-FM, eval mode, no grad: harness classifier vs the bare module forward."""
    model, records, segments, _ = _modules()
    model.eval()

    def ours() -> None:
        with torch.inference_mode():
            model(records)

    def bare() -> None:
        with torch.inference_mode():
            _bare(model, segments)

    with Load() as load:
        timing = paired(ours, bare)
    return result(
        "ecgfm.inference_segments_per_s_cpu",
        timing,
        load,
        unit="segments/s",
        per=len(segments),
        baseline_name="bare torch forward of the same encoder + head on the segments",
        target=">= 0.9 of the bare forward",
        ok=timing.ratio.median >= 0.9,
        notes=f"released architecture (768/12/12/3072, 90.4 M encoder parameters), "
        f"{RECORDS} records x 2 segments of 2,500 samples per call",
    )


def _train_step(model: Any, loss_fn: Callable[[], torch.Tensor]) -> Callable[[], None]:
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-6)

    def step() -> None:
        loss = loss_fn()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def ecgfm_training_segments_per_s_cpu() -> dict[str, Any]:
    """Released ECG-FM fine-tuning step (frozen CNN, as ECG-FM fine-tunes) vs bare step."""
    model, records, segments, labels = _modules()
    model.train()
    segment_labels = labels.repeat_interleave(2)
    ours = _train_step(model, lambda: F.nll_loss(model(records), labels))
    bare = _train_step(model, lambda: F.cross_entropy(_bare(model, segments), segment_labels))
    with Load() as load:
        timing = paired(ours, bare)
    return result(
        "ecgfm.training_segments_per_s_cpu",
        timing,
        load,
        unit="segments/s",
        per=len(segments),
        baseline_name="bare torch training step of the same encoder + head on the segments",
        target=">= 0.9 of the bare step",
        ok=timing.ratio.median >= 0.9,
        notes=f"released architecture, Adam, CNN frozen (feature_grad_mult 0), {RECORDS} records "
        "x 2 segments per step; GPU bf16 not measured: no GPU in this session",
    )


CASES = [ecgfm_inference_segments_per_s_cpu, ecgfm_training_segments_per_s_cpu]
