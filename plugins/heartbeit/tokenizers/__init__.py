"""Visual tokenizers for MIM pretraining.

Every tokenizer takes ``(B, 3, H, W)`` float images in ``[0, 1]`` (the model's input view,
before normalisation) and returns ``(B, grid * grid)`` long tokens, row-major over the same
patch grid as the BEiT backbone. It exposes ``name``, ``vocab_size`` and ``hash()`` (recorded
in every pretraining checkpoint).
"""

from __future__ import annotations

from typing import Protocol

import torch


class VisualTokenizer(Protocol):
    """What :mod:`plugins.heartbeit.pretrain` needs from a tokenizer."""

    name: str

    @property
    def vocab_size(self) -> int: ...

    def tokens(self, images: torch.Tensor) -> torch.Tensor: ...

    def hash(self) -> str: ...

    def to(self, device: torch.device | str) -> object: ...
