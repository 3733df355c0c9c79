"""ECG-JEPA's encoder: the authors' ``MaskTransformer`` (``ecg_jepa.py`` of
sehunfromdaegu/ECG_JEPA) as used by their ``representation``, written here with their module
names so that their ``encoder`` state dicts load strictly.

Each of the 8 leads (I, II, V1–V6) of a 10 s window at 250 Hz (2,500 samples) is cut into 50
patches of 50 samples (0.2 s); every patch is embedded on its own by ``W_P`` (Linear 50 →
width, shared by the leads). ``pos_embed`` (a fixed 2-D sine-cosine table over lead × patch,
``pos_encoding.get_2d_sincos_pos_embed``; stored in the state dict, not trained) is added to
the tokens **before every block** (``Encoder_Block``: ``x = block(x + pos)``). The blocks are
pre-norm ViT blocks (``norm1``, ``attn.qkv`` without bias, ``attn.proj``, ``norm2``,
``mlp.fc1``/``fc2``, GELU) whose attention is masked so that a token sees only the tokens of
its own lead and those at its own time (the cross-attention mask). The representation is the
mean over the 400 tokens of the final LayerNorm ``norm`` (what the authors' linear
evaluation and fine-tuning classify).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from torch import Tensor, nn

#: Heads of the released encoder; the checkpoint does not record it, and the authors'
#: ``models.load_encoder`` builds every file with 16.
HEADS = 16


@dataclass(frozen=True)
class EcgJepaConfig:
    """The encoder's shape; the defaults are the released one (``models.load_encoder``)."""

    leads: int = 8
    patches: int = 50
    patch_size: int = 50
    width: int = 768
    depth: int = 12
    heads: int = HEADS
    mlp_dim: int = 3072

    def __post_init__(self) -> None:
        if self.width % self.heads or self.width % 4:
            raise ValueError(
                f"EcgJepaConfig: width {self.width} must be a multiple of heads {self.heads} "
                "and of 4 (the 2-D sine-cosine table)"
            )

    @property
    def seq_len(self) -> int:
        """Samples per lead (2,500: 10 s at 250 Hz)."""
        return self.patches * self.patch_size


def sincos_table(width: int, leads: int, patches: int) -> np.ndarray:
    """The authors' ``get_2d_sincos_pos_embed(width, leads, patches)``: ``(leads * patches,
    width)``, lead-major; the first half of the channels encodes the patch index, the second
    the lead index (each half: sines then cosines at ``10000 ** (-k / (width / 4))``)."""

    def one_d(dim: int, pos: np.ndarray) -> np.ndarray:
        omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=float) / (dim / 2.0))
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    patch_index, lead_index = np.meshgrid(np.arange(patches, dtype=float), np.arange(leads))
    return np.concatenate([one_d(width // 2, patch_index), one_d(width // 2, lead_index)], axis=1)


def cross_attention_mask(leads: int, patches: int) -> Tensor:
    """``(leads * patches,) * 2`` booleans: token ``i`` may attend to ``j`` when both are of
    the same lead or at the same patch index (the authors' ``_cross_attention_mask``)."""
    index = torch.arange(leads * patches)
    lead, patch = index // patches, index % patches
    return (lead[:, None] == lead[None]) | (patch[:, None] == patch[None])


class Mlp(nn.Module):
    """``fc1``, GELU, ``fc2``."""

    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, D)`` → ``(B, N, D)``."""
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    """Masked multi-head self-attention: ``qkv`` (no bias) and ``proj``."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.scale = (width // heads) ** -0.5
        self.qkv = nn.Linear(width, width * 3, bias=False)
        self.proj = nn.Linear(width, width)

    def forward(self, x: Tensor, allowed: Tensor) -> Tensor:
        """``(B, N, D)`` → ``(B, N, D)``; ``allowed`` ``(N, N)`` booleans."""
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-2, -1)) * self.scale
        attn = scores.masked_fill(~allowed, float("-inf")).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """Pre-norm attention and MLP, each with a residual (drop-path inactive at inference)."""

    def __init__(self, config: EcgJepaConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(config.width)
        self.attn = Attention(config.width, config.heads)
        self.norm2 = nn.LayerNorm(config.width)
        self.mlp = Mlp(config.width, config.mlp_dim)

    def forward(self, x: Tensor, allowed: Tensor) -> Tensor:
        """``(B, N, D)`` → ``(B, N, D)``."""
        x = x + self.attn(self.norm1(x), allowed)
        return x + self.mlp(self.norm2(x))


class EncoderBlocks(nn.Module):
    """The authors' ``Encoder_Block``: the positional table is added before every block."""

    def __init__(self, config: EcgJepaConfig) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.depth))

    def forward(self, x: Tensor, pos: Tensor, allowed: Tensor) -> Tensor:
        """``(B, N, D)`` tokens and ``(N, D)`` positions → ``(B, N, D)``."""
        for block in self.blocks:
            x = block(x + pos, allowed)
        return x


