"""ECG-FM in plain PyTorch: the fairseq-signals ``wav2vec2_cmsc`` / ``ecg_transformer``
encoder and a segment classifier around it.

The forward pass follows fairseq-signals (``ECGTransformerModel.get_embeddings`` and
``TransformerEncoder``), step for step (docs/models.md, "ECG-FM port: forward pass"):

1. CNN: block 0 is conv → dropout → GroupNorm (computed in fp32) → GELU; blocks 1.. are
   conv → dropout → GELU;
2. transpose to (B, T', C), ``layer_norm`` over the CNN channels;
3. ``post_extract_proj`` (when the CNN width differs from the model width), ``dropout_input``;
4. ``x + GELU(SamePad(pos_conv(x)))`` — an even kernel drops the last frame;
5. ``encoder.layer_norm`` BEFORE the layers (``layer_norm_first=False``), dropout, then
   post-LN layers ``LN1(x + attn(x))``, ``LN2(x + fc2(GELU(fc1(x))))``; no final norm;
   attention scales q by ``head_dim ** -0.5``; GELU computed in fp32;
6. pooling ``x.sum(1) / (x != 0).sum(1)`` (padding-aware mean over time).

Module and parameter names are those of fairseq-signals, so a converted state dict loads
strictly. The positional convolution holds a plain ``weight``: fairseq's weight norm is
folded on load (see :mod:`bench.plugins.ecgfm.loader`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.api import RecordRule, real_segments, scatter_slots

#: Metadata key under which a converted safetensors file stores the architecture.
CONFIG_KEY = "ecgfm.config"


@dataclass(frozen=True)
class EcgFmConfig:
    """The encoder architecture (fairseq-signals ``cfg["model"]`` fields, renamed).

    Defaults are the released ECG-FM checkpoint (90.9 M parameters with the pretraining
    heads). Dropouts default to ECG-FM's fine-tuning recipe; ``feature_grad_mult`` 0 keeps
    the CNN frozen (run under ``no_grad``) as ECG-FM fine-tuning does.
    """

    conv_layers: tuple[tuple[int, int, int], ...] = ((256, 2, 2),) * 4
    in_channels: int = 12
    conv_bias: bool = False
    embed_dim: int = 768
    layers: int = 12
    heads: int = 12
    ffn_dim: int = 3072
    conv_pos: int = 128
    conv_pos_groups: int = 16
    dropout: float = 0.0
    attention_dropout: float = 0.0
    activation_dropout: float = 0.1
    dropout_input: float = 0.0
    feature_grad_mult: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "conv_layers", tuple(tuple(c) for c in self.conv_layers))
        if self.embed_dim % self.heads:
            raise ValueError(
                f"EcgFmConfig: embed_dim {self.embed_dim} is not divisible by heads {self.heads}"
            )
        if self.embed_dim % self.conv_pos_groups:
            raise ValueError(
                f"EcgFmConfig: embed_dim {self.embed_dim} is not divisible by conv_pos_groups "
                f"{self.conv_pos_groups}"
            )
        if not self.conv_layers or any(len(c) != 3 for c in self.conv_layers):
            raise ValueError(
                f"EcgFmConfig.conv_layers: expected (dim, kernel, stride) triples, "
                f"got {self.conv_layers}"
            )

    @property
    def cnn_dim(self) -> int:
        """Channels of the last CNN block."""
        return self.conv_layers[-1][0]

    def frames(self, samples: int) -> int:
        """Transformer tokens for an input of ``samples`` samples."""
        for _, kernel, stride in self.conv_layers:
            samples = (samples - kernel) // stride + 1
        return samples

    def to_json(self) -> str:
        """Canonical JSON (stored in converted files' metadata and in records)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> EcgFmConfig:
        """Inverse of :meth:`to_json`; unknown fields are an error naming them."""
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"ECG-FM config: unknown field(s) {unknown}")
        return cls(**data)

    def replace(self, **changes: Any) -> EcgFmConfig:
        """A copy with ``changes`` applied."""
        return EcgFmConfig(**{**asdict(self), **changes})


