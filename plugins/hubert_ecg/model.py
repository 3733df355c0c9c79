"""HuBERT-ECG in plain PyTorch: the ``transformers`` ``HubertModel`` graph of the authors'
``HuBERTECG`` (Edoar-do/HuBERT-ECG ``code/hubert_ecg.py``), its per-window input steps and a
segment classifier around it.

The forward pass follows ``HubertModel`` with the configuration HuBERT-ECG uses
(``feat_extract_norm="group"``, ``do_stable_layer_norm=False``, GELU), step for step:

1. per 5 s window ``(B, 12, 2500)`` at 500 Hz: the 12 leads flattened lead-major and
   ``scipy.signal.decimate(x, 5)`` (order-8 Chebyshev I, zero phase) to 100 Hz, 6,000 values
   (the authors' ``ECGDataset``; :func:`window_transform`);
2. CNN: layer 0 is conv → GroupNorm (one group per channel) → GELU; layers 1.. conv → GELU;
3. transpose to ``(B, T', C)``, ``LayerNorm`` (``feat_proj_layer_norm``), linear projection;
4. ``x + GELU(SamePad(pos_conv(x)))`` (a weight-normed grouped convolution; an even kernel
   drops the last frame), ``LayerNorm``;
5. post-LN layers ``LN1(x + attn(x))``, ``LN2(x + fc2(GELU(fc1(x))))``;
6. the embedding of a window is the mean of the last hidden state over time (the authors'
   ``HuBERTForECGClassification`` pooling without an attention mask).

Module and parameter names are those of ``HuBERTForECGClassification``
(``hubert_ecg.…`` encoder, ``classifier`` head), so an upstream state dict loads strictly;
the positional convolution keeps its weight norm as ``weight_g``/``weight_v``. No masking
(SpecAugment) and no layer drop: the authors' fine-tuning turns both off
(``mask_time_prob = 0``, ``--finetuning_layerdrop=0.0``); dropouts are their fine-tuning
defaults (0.1, feature projection 0).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import signal
from torch import Tensor, nn

from bench.api import RecordRule, real_segments, scatter_slots

#: Leads, samples per lead of one window (5 s at 500 Hz) and the decimation factor.
LEADS = 12
WINDOW_SAMPLES = 2500
DECIMATION = 5
#: Standard deviation of the linear layers' random initialisation (``initializer_range``).
INIT_STD = 0.02
#: Dropouts of the authors' fine-tuning (``finetune.py`` defaults).
DROPOUT = 0.1
FEAT_PROJ_DROPOUT = 0.0


@dataclass(frozen=True)
class HubertEcgConfig:
    """The encoder architecture: the ``config.json`` fields that shape the forward pass.

    Defaults are the released ``hubert-ecg-base`` (conv stem of ``pretrain.py`` for
    ``downsampling_factor=5``)."""

    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    conv_dim: tuple[int, ...] = (512,) * 5
    conv_kernel: tuple[int, ...] = (10, 3, 3, 2, 2)
    conv_stride: tuple[int, ...] = (4, 2, 2, 2, 2)
    conv_bias: bool = False
    num_conv_pos_embeddings: int = 128
    num_conv_pos_embedding_groups: int = 16
    feat_proj_layer_norm: bool = True
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("conv_dim", "conv_kernel", "conv_stride"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        if not len(self.conv_dim) == len(self.conv_kernel) == len(self.conv_stride) > 0:
            raise ValueError(
                "conv_dim, conv_kernel and conv_stride must have the same non-zero length, got "
                f"{self.conv_dim}, {self.conv_kernel}, {self.conv_stride}"
            )
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not divisible by num_attention_heads "
                f"{self.num_attention_heads}"
            )
        if self.hidden_size % self.num_conv_pos_embedding_groups:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not divisible by "
                f"num_conv_pos_embedding_groups {self.num_conv_pos_embedding_groups}"
            )

    def to_dict(self) -> dict[str, object]:
        """The fields as JSON-ready values (lists for the conv tuples)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def window_transform(windows: Tensor) -> Tensor:
    """``(B, 12, 2500)`` windows at 500 Hz → ``(B, 6000)``: flattened lead-major and
    decimated by 5 with ``scipy.signal.decimate`` (float64 arithmetic, returned as float32 on
    ``windows``' device). The windows are inputs, not parameters: no gradient flows back."""
    if windows.shape[1:] != (LEADS, WINDOW_SAMPLES):
        raise ValueError(
            f"HuBERT-ECG takes 5 s windows of shape (B, {LEADS}, {WINDOW_SAMPLES}) at 500 Hz, "
            f"got {tuple(windows.shape)} (records go through bench.training.features)"
        )
    flat = windows.detach().to("cpu", torch.float64).reshape(len(windows), -1).numpy()
    out = np.ascontiguousarray(signal.decimate(flat, DECIMATION, axis=-1))
    return torch.from_numpy(out).to(windows.device, torch.float32)


