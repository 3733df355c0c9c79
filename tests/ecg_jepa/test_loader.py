"""ECG-JEPA's loader cannot load wrong: the authors' layouts load, everything else is refused
in one line naming the file and what is wrong."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from bench.plugins.ecg_jepa.builder import PROFILES, read_checkpoint
from bench.plugins.ecg_jepa.model import EcgJepaConfig, EcgJepaEncoder, config_from_state
from click.testing import CliRunner
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


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("drop", "missing from checkpoint (1): encoder_blocks.blocks.1.norm2.bias"),
        ("extra", "unexpected in checkpoint (1): encoder_blocks.blocks.0.attn.qkv.bias"),
        ("shape", "shape mismatch (1): norm.weight: checkpoint 5 vs model 32"),
    ],
)
def test_a_checkpoint_that_does_not_fit_is_refused_naming_the_keys(
    host, tmp_path: Path, edit: str, message: str
) -> None:
    """An encoder key missing, a key the model lacks (a qkv bias the authors' encoder has
    not) or a mis-shaped one: refused, listed."""
    state = _state()
    if edit == "drop":
        del state["encoder_blocks.blocks.1.norm2.bias"]
    elif edit == "extra":
        state["encoder_blocks.blocks.0.attn.qkv.bias"] = torch.zeros(96)
    else:
        state["norm.weight"] = torch.zeros(5)
    path = tmp_path / "bad.pth"
    torch.save({"encoder": state, "epoch": 0}, path)
    with pytest.raises(CheckpointError) as info:
        build(host, path)
    text = str(info.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text


def test_a_file_needing_full_unpickling_is_refused_in_one_line(host, tmp_path: Path) -> None:
    path = tmp_path / "trusting.pth"
    torch.save({"encoder": _state(), "args": argparse.Namespace(lr=1e-4)}, path)
    with pytest.raises(CheckpointError) as info:
        build(host, path)
    text = str(info.value)
    assert "\n" not in text and text.startswith(f"{path}: ")
    assert "argparse.Namespace, which needs full unpickling" in text


def test_a_non_ecg_jepa_or_wrong_lead_state_dict_is_refused(host, tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match=r"not an ECG-JEPA encoder state_dict \(block"):
        build(host, path)
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


def test_convert_weights_round_trips_the_fixture(cli, host, tmp_path: Path) -> None:
    """``bench convert-weights ecg-jepa``: safetensors with the head count in its metadata
    and a manifest with the licence; it builds the same encoder, and a converted file of
    another head count builds that count."""
    dst = tmp_path / "ecg-jepa.safetensors"
    result = CliRunner().invoke(cli, ["convert-weights", "ecg-jepa", str(CHECKPOINT), str(dst)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "ecg-jepa.safetensors.manifest.json").read_text())
    assert manifest["source_file"] == "tiny.pth" and manifest["licence"].startswith("MIT")
    assert manifest["metadata"]["heads"] == "16"
    spec, built = build(host, dst)
    np.testing.assert_allclose(
        embeddings(spec, built.module), reference(250, "embeddings"), atol=1e-4, rtol=0
    )
    other = tmp_path / "heads4.safetensors"
    save_file(_state(), str(other), metadata={"heads": "4"})
    spec, built = build(host, other)
    assert built.config["architecture"]["heads"] == 4
    assert np.abs(embeddings(spec, built.module) - reference(250, "embeddings")).max() > 1e-3
