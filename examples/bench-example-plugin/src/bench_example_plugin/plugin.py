"""The module registered in the ``bench`` entry-point group: metadata only.

Implementations are named by ``"module:function"`` strings (:class:`bench.api.LazyFunction`)
and imported when first called, so loading this plugin costs no torch or numpy import and
``bench --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable

from bench.api import (
    CNN_RECIPE,
    LazyFunction,
    MetricSpec,
    ModelMeta,
    ModelSpec,
    SignalInput,
    TaskSpec,
    hookimpl,
    ludb_loader,
)

PACKAGE = "bench_example_plugin"


@hookimpl
def bench_register_models(register: Callable[[ModelSpec], None]) -> None:
    """Two signal models: a small 1-D CNN, fine-tuned with the harness's CNN recipe (AdamW at
    peak 1e-3 for batch 32, cosine), and a pooled linear baseline on the default recipe."""
    for name, function, description, recipe in (
        ("example-signal-cnn", "build_cnn", "1-D CNN on (8 leads x 2,500 samples), random init",
         CNN_RECIPE),
        ("example-signal-linear", "build_linear", "linear head on 16 pooled values per lead",
         None),
    ):  # fmt: skip
        register(
            ModelSpec(
                name=name,
                build=LazyFunction(f"{PACKAGE}.model:{function}"),
                meta=ModelMeta(family="example", description=description),
                input=SignalInput(),
                recipe=recipe,
            )
        )


@hookimpl
def bench_register_tasks(register: Callable[[TaskSpec], None]) -> None:
    """``example-lad``: left axis deviation on the real LUDB ECGs."""
    register(
        TaskSpec(
            name="example-lad",
            loaders={"ludb": ludb_loader("example-lad", LazyFunction(f"{PACKAGE}.task:lad_rule"))},
            definition="positive: LUDB's 'Electric axis of the heart' says left axis deviation",
            version="example-lad-v1",
            positive_class="left axis deviation",
            description="Left axis deviation on 200 LUDB ECGs (example third-party task)",
            default_source="ludb",
            region="qrs",
        )
    )


@hookimpl
def bench_register_metrics(register: Callable[[MetricSpec], None]) -> None:
    """``balanced_accuracy`` at a 0.5 threshold, with its bootstrap CI."""
    register(
        MetricSpec(
            name="balanced_accuracy",
            kind="scores",
            compute=LazyFunction(f"{PACKAGE}.metric:compute"),
            replicates=LazyFunction(f"{PACKAGE}.metric:replicates"),
            description="mean of sensitivity and specificity at score 0.5, 95 % bootstrap CI",
        )
    )
