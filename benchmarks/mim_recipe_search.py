"""Search the recipe of the default HeartBEiT checkpoint (issue 16, item 4).

    .venv/bin/python benchmarks/mim_recipe_search.py [--lr 3e-3 --warmup 60 --steps 900 ...]

Runs one quick-profile (112 px) MIM recipe the way ``bench run --model heartbeit`` creates
its default checkpoint (:mod:`bench.plugins.heartbeit.checkpoint_cache`): render a pool of
synthetic ECG images, fit the k-means tokenizer on it, then :func:`run_pretraining` cycling
the pool. Every option defaults to the checkpoint's current recipe. The whole run is timed
from the first rendered image, so "wall s" is what a user waits for on first use.

Loss = the training masked-token cross-entropy (masked patches only), averaged over the last
``--window`` steps. Printed against step and wall time, plus, after training (untimed):

- the held-out loss/accuracy on ``--held-out`` fresh synthetic images (another seed) with
  fixed ~40 % block masks, comparable across recipes that mask differently;
- the baselines: uniform ``ln(codes)`` and the unigram entropy of the held-out masked codes
  (what a model that ignores the image and position would reach).

Writes everything as JSON to ``--output``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from bench.plugins.heartbeit.checkpoint_cache import DEFAULT_RECIPE
from bench.plugins.heartbeit.corpus import to_tensor
from bench.plugins.heartbeit.masking import BlockMasking
from bench.plugins.heartbeit.mim import BeitMIM
from bench.plugins.heartbeit.model import profile_config
from bench.plugins.heartbeit.pretrain import evaluate
from bench.plugins.heartbeit.recipe import fit_kmeans_tokenizer, run_pretraining, synthetic_pool
from bench.plugins.heartbeit.tokenizers.kmeans import KMeansTokenizer

from bench.weights.checkpoints import load_state_dict_file

HELD_OUT_SEED = 12345
HELD_OUT_MASK_RATIO = 0.4
MINUTES = (1, 2, 3, 4, 5, 6)


@dataclass
class StepClock:
    """A tokenizer that notes the wall and CPU time of every call (one per training step)."""

    inner: KMeansTokenizer
    times: list[tuple[float, float]] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The wrapped tokenizer's name."""
        return self.inner.name

    @property
    def vocab_size(self) -> int:
        """The wrapped tokenizer's number of codes."""
        return self.inner.vocab_size

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """The wrapped tokenizer's codes; records when the step started."""
        self.times.append(now())
        return self.inner.tokens(images)

    def hash(self) -> str:
        """The wrapped tokenizer's hash."""
        return self.inner.hash()

    def to(self, device: torch.device | str) -> StepClock:
        """Move the wrapped codebook (returns self)."""
        self.inner.to(device)
        return self


def now() -> tuple[float, float]:
    """(wall, CPU time of this process over all its threads) in seconds."""
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float], end: tuple[float, float]) -> tuple[float, float]:
    """Elapsed (wall, CPU) seconds from ``start`` to ``end``."""
    return end[0] - start[0], end[1] - start[1]


def window_mean(values: list[float], end: int, window: int) -> float:
    """Mean of ``values[end - window : end]`` (fewer at the start)."""
    part = values[max(0, end - window) : end]
    return float(np.mean(part))


def held_out_metrics(
    checkpoint: Path, args: argparse.Namespace, tokenizer: KMeansTokenizer
) -> dict[str, float]:
    """Loss/accuracy of the checkpoint on fresh images with fixed block masks, and the
    unigram entropy of their masked codes."""
    beit = profile_config("quick", args.size)
    images = to_tensor(synthetic_pool(args.held_out, beit.img_size, seed=HELD_OUT_SEED))
    masking = BlockMasking(grid=beit.grid, ratio=HELD_OUT_MASK_RATIO)
    masks = torch.from_numpy(masking.batch(len(images), np.random.default_rng(7)))
    model = BeitMIM(beit, tokenizer.vocab_size)
    model.load_backbone_state(load_state_dict_file(checkpoint))
    loss, accuracy = evaluate(model, tokenizer, images, masks)
    counts = torch.bincount(tokenizer.tokens(images)[masks], minlength=tokenizer.vocab_size)
    p = counts[counts > 0].double() / counts.sum()
    return {
        "held_out_loss": loss,
        "held_out_accuracy": accuracy,
        "unigram_entropy": float(-(p * p.log()).sum()),
        "majority_code_accuracy": float(p.max()),
    }


