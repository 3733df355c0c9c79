"""ST-MEM's encoder: the authors' ``ST_MEM_ViT`` (``models/encoder/st_mem_vit.py`` and
``models/encoder/vit.py`` of bakqui/ST-MEM), written here with their module names so their
state dicts load strictly.

Each lead is cut into patches of ``patch_size`` samples (75 = 0.3 s at 250 Hz; 2,250
samples → 30 patches per lead), each patch embedded on its own (LayerNorm, Linear,
LayerNorm; shared by the leads), plus a positional embedding of its index; every lead's
patch row is framed by a SEP token on each side (``sep_embedding`` plus the first and last
positional embeddings), and a learned per-lead embedding is added to all its tokens. The
12 × 32 tokens go through pre-norm transformer blocks (``block0`` …; multi-head attention
with a qkv bias, GELU MLP); the SEP tokens are dropped, and the representation is the
LayerNorm ``norm`` of the mean of the remaining lead × patch tokens (the authors'
``forward_encoding``, what their linear probe and fine-tuning classify).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class ViTConfig:
    """The encoder's shape; the defaults are the released ``st_mem_vit_base`` (ViT-B/75)."""

    seq_len: int = 2250
    patch_size: int = 75
    num_leads: int = 12
    width: int = 768
    depth: int = 12
    mlp_dim: int = 3072
    heads: int = 12
    dim_head: int = 64

    def __post_init__(self) -> None:
        if self.seq_len % self.patch_size:
            raise ValueError(
                f"ViTConfig: seq_len {self.seq_len} is not a multiple of patch_size "
                f"{self.patch_size}"
            )

    @property
    def num_patches(self) -> int:
        """Patches per lead."""
        return self.seq_len // self.patch_size


class PreNorm(nn.Module):
    """``fn(LayerNorm(x))``."""

    def __init__(self, dim: int, fn: nn.Module) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, D)`` → ``fn``'s output."""
        return self.fn(self.norm(x))


class FeedForward(nn.Module):
    """Linear, GELU, Linear (``net.0`` and ``net.3``; dropout slots ``net.2``/``net.4``)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden),
            nn.GELU(),
            nn.Dropout(0.0),
            nn.Linear(hidden, dim),
            nn.Dropout(0.0),
        )

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, D)`` → ``(B, N, D)``."""
        return self.net(x)


class Attention(nn.Module):
    """Multi-head self-attention with one ``to_qkv`` projection and ``to_out.0``."""

    def __init__(self, dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.scale = dim_head**-0.5
        self.to_qkv = nn.Linear(dim, inner * 3, bias=True)
        self.to_out: nn.Module = (
            nn.Identity()
            if heads == 1 and dim_head == dim
            else nn.Sequential(nn.Linear(inner, dim), nn.Dropout(0.0))
        )

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, D)`` → ``(B, N, D)``."""
        b, n, _ = x.shape
        q, k, v = (
            t.reshape(b, n, self.heads, -1).transpose(1, 2) for t in self.to_qkv(x).chunk(3, -1)
        )
        attn = torch.softmax(q @ k.transpose(-1, -2) * self.scale, dim=-1)
        return self.to_out((attn @ v).transpose(1, 2).reshape(b, n, -1))


class TransformerBlock(nn.Module):
    """Pre-norm attention and MLP, each with a residual connection."""

    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        width = config.width
        self.attn = PreNorm(width, Attention(width, config.heads, config.dim_head))
        self.ff = PreNorm(width, FeedForward(width, config.mlp_dim))

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, D)`` → ``(B, N, D)``."""
        x = self.attn(x) + x
        return self.ff(x) + x


