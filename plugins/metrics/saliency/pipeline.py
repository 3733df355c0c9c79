"""Saliency of one trained cell: pick test records, render, explain, score, record.

The pieces ``bench saliency`` chains together; each is usable on its own (the
localisation ground truth, for instance, works on any cohort that has fiducials).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bench.plugins.metrics.saliency import saliency_metric_specs
from bench.plugins.metrics.saliency.cam import compute_cams, saliency_target
from bench.plugins.metrics.saliency.explained import Cell, SaliencyError, find_cell
from bench.plugins.metrics.saliency.faithfulness import faithfulness
from bench.plugins.metrics.saliency.metrics import SaliencyData
from bench.plugins.metrics.saliency.regions import region_masks

from bench.api import (
    PROFILES,
    Cohort,
    ECGFormatError,
    ModelSpec,
    PreprocessConfig,
    Profile,
    RenderConfig,
    ResultRecord,
    SignalInput,
    TaskSpec,
    __version__,
    preprocess,
    render_batch,
)


def load_model(spec: ModelSpec, checkpoint: Path, profile: Profile) -> torch.nn.Module:
    """``spec``'s architecture for ``profile`` with every weight (head included) from
    ``checkpoint``."""
    from bench.api import load_into, load_state_dict_file

    built = spec.build(
        num_classes=2,
        profile=profile.model_profile,
        input_size=profile.image_size,
        weights="random",
    )
    load_into(built.module, load_state_dict_file(checkpoint), ignore=())
    return built.module.eval()


def source_options(
    task: TaskSpec, source: str, profile: Profile, run_config: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Cohort-loader options as ``bench run`` builds them (profile size, then the run's
    ``source_options``), so the same cohort and split are recreated."""
    options: dict[str, Any] = {"task": task.name}
    if source == "synthetic":
        options.update(profile.synthetic_options(task.name))
    options.update(((run_config or {}).get("source_options") or {}).get(source, {}))
    return options


def saved_test_ids(run_dir: Path, task: str, source: str) -> list[str]:
    """The internal-test record ids the run saved (``splits/<task>__<source>.json``)."""
    path = Path(run_dir) / "splits" / f"{task}__{source}.json"
    if not path.is_file():
        raise SaliencyError(f"{path}: the run saved no split for {task}/{source}")
    return list(json.loads(path.read_text())["sets"]["test"])


def candidate_records(
    task: TaskSpec, cohort: Cohort, n: int, external: bool = True, test_ids: list[str] | None = None
) -> list[str]:
    """Up to ``n`` internal-test record ids, positives first, each with fiducials for the
    task's region inside the rendered window. ``test_ids`` are the run's saved test set;
    without a run, the task's own split of ``cohort``."""
    from bench.api import split_cohort

    if cohort.fiducials is None:
        raise SaliencyError(
            f"cohort {cohort.name!r} ({cohort.source}) has no fiducials: saliency "
            f"localisation needs wave boundaries (synthetic and LUDB sources have them)"
        )
    if test_ids is None:
        test_ids = split_cohort(task, cohort, external).sets["test"]
    test = cohort.subset(test_ids)
    ordered = test.sort_values("label", ascending=False, kind="stable")["record_id"]
    return list(ordered[: max(4 * n, n + 16)])


@dataclass
class SaliencySet:
    """Rendered test images of one cell with their maps, masks and per-image scores."""

    record_ids: list[str]
    labels: np.ndarray
    images: np.ndarray
    data: SaliencyData


