"""Evaluation modes (``--protocol``) and the attention-pooling head they share.

- ``finetune``: the model as built (its own linear head), every weight trained;
- ``finetune-attn``: the encoder's tokens (:mod:`bench.training.features`) pooled by an
  :class:`AttentionPool` head, every weight trained;
- ``frozen-attn``: the same head on a frozen encoder (kept in eval mode: batch-norm
  statistics and dropout frozen too); only the head trains;
- ``linear-probe``: logistic regression on the mean-pooled tokens
  (:func:`bench.training.probe.linear_probe`).

Every model gets all four through its one token contract; nothing here knows a model.
A segment model's head sees only the tokens of the segments a record has
(:func:`bench.training.features.record_tokens`), and under ``finetune`` its own head
combines its windows by the rule its spec declares for the task's labels
(:func:`segment_head`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch
from torch import Tensor, nn

from bench.host.specs import BuiltModel, ModelSpec
from bench.training.config import PROTOCOLS, EvalProtocol
from bench.training.features import RecordTokenFn, record_tokens, token_dim
from bench.training.segments import RecordRule

#: Protocols that train an attention-pooling head on the token features.
ATTENTION_PROTOCOLS: tuple[EvalProtocol, ...] = ("finetune-attn", "frozen-attn")
#: Attention heads tried in order; the first that divides the token width is used.
HEAD_COUNTS: tuple[int, ...] = (8, 4, 16, 12, 6, 2, 1)


def attention_heads(dim: int) -> int:
    """Number of attention heads for tokens of width ``dim`` (8 when it divides ``dim``)."""
    return next(h for h in HEAD_COUNTS if dim % h == 0)


class AttentionPool(nn.Module):
    """One learnable query attends over the (layer-normed) tokens, or over those a mask
    keeps; a linear layer maps the pooled vector to ``num_outputs`` logits."""

    def __init__(self, dim: int, num_outputs: int, heads: int | None = None) -> None:
        super().__init__()
        self.heads = heads or attention_heads(dim)
        self.norm = nn.LayerNorm(dim)
        self.query = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.trunc_normal_(self.query, std=0.02)
        self.attention = nn.MultiheadAttention(dim, self.heads, batch_first=True)
        self.out_norm = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, num_outputs)

    def forward(self, tokens: Tensor, mask: Tensor | None = None) -> Tensor:
        """Tokens ``(B, T, D)`` → logits ``(B, num_outputs)``; with ``mask`` ``(B, T)``
        only the tokens where it is True are attended to (each row needs one)."""
        x = self.norm(tokens)
        query = self.query.expand(len(x), -1, -1)
        padding = None if mask is None else ~mask
        pooled, _ = self.attention(query, x, x, key_padding_mask=padding, need_weights=False)
        return self.fc(self.out_norm(pooled[:, 0]))


class TokenClassifier(nn.Module):
    """An encoder's tokens through an :class:`AttentionPool` head.

    With ``frozen=True`` the encoder's parameters do not train and the encoder stays in
    eval mode whatever :meth:`train` is called with.
    """

    def __init__(
        self, encoder: nn.Module, tokens: RecordTokenFn, head: AttentionPool, frozen: bool
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.frozen = frozen
        self._tokens = tokens
        if frozen:
            encoder.requires_grad_(False)
            encoder.eval()

    def train(self, mode: bool = True) -> TokenClassifier:
        """Set training mode; a frozen encoder stays in eval mode."""
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        return self

    def forward(self, x: Tensor) -> Tensor:
        """Model input → logits ``(B, num_outputs)``."""
        tokens = self._tokens(x)
        return self.head(tokens.tokens, tokens.mask)


def segment_head(
    built: BuiltModel, spec: ModelSpec, labels: Sequence[str], kind: str = "classification"
) -> BuiltModel:
    """A segment model's own head set to combine its windows by ``spec.input.segments`` for a
    task of ``kind`` with ``labels`` (``()``: binary): its module's ``record_rule`` attribute (see
    :class:`bench.training.segments.RecordRule`) is replaced and recorded as
    ``segment_rules`` in the built config."""
    assert spec.input.segments is not None
    rule = RecordRule.for_task(spec.input.segments, labels, kind)
    module = built.module
    if not isinstance(getattr(module, "record_rule", None), RecordRule):
        raise TypeError(
            f"model {spec.name!r} declares `segments` but its module "
            f"({type(module).__name__}) has no `record_rule` (a RecordRule its forward "
            "combines window scores with)"
        )
    setattr(module, "record_rule", rule)  # noqa: B010 (a plain attribute of any module)
    return replace(built, config={**built.config, "segment_rules": list(rule.rules)})


def protocol_model(
    built: BuiltModel,
    spec: ModelSpec,
    protocol: EvalProtocol,
    num_outputs: int,
    sample: Tensor,
    labels: Sequence[str] = (),
    kind: str = "classification",
) -> BuiltModel:
    """The model a protocol trains: ``built`` itself, or ``built`` wrapped in an attention head
    (``sample``, a batch of one input, measures the token width). A segment model kept
    itself (fine-tuned, or linear-probed on its features) has its head set to the task's
    ``labels`` and ``kind`` (:func:`segment_head`): its forward is the cell's model, which the
    cost measurement runs whatever the protocol."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")
    if protocol not in ATTENTION_PROTOCOLS:
        return built if spec.input.segments is None else segment_head(built, spec, labels, kind)
    tokens = record_tokens(spec, built.module)
    dim = token_dim(tokens, built.module, sample)
    head = AttentionPool(dim, num_outputs)
    module = TokenClassifier(built.module, tokens, head, frozen=protocol == "frozen-attn")
    config = {**built.config, "head": "attention-pool", "head_heads": head.heads, "token_dim": dim}
    return replace(built, module=module, config=config)
