"""Net1D, ECGFounder's encoder, in pure PyTorch (Li et al., NEJM AI 2025; Hong et al.'s Net1D).

A RegNet-style 1-D CNN: a stride-2 "same"-padded stem convolution, then stages of
pre-activation bottleneck blocks ``1x1 conv → grouped k-wide conv (stride on the first block
of a stage) → 1x1 conv`` with Swish activations and a squeeze-and-excitation gate (reduction
2, Swish inside, sigmoid out). A block's shortcut is max-pooled by its stride ("same"
padding) and zero-padded on the channel axis (half below, half above) when it widens the
channels. The first block of the first stage has no pre-activation. The embedding is the
time-average of the last stage's map, which the ``dense`` layer classifies.

The released model uses no batch normalisation and no dropout (the authors' ``use_bn=False,
use_do=False``), and neither does this one; as in their code, its BatchNorm layers still
exist (their parameters are in every released ``state_dict``, unused). Module and parameter
names equal the authors' ``net1d.py``, so a released ``state_dict`` loads with strict key
checking. The numbers follow that code:
"same" padding puts the odd padding sample on the right, and the max-pool pads with zeros.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class Net1dConfig:
    """Net1D's constructor arguments (the released ECGFounder's are the defaults)."""

    in_channels: int = 12
    base_filters: int = 64
    ratio: float = 1.0
    filter_list: tuple[int, ...] = (64, 160, 160, 400, 400, 1024, 1024)
    m_blocks_list: tuple[int, ...] = (2, 2, 2, 3, 3, 4, 4)
    kernel_size: int = 16
    stride: int = 2
    groups_width: int = 16

    def __post_init__(self) -> None:
        if len(self.filter_list) != len(self.m_blocks_list) or not self.filter_list:
            raise ValueError(
                f"Net1dConfig: filter_list {self.filter_list} and m_blocks_list "
                f"{self.m_blocks_list} must be non-empty and of equal length"
            )
        for width in self.filter_list:
            if width % self.groups_width or int(width * self.ratio) % (width // self.groups_width):
                raise ValueError(
                    f"Net1dConfig: stage width {width} does not split into groups of "
                    f"{self.groups_width} channels"
                )


def _same_pad(x: Tensor, kernel: int, stride: int) -> Tensor:
    """Zero-pad the time axis so a ``kernel``/``stride`` window gives ``ceil(T / stride)``."""
    length = x.shape[-1]
    out = (length + stride - 1) // stride
    total = max(0, (out - 1) * stride + kernel - length)
    return F.pad(x, (total // 2, total - total // 2))


class MyConv1dPadSame(nn.Module):
    """``nn.Conv1d`` (attribute ``conv``) with TensorFlow-style "same" padding."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int,
                 groups: int = 1) -> None:  # fmt: skip
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, stride, groups=groups)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(_same_pad(x, self.kernel_size, self.stride))


