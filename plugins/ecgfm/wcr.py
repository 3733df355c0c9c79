"""ECG-FM's pretraining objective, "WCR" (docs/models.md, "ECG-FM port"): wav2vec 2.0 masked
contrastive learning with a Gumbel quantizer and span masking, plus CMSC (adjacent 5 s
segments of one recording are positives), on inputs with random lead masking.

:class:`Wav2Vec2Cmsc` is the fairseq-signals ``wav2vec2_cmsc`` model: the encoder
(:class:`EcgFmEncoder`, whose positional convolution is weight-normed over dim 2 here,
as in training), ``mask_emb``, ``quantizer``, ``project_q`` and ``final_proj``, under the
fairseq state-dict names. At the released size it has 90,883,072 parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from bench.plugins.ecgfm.model import EcgFmConfig, EcgFmEncoder, GradMultiply, masked_mean
from torch import Tensor, nn


@dataclass(frozen=True)
class WcrConfig:
    """Objective settings (fairseq-signals ``w2v_cmsc_rlm.yaml`` values by default)."""

    final_dim: int = 256
    latent_vars: int = 320
    latent_groups: int = 2
    latent_temp: tuple[float, float, float] = (2.0, 0.5, 0.999995)
    mask_prob: float = 0.65
    mask_length: int = 10
    min_masks: int = 2
    num_negatives: int = 100
    logit_temp: float = 0.1
    cmsc_temp: float = 0.1
    diversity_weight: float = 0.1
    feature_pen_weight: float = 10.0
    dropout_features: float = 0.1
    mask_leads_prob: float = 0.5


class GumbelVectorQuantizer(nn.Module):
    """Product quantizer with Gumbel-softmax code selection (wav2vec 2.0), fairseq names."""

    def __init__(self, dim: int, num_vars: int, groups: int, vq_dim: int,
                 temp: tuple[float, float, float]) -> None:  # fmt: skip
        super().__init__()
        if vq_dim % groups:
            raise ValueError(f"vq_dim {vq_dim} must be divisible by groups {groups}")
        self.groups, self.num_vars = groups, num_vars
        self.vars = nn.Parameter(torch.empty(1, groups * num_vars, vq_dim // groups))
        nn.init.uniform_(self.vars)
        self.weight_proj = nn.Linear(dim, groups * num_vars)
        nn.init.normal_(self.weight_proj.weight, mean=0.0, std=1.0)
        nn.init.zeros_(self.weight_proj.bias)
        self.max_temp, self.min_temp, self.temp_decay = temp
        self.curr_temp = self.max_temp

    def set_num_updates(self, num_updates: int) -> None:
        """Anneal the Gumbel temperature: ``max(max_temp * decay**updates, min_temp)``."""
        self.curr_temp = max(self.max_temp * self.temp_decay**num_updates, self.min_temp)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(B, T, dim)`` → quantized ``(B, T, vq_dim)`` and the soft-code perplexity."""
        b, t, c = x.shape
        logits = self.weight_proj(x.reshape(-1, c)).view(b * t * self.groups, -1)
        avg_probs = torch.softmax(logits.view(b * t, self.groups, -1).float(), dim=-1).mean(0)
        prob_ppl = torch.exp(-(avg_probs * torch.log(avg_probs + 1e-7)).sum(-1)).sum()
        if self.training:
            codes = F.gumbel_softmax(logits.float(), tau=self.curr_temp, hard=True).type_as(x)
        else:
            index = logits.argmax(-1, keepdim=True)
            codes = torch.zeros_like(logits).scatter_(-1, index, 1.0)
        # sum_v code[g, v] * vars[g, v] per group (fairseq multiplies then sums; same value)
        codebooks = self.vars.view(self.groups, self.num_vars, -1)
        quantized = torch.einsum("ngv,gvd->ngd", codes.view(b * t, self.groups, -1), codebooks)
        return quantized.reshape(b, t, -1), prob_ppl


def span_mask(
    batch: int, frames: int, prob: float, length: int, min_masks: int, rng: np.random.Generator
) -> np.ndarray:
    """fairseq ``compute_mask_indices`` ("static" spans, overlaps allowed, no padding).

    Each row gets ``max(min_masks, int(prob * frames / length + u))`` span starts
    (``u`` uniform), spans of ``length`` frames; every row is then cut to the same number of
    masked frames (the minimum over rows, chosen at random) so they can be stacked.
    """
    rows = []
    for _ in range(batch):
        n_spans = max(min_masks, int(prob * frames / float(length) + rng.random()))
        span = length
        if frames - span <= n_spans:
            span = frames - n_spans - 1
        starts = rng.choice(frames - span, n_spans, replace=False)
        idx = np.unique((starts[:, None] + np.arange(span)[None, :]).ravel())
        rows.append(idx[idx < frames])
    keep = min(len(r) for r in rows)
    mask = np.zeros((batch, frames), dtype=bool)
    for i, idx in enumerate(rows):
        mask[i, rng.choice(idx, keep, replace=False) if len(idx) > keep else idx] = True
    return mask


