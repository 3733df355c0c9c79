"""ECGFounder's loader cannot load wrong: the released layouts load, everything else is
refused in one line naming the file and what is wrong."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from bench.plugins.ecgfounder.builder import PROFILES, EcgFounder, read_state
from bench.plugins.ecgfounder.net1d import config_from_state
from safetensors.torch import save_file

from bench.api import CheckpointError

from .fixtures import checkpoint, embeddings, reference


def _build(host, model: str, weights: Path | str):
    spec = host.registries.models.get(model)
    return spec, spec.build(num_classes=2, profile="paper", input_size=5000, weights=str(weights))


def _state() -> dict[str, torch.Tensor]:
    return read_state(checkpoint("ecgfounder"))


@pytest.mark.parametrize("layout", ["bare", "dataparallel", "safetensors"])
def test_other_layouts_of_the_same_weights_load_the_same(host, tmp_path: Path, layout) -> None:
    state = _state()
    if layout == "safetensors":
        path = tmp_path / "w.safetensors"
        save_file(state, str(path))
    else:
        path = tmp_path / "w.pth"
        prefix = "module." if layout == "dataparallel" else ""
        torch.save({prefix + k: v for k, v in state.items()}, path)
    spec, built = _build(host, "ecgfounder", path)
    expected = reference("ecgfounder", "eval", "embeddings")
    np.testing.assert_allclose(embeddings(spec, built.module), expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("drop", "missing from checkpoint (1): stage_list.2.block_list.1.conv2.conv.weight"),
        ("extra", "unexpected in checkpoint (1): stage_list.2.block_list.1.extra"),
        ("shape", "shape mismatch"),
    ],
)
def test_a_checkpoint_that_does_not_fit_is_refused_naming_the_keys(
    host, tmp_path: Path, edit: str, message: str
) -> None:
    state = _state()
    key = "stage_list.2.block_list.1.conv2.conv.weight"
    if edit == "drop":
        del state[key]
    elif edit == "extra":
        state["stage_list.2.block_list.1.extra"] = torch.zeros(1)
    else:
        state["stage_list.2.block_list.1.se_fc1.bias"] = torch.zeros(3)
    path = tmp_path / "bad.pth"
    torch.save({"state_dict": state}, path)
    with pytest.raises(CheckpointError) as info:
        _build(host, "ecgfounder", path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_a_file_needing_full_unpickling_is_refused_in_one_line(host, tmp_path: Path) -> None:
    """numpy scalars (the authors' ``val_auroc``) are allow-listed; any other object is not."""
    path = tmp_path / "trusting.pth"
    torch.save({"state_dict": _state(), "args": argparse.Namespace(lr=1e-4)}, path)
    with pytest.raises(CheckpointError) as info:
        _build(host, "ecgfounder", path)
    text = str(info.value)
    assert "\n" not in text and text.startswith(f"{path}: cannot read as a weights-only")
    assert "argparse.Namespace" in text and "needs full unpickling" in text
    assert "bench convert-weights MODEL trusting.pth OUT.safetensors --trust-checkpoint" in text


def test_the_wrong_variant_is_named(host) -> None:
    with pytest.raises(CheckpointError, match=r"a 1-lead checkpoint.*use --model ecgfounder-1lead"):
        _build(host, "ecgfounder", checkpoint("ecgfounder-1lead"))
    with pytest.raises(CheckpointError, match=r"a 12-lead checkpoint.*use --model ecgfounder$"):
        _build(host, "ecgfounder-1lead", checkpoint("ecgfounder"))


@pytest.mark.parametrize("content", [b"not a zip", None])
def test_unreadable_or_absent_files_are_errors(host, tmp_path: Path, content) -> None:
    path = tmp_path / "x.pth"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=str(path)) as info:
        _build(host, "ecgfounder", path)
    assert "\n" not in str(info.value)


def test_a_non_net1d_state_dict_is_refused(host, tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"state_dict": {"encoder.weight": torch.zeros(2)}}, path)
    with pytest.raises(CheckpointError, match=r"not a Net1D .*first_conv\.conv\.weight"):
        _build(host, "ecgfounder", path)


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("leads", [1, 12])
def test_the_architecture_is_read_back_from_its_state_dict(profile: str, leads: int) -> None:
    config = replace(PROFILES[profile], in_channels=leads)
    assert config_from_state(EcgFounder(config, 150).state_dict()) == config


def test_random_init_is_the_released_architecture(host) -> None:
    """30.8 M parameters with the 150-class head, as ModelMeta says."""
    spec = host.registries.models.get("ecgfounder")
    built = spec.build(num_classes=150, profile="paper", input_size=5000, weights="random")
    assert built.init == "random" and built.arch == "Net1D (ECGFounder)"
    assert round(built.config["params_m"], 1) == spec.meta.paper_params_m == 30.8