class EcgJepaEncoder(nn.Module):
    """The authors' ``MaskTransformer`` at inference (no mask) with a ``num_classes`` head on
    its representation (their ``FinetuningClassifier``: a linear layer, no batch norm)."""

    def __init__(self, config: EcgJepaConfig, num_classes: int) -> None:
        super().__init__()
        self.config = config
        self.encoder_blocks = EncoderBlocks(config)
        self.norm = nn.LayerNorm(config.width)
        self.W_P = nn.Linear(config.patch_size, config.width)
        table = sincos_table(config.width, config.leads, config.patches)
        self.pos_embed = nn.Parameter(torch.from_numpy(table).float(), requires_grad=False)
        self.register_buffer(
            "allowed", cross_attention_mask(config.leads, config.patches), persistent=False
        )
        self.head = nn.Linear(config.width, num_classes)
        self.apply(_init_weights)
        with torch.no_grad():  # fix_init_weight
            for i, block in enumerate(self.encoder_blocks.blocks, start=1):
                block = cast(Block, block)
                block.attn.proj.weight.div_((2.0 * i) ** 0.5)
                block.mlp.fc2.weight.div_((2.0 * i) ** 0.5)

    def tokens(self, series: Tensor) -> Tensor:
        """The features contract ``(B, leads * patches, D)``: the normed lead × patch tokens
        of windows ``(B, 8, 2500)``, lead-major; their mean is the authors'
        ``representation``."""
        c = self.config
        if series.shape[1:] != (c.leads, c.seq_len):
            raise ValueError(
                f"ECG-JEPA: expected windows (B, {c.leads}, {c.seq_len}), got {tuple(series.shape)}"
            )
        x = self.W_P(series.reshape(series.shape[0], c.leads * c.patches, c.patch_size))
        return self.norm(self.encoder_blocks(x, self.pos_embed, self.allowed))

    def representation(self, series: Tensor) -> Tensor:
        """The authors' ``representation`` ``(B, D)``: the tokens' mean."""
        return self.tokens(series).mean(1)

    def forward(self, series: Tensor) -> Tensor:
        """Logits of :meth:`representation`."""
        return self.head(self.representation(series))


def _init_weights(module: nn.Module) -> None:
    """The authors' ``_init_weights``: truncated normal (std 0.02) linear weights, zero
    biases, unit LayerNorms."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02, a=-2.0, b=2.0)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


_BLOCK_KEY = re.compile(r"encoder_blocks\.blocks\.(\d+)\.attn\.qkv\.weight")


def config_from_state(state: Mapping[str, Tensor], heads: int = HEADS) -> EcgJepaConfig:
    """The :class:`EcgJepaConfig` whose module has ``state``'s shapes (``heads``: not in the
    shapes). Raises ``KeyError`` when a key it reads is absent, ``ValueError`` when block
    indices have gaps or the shapes do not make an ECG-JEPA encoder."""
    blocks = sorted(int(m[1]) for k in state if (m := _BLOCK_KEY.fullmatch(k)))
    if not blocks or blocks != list(range(len(blocks))):
        raise ValueError(f"block indices {blocks}, expected 0, 1, …")
    width, patch_size = (int(n) for n in state["W_P.weight"].shape)
    tokens = int(state["pos_embed"].shape[0])
    patches = 2500 // patch_size
    if tokens % patches:
        raise ValueError(
            f"pos_embed has {tokens} rows, not a whole number of {patches}-patch leads"
        )
    return EcgJepaConfig(
        leads=tokens // patches,
        patches=patches,
        patch_size=patch_size,
        width=width,
        depth=len(blocks),
        heads=heads,
        mlp_dim=int(state["encoder_blocks.blocks.0.mlp.fc1.weight"].shape[0]),
    )
