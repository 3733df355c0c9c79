"""``resnet1d``: an xresnet1d-style 1-D ResNet trained from scratch on the raw signal.

The strongest supervised baseline family of the PTB-XL benchmark literature (Strodthoff et
al. 2021, xresnet1d101): a three-convolution stem, ResNet-D shortcuts (average-pool then
1×1 convolution), kernel size 5, zero-initialised last BatchNorm of every residual branch,
and a concat-pool (average ‖ max over time) head. ``paper`` is xresnet1d101 (bottleneck
blocks 3-4-23-3); ``quick`` a CPU-size xresnet1d with one basic block per stage.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from bench.api import BuiltModel


@dataclass(frozen=True)
class ResNet1dConfig:
    """Stage depths, widths (before expansion), block expansion, kernel size, dropout."""

    layers: tuple[int, ...] = (3, 4, 23, 3)
    widths: tuple[int, ...] = (64, 128, 256, 512)
    expansion: int = 4
    stem: tuple[int, int, int] = (32, 32, 64)
    kernel: int = 5
    in_channels: int = 12
    dropout: float = 0.5


PROFILES: dict[str, ResNet1dConfig] = {
    "paper": ResNet1dConfig(),
    "quick": ResNet1dConfig(
        layers=(1, 1, 1, 1), widths=(32, 64, 96, 128), expansion=1, stem=(16, 16, 32)
    ),
}


def _conv(ni: int, nf: int, kernel: int, stride: int = 1, act: bool = True,
          zero_bn: bool = False) -> nn.Sequential:  # fmt: skip
    bn = nn.BatchNorm1d(nf)
    nn.init.constant_(bn.weight, 0.0 if zero_bn else 1.0)
    parts: list[nn.Module] = [
        nn.Conv1d(ni, nf, kernel, stride=stride, padding=kernel // 2, bias=False),
        bn,
    ]
    if act:
        parts.append(nn.ReLU(inplace=True))
    return nn.Sequential(*parts)


class ResBlock(nn.Module):
    """Basic (expansion 1) or bottleneck (expansion 4) block with a ResNet-D shortcut."""

    def __init__(self, expansion: int, ni: int, nh: int, stride: int, kernel: int) -> None:
        super().__init__()
        nf = nh * expansion
        if expansion == 1:
            branch = [_conv(ni, nh, kernel, stride), _conv(nh, nf, kernel, act=False, zero_bn=True)]
        else:
            branch = [
                _conv(ni, nh, 1),
                _conv(nh, nh, kernel, stride),
                _conv(nh, nf, 1, act=False, zero_bn=True),
            ]
        self.branch = nn.Sequential(*branch)
        shortcut: list[nn.Module] = []
        if stride != 1:
            shortcut.append(nn.AvgPool1d(stride, ceil_mode=True))
        if ni != nf:
            shortcut.append(_conv(ni, nf, 1, act=False))
        self.shortcut = nn.Sequential(*shortcut)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.branch(x) + self.shortcut(x))


class ResNet1d(nn.Module):
    """``(B, in_channels, T)`` → logits ``(B, num_classes)``."""

    def __init__(self, config: ResNet1dConfig, num_classes: int) -> None:
        super().__init__()
        a, b, c = config.stem
        k = config.kernel
        self.stem = nn.Sequential(
            _conv(config.in_channels, a, k, stride=2),
            _conv(a, b, k),
            _conv(b, c, k),
            nn.MaxPool1d(3, stride=2, padding=1),
        )
        stages, ni = [], c
        for i, (depth, width) in enumerate(zip(config.layers, config.widths, strict=True)):
            blocks = []
            for j in range(depth):
                stride = 2 if j == 0 and i > 0 else 1
                blocks.append(ResBlock(config.expansion, ni, width, stride, k))
                ni = width * config.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(
            nn.BatchNorm1d(2 * ni), nn.Dropout(config.dropout), nn.Linear(2 * ni, num_classes)
        )

    def tokens(self, x: Tensor) -> Tensor:
        """The last stage's feature map as time tokens ``(B, T', C)`` (features contract)."""
        return self.stages(self.stem(x)).transpose(1, 2)

    def forward(self, x: Tensor) -> Tensor:
        """Logits of the concat-pooled (average ‖ max over time) last feature map."""
        x = self.stages(self.stem(x))
        pooled = torch.cat([x.mean(dim=-1), x.amax(dim=-1)], dim=1)
        return self.head(pooled)


def saliency_layers(module: nn.Module) -> list[nn.Module]:
    """Grad-CAM target: the last residual block (temporal feature map ``(B, C, T')``)."""
    return [module.stages[-1][-1]]  # type: ignore[index,list-item]


def build_resnet1d(
    *, num_classes: int, profile: str, input_size: int, weights: str | None
) -> BuiltModel:
    """Build ``resnet1d`` for ``profile``; random init unless ``weights`` names a file."""
    from bench.api import RANDOM, load_into, load_state_dict_file

    if profile not in PROFILES:
        raise ValueError(f"resnet1d: unknown profile {profile!r}; expected {sorted(PROFILES)}")
    config = PROFILES[profile]
    module = ResNet1d(config, num_classes)
    params_m = round(sum(p.numel() for p in module.parameters()) / 1e6, 3)
    info = {"profile": profile, "architecture": asdict(config), "params_m": params_m}
    arch = "xresnet1d101" if profile == "paper" else "xresnet1d (1 basic block per stage)"
    if weights is None or weights == RANDOM:  # a supervised baseline: from scratch
        return BuiltModel(module=module, init=RANDOM, weights=None, config=info, arch=arch)
    load_into(module, load_state_dict_file(weights), ignore=("head.",))
    return BuiltModel(module=module, init="file", weights=weights, config=info, arch=arch)
