"""Tiny ECG-FM configurations and fairseq-signals-layout checkpoints written by the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from bench.plugins.ecgfm.model import EcgFmConfig
from bench.plugins.ecgfm.wcr import Wav2Vec2Cmsc, WcrConfig

#: A tiny architecture: 3 conv blocks (one with kernel 3), width 32, 2 layers, 4 heads.
TINY = EcgFmConfig(
    conv_layers=((16, 2, 2), (16, 2, 2), (24, 3, 2)),
    embed_dim=32,
    layers=2,
    heads=4,
    ffn_dim=64,
    conv_pos=8,
    conv_pos_groups=4,
    activation_dropout=0.0,
)
TINY_OBJECTIVE = WcrConfig(final_dim=16, latent_vars=8, latent_groups=2, num_negatives=5)
TINY_CFG: dict[str, Any] = {
    "_name": "wav2vec2_cmsc",
    "conv_feature_layers": "[(16, 2, 2)] * 2 + [(24, 3, 2)]",
    "in_d": 12,
    "conv_bias": False,
    "extractor_mode": "default",
    "encoder_embed_dim": 32,
    "encoder_layers": 2,
    "encoder_attention_heads": 4,
    "encoder_ffn_embed_dim": 64,
    "conv_pos": 8,
    "conv_pos_groups": 4,
    "layer_norm_first": False,
    "quantize_targets": True,
    "quantize_input": False,
    "final_dim": 16,
    "latent_vars": 8,
    "latent_groups": 2,
    "feature_grad_mult": 0.1,
    "apply_mask": True,
    "mask_prob": 0.65,
}


def pretraining_model(seed: int = 0) -> Wav2Vec2Cmsc:
    """A randomly initialised tiny wav2vec2_cmsc model whose norms and biases are
    randomised too and whose attention is peaked (so every parameter matters)."""
    torch.manual_seed(seed)
    model = Wav2Vec2Cmsc(TINY, TINY_OBJECTIVE)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias") or "norm" in name:
                param.add_(0.3 * torch.randn_like(param))
            if "q_proj.weight" in name or "k_proj.weight" in name:
                param.mul_(20.0)  # peaked attention, so the softmax scale matters
    return model.eval()


def fairseq_state(model: Wav2Vec2Cmsc, old_weight_norm: bool = True) -> dict[str, torch.Tensor]:
    """The model's state dict under fairseq names (``weight_g``/``weight_v`` when old)."""
    state = {}
    for key, value in model.state_dict().items():
        if old_weight_norm:
            key = key.replace(".parametrizations.weight.original0", ".weight_g")
            key = key.replace(".parametrizations.weight.original1", ".weight_v")
        state[key] = value.clone()
    return state


def write_checkpoint(
    path: Path,
    model: Wav2Vec2Cmsc,
    layout: str = "pretrained",
    cfg_overrides: dict[str, Any] | None = None,
    old_weight_norm: bool = True,
) -> Path:
    """Write ``model`` as fairseq-signals would: cfg/model/args None/optimizer junk.

    ``layout="finetuned"`` prefixes the encoder keys with ``encoder.``, drops the
    pretraining modules and adds a 17-label ``proj`` head.
    """
    state = fairseq_state(model, old_weight_norm)
    model_cfg = {**TINY_CFG, **(cfg_overrides or {})}
    if layout == "finetuned":
        pretraining = ("mask_emb", "quantizer.", "project_q.", "final_proj.")
        state = {f"encoder.{k}": v for k, v in state.items() if not k.startswith(pretraining)}
        state["proj.weight"] = torch.randn(17, TINY.embed_dim)
        state["proj.bias"] = torch.randn(17)
        model_cfg["_name"] = "ecg_transformer_classifier"
    checkpoint = {
        "args": None,
        "cfg": {
            "common": {"fp16": False},
            "task": {"_name": "ecg_pretraining"},
            "model": model_cfg,
        },
        "model": state,
        "criterion": None,
        "optimizer_history": [{"criterion_name": "Wav2Vec2Criterion", "num_updates": 7}],
        "task_state": {},
        "extra_state": {"metrics": {"train": [1.0, 2.0]}, "train_iterator": {"epoch": 3}},
        "last_optimizer_state": {
            "state": {i: {"exp_avg": torch.randn(64), "step": 7} for i in range(3)},
            "param_groups": [{"lr": [5e-5], "betas": (0.9, 0.98)}],
        },
    }
    torch.save(checkpoint, path)
    return path
