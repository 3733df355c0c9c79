"""ModelSpec.build of HeartBEiT: random, file and default (cached, auto-created) weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from bench.plugins.heartbeit.builder import build_heartbeit
from bench.plugins.heartbeit.mim import BeitMIM
from bench.plugins.heartbeit.model import profile_config, saliency_layers, saliency_reshape
from bench.plugins.heartbeit.pretrain import save_mim_checkpoint

from bench.host.specs import PretrainingFacts
from bench.weights.checkpoints import CheckpointError, read_metadata, save_state_dict_file


def test_random_init_is_recorded() -> None:
    built = build_heartbeit(num_classes=2, profile="quick", input_size=32, weights="random")
    assert built.init == "random" and built.weights is None
    assert built.module(torch.rand(2, 3, 32, 32)).shape == (2, 2)


def test_mim_file_loads_backbone(tmp_path: Path) -> None:
    beit = profile_config("quick", 32)
    mim = BeitMIM(beit, vocab_size=8)
    path = tmp_path / "mim.safetensors"
    save_mim_checkpoint(mim, path, {"kind": "mim", "corpus": "synthetic-ecg", **beit.metadata()})
    built = build_heartbeit(num_classes=2, profile="quick", input_size=32, weights=str(path))
    assert built.init == "mim" and built.pretraining == PretrainingFacts(corpus="synthetic-ecg")
    assert torch.equal(built.module.pos_embed, mim.backbone.pos_embed)
    assert built.module.head.out_features == 2


def test_wrong_profile_is_named(tmp_path: Path) -> None:
    beit = profile_config("quick", 32)
    path = tmp_path / "mim.safetensors"
    save_mim_checkpoint(BeitMIM(beit, 8), path, {"kind": "mim", **beit.metadata()})
    with pytest.raises(ValueError, match="does not match the requested"):
        build_heartbeit(num_classes=2, profile="quick", input_size=48, weights=str(path))


def test_foreign_file_lists_offending_keys(tmp_path: Path) -> None:
    path = tmp_path / "other.safetensors"
    save_state_dict_file({"fc.weight": torch.zeros(2, 2)}, path, None)
    with pytest.raises(CheckpointError, match=r"fc\.weight"):
        build_heartbeit(num_classes=2, profile="quick", input_size=32, weights=str(path))


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.safetensors"):
        build_heartbeit(num_classes=2, profile="quick", input_size=32,
                        weights=str(tmp_path / "nope.safetensors"))  # fmt: skip


@pytest.mark.slow  # > 20 s on 2 shared cores
def test_default_weights_are_pretrained_once_and_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("BENCH_PRETRAIN_STEPS", "2")
    built = build_heartbeit(num_classes=2, profile="quick", input_size=64, weights=None)
    assert built.init == "mim"
    path = Path(built.weights or "")
    assert path.parent == tmp_path / "heartbeit" and path.is_file()
    assert read_metadata(path)["steps"] == "2"
    assert "creating one now" in capsys.readouterr().err
    again = build_heartbeit(num_classes=2, profile="quick", input_size=64, weights=None)
    assert again.weights == built.weights
    assert "creating" not in capsys.readouterr().err
    assert sorted(p.name for p in path.parent.iterdir() if p.suffix != ".lock") == [path.name]


def test_saliency_hooks_shape() -> None:
    built = build_heartbeit(num_classes=2, profile="quick", input_size=32, weights="random")
    assert saliency_layers(built.module) == [built.module.blocks[-1].norm1]
    maps = saliency_reshape(torch.rand(2, 1 + 4, 192))
    assert maps.shape == (2, 192, 2, 2)
