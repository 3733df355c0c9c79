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
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bench.plugins.heartbeit.corpus import to_tensor
from bench.plugins.heartbeit.masking import BlockMasking
from bench.plugins.heartbeit.mim import BeitMIM, MIMOutput
from bench.plugins.heartbeit.tokenizers import VisualTokenizer
from torch import nn

from bench.pretraining import (
    rank_world,
    resolve_device,
    save_train_state,
    training_autocast,
    warmup_cosine,
    wrap_for_training,
)

FINAL_CHECKPOINT = "heartbeit-mim.safetensors"
TRAIN_STATE = "train-state.pt"


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
    from bench.specs import IMAGENET_MEAN, IMAGENET_STD

    mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1)
    return (images - mean) / std


def mim_step(
    model: nn.Module,
    tokenizer: VisualTokenizer,
    images: torch.Tensor,
    mask: torch.Tensor,
    autocast: contextlib.AbstractContextManager[Any],
) -> MIMOutput:
    """Tokenise ``images`` ((B, 3, H, W) in [0, 1]) and compute the MIM loss."""
    targets = tokenizer.tokens(images)
    with autocast:
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
    """Write the model as safetensors atomically (tmp file + rename)."""
    from bench.checkpoints import save_state_dict_file

    tmp = path.with_name(path.name + ".tmp")
    state = {k: v.detach().cpu().contiguous() for k, v in model.backbone_state().items()}
    save_state_dict_file(state, tmp, metadata)
    os.replace(tmp, path)


def _progress(enabled: bool, total: int) -> Any:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("MIM pretraining"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("loss {task.fields[loss]:.3f} acc {task.fields[acc]:.3f}"),
        TextColumn("{task.fields[ips]:.0f} img/s"),
        TimeRemainingColumn(),
        disable=not enabled,
    )


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
    rank, world = rank_world()
    device = resolve_device(config.device)
    out = Path(output_dir)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    model.to(device)
    tokenizer.to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=config.lr,
        betas=config.betas,
        weight_decay=config.weight_decay,
        fused=device.type == "cuda",
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(config))
    start = 0
    tokenizer_hash = tokenizer.hash()
    state_path = out / TRAIN_STATE
    if resume and state_path.is_file():
        state = torch.load(state_path, map_location=device, weights_only=True)
        if state["tokenizer_hash"] != tokenizer_hash:
            raise ValueError(
                f"{state_path}: was trained with tokenizer hash {state['tokenizer_hash']}, "
                f"not {tokenizer_hash}; use the same tokenizer or a new --output"
            )
        model.load_backbone_state(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start = int(state["step"])
    train_model = wrap_for_training(model, device, config.compile)
    autocast = training_autocast(device)
    masking = BlockMasking(grid=model.config.grid, ratio=config.mask_ratio)
    rng = np.random.default_rng([config.seed, rank, start])
    base_meta = {
        "kind": "mim",
        "model": "heartbeit",
        "tokenizer": tokenizer.name,
        "tokenizer_hash": tokenizer_hash,
        "vocab_size": str(model.vocab_size),
        "world_size": str(world),
        **model.config.metadata(),
        **{f"train.{k}": str(v) for k, v in asdict(config).items()},
        **(metadata or {}),
    }
    result = PretrainResult(checkpoint=None, steps=start)
    meta = dict(base_meta)

    def save(name: str) -> Path:
        path = out / name
        save_mim_checkpoint(model, path, meta)
        train_state = {
            "model": model.backbone_state(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": result.steps,
            "tokenizer_hash": tokenizer_hash,
        }
        save_train_state(state_path, train_state)
        return path

    batches = make_batches(start)
    model.train()
    seen, t0 = 0, time.perf_counter()
    with _progress(progress and rank == 0, config.steps) as bar:
        task = bar.add_task("mim", total=config.steps, completed=start, loss=0.0, acc=0.0, ips=0.0)
        for step in range(start, config.steps):
            images = to_tensor(next(batches), device)
            mask = torch.from_numpy(masking.batch(len(images), rng)).to(device)
            output = mim_step(train_model, tokenizer, images, mask, autocast)
            optimizer.zero_grad(set_to_none=True)
            output.loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad)
            optimizer.step()
            scheduler.step()
            loss = float(output.loss.detach())
            result.losses.append(loss)
            result.accuracies.append(output.accuracy)
            seen += len(images) * world
            result.images_per_s = seen / (time.perf_counter() - t0)
            result.steps = step + 1
            bar.update(task, advance=1, loss=loss, acc=output.accuracy, ips=result.images_per_s)
            meta.update(
                steps=str(result.steps),
                images=str(result.steps * config.batch_size * world),
                loss=f"{loss:.5f}",
                accuracy=f"{output.accuracy:.5f}",
            )
            every = config.checkpoint_every
            if rank == 0 and every and result.steps % every == 0 and result.steps < config.steps:
                save(f"mim-step{result.steps}.safetensors")
    if rank == 0 and result.steps > start:
        result.checkpoint = save(FINAL_CHECKPOINT)
    elif (out / FINAL_CHECKPOINT).is_file():
        result.checkpoint = out / FINAL_CHECKPOINT
    return result
