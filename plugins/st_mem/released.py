"""ST-MEM's ``ModelSpec.released_head``: a fine-tuned checkpoint of the authors'
``main_downstream.py`` with its own head, for ``bench predict``.

The authors release no fine-tuned ST-MEM (their README publishes the pretrained encoder and
the encoder + decoder only); this reads the ``best-*.pth`` their downstream training writes
(``misc.save_model``: the ``ST_MEM_ViT`` state under ``model``, ``head.weight`` and
``head.bias`` included, and the whole run ``config``). How the head was trained is in
``config["loss"]["name"]`` (``util/losses.py``): ``cross_entropy`` (softmax over the
classes) or ``bce`` (a sigmoid per label). The file stores no label names (the index's
label column holds class indices): ``--labels`` gives them, one per output in order.

A record is scored as ``engine_downstream.evaluate`` scores it: the mean over its windows
(the input contract's three crops) of the head's probabilities, per output.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import torch
from bench.plugins.st_mem import ST_MEM_RECIPE
from bench.plugins.st_mem.builder import HEAD_PREFIX, build_st_mem, read_checkpoint
from bench.plugins.st_mem.model import StMem
from torch import Tensor, nn

from bench.api import (
    CheckpointError,
    RecordRule,
    load_into,
    read_label_names,
    read_torch_file,
    real_segments,
    scatter_slots,
)

#: ``config["loss"]["name"]`` → the activation the head was trained with.
ACTIVATIONS = {"cross_entropy": "softmax", "bce": "sigmoid"}


class SoftmaxRecords(nn.Module):
    """A softmax head's record outputs: the log of the mean over the filled windows of their
    softmax, so that ``softmax`` of a record's outputs is the mean of its windows'
    probabilities (a lone window is a one-window record)."""

    def __init__(self, model: StMem) -> None:
        super().__init__()
        self.model = model
        self.record_rule = RecordRule()  # every class: the mean over the windows

    def forward(self, series: Tensor) -> Tensor:
        """Record log-probabilities ``(B, classes)``."""
        windows, filled = real_segments(series, self.model.config.seq_len)
        logp = torch.log_softmax(self.model.segment_logits(windows).float(), -1)
        slots = scatter_slots(logp, filled).masked_fill(~filled[..., None], -torch.inf)
        return torch.logsumexp(slots, 1) - filled.sum(1, keepdim=True).log()


def _activation(path: Path) -> str:
    """``config["loss"]["name"]`` of ``path`` as an activation; a file without it is refused."""
    obj = read_torch_file(path)
    config = obj.get("config") if isinstance(obj, Mapping) else None
    loss = config.get("loss") if isinstance(config, Mapping) else None
    name = loss.get("name") if isinstance(loss, Mapping) else None
    if name not in ACTIVATIONS:
        raise CheckpointError(
            f"{path}: config['loss']['name'] is {name!r}; expected one of "
            f"{', '.join(ACTIVATIONS)} (main_downstream.py's best-*.pth stores it; it says "
            "whether the head's outputs are softmax classes or sigmoid labels)"
        )
    return ACTIVATIONS[name]


def released_head(
    weights: str, options: Mapping[str, Any]
) -> tuple[nn.Module, tuple[str, ...], str]:
    """The fine-tuned ST-MEM of ``weights`` with its own head (see the module docstring);
    ``options["labels"]`` is the label names file."""
    path = Path(weights)
    state, _ = read_checkpoint(path)
    head = {k.removeprefix(HEAD_PREFIX): v for k, v in state.items() if k.startswith(HEAD_PREFIX)}
    if "weight" not in head:
        raise CheckpointError(
            f"{path}: no classification head (head.weight); expected a fine-tuned ST-MEM "
            "(main_downstream.py's best-*.pth), got an encoder without one (use bench embed or "
            "bench run for it)"
        )
    activation = _activation(path)
    outputs = int(head["weight"].shape[0])
    if options.get("labels") is None:
        raise CheckpointError(
            f"{path}: an ST-MEM checkpoint stores no label names; pass --labels with one name "
            f"per output of its head ({outputs}), in order (class index 0 first)"
        )
    names = read_label_names(Path(options["labels"]), outputs, path)
    built = build_st_mem(
        num_classes=outputs, profile="paper", input_size=ST_MEM_RECIPE.segment_samples,
        weights=weights, name="st-mem",
    )  # fmt: skip
    model = built.module
    try:
        load_into(model.head, head, ignore=())
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    if activation == "sigmoid":
        model.record_rule = RecordRule(("mean",) * outputs, multilabel=True)
        return model.eval(), names, activation
    return SoftmaxRecords(cast(StMem, model)).eval(), names, activation
