"""ECG-CPC (Al-Masud, Lopez Alcaraz and Strodthoff, "Benchmarking ECG foundational models: a
reality check across clinical tasks", ICLR 2026): a convolutional encoder and four causal S4
layers pretrained by contrastive predictive coding on the Harvard-Emory ECG Database, as the
model ``ecg-cpc`` (a pure-PyTorch port, :mod:`bench.plugins.ecg_cpc.model`).

Input contract (docs/models.md, ECG-CPC; the authors' ``run.sh`` for ``cpc``, ``main_lite.py``
and ``config_cpc_ecg_s4_heedb.yaml``): the 12 leads in the standard order (I, II, III, aVR,
aVL, aVF, V1–V6), resampled to 240 Hz, in mV with no filter and no normalisation
(``normalize: false``), cut into non-overlapping 2.5 s windows (600 samples; up to four per
record, a 10 s ECG). The authors resample with ``resampy`` (band-limited sinc); the contract
uses Fourier resampling, the band-limited resampling the harness has. A window's embedding is
the mean over time of the S4 predictor's 300 tokens (``CPCWrapper``, linear evaluation); a
record's, the mean over the windows it has (the authors average window predictions,
:data:`ECG_CPC_SEGMENTS`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from bench.api import (
    STANDARD_LEADS,
    LazyFunction,
    ModelMeta,
    ModelSpec,
    SegmentAggregation,
    SignalInput,
    SignalRecipe,
    hookimpl,
    tokens_method,
)

#: No licence is published with the code or named beside the weights.
LICENCE = (
    "unspecified (GitHub AI4HealthUOL/ecg-fm-benchmarking has no licence file; the figshare "
    "record's terms apply to the weights)"
)
#: ECG-CPC's input contract (see the module docstring).
ECG_CPC_RECIPE = SignalRecipe(
    leads=STANDARD_LEADS,
    target_fs=240,
    resampling="fft",
    normalise="none",
    segment_samples=600,
    n_segments=4,
)
#: A record is the mean of its windows (``main_lite.py``'s ``aggregate_fn=np.mean``).
ECG_CPC_SEGMENTS = SegmentAggregation(rule="mean")
#: Encoder parameters in millions (4 conv blocks and 4 S4 layers of width 512, state 8;
#: the S4 state-space buffers not counted), counted from the architecture.
PARAMS_M = 2.9


@hookimpl
def bench_register_models(register: Callable[[ModelSpec], None]) -> None:
    """``ecg-cpc``."""
    register(
        ModelSpec(
            name="ecg-cpc",
            build=partial(
                LazyFunction("bench.plugins.ecg_cpc.builder:build_ecg_cpc"),
                name="ecg-cpc",
                segments=ECG_CPC_SEGMENTS,
            ),
            meta=ModelMeta(
                description="ECG-CPC encoder (conv + 4 causal S4 layers pretrained by "
                "contrastive predictive coding on HEEDB; loads the released Lightning "
                "checkpoint); 12 leads, 2.5 s windows at 240 Hz, in mV, no filter; the "
                "embedding is the mean of the S4 tokens, a record the mean of its windows",
                family="ecg-cpc",
                paper_params_m=PARAMS_M,
                pretrained_on=("heedb",),
                licence=LICENCE,
            ),
            input=SignalInput(recipe=ECG_CPC_RECIPE, segments=ECG_CPC_SEGMENTS),
            features=tokens_method,
            convert_weights=LazyFunction("bench.plugins.ecg_cpc.builder:converted"),
        )
    )
