"""Quantitative Grad-CAM saliency: localisation in the clinically relevant ECG segment,
focus (entropy, Gini) and ROAD faithfulness, plus overlays (``bench saliency``).

The metrics plugin calls :func:`register_saliency` from ``bench_register_metrics`` and
:func:`add_saliency_command` from ``bench_register_commands``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.api import MetricSpec, MetricValue, add_lazy_command

if TYPE_CHECKING:
    import click

#: name → (higher_is_better, description); the scorers live in :mod:`.metrics`.
SALIENCY_METRICS: dict[str, tuple[bool, str]] = {
    "saliency_localisation": (
        True,
        "saliency mass in the task's ECG region / the region's image share (1 = chance)",
    ),
    "saliency_pointing": (
        True,
        "pointing game: share of maps whose peak lies in the task's ECG region",
    ),
    "saliency_entropy": (
        False,
        "normalised entropy of the saliency map (1 = diffuse, 0 = one pixel)",
    ),
    "saliency_gini": (True, "Gini coefficient of the saliency map (0 = diffuse, ~1 = focused)"),
    "saliency_faithfulness": (
        True,
        "ROAD: drop in target probability when the 20 % most salient pixels are imputed",
    ),
}


#: The ``metric_options`` entry the saliency metrics read (``--metric-option
#: saliency.images=64``, ``saliency.seeds=all``).
OPTIONS = "saliency"
#: ECGs the run-level saliency explains per model × task unless ``images`` says otherwise.
RUN_IMAGES = 64
#: ``seeds``: explain the cell of the lowest seed (the default) or of every seed, each at
#: the config's largest fraction; a comparison of saliency across models survives seeds
#: only when every seed is explained.
SEEDS = ("lowest", "all")


def run_options(options: Mapping[str, Any]) -> tuple[int, str]:
    """``metric_options.saliency``'s ``images`` (default :data:`RUN_IMAGES`) and ``seeds``
    (default ``"lowest"``); a :class:`ValueError` names an unknown key or a bad value."""
    unknown = sorted(set(options) - {"images", "seeds"})
    if unknown:
        raise ValueError(f"unknown key(s) {unknown}; known: ['images', 'seeds']")
    images = options.get("images", RUN_IMAGES)
    if isinstance(images, bool) or not isinstance(images, int) or images < 1:
        raise ValueError(f"'images' expects a positive integer, got {images!r}")
    seeds = options.get("seeds", SEEDS[0])
    if seeds not in SEEDS:
        raise ValueError(f"'seeds' expects one of {list(SEEDS)}, got {seeds!r}")
    return images, seeds


def explained_cells(config: Mapping[str, Any]) -> list[tuple[float, int]]:
    """The cells ``(fraction, seed)`` the run-level saliency of a run's ``config`` explains:
    the largest fraction, at the lowest seed or (``seeds: all``) at every seed."""
    _, seeds = run_options(config.get("metric_options", {}).get(OPTIONS, {}))
    chosen = sorted(config["seeds"]) if seeds == "all" else [min(config["seeds"])]
    return [(max(config["fractions"]), seed) for seed in chosen]


def _compute(name: str, data: Any, **kwargs: Any) -> MetricValue:
    """:func:`.metrics.compute_saliency_metric` (numpy is imported when a metric runs)."""
    from bench.plugins.metrics.saliency.metrics import compute_saliency_metric

    return compute_saliency_metric(name, data, **kwargs)


def saliency_metric_specs() -> list[MetricSpec]:
    """The saliency :class:`MetricSpec` list (``compute(data, replicates=, seed=)``)."""
    return [
        MetricSpec(
            name=name,
            kind="saliency",
            compute=partial(_compute, name),
            description=description,
            higher_is_better=higher,
            run=explain_run,
            options=OPTIONS,
            check_options=run_options,
            run_cells=explained_cells,
        )
        for name, (higher, description) in SALIENCY_METRICS.items()
    ]


def register_saliency(register: Callable[[MetricSpec], None]) -> None:
    """Register the saliency metrics (kind ``"saliency"``) with ``register``."""
    for spec in saliency_metric_specs():
        register(spec)


def add_saliency_command(cli: click.Group) -> None:
    """Attach ``bench saliency`` to ``cli`` (its module is imported when it runs)."""
    add_lazy_command(
        cli,
        "saliency",
        "bench.plugins.metrics.saliency.command:saliency_command",
        "Grad-CAM saliency of a trained model on test ECGs, measured and drawn.",
    )


def explain_run(run_dir: Path, names: Sequence[str] = ()) -> list[Path]:
    """The ``run`` of the saliency metrics: Grad-CAM scores for a finished ``bench run``.

    Explains ``metric_options.saliency.images`` test ECGs (default :data:`RUN_IMAGES`,
    positives first) of the cells :func:`explained_cells` names (the largest fraction, at
    the lowest seed or, with ``seeds: all``, at every seed) of every model × task of the
    run's config (``run.json``) with Grad-CAM and stores the records (every saliency
    metric, ``names`` included) in ``<run_dir>/saliency/results.jsonl`` beside the overlay
    PNGs; returns the PNG paths. Such a cell without a checkpoint is an error, not a reason
    to explain another: the run's saliency must not depend on which checkpoints were kept.
    """
    from bench.plugins.metrics.saliency.explained import SaliencyError
    from bench.plugins.metrics.saliency.pipeline import run_saliency

    from bench.api import get_host, read_json_object

    run_json = run_dir / "run.json"
    config = read_json_object(run_json, SaliencyError).get("config") or {}
    try:
        n_images, _ = run_options(config.get("metric_options", {}).get(OPTIONS, {}))
    except ValueError as exc:
        raise SaliencyError(f"{run_json}: field 'config.metric_options.{OPTIONS}': {exc}") from None
    grids = []
    for model in config["models"]:
        for task in config["tasks"]:
            for fraction, seed in explained_cells(config):
                _, grid = run_saliency(
                    get_host(), model=model, task=task, run_dir=run_dir, output=run_dir,
                    source=config["sources"].get(task) or config["source"], method="gradcam",
                    n_images=n_images, fraction=fraction, seed=seed, profile=None,
                    checkpoint=None, no_faithfulness=False,
                )  # fmt: skip
                grids.append(grid)
    return grids
