"""Evaluation modes through the one features contract: attention heads, frozen encoders,
token shapes, and the error for a model without token features."""

from __future__ import annotations

from dataclasses import replace

import pytest
import timm
import torch
from torch import nn

from bench.host.specs import BuiltModel, ModelSpec
from bench.training.features import FeaturesError, pooled_function, timm_tokens, token_function
from bench.training.heads import (
    PROTOCOLS,
    AttentionPool,
    TokenClassifier,
    attention_heads,
    protocol_model,
)
from bench.training.loop import fine_tune
from bench.training.probe import linear_probe
from bench.training.selection import auroc
from tests.engine.test_engine import FAST, TinyNet, _built, _sets, _spec


def _wrapped(protocol: str, seed: int = 0) -> BuiltModel:
    train, _, _ = _sets()
    return protocol_model(_built(seed), _spec(), protocol, 2, train[0][0].unsqueeze(0))


#: A head alone on a frozen random encoder needs a head-sized learning rate.
HEAD_ONLY = replace(FAST, recipe=replace(FAST.recipe, lr=1e-2))


@pytest.mark.parametrize("protocol", ["finetune-attn", "frozen-attn"])
def test_attention_protocols_learn_stripes(protocol: str) -> None:
    train, val, evals = _sets()
    built = _wrapped(protocol)
    assert isinstance(built.module, TokenClassifier)
    assert built.config["head"] == "attention-pool" and built.config["token_dim"] == 16
    config = HEAD_ONLY if protocol == "frozen-attn" else FAST
    result = fine_tune(built, _spec(), train, val, evals, config)
    assert auroc(evals["internal"].labels, result.scores["internal"]) > 0.8


def test_frozen_attn_trains_only_the_head_and_keeps_the_encoder_in_eval_mode() -> None:
    train, val, evals = _sets()
    built = _wrapped("frozen-attn")
    module = built.module
    assert isinstance(module, TokenClassifier)
    encoder = {k: v.clone() for k, v in module.encoder.state_dict().items()}
    head = {k: v.clone() for k, v in module.head.state_dict().items()}
    fine_tune(built, _spec(), train, val, evals, FAST)
    assert all(torch.equal(encoder[k], v) for k, v in module.encoder.state_dict().items())
    assert any(not torch.equal(head[k], v) for k, v in module.head.state_dict().items())
    module.train()
    assert module.head.training and not module.encoder.training


def test_finetune_attn_trains_the_encoder_too() -> None:
    train, val, evals = _sets()
    built = _wrapped("finetune-attn")
    module = built.module
    assert isinstance(module, TokenClassifier)
    encoder = {k: v.clone() for k, v in module.encoder.state_dict().items()}
    fine_tune(built, _spec(), train, val, evals, FAST)
    assert any(not torch.equal(encoder[k], v) for k, v in module.encoder.state_dict().items())


def test_plain_protocols_keep_the_built_model() -> None:
    built = _built()
    for protocol in ("finetune", "linear-probe"):
        assert protocol_model(built, _spec(), protocol, 2, torch.zeros(1, 3, 32, 32)) is built
    assert set(PROTOCOLS) == {"finetune", "finetune-attn", "frozen-attn", "linear-probe"}
    with pytest.raises(ValueError, match="unknown protocol 'probe'"):
        protocol_model(built, _spec(), "probe", 2, torch.zeros(1, 3, 32, 32))


class Opaque(nn.Module):
    """A model with neither a ``features`` contract nor ``forward_features``."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3 * 32 * 32, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


def test_a_model_without_token_features_gets_a_clear_error() -> None:
    train, val, evals = _sets()
    built = BuiltModel(Opaque(), "random")
    with pytest.raises(FeaturesError, match=r"model 'tiny' \(Opaque\).*features"):
        protocol_model(built, _spec(), "frozen-attn", 2, train[0][0].unsqueeze(0))
    with pytest.raises(FeaturesError, match="linear-probe"):
        linear_probe(built, _spec(), train, val, evals, FAST)


def test_declared_features_take_precedence() -> None:
    def flat_tokens(module: nn.Module):  # (B, 3*32, 32): image rows as tokens
        return lambda x: x.flatten(1, 2)

    spec = ModelSpec(name="opaque", build=_spec().build, features=flat_tokens)
    tokens = token_function(spec, Opaque())
    assert tokens(torch.zeros(2, 3, 32, 32)).shape == (2, 96, 32)
    assert pooled_function(spec, Opaque())(torch.ones(2, 3, 32, 32)).shape == (2, 32)


def test_timm_tokens_flatten_cnn_maps_and_drop_class_tokens() -> None:
    cnn = TinyNet().eval()
    x = torch.randn(2, 3, 32, 32)
    tokens = timm_tokens(cnn)(x)
    assert tokens.shape == (2, 64, 16)
    # the mean of a CNN's tokens is its global-average-pooled feature vector
    torch.testing.assert_close(tokens.mean(1), cnn.forward_head(cnn.forward_features(x), True))
    vit = timm.create_model(
        "vit_tiny_patch16_224", pretrained=False, img_size=32, num_classes=2, depth=1
    ).eval()
    assert timm_tokens(vit)(x).shape == (2, 4, 192)  # 2x2 patches, class token dropped


@pytest.mark.parametrize("dim,heads", [(192, 8), (96, 8), (16, 8), (36, 4), (2048, 8), (7, 1)])
def test_attention_head_count_divides_the_width(dim: int, heads: int) -> None:
    assert attention_heads(dim) == heads
    pool = AttentionPool(dim, 3)
    assert pool(torch.randn(2, 5, dim)).shape == (2, 3)
