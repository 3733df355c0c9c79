"""A hand-written functional ECG-FM forward pass, step by step from fairseq-signals, with a
switch per forward-order point so each test can show that the wrong order differs."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from bench.plugins.ecgfm.model import EcgFmConfig
from torch import Tensor


@dataclass(frozen=True)
class Variant:
    """How each forward-order point is done (defaults: the published code path)."""

    gelu_before_group_norm: bool = False
    encoder_norm_after_layers: bool = False
    gelu_after_pos_conv: bool = True
    same_pad_drops_last: bool = True
    pre_ln_layers: bool = False
    q_scale_by_embed_dim: bool = False


def reference_encoder(
    state: dict[str, Tensor], config: EcgFmConfig, x: Tensor, variant: Variant = Variant()
) -> Tensor:
    """``encoder_out`` of ``x`` (B, leads, T) from a folded encoder ``state``."""
    s = state
    for i, (dim, _, stride) in enumerate(config.conv_layers):
        x = F.conv1d(x, s[f"feature_extractor.conv_layers.{i}.0.weight"], stride=stride)
        if i == 0:
            w, b = (
                s["feature_extractor.conv_layers.0.2.weight"],
                s["feature_extractor.conv_layers.0.2.bias"],
            )
            if variant.gelu_before_group_norm:
                x = F.group_norm(F.gelu(x), dim, w, b)
            else:
                x = F.gelu(F.group_norm(x.float(), dim, w, b))
        else:
            x = F.gelu(x)
    x = x.transpose(1, 2)
    x = F.layer_norm(x, (config.cnn_dim,), s["layer_norm.weight"], s["layer_norm.bias"])
    x = F.linear(x, s["post_extract_proj.weight"], s["post_extract_proj.bias"])
    pos = F.conv1d(x.transpose(1, 2), s["conv_pos.pos_conv.0.weight"], s["conv_pos.pos_conv.0.bias"],
                   padding=config.conv_pos // 2, groups=config.conv_pos_groups)  # fmt: skip
    pos = pos[:, :, :-1] if variant.same_pad_drops_last else pos[:, :, 1:]
    if variant.gelu_after_pos_conv:
        pos = F.gelu(pos)
    x = x + pos.transpose(1, 2)
    dim = config.embed_dim
    norm = (s["encoder.layer_norm.weight"], s["encoder.layer_norm.bias"])
    if not variant.encoder_norm_after_layers:
        x = F.layer_norm(x, (dim,), *norm)
    b, t, _ = x.shape
    head_dim = dim // config.heads
    scale = (dim if variant.q_scale_by_embed_dim else head_dim) ** -0.5
    for n in range(config.layers):
        p = f"encoder.layers.{n}."

        def lin(name: str, y: Tensor, p: str = p) -> Tensor:
            return F.linear(y, s[p + name + ".weight"], s[p + name + ".bias"])

        def ln(name: str, y: Tensor, p: str = p) -> Tensor:
            return F.layer_norm(y, (dim,), s[p + name + ".weight"], s[p + name + ".bias"])

        def attention(y: Tensor) -> Tensor:
            q = lin("self_attn.q_proj", y) * scale
            k, v = lin("self_attn.k_proj", y), lin("self_attn.v_proj", y)
            q, k, v = (z.view(b, t, config.heads, head_dim).transpose(1, 2) for z in (q, k, v))
            weights = torch.softmax((q @ k.transpose(-1, -2)).float(), dim=-1)
            return lin("self_attn.out_proj", (weights @ v).transpose(1, 2).reshape(b, t, dim))

        def ffn(y: Tensor) -> Tensor:
            return lin("fc2", F.gelu(lin("fc1", y).float()))

        if variant.pre_ln_layers:
            x = x + attention(ln("self_attn_layer_norm", x))
            x = x + ffn(ln("final_layer_norm", x))
        else:
            x = ln("self_attn_layer_norm", x + attention(x))
            x = ln("final_layer_norm", x + ffn(x))
    if variant.encoder_norm_after_layers:
        x = F.layer_norm(x, (dim,), *norm)
    return x
