"""ECG-FM's ``ModelSpec.released_head``: a released fine-tuned fairseq-signals checkpoint with
its own classification head, for ``bench predict``.

A fine-tuned file (``cfg["model"]["_name"]`` ``ecg_transformer_classifier``) holds the
encoder under ``encoder.`` and the head as ``proj.weight``/``proj.bias``: one logit per
label from the padding-aware time mean of the encoder output, as fairseq-signals'
``ECGTransformerClassificationModel`` computes it. How the head was trained is in
``cfg["criterion"]["_name"]``: ``binary_cross_entropy_with_logits`` or
``binary_cross_entropy`` (independent sigmoid labels, as the released ECG-FM heads) or
``cross_entropy`` (softmax). The file stores no label names: fairseq-signals keeps them in the
``label_def.csv`` that its label preparation writes beside the label array
(``cfg["task"]["label_file"]``), one row per output in order, names in its ``name`` column;
``--labels`` gives that file (or a text file, one name per line).

A record is its 5 s windows' probabilities combined per label: the mean, or the max for the
labels ECG-FM's own inference takes the max of (:data:`RELEASED_SEGMENTS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.plugins.ecgfm import ECGFM_SEGMENTS
from bench.plugins.ecgfm.builder import SEGMENT_SAMPLES
from bench.plugins.ecgfm.loader import read_checkpoint
from bench.plugins.ecgfm.model import EcgFmClassifier
from torch import nn

from bench.api import CheckpointError, RecordRule, load_into, read_label_names

#: ``cfg["criterion"]["_name"]`` → the activation the head was trained with.
ACTIVATIONS = {
    "binary_cross_entropy_with_logits": "sigmoid",
    "binary_cross_entropy": "sigmoid",
    "cross_entropy": "softmax",
}
#: The labels of the released MIMIC-IV-ECG head whose record score ECG-FM's inference
#: (bowang-lab/ECG-FM, notebooks/infer_quickstart.ipynb) takes as the max over windows.
UPSTREAM_MAX_LABELS = (
    "Poor data quality",
    "Premature ventricular contraction",
    "Ventricular tachycardia",
    "Supraventricular tachycardia with aberrancy",
    "Electronic pacemaker",
)
#: How a released head's windows make a record: ECG-FM's aggregation plus the max labels of
#: its own inference under their released names.
RELEASED_SEGMENTS = replace(
    ECGFM_SEGMENTS,
    label_rules=(*ECGFM_SEGMENTS.label_rules, *((name, "max") for name in UPSTREAM_MAX_LABELS)),
)


def _activation(cfg: Mapping[str, Any], path: Path) -> str:
    criterion = cfg.get("criterion")
    name = criterion.get("_name") if isinstance(criterion, Mapping) else None
    if name not in ACTIVATIONS:
        raise CheckpointError(
            f"{path}: cfg['criterion']['_name'] is {name!r}; expected one of "
            f"{', '.join(ACTIVATIONS)} (it says whether the head's outputs are sigmoid labels "
            "or softmax classes)"
        )
    return ACTIVATIONS[name]


def released_head(
    weights: str, options: Mapping[str, Any]
) -> tuple[nn.Module, tuple[str, ...], str]:
    """The fine-tuned ECG-FM of ``weights`` with its own head (see the module docstring);
    ``options["labels"]`` is the label names file."""
    path = Path(weights)
    loaded = read_checkpoint(path)
    if "weight" not in loaded.head:
        raise CheckpointError(
            f"{path}: no classification head; expected a fine-tuned fairseq-signals checkpoint "
            "(cfg['model']['_name'] 'ecg_transformer_classifier', keys encoder.* plus "
            f"proj.weight and proj.bias), got a {loaded.model_name or 'converted'} encoder "
            "without one (use bench embed or bench run for it)"
        )
    activation = _activation(loaded.cfg, path)
    outputs = int(loaded.head["weight"].shape[0])
    if options.get("labels") is None:
        task = loaded.cfg.get("task")
        label_file = task.get("label_file") if isinstance(task, Mapping) else None
        where = f" (this one was trained on {label_file})" if label_file else ""
        raise CheckpointError(
            f"{path}: a fairseq-signals checkpoint stores no label names; pass --labels with "
            f"the label_def.csv written beside its label file{where}, {outputs} rows in the "
            "head's order (the released ECG-FM heads: data/mimic_iv_ecg/labels/label_def.csv "
            "and data/physionet2021/labels/label_def.csv in github.com/bowang-lab/ECG-FM)"
        )
    names = read_label_names(Path(options["labels"]), outputs, path)
    if activation == "sigmoid":
        rule = RecordRule(RELEASED_SEGMENTS.rules(names), multilabel=True)
    elif outputs == 2:
        rule = RecordRule(RELEASED_SEGMENTS.rules(()))  # P(second class), its windows combined
    else:
        raise CheckpointError(
            f"{path}: a {outputs}-class softmax head; bench predict combines the windows of "
            "sigmoid labels or of a two-class softmax head only"
        )
    module = EcgFmClassifier(loaded.config, outputs, SEGMENT_SAMPLES, rule)
    try:
        load_into(module.encoder, loaded.encoder, ignore=())
        load_into(module.proj, loaded.head, ignore=())
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    return module.eval(), names, activation