class ConvLayer(nn.Module):
    """One CNN layer: conv (→ GroupNorm with one group per channel, layer 0) → GELU."""

    def __init__(self, config: HubertEcgConfig, index: int) -> None:
        super().__init__()
        channels = config.conv_dim[index]
        self.conv = nn.Conv1d(
            config.conv_dim[index - 1] if index else 1,
            channels,
            config.conv_kernel[index],
            stride=config.conv_stride[index],
            bias=config.conv_bias,
        )
        self.layer_norm = nn.GroupNorm(channels, channels) if index == 0 else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        return F.gelu(x if self.layer_norm is None else self.layer_norm(x))


class FeatureExtractor(nn.Module):
    """``(B, samples)`` → ``(B, C, T')``."""

    def __init__(self, config: HubertEcgConfig) -> None:
        super().__init__()
        self.conv_layers = nn.ModuleList(ConvLayer(config, i) for i in range(len(config.conv_dim)))

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, None]
        for layer in self.conv_layers:
            x = layer(x)
        return x


class FeatureProjection(nn.Module):
    """``LayerNorm`` (when ``feat_proj_layer_norm``) → linear → dropout."""

    def __init__(self, config: HubertEcgConfig) -> None:
        super().__init__()
        width = config.conv_dim[-1]
        self.layer_norm = (
            nn.LayerNorm(width, eps=config.layer_norm_eps) if config.feat_proj_layer_norm else None
        )
        self.projection = nn.Linear(width, config.hidden_size)
        self.dropout = nn.Dropout(FEAT_PROJ_DROPOUT)

    def forward(self, x: Tensor) -> Tensor:
        if self.layer_norm is not None:
            x = self.layer_norm(x)
        return self.dropout(self.projection(x))


class WeightNormConv(nn.Module):
    """A grouped ``Conv1d`` whose weight is ``weight_g * weight_v / ||weight_v||`` with the
    norm over every dimension but the kernel's (``weight_norm(conv, dim=2)``)."""

    def __init__(self, width: int, kernel: int, groups: int) -> None:
        super().__init__()
        self.groups, self.padding = groups, kernel // 2
        conv = nn.Conv1d(width, width, kernel, padding=self.padding, groups=groups)
        v = conv.weight.detach()
        self.weight_g = nn.Parameter(v.norm(dim=(0, 1), keepdim=True))
        self.weight_v = nn.Parameter(v.clone())
        self.bias = nn.Parameter(torch.zeros(width))

    def forward(self, x: Tensor) -> Tensor:
        v = self.weight_v
        weight = v * (self.weight_g / v.norm(dim=(0, 1), keepdim=True))
        return F.conv1d(x, weight, self.bias, padding=self.padding, groups=self.groups)