class PatchRows(nn.Module):
    """``(B, leads, n * patch)`` → ``(B, leads, n, patch)`` (the authors' ``Rearrange``)."""

    def __init__(self, patch_size: int) -> None:
        super().__init__()
        self.patch_size = patch_size

    def forward(self, x: Tensor) -> Tensor:
        """Split each lead into its patches."""
        b, c, t = x.shape
        return x.reshape(b, c, t // self.patch_size, self.patch_size)


class STMEMViT(nn.Module):
    """The authors' ``ST_MEM_ViT`` (dropout and drop-path at their default 0) with a
    ``num_classes`` head on :meth:`forward_encoding`."""

    def __init__(self, config: ViTConfig, num_classes: int) -> None:
        super().__init__()
        self.config = config
        width = config.width
        self.to_patch_embedding = nn.Sequential(
            PatchRows(config.patch_size),
            nn.LayerNorm(config.patch_size),
            nn.Linear(config.patch_size, width),
            nn.LayerNorm(width),
        )
        self.pos_embedding = nn.Parameter(torch.randn(1, config.num_patches + 2, width))
        self.sep_embedding = nn.Parameter(torch.randn(width))
        self.lead_embeddings = nn.ParameterList(
            nn.Parameter(torch.randn(width)) for _ in range(config.num_leads)
        )
        for i in range(config.depth):
            self.add_module(f"block{i}", TransformerBlock(config))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, num_classes)

    @property
    def blocks(self) -> list[TransformerBlock]:
        """``block0`` … in order."""
        return [getattr(self, f"block{i}") for i in range(self.config.depth)]

    def lead_tokens(self, series: Tensor) -> Tensor:
        """The last block's lead × patch tokens ``(B, leads * n, D)``, SEP tokens dropped,
        before ``norm``, of windows ``(B, leads, seq_len)``."""
        b, leads, _ = series.shape
        if leads > self.config.num_leads:
            raise ValueError(
                f"ST-MEM: {leads} leads, but the encoder has {self.config.num_leads} lead "
                "embeddings"
            )
        x = self.to_patch_embedding(series)
        n = x.shape[2]
        pos = self.pos_embedding
        x = x + pos[:, 1 : n + 1].unsqueeze(1)
        sep = self.sep_embedding.expand(b, leads, 1, -1)
        x = torch.cat([sep + pos[:, None, :1], x, sep + pos[:, None, -1:]], dim=2)
        lead = torch.stack(list(self.lead_embeddings)[:leads])
        x = (x + lead[None, :, None, :]).reshape(b, leads * (n + 2), -1)
        for block in self.blocks:
            x = block(x)
        return x.reshape(b, leads, n + 2, -1)[:, :, 1:-1].reshape(b, leads * n, -1)

    def forward_encoding(self, series: Tensor) -> Tensor:
        """The authors' representation ``(B, D)``: ``norm`` of the tokens' mean."""
        return self.norm(self.lead_tokens(series).mean(1))

    def tokens(self, series: Tensor) -> Tensor:
        """The features contract ``(B, leads * n, D)``: the lead × patch tokens moved so
        that their mean is exactly :meth:`forward_encoding` (each token is the
        representation plus its own deviation from the tokens' mean), so the harness's
        mean over tokens (``bench embed``, the linear probe) is the authors' representation
        and an attention-pooling head still sees every token."""
        x = self.lead_tokens(series)
        mean = x.mean(1, keepdim=True)
        return x - mean + self.norm(mean)

    def forward(self, series: Tensor) -> Tensor:
        """Logits of :meth:`forward_encoding`."""
        return self.head(self.forward_encoding(series))


_BLOCK_KEY = re.compile(r"block(\d+)\.attn\.fn\.to_qkv\.weight")
_LEAD_KEY = re.compile(r"lead_embeddings\.(\d+)")


def config_from_state(state: Mapping[str, Tensor]) -> ViTConfig:
    """The :class:`ViTConfig` whose module has ``state``'s shapes. The head count is not in
    the shapes: it is the authors' ``width / 64`` (``dim_head`` 64, as in both released
    sizes) unless the width is under 64. Raises ``KeyError`` when an embedding key is
    absent, ``ValueError`` when block or lead indices have gaps."""
    blocks = sorted(int(m[1]) for k in state if (m := _BLOCK_KEY.fullmatch(k)))
    leads = sorted(int(m[1]) for k in state if (m := _LEAD_KEY.fullmatch(k)))
    for what, found in (("block", blocks), ("lead embedding", leads)):
        if not found or found != list(range(len(found))):
            raise ValueError(f"{what} indices {found}, expected 0, 1, …")
    patch = int(state["to_patch_embedding.2.weight"].shape[1])
    width = int(state["to_patch_embedding.2.weight"].shape[0])
    inner = int(state["block0.attn.fn.to_qkv.weight"].shape[0]) // 3
    dim_head = 64 if inner % 64 == 0 else inner
    return ViTConfig(
        seq_len=(int(state["pos_embedding"].shape[1]) - 2) * patch,
        patch_size=patch,
        num_leads=len(leads),
        width=width,
        depth=len(blocks),
        mlp_dim=int(state["block0.ff.fn.net.0.weight"].shape[0]),
        heads=inner // dim_head,
        dim_head=dim_head,
    )
