"""ST-MEM (Na et al., "Guiding Masked Representation Learning to Capture Spatio-Temporal
Relationship of Electrocardiogram", ICLR 2024): the ViT-B/75 encoder of the authors'
spatio-temporal masked ECG model, pretrained on Chapman, Ningbo and CODE-15 %, as the model
``st-mem``. Code and weights are CC BY-NC 4.0 with a VUNO Inc. notice: non-commercial use
only.

Input contract (docs/models.md, ST-MEM), all of it applied by the harness
(:data:`ST_MEM_RECIPE`), as the authors' downstream evaluation does: the 12 leads in the
standard order (I, II, III, aVR, aVL, aVF, V1–V6, ``data/process_ecg.py``); the record's
first 10 s chunk at its own rate (``process_ecg.py``'s ``moving_window_crop``), resampled
to 250 Hz by ``scipy.signal.resample`` (FFT; ``ECGDataset``'s ``Resample``); three 9 s
windows (2,250 samples) spread over it (``NCrop(2250, 3)`` of the downstream config's
``eval_transforms``: starts 0, 0.5 and 1 s for a 10 s record), and each window high-passed
at 0.67 Hz and low-passed at 40 Hz (5th-order Butterworth, zero-phase second-order
sections) and z-scored over its leads and samples together. A record is the mean of its
windows (:data:`ST_MEM_SEGMENTS`): its embedding the mean of theirs, a label's score the
mean of their probabilities (``engine_downstream.evaluate``).
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
    SignalFilter,
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
    n_segments=3,
    clip_seconds=10.0,
    windows="spread",
    window_filters=(
        SignalFilter("butter-highpass", low=0.67, order=5),
        SignalFilter("butter-lowpass", high=40.0, order=5),
    ),
    window_normalise="zscore-window",
)
#: How ST-MEM's windows make a record: the mean of the crops' probabilities
#: (``engine_downstream.evaluate``) and of their embeddings.
ST_MEM_SEGMENTS = SegmentAggregation(rule="mean")


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
                "250 Hz, three windows over the first 10 s, 0.67-40 Hz filters and one z-score per "
                "window, a record the mean of its windows",
                family="st-mem",
                paper_params_m=PARAMS_M,
                pretrained_on=("chapman", "code15"),
                licence=LICENCE,
            ),
            input=SignalInput(recipe=ST_MEM_RECIPE, segments=ST_MEM_SEGMENTS),
            features=tokens_method,
            convert_weights=LazyFunction("bench.plugins.st_mem.builder:converted"),
            released_head=LazyFunction("bench.plugins.st_mem.released:released_head"),
        )
    )
