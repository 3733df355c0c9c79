"""MERL (Liu et al., "Zero-Shot ECG Classification with Multimodal Learning and Test-time
Clinical Knowledge Enhancement", ICML 2024): the ECG encoder of the authors' ECG–report
contrastive model, a ResNet18-1D pretrained on MIMIC-IV-ECG, as the model ``merl``.

Input contract (docs/models.md, MERL): the 12 leads in MIMIC-IV-ECG's order (I, II, III,
aVR, **aVF, aVL**, V1–V6: the authors swap aVL and aVF of every downstream record to match
it), 500 Hz (the authors never resample: every data set they use is stored at 500 Hz), one
10 s window (5,000 samples; a longer record's first 10 s), then one min-max scaling to
``[0, 1]`` over the whole window (all leads together, as their ``finetune_dataset.py``
does: ``normalise="minmax-record"``). No filter.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from bench.api import (
    LazyFunction,
    ModelMeta,
    ModelSpec,
    SignalInput,
    SignalRecipe,
    hookimpl,
    tokens_method,
)

#: MIMIC-IV-ECG's lead order, which MERL was pretrained on (aVF before aVL).
MERL_LEADS: tuple[str, ...] = (
    "I", "II", "III", "aVR", "aVF", "aVL", "V1", "V2", "V3", "V4", "V5", "V6",
)  # fmt: skip
#: Parameters of the released ResNet18-1D in millions, with the authors' default 10-class
#: ``linear`` head (counted from the architecture; the paper gives no count).
PARAMS_M = 3.85
#: MERL's input contract (see the module docstring).
MERL_RECIPE = SignalRecipe(
    leads=MERL_LEADS,
    target_fs=500,
    resampling="time",
    normalise="minmax-record",
    segment_samples=5000,
    n_segments=1,
)


@hookimpl
def bench_register_models(register: Callable[[ModelSpec], None]) -> None:
    """``merl``."""
    register(
        ModelSpec(
            name="merl",
            build=partial(LazyFunction("bench.plugins.merl.builder:build_merl"), name="merl"),
            meta=ModelMeta(
                description="MERL ECG encoder (ResNet18-1D of an ECG-report contrastive model, "
                "pretrained on MIMIC-IV-ECG; loads the released encoder; code MIT, the "
                "weights' folder names no licence); 10 s at 500 Hz, one min-max per record",
                family="merl",
                paper_params_m=PARAMS_M,
                pretrained_on=("mimic-iv-ecg",),
                licence="code MIT; the weights' folder names no licence",
            ),
            input=SignalInput(recipe=MERL_RECIPE),
            saliency_layers=LazyFunction("bench.plugins.merl.builder:saliency_layers"),
            features=tokens_method,
            convert_weights=LazyFunction("bench.plugins.merl.builder:converted"),
        )
    )
