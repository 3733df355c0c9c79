"""``bench pretrain`` and ``bench pretrain-tokenizer`` (registered by the plugin).

Multi-GPU / multi-node: launch with ``torchrun --nproc-per-node N -m bench pretrain ...``;
the command joins the process group (NCCL on GPUs, gloo on CPU), each rank reads its own
shard of the corpus, gradients are averaged by DistributedDataParallel and rank 0 writes.
"""

from __future__ import annotations

import math
from pathlib import Path

import click
from bench.plugins.heartbeit.model import PROFILES, profile_config
from bench.plugins.heartbeit.pretrain import PretrainConfig
from bench.plugins.heartbeit.tokenizers import VisualTokenizer
from bench.plugins.heartbeit.tokenizers.kmeans import DEFAULT_DOWNSAMPLE as KMEANS_DOWNSAMPLE

from bench.api import init_distributed

TOKENIZER_FILE = "tokenizer-kmeans.safetensors"


def _steps(steps: int | None, epochs: int | None, data: str, batch_size: int) -> int:
    from bench.plugins.heartbeit.corpus import SYNTHETIC, list_images

    if epochs is None:
        return steps or PretrainConfig.steps
    if steps is not None:
        raise click.UsageError("give --steps or --epochs, not both")
    if data == SYNTHETIC:
        raise click.UsageError("--epochs needs a finite corpus (a folder); use --steps")
    return epochs * math.ceil(len(list_images(Path(data))) / batch_size)


@click.command("pretrain")
@click.option("--data", default="synthetic", show_default=True,
              help="'synthetic' or a folder of ECG images (PNG/JPEG).")  # fmt: skip
@click.option("--tokenizer", default="kmeans", show_default=True, help="Visual tokenizer.")
@click.option("--tokenizer-path", "--tokenizer-weights", "tokenizer_path", default=None,
              type=click.Path(dir_okay=False),
              help="Tokenizer file (k-means codebook or DALL·E encoder). Without it a k-means "
                   "codebook is fitted on --data first.")  # fmt: skip
@click.option("--profile", type=click.Choice(sorted(PROFILES)), default="quick", show_default=True)
@click.option("--input-size", type=int, default=None,
              help="Image size in pixels (default: 112 quick, 224 paper).")  # fmt: skip
@click.option("--steps", type=int, default=None, help=f"Optimiser steps [{PretrainConfig.steps}].")
@click.option("--epochs", type=int, default=None, help="Passes over a folder corpus.")
@click.option("--batch-size", type=int, default=PretrainConfig.batch_size, show_default=True,
              help="Images per step per process.")  # fmt: skip
@click.option("--mask-ratio", type=float, default=PretrainConfig.mask_ratio, show_default=True)
@click.option("--lr", type=float, default=PretrainConfig.lr, show_default=True)
@click.option("--warmup-steps", type=int, default=PretrainConfig.warmup_steps, show_default=True)
@click.option("--checkpoint-every", type=int, default=0, help="Also checkpoint every N steps.")
@click.option("--output", type=click.Path(file_okay=False), default="runs/pretrain",
              show_default=True)  # fmt: skip
