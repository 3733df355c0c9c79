"""The MIM pretraining loop: AdamW with warm-up + cosine, gradient clipping, bf16 on GPU,
DistributedDataParallel under ``torchrun``, safetensors checkpoints and resumable state.

Files written to the output directory (rank 0 only):

- ``mim-step{N}.safetensors`` every ``checkpoint_every`` steps and ``heartbeit-mim.safetensors``
  at the end: backbone (classifier names) + ``mim.*`` parameters, with metadata (``kind=mim``,
  architecture, tokenizer name/hash, render hash, corpus, steps, loss, accuracy);
- ``train-state.pt``: model, optimiser, scheduler and step for ``resume=True``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bench.plugins.heartbeit.corpus import to_tensor
from bench.plugins.heartbeit.masking import BlockMasking
from bench.plugins.heartbeit.mim import BeitMIM, MIMOutput
from bench.plugins.heartbeit.tokenizers import VisualTokenizer
from torch import nn

from bench.api import (
    Checkpointing,
    StepOutput,
    autocast,
    pretrain_loop,
    rank_world,
    resolve_device,
)

FINAL_CHECKPOINT = "heartbeit-mim.safetensors"


@dataclass(frozen=True)
class PretrainConfig:
    """Optimisation settings of one pretraining run (all recorded in the checkpoint)."""

    steps: int = 400
    batch_size: int = 64
    lr: float = 1.5e-3
    min_lr_ratio: float = 0.01
    warmup_steps: int = 20
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.98)
    clip_grad: float = 3.0
    mask_ratio: float = 0.4
    checkpoint_every: int = 0
    seed: int = 0
    device: str = "auto"
    compile: bool = False

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(
                f"PretrainConfig: steps ({self.steps}) and batch_size ({self.batch_size}) "
                "must be >= 1"
            )


@dataclass
class PretrainResult:
    """What a run produced: the final checkpoint and the per-step history."""

    checkpoint: Path | None
    steps: int
    losses: list[float] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)
    images_per_s: float = 0.0


def normalise(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] images → the ImageNet-normalised input the fine-tuning classifier sees too."""
    from bench.api import IMAGENET_MEAN, IMAGENET_STD

    mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1)
    return (images - mean) / std


def mim_step(
    model: nn.Module,
    tokenizer: VisualTokenizer,
    images: torch.Tensor,
    mask: torch.Tensor,
    precision: contextlib.AbstractContextManager[Any],
) -> MIMOutput:
    """Tokenise ``images`` ((B, 3, H, W) in [0, 1]) and compute the MIM loss under
    ``precision`` (bf16 autocast on GPUs)."""
    targets = tokenizer.tokens(images)
    with precision:
        output: MIMOutput = model(normalise(images), mask, targets)
    return output


@torch.no_grad()
def evaluate(
    model: BeitMIM, tokenizer: VisualTokenizer, images: torch.Tensor, mask: torch.Tensor
) -> tuple[float, float]:
    """(loss, masked-token accuracy) on a fixed batch and fixed masks."""
    was_training = model.training
    model.eval()
    output = mim_step(model, tokenizer, images, mask, contextlib.nullcontext())
    model.train(was_training)
    return float(output.loss), output.accuracy


def save_mim_checkpoint(model: BeitMIM, path: Path, metadata: dict[str, str]) -> None:
    """Write the model's backbone and MIM head as safetensors (atomically)."""
    from bench.api import save_state_dict_file

    save_state_dict_file(model.backbone_state(), path, metadata)


def pretrain(
    model: BeitMIM,
    tokenizer: VisualTokenizer,
    make_batches: Callable[[int], Iterator[np.ndarray]],
    config: PretrainConfig,
    output_dir: str | Path,
    *,
    metadata: dict[str, str] | None = None,
    resume: bool = False,
    progress: bool = True,
) -> PretrainResult:
    """Pretrain ``model`` on the batches of ``make_batches(start_step)``.

    ``make_batches`` returns this rank's shard of uint8 ``(B, H, W, 3)`` batches; it gets
    the step training starts from so that a resumed run draws fresh data.

    Under an initialised process group the model is wrapped in DistributedDataParallel
    (gradients are averaged over ranks) and only rank 0 writes files. ``resume=True``
    continues from ``train-state.pt`` in ``output_dir`` when it exists.
    """
    if tokenizer.vocab_size != model.vocab_size:
        raise ValueError(
            f"tokenizer {tokenizer.name!r} has {tokenizer.vocab_size} codes but the model "
            f"head predicts {model.vocab_size}"
        )
    rank, _ = rank_world()
    device = resolve_device(config.device)
    model.to(device)
    tokenizer.to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=config.lr,
        betas=config.betas,
        weight_decay=config.weight_decay,
        fused=device.type == "cuda",
    )
    bf16 = autocast(device, enabled=True)
    masking = BlockMasking(grid=model.config.grid, ratio=config.mask_ratio)
    tokenizer_hash = tokenizer.hash()

    def make_step(train: nn.Module, start: int) -> Callable[[int], StepOutput]:
        batches = make_batches(start)
        rng = np.random.default_rng([config.seed, rank, start])

        def step(_: int) -> StepOutput:
            images = to_tensor(next(batches), device)
            mask = torch.from_numpy(masking.batch(len(images), rng)).to(device)
            output = mim_step(train, tokenizer, images, mask, bf16)
            return StepOutput(output.loss, {"accuracy": output.accuracy}, len(images))

        return step

    meta = {
        "kind": "mim",
        "model": "heartbeit",
        "tokenizer": tokenizer.name,
        "tokenizer_hash": tokenizer_hash,
        "vocab_size": str(model.vocab_size),
        **model.config.metadata(),
        **{f"train.{k}": str(v) for k, v in asdict(config).items()},
        **(metadata or {}),
    }
    checkpointing = Checkpointing(
        save=partial(save_mim_checkpoint, model),
        state=model.backbone_state,
        load=model.load_backbone_state,
        final=FINAL_CHECKPOINT,
        every="mim-step{step}.safetensors",
        extra={"tokenizer_hash": tokenizer_hash},
    )
    loop = pretrain_loop(
        model, optimizer, config, Path(output_dir), make_step, checkpointing, meta,
        resume=resume, progress=progress, label="MIM pretraining", unit="images",
    )  # fmt: skip
    return PretrainResult(
        checkpoint=loop.checkpoint,
        steps=loop.steps,
        losses=[h["loss"] for h in loop.history],
        accuracies=[h["accuracy"] for h in loop.history],
        images_per_s=loop.items_per_s,
    )
