"""ECGFounder's ``ModelSpec.released_head``: the released checkpoints' own 150-statement
head, for ``bench predict``.

The released files (``12_lead_ECGFounder.pth``, ``1_lead_ECGFounder.pth`` on Hugging Face
``PKUDigitalHealth/ECGFounder``) are Net1D with its ``dense`` head, Linear(1024, 150): one
logit per ECG statement of the supervised pretraining. The file stores neither the
activation nor the label names; both are fixed by the published model. The authors'
``ptbxl_eval.py`` (the 150-class validation) loads that head, applies ``F.sigmoid`` to its
logits and names output ``i`` by line ``i`` of the repository's ``tasks.txt`` (150 lines);
``--labels`` gives that file. A checkpoint with a head of another size (one fine-tuned with
``finetune_model.py``, whose ``save_checkpoint`` stores the weights, ``epoch``, ``step``,
``optimizer``, ``scheduler`` and ``val_auroc`` only) tells neither its activation nor its
labels, and is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.plugins.ecgfounder.builder import HEAD_PREFIX, N_CLASSES, build_ecgfounder, read_state
from torch import nn

from bench.api import CheckpointError, load_into, read_label_names

#: The upstream file naming the released head's outputs, one per line, in order.
TASKS_URL = "https://github.com/PKUDigitalHealth/ECGFounder/blob/main/tasks.txt"
#: The released head's activation (``ptbxl_eval.py``: ``F.sigmoid(logits)``).
ACTIVATION = "sigmoid"


def released_head(
    weights: str, options: Mapping[str, Any], *, name: str, leads: int, samples: int
) -> tuple[nn.Module, tuple[str, ...], str]:
    """The ``leads``-lead ECGFounder (registered as ``name``, its windows ``samples`` long)
    of ``weights`` with its own 150-statement head (see the module docstring);
    ``options["labels"]`` is ``tasks.txt``."""
    path = Path(weights)
    state = read_state(path)
    head = {k.removeprefix(HEAD_PREFIX): v for k, v in state.items() if k.startswith(HEAD_PREFIX)}
    if "weight" not in head:
        raise CheckpointError(
            f"{path}: no classification head (dense.weight); expected a released ECGFounder "
            "checkpoint with its 150-statement head"
        )
    outputs = int(head["weight"].shape[0])
    if outputs != N_CLASSES:
        raise CheckpointError(
            f"{path}: a {outputs}-output dense head, and an ECGFounder checkpoint stores "
            f"neither its activation nor its label names; bench predict runs the released "
            f"{N_CLASSES}-statement head only (sigmoid, named by tasks.txt)"
        )
    if options.get("labels") is None:
        raise CheckpointError(
            f"{path}: the file stores no label names; pass --labels with the ECGFounder "
            f"repository's tasks.txt ({TASKS_URL}: {N_CLASSES} statements, one per line, in "
            "the head's order)"
        )
    names = read_label_names(Path(options["labels"]), outputs, path)
    built = build_ecgfounder(
        num_classes=outputs, profile="paper", input_size=samples, weights=weights, name=name,
        leads=leads,
    )  # fmt: skip
    try:
        load_into(built.module.dense, head, ignore=())
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    return built.module.eval(), names, ACTIVATION
