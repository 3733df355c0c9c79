"""Masked image modelling on a timm Beit backbone (BEiT pretraining objective).

Masked patch embeddings are replaced by a learnable mask token; after the transformer, a
linear head predicts the visual token of every masked patch and the loss is the
cross-entropy on masked positions only. The backbone's parameter names are exactly those
of the fine-tuning classifier (:func:`plugins.heartbeit.model.build_beit`), so its state
dict loads into it; the MIM-only parameters live under the ``mim.`` prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from bench.plugins.heartbeit.model import BeitConfig, build_beit
from torch import nn

#: State-dict prefix of the parameters only pretraining uses (mask token, token head).
MIM_PREFIX = "mim."


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

    def __init__(self, config: BeitConfig, vocab_size: int) -> None:
        super().__init__()
        self.config = config
        self.vocab_size = vocab_size
        self.backbone = build_beit(config, num_classes=0)
        self.mim = MIMHead(config.embed_dim, vocab_size)

    def encode(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Patch features ``(B, N, D)`` with masked patches replaced by the mask token."""
        bb = self.backbone
        x = bb.patch_embed(images)
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
        """Backbone parameters under the classifier's names plus ``mim.*`` extras."""
        state = {k: v for k, v in self.backbone.state_dict().items()}
        state.update({MIM_PREFIX + k: v for k, v in self.mim.state_dict().items()})
        return state

    def load_backbone_state(self, state: dict[str, torch.Tensor]) -> None:
        """Inverse of :meth:`backbone_state` (strict)."""
        mim = {k[len(MIM_PREFIX) :]: v for k, v in state.items() if k.startswith(MIM_PREFIX)}
        rest = {k: v for k, v in state.items() if not k.startswith(MIM_PREFIX)}
        self.backbone.load_state_dict(rest)
        self.mim.load_state_dict(mim)
