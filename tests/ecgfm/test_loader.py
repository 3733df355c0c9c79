"""Loading fairseq-signals ECG-FM checkpoints that the tests write in the published layout."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from bench.plugins.ecgfm.loader import (
    config_from_cfg,
    converted,
    fold_weight_norm,
    load_encoder,
    read_checkpoint,
    safe_eval_layers,
)
from bench.plugins.ecgfm.model import EcgFmConfig, EcgFmEncoder, count_parameters
from bench.plugins.ecgfm.wcr import Wav2Vec2Cmsc, WcrConfig
from hypothesis import given
from hypothesis import strategies as st

from bench.weights.checkpoints import CheckpointError, read_metadata, save_state_dict_file

from .fixtures import TINY, TINY_CFG, write_checkpoint

X = torch.randn(2, 12, 400, generator=torch.Generator().manual_seed(3))


def _expected(model: Wav2Vec2Cmsc) -> torch.Tensor:
    """encoder_out of the source model itself (weight norm live, as in fairseq)."""
    with torch.no_grad():
        return EcgFmEncoder.forward(model, X)


@pytest.mark.parametrize("layout", ["pretrained", "finetuned"])
@pytest.mark.parametrize("old_weight_norm", [True, False], ids=["weight_g_v", "parametrizations"])
def test_loads_both_layouts_and_computes_the_same_encoder_output(
    tmp_path: Path, tiny_model: Wav2Vec2Cmsc, layout: str, old_weight_norm: bool
) -> None:
    path = write_checkpoint(
        tmp_path / "ckpt.pt", tiny_model, layout, old_weight_norm=old_weight_norm
    )
    loaded = read_checkpoint(path)
    assert loaded.config == EcgFmConfig().replace(**{k: getattr(TINY, k) for k in (
        "conv_layers", "embed_dim", "layers", "heads", "ffn_dim", "conv_pos", "conv_pos_groups")})  # fmt: skip
    assert set(loaded.head) == ({"weight", "bias"} if layout == "finetuned" else set())
    if layout == "pretrained":
        assert "mask_emb" in loaded.dropped and any(
            k.startswith("quantizer.") for k in loaded.dropped
        )
    encoder = load_encoder(path, TINY).eval()
    torch.testing.assert_close(encoder(X), _expected(tiny_model), atol=1e-5, rtol=1e-5)


def test_weight_norm_fold_matches_torch_parametrization() -> None:
    conv = torch.nn.Conv1d(32, 32, 8, groups=4)
    normed = torch.nn.utils.parametrizations.weight_norm(conv, dim=2)
    with torch.no_grad():
        normed.parametrizations.weight.original0.mul_(torch.rand(1, 1, 8) + 0.5)
    g = normed.parametrizations.weight.original0
    v = normed.parametrizations.weight.original1
    assert g.shape == (1, 1, 8)
    torch.testing.assert_close(fold_weight_norm(g, v, dim=2), normed.weight, atol=1e-7, rtol=1e-6)
    # the norm is per kernel position (dims 0 and 1), not over the whole tensor
    assert not torch.allclose(fold_weight_norm(g, v, dim=0), normed.weight)


def test_released_architecture_has_90_883_072_parameters() -> None:
    with torch.device("meta"):
        model = Wav2Vec2Cmsc(EcgFmConfig(), WcrConfig())
    assert count_parameters(model) == 90_883_072
    names = dict(model.named_parameters())
    assert names["conv_pos.pos_conv.0.parametrizations.weight.original1"].shape == (768, 48, 128)
    assert names["quantizer.vars"].shape == (1, 640, 128)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("layer_norm_first", True),
        ("extractor_mode", "layer_norm"),
        ("quantize_input", True),
        ("_name", "wav2vec2_seq2seq"),
    ],
)
def test_unsupported_config_is_an_error_naming_the_field(
    tmp_path: Path, tiny_model: Wav2Vec2Cmsc, field: str, value: object
) -> None:
    path = write_checkpoint(tmp_path / "bad.pt", tiny_model, cfg_overrides={field: value})
    with pytest.raises(CheckpointError, match=rf"bad\.pt: cfg\['model'\]\.{field} is"):
        read_checkpoint(path)


def test_strict_load_names_missing_and_unexpected_keys(
    tmp_path: Path, tiny_model: Wav2Vec2Cmsc
) -> None:
    path = write_checkpoint(tmp_path / "ckpt.pt", tiny_model)
    checkpoint = torch.load(path, weights_only=True)
    del checkpoint["model"]["encoder.layers.1.fc1.bias"]
    checkpoint["model"]["encoder.extra.weight"] = torch.zeros(1)
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError, match=r"encoder\.layers\.1\.fc1\.bias.*encoder\.extra"):
        load_encoder(path)


def test_architecture_comes_from_cfg_and_shapes_are_checked(
    tmp_path: Path, tiny_model: Wav2Vec2Cmsc
) -> None:
    path = write_checkpoint(
        tmp_path / "ckpt.pt", tiny_model, cfg_overrides={"encoder_ffn_embed_dim": 48}
    )
    with pytest.raises(CheckpointError, match=r"fc1\.weight: checkpoint 64x32 vs model 48x32"):
        load_encoder(path)


class Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("code ran",))


def test_pickles_with_code_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    with open(path, "wb") as handle:
        pickle.dump({"model": {}, "cfg": Evil()}, handle)
    with pytest.raises(CheckpointError, match="cannot read as a torch file"):
        read_checkpoint(path)


def test_not_a_fairseq_checkpoint(tmp_path: Path) -> None:
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="expected keys 'model' and 'cfg'"):
        read_checkpoint(tmp_path / "other.pt")


def test_convert_writes_an_encoder_only_safetensors(
    tmp_path: Path, tiny_model: Wav2Vec2Cmsc
) -> None:
    src = write_checkpoint(tmp_path / "ckpt.pt", tiny_model)
    dst = tmp_path / "enc.safetensors"
    state, metadata = converted(src)
    save_state_dict_file(state, dst, metadata)
    config = EcgFmConfig.from_json(read_metadata(dst)["ecgfm.config"])
    assert len(state) == len(EcgFmEncoder(config).state_dict())
    encoder = load_encoder(dst, TINY).eval()
    torch.testing.assert_close(encoder(X), _expected(tiny_model), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[(256, 2, 2)] * 4", [(256, 2, 2)] * 4),
        (
            "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] * 2",
            [(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512, 2, 2)] * 2,
        ),
        ("2 * [(8, 2, 2)]", [(8, 2, 2)] * 2),
    ],
)
def test_safe_evaluator_accepts_layer_lists(
    text: str, expected: list[tuple[int, int, int]]
) -> None:
    assert safe_eval_layers(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('echo hi')",
        "[(256, 2, 2)] * n",
        "[(256, 2, 2)].__class__",
        "[(256, 2, 2)] * 2.0",
        "[(256, 2, 2)] ** 2",
        "[(256, 2)] * 4",
        "[(256, 2, 2)] * 4 if True else []",
        "[(256, 2, -2)]",
        "[(256, 2, 2)",
    ],
)
def test_safe_evaluator_rejects_anything_else(text: str) -> None:
    with pytest.raises(CheckpointError, match="conv_feature_layers"):
        safe_eval_layers(text)


@given(st.lists(st.tuples(*(st.integers(1, 512),) * 3), min_size=1, max_size=6), st.integers(1, 5))
def test_safe_evaluator_round_trips_repr(layers: list[tuple[int, int, int]], times: int) -> None:
    assert safe_eval_layers(f"{layers!r} * {times}") == layers * times


def test_config_defaults_are_the_released_architecture() -> None:
    config = config_from_cfg({"_name": "wav2vec2_cmsc"})
    assert config == EcgFmConfig() and config.frames(2500) == 156
    assert TINY_CFG["encoder_embed_dim"] == TINY.embed_dim
