"""The "features" contract: one token sequence per input, shared by every evaluation mode.

A model exposes its encoder output as tokens ``(B, T, D)`` through
:attr:`bench.host.specs.ModelSpec.features` (``features(module) -> tokens_fn``); without it,
timm-style modules (``forward_features``) are read by :func:`timm_tokens`. Everything that
needs a representation reads it from here, never from a model by name:

- ``finetune-attn`` / ``frozen-attn`` put an attention-pooling head on the tokens
  (:mod:`bench.training.heads`);
- ``linear-probe`` and ``bench embed`` use the pooled features, the mean of the tokens
  over ``T`` (:func:`pooled_function`), so an exported embedding is exactly what the
  probe fits on.

Both read a record's tokens through :func:`record_tokens`. For a segment model
(``SignalInput.segments``) that is the tokens of the segments the record really has, each
segment encoded alone, with a mask that leaves out the empty slots: the pooled features
are the mean of the real segments' embeddings (a 5 s record's equal its segment's) and an
attention head never attends to an empty slot. Any other model's tokens come unmasked,
exactly as its features contract returns them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from bench.host.specs import ModelSpec
from bench.training.datasets import ArrayDataset
from bench.training.devices import Precision
from bench.training.runtime import DeviceBatches, predict, sequential_batches
from bench.training.segments import real_segments, scatter_slots

TokenFn = Callable[[Tensor], Tensor]

#: Version of the pooled-feature recipe (goes into the identity of cells that read it). A
#: segment model's pooling over its real segments is versioned by its
#: ``SegmentAggregation`` (in its representation hash), so other models keep their cells.
FEATURES_VERSION = "mean-tokens-1"


class FeaturesError(TypeError):
    """A model offers no token features (needed by the attention and probe protocols)."""


def timm_tokens(module: nn.Module) -> TokenFn:
    """Tokens of a timm-style module from ``forward_features``.

    A ``(B, C, H, W)`` feature map (CNNs) becomes ``(B, H*W, C)``; a ``(B, N, D)`` sequence
    (ViT, BEiT) loses its ``num_prefix_tokens`` class/register tokens, leaving patch tokens.
    """
    forward_features: Callable[[Tensor], Tensor] = getattr(module, "forward_features")  # noqa: B009
    prefix = int(getattr(module, "num_prefix_tokens", 0) or 0)

    def tokens(x: Tensor) -> Tensor:
        out = forward_features(x)
        if out.ndim == 4:
            return out.flatten(2).transpose(1, 2)
        if out.ndim == 3:
            return out[:, prefix:]
        raise FeaturesError(
            f"{type(module).__name__}.forward_features returned shape {tuple(out.shape)}; "
            "expected a (B, C, H, W) map or (B, N, D) tokens"
        )

    return tokens


def token_function(spec: ModelSpec, module: nn.Module) -> TokenFn:
    """The function ``x -> tokens (B, T, D)`` of ``module`` (built from ``spec``)."""
    if spec.features is not None:
        return spec.features(module)
    if callable(getattr(module, "forward_features", None)):
        return timm_tokens(module)
    raise FeaturesError(
        f"model {spec.name!r} ({type(module).__name__}) exposes no token features: its "
        "ModelSpec declares no `features` and the module has no timm-style forward_features; "
        "the protocols finetune-attn, frozen-attn and linear-probe and `bench embed` need one"
    )


@dataclass(frozen=True)
class RecordTokens:
    """The tokens ``(B, T, D)`` of a batch of records and, for a segment model, ``mask``
    ``(B, T)``: True at the tokens of a segment the record has (``None``: all are real)."""

    tokens: Tensor
    mask: Tensor | None = None

    def pooled(self) -> Tensor:
        """The mean of the real tokens ``(B, D)``."""
        if self.mask is None:
            return self.tokens.mean(dim=1)
        weights = self.mask.unsqueeze(-1).to(self.tokens.dtype)
        return (self.tokens * weights).sum(dim=1) / weights.sum(dim=1)


RecordTokenFn = Callable[[Tensor], RecordTokens]


def record_tokens(spec: ModelSpec, module: nn.Module) -> RecordTokenFn:
    """The function ``records -> RecordTokens`` of ``module`` (built from ``spec``).

    A segment model's records ``(B, leads, k * segment_samples)`` are cut into their
    filled slots (:func:`bench.data.signal_recipe.filled_slots`); only those segments are
    encoded, each on its own, and their tokens are laid out slot after slot along ``T``
    (``k`` times the tokens of one segment, zero and masked out in an empty slot).
    """
    tokens = token_function(spec, module)
    samples = spec.input.segment_samples()
    if samples is None:
        return lambda x: RecordTokens(tokens(x))

    def segment_tokens(x: Tensor) -> RecordTokens:
        segments, filled = real_segments(x, samples)
        slots = scatter_slots(tokens(segments), filled)  # (B, k, T', D)
        b, k, frames, dim = slots.shape
        mask = filled.unsqueeze(-1).expand(b, k, frames).reshape(b, k * frames)
        return RecordTokens(slots.reshape(b, k * frames, dim), mask)

    return segment_tokens


def pooled_function(spec: ModelSpec, module: nn.Module) -> TokenFn:
    """The function ``x -> pooled features (B, D)``: the mean of a record's real tokens
    (:func:`record_tokens`)."""
    tokens = record_tokens(spec, module)

    def pooled(x: Tensor) -> Tensor:
        return tokens(x).pooled()

    return pooled


@torch.no_grad()
def token_dim(tokens: RecordTokenFn, module: nn.Module, sample: Tensor) -> int:
    """Width ``D`` of the tokens, from one forward pass of ``sample`` (a batch of one) in
    eval mode; the module's training mode is restored afterwards."""
    was_training = module.training
    module.eval()
    try:
        out = tokens(sample).tokens
    finally:
        module.train(was_training)
    if out.ndim != 3:
        raise FeaturesError(f"token features must be (B, T, D), got shape {tuple(out.shape)}")
    return int(out.shape[-1])


def frozen_encoder(module: nn.Module, spec: ModelSpec, device: torch.device) -> nn.Module:
    """``module`` on ``device`` in eval mode (channels-last when ``spec`` asks for it), as the
    linear probe and ``bench embed`` read it. A module already on the CPU is not moved again
    (``.to`` visits every parameter: ~10 ms for a 500-module CNN, a tenth of a small model's
    batch); on an accelerator it always is (``cuda`` may name another index than the
    module's)."""
    tensors = [*module.parameters(), *module.buffers()]
    if device.type != "cpu" or any(t.device.type != "cpu" for t in tensors):
        module = module.to(device)
    module = module.eval()
    if spec.input.channels_last and not all(
        t.is_contiguous(memory_format=torch.channels_last) for t in tensors if t.dim() == 4
    ):
        module = module.to(memory_format=torch.channels_last)
    return module


def extract_features(
    module: nn.Module,
    spec: ModelSpec,
    dataset: ArrayDataset,
    device: torch.device,
    batch_size: int,
    workers: int = 0,
    amp: bool | Precision = True,
) -> np.ndarray:
    """Pooled features ``(n, D)`` of every row of ``dataset`` (in order), computed in eval
    mode in batches of ``batch_size``: what the linear probe fits on and ``bench embed``
    writes (float32 values, returned as float64)."""
    batches = DeviceBatches(
        dataset,
        sequential_batches(len(dataset), batch_size),
        device,
        workers,
        spec.input.channels_last,
    )
    return predict(pooled_function(spec, module), module, batches, device, amp)[0]
