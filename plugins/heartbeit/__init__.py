"""HeartBEiT plugin: the BEiT model, its MIM pretraining, visual tokenizers and the
``bench pretrain`` / ``bench pretrain-tokenizer`` commands.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from bench.api import (
    TRANSFORMER_RECIPE,
    LazyFunction,
    ModelMeta,
    ModelSpec,
    TokenizerSpec,
    add_lazy_command,
    hookimpl,
)

if TYPE_CHECKING:
    import click

#: The corpus behind the default weights (the built-in synthetic ECG generator), in the
#: data-source vocabulary.
PRETRAINED_ON = ("synthetic",)


def _require_path(name: str, options: Mapping[str, Any]) -> str:
    path = options.get("path")
    if not path:
        raise ValueError(
            f"tokenizer {name!r} needs a weights file: pass --tokenizer-path PATH"
            + (
                " (create one with: bench pretrain-tokenizer --tokenizer kmeans)"
                if name == "kmeans"
                else ""
            )
        )
    return str(path)


def _build_kmeans(options: Mapping[str, Any]) -> Any:
    from bench.plugins.heartbeit.tokenizers.kmeans import KMeansTokenizer

    tokenizer = KMeansTokenizer.load(_require_path("kmeans", options))
    patch = options.get("patch_size")
    if patch is not None and tokenizer.patch_size != patch:
        raise ValueError(
            f"{options['path']}: kmeans codebook has patch size {tokenizer.patch_size}, "
            f"the model uses {patch}"
        )
    return tokenizer


def _build_dalle(options: Mapping[str, Any]) -> Any:
    from bench.plugins.heartbeit.tokenizers.dalle import DalleTokenizer

    return DalleTokenizer.from_file(_require_path("dalle", options))


@hookimpl
def bench_register_models(register: Callable[[ModelSpec], None]) -> None:
    """HeartBEiT (BEiT, MIM-pretrained on ECG images)."""
    register(
        ModelSpec(
            name="heartbeit",
            build=LazyFunction("bench.plugins.heartbeit.builder:build_heartbeit"),
            default=True,
            meta=ModelMeta(
                description="BEiT vision transformer pretrained by masked image modelling on ECGs",
                family="beit",
                paper_params_m=86.0,
                pretrained_on=PRETRAINED_ON,
            ),
            optimizer="adamw",
            recipe=TRANSFORMER_RECIPE,
            saliency_layers=LazyFunction("bench.plugins.heartbeit.model:saliency_layers"),
            saliency_reshape=LazyFunction("bench.plugins.heartbeit.model:saliency_reshape"),
            default_weights=LazyFunction(
                "bench.plugins.heartbeit.checkpoint_cache:default_weights"
            ),
            planned_weights=LazyFunction(
                "bench.plugins.heartbeit.checkpoint_cache:planned_weights"
            ),
            pretrain="bench.plugins.heartbeit.commands:pretrain_command",
        )
    )


@hookimpl
def bench_register_tokenizers(register: Callable[[TokenizerSpec], None]) -> None:
    """The k-means patch tokenizer (trainable here) and the DALL·E dVAE encoder."""
    register(
        TokenizerSpec(
            name="kmeans",
            build=_build_kmeans,
            description="k-means codes of grey-level patches, fitted on ECG images",
            trainable=True,
        )
    )
    register(
        TokenizerSpec(
            name="dalle",
            build=_build_dalle,
            description="DALL·E dVAE encoder (weights supplied by the user), as in BEiT",
        )
    )


@hookimpl
def bench_register_commands(cli: click.Group) -> None:
    """``bench pretrain-tokenizer`` (imported when used); ``bench pretrain --model heartbeit``
    runs the spec's ``pretrain`` command."""
    commands = "bench.plugins.heartbeit.commands"
    add_lazy_command(
        cli,
        "pretrain-tokenizer",
        f"{commands}:pretrain_tokenizer_command",
        "Fit a visual tokenizer on ECG images (for users without the DALL·E weights).",
    )
