"""MIM pretraining throughput at the quick size on CPU (``benchmarks/run.py pretrain``).

GPU throughput (BEiT-base MIM in bf16 and its model-FLOPs utilisation) is not measured
here: no GPU was available when these cases were written and run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from harness import Load, paired, pick, result

STEPS, BATCH = pick(6, 3), 32


def _steps(step: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        for _ in range(STEPS):
            step()

    return run


def mim_images_per_s_quick_cpu() -> dict[str, Any]:
    """Full MIM step (tokenise, mask, forward, backward, AdamW) vs a plain classifier step."""
    from bench.plugins.heartbeit.corpus import to_tensor
    from bench.plugins.heartbeit.masking import BlockMasking
    from bench.plugins.heartbeit.mim import BeitMIM
    from bench.plugins.heartbeit.model import build_beit, profile_config
    from bench.plugins.heartbeit.pretrain import normalise
    from bench.plugins.heartbeit.tokenizers.kmeans import KMeansTokenizer

    torch.manual_seed(0)
    beit = profile_config("quick", 112)
    rng = np.random.default_rng(0)
    images = to_tensor(rng.integers(0, 256, (BATCH, 112, 112, 3), dtype=np.uint8))
    tokenizer = KMeansTokenizer(torch.rand(512, 256), patch_size=16)
    masking = BlockMasking(grid=beit.grid)
    mim = BeitMIM(beit, 512)
    mim_opt = torch.optim.AdamW(mim.parameters(), lr=1e-4)

    def mim_step() -> None:
        mask = torch.from_numpy(masking.batch(BATCH, rng))
        out = mim(normalise(images), mask, tokenizer.tokens(images))
        mim_opt.zero_grad()
        out.loss.backward()
        mim_opt.step()

    classifier = build_beit(beit, num_classes=2)
    cls_opt = torch.optim.AdamW(classifier.parameters(), lr=1e-4)
    labels = torch.randint(0, 2, (BATCH,))

    def classifier_step() -> None:
        loss = torch.nn.functional.cross_entropy(classifier(normalise(images)), labels)
        cls_opt.zero_grad()
        loss.backward()
        cls_opt.step()

    with Load() as load:
        timing = paired(_steps(mim_step), _steps(classifier_step))
    return result(
        "pretrain.mim_images_per_s_quick_cpu",
        timing,
        load,
        unit="images/s",
        per=STEPS * BATCH,
        baseline_name="classifier fine-tune step, same backbone and images",
        target=">= 0.8 of the classifier step",
        ok=timing.ratio.median >= 0.8,
        notes=f"width 192, depth 6, 112 px, batch {BATCH}, {STEPS} steps per repeat, k-means "
        "512 codes; GPU (BEiT-base bf16 MFU) not measured: no GPU in this session",
    )


CASES = [mim_images_per_s_quick_cpu]
