"""Built-in metrics plugin: bootstrap AUROC/AUPRC, calibration, subgroups, regression and
survival metrics, Wasserstein image distances.

Registers the classification score metrics (``auroc``, ``auprc``, ``auprc_trapezoid``,
``brier``, ``ece``, ``subgroup_auroc``/``subgroup_auprc`` of :mod:`.subgroups`, and the
metrics fitted on validation of :mod:`.validation_fitted`: ``ece_ts``, ``brier_ts``,
``sensitivity``, ``specificity``, ``ppv``, ``npv``, and the curve metrics ``net_benefit`` of
:mod:`.decision_curve` and ``reliability`` of :mod:`.reliability`), the regression metrics of
:mod:`.regression` (``mae``, ``rmse``, ``r2``, ``pearson``), the survival metrics of
:mod:`.survival` (``c_index``, ``td_auroc``), the image metric ``wasserstein_w1`` and the
``bench wasserstein`` command.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from bench.plugins.metrics.saliency import add_saliency_command, register_saliency

from bench.api import LazyFunction, MetricSpec, MetricValue, ScoreData, hookimpl

if TYPE_CHECKING:  # numpy, scipy and POT load when a metric is computed
    import numpy as np

    from bench.api import Unit

SCORE_METRICS: dict[str, tuple[str, bool, bool]] = {
    # name: (description, higher_is_better, default)
    "auroc": ("area under the ROC curve, 95 % bootstrap CI", True, True),
    "auprc": ("average precision (step-wise PR area), 95 % bootstrap CI", True, True),
    "auprc_trapezoid": ("trapezoidal PR area (HeartBEiT code), 95 % bootstrap CI", True, False),
    "brier": ("Brier score of probabilities, 95 % bootstrap CI", False, False),
    "ece": ("expected calibration error, 15 equal-width bins, 95 % bootstrap CI", False, False),
}

#: Subgroup metrics (:mod:`.subgroups`): name → (the ranking metric broken down, description).
SUBGROUP_METRICS: dict[str, tuple[str, str]] = {
    name: (
        metric,
        f"{label} per sex, age band and site with patient-level CIs; value: the largest gap "
        "(paired bootstrap CI)",
    )
    for name, metric, label in (
        ("subgroup_auroc", "auroc", "AUROC"),
        ("subgroup_auprc", "auprc", "average precision"),
    )
}


#: Metrics fitted on a cell's validation predictions (:mod:`.validation_fitted`):
#: name → (function, description, higher_is_better).
VALIDATION_FITTED: dict[str, tuple[str, str, bool]] = {
    "ece_ts": ("calibrated", "ECE after temperature scaling fitted on validation", False),
    "brier_ts": ("calibrated", "Brier score after temperature scaling fitted on validation", False),
    **{
        name: ("at_validation_threshold", f"{label} at validation's Youden threshold", True)
        for name, label in (
            ("sensitivity", "sensitivity"),
            ("specificity", "specificity"),
            ("ppv", "positive predictive value"),
            ("npv", "negative predictive value"),
        )
    },
}


#: Metrics whose details hold a whole curve (:mod:`.decision_curve`, :mod:`.reliability`):
#: name → (compute, replicates kernel (both ``"module:function"``), description,
#: higher_is_better).
CURVE_METRICS: dict[str, tuple[str, str, str, bool]] = {
    "net_benefit": (
        "decision_curve:net_benefit",
        "decision_curve:net_benefit_replicates",
        "decision curve (Vickers & Elkin 2006) at threshold probabilities 0.05-0.50 step 0.05; "
        "value: mean net benefit gain over max(treat all, treat none); curves in the details",
        True,
    ),
    "reliability": (
        "reliability:reliability",
        "calibration:ece_replicates",
        "reliability diagram, 15 equal-width bins (observed rate CIs; also after temperature "
        "scaling fitted on validation) in the details; value: ECE",
        False,
    ),
}


#: Regression metrics (:mod:`.regression`), all default: name → (description,
#: higher_is_better).
REGRESSION_SCORE_METRICS: dict[str, tuple[str, bool]] = {
    "mae": ("mean absolute error |prediction − target|, in the target's unit", False),
    "rmse": ("root mean squared error, in the target's unit", False),
    "r2": ("R² = 1 − Σ(prediction − target)² / Σ(target − mean)² (NaN: constant target)", True),
    "pearson": ("Pearson's r of predictions and targets (NaN: either constant)", True),
}

#: Survival metrics (:mod:`.survival`), all default: name → description.
SURVIVAL_SCORE_METRICS: dict[str, str] = {
    "c_index": (
        "Harrell's C: share of comparable pairs (the earlier time an event; censored at a tied "
        "time counts as later) in which the earlier has the higher risk, tied risks ½"
    ),
    "td_auroc": (
        "cumulative/dynamic AUROC at the task's horizons with IPCW (Uno 2007, as "
        "scikit-survival's cumulative_dynamic_auc, censoring Kaplan–Meier on the test set): "
        "mean over horizons, each in the details"
    ),
}


def compute_score_metric(
    name: str,
    data: ScoreData,
    replicates: int | None = None,
    seed: int = 0,
    unit: Unit = "patient",
) -> MetricValue:
    """Bootstrap metric ``name`` on one test set.

    Uses ``data.replicate_indices`` (the shared multiplicity matrix from
    :func:`plugins.metrics.bootstrap.bootstrap_indices`) when present — the caller must then
    pass the ``seed``/``unit`` it was built with, since they go into the record — otherwise
    builds one from ``data.groups``.
    """
    from bench.plugins.metrics.bootstrap import bootstrap_metric, resamples_of

    resamples = resamples_of(data, replicates, seed, unit)
    return bootstrap_metric(name, data.y_true, data.y_score, resamples).metric_value(unit, seed)


def score_replicates(
    name: str, y_true: np.ndarray, y_score: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Metric ``name`` on every row of the multiplicity matrix ``weights`` (one pass)."""
    from bench.plugins.metrics.bootstrap import replicate_values

    return replicate_values((name,), y_true, y_score, weights)[name]


