"""ECG-JEPA's loader cannot load wrong: the authors' layouts load, everything else is refused
in one line naming the file and what is wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from bench.plugins.ecg_jepa.builder import PROFILES, read_checkpoint
from bench.plugins.ecg_jepa.model import EcgJepaConfig, EcgJepaEncoder, config_from_state
from safetensors.torch import save_file

from bench.api import CheckpointError

from .fixtures import CHECKPOINT, build, embeddings, reference


def _state() -> dict[str, torch.Tensor]:
    return read_checkpoint(CHECKPOINT)[0]


@pytest.mark.parametrize("layout", ["bare", "dataparallel", "safetensors"])
def test_other_layouts_of_the_same_weights_load_the_same(host, tmp_path: Path, layout) -> None:
    """A bare state dict, a DataParallel prefix and safetensors give the authors'
    embeddings, as the released ``{'encoder': …, 'epoch': …}`` file does."""
    state = _state()
    path = tmp_path / ("w.safetensors" if layout == "safetensors" else "w.pth")
    if layout == "bare":
        torch.save(state, path)
    elif layout == "dataparallel":
        torch.save({"encoder": {f"module.{k}": v for k, v in state.items()}, "epoch": 1}, path)
    else:
        save_file(state, str(path))
    spec, built = build(host, path)
    np.testing.assert_allclose(
        embeddings(spec, built.module), reference(250, "embeddings"), atol=1e-4, rtol=0
    )


def test_a_wrong_size_or_wrong_lead_encoder_is_refused(host, tmp_path: Path) -> None:
    """(Files of other models: tests/model_zoo.)"""
    path = tmp_path / "other.pth"
    state = _state()
    state["pos_embed"] = torch.zeros(410, 32)
    torch.save({"encoder": state}, path)
    with pytest.raises(CheckpointError, match=r"not an ECG-JEPA encoder .*410 rows"):
        build(host, path)
    state["pos_embed"] = torch.zeros(12 * 50, 32)
    torch.save({"encoder": state}, path)
    with pytest.raises(CheckpointError, match=r"12 leads x 2500 samples, but ecg-jepa takes 8"):
        build(host, path)


@pytest.mark.parametrize("config", [*PROFILES.values(), EcgJepaConfig(width=32, depth=3)])
def test_the_architecture_is_read_back_from_its_state_dict(config: EcgJepaConfig) -> None:
    state = EcgJepaEncoder(config, 10).state_dict()
    assert config_from_state(state, config.heads) == config


def test_random_init_is_the_released_architecture(host) -> None:
    """Width 768, 12 blocks, 16 heads: 85.4 M parameters without the head, as ModelMeta
    says; the licence is shown."""
    spec = host.registries.models.get("ecg-jepa")
    built = spec.build(num_classes=5, profile="paper", input_size=2500, weights="random")
    assert built.init == "random" and built.arch == "ViT-B/50 (ECG-JEPA)"
    encoder = sum(p.numel() for k, p in built.module.named_parameters() if k[:5] != "head.")
    assert round(encoder / 1e6, 1) == spec.meta.paper_params_m == 85.4
    assert spec.meta.licence.startswith("MIT")
    assert spec.meta.pretrained_on == ("chapman", "code15")


def test_a_converted_file_records_the_head_count_it_builds(host, tmp_path: Path) -> None:
    """The shapes do not give the head count: a converted file's ``heads`` metadata does
    (``bench convert-weights ecg-jepa`` writes it; its round trip: tests/model_zoo)."""
    other = tmp_path / "heads4.safetensors"
    save_file(_state(), str(other), metadata={"heads": "4"})
    spec, built = build(host, other)
    assert built.config["architecture"]["heads"] == 4
    assert np.abs(embeddings(spec, built.module) - reference(250, "embeddings")).max() > 1e-3