class GradMultiply(torch.autograd.Function):
    """Identity forward; multiplies the gradient by ``scale`` (fairseq's GradMultiply)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, scale: float) -> Tensor:
        ctx.scale = scale
        return x.clone()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return grad * ctx.scale, None


class Fp32GroupNorm(nn.GroupNorm):
    """GroupNorm computed in float32 whatever the input dtype (as fairseq-signals)."""

    def forward(self, x: Tensor) -> Tensor:
        weight = self.weight.float() if self.weight is not None else None
        bias = self.bias.float() if self.bias is not None else None
        return F.group_norm(x.float(), self.num_groups, weight, bias, self.eps).type_as(x)


def gelu_fp32(x: Tensor) -> Tensor:
    """GELU computed in float32, cast back (fairseq-signals' transformer activation)."""
    return F.gelu(x.float()).type_as(x)


class FeatureExtractor(nn.Module):
    """The strided CNN ("default" mode: one GroupNorm, in block 0, before its GELU)."""

    def __init__(self, config: EcgFmConfig) -> None:
        super().__init__()
        self.conv_layers = nn.ModuleList()
        in_d = config.in_channels
        for i, (dim, kernel, stride) in enumerate(config.conv_layers):
            conv = nn.Conv1d(in_d, dim, kernel, stride=stride, bias=config.conv_bias)
            nn.init.kaiming_normal_(conv.weight)
            parts: list[nn.Module] = [conv, nn.Dropout(0.0)]
            if i == 0:
                parts.append(Fp32GroupNorm(dim, dim, affine=True))
            parts.append(nn.GELU())
            self.conv_layers.append(nn.Sequential(*parts))
            in_d = dim

    def forward(self, x: Tensor) -> Tensor:
        """``(B, in_channels, T)`` → ``(B, cnn_dim, T')``."""
        for block in self.conv_layers:
            x = block(x)
        return x


class SamePad(nn.Module):
    """Drop the last frame after a convolution with an even kernel (non-causal)."""

    def __init__(self, kernel_size: int) -> None:
        super().__init__()
        self.remove = 1 if kernel_size % 2 == 0 else 0

    def forward(self, x: Tensor) -> Tensor:
        return x[:, :, : -self.remove] if self.remove else x


class ConvPositionalEncoding(nn.Module):
    """Grouped positional convolution → SamePad → GELU; returns the term added to ``x``."""

    def __init__(self, config: EcgFmConfig) -> None:
        super().__init__()
        conv = nn.Conv1d(
            config.embed_dim,
            config.embed_dim,
            kernel_size=config.conv_pos,
            padding=config.conv_pos // 2,
            groups=config.conv_pos_groups,
        )
        std = (4.0 / (config.conv_pos * config.embed_dim)) ** 0.5
        nn.init.normal_(conv.weight, mean=0.0, std=std)
        nn.init.zeros_(conv.bias)  # type: ignore[arg-type]
        self.pos_conv = nn.Sequential(conv, SamePad(config.conv_pos), nn.GELU())

    def forward(self, x: Tensor) -> Tensor:
        """``(B, T, C)`` → ``(B, T, C)`` positional term."""
        return self.pos_conv(x.transpose(1, 2)).transpose(1, 2)


class SelfAttention(nn.Module):
    """Multi-head self-attention with separate q/k/v projections (fairseq names)."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.scaling = self.head_dim**-0.5
        self.dropout = dropout
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)
        for proj in (self.q_proj, self.k_proj, self.v_proj):
            nn.init.xavier_uniform_(proj.weight, gain=2**-0.5)
        nn.init.xavier_uniform_(self.out_proj.weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        """``(B, T, C)`` → ``(B, T, C)``; ``key_padding_mask`` (B, T) is True at padding."""
        b, t, c = x.shape

        def heads(y: Tensor) -> Tensor:
            return y.view(b, t, self.heads, self.head_dim).transpose(1, 2)

        mask = None
        if key_padding_mask is not None:
            mask = ~key_padding_mask[:, None, None, :]
        out = F.scaled_dot_product_attention(
            heads(self.q_proj(x)),
            heads(self.k_proj(x)),
            heads(self.v_proj(x)),
            attn_mask=mask,
            dropout_p=self.dropout if self.training else 0.0,
            scale=self.scaling,
        )
        return self.out_proj(out.transpose(1, 2).reshape(b, t, c))


class EncoderLayer(nn.Module):
    """Post-LN transformer layer: ``LN1(x + attn(x))`` then ``LN2(x + fc2(GELU(fc1(x))))``."""

    def __init__(self, config: EcgFmConfig) -> None:
        super().__init__()
        dim = config.embed_dim
        self.self_attn = SelfAttention(dim, config.heads, config.attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, config.ffn_dim)
        self.fc2 = nn.Linear(config.ffn_dim, dim)
        self.final_layer_norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(config.dropout)
        self.activation_dropout = nn.Dropout(config.activation_dropout)

    def forward(self, x: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        x = self.self_attn_layer_norm(x + self.dropout(self.self_attn(x, key_padding_mask)))
        hidden = self.activation_dropout(gelu_fp32(self.fc1(x)))
        return self.final_layer_norm(x + self.dropout(self.fc2(hidden)))


class TransformerEncoder(nn.Module):
    """``layer_norm`` (before the layers: post-LN model), dropout, the layers."""

    def __init__(self, config: EcgFmConfig) -> None:
        super().__init__()
        self.dropout = config.dropout
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.layers))
        self.layer_norm = nn.LayerNorm(config.embed_dim)
        for module in self.modules():  # fairseq's init_bert_params
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
                nn.init.zeros_(module.bias)

    def forward(self, x: Tensor, padding_mask: Tensor | None = None) -> Tensor:
        """``(B, T, C)`` → ``(B, T, C)``; padded frames are zeroed first."""
        if padding_mask is not None:
            x = x.masked_fill(padding_mask[..., None], 0.0)
        x = self.layer_norm(x)
        x = F.dropout(x, p=self.dropout, training=self.training)
        for layer in self.layers:
            x = layer(x, padding_mask)
        return x


class EcgFmEncoder(nn.Module):
    """The ECG-FM encoder: ``(B, in_channels, T)`` → tokens ``(B, T', embed_dim)``."""

    def __init__(self, config: EcgFmConfig) -> None:
        super().__init__()
        self.config = config
        self.feature_extractor = FeatureExtractor(config)
        self.layer_norm = nn.LayerNorm(config.cnn_dim)
        self.post_extract_proj = (
            nn.Linear(config.cnn_dim, config.embed_dim)
            if config.cnn_dim != config.embed_dim
            else None
        )
        self.dropout_input = nn.Dropout(config.dropout_input)
        self.conv_pos = ConvPositionalEncoding(config)
        self.encoder = TransformerEncoder(config)

    def features(self, source: Tensor) -> Tensor:
        """CNN features ``(B, T', cnn_dim)`` after ``layer_norm``.

        In training the CNN's gradient is scaled by ``feature_grad_mult`` (0: run under
        ``no_grad``, frozen); in eval mode it stays in the graph, so that gradients with
        respect to the input (saliency) exist. The values are the same either way."""
        mult = self.config.feature_grad_mult
        if mult > 0 or not self.training:
            features = self.feature_extractor(source)
            if self.training and mult != 1.0:
                features = GradMultiply.apply(features, mult)
        else:
            with torch.no_grad():
                features = self.feature_extractor(source)
        return self.layer_norm(features.transpose(1, 2))

    def embed(self, features: Tensor) -> Tensor:
        """Projected features ``(B, T', embed_dim)`` (before positions are added)."""
        if self.post_extract_proj is not None:
            features = self.post_extract_proj(features)
        return self.dropout_input(features)

    def contextualise(self, x: Tensor, padding_mask: Tensor | None = None) -> Tensor:
        """Add the convolutional positions and run the transformer."""
        return self.encoder(x + self.conv_pos(x), padding_mask)

    def forward(self, source: Tensor) -> Tensor:
        """``(B, in_channels, T)`` → ``encoder_out`` ``(B, T', embed_dim)``."""
        return self.contextualise(self.embed(self.features(source)))


def masked_mean(x: Tensor) -> Tensor:
    """ECG-FM's pooling: ``x.sum(1) / (x != 0).sum(1)`` (zeroed frames do not count)."""
    return x.sum(dim=1) / (x != 0).sum(dim=1)


class EcgFmClassifier(nn.Module):
    """Segment classifier: encoder → pooled tokens → ``proj``; segments → one record score.

    Input ``(B, in_channels, n_segments * segment_samples)``. Each filled segment slot
    (:func:`bench.data.signal_recipe.filled_slots`) is encoded on its own and scored by
    the head (a window score); ``record_rule`` (:class:`bench.training.segments.RecordRule`)
    combines the window scores of each label into the record's over the filled slots only
    (the mean or max of the probabilities), returned as logits of the head's kind, so the
    training loss trains the record score directly. It is binary by default; the harness
    sets it to each task's labels.
    """

    def __init__(
        self,
        config: EcgFmConfig,
        num_classes: int,
        segment_samples: int = 2500,
        record_rule: RecordRule | None = None,
        final_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.encoder = EcgFmEncoder(config)
        self.final_dropout = nn.Dropout(final_dropout)
        self.proj = nn.Linear(config.embed_dim, num_classes)
        nn.init.xavier_uniform_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)
        self.segment_samples = segment_samples
        self.record_rule = record_rule or RecordRule()

    def tokens(self, segments: Tensor) -> Tensor:
        """Encoder tokens of segments ``(B, L, segment_samples)`` → ``(B, T', D)`` (the
        features contract of a segment model: the harness assembles records)."""
        if segments.shape[-1] != self.segment_samples:
            raise ValueError(
                f"ECG-FM tokens take one {self.segment_samples}-sample segment per row, got "
                f"{segments.shape[-1]} samples (records go through "
                "bench.training.features.record_tokens)"
            )
        return self.encoder(segments)

    def segment_logits(self, segments: Tensor) -> Tensor:
        """Head logits of each segment ``(N, L, S)`` → ``(N, num_classes)``."""
        return self.proj(self.final_dropout(masked_mean(self.encoder(segments))))

    def forward(self, x: Tensor) -> Tensor:
        """Record-level logits ``(B, num_classes)`` (see :class:`RecordRule`)."""
        segments, filled = real_segments(x, self.segment_samples)
        windows = scatter_slots(self.segment_logits(segments), filled)
        return self.record_rule.combine(windows, filled)


def count_parameters(module: nn.Module) -> int:
    """Number of parameter elements."""
    return sum(p.numel() for p in module.parameters())


def config_metadata(config: EcgFmConfig, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """safetensors metadata for an encoder file: the config JSON plus ``extra``."""
    return {"format": "ecg-bench/ecgfm-encoder", CONFIG_KEY: config.to_json(), **(extra or {})}
