"""Segment models: a record is the segments it really has, never its empty slots.

A segment model (``SignalInput.segments``, a
:class:`~bench.data.signal_recipe.SegmentAggregation`) encodes each segment slot of its
signal recipe on its own. This module holds what the harness does with such a model:

- :func:`real_segments` / :func:`scatter_slots`: a batch of records → its filled slots'
  segments, and per-segment results back into slots;
- :class:`RecordRule`: how the model's own head turns window logits into record outputs
  (per label, the mean or max of the window probabilities) in the form the training loss
  expects;
- :class:`WindowDataset` and :func:`window_sets`: every real segment as one input, so that
  per-window scores (and ``bench embed --per-segment``) come from the same machinery as
  per-record ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from bench.data.signal_recipe import SegmentAggregation, SegmentRule, filled_slots
from bench.host.specs import ModelSpec
from bench.training.datasets import ArrayDataset, Batch

#: Suffix of the evaluation set holding the windows of an evaluation set's records.
WINDOWS_SUFFIX = ":windows"


def real_segments(records: Tensor, segment_samples: int) -> tuple[Tensor, Tensor]:
    """Records ``(B, leads, k * S)`` → the segments of their filled slots ``(m, leads, S)``
    (record by record, slots in order) and the filled-slot mask ``(B, k)``."""
    filled = filled_slots(records, segment_samples)
    b, leads, samples = records.shape
    slots = records.reshape(b, leads, samples // segment_samples, segment_samples)
    return slots.transpose(1, 2)[filled], filled


def scatter_slots(values: Tensor, filled: Tensor) -> Tensor:
    """Per-segment ``values`` ``(m, ...)`` (in :func:`real_segments` order) → ``(B, k, ...)``
    with zeros in the empty slots."""
    out = values.new_zeros((*filled.shape, *values.shape[1:]))
    out[filled] = values
    return out


@dataclass(frozen=True)
class RecordRule:
    """How a segment model's own head makes a record's outputs from its windows' logits.

    ``rules`` holds one :data:`~bench.data.signal_recipe.SegmentRule` per score: one for
    a binary task (a 2-logit softmax head trained with cross-entropy; the score is
    P(positive)), one per label for a multi-label task (``multilabel``: K sigmoid outputs
    trained with BCE). Each score's record probability is the mean or the max of its
    window probabilities over the filled slots, returned as logits of that head (binary:
    ``[0, log-odds]``), so the loss trains the record score directly. A regression task's
    targets and a survival task's risk (``kind``) are the mean or the max of the windows'
    outputs themselves.
    """

    rules: tuple[SegmentRule, ...] = ("mean",)
    multilabel: bool = False
    kind: str = "classification"

    @classmethod
    def for_task(
        cls, aggregation: SegmentAggregation, labels: Sequence[str], kind: str = "classification"
    ) -> RecordRule:
        """The rule of a task of ``kind`` with ``labels`` (``()``: binary, or one target)
        under ``aggregation``."""
        return cls(aggregation.rules(labels), multilabel=bool(labels), kind=kind)

    def outputs(self) -> int:
        """Logits the head must produce: 2 for a binary task, one per label otherwise."""
        return len(self.rules) if self.multilabel or self.kind != "classification" else 2

    def combine(self, logits: Tensor, filled: Tensor) -> Tensor:
        """Window logits ``(B, k, outputs)`` and filled slots ``(B, k)`` → record logits
        ``(B, outputs)`` (float32; an empty slot's logits are ignored)."""
        if logits.shape[-1] != self.outputs():
            kind = f"{len(self.rules)} labels" if self.multilabel else "a binary task"
            raise ValueError(
                f"segment head: {logits.shape[-1]} logits per window, but its record rule is "
                f"for {kind} ({self.outputs()} logits); set the module's record_rule"
            )
        logits = logits.float()
        empty = ~filled[..., None]
        use_max = torch.tensor([rule == "max" for rule in self.rules], device=logits.device)
        if self.kind != "classification":
            total = logits.masked_fill(empty, 0.0).sum(1)
            mean = total / filled.sum(1, keepdim=True).clamp(min=1)
            return torch.where(use_max, logits.masked_fill(empty, -torch.inf).amax(1), mean)
        odds = logits if self.multilabel else (logits[..., 1] - logits[..., 0]).unsqueeze(-1)
        # log-odds of the mean probability: log mean sigmoid(z) - log mean sigmoid(-z)
        mean = torch.logsumexp(F.logsigmoid(odds).masked_fill(empty, -torch.inf), 1)
        mean = mean - torch.logsumexp(F.logsigmoid(-odds).masked_fill(empty, -torch.inf), 1)
        peak = odds.masked_fill(empty, -torch.inf).amax(1)  # sigmoid is monotone
        record = torch.where(use_max, peak, mean)
        return record if self.multilabel else torch.cat([torch.zeros_like(record), record], -1)


class WindowDataset(ArrayDataset):
    """Every real segment (window) of a signal dataset's records as one input ``(leads,
    segment_samples)``, labelled with its record's labels.

    ``positions[i]`` is window ``i``'s record (its index in ``records``), ``slots[i]`` its
    slot (it starts ``slots[i] * segment_samples`` samples into the record). The filled
    slots are found ``chunk`` records at a time, so a memmapped cohort is never read whole.
    """

    def __init__(self, records: ArrayDataset, segment_samples: int, chunk: int = 256) -> None:
        if records.kind != "signal":
            raise ValueError(f"WindowDataset: needs a signal dataset, got {records.kind!r}")
        positions, slots = [], []
        for start in range(0, len(records), chunk):
            rows = records.rows[start : start + chunk]
            record, slot = np.nonzero(filled_slots(records.array[rows], segment_samples))
            positions.append(record + start)
            slots.append(slot)
        self.positions = np.concatenate(positions) if positions else np.zeros(0, np.int64)
        self.slots = np.concatenate(slots) if slots else np.zeros(0, np.int64)
        self.segment_samples = segment_samples
        self.n_records = len(records)
        self.n_slots = records.array.shape[-1] // segment_samples
        labels = records.labels[self.positions]
        super().__init__(records.array, records.rows[self.positions], labels, "signal")

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        """A batch of windows ``(n, leads, segment_samples)`` and their labels."""
        x, y = super().__getitems__(indices)
        slots = torch.from_numpy(self.slots[np.asarray(indices, dtype=np.int64)])
        n, leads, samples = x.shape
        x = x.view(n, leads, samples // self.segment_samples, self.segment_samples)
        return x[torch.arange(n), :, slots], y

    def per_record(self, scores: np.ndarray) -> np.ndarray:
        """Window ``scores`` ``(windows, ...)`` → ``(records, slots, ...)``, NaN in the
        empty slots."""
        out = np.full((self.n_records, self.n_slots, *scores.shape[1:]), np.nan)
        out[self.positions, self.slots] = scores
        return out


def window_sets(spec: ModelSpec, evals: Mapping[str, ArrayDataset]) -> dict[str, WindowDataset]:
    """The windows of every evaluation set of a segment model, named ``<set>:windows``
    (none for other models): scored as extra evaluation sets, they give per-window scores
    from the same trained model, head and selected weights as the records' scores."""
    samples = spec.input.segment_samples()
    if samples is None:
        return {}
    return {f"{name}{WINDOWS_SUFFIX}": WindowDataset(ds, samples) for name, ds in evals.items()}


def window_scores(
    scores: dict[str, np.ndarray], windows: Mapping[str, WindowDataset]
) -> dict[str, np.ndarray]:
    """Take the scores of the :func:`window_sets` out of ``scores``: per evaluation set,
    ``(records, slots, ...)`` with NaN in the empty slots."""
    return {
        name.removesuffix(WINDOWS_SUFFIX): dataset.per_record(scores.pop(name))
        for name, dataset in windows.items()
    }
