"""ECGFM-KED's loader cannot load wrong: the authors' layouts load, everything else is
refused in one line naming the file and what is wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from bench.plugins.ecgfm_ked.builder import PROFILES, EcgfmKed, read_state
from bench.plugins.ecgfm_ked.xresnet1d import XResNet1d, config_from_state
from safetensors.torch import save_file

from bench.api import CheckpointError

from .fixtures import CHECKPOINT, build, embeddings, reference, upstream_resampled


def _state() -> dict[str, torch.Tensor]:
    return read_state(CHECKPOINT)


def test_only_the_encoder_of_the_training_checkpoint_is_taken() -> None:
    """``save_obj`` also holds the TQN decoder under ``model`` and the text encoder:
    neither is read as the encoder."""
    state = _state()
    assert "0.0.weight" in state and "4.0.convs.0.0.weight" in state
    assert not any(k.startswith(("decoder.", "bert_model.")) for k in state)


@pytest.mark.parametrize("layout", ["bare", "dataparallel", "safetensors"])
def test_other_layouts_of_the_same_weights_load_the_same(host, tmp_path: Path, layout) -> None:
    """The encoder's bare ``state_dict``, a DataParallel prefix and safetensors (which
    stores the ``convs``/``convpath`` aliases once each) give the same embeddings."""
    state = _state()
    path = tmp_path / ("w.safetensors" if layout == "safetensors" else "w.pt")
    if layout == "bare":
        torch.save(state, path)
    elif layout == "dataparallel":
        torch.save({"ecg_model": {f"module.{k}": v for k, v in state.items()}}, path)
    else:
        save_file({k: v.clone().contiguous() for k, v in state.items()}, str(path))
    spec, built = build(host, path)
    ours = embeddings(spec, built.module, upstream_resampled(spec))
    np.testing.assert_allclose(ours, reference(), atol=1e-4, rtol=0)


def test_a_training_checkpoint_without_weights_is_refused(host, tmp_path) -> None:
    """(Files of other models: tests/model_zoo.)"""
    path = tmp_path / "other.pt"
    torch.save({"ecg_model": "not weights"}, path)
    with pytest.raises(CheckpointError, match="expected the encoder's state_dict"):
        build(host, path)


def test_a_1_lead_encoder_is_refused(host, tmp_path: Path) -> None:
    module = XResNet1d(PROFILES["quick"].__class__(in_channels=1, **_small()))
    path = tmp_path / "one_lead.pt"
    torch.save({"ecg_model": module.state_dict()}, path)
    with pytest.raises(CheckpointError, match="a 1-lead checkpoint, but ecgfm-ked takes"):
        build(host, path)


def test_aliases_that_disagree_are_refused(host, tmp_path: Path) -> None:
    """``convs`` and its ``convpath.0`` alias are one tensor upstream; a file where they
    differ is edited or corrupt, and which one wins would be arbitrary."""
    state = _state()
    state["5.1.convpath.0.0.0.weight"] = state["5.1.convs.0.0.weight"] + 1
    path = tmp_path / "split.pt"
    torch.save({"ecg_model": state}, path)
    with pytest.raises(CheckpointError, match=r"5\.1\.convpath\.0\.0\.0\.weight differs"):
        build(host, path)


def _small() -> dict:
    quick = PROFILES["quick"]
    return {"stem": quick.stem, "widths": quick.widths, "blocks": quick.blocks}


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_profiles_read_back_from_their_state(profile: str) -> None:
    """The released xresnet1d101 (7.87 M encoder parameters, 1,224 state keys as
    upstream's) and the CPU one round-trip through :func:`config_from_state`."""
    module = EcgfmKed(PROFILES[profile], 2)
    assert config_from_state(module.encoder.state_dict()) == PROFILES[profile]
    if profile == "paper":
        assert sum(p.numel() for p in module.encoder.parameters()) == 7_865_984
        assert len(module.encoder.state_dict()) == 1224


def test_random_weights_build_the_profile(host) -> None:
    _, built = build(host, "random", profile="quick")
    assert built.init == "random" and built.config["architecture"]["widths"] == (16, 32, 32, 48)