def _w1_metric(set_a: np.ndarray, set_b: np.ndarray) -> dict[str, dict[str, float]]:
    """The ``wasserstein_w1`` image metric: :func:`plugins.metrics.wasserstein.w1_summary`."""
    from bench.plugins.metrics.wasserstein import w1_summary

    return w1_summary(set_a, set_b)


_REGRESSION_METRIC = LazyFunction("bench.plugins.metrics.regression:regression_metric")
_REGRESSION_REPLICATES = LazyFunction("bench.plugins.metrics.regression:regression_replicates")
_SURVIVAL_REPLICATES = LazyFunction("bench.plugins.metrics.survival:survival_replicates")


@hookimpl
def bench_register_metrics(register: Callable[[MetricSpec], None]) -> None:
    """Score metrics with bootstrap CIs and the pixel-intensity Wasserstein image metric."""
    for name, (description, higher, default) in SCORE_METRICS.items():
        register(
            MetricSpec(
                name=name,
                kind="scores",
                compute=partial(compute_score_metric, name),
                description=description,
                higher_is_better=higher,
                default=default,
                replicates=partial(score_replicates, name),
            )
        )
    for name, (description, higher) in REGRESSION_SCORE_METRICS.items():
        register(
            MetricSpec(
                name=name,
                kind="scores",
                compute=partial(_REGRESSION_METRIC, name),
                description=f"{description}, 95 % bootstrap CI",
                higher_is_better=higher,
                default=True,
                replicates=partial(_REGRESSION_REPLICATES, name),
                task_kinds=("regression",),
            )
        )
    for name, description in SURVIVAL_SCORE_METRICS.items():
        register(
            MetricSpec(
                name=name,
                kind="scores",
                compute=LazyFunction(f"bench.plugins.metrics.survival:{name}"),
                description=f"{description}; 95 % bootstrap CI",
                default=True,
                replicates=partial(_SURVIVAL_REPLICATES, name),
                task_kinds=("survival",),
            )
        )
    for name, (metric, description) in SUBGROUP_METRICS.items():
        register(
            MetricSpec(
                name=name,
                kind="scores",
                compute=partial(
                    LazyFunction("bench.plugins.metrics.subgroups:subgroup_metric"), metric
                ),
                description=description,
                higher_is_better=False,
                label_matrix=True,
            )
        )
    for name, (function, description, higher) in VALIDATION_FITTED.items():
        register(
            MetricSpec(
                name=name,
                kind="scores",
                compute=partial(
                    LazyFunction(f"bench.plugins.metrics.validation_fitted:{function}"), name
                ),
                description=f"{description}, 95 % bootstrap CI",
                higher_is_better=higher,
            )
        )
    for name, (function, kernel, description, higher) in CURVE_METRICS.items():
        register(
            MetricSpec(
                name=name,
                kind="scores",
                compute=LazyFunction(f"bench.plugins.metrics.{function}"),
                description=f"{description}, 95 % bootstrap CI",
                higher_is_better=higher,
                replicates=LazyFunction(f"bench.plugins.metrics.{kernel}"),
                task_kinds=("classification",),
            )
        )
    register(
        MetricSpec(
            name="wasserstein_w1",
            kind="images",
            compute=_w1_metric,
            description="pixel-intensity W1 within/across two image sets (bench wasserstein)",
            higher_is_better=False,
        )
    )
    register_saliency(register)


