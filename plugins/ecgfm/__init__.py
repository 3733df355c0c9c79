"""Signal models: ECG-FM (a pure-PyTorch port that loads the released fairseq-signals
checkpoints, with its W2V+CMSC+RLM pretraining) and ``resnet1d`` (an xresnet1d baseline).

Both read the model-declared ECG-FM recipe (:data:`ECGFM_RECIPE`): 12 leads, linear
resampling to 500 Hz, per-lead z-score over the whole record, 2,500-sample segments; no
band-pass or median filter. ECG-FM is a segment model (:data:`ECGFM_SEGMENTS`: a record is
the mean of the segments it has); resnet1d reads the whole two-slot input at once. Heavy
modules are imported inside the builders and commands.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from bench.api import (
    CNN_RECIPE,
    TRANSFORMER_RECIPE,
    LazyFunction,
    ModelMeta,
    ModelSpec,
    SegmentAggregation,
    SignalInput,
    SignalRecipe,
    hookimpl,
    tokens_method,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

#: ECG-FM's input contract (docs/models.md, ECG-FM port): 10 s records as two 5 s segments,
#: resampled on fairseq-signals' endpoint grid as ECG-FM's own preprocessing does.
ECGFM_RECIPE = SignalRecipe(segment_samples=2500, n_segments=2, resampling="endpoints")
#: How ECG-FM's segments make a record (docs/models.md, ECG-FM port): the mean over the segments
#: a record has; the max for the labels ECG-FM's own inference takes the max of (PVC and
#: electronic pacemaker, named as the cinc2021 task's labels; its poor-data-quality, VT and
#: SVT-with-aberrancy labels have no built-in counterpart).
ECGFM_SEGMENTS = SegmentAggregation(rule="mean", label_rules=(("PVC|VPB", "max"), ("PR", "max")))


def _ecgfm_layers(module: nn.Module) -> list[nn.Module]:
    return [module.encoder.encoder.layers[-1]]  # type: ignore[union-attr,index,list-item]


def _ecgfm_reshape(tokens: torch.Tensor) -> torch.Tensor:
    """Encoder tokens ``(B * n_segments, T', C)`` → one temporal map per record ``(B, C, n T')``."""
    k = ECGFM_RECIPE.n_segments
    rows, frames, channels = tokens.shape
    if rows % k:
        raise ValueError(f"ecg-fm saliency needs all {k} segment slots filled; got {rows} segments")
    per_record = tokens.reshape(rows // k, k, frames, channels).permute(0, 3, 1, 2)
    return per_record.reshape(rows // k, channels, k * frames)


@hookimpl
def bench_register_models(register: Callable[[ModelSpec], None]) -> None:
    """``ecg-fm`` and ``resnet1d``."""
    register(
        ModelSpec(
            name="ecg-fm",
            build=partial(
                LazyFunction("bench.plugins.ecgfm.builder:build_ecgfm"), segments=ECGFM_SEGMENTS
            ),
            meta=ModelMeta(
                description="ECG-FM (wav2vec2+CMSC transformer on raw 12-lead signals; loads "
                "the released fairseq-signals weights); a record is the segments it has, their "
                "scores averaged",
                family="ecg-fm",
                paper_params_m=90.9,
                # the released weights' corpus (McKeen et al. 2024): MIMIC-IV-ECG and the
                # PhysioNet/CinC 2021 data (which holds PTB-XL and Chapman-Shaoxing-Ningbo)
                pretrained_on=("mimic-iv-ecg", "cinc2021"),
                licence="MIT (wanglab/ecg-fm)",
            ),
            input=SignalInput(recipe=ECGFM_RECIPE, segments=ECGFM_SEGMENTS),
            optimizer="adam",
            # a signal transformer: BEiT's recipe at its peak, chosen by validation loss in
            # the quick profile's sweep (docs/protocol.md); its layer decay and drop-path find
            # no timm blocks here and are recorded as not applied
            recipe=TRANSFORMER_RECIPE,
            saliency_layers=_ecgfm_layers,
            saliency_reshape=_ecgfm_reshape,
            features=tokens_method,
            default_weights=LazyFunction("bench.plugins.ecgfm.builder:default_weights"),
            pretrain="bench.plugins.ecgfm.commands:pretrain_command",
            convert_weights=LazyFunction("bench.plugins.ecgfm.loader:converted"),
            released_head=LazyFunction("bench.plugins.ecgfm.released:released_head"),
        )
    )
    register(
        ModelSpec(
            name="resnet1d",
            build=LazyFunction("bench.plugins.ecgfm.resnet1d:build_resnet1d"),
            meta=ModelMeta(
                description="xresnet1d 1-D ResNet on raw 12-lead signals, trained from scratch "
                "(quick: 1 basic block per stage; paper: xresnet1d101)",
                family="resnet1d",
            ),
            input=SignalInput(recipe=ECGFM_RECIPE),
            recipe=CNN_RECIPE,  # chosen by validation loss in the quick profile's sweep
            saliency_layers=LazyFunction("bench.plugins.ecgfm.resnet1d:saliency_layers"),
            features=tokens_method,
        )
    )
