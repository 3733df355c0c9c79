"""Compute cost: FLOPs against hand counts, parameters, latency, peak memory, records."""

from __future__ import annotations

import json
import math
import os

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from bench.api import get_host
from bench.training.cost import (
    count_parameters,
    flops_per_input,
    inference_latency,
    measure_cost,
    peak_memory,
)


def _conv_linear(
    c_in: int, c_out: int, k: int, stride: int, length: int, n_out: int
) -> nn.Sequential:
    l_out = (length - k) // stride + 1
    return nn.Sequential(
        nn.Conv1d(c_in, c_out, k, stride=stride), nn.ReLU(), nn.Flatten(),
        nn.Linear(c_out * l_out, n_out),
    )  # fmt: skip


def test_flops_of_a_conv_and_a_linear_layer_are_twice_the_hand_counted_multiply_adds() -> None:
    model = _conv_linear(2, 3, 5, 1, 20, 4)
    # Conv1d(2→3, k 5) on 20 samples: 16 outputs per channel, each 2 × 5 multiply-adds;
    # Linear(48→4): 48 multiply-adds per output. Biases and the ReLU are not counted.
    macs = 3 * 16 * (2 * 5) + 4 * 48
    assert macs == 672
    assert flops_per_input(model, torch.randn(1, 2, 20)) == 2 * macs


@settings(max_examples=25, deadline=None)
@given(
    c_in=st.integers(1, 4), c_out=st.integers(1, 4), k=st.integers(1, 5),
    stride=st.integers(1, 3), extra=st.integers(0, 20), n_out=st.integers(1, 5),
)  # fmt: skip
def test_flops_match_the_hand_count_for_any_conv_and_linear_shape(
    c_in: int, c_out: int, k: int, stride: int, extra: int, n_out: int
) -> None:
    length = k + extra
    l_out = (length - k) // stride + 1
    model = _conv_linear(c_in, c_out, k, stride, length, n_out)
    macs = c_out * l_out * c_in * k + n_out * c_out * l_out
    assert flops_per_input(model, torch.randn(1, c_in, length)) == 2 * macs