def main(argv: list[str] | None = None) -> int:
    """Run one recipe, print its loss curve and summary, write the JSON."""
    r, t = DEFAULT_RECIPE, DEFAULT_RECIPE.training
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", default="default")
    parser.add_argument("--size", type=int, default=112, help="input size (quick profile)")
    parser.add_argument("--codes", type=int, default=r.codes)
    parser.add_argument("--downsample", type=int, default=r.downsample, help="patch pooling")
    parser.add_argument("--pool", type=int, default=r.pool, help="rendered images cycled")
    parser.add_argument("--fit-images", type=int, default=0, help="k-means images (0: pool)")
    parser.add_argument("--steps", type=int, default=t.steps)
    parser.add_argument("--batch", type=int, default=t.batch_size)
    parser.add_argument("--lr", type=float, default=t.lr)
    parser.add_argument("--warmup", type=int, default=t.warmup_steps)
    parser.add_argument("--min-lr-ratio", type=float, default=t.min_lr_ratio)
    parser.add_argument("--mask-ratio", type=float, default=t.mask_ratio)
    parser.add_argument("--window", type=int, default=20, help="steps the loss is averaged on")
    parser.add_argument("--held-out", type=int, default=256, help="fresh images (0: skip)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--progress", action="store_true", help="show the progress bar")
    parser.add_argument("--output", type=Path, default=Path("runs/mim-recipe-search"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    training = replace(
        t,
        steps=args.steps, batch_size=args.batch, lr=args.lr, warmup_steps=args.warmup,
        min_lr_ratio=args.min_lr_ratio, mask_ratio=args.mask_ratio,
    )  # fmt: skip
    recipe = replace(
        r, codes=args.codes, downsample=args.downsample, pool=args.pool, training=training
    )
    beit = profile_config("quick", args.size)

    load_before = os.getloadavg()[0]
    t0 = now()
    pool = synthetic_pool(recipe.pool_size(beit.num_patches), beit.img_size)
    fit_images = args.fit_images or len(pool)
    rendered = now()
    tokenizer = fit_kmeans_tokenizer(
        pool[:fit_images], image_size=beit.img_size, patch_size=beit.patch_size,
        codes=recipe.codes, downsample=recipe.downsample, images=fit_images,
    )  # fmt: skip
    fitted = now()
    clock = StepClock(tokenizer)
    with tempfile.TemporaryDirectory(prefix="mim-search-") as work:
        result = run_pretraining(
            source="synthetic", beit=beit, tokenizer=clock, config=recipe.pretrain_config(),
            output_dir=work, profile="quick", progress=args.progress, pool=pool,
        )  # fmt: skip
        done = now()
        assert result.checkpoint is not None
        held_out = held_out_metrics(result.checkpoint, args, tokenizer) if args.held_out else {}
    load_after = os.getloadavg()[0]

    # step k ends when step k + 1 starts; (wall, CPU) seconds since the first render
    ends = [since(t0, t) for t in [*clock.times[1:], done]]
    losses, accs = result.losses, result.accuracies
    phases = {
        "render": since(t0, rendered), "fit": since(rendered, fitted),
        "train": since(fitted, done), "total": since(t0, done),
    }  # fmt: skip
    print(f"# {args.label}: {recipe}")
    print("# " + ", ".join(f"{k} {w:.1f} s wall / {c:.1f} s CPU" for k, (w, c) in phases.items()))
    print(f"# {args.threads} torch threads; load average {load_before:.1f} -> {load_after:.1f}")
    print(f"{'step':>6} {'wall s':>7} {'CPU s':>7} {'loss':>7} {'acc':>6}  (last {args.window})")
    every = max(1, recipe.steps // 20)
    curve = []
    for k in range(every, recipe.steps + 1, every):
        wall, cpu = ends[k - 1]
        loss, acc = window_mean(losses, k, args.window), window_mean(accs, k, args.window)
        curve.append({"step": k, "wall_s": wall, "cpu_s": cpu, "loss": loss, "accuracy": acc})
        print(f"{k:>6} {wall:>7.1f} {cpu:>7.1f} {loss:>7.3f} {acc:>6.3f}")
    at_minute = {}
    for minute in MINUTES:
        steps = sum(1 for wall, _ in ends if wall <= 60 * minute)
        if steps:
            at_minute[f"{minute}min"] = {
                "step": steps,
                "loss": window_mean(losses, steps, args.window),
            }
        if steps == recipe.steps:
            break
    report = {
        "label": args.label, "recipe": asdict(recipe), "fit_images": fit_images,
        "threads": args.threads, "load_average": [load_before, load_after],
        "phases_wall_cpu_s": phases, "train_images_per_s": result.images_per_s,
        "window": args.window, "final_loss": window_mean(losses, len(losses), args.window),
        "uniform_loss": recipe.uniform_loss(), "loss_at_wall": at_minute, **held_out,
        "curve": curve,
    }  # fmt: skip
    print(json.dumps({k: v for k, v in report.items() if k != "curve"}, indent=1))
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / f"{args.label}.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
