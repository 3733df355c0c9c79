"""The DALL·E dVAE encoder as a BEiT visual tokenizer (architecture only; weights are the
user's).

Architecture (Ramesh et al. 2021, as released in OpenAI's ``dall-e`` package): a 7×7 input
convolution to ``n_hid`` channels, then ``group_count`` groups of ``n_blk_per_group``
residual blocks with widths ``n_hid × (1, 2, 4, 8)`` and 2× max-pooling after every group
but the last, then ReLU and a 1×1 convolution to ``vocab_size`` logits. A residual block
maps ``x`` to ``id_path(x) + res_path(x) / L²`` (``L`` = total number of blocks), where
``res_path`` is ReLU-conv3×3 (to ``n_out/4``) ×3 followed by ReLU-conv1×1 to ``n_out``
and ``id_path`` is a 1×1 convolution when the width changes. Convolutions keep their
parameters as ``w``/``b`` so the package's state-dict keys load unchanged. Pixels are
mapped into ``[ε, 1 − ε]`` (ε = 0.1) first, and a token is the argmax over the logits.

With three poolings the token grid is 1/8 of the tokenizer's view: BEiT feeds it the
112×112 view of a 224×224 image (14×14 tokens = the 16-pixel patch grid), i.e. the view
is half the model's input size.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

NAME = "dalle"
LOGIT_EPS = 0.1


class DalleConv2d(nn.Module):
    """A same-padded convolution with ``w``/``b`` parameters (the dVAE's naming)."""

    def __init__(self, n_in: int, n_out: int, kw: int) -> None:
        super().__init__()
        self.kw = kw
        self.w = nn.Parameter(torch.empty(n_out, n_in, kw, kw))
        self.b = nn.Parameter(torch.zeros(n_out))
        nn.init.normal_(self.w, std=1 / (n_in * kw**2) ** 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve with padding ``(kw - 1) // 2``."""
        return F.conv2d(x, self.w, self.b, padding=(self.kw - 1) // 2)


class EncoderBlock(nn.Module):
    """Residual block: identity (or 1×1 projection) plus a down-weighted conv path."""

    def __init__(self, n_in: int, n_out: int, n_layers: int) -> None:
        super().__init__()
        hidden = n_out // 4
        self.post_gain = 1 / n_layers**2
        self.id_path: nn.Module = DalleConv2d(n_in, n_out, 1) if n_in != n_out else nn.Identity()
        self.res_path = nn.Sequential(
            OrderedDict(
                [
                    ("relu_1", nn.ReLU()),
                    ("conv_1", DalleConv2d(n_in, hidden, 3)),
                    ("relu_2", nn.ReLU()),
                    ("conv_2", DalleConv2d(hidden, hidden, 3)),
                    ("relu_3", nn.ReLU()),
                    ("conv_3", DalleConv2d(hidden, hidden, 3)),
                    ("relu_4", nn.ReLU()),
                    ("conv_4", DalleConv2d(hidden, n_out, 1)),
                ]
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``id_path(x) + res_path(x) / L²``."""
        return self.id_path(x) + self.post_gain * self.res_path(x)


@dataclass(frozen=True)
class DalleConfig:
    """Encoder hyper-parameters (the released encoder: 4 groups, 2 blocks, 256, 8192)."""

    group_count: int = 4
    n_hid: int = 256
    n_blk_per_group: int = 2
    input_channels: int = 3
    vocab_size: int = 8192

    @property
    def downsample(self) -> int:
        """Input pixels per token side (2 per pooled group)."""
        return 2 ** (self.group_count - 1)


class DalleEncoder(nn.Module):
    """The dVAE encoder: images → ``(B, vocab_size, H/8, W/8)`` logits."""

    def __init__(self, config: DalleConfig = DalleConfig()) -> None:
        super().__init__()
        self.config = config
        n_layers = config.group_count * config.n_blk_per_group
        groups: list[tuple[str, nn.Module]] = [
            ("input", DalleConv2d(config.input_channels, config.n_hid, 7))
        ]
        width = config.n_hid
        for g in range(1, config.group_count + 1):
            out = config.n_hid * 2 ** (g - 1)
            layers: list[tuple[str, nn.Module]] = []
            for i in range(1, config.n_blk_per_group + 1):
                layers.append((f"block_{i}", EncoderBlock(width if i == 1 else out, out, n_layers)))
            if g < config.group_count:
                layers.append(("pool", nn.MaxPool2d(kernel_size=2)))
            groups.append((f"group_{g}", nn.Sequential(OrderedDict(layers))))
            width = out
        output = nn.Sequential(
            OrderedDict([("relu", nn.ReLU()), ("conv", DalleConv2d(width, config.vocab_size, 1))])
        )
        groups.append(("output", output))
        self.blocks = nn.Sequential(OrderedDict(groups))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits over the vocabulary at every token position."""
        return self.blocks(x)


def config_from_state(state: dict[str, torch.Tensor]) -> DalleConfig:
    """Infer the encoder hyper-parameters from the shapes and names in a state dict."""
    try:
        n_hid, input_channels = state["blocks.input.w"].shape[:2]
        vocab_size = state["blocks.output.conv.w"].shape[0]
    except KeyError as exc:
        raise ValueError(f"not a DALL·E encoder state dict: missing key {exc}") from exc
    groups = {int(m[1]) for k in state if (m := re.match(r"blocks\.group_(\d+)\.", k))}
    blocks = {int(m[1]) for k in state if (m := re.match(r"blocks\.group_1\.block_(\d+)\.", k))}
    return DalleConfig(
        group_count=len(groups),
        n_hid=int(n_hid),
        n_blk_per_group=len(blocks),
        input_channels=int(input_channels),
        vocab_size=int(vocab_size),
    )


def load_state(path: str | Path) -> dict[str, torch.Tensor]:
    """A DALL·E encoder state dict from safetensors or a torch file (weights only).

    The package's ``encoder.pkl`` pickles a whole module object and cannot be read safely;
    convert it once where the ``dall-e`` package is installed:
    ``torch.save(torch.load("encoder.pkl").state_dict(), "encoder.pt")``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"DALL·E encoder weights not found: {path}")
    if path.suffix == ".safetensors":
        from bench.api import load_state_dict_file

        return load_state_dict_file(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"{path}: cannot read a state dict with torch.load(weights_only=True) ({exc}). "
            "A pickled dall_e Encoder (encoder.pkl) must be converted to a state dict first: "
            'torch.save(torch.load("encoder.pkl").state_dict(), "encoder.pt")'
        ) from exc
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, found {type(state).__name__}")
    return state


class DalleTokenizer:
    """Tokens = argmax of the dVAE encoder's logits on the half-resolution view."""

    name = NAME

    def __init__(self, encoder: DalleEncoder, source: str = "") -> None:
        self.encoder = encoder.eval()
        self.source = source

    @classmethod
    def from_file(cls, path: str | Path) -> DalleTokenizer:
        """Build the encoder matching the file and load its weights (strict)."""
        state = load_state(path)
        encoder = DalleEncoder(config_from_state(state))
        result = encoder.load_state_dict(state, strict=False)
        if result.missing_keys or result.unexpected_keys:
            raise ValueError(
                f"{path}: DALL·E encoder keys do not match; missing {result.missing_keys[:5]}, "
                f"unexpected {result.unexpected_keys[:5]}"
            )
        return cls(encoder, source=str(path))

    @property
    def vocab_size(self) -> int:
        """Size of the dVAE codebook."""
        return self.encoder.config.vocab_size

    def to(self, device: torch.device | str) -> DalleTokenizer:
        """Move the encoder to ``device`` (returns self)."""
        self.encoder.to(device)
        return self

    @torch.no_grad()
    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` images in [0, 1] → ``(B, (H/16) * (W/16))`` tokens."""
        view = F.interpolate(
            images.float(), scale_factor=0.5, mode="bilinear", antialias=True, align_corners=False
        )
        pixels = (1 - 2 * LOGIT_EPS) * view + LOGIT_EPS
        logits = self.encoder(pixels)
        return logits.argmax(1).flatten(1)

    def hash(self) -> str:
        """Short sha256 over the encoder parameters."""
        digest = hashlib.sha256()
        for key, value in sorted(self.encoder.state_dict().items()):
            digest.update(key.encode())
            digest.update(value.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]
