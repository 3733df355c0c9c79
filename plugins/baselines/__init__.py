"""ImageNet baselines of the HeartBEiT paper, built with timm: ViT-B/16, ResNet-152, EfficientNet-B4.

Profile ``paper`` builds the full models (ImageNet-1k supervised weights when available);
profile ``quick`` builds small members of each family that train at CPU speed. The quick
configurations have no published weights, so they start from random weights unless a file
is supplied (``--weights`` or ``$BENCH_WEIGHTS_DIR/<name>-quick.safetensors``); ``init``
in every record says which.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from bench.api import (
    CNN_RECIPE,
    TRANSFORMER_RECIPE,
    BuiltModel,
    ImageInput,
    ModelMeta,
    ModelSpec,
    hookimpl,
)

if TYPE_CHECKING:  # torch and timm load when a model is built, not when plugins load
    import torch
    from torch import nn

PROFILES = ("paper", "quick")


@dataclass(frozen=True)
class TimmConfig:
    """A timm architecture plus overrides; ``download`` says whether timm publishes weights."""

    arch: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    download: bool = True
    img_size_arg: bool = False
    note: str = ""
    label: str = ""  # the architecture in words, as records and tables show it


#: name -> profile -> timm configuration.
CONFIGS: dict[str, dict[str, TimmConfig]] = {
    "vit-b16": {
        "paper": TimmConfig(
            "vit_base_patch16_224.augreg_in1k", img_size_arg=True, label="ViT-B/16"
        ),
        "quick": TimmConfig(
            "vit_tiny_patch16_224",
            {"depth": 6},
            download=False,
            img_size_arg=True,
            note="quick: ViT width 192, depth 6, 3 heads, patch 16 (not ViT-B/16)",
            label="ViT-Tiny/16 (depth 6)",
        ),
    },
    "resnet152": {
        "paper": TimmConfig("resnet152.tv_in1k", label="ResNet-152"),
        "quick": TimmConfig(
            "resnet18",
            {"channels": (32, 64, 128, 256)},
            download=False,
            note="quick: ResNet-18 at half width (32-256 channels), not ResNet-152",
            label="ResNet-18 (width 0.5)",
        ),
    },
    "efficientnet-b4": {
        "paper": TimmConfig("efficientnet_b4.ra2_in1k", label="EfficientNet-B4"),
        "quick": TimmConfig(
            "test_efficientnet",
            download=False,
            note="quick: timm test_efficientnet (5 one-block MBConv stages, 16-64 channels)",
            label="test_efficientnet (16-64 channels)",
        ),
    },
}


def _config(name: str, profile: str) -> TimmConfig:
    if profile not in PROFILES:
        raise ValueError(f"model {name}: unknown profile {profile!r}; expected {PROFILES}")
    return CONFIGS[name][profile]


def _file_name(name: str, profile: str) -> str:
    """The weights file stem looked up in ``$BENCH_WEIGHTS_DIR``."""
    return name if profile == "paper" else f"{name}-{profile}"


def default_weights(name: str, profile: str, input_size: int) -> str | None:
    """What ``weights=None`` means for baseline ``name``: a local file in the weights
    directory, else the pinned timm tag (downloaded when online), else nothing (random)."""
    from bench.api import find_weights

    cfg = _config(name, profile)
    local = find_weights(_file_name(name, profile), None)
    if local is not None:
        return str(local)
    return f"timm:{cfg.arch}" if cfg.download else None


def build_baseline(
    name: str, *, num_classes: int, profile: str, input_size: int, weights: str | None
) -> BuiltModel:
    """Build baseline ``name`` for ``profile`` (see :data:`CONFIGS`) and initialise it."""
    from bench.api import create_timm_model

    cfg = _config(name, profile)
    kwargs = dict(cfg.kwargs)
    if cfg.img_size_arg:
        kwargs["img_size"] = input_size
    file_name = _file_name(name, profile)
    module, init, path = create_timm_model(
        file_name,
        cfg.arch,
        weights=weights,
        num_classes=num_classes,
        pretrained_init="imagenet",
        download=cfg.download,
        **kwargs,
    )
    config = {"timm_arch": cfg.arch, **kwargs, "profile": profile, "input_size": input_size}
    if cfg.note:
        config["note"] = cfg.note
    config["params_m"] = round(sum(p.numel() for p in module.parameters()) / 1e6, 3)
    return BuiltModel(module=module, init=init, weights=path, config=config, arch=cfg.label)


def vit_tokens_to_grid(
    tokens: torch.Tensor, height: int | None = None, width: int | None = None
) -> torch.Tensor:
    """ViT tokens ``(B, 1 + H*W, C)`` → ``(B, C, H, W)`` for Grad-CAM (drops the cls token).

    The grid is square unless ``height``/``width`` are given (input size / 16).
    """
    patches = tokens[:, 1:, :]
    n = patches.shape[1]
    if height is None or width is None:
        height = width = round(n**0.5)
    if height * width != n:
        raise ValueError(f"cannot reshape {n} patch tokens into a {height}x{width} grid")
    return patches.reshape(tokens.shape[0], height, width, -1).permute(0, 3, 1, 2)


def _vit_layers(module: nn.Module) -> list[nn.Module]:
    return [module.blocks[-1].norm1]  # type: ignore[index,union-attr]


def _resnet_layers(module: nn.Module) -> list[nn.Module]:
    return [module.layer4[-1]]  # type: ignore[index,list-item]


def _efficientnet_layers(module: nn.Module) -> list[nn.Module]:
    return [module.conv_head]  # type: ignore[list-item]


SPECS: tuple[tuple[str, str, float, Callable[[nn.Module], list[nn.Module]], bool], ...] = (
    ("vit-b16", "vit", 86.0, _vit_layers, False),
    ("resnet152", "resnet", 60.0, _resnet_layers, True),
    ("efficientnet-b4", "efficientnet", 19.0, _efficientnet_layers, True),
)


@hookimpl
def bench_register_models(register: Callable[[ModelSpec], None]) -> None:
    """Register the three ImageNet baselines of the HeartBEiT paper."""
    for name, family, params_m, layers, cnn in SPECS:
        register(
            ModelSpec(
                name=name,
                build=partial(build_baseline, name),
                meta=ModelMeta(
                    description=f"timm {CONFIGS[name]['paper'].arch}, ImageNet-1k supervised "
                    f"({CONFIGS[name]['quick'].note})",
                    family=family,
                    paper_params_m=params_m,
                    pretrained_on=("imagenet-1k",),
                    licence="timm Apache-2.0; ImageNet weights per their timm model card",
                ),
                input=ImageInput(channels_last=cnn),
                default_weights=partial(default_weights, name),
                saliency_layers=layers,
                saliency_reshape=None if cnn else vit_tokens_to_grid,
                recipe=CNN_RECIPE if cnn else TRANSFORMER_RECIPE,
                plugin="baselines",
            )
        )