class BasicBlock(nn.Module):
    """One bottleneck block (see the module docstring); ``stride`` > 1 downsamples."""

    def __init__(self, in_channels: int, out_channels: int, config: Net1dConfig, stride: int,
                 is_first_block: bool) -> None:  # fmt: skip
        super().__init__()
        middle = int(out_channels * config.ratio)
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.is_first_block = is_first_block
        self.bn1 = nn.BatchNorm1d(in_channels)
        self.conv1 = MyConv1dPadSame(in_channels, middle, 1, 1)
        self.bn2 = nn.BatchNorm1d(middle)
        groups = out_channels // config.groups_width
        self.conv2 = MyConv1dPadSame(middle, middle, config.kernel_size, stride, groups)
        self.bn3 = nn.BatchNorm1d(middle)
        self.conv3 = MyConv1dPadSame(middle, out_channels, 1, 1)
        self.se_fc1 = nn.Linear(out_channels, out_channels // 2)
        self.se_fc2 = nn.Linear(out_channels // 2, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(x if self.is_first_block else F.silu(x))
        out = self.conv3(F.silu(self.conv2(F.silu(out))))
        gate = torch.sigmoid(self.se_fc2(F.silu(self.se_fc1(out.mean(-1)))))
        out = out * gate.unsqueeze(-1)
        shortcut = x
        if self.stride > 1:
            shortcut = F.max_pool1d(_same_pad(shortcut, self.stride, 1), self.stride)
        if self.out_channels != self.in_channels:
            extra = self.out_channels - self.in_channels
            shortcut = F.pad(shortcut, (0, 0, extra // 2, extra - extra // 2))
        return out + shortcut


class BasicStage(nn.Module):
    """``m_blocks`` blocks; the first one takes the stride and the channel change."""

    def __init__(self, in_channels: int, out_channels: int, config: Net1dConfig,
                 i_stage: int, m_blocks: int) -> None:  # fmt: skip
        super().__init__()
        self.block_list = nn.ModuleList(
            BasicBlock(
                in_channels if i == 0 else out_channels,
                out_channels,
                config,
                stride=config.stride if i == 0 else 1,
                is_first_block=i_stage == 0 and i == 0,
            )
            for i in range(m_blocks)
        )

    def forward(self, x: Tensor) -> Tensor:
        for block in self.block_list:
            x = block(x)
        return x


class Net1D(nn.Module):
    """``(B, in_channels, T)`` → logits ``(B, n_classes)`` of the time-averaged last map."""

    def __init__(self, config: Net1dConfig, n_classes: int) -> None:
        super().__init__()
        self.config = config
        self.first_conv = MyConv1dPadSame(
            config.in_channels, config.base_filters, config.kernel_size, stride=2
        )
        self.first_bn = nn.BatchNorm1d(config.base_filters)
        widths = (config.base_filters, *config.filter_list)
        self.stage_list = nn.ModuleList(
            BasicStage(widths[i], widths[i + 1], config, i, m)
            for i, m in enumerate(config.m_blocks_list)
        )
        self.dense = nn.Linear(widths[-1], n_classes)

    def feature_map(self, x: Tensor) -> Tensor:
        """The last stage's output ``(B, filter_list[-1], T')``."""
        x = F.silu(self.first_conv(x))
        for stage in self.stage_list:
            x = stage(x)
        return x

    def forward(self, x: Tensor) -> Tensor:
        return self.dense(self.feature_map(x).mean(-1))


_STAGE_BLOCK = re.compile(r"stage_list\.(\d+)\.block_list\.(\d+)\.conv1\.conv\.weight")


def config_from_state(state: Mapping[str, Tensor], stride: int = 2) -> Net1dConfig:
    """The Net1D architecture a ``state_dict`` was saved from (``stride`` has no weights:
    the released 2). Raises ``KeyError`` naming a missing key and ``ValueError`` when the
    stages disagree on the channel ratio or group width."""
    stem = state["first_conv.conv.weight"]
    blocks: dict[int, int] = {}
    for key in state:
        if match := _STAGE_BLOCK.fullmatch(key):
            stage, block = int(match[1]), int(match[2])
            blocks[stage] = max(blocks.get(stage, 0), block + 1)
    if sorted(blocks) != list(range(len(blocks))) or not blocks:
        raise KeyError(f"stage_list: stages {sorted(blocks)} are not 0 … n-1")
    widths, ratios, group_widths = [], set(), set()
    for stage in range(len(blocks)):
        prefix = f"stage_list.{stage}.block_list.0."
        width = int(state[prefix + "conv3.conv.weight"].shape[0])
        conv2 = state[prefix + "conv2.conv.weight"]
        middle, per_group = int(conv2.shape[0]), int(conv2.shape[1])
        widths.append(width)
        ratios.add(middle / width)
        group_widths.add(width // (middle // per_group))
    if len(ratios) != 1 or len(group_widths) != 1:
        raise ValueError(
            f"stages disagree on the bottleneck ratio {sorted(ratios)} or group width "
            f"{sorted(group_widths)}"
        )
    return Net1dConfig(
        in_channels=int(stem.shape[1]),
        base_filters=int(stem.shape[0]),
        ratio=ratios.pop(),
        filter_list=tuple(widths),
        m_blocks_list=tuple(blocks[s] for s in range(len(blocks))),
        kernel_size=int(stem.shape[2]),
        stride=stride,
        groups_width=group_widths.pop(),
    )
