"""Masked image modelling on a timm Beit backbone (BEiT pretraining objective).

Masked patch embeddings are replaced by a learnable mask token; after the transformer, a
linear head predicts the visual token of every masked patch and the loss is the
cross-entropy on masked positions only. The backbone's parameter names are exactly those
of the fine-tuning classifier (:func:`plugins.heartbeit.model.build_beit`), so its state
dict loads into it; the MIM-only parameters live under the ``mim.`` prefix.

Paper-centred patch embedding: the model takes ImageNet-normalised images like every
HeartBEiT classifier, but an ECG plot is mostly white paper, which that normalisation maps
to ~+2.2 on every pixel. Every patch embedding is then dominated by the same background
term and MIM stalls at a masked-token loss of 3.9-4.0 (docs/pretraining.md). So during
pretraining the patch embedding sees the image re-centred on the paper
(``(x - PAPER_MEAN) / PAPER_STD``, a fixed per-channel affine map of its input), and
:meth:`BeitMIM.backbone_state` folds that map into the patch embedding's weight and bias:
the state computes exactly the same function on ImageNet-normalised input.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from bench.plugins.heartbeit.model import BeitConfig, build_beit
from torch import nn

from bench.api import IMAGENET_MEAN, IMAGENET_STD

#: State-dict prefix of the parameters only pretraining uses (mask token, token head).
MIM_PREFIX = "mim."
#: Intensity of the paper and spread of a rendered ECG plot (white background, thin black
#: traces; the synthetic plots average 0.90), the centring the patch embedding trains in.
PAPER_MEAN = 0.9
PAPER_STD = 0.25
#: The patch embedding's parameters in the backbone state dict.
PATCH_WEIGHT, PATCH_BIAS = "patch_embed.proj.weight", "patch_embed.proj.bias"


def paper_centring() -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel ``(scale, shift)``: paper-centred = scale * ImageNet-normalised + shift."""
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    return std / PAPER_STD, (mean - PAPER_MEAN) / PAPER_STD


def fold_centring(weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Patch-embedding ``(weight, bias)`` trained on paper-centred input → the same map
    on ImageNet-normalised input."""
    scale, shift = (t.to(weight).view(1, -1, 1, 1) for t in paper_centring())
    return weight * scale, bias + (weight * shift).sum(dim=(1, 2, 3))


def unfold_centring(weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of :func:`fold_centring`."""
    scale, shift = (t.to(weight).view(1, -1, 1, 1) for t in paper_centring())
    inner = weight / scale
    return inner, bias - (inner * shift).sum(dim=(1, 2, 3))


@dataclass(frozen=True)
class MIMOutput:
    """Loss and masked-token accuracy of one batch (``correct``/``count`` for averaging)."""

    loss: torch.Tensor
    correct: torch.Tensor
    count: int

    @property
    def accuracy(self) -> float:
        """Fraction of masked patches whose visual token was predicted exactly."""
        return float(self.correct) / max(self.count, 1)


class MIMHead(nn.Module):
    """The MIM-only parameters: mask token and the visual-token prediction head."""

    def __init__(self, embed_dim: int, vocab_size: int) -> None:
        super().__init__()
        self.mask_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.lm_head = nn.Linear(embed_dim, vocab_size)
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        nn.init.trunc_normal_(self.lm_head.weight, std=0.02)
        nn.init.zeros_(self.lm_head.bias)


class BeitMIM(nn.Module):
    """A Beit backbone with a mask token and a linear visual-token head."""

    centring_scale: torch.Tensor
    centring_shift: torch.Tensor

    def __init__(self, config: BeitConfig, vocab_size: int) -> None:
        super().__init__()
        self.config = config
        self.vocab_size = vocab_size
        self.backbone = build_beit(config, num_classes=0)
        self.mim = MIMHead(config.embed_dim, vocab_size)
        scale, shift = paper_centring()
        self.register_buffer("centring_scale", scale.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("centring_shift", shift.view(1, 3, 1, 1), persistent=False)

    def encode(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Patch features ``(B, N, D)`` of ImageNet-normalised ``images`` with masked
        patches replaced by the mask token."""
        bb = self.backbone
        x = bb.patch_embed(images * self.centring_scale + self.centring_shift)
        w = mask.unsqueeze(-1).to(x.dtype)
        x = x * (1 - w) + self.mim.mask_token.to(x.dtype) * w
        x = torch.cat((bb.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        if bb.pos_embed is not None:
            x = x + bb.pos_embed
        rel_pos_bias = bb.rel_pos_bias() if bb.rel_pos_bias is not None else None
        for block in bb.blocks:
            x = block(x, shared_rel_pos_bias=rel_pos_bias)
        # Mean-pooling Beits normalise with fc_norm (norm is Identity); apply it per token.
        return bb.fc_norm(bb.norm(x))[:, 1:]

    def forward(self, images: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor) -> MIMOutput:
        """MIM loss on masked positions: ``mask`` (B, N) bool, ``targets`` (B, N) long."""
        if mask.shape != targets.shape or mask.shape[1] != self.config.num_patches:
            raise ValueError(
                f"BeitMIM: mask {tuple(mask.shape)} and targets {tuple(targets.shape)} must "
                f"both be (batch, {self.config.num_patches})"
            )
        features = self.encode(images, mask)
        logits = self.mim.lm_head(features[mask])
        labels = targets[mask]
        loss = F.cross_entropy(logits.float(), labels)
        correct = (logits.argmax(-1) == labels).sum()
        return MIMOutput(loss=loss, correct=correct, count=int(labels.numel()))

    def backbone_state(self) -> dict[str, torch.Tensor]:
        """Backbone parameters under the classifier's names (patch embedding folded for
        ImageNet-normalised input) plus ``mim.*`` extras."""
        state = {k: v for k, v in self.backbone.state_dict().items()}
        state[PATCH_WEIGHT], state[PATCH_BIAS] = fold_centring(
            state[PATCH_WEIGHT], state[PATCH_BIAS]
        )
        state.update({MIM_PREFIX + k: v for k, v in self.mim.state_dict().items()})
        return state

    def load_backbone_state(self, state: dict[str, torch.Tensor]) -> None:
        """Inverse of :meth:`backbone_state` (strict)."""
        mim = {k[len(MIM_PREFIX) :]: v for k, v in state.items() if k.startswith(MIM_PREFIX)}
        rest = {k: v for k, v in state.items() if not k.startswith(MIM_PREFIX)}
        if PATCH_WEIGHT in rest and PATCH_BIAS in rest:
            rest[PATCH_WEIGHT], rest[PATCH_BIAS] = unfold_centring(
                rest[PATCH_WEIGHT], rest[PATCH_BIAS]
            )
        self.backbone.load_state_dict(rest)
        self.mim.load_state_dict(mim)
