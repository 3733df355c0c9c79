"""The ECG-FM forward pass against a step-by-step functional reference: each forward-order
point has a test that fails when the implementation does it the other way."""

from __future__ import annotations

import pytest
import torch
from bench.plugins.ecgfm.loader import normalise_state
from bench.plugins.ecgfm.model import EcgFmClassifier, EcgFmEncoder, masked_mean
from bench.plugins.ecgfm.wcr import Wav2Vec2Cmsc

from bench.training.segments import RecordRule

from .fixtures import TINY
from .reference import Variant, reference_encoder

SAMPLES = 400


@pytest.fixture
def encoder(tiny_model: Wav2Vec2Cmsc) -> EcgFmEncoder:
    encoder_state, _, _ = normalise_state(tiny_model.state_dict())
    module = EcgFmEncoder(TINY)
    module.load_state_dict(encoder_state, strict=True)
    return module.eval()


@pytest.fixture
def signal() -> torch.Tensor:
    return torch.randn(3, 12, SAMPLES, generator=torch.Generator().manual_seed(1))


def _reference(encoder: EcgFmEncoder, x: torch.Tensor, variant: Variant) -> torch.Tensor:
    return reference_encoder(encoder.state_dict(), TINY, x, variant)


def test_matches_the_published_code_path(encoder: EcgFmEncoder, signal: torch.Tensor) -> None:
    with torch.no_grad():
        out = encoder(signal)
    assert out.shape == (3, TINY.frames(SAMPLES), TINY.embed_dim)
    torch.testing.assert_close(out, _reference(encoder, signal, Variant()), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "wrong",
    [
        Variant(gelu_before_group_norm=True),  # block 0: GroupNorm must come before GELU
        Variant(encoder_norm_after_layers=True),  # encoder.layer_norm BEFORE the layers
        Variant(gelu_after_pos_conv=False),  # GELU after the positional conv
        Variant(same_pad_drops_last=False),  # SamePad removes the LAST frame
        Variant(pre_ln_layers=True),  # post-LN layers (layer_norm_first=False)
        Variant(q_scale_by_embed_dim=True),  # q scaled by head_dim ** -0.5
    ],
    ids=[
        "gelu-before-gn",
        "norm-after-layers",
        "no-pos-gelu",
        "samepad-first",
        "pre-ln",
        "q-scale",
    ],
)
def test_each_wrong_order_gives_another_output(
    encoder: EcgFmEncoder, signal: torch.Tensor, wrong: Variant
) -> None:
    with torch.no_grad():
        out = encoder(signal)
    difference = (out - _reference(encoder, signal, wrong)).abs().max()
    assert difference > 1e-3  # the reference does see this point, so the right test bites


def test_group_norm_runs_in_float32_under_bfloat16(encoder: EcgFmEncoder) -> None:
    norm = encoder.feature_extractor.conv_layers[0][2]
    x = torch.randn(2, 16, 50).bfloat16()
    out = norm(x)
    expected = torch.nn.functional.group_norm(
        x.float(), 16, norm.weight.float(), norm.bias.float()
    ).bfloat16()
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out, expected, atol=0, rtol=0)


def test_pooling_ignores_zeroed_frames() -> None:
    x = torch.randn(2, 6, 4)
    x[0, 4:] = 0  # padded frames
    pooled = masked_mean(x)
    torch.testing.assert_close(pooled[0], x[0, :4].mean(0))
    assert not torch.allclose(pooled[0], x[0].mean(0))


def test_cnn_is_frozen_when_feature_grad_mult_is_zero(signal: torch.Tensor) -> None:
    frozen = EcgFmEncoder(TINY)
    frozen(signal).sum().backward()
    assert frozen.feature_extractor.conv_layers[0][0].weight.grad is None
    trained = EcgFmEncoder(TINY.replace(feature_grad_mult=0.1))
    trained(signal).sum().backward()
    assert trained.feature_extractor.conv_layers[0][0].weight.grad is not None


def _window_logits(model: EcgFmClassifier, x: torch.Tensor) -> torch.Tensor:
    """Each slot scored alone: ``(B, k, outputs)``."""
    slots = x.view(x.shape[0], 12, -1, SAMPLES).transpose(1, 2)
    return torch.stack([model.segment_logits(slots[:, j]) for j in range(slots.shape[1])], 1)


def test_segment_scores_combine_by_mean_and_skip_empty_slots() -> None:
    torch.manual_seed(0)
    model = EcgFmClassifier(TINY, 2, segment_samples=SAMPLES).eval()
    x = torch.randn(2, 12, 3 * SAMPLES)
    x[1, :, 2 * SAMPLES :] = 0  # record 1 filled only two slots
    with torch.no_grad():
        out = model(x).softmax(-1)
        per_segment = _window_logits(model, x).softmax(-1)
    torch.testing.assert_close(out[0], per_segment[0].mean(0))
    torch.testing.assert_close(out[1], per_segment[1, :2].mean(0))


def test_segment_scores_combine_by_max() -> None:
    torch.manual_seed(0)
    model = EcgFmClassifier(TINY, 2, segment_samples=SAMPLES, record_rule=RecordRule(("max",)))
    x = torch.randn(2, 12, 2 * SAMPLES)
    with torch.no_grad():
        out = model.eval()(x).softmax(-1)
        per_segment = _window_logits(model, x).softmax(-1)
    torch.testing.assert_close(out[:, 1], per_segment[..., 1].amax(1))


def test_multilabel_scores_combine_label_by_label() -> None:
    """K sigmoid outputs: each label's record probability is the mean or max of its own
    window probabilities (never a softmax across labels)."""
    torch.manual_seed(0)
    rule = RecordRule(("mean", "max", "mean"), multilabel=True)
    model = EcgFmClassifier(TINY, 3, segment_samples=SAMPLES, record_rule=rule).eval()
    x = torch.randn(2, 12, 2 * SAMPLES)
    x[1, :, SAMPLES:] = 0
    with torch.no_grad():
        out = model(x).sigmoid()
        windows = _window_logits(model, x).sigmoid()
    torch.testing.assert_close(out[0, [0, 2]], windows[0, :, [0, 2]].mean(0))
    torch.testing.assert_close(out[0, 1], windows[0, :, 1].amax(0))
    torch.testing.assert_close(out[1], windows[1, 0])  # one segment: its own scores
    with pytest.raises(ValueError, match="record rule is for a binary task"):
        EcgFmClassifier(TINY, 3, segment_samples=SAMPLES)(x)


def test_tokens_take_one_segment() -> None:
    model = EcgFmClassifier(TINY, 2, segment_samples=SAMPLES).eval()
    assert model.tokens(torch.randn(3, 12, SAMPLES)).shape == (3, TINY.frames(SAMPLES), 32)
    with pytest.raises(ValueError, match="record_tokens"):
        model.tokens(torch.randn(1, 12, 2 * SAMPLES))
