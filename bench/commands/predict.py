"""``bench predict``: a released fine-tuned checkpoint's own head on raw ECGs.

The model reads its released fine-tuned format (``ModelSpec.released_head``): the encoder,
the head trained with it, the head's label names and its activation (``sigmoid``:
independent labels, as trained with binary cross-entropy; ``softmax``: one class among
them). Inputs are read as ``bench embed`` reads them (``--input`` or ``--task``, through the
model's own recipe and the runner's cache) and go through the head in eval mode under
``--precision``. A segment model scores each window and makes a record of the windows it
really has by its input contract's rule (the mean or max of each label's probabilities);
``--per-segment`` writes one row per window instead.

The output CSV has ``record_id``, ``patient_id`` (with ``--per-segment`` also ``segment``
and ``start_s``) and one probability column per label, named as the checkpoint's labels;
``<stem>.manifest.json`` beside it records the model, the weights, the labels, the
activation, each label's record rule and the precision.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bench.commands.embed import read_records, segment_windows
from bench.commands.inference import engine, inference_options, used_precision, write_manifest

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

    from bench.host.manager import PluginHost
    from bench.host.specs import ModelSpec
    from bench.training.datasets import ArrayDataset


def probabilities(logits: np.ndarray, activation: str) -> np.ndarray:
    """``(n, K)`` head logits → probabilities: ``sigmoid`` per label or ``softmax`` per row."""
    import numpy as np

    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-logits))
    if activation == "softmax":
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)
    raise ValueError(f"head activation {activation!r}: expected 'sigmoid' or 'softmax'")


def head_logits(
    module: nn.Module,
    spec: ModelSpec,
    dataset: ArrayDataset,
    profile: str,
    device: str,
    precision: str = "auto",
) -> np.ndarray:
    """The head's logits ``(n, K)`` (float64) of every row of ``dataset``, in eval mode with
    the profile's batch size under ``precision`` (see :func:`bench.commands.inference.engine`)."""
    from bench.training.features import frozen_encoder
    from bench.training.runtime import DeviceBatches, predict, sequential_batches

    torch_device, batch, amp = engine(profile, device, precision)
    module = frozen_encoder(module, spec, torch_device)
    batches = DeviceBatches(
        dataset, sequential_batches(len(dataset), batch), torch_device, 0, spec.input.channels_last
    )
    return predict(module, module, batches, torch_device, amp)[0]


def _record_rules(module: nn.Module, labels: tuple[str, ...]) -> dict[str, str]:
    """Each output column's record rule (a segment model's ``record_rule``; else none)."""
    rule = getattr(module, "record_rule", None)
    if rule is None:
        return {}
    rules = rule.rules if rule.multilabel else rule.rules * len(labels)
    return dict(zip(labels, rules, strict=True))


@click.command(name="predict")
@inference_options(
    weights=click.option(
        "--weights",
        required=True,
        type=click.Path(exists=True, dir_okay=False),
        help="A released fine-tuned checkpoint with its classification head: ECG-FM's "
        "fairseq-signals ecg_transformer_classifier .pt, ECGFounder's released .pth (its "
        "150-statement head), ST-MEM's fine-tuned best-*.pth (docs/models.md: which models "
        "have one).",
    ),
    output_help="Probabilities CSV: record_id, patient_id, one column per label; what produced "
    "it goes to <stem>.manifest.json beside it.",
    per_segment_help="One row per window of a segment model (columns segment, 0-based, and "
    "start_s, seconds) instead of one per record.",
)
@click.option(
    "--labels",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The head's label names when the checkpoint stores none: a label_def.csv "
    "(fairseq-signals; its 'name' column, in the head's order) or a text file, one per line.",
)
@click.pass_context
def predict_command(
    ctx: click.Context,
    model: str,
    weights: str,
    output: Path,
    per_segment: bool,
    profile: str,
    task: str | None,
    source: str | None,
    source_options: tuple[str, ...],
    input_path: Path | None,
    fs: float | None,
    precision: str,
    device: str,
    cache_dir: str | None,
    labels: Path | None,
) -> None:
    """Write a released fine-tuned head's per-label probabilities for each record.

    Runs the checkpoint's own classification head (not a new one, as bench run fits) on
    raw ECGs or a task's records, through the model's own preprocessing; the columns are
    the head's label names. A segment model (ECG-FM, ST-MEM) scores each window and makes
    the record's probability by its input contract's rule (mean, or max for some labels).

    \b
    Examples:
      bench predict -m ecg-fm --weights mimic_iv_ecg_finetuned.pt --labels label_def.csv \\
          --input ecgs.npy --fs 500 -o probabilities.csv
      bench predict -m ecg-fm --weights physionet_finetuned.pt --labels label_def.csv \\
          --input /data/wfdb-folder --per-segment --precision fp32 -o windows.csv
      bench predict -m ecgfounder --weights 12_lead_ECGFounder.pth --labels tasks.txt \\
          --input ecgs.npy --fs 500 -o probabilities.csv
    """
    import numpy as np
    import pandas as pd

    from bench.weights.checkpoints import CheckpointError
    from bench.weights.initial import file_sha256

    host: PluginHost = ctx.find_root().obj
    spec = host.registries.models.get(model)
    if spec.released_head is None:
        able = [m.name for m in host.registries.models if m.released_head is not None]
        raise click.UsageError(
            f"model {model!r} declares no released fine-tuned head format; models with one: "
            f"{', '.join(able) or 'none installed'} (docs/models.md says, model by model, "
            "which fine-tuned files bench predict reads and why the others cannot be)"
        )
    if per_segment and spec.input.segments is None:
        raise click.UsageError(
            f"--per-segment: model {model!r} is not a segment model (its head reads a whole "
            "record at once)"
        )
    options: dict[str, Any] = {"labels": str(labels) if labels else None}
    try:
        module, names, activation = spec.released_head(weights, options)
    except CheckpointError as exc:
        raise click.ClickException(str(exc)) from exc
    records = read_records(
        host, spec, task=task, source=source, source_options=source_options,
        input_path=input_path, fs=fs, profile=profile, cache_dir=cache_dir,
    )  # fmt: skip
    dataset: ArrayDataset = records.dataset
    if per_segment:
        dataset, where = segment_windows(spec, records.dataset)
    else:
        where = pd.DataFrame({"position": np.arange(len(records.ids))})
    logits = head_logits(module, spec, dataset, profile, device, precision)
    if logits.shape[1] != len(names):
        raise click.ClickException(
            f"{weights}: the head gave {logits.shape[1]} outputs for {len(names)} label names"
        )
    table = records.table(where)
    probs = pd.DataFrame(probabilities(logits, activation), columns=list(names))
    output.parent.mkdir(parents=True, exist_ok=True)
    pd.concat([table, probs], axis=1).to_csv(output, index=False)
    precision = used_precision(precision, device)
    write_manifest(
        output,
        {
            "command": "predict",
            "model": model,
            "weights": str(Path(weights).resolve()),
            "weights_sha256_16": file_sha256(weights),
            "labels_file": str(labels.resolve()) if labels else None,
            "labels": list(names),
            "activation": activation,
            "record_rules": {} if per_segment else _record_rules(module, names),
            "precision": precision,
            "device": device,
            "per_segment": per_segment,
            "rows": len(probs),
            "records": len(records.ids),
            "left_out": len(records.failed),
        },
    )
    unit = "window" if per_segment else "record"
    click.echo(
        f"{len(probs)} {unit} rows × {len(names)} {activation} probabilities → {output} "
        f"(precision {precision})"
    )
    records.echo_failed()
