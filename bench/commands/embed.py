"""``bench embed``: one embedding per record (or per segment) from a model's features contract.

The vectors are the mean-pooled tokens of :mod:`bench.training.features`, computed exactly as
the linear probe computes its features (same inputs, same eval-mode forward, same batch
size), so a probe fitted on exported embeddings sees what ``--protocol linear-probe`` sees.
Inputs go through the model's own recipe (the image recipe or its signal recipe) with the
same cache the runner uses.

``--per-segment`` (models whose :class:`~bench.data.signal_recipe.SignalRecipe` cuts a record
into segments) embeds each real segment alone, as a ``(leads, segment_samples)`` input: the
unit signal models are built for (``ModelSpec.input_size``). A segment model
(``SignalInput.segments``: ECG-FM) embeds a record as the mean of the segments it really has
(:func:`bench.training.features.record_tokens`), so its record embedding is the mean of its
``--per-segment`` rows (a 5 s record's equals its one segment's); a model that convolves
across the slots (resnet1d) has no such relation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bench.commands.inference import engine, inference_options, used_precision, write_manifest
from bench.commands.inputs import input_cohort
from bench.commands.options import parse_source_options
from bench.run.config import PROFILES, default_cache_dir

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from bench.data.cohort import Cohort
    from bench.host.manager import PluginHost
    from bench.host.specs import BuiltModel, ModelSpec
    from bench.training.datasets import ArrayDataset
    from bench.training.segments import WindowDataset


def ids_path(output: Path) -> Path:
    """The ids file written beside ``output`` (``emb.npy`` → ``emb.ids.csv``)."""
    return output.with_name(f"{output.stem}.ids.csv")


def task_cohort(
    host: PluginHost,
    name: str,
    source: str | None,
    options: dict[str, dict[str, Any]],
    profile: str,
) -> Cohort:
    """The cohort of task ``name`` from ``source`` (default: the task's own; the synthetic
    source at the profile's size, as in ``bench run``)."""
    task = host.registries.tasks.get(name)
    source = source or task.default_source
    if source not in task.loaders:
        raise click.BadParameter(
            f"task {name!r} has no data source {source!r}; "
            f"available: {', '.join(sorted(task.loaders))}",
            param_hint="--source",
        )
    defaults = PROFILES[profile].synthetic_options(name) if source == "synthetic" else {}
    return task.loaders[source]({"task": name, **defaults, **options.get(source, {})})


def cohort_inputs(
    spec: ModelSpec, cohort: Cohort, profile: str, cache_dir: Path
) -> tuple[ArrayDataset, list[str], dict[str, str]]:
    """The model inputs of the cohort's readable records (through the runner's cache and
    the model's own recipe), their ids, and the unreadable records (id → reason)."""
    import numpy as np

    from bench.data.image_cache import ImageCache
    from bench.data.preprocess import PreprocessConfig
    from bench.data.render import RenderConfig
    from bench.run.task_data import Inputs
    from bench.training.datasets import ArrayDataset

    inputs = Inputs(PreprocessConfig(), RenderConfig(size=PROFILES[profile].image_size))
    ids = cohort.manifest["record_id"].tolist()
    cached = inputs.build(ImageCache(cache_dir), cohort, ids, spec)
    usable = [r for r in ids if r not in cached.failed]
    labels = np.zeros(len(usable), dtype=np.int64)
    dataset = ArrayDataset(
        cached.array, cached.rows(usable), labels, spec.input.kind, spec.input.mean, spec.input.std
    )
    return dataset, usable, dict(cached.failed)


def segment_windows(spec: ModelSpec, dataset: ArrayDataset) -> tuple[WindowDataset, pd.DataFrame]:
    """Every real segment of ``dataset``'s records as one input (a
    :class:`bench.training.segments.WindowDataset`), and where each is: columns ``position``
    (its record's row in ``dataset``), ``segment`` (0-based slot) and ``start_s`` (seconds
    from the record's start; empty for windows spread over the record, ST-MEM's, whose
    starts depend on the record's length, which the cache does not keep: 0, 0.5 and 1 s for
    10 s or more)."""
    import numpy as np
    import pandas as pd

    from bench.training.segments import WindowDataset

    recipe = spec.input.recipe
    if recipe is None:
        raise ValueError(f"model {spec.name!r} has no signal recipe: its inputs have no segments")
    windows = WindowDataset(dataset, recipe.segment_samples)
    where = pd.DataFrame(
        {
            "position": windows.positions,
            "segment": windows.slots,
            "start_s": windows.slots * recipe.segment_samples / recipe.target_fs
            if recipe.windows == "consecutive"
            else np.full(len(windows.slots), np.nan),
        }
    )
    return windows, where


def segment_embeddings(
    built: BuiltModel,
    spec: ModelSpec,
    dataset: ArrayDataset,
    profile: str,
    device: str,
    precision: str = "auto",
) -> tuple[np.ndarray, pd.DataFrame]:
    """Embeddings ``(m, D)`` of every real segment of ``dataset``'s records, each embedded
    alone, and where each segment is (:func:`segment_windows`)."""
    windows, where = segment_windows(spec, dataset)
    return embed(built, spec, windows, profile, device, precision), where


def build_encoder(spec: ModelSpec, weights: str | None, profile: str, seed: int) -> BuiltModel:
    """``spec`` built as ``bench run --profile PROFILE`` builds it, from ``weights`` (a random
    initialisation is seeded with ``seed``)."""
    from bench.training.runtime import seed_everything
    from bench.weights.initial import resolve_weights

    size = PROFILES[profile]
    input_size = spec.input_size(size.image_size)  # as the runner builds it
    resolved = resolve_weights(spec, weights, size.model_profile, input_size)
    seed_everything(seed)
    return spec.build(
        num_classes=2,
        profile=size.model_profile,
        input_size=input_size,
        weights=resolved.argument,
    )


def embed(
    built: BuiltModel,
    spec: ModelSpec,
    dataset: ArrayDataset,
    profile: str,
    device: str,
    precision: str = "auto",
) -> np.ndarray:
    """Embeddings ``(n, D)`` float32: the linear probe's features of ``dataset`` under the
    profile's engine settings (:func:`engine`)."""
    import numpy as np

    from bench.training.features import extract_features, frozen_encoder

    torch_device, batch, amp = engine(profile, device, precision)
    module = frozen_encoder(built.module, spec, torch_device)
    features = extract_features(module, spec, dataset, torch_device, batch, amp=amp)
    return features.astype(np.float32)


@dataclass
class RecordInputs:
    """The readable records of ``--task`` or ``--input`` as a model's inputs: ``dataset``
    (row ``i`` is record ``ids[i]`` of patient ``patients[i]``) and the unreadable records
    (id → reason)."""

    dataset: ArrayDataset
    ids: list[str]
    patients: np.ndarray
    failed: dict[str, str]

    def table(self, where: pd.DataFrame) -> pd.DataFrame:
        """One row per output row: ``record_id``, ``patient_id`` of each ``where.position``
        (a record's row in ``dataset``), then ``where``'s other columns."""
        import numpy as np
        import pandas as pd

        position = where["position"].to_numpy()
        rest = where.drop(columns="position").reset_index(drop=True)
        ids = pd.DataFrame(
            {"record_id": np.asarray(self.ids)[position], "patient_id": self.patients[position]}
        )
        return pd.concat([ids, rest], axis=1)

    def echo_failed(self) -> None:
        """Name (up to five of) the records left out, on stderr."""
        if self.failed:
            click.echo(
                f"{len(self.failed)} record(s) could not be read and were left out:", err=True
            )
            for record, reason in list(self.failed.items())[:5]:
                click.echo(f"  {record}: {reason}", err=True)


def read_records(
    host: PluginHost,
    spec: ModelSpec,
    *,
    task: str | None,
    source: str | None,
    source_options: tuple[str, ...],
    input_path: Path | None,
    fs: float | None,
    profile: str,
    cache_dir: str | None,
) -> RecordInputs:
    """The records of exactly one of ``--task`` or ``--input`` through the runner's cache
    and the model's own recipe (:func:`cohort_inputs`); none readable is an error."""
    if (task is None) == (input_path is None):
        raise click.UsageError("give exactly one of --task or --input")
    if input_path is not None and (source or source_options):
        raise click.UsageError("--source/--source-option apply to --task only")
    if input_path is not None:
        cohort = input_cohort(input_path, fs)
    else:
        assert task is not None
        cohort = task_cohort(host, task, source, parse_source_options(source_options), profile)
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    dataset, ids, failed = cohort_inputs(spec, cohort, profile, cache)
    if not ids:
        record, reason = next(iter(failed.items()))
        raise click.ClickException(
            f"none of the {len(failed)} record(s) could be read (e.g. {record}: {reason})"
        )
    patients = cohort.manifest.set_index("record_id").loc[ids, "patient_id"].to_numpy()
    return RecordInputs(dataset, ids, patients, failed)


@click.command(name="embed")
@inference_options(
    weights=click.option(
        "--weights",
        default=None,
        help="Weights file (or 'random'); default: the model's default weights for the profile.",
    ),
    output_help="Embeddings file (.npy, float32 (N, D)); the record ids go to <stem>.ids.csv "
    "beside it, what produced it (model, weights, precision) to <stem>.manifest.json.",
    per_segment_help="One embedding per segment of a signal model's input (its recipe's "
    "segments, each embedded alone; slots a short record leaves empty are skipped); the ids "
    "file gets record_id, patient_id, segment (0-based) and start_s (seconds). Image models "
    "take one input per record and refuse it.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of a random init.")
@click.pass_context
def embed_command(
    ctx: click.Context,
    model: str,
    weights: str | None,
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
    seed: int,
) -> None:
    """Write one embedding per record (the linear probe's features) for a task or an array.

    An embedding is the mean-pooled output of the model's features contract, the vector the
    linear probe fits on, for every record of a task's cohort or of a raw signal array.
    With --per-segment a signal model embeds each segment of its input recipe alone (ECG-FM
    and resnet1d: 5 s segments, two per record), one row per segment.

    \b
    Examples:
      bench embed -m heartbeit -t ludb-lvh --source-option ludb.path=/data/ludb -o ludb.npy
      bench embed -m vit-b16 --input ecgs.npy --fs 500 -o ecgs-emb.npy
      bench embed -m ecg-fm --input ecgs.npy --fs 500 --per-segment -o segments.npy
      bench embed -m ecg-fm --input /data/wfdb-folder -o folder-emb.npy
    """
    import numpy as np
    import pandas as pd

    from bench.training.features import FeaturesError

    host: PluginHost = ctx.find_root().obj
    spec = host.registries.models.get(model)
    if per_segment and spec.input.recipe is None:
        segmented = [m.name for m in host.registries.models if m.input.recipe is not None]
        raise click.UsageError(
            f"--per-segment: model {model!r} takes one {spec.input.kind} input per record (it "
            "declares no signal recipe that cuts records into segments); models with segments: "
            f"{', '.join(segmented) or 'none installed'}"
        )
    records = read_records(
        host, spec, task=task, source=source, source_options=source_options,
        input_path=input_path, fs=fs, profile=profile, cache_dir=cache_dir,
    )  # fmt: skip
    try:
        built = build_encoder(spec, weights, profile, seed)
        if per_segment:
            embeddings, where = segment_embeddings(
                built, spec, records.dataset, profile, device, precision
            )
        else:
            embeddings = embed(built, spec, records.dataset, profile, device, precision)
            where = pd.DataFrame({"position": np.arange(len(records.ids))})
    except FeaturesError as exc:
        raise click.ClickException(str(exc)) from exc
    output.parent.mkdir(parents=True, exist_ok=True)
    np.save(output, embeddings)
    records.table(where).to_csv(ids_path(output), index=False)
    precision = used_precision(precision, device)
    write_manifest(
        output,
        {
            "command": "embed",
            "model": model,
            "weights": built.weights,
            "init": built.init,
            "precision": precision,
            "device": device,
            "per_segment": per_segment,
            "rows": len(embeddings),
            "records": len(records.ids),
            "left_out": len(records.failed),
        },
    )
    unit = f" ({len(records.ids)} records, one per segment)" if per_segment else ""
    click.echo(
        f"{len(embeddings)} embeddings of width {embeddings.shape[1]}{unit} → {output} "
        f"(ids: {ids_path(output)}; precision {precision})"
    )
    records.echo_failed()