def _usable(
    cohort: Cohort,
    ids: list[str],
    n: int,
    task: TaskSpec,
    prep: PreprocessConfig,
    render: RenderConfig,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The first ``n`` ids whose signal preprocesses and whose region mask is non-empty."""
    assert cohort.fiducials is not None
    kept, signals, masks = [], [], []
    for rid in ids:
        try:
            signal = preprocess(cohort.load_signal(rid), prep)
        except ECGFormatError:
            continue
        mask = region_masks([cohort.fiducials(rid)], task.region, prep, render)[0]
        if mask.any():
            kept.append(rid)
            signals.append(signal)
            masks.append(mask)
        if len(kept) == n:
            break
    if not kept:
        raise SaliencyError(
            f"no usable test record with a {task.region!r} region in {cohort.name!r}"
        )
    return kept, np.stack(signals), np.stack(masks)


def explain(
    spec: ModelSpec,
    module: torch.nn.Module,
    task: TaskSpec,
    cohort: Cohort,
    ids: list[str],
    n: int,
    render: RenderConfig,
    method: str,
    with_faithfulness: bool = True,
) -> SaliencySet:
    """Render up to ``n`` of ``ids``, compute ``method`` CAMs for the positive class, the
    region masks and (optionally) ROAD faithfulness. Signal models are explained on their
    own input (:mod:`bench.plugins.metrics.saliency.signals`)."""
    if isinstance(spec.input, SignalInput):
        from bench.plugins.metrics.saliency.signals import explain_signals

        try:
            kept, inputs, maps, masks, faith = explain_signals(
                spec, module, task, cohort, ids, n, method, with_faithfulness
            )
        except ValueError as exc:
            raise SaliencyError(str(exc)) from None
        labels = cohort.subset(kept)["label"].to_numpy()
        return SaliencySet(kept, labels, inputs, SaliencyData(maps, masks, faith))
    prep = PreprocessConfig()
    kept, signals, masks = _usable(cohort, ids, n, task, prep, render)
    images = render_batch(signals, render)
    cams = compute_cams(
        module,
        saliency_target(spec, module),
        images,
        spec.input.mean,
        spec.input.std,
        method=method,
    )
    faith = (
        faithfulness(module, images, cams, spec.input.mean, spec.input.std)
        if with_faithfulness
        else None
    )
    labels = cohort.subset(kept)["label"].to_numpy()
    return SaliencySet(kept, labels, images, SaliencyData(cams, masks, faith))


#: The overlay figure draws at most this many of the explained ECGs (the first: positives
#: first), so that it stays readable and a few MB; the records score every explained ECG.
OVERLAY_IMAGES = 8


def overlay_count(record_ids: Sequence[str]) -> int:
    """How many of the explained ECGs the overlay figure draws."""
    return min(OVERLAY_IMAGES, len(record_ids))


def result_records(
    result: SaliencySet,
    spec: ModelSpec,
    task: TaskSpec,
    cohort: Cohort,
    cell: Cell,
    profile: Profile,
    render: RenderConfig,
    method: str,
    overlay: str = "",
) -> list[ResultRecord]:
    """One :class:`ResultRecord` per saliency metric (value = mean over images);
    ``overlay``: the file name of the overlay grid drawn beside them (``details.overlay``,
    what the leaderboard shows), which draws the first ``details.overlay_images`` of the
    explained ECGs (:data:`OVERLAY_IMAGES`)."""
    from bench.api import git_sha, package_versions, portable_path, stable_hash

    created = datetime.now(UTC).isoformat(timespec="seconds")
    checkpoint = portable_path(str(cell.checkpoint))
    settings = {
        "method": method,
        "region": task.region,
        "target_class": 1,
        "faithfulness": "road-morf",
        "checkpoint": checkpoint,
    }
    sha, packages = git_sha(), package_versions()
    records = []
    for metric in saliency_metric_specs():
        if metric.name == "saliency_faithfulness" and result.data.faithfulness is None:
            continue
        value = metric.compute(result.data)
        records.append(
            ResultRecord(
                run_id=cell.run_id,
                model=spec.name,
                task=task.name,
                source=cohort.source,
                fraction=cell.fraction,
                seed=cell.seed,
                split="internal",
                metric=metric.name,
                value=value.value,
                ci_low=value.ci_low,
                ci_high=value.ci_high,
                n=len(result.record_ids),
                n_positive=int(result.labels.sum()),
                higher_is_better=metric.higher_is_better,
                harness_version=__version__,
                source_version=cohort.source_version,
                task_version=task.version,
                profile=profile.name,
                protocol=cell.protocol,
                init=cell.init,
                experiment=cell.experiment,
                arch=cell.arch,
                selection=cell.selection,
                weights=checkpoint,
                bootstrap=value.details["bootstrap"],
                config_hash=stable_hash(settings),
                cohort_hash=cell.cohort_hash or cohort.content_hash(),
                render_hash=render.hash(),
                details={
                    **settings,
                    "n_scored": value.details["n_scored"],
                    "record_ids": result.record_ids,
                    "per_image": value.details["per_image"],  # aligned with record_ids
                    **(
                        {"overlay": overlay, "overlay_images": overlay_count(result.record_ids)}
                        if overlay
                        else {}
                    ),
                },
                git_sha=sha,
                packages=packages,
                created=created,
            )
        )
    return records


def run_saliency(host: Any, **options: Any) -> tuple[list[ResultRecord], Path]:
    """``bench saliency`` end to end with the CLI's options; returns the stored records and
    the overlay PNG. ``host`` is the :class:`~bench.host.manager.PluginHost`."""
    from bench.plugins.metrics.saliency.overlay import save_overlay_grid

    from bench.api import dumps

    spec: ModelSpec = host.registries.models.get(options["model"])
    task: TaskSpec = host.registries.tasks.get(options["task"])
    source = options["source"] or task.default_source
    if options["run_dir"] is not None:
        cell = find_cell(
            options["run_dir"], spec.name, task.name, source, options["fraction"], options["seed"]
        )
    else:
        cell = Cell(
            options["checkpoint"], fraction=options["fraction"] or 1.0, seed=options["seed"] or 0
        )
    run_config = cell.config or {}
    profile = PROFILES[options["profile"] or run_config.get("profile", "quick")]
    if source not in task.loaders:
        raise SaliencyError(
            f"task {task.name!r} has no data source {source!r}; "
            f"available: {', '.join(sorted(task.loaders))}"
        )
    cohort = task.loaders[source](source_options(task, source, profile, run_config))
    render = RenderConfig(size=profile.image_size)
    module = load_model(spec, Path(cell.checkpoint), profile)
    saved = (
        None
        if options["run_dir"] is None
        else saved_test_ids(options["run_dir"], task.name, source)
    )
    ids = candidate_records(
        task, cohort, options["n_images"], run_config.get("external", True), saved
    )
    result = explain(
        spec,
        module,
        task,
        cohort,
        ids,
        options["n_images"],
        render,
        options["method"],
        not options["no_faithfulness"],
    )
    from bench.api import cell_id

    name = cell_id(spec.name, task.name, source, cell.fraction, cell.seed, cell.protocol)
    stem = f"{name}__{options['method']}"  # one grid per cell and method
    records = result_records(
        result, spec, task, cohort, cell, profile, render, options["method"], f"{stem}.png"
    )
    out = Path(options["output"]) / "saliency"
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.jsonl", "a") as handle:
        handle.write(dumps(records))
    shown = overlay_count(result.record_ids)
    titles = [
        f"{rid} (label {label})"
        for rid, label in zip(result.record_ids[:shown], result.labels[:shown], strict=True)
    ]
    images, maps, masks = result.images[:shown], result.data.maps[:shown], result.data.masks[:shown]
    if spec.input.recipe is not None:
        from bench.plugins.metrics.saliency.signals import save_signal_overlays

        recipe = spec.input.recipe
        grid = save_signal_overlays(out / f"{stem}.png", images, maps, masks, recipe.leads,
                                    recipe.target_fs, titles)  # fmt: skip
        return records, grid
    grid = save_overlay_grid(
        out / f"{stem}.png", images, maps, PreprocessConfig().plot_leads, render, titles, masks
    )
    return records, grid
