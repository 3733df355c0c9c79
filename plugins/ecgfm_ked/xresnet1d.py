"""ECGFM-KED's ECG encoder: the fastai-style ``xresnet1d101`` of the authors'
``models/xresnet1d_101.py`` (control-spiderman/ECGFM-KED, itself from the PTB-XL
benchmark's ``xresnet1d.py``), written here with their module names so the ``ecg_model``
state dict of a released checkpoint loads strictly.

The model is one ``nn.Sequential``: three stem :class:`ConvLayer` s (5-wide, widths 32, 32,
64, stride 2 on the first), a 3-wide stride-2 max-pool, then four stages of bottleneck
:class:`ResBlock` s (expansion 4; KED's widths 64/128/128/192, so 256/512/512/768
channels out; 3/4/23/3 blocks; 5-wide middle convolution, stride 2 on the first block of
stages 2–4; an average-pool and 1×1 projection on the identity path where the shape
changes). Every convolution is bias-free and followed by BatchNorm, then ReLU except the
last of a block. No head: the authors pool the last map ``(B, 768, T')`` over time
(``ecg_features.mean(-1)``). 1,000 samples (10 s at 100 Hz) → 32 tokens of 768.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from torch import Tensor, nn

#: Bottleneck expansion of ``xresnet1d101`` (``_xresnet1d(4, [3, 4, 23, 3])``).
EXPANSION = 4
#: Index of the first stage in the ``nn.Sequential``: 3 stem layers, then the max-pool.
FIRST_STAGE = 4
N_STAGES = 4


@dataclass(frozen=True)
class XResNetConfig:
    """Input leads, stem widths, the bottleneck width of each stage (× 4 channels out) and
    blocks per stage; the defaults are KED's ``xresnet1d101(input_channels=12,
    kernel_size=5)``."""

    in_channels: int = 12
    stem: tuple[int, ...] = (32, 32, 64)
    widths: tuple[int, ...] = (64, 128, 128, 192)
    blocks: tuple[int, ...] = (3, 4, 23, 3)
    kernel_size: int = 5
    kernel_size_stem: int = 5

    def __post_init__(self) -> None:
        if len(self.widths) != N_STAGES or len(self.blocks) != N_STAGES or len(self.stem) != 3:
            raise ValueError(
                f"XResNetConfig: expected 3 stem widths and {N_STAGES} stage widths and block "
                f"counts, got {self.stem}, {self.widths} and {self.blocks}"
            )
        if self.stem[-1] != 64:
            # upstream: block_szs = [64 // expansion] + …, the first stage takes 64 channels
            raise ValueError(f"XResNetConfig: the stem must end at 64 channels, got {self.stem}")

    @property
    def out_channels(self) -> int:
        """Channels of the last map (768 for KED)."""
        return self.widths[-1] * EXPANSION


class ConvLayer(nn.Sequential):
    """``Conv1d`` (bias-free), ``BatchNorm1d`` and, when ``act``, ReLU (fastai's
    ``ConvLayer`` with ``bn_1st=True``: keys ``0.weight``, ``1.*``). Initialised as fastai
    does: Kaiming-normal convolution, BatchNorm bias 0 and weight 1, or 0 with
    ``zero_bn`` (``NormType.BatchZero``, a block's last BatchNorm)."""

    def __init__(
        self, ni: int, nf: int, ks: int, stride: int = 1, act: bool = True, zero_bn: bool = False
    ) -> None:
        conv = nn.Conv1d(ni, nf, ks, stride=stride, padding=(ks - 1) // 2, bias=False)
        nn.init.kaiming_normal_(conv.weight)
        bn = nn.BatchNorm1d(nf)
        nn.init.zeros_(bn.bias)
        if zero_bn:
            nn.init.zeros_(bn.weight)
        layers: list[nn.Module] = [conv, bn]
        if act:
            layers.append(nn.ReLU())
        super().__init__(*layers)


class ResBlock(nn.Module):
    """The bottleneck block: ``convs`` (1×1, ``ks``-wide with the stride, 1×1 without ReLU)
    plus ``idpath`` (average-pool if strided, 1×1 :class:`ConvLayer` if the width
    changes), then ReLU. ``convpath`` wraps ``convs`` as upstream does, so the state dict
    holds both names (one set of tensors)."""

    def __init__(self, ni: int, nh: int, stride: int, ks: int) -> None:
        super().__init__()
        nf, ni = nh * EXPANSION, ni * EXPANSION
        self.convs = nn.Sequential(
            ConvLayer(ni, nh, 1),
            ConvLayer(nh, nh, ks, stride=stride),
            ConvLayer(nh, nf, 1, act=False, zero_bn=True),
        )
        self.convpath = nn.Sequential(self.convs)
        idpath: list[nn.Module] = []
        if ni != nf:
            idpath.append(ConvLayer(ni, nf, 1, act=False))
        if stride != 1:
            idpath.insert(0, nn.AvgPool1d(2, ceil_mode=True))
        self.idpath = nn.Sequential(*idpath)
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        """``(B, 4·ni, T)`` → ``(B, 4·nh, T / stride)``."""
        return self.act(self.convpath(x) + self.idpath(x))


class XResNet1d(nn.Sequential):
    """The authors' headless ``XResNet1d``: stem, max-pool, four stages; ``forward`` gives
    the last map ``(B, C, T')``."""

    def __init__(self, config: XResNetConfig) -> None:
        sizes = (config.in_channels, *config.stem)
        stem = [
            ConvLayer(sizes[i], sizes[i + 1], config.kernel_size_stem, stride=2 if i == 0 else 1)
            for i in range(3)
        ]
        widths = (64 // EXPANSION, *config.widths)
        stages = [
            nn.Sequential(
                *(
                    ResBlock(
                        widths[i] if b == 0 else widths[i + 1],
                        widths[i + 1],
                        (1 if i == 0 else 2) if b == 0 else 1,
                        config.kernel_size,
                    )
                    for b in range(count)
                )
            )
            for i, count in enumerate(config.blocks)
        ]
        super().__init__(*stem, nn.MaxPool1d(3, stride=2, padding=1), *stages)
        self.config = config


_BLOCK_KEY = re.compile(r"(\d+)\.(\d+)\.convs\.1\.0\.weight")


def config_from_state(state: Mapping[str, Tensor]) -> XResNetConfig:
    """The :class:`XResNetConfig` whose module has ``state``'s shapes. Raises ``KeyError``
    when a stem or stage key is absent, ``ValueError`` when a stage's blocks have gaps or
    the blocks are not bottlenecks."""
    indices: dict[int, list[int]] = {FIRST_STAGE + s: [] for s in range(N_STAGES)}
    middle: dict[int, Tensor] = {}
    for key, value in state.items():
        match = _BLOCK_KEY.fullmatch(key)
        if match and int(match[1]) in indices:
            indices[int(match[1])].append(int(match[2]))
            middle[int(match[1])] = value
    widths = []
    for stage, found in indices.items():
        if not found or sorted(found) != list(range(len(found))):
            raise ValueError(f"stage {stage} has blocks {sorted(found)}, expected 0, 1, …")
        if f"{stage}.0.convs.2.0.weight" not in state:
            raise ValueError(f"stage {stage} is not made of bottleneck blocks")
        widths.append(int(state[f"{stage}.0.convs.1.0.weight"].shape[0]))
    stem = tuple(int(state[f"{i}.0.weight"].shape[0]) for i in range(3))
    return XResNetConfig(
        in_channels=int(state["0.0.weight"].shape[1]),
        stem=stem,
        widths=tuple(widths),
        blocks=tuple(len(found) for found in indices.values()),
        kernel_size=int(middle[FIRST_STAGE].shape[-1]),
        kernel_size_stem=int(state["0.0.weight"].shape[-1]),
    )