@click.option("--resume", is_flag=True, help="Continue from OUTPUT/train-state.pt.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model.")
@click.option("--seed", type=int, default=0, show_default=True)
def pretrain_command(
    data: str, tokenizer: str, tokenizer_path: str | None, profile: str,
    input_size: int | None, steps: int | None, epochs: int | None, batch_size: int,
    mask_ratio: float, lr: float, warmup_steps: int, checkpoint_every: int, output: str,
    resume: bool, device: str, compile_: bool, seed: int,
) -> None:  # fmt: skip
    """Masked-image-modelling pretraining of HeartBEiT on unlabelled ECG images."""
    import torch.distributed as dist
    from bench.plugins.heartbeit.recipe import (
        build_tokenizer,
        fit_kmeans_tokenizer,
        run_pretraining,
        tokenizer_options,
    )

    beit = profile_config(profile, input_size or PROFILES[profile].img_size)
    config = PretrainConfig(
        steps=_steps(steps, epochs, data, batch_size), batch_size=batch_size, lr=lr,
        warmup_steps=warmup_steps, mask_ratio=mask_ratio, checkpoint_every=checkpoint_every,
        seed=seed, device=device, compile=compile_,
    )  # fmt: skip
    started = init_distributed(device)
    try:
        rank = dist.get_rank() if dist.is_initialized() else 0
        out = Path(output)
        visual: VisualTokenizer
        if tokenizer == "kmeans" and tokenizer_path is None:
            if rank == 0:
                click.echo(
                    f"fitting a k-means tokenizer (512 codes on {KMEANS_DOWNSAMPLE}x-pooled "
                    f"patches) on {data!r} ...",
                    err=True,
                )
            visual = fit_kmeans_tokenizer(
                data, image_size=beit.img_size, patch_size=beit.patch_size,
                downsample=KMEANS_DOWNSAMPLE, seed=seed,
            )  # fmt: skip
            if rank == 0:
                out.mkdir(parents=True, exist_ok=True)
                visual.save(out / TOKENIZER_FILE)
        else:
            try:
                visual = build_tokenizer(tokenizer, tokenizer_options(tokenizer_path, beit))
            except (ValueError, FileNotFoundError) as exc:
                raise click.UsageError(str(exc)) from exc
        result = run_pretraining(
            source=data, beit=beit, tokenizer=visual, config=config, output_dir=out,
            profile=profile, resume=resume,
        )  # fmt: skip
        if rank == 0:
            click.echo(
                f"done: {result.steps} steps, {result.images_per_s:.0f} images/s; "
                f"checkpoint {result.checkpoint}"
            )
    finally:
        if started:
            dist.destroy_process_group()


@click.command("pretrain-tokenizer")
@click.option("--tokenizer", default="kmeans", show_default=True,
              help="Trainable tokenizer to fit (kmeans).")  # fmt: skip
@click.option("--data", default="synthetic", show_default=True,
              help="'synthetic' or a folder of ECG images.")  # fmt: skip
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="Where to write the tokenizer (safetensors).")  # fmt: skip
@click.option("--profile", type=click.Choice(sorted(PROFILES)), default="quick", show_default=True)
@click.option("--input-size", type=int, default=None, help="Image size the model will use.")
@click.option("--codes", type=int, default=512, show_default=True)
@click.option("--images", type=int, default=2048, show_default=True,
              help="Corpus images the codebook is fitted on.")  # fmt: skip
@click.option("--downsample", type=int, default=KMEANS_DOWNSAMPLE, show_default=True,
              help="Average-pool each patch N x N before coding (1: raw pixels).")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True)
def pretrain_tokenizer_command(
    tokenizer: str, data: str, out: str, profile: str, input_size: int | None, codes: int,
    images: int, downsample: int, seed: int,
) -> None:  # fmt: skip
    """Fit a visual tokenizer on ECG images (for users without the DALL·E weights)."""
    from bench.plugins.heartbeit.recipe import fit_kmeans_tokenizer

    if tokenizer != "kmeans":
        raise click.BadParameter(
            f"{tokenizer!r} is not trainable here; only 'kmeans' is", param_hint="--tokenizer"
        )
    beit = profile_config(profile, input_size or PROFILES[profile].img_size)
    try:
        fitted = fit_kmeans_tokenizer(
            data, image_size=beit.img_size, patch_size=beit.patch_size, codes=codes,
            downsample=downsample, images=images, seed=seed,
        )  # fmt: skip
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--downsample") from exc
    fitted.save(out, {"corpus": data, "image_size": str(beit.img_size)})
    click.echo(
        f"wrote {out}: {codes} codes on {beit.patch_size}px patches of {beit.img_size}px images"
    )
