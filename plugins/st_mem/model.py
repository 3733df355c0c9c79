"""ST-MEM as a segment model: the authors' ViT (:class:`~bench.plugins.st_mem.vit.STMEMViT`)
on each 9 s window of a record that the input contract made (``ST_MEM_RECIPE``: three
windows spread over the record's first 10 s, each already high- and low-passed and
z-scored), its window scores combined as the authors' evaluation does (the mean of the
crops' probabilities; :class:`bench.training.segments.RecordRule`)."""

from __future__ import annotations

from bench.plugins.st_mem.vit import STMEMViT, ViTConfig
from torch import Tensor

from bench.api import RecordRule, real_segments, scatter_slots


class StMem(STMEMViT):
    """Segment classifier: records ``(B, 12, k * seq_len)`` → the head's logits of each
    filled window (``head(forward_encoding(window))``), combined by ``record_rule`` over the
    filled slots (binary by default; the harness sets it to each task's labels).
    :meth:`~STMEMViT.tokens` (the features contract) takes one window per row."""

    def __init__(
        self, config: ViTConfig, num_classes: int, record_rule: RecordRule | None = None
    ) -> None:
        super().__init__(config, num_classes)
        self.record_rule = record_rule or RecordRule()

    def segment_logits(self, windows: Tensor) -> Tensor:
        """The head's logits of each window ``(N, 12, seq_len)`` → ``(N, num_classes)``."""
        return super().forward(windows)

    def forward(self, series: Tensor) -> Tensor:
        """Record-level logits ``(B, num_classes)`` (see :class:`RecordRule`)."""
        windows, filled = real_segments(series, self.config.seq_len)
        return self.record_rule.combine(scatter_slots(self.segment_logits(windows), filled), filled)