def test_attention_is_counted_on_cpu_through_sdpa_and_multihead_attention() -> None:
    # torch's counter has no formula for the fused CPU attention kernels (it counts them 0)
    dim, heads, tokens = 16, 2, 7

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mha = nn.MultiheadAttention(dim, heads, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            attended, _ = self.mha(x, x, x)  # self-attention: eligible for the fast path
            q = attended.view(1, tokens, heads, dim // heads).transpose(1, 2)
            return nn.functional.scaled_dot_product_attention(q, q, q)

    projections = 4 * tokens * dim * dim  # q, k, v and out projections
    attention = 2 * heads * tokens * tokens * (dim // heads)  # scores and weighted values
    macs = projections + 2 * attention  # the MHA core, then the explicit SDPA
    fastpath = torch.backends.mha.get_fastpath_enabled()
    assert flops_per_input(Block(), torch.randn(1, tokens, dim)) == 2 * macs
    assert torch.backends.mha.get_fastpath_enabled() == fastpath


def test_flops_need_a_batch_of_exactly_one() -> None:
    with pytest.raises(ValueError, match=r"batch of one input.*\(2, 2, 20\)"):
        flops_per_input(_conv_linear(2, 3, 5, 1, 20, 4), torch.randn(2, 2, 20))


def test_parameters_are_the_hand_count_and_trainable_ones_exclude_frozen() -> None:
    model = _conv_linear(2, 3, 5, 1, 20, 4)
    conv, linear = 3 * 2 * 5 + 3, 48 * 4 + 4
    assert count_parameters(model) == conv + linear == 229
    model[0].requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == linear


def test_latency_is_positive_per_ecg_and_training_flags_come_back() -> None:
    model = _conv_linear(2, 3, 5, 1, 20, 4)
    model.train()
    model[0].eval()  # a frozen part kept in eval inside a training model
    latency = inference_latency(model, torch.randn(1, 2, 20), repeats=2)
    assert set(latency) == {1, 64}
    assert all(math.isfinite(s) and s > 0 for s in latency.values())
    assert [m.training for m in model] == [False, True, True, True]
    assert model.training


def test_latency_refuses_a_batch_and_bad_repeats() -> None:
    model = _conv_linear(2, 3, 5, 1, 20, 4)
    with pytest.raises(ValueError, match="batch of one"):
        inference_latency(model, torch.randn(3, 2, 20))
    with pytest.raises(ValueError, match="repeats=0"):
        inference_latency(model, torch.randn(1, 2, 20), repeats=0)


def test_peak_memory_on_cpu_is_the_process_peak_rss_in_bytes() -> None:
    before, kind = peak_memory(torch.device("cpu"))
    assert kind == "process_peak_rss"
    block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
    after, _ = peak_memory(torch.device("cpu"))
    assert after >= max(before, block.numel() * 4)  # bytes, not KiB


def test_a_built_resnet1d_costs_its_conv_and_linear_multiply_adds() -> None:
    spec = get_host().registries.models.get("resnet1d")
    recipe = spec.input.recipe
    assert recipe is not None
    built = spec.build(
        num_classes=2, profile="quick", input_size=spec.input_size(112), weights="random"
    )
    module = built.module
    macs: list[int] = []  # an independent count: forward hooks on every conv and linear

    def hook(layer: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        if isinstance(layer, nn.Conv1d):
            macs.append(out.numel() * layer.in_channels // layer.groups * layer.kernel_size[0])
        elif isinstance(layer, nn.Linear):
            macs.append(out.numel() * layer.in_features)

    handles = [m.register_forward_hook(hook) for m in module.modules()]
    example = torch.randn(1, len(recipe.leads), recipe.n_samples)  # 12 × 5,000: one record
    cost = measure_cost(module, example, "cpu", batch_sizes=(1, 2), repeats=1, warmup=0)
    for handle in handles:
        handle.remove()
    n_forward = 1 + 2 * 1  # the FLOP count, then one timed pass at batch 1 and at batch 2
    per_ecg = sum(macs) / (1 + 1 + 2)  # every ECG the hooks saw
    assert len(macs) % n_forward == 0
    assert cost.gflops_per_ecg == pytest.approx(2 * per_ecg / 1e9, rel=1e-12)
    assert cost.gflops_per_ecg > 0.1  # 0.19 GFLOPs: the quick xresnet1d on 10 s at 500 Hz
    assert cost.params == sum(p.numel() for p in module.parameters()) == cost.trainable_params
    record = cost.to_dict()
    assert json.loads(json.dumps(record)) == record
    assert set(record["latency_s_per_ecg"]) == {"1", "2"}
    assert record["device"] == "cpu" and record["peak_memory_bytes"] > 0
    # the load the timings ran under, so a reader can tell a shared machine's latencies
    assert record["load_average_1m"] == pytest.approx(os.getloadavg()[0], abs=1.0)
    assert record["cpu_count"] == os.cpu_count()


@pytest.mark.parametrize("protocol", ["finetune-attn", "frozen-attn"])
def test_flops_count_through_an_attention_pooling_head(protocol) -> None:
    """The attention protocols pass a learned query (a parameter) into their attention
    layer; counting must still work, and the head adds FLOPs on top of the encoder's."""
    from bench.api import get_host
    from bench.training.heads import protocol_model

    spec = get_host().registries.models.get("resnet1d")
    x = torch.randn(1, 12, spec.input.input_size(64) * 2)
    build = {"num_classes": 2, "profile": "quick", "input_size": spec.input.input_size(64)}
    plain = spec.build(**build, weights="random")
    wrapped = protocol_model(spec.build(**build, weights="random"), spec, protocol, 2, x, ())
    assert flops_per_input(wrapped.module, x) > flops_per_input(plain.module, x) > 0
