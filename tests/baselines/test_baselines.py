"""timm baselines: registration, quick builds, honest weight initialisation, saliency hooks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from bench.plugins.baselines import bench_register_models, build_baseline

from bench.host.specs import ModelSpec
from bench.weights.checkpoints import CheckpointError, save_state_dict_file

NAMES = ("vit-b16", "resnet152", "efficientnet-b4")


@pytest.fixture
def specs() -> dict[str, ModelSpec]:
    found: list[ModelSpec] = []
    bench_register_models(found.append)
    return {s.name: s for s in found}


def test_hook_registers_the_paper_baselines(specs: dict[str, ModelSpec]) -> None:
    assert set(specs) == set(NAMES)
    assert (
        specs["vit-b16"].meta.paper_params_m == 86 and specs["resnet152"].meta.paper_params_m == 60
    )
    assert all(s.meta.pretrained_on == ("imagenet-1k",) for s in specs.values())


@pytest.mark.parametrize("name", NAMES)
def test_quick_build_is_random_loudly_and_saliency_layers_fit(
    name: str, specs: dict[str, ModelSpec], capsys: pytest.CaptureFixture[str]
) -> None:
    built = specs[name].build(num_classes=2, profile="quick", input_size=64, weights=None)
    assert built.init == "random" and built.weights is None
    assert "RANDOM" in capsys.readouterr().err
    assert built.config["profile"] == "quick" and "quick:" in built.config["note"]
    module, spec = built.module, specs[name]
    assert spec.saliency_layers is not None
    captured: list[torch.Tensor] = []
    layer = spec.saliency_layers(module)[0]
    layer.register_forward_hook(lambda _m, _i, out: captured.append(out))
    assert module(torch.randn(2, 3, 64, 64)).shape == (2, 2)
    activation = captured[0]
    if spec.saliency_reshape is not None:
        activation = spec.saliency_reshape(activation)
        assert activation.shape == (2, 192, 4, 4)
    assert activation.ndim == 4


def _params_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return all(torch.equal(sa[k], sb[k]) for k in sa if not k.startswith("head."))


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_local_weights_file_loads_exactly(tmp_path: Path, suffix: str) -> None:
    source = build_baseline(
        "vit-b16", num_classes=2, profile="quick", input_size=32, weights="random"
    )
    path = tmp_path / f"mine{suffix}"
    if suffix == ".pth":
        torch.save(source.module.state_dict(), path)
    else:
        save_state_dict_file(source.module.state_dict(), path)
    built = build_baseline(
        "vit-b16", num_classes=2, profile="quick", input_size=32, weights=str(path)
    )
    assert (built.init, built.weights) == ("file", str(path))
    assert _params_equal(source.module, built.module)


def test_weights_dir_is_searched_by_model_and_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = build_baseline(
        "resnet152", num_classes=2, profile="quick", input_size=32, weights="random"
    )
    save_state_dict_file(source.module.state_dict(), tmp_path / "resnet152-quick.safetensors")
    monkeypatch.setenv("BENCH_WEIGHTS_DIR", str(tmp_path))
    built = build_baseline("resnet152", num_classes=2, profile="quick", input_size=32, weights=None)
    assert built.init == "file" and _params_equal(source.module, built.module)


def test_mismatched_file_lists_offending_keys(tmp_path: Path) -> None:
    other = build_baseline(
        "resnet152", num_classes=2, profile="quick", input_size=32, weights="random"
    )
    path = tmp_path / "resnet.safetensors"
    save_state_dict_file(other.module.state_dict(), path)
    with pytest.raises(CheckpointError, match=r"resnet\.safetensors.*(missing|unexpected)"):
        build_baseline("vit-b16", num_classes=2, profile="quick", input_size=32, weights=str(path))


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        build_baseline(
            "vit-b16",
            num_classes=2,
            profile="quick",
            input_size=32,
            weights=str(tmp_path / "no.pt"),
        )


def test_paper_profile_offline_falls_back_to_random_and_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    built = build_baseline(
        "efficientnet-b4", num_classes=2, profile="paper", input_size=224, weights=None
    )
    assert built.init == "random" and built.config["timm_arch"] == "efficientnet_b4.ra2_in1k"
    assert "BENCH_OFFLINE" in capsys.readouterr().err
