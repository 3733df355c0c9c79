"""ECG-CPC's loader cannot load wrong: the authors' layouts load, everything else is refused in
one line naming the file and what is wrong."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch
from bench.plugins.ecg_cpc.builder import PROFILES, read_checkpoint
from bench.plugins.ecg_cpc.model import EcgCpc, EcgCpcConfig, config_from_state
from click.testing import CliRunner
from safetensors.torch import save_file

from bench.api import CheckpointError

from .fixtures import CHECKPOINT, build, reference_windows, window_embeddings

S4 = "ts_encoder.predictor.predictor.s4_layers"


def _lightning() -> dict:
    return torch.load(CHECKPOINT, weights_only=True)


@pytest.mark.parametrize("layout", ["bare", "safetensors", "with-cpc-head"])
def test_other_layouts_of_the_same_weights_load_the_same(host, tmp_path: Path, layout) -> None:
    """A bare state dict, safetensors, and a Lightning file that also holds the CPC head
    (``ts_encoder.head_ssl``): upstream's embeddings."""
    state = _lightning()["state_dict"]
    path = tmp_path / ("w.safetensors" if layout == "safetensors" else "w.ckpt")
    if layout == "bare":
        torch.save(state, path)
    elif layout == "safetensors":
        save_file(state, str(path))
    else:
        head = {"ts_encoder.head_ssl.layers.0.weight": torch.zeros(32, 32)}
        torch.save({"state_dict": {**state, **head}, "epoch": 3}, path)
    spec, built = build(host, path)
    np.testing.assert_allclose(
        window_embeddings(spec, built.module), reference_windows(), atol=1e-4, rtol=0
    )


def test_the_released_zip_loads_its_checkpoint_and_names_a_wrong_one(host, tmp_path: Path) -> None:
    """The figshare zip layout (a Hydra YAML beside the Lightning checkpoint): its checkpoint
    loads; a zip without exactly one checkpoint, or with a wrong one, is refused naming it."""
    import zipfile

    path = tmp_path / "ECG-CPC_Checkpoint.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("cpc/config_last_ckpt.yaml", "trainer:\n  pretrained: last.ckpt\n")
        archive.write(CHECKPOINT, "cpc/last.ckpt")
    spec, built = build(host, path)
    np.testing.assert_allclose(
        window_embeddings(spec, built.module), reference_windows(), atol=1e-4, rtol=0
    )
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("config.yaml", "a: 1\n")
    with pytest.raises(CheckpointError, match=r"empty\.zip: expected one checkpoint .* found none"):
        build(host, empty)
    wrong = tmp_path / "wrong.zip"
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"model.weight": torch.zeros(2)}}, other)
    with zipfile.ZipFile(wrong, "w") as archive:
        archive.write(other, "x/last.ckpt")
    with pytest.raises(CheckpointError) as info:
        build(host, wrong)
    assert str(info.value).startswith(f"{wrong}!x/last.ckpt: no ts_encoder.* keys")


def test_a_file_needing_full_unpickling_converts_when_trusted(cli, host, tmp_path: Path) -> None:
    """A Lightning file whose ``hyper_parameters`` hold objects (the released one holds
    OmegaConf's; refused: tests/model_zoo): ``convert-weights --trust-checkpoint`` converts
    it once into a file of the encoder's keys that loads."""
    path, dst = tmp_path / "trusting.ckpt", tmp_path / "converted.safetensors"
    ckpt = _lightning()
    ckpt["hyper_parameters"] = argparse.Namespace(lr=1e-4)
    torch.save(ckpt, path)
    args = ["convert-weights", "ecg-cpc", str(path), str(dst), "--trust-checkpoint"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert read_checkpoint(dst).keys() == _lightning()["state_dict"].keys()
    spec, built = build(host, dst)
    np.testing.assert_allclose(
        window_embeddings(spec, built.module), reference_windows(), atol=1e-4, rtol=0
    )


def test_a_wrong_size_or_wrong_lead_encoder_is_refused(host, tmp_path: Path) -> None:
    """(Files of other models: tests/model_zoo.)"""
    path = tmp_path / "other.ckpt"
    state = _lightning()["state_dict"]
    torch.save({k.replace(f"{S4}.1.", f"{S4}.2."): v for k, v in state.items()}, path)
    with pytest.raises(
        CheckpointError, match=r"not an ECG-CPC encoder .*S4 layer indices \[0, 2\]"
    ):
        build(host, path)
    state = _lightning()["state_dict"]
    state["ts_encoder.encoder.layers.0.0.weight"] = torch.zeros(32, 8, 3)
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"an encoder of 8 leads, but ecg-cpc takes 12"):
        build(host, path)


SMALL = EcgCpcConfig(features=(16,) * 4, width=16, state_dim=4, layers=3, kernel_length=64)


@pytest.mark.parametrize("config", [*PROFILES.values(), SMALL])
def test_the_architecture_is_read_back_from_its_state_dict(config: EcgCpcConfig) -> None:
    state = EcgCpc(config, 10).ts_encoder.state_dict()
    assert config_from_state(state) == config


def test_random_init_is_the_released_architecture(host) -> None:
    """Four conv blocks and four S4 layers of width 512 and state 8: 2.9 M parameters without
    the head, as ModelMeta says; the licence and corpus are declared."""
    spec = host.registries.models.get("ecg-cpc")
    built = spec.build(num_classes=5, profile="paper", input_size=600, weights="random")
    assert built.init == "random" and built.arch == "CPC conv + 4x S4 (ECG-CPC)"
    encoder = sum(p.numel() for k, p in built.module.named_parameters() if k[:5] != "head.")
    assert round(encoder / 1e6, 1) == spec.meta.paper_params_m == 2.9
    assert spec.meta.licence.startswith("unspecified")
    assert spec.meta.pretrained_on == ("heedb",)
    with pytest.raises(ValueError, match="600-sample windows"):
        spec.build(num_classes=5, profile="paper", input_size=2500, weights="random")
