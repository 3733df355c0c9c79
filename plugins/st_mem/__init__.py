"""ST-MEM (Na et al., "Guiding Masked Representation Learning to Capture Spatio-Temporal
Relationship of Electrocardiogram", ICLR 2024): the ViT-B/75 encoder of the authors'
spatio-temporal masked ECG model, pretrained on Chapman, Ningbo and CODE-15 %, as the model
``st-mem``. Code and weights are CC BY-NC 4.0 with a VUNO Inc. notice: non-commercial use
only.

Input contract (docs/models.md, ST-MEM): the 12 leads in the standard order (I, II, III,
aVR, aVL, aVF, V1–V6, the authors' ``process_ecg.py``), 250 Hz, one 9 s window (2,250
samples; a longer record's first 9 s), in mV. The model then does what the authors'
``eval_transforms`` do to each window (:mod:`bench.plugins.st_mem.preprocess`): a 0.67 Hz
high-pass and a 40 Hz low-pass (5th-order Butterworth, zero-phase) and one z-score over the
window. Where the authors resample with ``scipy.signal.resample`` (FFT), the harness
interpolates linearly; their evaluation averages three overlapping crops' logits, the
contract keeps one window.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from bench.api import (
    STANDARD_LEADS,
    LazyFunction,
    ModelMeta,
    ModelSpec,
    SignalInput,
    SignalRecipe,
    hookimpl,
    tokens_method,
)

#: Parameters of the released encoder in millions (ViT-B/75 without a head, counted from
#: the architecture; the paper gives no count).
PARAMS_M = 85.2
#: The licence of the authors' code and weights (their LICENSE and README).
LICENCE = (
    "CC BY-NC 4.0 (non-commercial); README: © VUNO Inc., do not distribute, modify or use "
    "outside the licence's scope without VUNO's permission"
)
#: ST-MEM's input contract (see the module docstring).
ST_MEM_RECIPE = SignalRecipe(
    leads=STANDARD_LEADS,
    target_fs=250,
    resampling="fft",
    normalise="none",
    segment_samples=2250,
    n_segments=1,
)


@hookimpl
def bench_register_models(register: Callable[[ModelSpec], None]) -> None:
    """``st-mem``."""
    register(
        ModelSpec(
            name="st-mem",
            build=partial(LazyFunction("bench.plugins.st_mem.builder:build_st_mem"), name="st-mem"),
            meta=ModelMeta(
                description="ST-MEM ECG encoder (ViT-B/75 of a spatio-temporal masked ECG "
                "model, pretrained on Chapman, Ningbo and CODE-15%; loads the released "
                "encoder); NON-COMMERCIAL: CC BY-NC 4.0 with a VUNO Inc. notice; 9 s at "
                "250 Hz, 0.67-40 Hz filters and one z-score per window",
                family="st-mem",
                paper_params_m=PARAMS_M,
                pretrained_on=("chapman", "code15"),
                licence=LICENCE,
            ),
            input=SignalInput(recipe=ST_MEM_RECIPE),
            features=tokens_method,
            convert_weights=LazyFunction("bench.plugins.st_mem.builder:converted"),
        )
    )