def _print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Wasserstein ({result['distance']})", title_justify="left")
    for column in ("pair", "mean ± std", "pairs"):
        table.add_column(column)
    labels = {"within_a": "A–A", "within_b": "B–B", "across": "A–B"}
    for key, label in labels.items():
        s = result["summary"][key]
        table.add_row(label, f"{s['mean']:.2f} ± {s['std']:.2f}", f"{s['n_pairs']:,}")
    console = Console()
    console.print(table)
    console.print(f"A: {result['a']['description']}\nB: {result['b']['description']}")


@click.command("wasserstein")
@click.option("--a", "set_a", required=True, help="Image set: natural, a folder, or task:source.")
@click.option("--b", "set_b", required=True, help="Image set: natural, a folder, or task:source.")
@click.option("--n", default=1000, show_default=True, help="Images per set.")
@click.option("--size", default=224, show_default=True, help="Image side in pixels.")
@click.option("--seed", default=0, show_default=True, help="Seed of A (B uses seed + 1).")
@click.option("--distance", type=click.Choice(["w1", "emd2d"]), default="w1", show_default=True,
              help="w1: pixel-intensity W1 over all pairs; emd2d: spatial EMD on sampled pairs.")  # fmt: skip
@click.option("--pairs", default=200, show_default=True, help="Sampled pairs per group (emd2d).")
@click.option("--emd-size", default=16, show_default=True, help="Downsampled side (emd2d).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write JSON here.")
def wasserstein_command(
    set_a: str,
    set_b: str,
    n: int,
    size: int,
    seed: int,
    distance: str,
    pairs: int,
    emd_size: int,
    output: Path | None,
) -> None:
    """Wasserstein distances within and across two image sets (the paper's three numbers).

    \b
    A set is `natural` (random crops of packaged photographs), a folder of PNG/JPG
    images, or `task:source` (ECGs rendered through the image pipeline), e.g.
      bench wasserstein --a stemi:synthetic --b natural
    """
    from bench.plugins.metrics.natural_images import load_image_set
    from bench.plugins.metrics.wasserstein import emd2d_summary, w1_summary

    try:
        images_a, desc_a = load_image_set(set_a, n=n, size=size, seed=seed)
        images_b, desc_b = load_image_set(set_b, n=n, size=size, seed=seed + 1)
    except (ValueError, FileNotFoundError) as exc:
        raise click.BadParameter(str(exc)) from exc
    if distance == "w1":
        summary = w1_summary(images_a, images_b)
    else:
        summary = emd2d_summary(images_a, images_b, size=emd_size, pairs=pairs, seed=seed)
    result = {
        "distance": distance,
        "a": {"set": set_a, "n": len(images_a), "description": desc_a},
        "b": {"set": set_b, "n": len(images_b), "description": desc_b},
        "size": size,
        "seed": seed,
        "summary": summary,
    }
    _print_table(result)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result, indent=2) + "\n")


@hookimpl
def bench_register_commands(cli: click.Group) -> None:
    """Add ``bench wasserstein`` and ``bench saliency``."""
    cli.add_command(wasserstein_command)
    add_saliency_command(cli)