class PositionalConvEmbedding(nn.Module):
    """``GELU(SamePad(conv(x)))`` over time; ``(B, T', D)`` → ``(B, T', D)``."""

    def __init__(self, config: HubertEcgConfig) -> None:
        super().__init__()
        kernel = config.num_conv_pos_embeddings
        self.conv = WeightNormConv(config.hidden_size, kernel, config.num_conv_pos_embedding_groups)
        self.remove = 1 if kernel % 2 == 0 else 0

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(x.transpose(1, 2))
        if self.remove:
            y = y[:, :, : -self.remove]
        return F.gelu(y).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention with ``q``/``k``/``v``/``out`` projections (biases)."""

    def __init__(self, config: HubertEcgConfig) -> None:
        super().__init__()
        width = config.hidden_size
        self.heads = config.num_attention_heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (
            nn.Linear(width, width) for _ in range(4)
        )

    def forward(self, x: Tensor) -> Tensor:
        b, t, d = x.shape

        def split(proj: nn.Linear) -> Tensor:
            return proj(x).view(b, t, self.heads, d // self.heads).transpose(1, 2)

        p = DROPOUT if self.training else 0.0
        y = F.scaled_dot_product_attention(
            split(self.q_proj), split(self.k_proj), split(self.v_proj), dropout_p=p
        )
        return self.out_proj(y.transpose(1, 2).reshape(b, t, d))


class FeedForward(nn.Module):
    """``output_dense(dropout(GELU(intermediate_dense(x))))`` → dropout."""

    def __init__(self, config: HubertEcgConfig) -> None:
        super().__init__()
        self.intermediate_dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.output_dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.intermediate_dropout = nn.Dropout(DROPOUT)
        self.output_dropout = nn.Dropout(DROPOUT)

    def forward(self, x: Tensor) -> Tensor:
        x = self.intermediate_dropout(F.gelu(self.intermediate_dense(x)))
        return self.output_dropout(self.output_dense(x))


class EncoderLayer(nn.Module):
    """Post-LN transformer layer (``HubertEncoderLayer``)."""

    def __init__(self, config: HubertEcgConfig) -> None:
        super().__init__()
        self.attention = Attention(config)
        self.dropout = nn.Dropout(DROPOUT)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.feed_forward = FeedForward(config)
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: Tensor) -> Tensor:
        x = self.layer_norm(x + self.dropout(self.attention(x)))
        return self.final_layer_norm(x + self.feed_forward(x))


class Encoder(nn.Module):
    """Positions, ``LayerNorm``, dropout, the layers (``HubertEncoder``)."""

    def __init__(self, config: HubertEcgConfig) -> None:
        super().__init__()
        self.pos_conv_embed = PositionalConvEmbedding(config)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(DROPOUT)
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, x: Tensor) -> Tensor:
        x = self.dropout(self.layer_norm(x + self.pos_conv_embed(x)))
        for layer in self.layers:
            x = layer(x)
        return x


class HubertEcgModel(nn.Module):
    """The encoder: ``(B, 6000)`` at 100 Hz → last hidden state ``(B, T', hidden_size)``."""

    def __init__(self, config: HubertEcgConfig) -> None:
        super().__init__()
        self.config = config
        self.feature_extractor = FeatureExtractor(config)
        self.feature_projection = FeatureProjection(config)
        self.encoder = Encoder(config)
        self.apply(self._initialise)

    @staticmethod
    def _initialise(module: nn.Module) -> None:
        """``HubertPreTrainedModel._init_weights``: linear layers N(0, 0.02), CNN layers
        Kaiming-normal, biases 0 (norms start at 1 and 0; the positional convolution keeps
        its weight norm of the default init, as under ``transformers``, bias 0)."""
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=INIT_STD)
        elif isinstance(module, nn.Conv1d):
            nn.init.kaiming_normal_(module.weight)
        if isinstance(module, (nn.Linear, nn.Conv1d, WeightNormConv)) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> Tensor:
        features = self.feature_extractor(x).transpose(1, 2)
        return self.encoder(self.feature_projection(features))


class HubertEcg(nn.Module):
    """Segment classifier: each filled 5 s slot of a record ``(B, 12, k * 2500)`` is
    transformed (:func:`window_transform`), encoded, mean-pooled and scored by
    ``classifier``; ``record_rule`` combines the window scores of each label over the filled
    slots (:class:`bench.training.segments.RecordRule`; the harness sets it to the task's
    labels)."""

    def __init__(
        self, config: HubertEcgConfig, num_classes: int, record_rule: RecordRule | None = None
    ) -> None:
        super().__init__()
        self.config = config
        self.hubert_ecg = HubertEcgModel(config)
        self.classifier_dropout = nn.Dropout(DROPOUT)
        self.classifier = nn.Linear(config.hidden_size, num_classes)
        self.record_rule = record_rule or RecordRule()

    def tokens(self, segments: Tensor) -> Tensor:
        """The features contract of a segment model: one 5 s window per row ``(B, 12,
        2500)`` → the last hidden state ``(B, T', hidden_size)`` (its mean over ``T'`` is
        HuBERT-ECG's embedding)."""
        return self.hubert_ecg(window_transform(segments))

    def segment_logits(self, segments: Tensor) -> Tensor:
        """Head logits of each window ``(N, 12, 2500)`` → ``(N, num_classes)``."""
        return self.classifier(self.classifier_dropout(self.tokens(segments).mean(1)))

    def forward(self, x: Tensor) -> Tensor:
        """Record-level logits ``(B, num_classes)`` (see :class:`RecordRule`)."""
        segments, filled = real_segments(x, WINDOW_SAMPLES)
        windows = scatter_slots(self.segment_logits(segments), filled)
        return self.record_rule.combine(windows, filled)
