"""MERL's ECG encoder: the authors' 1-D ResNet (``utils/resnet1d.py`` of
cheliu-computation/MERL-ICML2024), written here with their module names so their state
dicts load strictly.

A 7-wide stride-2 stem (no max-pool), four stages of :class:`BasicBlock` (two 3-wide
convolutions, stride 2 on the first block of stages 2–4, a 1×1 projection shortcut where
the shape changes), ReLU throughout, BatchNorm after every convolution and no convolution
bias. ResNet18 has widths 64/128/256/512 and two blocks per stage: 5,000 samples → 313
tokens of 512. The architecture is a :class:`ResNetConfig`, read back from a state dict's
shapes by :func:`config_from_state`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

#: Stages of the authors' ResNet: ``layer1`` … ``layer4``.
N_STAGES = 4


@dataclass(frozen=True)
class ResNetConfig:
    """Input leads, the width of each stage (the stem is as wide as the first) and blocks
    per stage; the defaults are MERL's ResNet18."""

    in_channels: int = 12
    widths: tuple[int, ...] = (64, 128, 256, 512)
    blocks: tuple[int, ...] = (2, 2, 2, 2)

    def __post_init__(self) -> None:
        if len(self.widths) != N_STAGES or len(self.blocks) != N_STAGES:
            raise ValueError(
                f"ResNetConfig: expected {N_STAGES} widths and {N_STAGES} block counts, got "
                f"{self.widths} and {self.blocks}"
            )


class BasicBlock(nn.Module):
    """Two 3-wide convolutions with BatchNorm and ReLU, plus the (projected) input."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm1d(out_channels)
        self.conv2 = nn.Conv1d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm1d(out_channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv1d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm1d(out_channels),
            )

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C_in, T)`` → ``(B, C_out, T / stride)``."""
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet1d(nn.Module):
    """The authors' ``ResNet`` with ``BasicBlock`` and a ``num_classes`` head ``linear``
    on the time-mean of the last stage (their fine-tuning model)."""

    def __init__(self, config: ResNetConfig, num_classes: int) -> None:
        super().__init__()
        self.config = config
        stem = config.widths[0]
        self.conv1 = nn.Conv1d(config.in_channels, stem, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm1d(stem)
        width = stem
        for index, (out, count) in enumerate(zip(config.widths, config.blocks, strict=True)):
            blocks = []
            for block in range(count):
                stride = 2 if index > 0 and block == 0 else 1
                blocks.append(BasicBlock(width, out, stride))
                width = out
            self.add_module(f"layer{index + 1}", nn.Sequential(*blocks))
        self.linear = nn.Linear(width, num_classes)

    @property
    def stages(self) -> list[nn.Sequential]:
        """``layer1`` … ``layer4``."""
        return [getattr(self, f"layer{i + 1}") for i in range(N_STAGES)]

    def feature_map(self, x: Tensor) -> Tensor:
        """The last stage's map ``(B, C, T')`` of an input ``(B, leads, T)``."""
        out = torch.relu(self.bn1(self.conv1(x)))
        for stage in self.stages:
            out = stage(out)
        return out

    def forward(self, x: Tensor) -> Tensor:
        """Logits of the time-mean of :meth:`feature_map`."""
        return self.linear(self.feature_map(x).mean(-1))


_BLOCK_KEY = re.compile(r"layer([1-4])\.(\d+)\.conv1\.weight")


def config_from_state(state: Mapping[str, Tensor]) -> ResNetConfig:
    """The :class:`ResNetConfig` whose module has ``state``'s shapes (the stem's input
    leads, each stage's width and block count). Raises ``KeyError`` when a stem or stage
    key is absent, ``ValueError`` when a stage's block indices have gaps."""
    indices: dict[int, list[int]] = {stage: [] for stage in range(1, N_STAGES + 1)}
    for key in state:
        match = _BLOCK_KEY.fullmatch(key)
        if match:
            indices[int(match[1])].append(int(match[2]))
    widths = []
    for stage, found in indices.items():
        if sorted(found) != list(range(len(found))):
            raise ValueError(f"layer{stage} has blocks {sorted(found)}, expected 0, 1, …")
        widths.append(int(state[f"layer{stage}.0.conv1.weight"].shape[0]))
    return ResNetConfig(
        in_channels=int(state["conv1.weight"].shape[1]),
        widths=tuple(widths),
        blocks=tuple(len(found) for found in indices.values()),
    )
