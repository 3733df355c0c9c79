"""ST-MEM's loader cannot load wrong: the authors' layouts load, everything else is refused
in one line naming the file and what is wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from bench.plugins.st_mem.builder import PROFILES, StMem, read_checkpoint
from bench.plugins.st_mem.vit import ViTConfig, config_from_state
from safetensors.torch import save_file

from bench.api import CheckpointError

from .fixtures import CHECKPOINT, build, embeddings, reference


def _state() -> dict[str, torch.Tensor]:
    return read_checkpoint(CHECKPOINT)[0]


@pytest.mark.parametrize("layout", ["encoder", "bare", "dataparallel", "safetensors"])
def test_other_layouts_of_the_same_weights_load_the_same(host, tmp_path: Path, layout) -> None:
    """The released ``encoder.pth`` (no ``head``, the encoder under ``model``), a bare
    state dict, a DataParallel prefix and safetensors give the authors' embeddings."""
    state = _state()
    path = tmp_path / ("w.safetensors" if layout == "safetensors" else "w.pth")
    if layout == "encoder":
        encoder = {k: v for k, v in state.items() if not k.startswith("head.")}
        torch.save({"epoch": 799, "model": encoder, "optimizer": None, "scaler": None,
                    "config": {"model_name": "st_mem_vit_base"}}, path)  # fmt: skip
    elif layout == "bare":
        torch.save(state, path)
    elif layout == "dataparallel":
        torch.save({f"module.{k}": v for k, v in state.items()}, path)
    else:
        save_file(state, str(path))
    spec, built = build(host, path)
    np.testing.assert_allclose(
        embeddings(spec, built.module), reference(250, "embeddings"), atol=1e-4, rtol=0
    )


def test_a_wrong_lead_encoder_is_refused(host, tmp_path: Path) -> None:
    """(Files of other models: tests/model_zoo.)"""
    path = tmp_path / "other.pth"
    state = {k: v for k, v in _state().items() if not k.startswith("lead_embeddings.11")}
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"11 lead embeddings, but st-mem takes the 12"):
        build(host, path)


def test_the_head_count_comes_from_the_files_config(host, tmp_path: Path) -> None:
    """The shapes do not give the head count: the file's ``config.model`` does; one that
    does not fit the qkv projection is refused."""
    path = tmp_path / "w.pth"
    torch.save({"model": _state(), "config": {"model": {"heads": 4, "dim_head": 32}}}, path)
    spec, built = build(host, path)
    assert built.config["architecture"]["heads"] == 4
    assert np.abs(embeddings(spec, built.module) - reference(250, "embeddings")).max() > 1e-3
    torch.save({"model": _state(), "config": {"model": {"heads": 3, "dim_head": 32}}}, path)
    with pytest.raises(CheckpointError, match="heads 3 x dim_head 32 does not fit"):
        build(host, path)


@pytest.mark.parametrize("config", [*PROFILES.values(), ViTConfig(width=64, depth=3, heads=1)])
def test_the_architecture_is_read_back_from_its_state_dict(config: ViTConfig) -> None:
    assert config_from_state(StMem(config, 10).state_dict()) == config


def test_random_init_is_the_released_architecture(host) -> None:
    """ViT-B/75: 85.2 M parameters without the head, as ModelMeta says."""
    spec = host.registries.models.get("st-mem")
    built = spec.build(num_classes=5, profile="paper", input_size=2250, weights="random")
    assert built.init == "random" and built.arch == "ViT-B/75 (ST-MEM)"
    encoder = sum(p.numel() for k, p in built.module.named_parameters() if k[:5] != "head.")
    assert round(encoder / 1e6, 1) == spec.meta.paper_params_m == 85.2
    assert spec.meta.licence.startswith("CC BY-NC 4.0 (non-commercial)")
