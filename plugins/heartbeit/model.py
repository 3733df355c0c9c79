"""BEiT backbones of HeartBEiT, built on :class:`timm.models.beit.Beit`.

``paper``: BEiT-base as in the HeartBEiT paper (12 layers, width 768, 12 heads, 16×16
patches at 224 px, ~86 M parameters). ``quick``: the CPU-scale configuration from the
design notes (width 192, depth 6, 3 heads, 16×16 patches at the run's input size; 112 px
gives a 7×7 patch grid).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from timm.models.beit import Beit
from torch import nn


@dataclass(frozen=True)
class BeitConfig:
    """Architecture of a HeartBEiT backbone (all that is needed to rebuild it)."""

    img_size: int = 224
    patch_size: int = 16
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    init_values: float = 0.1

    def __post_init__(self) -> None:
        if self.img_size % self.patch_size:
            raise ValueError(
                f"BeitConfig: img_size {self.img_size} is not a multiple of "
                f"patch_size {self.patch_size}"
            )
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"BeitConfig: embed_dim {self.embed_dim} is not divisible by "
                f"num_heads {self.num_heads}"
            )

    @property
    def grid(self) -> int:
        """Patches per side of the square patch grid."""
        return self.img_size // self.patch_size

    @property
    def num_patches(self) -> int:
        """Number of image patches (tokens without the class token)."""
        return self.grid**2

    def metadata(self) -> dict[str, str]:
        """The config as checkpoint metadata (string values)."""
        return {f"beit.{k}": str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> BeitConfig:
        """Inverse of :meth:`metadata`; raises ``ValueError`` naming a missing field."""
        values: dict[str, Any] = {}
        for name, default in asdict(cls()).items():
            key = f"beit.{name}"
            if key not in metadata:
                raise ValueError(f"checkpoint metadata lacks {key!r}")
            values[name] = type(default)(metadata[key])
        return cls(**values)


PROFILES: dict[str, BeitConfig] = {
    "paper": BeitConfig(img_size=224, patch_size=16, embed_dim=768, depth=12, num_heads=12),
    "quick": BeitConfig(img_size=112, patch_size=16, embed_dim=192, depth=6, num_heads=3),
}


def profile_config(profile: str, input_size: int) -> BeitConfig:
    """The backbone config of ``profile`` at ``input_size`` pixels."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {sorted(PROFILES)}")
    return replace(PROFILES[profile], img_size=input_size)


def build_beit(config: BeitConfig, num_classes: int = 0) -> Beit:
    """A timm Beit with mean pooling; ``num_classes=0`` gives a headless backbone."""
    return Beit(
        img_size=config.img_size,
        patch_size=config.patch_size,
        embed_dim=config.embed_dim,
        depth=config.depth,
        num_heads=config.num_heads,
        init_values=config.init_values,
        num_classes=num_classes,
        global_pool="avg",
    )


def saliency_layers(module: nn.Module) -> list[nn.Module]:
    """Grad-CAM target: the first norm of the last transformer block."""
    blocks = module.blocks
    assert isinstance(blocks, nn.ModuleList)
    norm = blocks[-1].norm1
    assert isinstance(norm, nn.Module)
    return [norm]


def saliency_reshape(tokens: torch.Tensor) -> torch.Tensor:
    """(B, 1 + g², C) tokens → (B, C, g, g) maps: drops the class token."""
    patches = tokens[:, 1:, :]
    grid = math.isqrt(patches.shape[1])
    if grid * grid != patches.shape[1]:
        raise ValueError(f"saliency_reshape: {patches.shape[1]} patch tokens are not a square grid")
    return patches.reshape(tokens.shape[0], grid, grid, tokens.shape[2]).permute(0, 3, 1, 2)
