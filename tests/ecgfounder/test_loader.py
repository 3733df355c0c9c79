"""ECGFounder's loader cannot load wrong: the released layouts load, everything else is
refused in one line naming the file and what is wrong."""

from __future__ import annotations

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


def test_numpy_scalars_of_the_authors_checkpoint_are_allowed(host, tmp_path: Path) -> None:
    """The authors' ``save_checkpoint`` stores ``val_auroc`` as a ``numpy.float64``: it is
    allow-listed, and the file loads weights-only (any other object is refused:
    tests/model_zoo)."""
    path = tmp_path / "released.pth"
    torch.save({"state_dict": _state(), "val_auroc": np.float64(0.9), "epoch": 3}, path)
    _, built = _build(host, "ecgfounder", path)
    assert built.init == "file"


def test_the_wrong_variant_is_named(host) -> None:
    with pytest.raises(CheckpointError, match=r"a 1-lead checkpoint.*use --model ecgfounder-1lead"):
        _build(host, "ecgfounder", checkpoint("ecgfounder-1lead"))
    with pytest.raises(CheckpointError, match=r"a 12-lead checkpoint.*use --model ecgfounder$"):
        _build(host, "ecgfounder-1lead", checkpoint("ecgfounder"))


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