def mask_leads(x: Tensor, prob: float, generator: torch.Generator | None = None) -> Tensor:
    """Random lead masking: zero each lead of each sample independently with ``prob``."""
    keep = torch.rand(x.shape[:2], generator=generator, device="cpu") >= prob
    return x * keep.to(x.device, x.dtype)[..., None]


@dataclass
class WcrOutput:
    """Total loss and its parts (floats are detached, for logging)."""

    loss: Tensor
    contrastive: float
    diversity: float
    feature_pen: float
    cmsc: float
    accuracy: float


class Wav2Vec2Cmsc(EcgFmEncoder):
    """The ``wav2vec2_cmsc`` pretraining model (encoder + ``mask_emb`` + quantizer + heads)."""

    def __init__(self, config: EcgFmConfig, objective: WcrConfig) -> None:
        super().__init__(config)
        self.objective = objective
        conv = self.conv_pos.pos_conv[0]
        self.conv_pos.pos_conv[0] = nn.utils.parametrizations.weight_norm(conv, dim=2)
        self.mask_emb = nn.Parameter(torch.empty(config.embed_dim).uniform_())
        self.dropout_features = nn.Dropout(objective.dropout_features)
        self.quantizer = GumbelVectorQuantizer(
            config.cnn_dim, objective.latent_vars, objective.latent_groups, objective.final_dim,
            objective.latent_temp,
        )  # fmt: skip
        self.project_q = nn.Linear(objective.final_dim, objective.final_dim)
        self.final_proj = nn.Linear(config.embed_dim, objective.final_dim)

    def _negatives(self, y: Tensor, n: int, generator: torch.Generator | None) -> Tensor:
        """``n`` negatives per masked frame from the other masked frames of the same sample."""
        b, m, c = y.shape
        n = min(n, m - 1)
        idx = torch.randint(0, m - 1, (b, m * n), generator=generator)
        own = torch.arange(m).repeat_interleave(n)[None, :]
        idx = idx + (idx >= own).long()  # skip the frame itself
        idx = (idx + torch.arange(b)[:, None] * m).to(y.device)
        return y.reshape(b * m, c)[idx.view(-1)].view(b, m, n, c).permute(2, 0, 1, 3)

    def loss(self, segments: Tensor, rng: np.random.Generator,
             generator: torch.Generator | None = None) -> WcrOutput:  # fmt: skip
        """WCR loss of ``(2P, leads, S)`` segments: rows ``2i`` and ``2i + 1`` are adjacent
        segments of recording ``i`` (the CMSC positives). Lead masking is applied here."""
        obj = self.objective
        source = mask_leads(segments, obj.mask_leads_prob, generator)
        mult = self.config.feature_grad_mult
        features = self.feature_extractor(source)
        if mult != 1.0:
            features = GradMultiply.apply(features, mult)
        feature_pen = features.float().pow(2).mean()
        features = self.layer_norm(features.transpose(1, 2))
        unmasked = self.dropout_features(features)
        x = self.embed(features)
        b, t, _ = x.shape
        mask = torch.from_numpy(
            span_mask(b, t, obj.mask_prob, obj.mask_length, obj.min_masks, rng)
        ).to(x.device)
        x = torch.where(mask[..., None], self.mask_emb.to(x.dtype), x)
        x = self.contextualise(x)
        y, prob_ppl = self.quantizer(unmasked[mask].view(b, -1, unmasked.shape[-1]))
        y = self.project_q(y)
        negatives = self._negatives(y, obj.num_negatives, generator)
        pred = self.final_proj(x[mask].view(b, -1, x.shape[-1]))
        targets = torch.cat([y[None], negatives], dim=0)
        logits = torch.cosine_similarity(pred.float()[None], targets.float(), dim=-1)
        logits = logits / obj.logit_temp
        logits[1:][(y[None] == negatives).all(-1)] = float("-inf")
        logits = logits.permute(1, 2, 0).reshape(-1, logits.shape[0])
        zero = torch.zeros(len(logits), dtype=torch.long, device=logits.device)
        contrastive = F.cross_entropy(logits, zero)
        num_vars = obj.latent_vars * obj.latent_groups
        diversity = (num_vars - prob_ppl) / num_vars
        cmsc = cmsc_loss(masked_mean(x), obj.cmsc_temp)
        loss = (
            contrastive + obj.diversity_weight * diversity + obj.feature_pen_weight * feature_pen
            + cmsc
        )  # fmt: skip
        accuracy = float((logits.detach().argmax(-1) == 0).float().mean())
        return WcrOutput(
            loss=loss, contrastive=float(contrastive.detach()),
            diversity=float(diversity.detach()), feature_pen=float(feature_pen.detach()),
            cmsc=float(cmsc.detach()), accuracy=accuracy,
        )  # fmt: skip


def cmsc_loss(pooled: Tensor, temp: float) -> Tensor:
    """CMSC (CLOCS): rows ``2i``/``2i + 1`` are positives; symmetric InfoNCE over the
    L2-normalised segment-0 × segment-1 similarity matrix."""
    z = pooled.float() / pooled.detach().float().norm(dim=-1, keepdim=True).clamp_min(1e-8)
    first, second = z[0::2], z[1::2]
    logits = first @ second.T / temp
    target = torch.arange(len(first), device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
