"""MERL's loader cannot load wrong: the authors' layouts load, everything else is refused
in one line naming the file and what is wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from bench.plugins.merl.builder import PROFILES, Merl, read_state
from bench.plugins.merl.resnet1d import ResNetConfig, config_from_state
from safetensors.torch import save_file

from bench.api import CheckpointError

from .fixtures import build, checkpoint, embeddings, reference


def _state() -> dict[str, torch.Tensor]:
    return read_state(checkpoint())


@pytest.mark.parametrize("layout", ["whole-model", "dataparallel", "nested", "safetensors"])
def test_other_layouts_of_the_same_weights_load_the_same(host, tmp_path: Path, layout) -> None:
    """The whole pretrained model (``ECGCLIP.state_dict()``: the encoder under
    ``ecg_encoder.`` beside the projection heads and the text model), a DataParallel
    prefix, a ``state_dict`` nesting and safetensors give the encoder's embeddings."""
    state = _state()
    path = tmp_path / ("w.safetensors" if layout == "safetensors" else "w.pth")
    if layout == "whole-model":
        whole = {f"ecg_encoder.{k}": v for k, v in state.items()}
        whole["downconv.weight"] = torch.zeros(256, 512, 1)
        whole["lm_model.embeddings.word_embeddings.weight"] = torch.zeros(4, 768)
        torch.save(whole, path)
    elif layout == "dataparallel":
        torch.save({f"module.{k}": v for k, v in state.items()}, path)
    elif layout == "nested":
        torch.save({"state_dict": state}, path)
    else:
        save_file(state, str(path))
    spec, built = build(host, path)
    expected = reference("resnet18", "embeddings")
    np.testing.assert_allclose(embeddings(spec, built.module), expected, atol=1e-4, rtol=0)


def test_the_head_may_differ_or_be_absent(host, tmp_path: Path) -> None:
    state = {k: v for k, v in _state().items() if not k.startswith("linear.")}
    path = tmp_path / "headless.pth"
    torch.save(state, path)
    spec, built = build(host, path, num_classes=3)
    assert built.module.linear.out_features == 3
    expected = reference("resnet18", "embeddings")
    np.testing.assert_allclose(embeddings(spec, built.module), expected, atol=1e-4, rtol=0)


def test_a_wrong_lead_encoder_is_refused(host, tmp_path: Path) -> None:
    """(Files of other models: tests/model_zoo.)"""
    path = tmp_path / "other.pth"
    state = _state()
    state["conv1.weight"] = state["conv1.weight"][:, :1]
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"a 1-lead checkpoint, but merl takes the 12"):
        build(host, path)


@pytest.mark.parametrize(
    "config",
    [*PROFILES.values(), ResNetConfig(widths=(4, 8, 16, 32), blocks=(3, 4, 6, 3))],
)
def test_the_architecture_is_read_back_from_its_state_dict(config: ResNetConfig) -> None:
    assert config_from_state(Merl(config, 10).state_dict()) == config


def test_random_init_is_the_released_architecture(host) -> None:
    """3.85 M parameters with the authors' default 10-class head, as ModelMeta says."""
    spec = host.registries.models.get("merl")
    built = spec.build(num_classes=10, profile="paper", input_size=5000, weights="random")
    assert built.init == "random" and built.arch == "ResNet18-1D (MERL)"
    assert round(built.config["params_m"], 2) == spec.meta.paper_params_m == 3.85
