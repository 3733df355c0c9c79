"""The paper-protocol grid's GPU-hours and wall time on G GPUs (docs/scaling.md).

An estimate from published training throughput (no GPU measured): the timm RTX 3090 AMP
training benchmark (EfficientNet-B4 scaled from 320 to 224 px by pixel count) times an
A100 factor. Run ``python benchmarks/scaling_estimate.py [A100_FACTOR]``.
"""

from __future__ import annotations

import heapq
import sys
from collections.abc import Iterable

#: images/s, timm results/benchmark-train-amp-nchw-pt112-cu113-rtx3090.csv
RTX3090 = {
    "BEiT-base": 358.29,
    "ViT-B/16": 390.86,
    "ResNet-152": 370.08,
    "EfficientNet-B4": 293.1 * (320 / 224) ** 2,
}
N_TRAIN = {"lvef": 511_491, "hcm": 78_831, "stemi": 17_449}
N_EVAL = {"lvef": 20_448 + 1_480, "hcm": 20_448 + 3_859, "stemi": 4_352}
FRACTIONS = (0.01, 0.1, 0.25, 0.5, 1.0)
EPOCHS = 30
START_S = 60  # per cell: process, cohort and cache, model build
FORWARD = 1 / 3  # an evaluation image costs about a third of a training image


def cell_seconds(model: str, task: str, fraction: float, factor: float) -> float:
    """One cell: training, a full validation pass per epoch, one test pass, start-up."""
    validation = N_TRAIN[task] / 9
    images = EPOCHS * fraction * N_TRAIN[task] + FORWARD * (EPOCHS * validation + N_EVAL[task])
    return images / (RTX3090[model] * factor) + START_S


def makespan(seconds: Iterable[float], gpus: int) -> float:
    """Wall time when each cell goes, in order, to the GPU that frees up first."""
    free = [0.0] * gpus
    for s in seconds:
        heapq.heappush(free, heapq.heappop(free) + s)
    return max(free)


def main(factor: float = 2.0) -> None:
    """Print A100-hours per model and task, and wall times on 8/32/128 GPUs."""
    for task in N_TRAIN:
        hours = {m: sum(cell_seconds(m, task, f, factor) for f in FRACTIONS) / 3600
                 for m in RTX3090}  # fmt: skip
        print(task, {m: round(h, 1) for m, h in hours.items()})
    for seeds in (1, 5):
        order = [cell_seconds(m, t, f, factor) for t in N_TRAIN for f in FRACTIONS
                 for _ in range(seeds) for m in RTX3090]  # fmt: skip
        print(f"{seeds} seed(s): {sum(order) / 3600:.1f} GPU-hours")
        for gpus in (8, 32, 128):
            grid = makespan(order, gpus) / 3600
            longest = makespan(sorted(order, reverse=True), gpus) / 3600
            print(f"  {gpus} GPUs: {grid:.1f} h in grid order, {longest:.1f} h longest first")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 2.0)
